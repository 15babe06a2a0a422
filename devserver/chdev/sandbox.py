"""What SQL may reach beyond the engine's own data: files, the network, programs.

chDB is clickhouse-local, which trusts its user: its file(), url(), s3(),
remote(), mysql(), executable() ... read and write wherever the process can,
`INTO OUTFILE` writes any file, the default database reads any file named as
a table (SELECT * FROM '/etc/passwd'), and settings such as format_schema
name files to read or write. A ClickHouse server confines files to its
user_files_path and the rest to users granted them; the devserver, which has
neither, refuses all of it unless started with --allow-external-access.

The check reads the statement with ClickHouse's lexical rules (strings,
quoted identifiers, heredocs, nested comments), so that nothing hidden from
it is code to the engine, and refuses:

- a call of a table function, table engine, database engine or dictionary
  source that reaches outside (every one the engine has, except the
  in-memory and local-table ones), and of the file() function;
- INTO OUTFILE and FROM INFILE;
- a table named by a string or a quoted identifier holding a `/` (a path,
  for the default database's file system part; the process's working
  directory is an empty one, so a name without `/` finds no file);
- settings that name files or URLs (format_schema, output_format_schema, ...)
  or that wrap the query in an expression of the client's (select, filter).

Data of the Values format is SQL too (its expressions are evaluated): the
front hands it here whole.
"""

import re

from .errors import ACCESS_DENIED, ClickHouseError

FLAG = "--allow-external-access"

# Table functions that read only the engine's own data or generate it.
SAFE_TABLE_FUNCTIONS = {
    "numbers", "numbers_mt", "zeros", "zeros_mt", "generaterandom", "generate_series", "generateseries",
    "values", "view", "viewifpermitted", "viewexplain", "merge", "null", "input", "format", "loop",
    "dictionary", "mergetreeindex", "mergetreeprojection", "mergetreeanalyzeindexes",
    "mergetreeanalyzeindexesuuid", "mergetreecodecblockcounts", "mergetreetextindex", "fuzzjson",
    "fuzzquery", "primes", "timeseriesdata", "timeseriesmetrics", "timeseriestags", "timeseriesselector",
    "timeseriessamples", "timeseriesmetricfamilies",
}
# Table engines that keep their data in the engine (or nowhere).
SAFE_TABLE_ENGINES = {
    "memory", "log", "tinylog", "stripelog", "null", "buffer", "set", "join", "view", "materializedview",
    "liveview", "windowview", "dictionary", "merge", "distributed", "generaterandom", "loop", "timeseries",
    "keepermap", "alias", "fuzzjson", "fuzzquery",
}
SAFE_DATABASE_ENGINES = {"atomic", "ordinary", "memory", "replicated", "lazy", "dictionary", "overlay"}
# Names the engine's catalogs do not list: dictionary sources and layouts
# that reach outside, the disk() of a table's storage, the file() function.
ALWAYS_DENIED = {
    "file", "disk", "http", "executable", "executable_pool", "cassandra", "mongodb", "redis", "mysql",
    "postgresql", "clickhouse", "odbc", "jdbc", "yamlregexptree", "ssd_cache", "complex_key_ssd_cache",
}
# Settings whose value is a path or a URL the engine opens, or an
# expression of the client's around the query.
DENIED_SETTINGS = {
    "format_schema", "format_template_resultset", "format_template_row", "output_format_schema",
    "input_format_record_errors_file_path", "format_avro_schema_registry_url", "url_base", "s3_base",
    "select", "filter", "order", "sort",
}
# Where a name that follows is a table's.
TABLE_KEYWORDS = {"from", "join", "table", "describe", "desc", "exists", "into", "truncate", "optimize", "check"}
# Words that end a FROM clause at its level (a comma after them is not a join).
CLAUSE_KEYWORDS = {
    "where", "prewhere", "group", "order", "having", "limit", "offset", "settings", "format", "union",
    "except", "intersect", "window", "qualify", "into", "array", "select", "values",
}

_HEX = re.compile(r"[xX]'[0-9A-Fa-f]*'|[bB]'[01]*'")
# A quoted string or identifier: a doubled quote or a backslash escapes; an
# unclosed one runs to the end.
_QUOTED = {q: re.compile(q + r"(?:[^" + q + r"\\]+|\\.|" + q + q + r")*(?:" + q + r"|\\?\Z)", re.DOTALL)
           for q in ("'", '"', "`")}
