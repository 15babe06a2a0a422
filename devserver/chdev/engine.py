"""chDB behind the HTTP front: connections, sessions, and running one request.

Every chDB connection to the data directory is a session of its own (its
current database, its SET settings, its temporary tables), and connections
run queries in parallel. So a request without `session_id` runs on a fresh
connection that is closed afterwards: whatever it sets (`readonly=1`
included) dies with it. A request with `session_id` runs on that session's
connection; the settings and database it gives in the URL are applied for
this request only and put back afterwards, as ClickHouse applies them to the
query's context and not to the session's.
"""

import json
import os
import re
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager

from chdb import _chdb

from . import formats
from .request import SQL_DATA_FORMATS
from .sandbox import Sandbox
from .errors import (BAD_ARGUMENTS, NOT_IMPLEMENTED, READONLY, SESSION_IS_LOCKED, SESSION_NOT_FOUND, SYNTAX_ERROR,
                     ClickHouseError)

# The `input('structure')` table function of `INSERT ... SELECT ... FROM input(...)`.
INPUT_FUNCTION = re.compile(r"\binput\s*\(\s*('(?:[^'\\]|\\.)*')\s*\)", re.IGNORECASE)
SET_STATEMENT = re.compile(r"\s*SET\s", re.IGNORECASE)
USE_STATEMENT = re.compile(r"\s*USE\s", re.IGNORECASE)

# Native protocol revisions (src/Core/ProtocolDefines.h): from LOW_CARDINALITY
# on, LowCardinality columns are sent as they are; from CUSTOM_SERIALIZATION
# on, every column carries serialization info the engine cannot be asked to write.
REVISION_WITH_LOW_CARDINALITY = 54405
REVISION_WITH_CUSTOM_SERIALIZATION = 54454

# The engine's configuration: query_log and opentelemetry_span_log on, as on
# a default server (clickhouse-local has no system logs without it), kept
# three days so that a long-lived data directory does not grow without end.
ENGINE_CONFIG = """<clickhouse>
  <query_log>
    <database>system</database>
    <table>query_log</table>
    <ttl>event_date + INTERVAL 3 DAY DELETE</ttl>
    <flush_interval_milliseconds>1000</flush_interval_milliseconds>
  </query_log>
  <opentelemetry_span_log>
    <database>system</database>
    <table>opentelemetry_span_log</table>
    <ttl>finish_date + INTERVAL 3 DAY DELETE</ttl>
    <flush_interval_milliseconds>1000</flush_interval_milliseconds>
  </opentelemetry_span_log>
</clickhouse>
"""


def quote_identifier(name):
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def quote_string(value):
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _scalar(conn, sql):
    return _run(conn, sql).bytes().decode().strip()


def _run(conn, sql, fmt="TabSeparated", params=None):
    try:
        return conn.query(sql, fmt, params=params or {})
    except Exception as exc:
        raise ClickHouseError.from_engine(exc) from None


class Session:
    def __init__(self, key, conn, timeout):
        self.key = key
        self.conn = conn
        self.timeout = timeout
        self.lock = threading.Lock()
        self.expires = time.monotonic() + timeout


