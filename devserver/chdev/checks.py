"""What every engine checks of a request before it runs it: what the SQL
may reach, the request's readonly level and the Native protocol revision."""

import re

from .errors import NOT_IMPLEMENTED, READONLY, ClickHouseError
from .request import SQL_DATA_FORMATS
from .sql import CONTROL, READ_ONLY, UNKNOWN, quote_string

# The `input('structure')` table function of `INSERT ... SELECT ... FROM input(...)`.
INPUT_FUNCTION = re.compile(r"\binput\s*\(\s*('(?:[^'\\]|\\.)*')\s*\)", re.IGNORECASE)
SET_STATEMENT = re.compile(r"\s*SET\s", re.IGNORECASE)

# Native protocol revisions (src/Core/ProtocolDefines.h): from LOW_CARDINALITY
# on, LowCardinality columns are sent as they are; from CUSTOM_SERIALIZATION
# on, every column carries serialization info the engine cannot be asked to write.
REVISION_WITH_LOW_CARDINALITY = 54405
REVISION_WITH_CUSTOM_SERIALIZATION = 54454


def check_reach(sandbox, req):
    """Refuses what would reach files, the network or programs (sandbox.py)."""
    sandbox.check_settings(name for name, _ in req.settings)
    sandbox.check(req.sql, req.query_params)
    if req.insert_format and req.insert_format.lower() in SQL_DATA_FORMATS:
        sandbox.check(req.insert_data.first.decode(errors="replace"))
    for table in req.external:
        sandbox.check(f"CREATE TEMPORARY TABLE t ({table.structure})")
        if table.format.lower() in SQL_DATA_FORMATS:
            sandbox.check(table.data.decode(errors="replace"))


def readonly_of(req):
    """The request's readonly level ("1", "2") or None: ClickHouse makes a GET
    readonly=2 unless the request asks for more."""
    readonly = dict(req.settings).get("readonly")
    if req.method == "GET" and readonly in (None, "0"):
        return "2"
    return None if readonly in (None, "0") else readonly


def refuse_if_readonly(kind, sql, readonly):
    """READONLY (164) for a statement of this class that the level forbids:
    both levels allow reading and USE; readonly=2 allows SET too."""
    if readonly is None or kind in (READ_ONLY, UNKNOWN):
        return
    allowed = kind == CONTROL and (re.match(r"\s*USE\s", sql, re.IGNORECASE)
                                   or (readonly == "2" and SET_STATEMENT.match(sql)))
    if not allowed:
        raise ClickHouseError.new(READONLY, "Cannot execute query in readonly mode")


def protocol_settings(req):
    """The settings a client_protocol_version asks for; refuses revisions the
    devserver cannot write."""
    version = req.client_protocol_version
    if version >= REVISION_WITH_CUSTOM_SERIALIZATION:
        raise ClickHouseError.new(NOT_IMPLEMENTED, f"client_protocol_version {version} is not supported: "
                                  f"the devserver writes Native blocks up to revision "
                                  f"{REVISION_WITH_CUSTOM_SERIALIZATION - 1}")
    if 0 < version < REVISION_WITH_LOW_CARDINALITY:
        return [("low_cardinality_allow_in_native_format", "0")]
    return []


def with_input_file(sql, path, fmt):
    """`sql` with its input('structure') reading `path` (in format `fmt`) instead:
    the devserver's own use of file(), after the sandbox saw the client's SQL."""
    source = f"file({quote_string(path)}, {quote_string(fmt)}, "
    return INPUT_FUNCTION.sub(lambda m: source + m.group(1) + ")", sql)
