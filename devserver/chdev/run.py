"""One statement on a chdb-core connection, its answer block by block.

RunBase holds what every engine's run has (the query id, the format, the
summary's counters); Run is chdb-core's, with streamed results, streamed
inserts and the engine's progress.
"""

import time
import uuid

from . import formats
from .checks import INPUT_FUNCTION, refuse_if_readonly, with_input_file
from .errors import NOT_IMPLEMENTED, SYNTAX_ERROR, ClickHouseError
from .sql import READ_ONLY


def run_sql(conn, sql, fmt="TabSeparated", params=None):
    """A statement on a chdb-core connection, its errors as ClickHouse's."""
    try:
        return conn.query(sql, fmt, params=params or {})
    except Exception as exc:
        raise ClickHouseError.from_engine(exc) from None


class RunBase:
    """What every engine's run has: the query id, the answer's format and
    the counters of X-ClickHouse-Summary."""

    def __init__(self, engine, req):
        self.engine = engine
        self.req = req
        self.query_id = req.query_id or str(uuid.uuid4())
        self.format, self.format_sure = formats.output_format(req.sql, req.default_format)
        self.started = time.monotonic()
        self.stats = dict.fromkeys(("read_rows", "read_bytes", "written_rows", "written_bytes",
                                    "total_rows_to_read", "result_rows", "result_bytes"), 0)
        self.on_progress = None  # set by the HTTP side: called with the stats while the query runs
        self.streams = False
        self.kind = None

    @property
    def has_result(self):
        """Whether the statement answers with a result set (SELECT, SHOW, DESCRIBE, ...):
        ClickHouse names its format in X-ClickHouse-Format only then."""
        return self.req.insert_format is None and self.kind == READ_ONLY

    @property
    def timezone(self):
        return dict(self.req.settings).get("session_timezone") or self.engine.timezone

    def summary(self):
        summary = {k: str(v) for k, v in self.stats.items()}
        summary["elapsed_ns"] = str(int((time.monotonic() - self.started) * 1e9))
        return summary


class Run(RunBase):
    """One statement on a prepared chdb-core connection. `blocks()` yields
    the answer's bytes block by block (one block when the format does not
    stream) and keeps `stats` up to date; errors are ClickHouseError, raised
    where they happen (before the first block or between two)."""

    def __init__(self, engine, conn, req, readonly):
        super().__init__(engine, req)
        self.conn = conn
        if req.insert_format is None:
            self.kind = self._classify(req.sql, readonly)
            self.streams = (self.format_sure and self.kind == READ_ONLY
                            and formats.streamable(self.format, req.settings))
        else:
            self.kind = self._classify(f"{req.sql} FORMAT {req.insert_format}", readonly)

    def _classify(self, sql, readonly):
        """The engine's class of the statement (sql.READ_ONLY, ...), checked against readonly."""
        info = self.conn.classify_query(sql)
        if info["statement_count"] > 1:
            raise ClickHouseError.new(SYNTAX_ERROR, "Multi-statements are not allowed")
        kind = self.engine.kinds[info["query_class"]]
        refuse_if_readonly(kind, sql, readonly)
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
        result = run_sql(self.conn, self.req.sql, self.format, self.req.query_params)
        self._add(result)
        if result.rows_written():  # INSERT ... VALUES / SELECT: ClickHouse counts the written rows as the result
            self.stats["result_rows"] = result.rows_written()
            self.stats["result_bytes"] = result.bytes_written()
        # The statements answered whole (DESCRIBE, SHOW, EXISTS, ...) give one block.
        return formats.with_block_info(result.bytes(), self.format, self.req.client_protocol_version)

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
        with self.req.insert_data.in_file() as path:
            result = run_sql(self.conn, with_input_file(self.req.sql, path, self.req.insert_format), "TabSeparated",
                             self.req.query_params)
        self._add(result)
        self.stats["read_rows"] = self.stats["read_bytes"] = 0  # the body, not a table
        yield result.bytes()

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
