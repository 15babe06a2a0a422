"""SQL as ClickHouse's lexer reads it, and what a statement is.

The devserver reads statements for two reasons: the sandbox (what SQL may
reach, sandbox.py) and the older engines, which have no statement
classifier and take settings only inside the statement (shared.py). Both
must see what the engine sees: strings, quoted identifiers, heredocs,
nested comments and numbers are read by the rules of ClickHouse's lexer
(src/Parsers/Lexer.cpp), which are the same from 23.10 to 26.9.
"""

import re

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


_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "0": "\0", "a": "\a", "v": "\v",
            "e": "\x1b"}
_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|.)|(['\"`])\2", re.DOTALL)


def _unquote(text):
    """The value of a quoted string or identifier, escapes decoded as the
    engine decodes them (`\\x2F` is `/`, `\\n` a newline, `''` a quote)."""
    body = text[1:-1] if len(text) > 1 and text[-1] == text[0] else text[1:]

    def decode(match):
        escaped, doubled = match.group(1), match.group(2)
        if doubled:
            return doubled
        if escaped[0] == "x" and len(escaped) == 3:
            return bytes([int(escaped[1:], 16)]).decode("latin-1")
        return _ESCAPES.get(escaped, escaped)
    raw = _ESCAPE.sub(decode, body)
    # \xHH escapes are bytes: read the whole as UTF-8 where it is.
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return raw


class Token(tuple):
    """(kind, text), compared as such; `start` and `end` are where it is in the SQL."""

    def __new__(cls, kind, text, start, end):
        token = tuple.__new__(cls, (kind, text))
        token.start, token.end = start, end
        return token

    @property
    def kind(self):
        return self[0]

    @property
    def text(self):
        return self[1]


def tokens(sql):
    """The significant tokens of `sql`: kind word, ident (a quoted
    identifier, unquoted), string (unquoted), number or punct. Whitespace
    and comments are skipped; an unclosed string or comment runs to the end,
    as in ClickHouse's lexer (src/Parsers/Lexer.cpp)."""
    pos, end, out = 0, len(sql), []
    while pos < end:
        ch, start = sql[pos], pos
        if ch in " \t\n\r\f\v":
            pos = _SPACE.match(sql, pos).end()
        elif sql.startswith(("--", "//", "# ", "#!"), pos):
            newline = sql.find("\n", pos)
            pos = end if newline < 0 else newline
        elif sql.startswith("/*", pos):
            pos = _skip_block_comment(sql, pos)
        elif ch in "'\"`":
            pos = _QUOTED[ch].match(sql, pos).end()
            out.append(Token("string" if ch == "'" else "ident", _unquote(sql[start:pos]), start, pos))
        elif ch in "xXbB" and _HEX.match(sql, pos):
            pos = _HEX.match(sql, pos).end()
            out.append(Token("string", sql[start + 2:pos - 1], start, pos))
        elif ch == "$" and _heredoc_end(sql, pos) is not None:
            pos = _heredoc_end(sql, pos)
            out.append(Token("string", sql[start:pos], start, pos))
        elif ch.isascii() and ch.isdigit():
            after_dot = bool(out) and out[-1] == ("punct", ".")
            number_end = (_NUMBER_AFTER_DOT if after_dot else _NUMBER).match(sql, pos).end()
            # Word characters after a number make the whole a word (`1st`).
            pos = _WORD.match(sql, number_end).end()
            out.append(Token("word" if pos > number_end else "number", sql[start:pos], start, pos))
        elif ch == "." and _starts_number(sql, pos, out):
            pos = _DOT_NUMBER.match(sql, pos).end()
            out.append(Token("number", sql[start:pos], start, pos))
        elif ch.isascii() and (ch.isalpha() or ch in "_$"):
            pos = _WORD.match(sql, pos + 1).end()
            out.append(Token("word", sql[start:pos], start, pos))
        elif not ch.isascii():
            pos += 1  # outside quotes the engine takes it for a space (or fails to parse)
        else:
            pos += 1
            out.append(Token("punct", ch, start, pos))  # an operator or a bracket
    return out


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


# What a statement does, for readonly and for the answer's headers.
READ_ONLY, CONTROL, WRITE, UNKNOWN = "read_only", "control", "write", "unknown"
_READING = {"select", "with", "show", "describe", "desc", "exists", "explain", "check"}


def statements(toks):
    """The statements of a token list: runs between top-level `;`."""
    out, current = [], []
    for token in toks:
        if token == ("punct", ";"):
            if current:
                out.append(current)
            current = []
        else:
            current.append(token)
    if current:
        out.append(current)
    return out


def classify(toks):
    """READ_ONLY, CONTROL (SET, USE, INTO OUTFILE), WRITE, or UNKNOWN (nothing to run)."""
    if not toks:
        return UNKNOWN
    first = toks[0].text.lower() if toks[0].kind == "word" else toks[0].text
    if first in ("set", "use"):
        return CONTROL
    if first in _READING or first == "(":
        pairs = zip((t.text.lower() for t in toks), (t.text.lower() for t in toks[1:]))
        return CONTROL if ("into", "outfile") in pairs else READ_ONLY
    return WRITE


def setting_names(toks, i):
    """The names of a `name = value, ...` list starting at toks[i]."""
    return [name for name, _, _ in setting_list(toks, i)]


def setting_list(toks, i):
    """(name, index of its value, index after it) of each item of a `name = value, ...` list at toks[i]."""
    items = []
    while i + 1 < len(toks) and toks[i][0] in ("word", "ident") and toks[i + 1] == ("punct", "="):
        value_at = i + 2
        i = _skip_value(toks, value_at)
        items.append((toks[value_at - 2][1], value_at, i))
        if i >= len(toks) or toks[i] != ("punct", ","):
            break
        i += 1
    return items


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


def quote_identifier(name):
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def quote_string(value):
    """`value` as a string literal, in ASCII (other characters as `\\xHH`
    escapes of their UTF-8 bytes, which every engine reads back)."""
    return "'" + _escape_non_ascii(value.replace("\\", "\\\\").replace("'", "\\'")) + "'"


# --- settings inside the statement (for the older engines, shared.py) -------

_SELECT_LIKE = {"select", "with", "show", "describe", "desc", "exists", "explain", "check", "("}


def _top_level(toks):
    """The indexes of the tokens outside any brackets."""
    depth, out = 0, []
    for i, token in enumerate(toks):
        if token.kind == "punct" and token.text in ")]":
            depth -= 1
        elif depth == 0:
            out.append(i)
        if token.kind == "punct" and token.text in "([":
            depth += 1
    return out


def _words_at(toks, indexes, *words):
    return [i for i in indexes if toks[i].kind == "word" and toks[i].text.lower() in words]


def settings_clause(settings):
    return ", ".join(f"{name} = {quote_string(value)}" for name, value in settings)


def with_settings(statement, settings):
    """`statement` with `settings` added as a query-level SETTINGS clause (to
    its own, if it has one); None for a statement that takes none here (DDL)."""
    if not settings:
        return statement
    toks = tokens(statement)
    while toks and toks[-1] == ("punct", ";"):
        statement = statement[:toks.pop().start]
    if not toks:
        return None
    first = toks[0].text.lower()
    top = _top_level(toks)
    clause = settings_clause(settings)
    if first == "insert":
        body = _words_at(toks, top, "select", "with", "values")
        if not body:
            return None
        at = toks[body[0]].start
        own = _words_at(toks, [i for i in top if i < body[0]], "settings")
        return statement[:at] + (f", {clause} " if own else f"SETTINGS {clause} ") + statement[at:]
    if first not in _SELECT_LIKE:
        return None
    formats = _words_at(toks, top, "format")
    at = toks[formats[-1]].start if formats else len(statement)
    before = [i for i in top if toks[i].start < at]
    own = _words_at(toks, before, "settings")
    selects = _words_at(toks, before, "select")
    if own and (not selects or own[-1] > selects[-1]):
        return statement[:at].rstrip() + f", {clause} " + statement[at:]
    return statement[:at].rstrip() + f" SETTINGS {clause} " + statement[at:]


def infile_insert(head, path, fmt, settings):
    """`INSERT INTO t (columns) [SETTINGS ...]` made to read its data from `path`."""
    toks = tokens(head)
    own = _words_at(toks, _top_level(toks), "settings")
    base = head[:toks[own[0]].start] if own else head
    clauses = [head[toks[own[0]].end:].strip()] if own else []
    clauses += [settings_clause(settings)] if settings else []
    settings_part = f" SETTINGS {', '.join(clauses)}" if clauses else ""
    return f"{base.rstrip()} FROM INFILE {quote_string(path)}{settings_part} FORMAT {fmt}"


def insert_target(head):
    """(database or None, table, [columns]) of `INSERT INTO [TABLE] [db.]t [(c, ...)] ...`;
    None for anything else (INSERT INTO FUNCTION)."""
    toks = tokens(head)
    words = [t.text.lower() if t.kind == "word" else None for t in toks]
    i = 2 if words[:2] == ["insert", "into"] else None
    if i is None or words[i:i + 1] == ["function"]:
        return None
    i += words[i:i + 1] == ["table"]
    names = []
    while i < len(toks) and toks[i].kind in ("word", "ident"):
        names.append(toks[i].text)
        if i + 1 < len(toks) and toks[i + 1] == ("punct", "."):
            i += 2
        else:
            i += 1
            break
    if not 1 <= len(names) <= 2:
        return None
    columns = []
    if i < len(toks) and toks[i] == ("punct", "("):
        i += 1
        while i < len(toks) and toks[i] != ("punct", ")"):
            if toks[i].kind in ("word", "ident"):
                columns.append(toks[i].text)
            i += 1
    database = names[0] if len(names) == 2 else None
    return database, names[-1], columns


def ascii_literals(statement):
    """`statement` with every non-ASCII character in its strings and quoted
    identifiers written as `\\xHH` escapes: older engines' clients rewrite
    dashes and unusual spaces in the query text (— – − become `--`)."""
    out, last = [], 0
    for token in tokens(statement):
        raw = statement[token.start:token.end]
        if token.kind in ("string", "ident") and raw[:1] in "'\"`" and _escape_non_ascii(raw) != raw:
            out.append(statement[last:token.start])
            out.append(_escape_non_ascii(raw))
            last = token.end
    out.append(statement[last:])
    return "".join(out)


def _escape_non_ascii(text):
    """Characters beyond printable ASCII as `\\xHH` escapes of their UTF-8
    bytes (a NUL would also end the query text of older chDB's C API)."""
    return "".join(ch if " " <= ch <= "~" else "".join(f"\\x{b:02X}" for b in ch.encode()) for ch in text)