_WORD = re.compile(r"[A-Za-z0-9_$]*")
_SPACE = re.compile(r"[ \t\n\r\f\v]+")
# Numbers as the engine's lexer skips them: an exponent letter is taken only
# when something follows it, and so is its sign (`1e--3` is `1e-` and `-3`,
# not a comment); word characters after a number make it a word.
_EXPONENT = r"(?:[eE](?=.)(?:[-+](?=.))?[0-9_]*)?"
_NUMBER = re.compile(r"(?:0[xX](?=[0-9A-Fa-f])[0-9A-Fa-f_]*(?:\.[0-9A-Fa-f_]*)?(?:[pP](?=.)(?:[-+](?=.))?[0-9_]*)?"
                     r"|0[bB](?=[01])[0-9_]*(?:\.[0-9_]*)?" + _EXPONENT +
                     r"|[0-9][0-9_]*(?:\.[0-9_]*)?" + _EXPONENT + r")", re.DOTALL)
_NUMBER_AFTER_DOT = re.compile(r"[0-9_]*")  # `t.1.2`: only an integer after a dot
_DOT_NUMBER = re.compile(r"\.[0-9_]*" + _EXPONENT, re.DOTALL)


def _unquote(text):
    body = text[1:-1] if len(text) > 1 and text[-1] == text[0] else text[1:]
    return re.sub(r"\\(.)", r"\1", body.replace(text[0] * 2, text[0]), flags=re.DOTALL)


def tokens(sql):
    """The significant tokens of `sql` as (kind, text): kind is word, ident
    (a quoted identifier, unquoted), string (unquoted), number or punct.
    Whitespace and comments are skipped; an unclosed string or comment runs
    to the end, as in ClickHouse's lexer (src/Parsers/Lexer.cpp)."""
    pos, end, out = 0, len(sql), []
    while pos < end:
        ch = sql[pos]
        if ch in " \t\n\r\f\v":
            pos = _SPACE.match(sql, pos).end()
        elif sql.startswith(("--", "//", "# ", "#!"), pos):
            newline = sql.find("\n", pos)
            pos = end if newline < 0 else newline
        elif sql.startswith("/*", pos):
            pos = _skip_block_comment(sql, pos)
        elif ch in "'\"`":
            match = _QUOTED[ch].match(sql, pos)
            out.append(("string" if ch == "'" else "ident", _unquote(match.group())))
            pos = match.end()
        elif ch in "xXbB" and _HEX.match(sql, pos):
            match = _HEX.match(sql, pos)
            out.append(("string", match.group()[2:-1]))
            pos = match.end()
        elif ch == "$" and _heredoc_end(sql, pos) is not None:
            close = _heredoc_end(sql, pos)
            out.append(("string", sql[pos:close]))
            pos = close
        elif ch.isascii() and ch.isdigit():
            after_dot = bool(out) and out[-1] == ("punct", ".")
            number_end = (_NUMBER_AFTER_DOT if after_dot else _NUMBER).match(sql, pos).end()
            pos = _word_tail(sql, number_end, out, start=pos)
        elif ch == "." and _starts_number(sql, pos, out):
            pos = _DOT_NUMBER.match(sql, pos).end()
            out.append(("number", ""))
        elif ch.isascii() and (ch.isalpha() or ch in "_$"):
            word_end = _WORD.match(sql, pos + 1).end()
            out.append(("word", sql[pos:word_end]))
            pos = word_end
        elif not ch.isascii():
            pos += 1  # outside quotes the engine takes it for a space (or fails to parse)
        else:
            out.append(("punct", ch))  # an operator or a bracket
            pos += 1
    return out


def _word_tail(sql, pos, out, start):
    """After a number: word characters make the whole a word (`1st`)."""
    tail_end = _WORD.match(sql, pos).end()
    out.append(("word" if tail_end > pos else "number", sql[start:tail_end]))
    return tail_end


def _skip_block_comment(sql, pos):
    """The end of a `/* */` comment; they nest."""
    depth, pos = 1, pos + 2
    while pos + 2 <= len(sql):
        if sql.startswith("/*", pos):
            depth, pos = depth + 1, pos + 2
        elif sql.startswith("*/", pos):
            depth, pos = depth - 1, pos + 2
            if depth == 0:
                return pos
        else:
            pos += 1
    return len(sql)


def _heredoc_end(sql, pos):
    """The end of a heredoc `$tag$...$tag$` starting at pos, or None."""
    tag_end = sql.find("$", pos + 1)
    if tag_end < 0:
        return None
    tag = sql[pos:tag_end + 1]
    close = sql.find(tag, tag_end + 1)
    return None if close < 0 else close + len(tag)


