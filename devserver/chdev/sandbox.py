"""What SQL may reach beyond the engine's own data: files, the network, programs.

chDB is clickhouse-local, which trusts its user: its file(), url(), s3(),
remote(), mysql(), executable() ... read and write wherever the process can,
`INTO OUTFILE` writes any file, the default database reads any file named as
a table (SELECT * FROM '/etc/passwd'), and settings such as format_schema
name files to read or write. A ClickHouse server confines files to its
user_files_path and the rest to users granted them; the devserver, which has
neither, refuses all of it unless started with --allow-external-access.

The check reads the statement with ClickHouse's lexical rules (sql.py), so
that nothing hidden from it is code to the engine, and refuses:

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

from .errors import ACCESS_DENIED, ClickHouseError
from .sql import setting_names, tokens

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
# The database engines of ClickHouse 23.10, which does not list them (system.database_engines is 24.x's).
DATABASE_ENGINES_23 = {"Atomic", "Ordinary", "Memory", "Lazy", "Replicated", "Dictionary", "MySQL",
                       "MaterializedMySQL", "PostgreSQL", "MaterializedPostgreSQL", "SQLite", "Filesystem",
                       "S3", "HDFS", "Overlay"}
SAFE_DATABASE_ENGINES = {"atomic", "ordinary", "memory", "replicated", "lazy", "dictionary", "overlay"}
# Names the engine's catalogs do not list: dictionary sources and layouts
# that reach outside, the disk() of a table's storage, the file() function.
ALWAYS_DENIED = {
    "file", "disk", "http", "executable", "executable_pool", "cassandra", "mongodb", "redis", "mysql",
    "postgresql", "clickhouse", "odbc", "jdbc", "yamlregexptree", "ssd_cache", "complex_key_ssd_cache",
    "catboostevaluate",
}
# Functions whose string arguments name tables (a path, for the default
# database's file system part).
TABLE_NAMING_CALLS = {"hascolumnintable", "joinget", "joingetornull"}
# Settings whose value is a path or a URL the engine opens, or an
# expression of the client's around the query.
DENIED_SETTINGS = {
    "format_schema", "format_template_resultset", "format_template_row", "output_format_schema",
    "input_format_record_errors_file_path", "format_avro_schema_registry_url", "url_base", "s3_base",
    "select", "filter", "order", "sort", "additional_table_filters", "additional_result_filter",
    "parallel_replicas_custom_key", "default_table_engine", "default_temporary_table_engine",
    # The input format of an INSERT whatever its FORMAT says (Values evaluates expressions).
    "format",
}
# Where a name that follows is a table's.
TABLE_KEYWORDS = {"from", "join", "table", "describe", "desc", "exists", "into", "truncate", "optimize", "check"}
# Words that end a FROM clause at its level (a comma after them is not a join).
CLAUSE_KEYWORDS = {
    "where", "prewhere", "group", "order", "having", "limit", "offset", "settings", "format", "union",
    "except", "intersect", "window", "qualify", "into", "array", "select", "values",
}

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
        depth, from_depths, naming_depths = 0, set(), set()
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
                    or (prev == ("punct", ",") and depth in from_depths)
                    or any(d in naming_depths for d in range(depth + 1))):
                return f"the table '{text}' (a path)"
            if kind == "word" and low == "format" and after == ("punct", "("):
                what = self._values_data(toks, i + 1, params)
                if what:
                    return what
            if kind == "word" and (low == "settings" or (low == "set" and i == 0)):
                for name in setting_names(toks, i + 1):
                    if name.lower() in DENIED_SETTINGS:
                        return f"the setting {name}"
            if (kind, text) == ("punct", "{") and i + 4 < len(toks) and toks[i + 3][1] == "Identifier":
                if "/" in params.get(toks[i + 1][1], ""):
                    return f"the identifier parameter {toks[i + 1][1]} (a path)"
            if kind == "punct" and text in "([":
                depth += 1
                if prev[0] == "word" and prev[1].lower() in TABLE_NAMING_CALLS:
                    naming_depths.add(depth)
            elif kind == "punct" and text in ")]":
                from_depths.discard(depth)
                naming_depths.discard(depth)
                depth -= 1
            elif kind == "word" and low == "from":
                from_depths.add(depth)
            elif kind == "word" and low in CLAUSE_KEYWORDS:
                from_depths.discard(depth)
        return None


    def _values_data(self, toks, i, params):
        """What the data of a format() table function reaches, when its format
        is Values (whose expressions are evaluated): its strings, read as SQL."""
        depth, inside = 0, []
        for token in toks[i:]:
            if token in (("punct", "("), ("punct", "[")):
                depth += 1
            elif token in (("punct", ")"), ("punct", "]")):
                depth -= 1
            if depth == 0:
                break
            inside.append(token)
        if not any(t[0] in ("word", "string") and t[1].lower() == "values" for t in inside):
            return None
        for kind, text in inside:
            what = kind == "string" and self._refusal(tokens(text), params)
            if what:
                return what
        return None


def _after_engine(toks, i):
    """Whether toks[i] names an engine: `ENGINE = Name` (or `ENGINE Name`)."""
    before = [text.lower() for _, text in toks[max(0, i - 2):i]]
    return before[-1:] == ["engine"] or before == ["engine", "="]


def refused(what):
    return ClickHouseError.new(ACCESS_DENIED, f"Not allowed: {what}, which could read or write files or reach "
                               f"the network or other programs; the devserver allows it only when started "
                               f"with {FLAG}")
