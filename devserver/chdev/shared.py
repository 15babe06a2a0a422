"""Older chDB behind the front: 1.x (ClickHouse 23.10), 2.x (24.8), 3.x (25.8).

These releases have one session per process: every query runs in it, one
at a time, and what a statement sets stays for the next. Their API takes
no query parameters, has no statement classifier, no streamed inserts and
(1.x, 2.x) no streamed results; and chDB 1.x and 2.x re-apply the
session's settings to every later query by printing them unquoted, so a
string setting, once SET, breaks every query after it. A request is
therefore one script, run whole:

    USE <database>; SET param_<name> = '<value>'; <statement with SETTINGS>

- the URL's settings go into the statement as a query-level SETTINGS
  clause (sql.with_settings), never into the session;
- an INSERT's data goes to a temporary file that the statement reads
  (`FROM INFILE`, or file() in place of input() or for a column list);
- strings and quoted identifiers are written in ASCII (`\\xHH` escapes):
  these engines' clients turn dashes in the query text into `--`;
- readonly is the front's check with sql.classify (a session's readonly
  could never be lowered again);
- the answer is sent whole; X-ClickHouse-Summary counts the result's rows
  and bytes (3.x: the rows read too), not the rows written.

A DROP or DETACH is run with SYNC or without it, as the engine needs
(drop_sync). What needs more than one session is answered 501 naming the
engine:
sessions (`session_id`), external data, roles, `SET readonly`, and URL
settings on a statement that takes no query-level SETTINGS (DDL).
"""

import json
import os
import sys
import tempfile
import threading
from contextlib import contextmanager

from chdb import _chdb

from . import formats, sql
from .checks import INPUT_FUNCTION, check_reach, protocol_settings, readonly_of, refuse_if_readonly, with_input_file
from .errors import (ERROR_CODE, BAD_ARGUMENTS, NO_SUCH_COLUMN_IN_TABLE, NOT_IMPLEMENTED, SYNTAX_ERROR, UNFINISHED,
                     ClickHouseError)
from .request import SETTING_NAME
from .run import RunBase
from .sandbox import DATABASE_ENGINES_23, Sandbox
from .sql import quote_identifier, quote_string


class Engine:
    """An older chDB's one session on a data directory."""

    def __init__(self, path, allow_external_access=False):
        self.path = path
        self.lock = threading.Lock()
        if hasattr(_chdb, "connect"):  # chDB 3.x: the process's one connection
            self._conn = _chdb.connect(path)
            self._call = lambda statement, fmt: self._conn.query(statement, fmt)
        else:  # chDB 1.x, 2.x: the module keeps the session of each path
            self._conn = None
            self._call = lambda statement, fmt: _chdb.query(statement, fmt, path=path)
        self.sync_drops = self._conn is None  # see drop_sync
        # chDB 0.x (ClickHouse 23.6, older than the crate supports: kept to
        # test its refusal) has no error in its results: it prints them.
        self._errors_to_stderr = not hasattr(self._call("SELECT 1", "TSV"), "has_error")
        self.version = self.scalar("SELECT version()")
        self.timezone = self.scalar("SELECT timezone()")
        # 23.10's current database is an in-memory `_local`; clients expect `default`.
        self.query("CREATE DATABASE IF NOT EXISTS default")
        names = {kind: self._names(kind) for kind in ("table_functions", "table_engines", "database_engines")}
        self.sandbox = Sandbox(names["table_functions"], names["table_engines"], names["database_engines"],
                               allow=allow_external_access)

    def query(self, statement, fmt="TabSeparated"):
        """One call of the engine; its errors as ClickHouse's."""
        with self.lock:
            try:
                if self._errors_to_stderr:
                    result, error = _with_stderr(lambda: self._call(statement, fmt))
                else:
                    result = self._call(statement, fmt)
                    error = result.error_message() if result.has_error() else None
            except Exception as exc:
                raise ClickHouseError.from_engine(exc) from None
        if error:
            raise ClickHouseError.from_engine(error)
        return result

    def _names(self, catalog):
        """The names in system.<catalog> (23.10 has no system.database_engines: the sandbox's own list)."""
        try:
            return self.scalar(f"SELECT arrayStringConcat(groupArray(name), ' ') FROM system.{catalog}").split()
        except ClickHouseError:
            if catalog != "database_engines":
                raise
            return sorted(DATABASE_ENGINES_23)

    def structure(self, database, table, columns):
        """`name Type, ...` of these columns of a table, in their order."""
        rows = self.query(f"SELECT name, type FROM system.columns WHERE database = {quote_string(database)} "
                          f"AND table = {quote_string(table)}", "JSONCompactEachRow").bytes().decode().splitlines()
        types = dict(json.loads(row) for row in rows)
        missing = [c for c in columns if c not in types]
        if missing:
            raise ClickHouseError.new(NO_SUCH_COLUMN_IN_TABLE, f"No such column {missing[0]} in table "
                                      f"{quote_identifier(database)}.{quote_identifier(table)}")
        return ", ".join(f"{quote_identifier(c)} {types[c]}" for c in columns)

    def scalar(self, statement):
        return self.query(statement).bytes().decode().strip()

    def close(self):
        if self._conn is not None:
            self._conn.close()

    def not_here(self, what):
        return ClickHouseError(NOT_IMPLEMENTED, f"Code: {NOT_IMPLEMENTED}. DB::Exception: {what}: the devserver "
                               f"on ClickHouse {self.version} (an older chDB, one session per process) does not "
                               f"have it; chdb-core 26.x does. (NOT_IMPLEMENTED)")

    @contextmanager
    def request(self, req, user):
        """A Run of the request (`user` is checked by the front; there is one session for all)."""
        if req.session_id is not None:
            raise self.not_here("sessions (session_id)")
        if req.external:
            raise self.not_here("external data")
        if req.roles:
            raise self.not_here("roles")
        readonly = readonly_of(req)
        check_reach(self.sandbox, req)
        yield ScriptRun(self, req, readonly)