class Engine:
    """The chDB engine of one data directory, and the named sessions on it."""

    def __init__(self, path, allow_external_access=False):
        self.path = path
        config = os.path.join(path, "devserver-engine.xml")
        with open(config, "w") as f:
            f.write(ENGINE_CONFIG)
        # chDB turns implicit_select on (`1 + 1` is a query); a server has it off.
        self.spec = f"{path}?implicit_select=0"
        # The first connection loads the engine (with its configuration) and
        # keeps it loaded; every other one shares it.
        self.main = self._connect(f"{self.spec}&config-file={config}")
        self.version = _scalar(self.main, "SELECT version()")
        self.timezone = _scalar(self.main, "SELECT timezone()")
        names = {kind: _scalar(self.main, f"SELECT arrayStringConcat(groupArray(name), ' ') FROM system.{kind}").split()
                 for kind in ("table_functions", "table_engines", "database_engines")}
        self.sandbox = Sandbox(names["table_functions"], names["table_engines"], names["database_engines"],
                               allow=allow_external_access)
        self.sessions = {}
        self.sessions_lock = threading.Lock()

    @staticmethod
    def _connect(spec):
        try:
            return _chdb.connect(spec)
        except Exception as exc:
            raise ClickHouseError.from_engine(exc) from None

    def close(self):
        with self.sessions_lock:
            for session in self.sessions.values():
                session.conn.close()
            self.sessions.clear()
        self.main.close()

    # --- sessions ---------------------------------------------------------

    def _acquire(self, user, req):
        """The request's session, locked for it; created unless session_check=1."""
        key = (user, req.session_id)
        timeout = req.session_timeout
        with self.sessions_lock:
            now = time.monotonic()
            for old in [s for s in self.sessions.values() if s.expires < now and not s.lock.locked()]:
                del self.sessions[old.key]
                old.conn.close()
            session = self.sessions.get(key)
            if session is None:
                if req.flag("session_check"):
                    raise ClickHouseError.new(SESSION_NOT_FOUND, f"Session {req.session_id} not found")
                session = self.sessions[key] = Session(key, self._connect(self.spec), timeout)
            if not session.lock.acquire(blocking=False):
                raise ClickHouseError.new(SESSION_IS_LOCKED,
                                          f"Session {req.session_id} is locked by a concurrent client")
            session.timeout = timeout
        return session

    def _release(self, session):
        session.expires = time.monotonic() + session.timeout
        session.lock.release()

    # --- one request ------------------------------------------------------

    @contextmanager
    def request(self, req, user):
        """A Run of the request on its connection, set up with the request's
        database, settings, roles and external tables, and undone afterwards."""
        settings = list(req.settings)
        version = req.client_protocol_version
        if version >= REVISION_WITH_CUSTOM_SERIALIZATION:
            raise ClickHouseError.new(NOT_IMPLEMENTED, f"client_protocol_version {version} is not supported: "
                                      f"the devserver writes Native blocks up to revision "
                                      f"{REVISION_WITH_CUSTOM_SERIALIZATION - 1}")
        if 0 < version < REVISION_WITH_LOW_CARDINALITY:
            settings.insert(0, ("low_cardinality_allow_in_native_format", "0"))
        readonly = dict(settings).get("readonly")
        if req.method == "GET" and readonly in (None, "0"):
            readonly = "2"  # ClickHouse: a GET is readonly=2 unless the request asks for more
        settings = [(k, v) for k, v in settings if k != "readonly"]
        self._check_reach(req)

        if req.session_id is None:
            with self._fresh(req, req.database, settings, readonly) as run:
                yield run
            return

        session = self._acquire(user, req)
        try:
            if readonly not in (None, "0") and self._can_leave(session.conn, req):
                # A session's readonly cannot be lowered again once set, so a
                # read-only request of a session without temporary tables runs
                # on a fresh copy of the session's state, where the engine
                # applies readonly itself.
                database, changed = self._session_state(session.conn)
                with self._fresh(req, req.database or database, changed + settings, readonly) as run:
                    yield run
            else:
                with self._in_session(session.conn, req, settings, readonly) as run:
                    yield run
        finally:
            self._release(session)

    def _check_reach(self, req):
        """Refuses what would reach files, the network or programs (sandbox.py)."""
        self.sandbox.check_settings(name for name, _ in req.settings)
        self.sandbox.check(req.sql, req.query_params)
        if req.insert_format and req.insert_format.lower() in SQL_DATA_FORMATS:
            self.sandbox.check(req.insert_data.first.decode(errors="replace"))
        for table in req.external:
            self.sandbox.check(f"CREATE TEMPORARY TABLE t ({table.structure})")
            if table.format.lower() in SQL_DATA_FORMATS:
                self.sandbox.check(table.data.decode(errors="replace"))

    @contextmanager
    def _fresh(self, req, database, settings, readonly):
        conn = self._connect(self.spec)
        try:
            if database:
                _run(conn, f"USE {quote_identifier(database)}")
            # readonly last: the other settings are checked against the settings before it.
            changes = settings + ([("readonly", readonly)] if readonly is not None else [])
            if changes:
                _run(conn, "SET " + ", ".join(f"{k} = {quote_string(v)}" for k, v in changes))
            if req.roles:
                _run(conn, "SET ROLE " + ", ".join(quote_identifier(r) for r in req.roles))
            self._create_external(conn, req)
            # The engine applies readonly, and the front checks it too: the
            # engine lets INSERT INTO FUNCTION and INTO OUTFILE through it.
            yield Run(self, conn, req, enforce_readonly=None if readonly in (None, "0") else readonly)
        finally:
            conn.close()

    @contextmanager
    def _in_session(self, conn, req, settings, readonly):
        restore = []
        try:
            if req.database:
                restore.append("USE " + quote_identifier(_scalar(conn, "SELECT currentDatabase()")))
                _run(conn, f"USE {quote_identifier(req.database)}")
            if settings:
                restore.append(self._saved_settings(conn, [k for k, _ in settings]))
                _run(conn, "SET " + ", ".join(f"{k} = {quote_string(v)}" for k, v in settings))
            if req.roles:
                restore.append("SET ROLE DEFAULT")
                _run(conn, "SET ROLE " + ", ".join(quote_identifier(r) for r in req.roles))
            created = self._create_external(conn, req)
            restore.extend(f"DROP TEMPORARY TABLE IF EXISTS {quote_identifier(t)}" for t in created)
            # Here (the session has temporary tables, or the statement writes)
            # the request's readonly is enforced with the engine's classifier.
            yield Run(self, conn, req, enforce_readonly=None if readonly in (None, "0") else readonly)
        finally:
            for sql in reversed(restore):
                try:
                    _run(conn, sql)
                except ClickHouseError:
                    # The statement made the session readonly (SET readonly = 1):
                    # what it set stays, as it does in ClickHouse's session.
                    pass

    @staticmethod
    def _can_leave(conn, req):
        """Whether a request can run outside its session: a read-only
        statement, and no temporary table in the session it might read."""
        if req.insert_format is not None or req.external:
            return False
        if conn.classify_query(req.sql)["query_class"] != _chdb.query_class.READ_ONLY:
            return False
        return _scalar(conn, "SELECT count() FROM system.tables WHERE is_temporary") == "0"

    @staticmethod
    def _session_state(conn):
        """(current database, changed settings) of a session. chDB's `database`
        setting is the current database: it is given by USE, not replayed."""
        rows = _run(conn, "SELECT name, value FROM system.settings WHERE changed AND name != 'database'",
                    "JSONCompactEachRow").bytes().decode().splitlines()
        return _scalar(conn, "SELECT currentDatabase()"), [tuple(json.loads(row)) for row in rows]

    @staticmethod
    def _saved_settings(conn, names):
        """A SET that puts these session settings back as they are now."""
        listed = ", ".join(quote_string(n) for n in names)
        rows = _run(conn, f"SELECT name, value, changed FROM system.settings WHERE name IN ({listed})",
                    "JSONCompactEachRow").bytes().decode().splitlines()
        current = {name: (value, changed) for name, value, changed in map(json.loads, rows)}
        parts = []
        for name in names:
            value, changed = current.get(name, ("", 0))
            parts.append(f"{name} = {quote_string(value)}" if changed else f"{name} = DEFAULT")
        return "SET " + ", ".join(parts)

    @staticmethod
    def _create_external(conn, req):
        """External data as temporary tables, as ClickHouse offers it to the query."""
        for table in req.external:
            create = f"CREATE TEMPORARY TABLE {quote_identifier(table.name)} ({table.structure}) ENGINE = Memory"
            if conn.classify_query(create)["statement_count"] != 1:  # the structure is the client's text
                raise ClickHouseError.new(BAD_ARGUMENTS, f"Invalid structure of external table {table.name}")
            _run(conn, create)
            try:
                inserter = conn.send_insert(f"INSERT INTO {quote_identifier(table.name)}", table.format)
                if table.data:
                    conn.insert_append(inserter, table.data)
                conn.insert_done(inserter)
            except Exception as exc:
                raise ClickHouseError.from_engine(exc) from None
        return [table.name for table in req.external]


