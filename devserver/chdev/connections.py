"""chdb-core (ClickHouse 26.x) behind the HTTP front: connections, sessions,
and running one request.

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
import threading
import time
from contextlib import contextmanager

from chdb import _chdb

from . import sql
from .checks import check_reach, protocol_settings, readonly_of
from .errors import BAD_ARGUMENTS, SESSION_IS_LOCKED, SESSION_NOT_FOUND, ClickHouseError
from .run import Run, run_sql
from .sandbox import Sandbox
from .sql import quote_identifier, quote_string

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


def _scalar(conn, statement):
    return run_sql(conn, statement).bytes().decode().strip()


class Session:
    def __init__(self, key, conn, timeout):
        self.key = key
        self.conn = conn
        self.timeout = timeout
        self.lock = threading.Lock()
        self.expires = time.monotonic() + timeout


class Engine:
    """The chdb-core engine of one data directory, and the named sessions on it."""

    # The engine's statement classes, as the front names them.
    kinds = {_chdb.query_class.READ_ONLY: sql.READ_ONLY, _chdb.query_class.MUTATING: sql.WRITE,
             _chdb.query_class.MUTATING_GLOBAL: sql.WRITE, _chdb.query_class.CONTROL: sql.CONTROL,
             _chdb.query_class.UNKNOWN: sql.UNKNOWN}

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
        settings = protocol_settings(req) + [(k, v) for k, v in req.settings if k != "readonly"]
        readonly = readonly_of(req)
        check_reach(self.sandbox, req)

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

    @contextmanager
    def _fresh(self, req, database, settings, readonly):
        conn = self._connect(self.spec)
        try:
            if database:
                run_sql(conn, f"USE {quote_identifier(database)}")
            # readonly last: the other settings are checked against the settings before it.
            changes = settings + ([("readonly", readonly)] if readonly is not None else [])
            if changes:
                run_sql(conn, "SET " + ", ".join(f"{k} = {quote_string(v)}" for k, v in changes))
            if req.roles:
                run_sql(conn, "SET ROLE " + ", ".join(quote_identifier(r) for r in req.roles))
            self._create_external(conn, req)
            # The engine applies readonly, and the front checks it too: the
            # engine lets INSERT INTO FUNCTION and INTO OUTFILE through it.
            yield Run(self, conn, req, readonly)
        finally:
            conn.close()

    @contextmanager
    def _in_session(self, conn, req, settings, readonly):
        restore = []
        try:
            if req.database:
                restore.append("USE " + quote_identifier(_scalar(conn, "SELECT currentDatabase()")))
                run_sql(conn, f"USE {quote_identifier(req.database)}")
            if settings:
                restore.append(self._saved_settings(conn, [k for k, _ in settings]))
                run_sql(conn, "SET " + ", ".join(f"{k} = {quote_string(v)}" for k, v in settings))
            if req.roles:
                restore.append("SET ROLE DEFAULT")
                run_sql(conn, "SET ROLE " + ", ".join(quote_identifier(r) for r in req.roles))
            created = self._create_external(conn, req)
            restore.extend(f"DROP TEMPORARY TABLE IF EXISTS {quote_identifier(t)}" for t in created)
            # Here (the session has temporary tables, or the statement writes)
            # the request's readonly is enforced with the engine's classifier.
            yield Run(self, conn, req, readonly)
        finally:
            for statement in reversed(restore):
                try:
                    run_sql(conn, statement)
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
        rows = run_sql(conn, "SELECT name, value FROM system.settings WHERE changed AND name != 'database'",
                    "JSONCompactEachRow").bytes().decode().splitlines()
        return _scalar(conn, "SELECT currentDatabase()"), [tuple(json.loads(row)) for row in rows]

    @staticmethod
    def _saved_settings(conn, names):
        """A SET that puts these session settings back as they are now."""
        listed = ", ".join(quote_string(n) for n in names)
        rows = run_sql(conn, f"SELECT name, value, changed FROM system.settings WHERE name IN ({listed})",
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
            run_sql(conn, create)
            try:
                inserter = conn.send_insert(f"INSERT INTO {quote_identifier(table.name)}", table.format)
                if table.data:
                    conn.insert_append(inserter, table.data)
                conn.insert_done(inserter)
            except Exception as exc:
                raise ClickHouseError.from_engine(exc) from None
        return [table.name for table in req.external]