def _starts_number(sql, pos, out):
    """Whether a `.` starts a number (`.5`) rather than being a dot (`t.1`)."""
    if pos == 0:
        return True
    if pos + 1 >= len(sql) or not sql[pos + 1].isdigit():
        return False
    return not out or not (out[-1][0] in ("word", "ident", "number") or out[-1][1] in (")", "]"))


class Sandbox:
    """The check of one engine: its catalogs say which names reach outside."""

    def __init__(self, table_functions, table_engines, database_engines, allow=False):
        self.allow = allow
        names = {n.lower() for n in (*table_functions, *table_engines, *database_engines)}
        safe = SAFE_TABLE_FUNCTIONS | SAFE_TABLE_ENGINES | SAFE_DATABASE_ENGINES
        self.denied_calls = {n for n in names if n not in safe and not n.endswith("mergetree")} | ALWAYS_DENIED

    def check(self, sql, params=None):
        """Refuses `sql` (with its query parameters) if it reaches outside."""
        if self.allow:
            return
        what = self._refusal(tokens(sql), params or {})
        if what:
            raise refused(what)

    def check_settings(self, names):
        """Refuses settings given outside the SQL (URL parameters)."""
        if self.allow:
            return
        for name in names:
            if name.lower() in DENIED_SETTINGS:
                raise refused(f"the setting {name}")

    def _refusal(self, toks, params):
        depth, from_depths = 0, set()
        for i, (kind, text) in enumerate(toks):
            low = text.lower()
            prev = toks[i - 1] if i else ("", "")
            after = toks[i + 1] if i + 1 < len(toks) else ("", "")
            if kind in ("word", "ident") and after == ("punct", "(") and low in self.denied_calls:
                return f"{text}()"
            if kind == "word" and low in self.denied_calls and _after_engine(toks, i):
                return f"the {text} engine"
            if kind == "word" and prev[0] == "word" and (prev[1].lower(), low) in (("into", "outfile"),
                                                                                ("from", "infile")):
                return f"{prev[1]} {text}".upper()
            if kind == "ident" and "/" in text and prev[1].lower() != "as":
                return f"the name `{text}` (a path)"
            if kind == "string" and "/" in text and (
                    (prev[0] == "word" and prev[1].lower() in TABLE_KEYWORDS)
                    or (prev == ("punct", ",") and depth in from_depths)):
                return f"the table '{text}' (a path)"
            if kind == "word" and (low == "settings" or (low == "set" and i == 0)):
                for name in _setting_names(toks, i + 1):
                    if name.lower() in DENIED_SETTINGS:
                        return f"the setting {name}"
            if (kind, text) == ("punct", "{") and i + 4 < len(toks) and toks[i + 3][1] == "Identifier":
                if "/" in params.get(toks[i + 1][1], ""):
                    return f"the identifier parameter {toks[i + 1][1]} (a path)"
            if kind == "punct" and text in "([":
                depth += 1
            elif kind == "punct" and text in ")]":
                from_depths.discard(depth)
                depth -= 1
            elif kind == "word" and low == "from":
                from_depths.add(depth)
            elif kind == "word" and low in CLAUSE_KEYWORDS:
                from_depths.discard(depth)
        return None


def _after_engine(toks, i):
    """Whether toks[i] names an engine: `ENGINE = Name` (or `ENGINE Name`)."""
    before = [text.lower() for _, text in toks[max(0, i - 2):i]]
    return before[-1:] == ["engine"] or before == ["engine", "="]


def _setting_names(toks, i):
    """The names of a `name = value, ...` list starting at toks[i]."""
    names = []
    while i + 1 < len(toks) and toks[i][0] in ("word", "ident") and toks[i + 1] == ("punct", "="):
        names.append(toks[i][1])
        i = _skip_value(toks, i + 2)
        if i >= len(toks) or toks[i] != ("punct", ","):
            break
        i += 1
    return names


def _skip_value(toks, i):
    """The index after one setting value: a literal, -literal, a call or a bracketed list."""
    if i < len(toks) and toks[i] in (("punct", "-"), ("punct", "+")):
        i += 1
    if i + 1 < len(toks) and toks[i][0] == "word" and toks[i + 1] == ("punct", "("):
        i += 1
    if i < len(toks) and toks[i] in (("punct", "("), ("punct", "[")):
        depth = 0
        while i < len(toks):
            if toks[i][0] == "punct" and toks[i][1] in "([":
                depth += 1
            elif toks[i][0] == "punct" and toks[i][1] in ")]":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        return i
    return i + 1


def refused(what):
    return ClickHouseError.new(ACCESS_DENIED, f"Not allowed: {what}, which could read or write files or reach "
                               f"the network or other programs; the devserver allows it only when started "
                               f"with {FLAG}")