DROPPED_KINDS = ("table", "view", "dictionary", "database", "temporary")


def drop_sync(statement, sync):
    """(the statement to run, whether it is a DROP or DETACH): with its SYNC
    (added if missing) when `sync`, without it otherwise.

    These chDB builds count themselves as shutting down. chDB 1.x and 2.x
    answer a SYNC drop UNFINISHED (341) though the table is gone, and a drop
    without SYNC, queued for later, makes a later DROP VIEW wait forever;
    chDB 3.x waits forever on SYNC and is fine without it."""
    toks = sql.tokens(statement)
    words = [t.text.lower() if t.kind == "word" else "" for t in toks[:2]]
    if len(words) < 2 or words[0] not in ("drop", "detach") or words[1] not in DROPPED_KINDS:
        return statement, False
    if toks[-1].kind == "word" and toks[-1].text.lower() == "sync":
        statement = statement[:toks[-1].start].rstrip()
    return (statement + " SYNC" if sync else statement), True


def _with_stderr(call):
    """(what `call` returns, what the engine printed on stderr meanwhile, if
    it was an error). Calls are one at a time (Engine.lock)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            result = call()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        printed = capture.read().decode(errors="replace")
    match = ERROR_CODE.search(printed)
    return result, printed[match.start():].strip() if match else None


class ScriptRun(RunBase):
    """One request as one script on the shared session, answered whole."""

    def __init__(self, engine, req, readonly):
        super().__init__(engine, req)
        toks = sql.tokens(req.sql)
        if len(sql.statements(toks)) > 1:
            raise ClickHouseError.new(SYNTAX_ERROR, "Multi-statements are not allowed")
        self.kind = sql.WRITE if req.insert_format is not None else sql.classify(toks)
        refuse_if_readonly(self.kind, req.sql, readonly)
        if self.kind == sql.CONTROL and "readonly" in (n.lower() for n in sql.setting_names(toks, 1)):
            raise engine.not_here("SET readonly (it would stay for every later request)")
        self.settings = protocol_settings(req) + [(k, v) for k, v in req.settings if k != "readonly"]

    def blocks(self):
        if self.req.insert_format is None:
            statement, dropping = drop_sync(self.req.sql, self.engine.sync_drops)
            try:
                yield self._answer(self._statement(statement))
            except ClickHouseError as err:
                if not (dropping and err.code == UNFINISHED):
                    raise
                yield b""  # the table is gone; the engine only could not wait for its files
            return
        with self.req.insert_data.in_file() as path:
            self._answer(self._insert(path))
        yield b""

    def _insert(self, path):
        """The statement that inserts the data of `path`: the client's
        input() reads it, else file() with the listed columns' types (older
        chDB's FROM INFILE takes the table's every column whatever the
        list), else FROM INFILE."""
        fmt = self.req.insert_format
        if INPUT_FUNCTION.search(self.req.sql):
            return self._statement(with_input_file(self.req.sql, path, fmt))
        target = sql.insert_target(self.req.sql)
        if target is None or not target[2]:
            return sql.ascii_literals(sql.infile_insert(self.req.sql, path, fmt, self.settings))
        structure = self.engine.structure(target[0] or self.req.database or "default", *target[1:])
        source = f"file({quote_string(path)}, {quote_string(fmt)}, {quote_string(structure)})"
        return self._statement(f"{self.req.sql} SELECT * FROM {source}")

    def _statement(self, text):
        statement = sql.with_settings(text, self.settings)
        if statement is None:
            raise self.engine.not_here(f"settings in the URL of a {text.split(None, 1)[0].upper()} statement "
                                       f"(query-level SETTINGS are taken by SELECT-like statements and INSERT)")
        return sql.ascii_literals(statement)

    def _answer(self, statement):
        script = [f"USE {quote_identifier(self.req.database or 'default')}"]
        for name, value in self.req.query_params.items():
            if not SETTING_NAME.match(name):
                raise ClickHouseError.new(BAD_ARGUMENTS, f"Invalid query parameter name 'param_{name}'")
            script.append(f"SET param_{name} = {quote_string(value)}")
        result = self.engine.query("; ".join(script + [statement]), self.format if self.has_result else "TSV")
        self.stats["result_rows"] = result.rows_read()
        self.stats["result_bytes"] = result.bytes_read()
        if hasattr(result, "storage_rows_read"):
            self.stats["read_rows"] = result.storage_rows_read()
            self.stats["read_bytes"] = result.storage_bytes_read()
        return formats.with_block_info(result.bytes(), self.format, self.req.client_protocol_version)