class Run:
    """One statement on a prepared connection. `blocks()` yields the answer's
    bytes block by block (one block when the format does not stream) and
    keeps `stats` up to date; errors are ClickHouseError, raised where they
    happen (before the first block or between two)."""

    def __init__(self, engine, conn, req, enforce_readonly):
        self.engine = engine
        self.conn = conn
        self.req = req
        self.enforce_readonly = enforce_readonly
        self.query_id = req.query_id or str(uuid.uuid4())
        self.format, sure = formats.output_format(req.sql, req.default_format)
        self.started = time.monotonic()
        self.stats = dict.fromkeys(("read_rows", "read_bytes", "written_rows", "written_bytes",
                                    "total_rows_to_read", "result_rows", "result_bytes"), 0)
        self.on_progress = None  # set by the HTTP side: called with the stats while the query runs
        self.streams = False
        if req.insert_format is None:
            self.kind = self._classify(req.sql)
            self.streams = (sure and self.kind == _chdb.query_class.READ_ONLY
                            and formats.streamable(self.format, req.settings))
        else:
            self.kind = self._classify(f"{req.sql} FORMAT {req.insert_format}")

    @property
    def has_result(self):
        """Whether the statement answers with a result set (SELECT, SHOW, DESCRIBE, ...):
        ClickHouse names its format in X-ClickHouse-Format only then."""
        return self.req.insert_format is None and self.kind == _chdb.query_class.READ_ONLY

    @property
    def timezone(self):
        return dict(self.req.settings).get("session_timezone") or self.engine.timezone

    def summary(self):
        summary = {k: str(v) for k, v in self.stats.items()}
        summary["elapsed_ns"] = str(int((time.monotonic() - self.started) * 1e9))
        return summary

    def _classify(self, sql):
        info = self.conn.classify_query(sql)
        if info["statement_count"] > 1:
            raise ClickHouseError.new(SYNTAX_ERROR, "Multi-statements are not allowed")
        kind = info["query_class"]
        if self.enforce_readonly and kind != _chdb.query_class.UNKNOWN:
            allowed = kind == _chdb.query_class.READ_ONLY or USE_STATEMENT.match(sql) or (
                self.enforce_readonly == "2" and SET_STATEMENT.match(sql))
            if not allowed:
                raise ClickHouseError.new(READONLY, "Cannot execute query in readonly mode")
        return kind

    def _progress(self, progress):
        # Called by the engine while it runs the query: nothing may raise into it.
        try:
            self.stats["total_rows_to_read"] = max(self.stats["total_rows_to_read"],
                                                   int(progress.get("total_rows_to_read", 0)))
            if self.on_progress:
                self.on_progress({**self.summary(), "read_rows": str(progress.get("read_rows", 0)),
                                  "read_bytes": str(progress.get("read_bytes", 0))})
        except Exception:
            pass

    def _add(self, result):
        self.stats["read_rows"] += result.storage_rows_read()
        self.stats["read_bytes"] += result.storage_bytes_read()
        self.stats["result_rows"] += result.rows_read()
        self.stats["result_bytes"] += result.bytes_read()
        self.stats["written_rows"] += result.rows_written()
        self.stats["written_bytes"] += result.bytes_written()

    def blocks(self):
        self.conn.set_progress_callback(self._progress)
        try:
            if self.req.insert_format is not None:
                if INPUT_FUNCTION.search(self.req.sql):
                    yield from self._insert_select_from_input()
                else:
                    yield from self._insert()
            elif self.streams:
                yield from self._stream()
            else:
                yield self._whole()
        finally:
            self.conn.set_progress_callback(None)

    def _whole(self):
        result = _run(self.conn, self.req.sql, self.format, self.req.query_params)
        self._add(result)
        if result.rows_written():  # INSERT ... VALUES / SELECT: ClickHouse counts the written rows as the result
            self.stats["result_rows"] = result.rows_written()
            self.stats["result_bytes"] = result.bytes_written()
        data = result.bytes()
        if data and self.format == "Native" and self.req.client_protocol_version > 0:
            # The statements answered whole (DESCRIBE, SHOW, EXISTS, ...) give
            # one block: it gets the BlockInfo a client revision > 0 expects.
            data = formats.Joiner("Native", block_info=True).join(data)
        return data

    def _insert(self):
        try:
            inserter = self.conn.send_insert(self.req.sql, self.req.insert_format)
            try:
                for piece in self.req.insert_data.pieces():  # as the body arrives
                    self.conn.insert_append(inserter, piece)
                result = self.conn.insert_done(inserter)
            except BaseException:
                self.conn.insert_cancel(inserter)
                raise
        except (ClickHouseError, ConnectionError, TimeoutError):  # the client's: its body
            raise
        except Exception as exc:
            raise ClickHouseError.from_engine(exc) from None
        self.stats["written_rows"] = self.stats["result_rows"] = result.rows_written()
        self.stats["written_bytes"] = self.stats["result_bytes"] = result.bytes_written()
        yield b""

    def _insert_select_from_input(self):
        """`INSERT ... SELECT ... FROM input('structure') FORMAT F` with the data
        in the body: the engine's streaming insert cannot run a SELECT, so the
        data goes to a temporary file that `file()` reads in place of `input()`."""
        fd, path = tempfile.mkstemp(prefix="devserver-input-", suffix=".bin")
        try:
            with os.fdopen(fd, "wb") as f:
                for piece in self.req.insert_data.pieces():
                    f.write(piece)
            source = f"file({quote_string(path)}, {quote_string(self.req.insert_format)}, "
            sql = INPUT_FUNCTION.sub(lambda m: source + m.group(1) + ")", self.req.sql)
            result = _run(self.conn, sql, "TabSeparated", self.req.query_params)
            self._add(result)
            self.stats["read_rows"] = self.stats["read_bytes"] = 0  # the body, not a table
            yield result.bytes()
        finally:
            os.unlink(path)

    def _stream(self):
        joiner = formats.Joiner(self.format, block_info=self.format == "Native"
                                and self.req.client_protocol_version > 0)
        try:
            stream = self.conn.send_query(self.req.sql, self.format, params=self.req.query_params)
        except Exception as exc:
            if "Streaming query is not supported" in str(exc):  # EXISTS, SHOW, ...: read whole
                self.streams = False
                yield self._whole()
                return
            raise ClickHouseError.from_engine(exc) from None
        finished = False
        try:
            while True:
                try:
                    result = self.conn.streaming_fetch_result(stream)
                except Exception as exc:
                    finished = True  # the engine ended the query with the error
                    raise ClickHouseError.from_engine(exc) from None
                if result is None:
                    finished = True
                    return
                self._add(result)
                data = result.bytes()
                if not data and result.rows_read() == 0:
                    finished = True
                    return
                try:
                    yield joiner.join(data)
                except ValueError as exc:
                    raise ClickHouseError.new(NOT_IMPLEMENTED, f"devserver cannot stream {self.format}: {exc}") from None
        finally:
            if not finished:
                try:
                    self.conn.streaming_cancel_query(stream)
                except Exception:
                    pass
