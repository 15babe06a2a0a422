#!/usr/bin/env python3
"""devserver: ClickHouse's HTTP interface on loopback, served by chDB.

This is development and test infrastructure for tracing-clickhouse, not a
ClickHouse server. It speaks the subset of the HTTP interface that the Rust
`clickhouse` crate and `curl` use, and hands every query to chDB (ClickHouse
26.x compiled as a library) under one engine lock. See devserver/README.md
for what it supports and what it does not.
"""

import argparse
import gzip
import hmac
import json
import os
import re
import signal
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
import uuid
import zlib
from base64 import b64decode
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

# The engine reads the time zone once, when it loads: pin it so that
# DateTime functions answer the same on every machine.
os.environ.setdefault("TZ", "UTC")

import lz4.block  # noqa: E402
import lz4.frame  # noqa: E402
from clickhouse_cityhash.cityhash import CityHash128  # noqa: E402
import chdb.state.sqlitelike as chdb_state  # noqa: E402

# ClickHouse error codes the front itself raises.
CHECKSUM_DOESNT_MATCH = 40
UNKNOWN_COMPRESSION_METHOD = 89
READONLY = 164
CANNOT_DECOMPRESS = 271
AUTHENTICATION_FAILED = 516
CODE_NAMES = {
    CHECKSUM_DOESNT_MATCH: "CHECKSUM_DOESNT_MATCH",
    UNKNOWN_COMPRESSION_METHOD: "UNKNOWN_COMPRESSION_METHOD",
    READONLY: "READONLY",
    CANNOT_DECOMPRESS: "CANNOT_DECOMPRESS",
    AUTHENTICATION_FAILED: "AUTHENTICATION_FAILED",
}

# HTTP status by exception code: the part of ClickHouse's
# exceptionCodeToHTTPStatus that matters to a client; every other code is 500.
HTTP_STATUS_BY_CODE = {
    **dict.fromkeys((192, 193, 194, AUTHENTICATION_FAILED), 401),  # auth
    **dict.fromkeys((164, 497), 403),  # READONLY, ACCESS_DENIED
    **dict.fromkeys((6, 26, 27, 36, 38, 41, 53, 62, 72, 117), 400),  # parse, syntax, type
    **dict.fromkeys((16, 46, 47, 50, 60, 73, 81, 115), 404),  # UNKNOWN_*
    159: 408,  # TIMEOUT_EXCEEDED
    48: 501,  # NOT_IMPLEMENTED
}

# URL parameters that belong to the HTTP interface; every other one is a setting.
HTTP_PARAMETERS = {
    "query", "database", "default_format", "user", "password", "compress",
    "decompress", "query_id", "session_id", "session_timeout", "session_check",
    "quota_key", "role", "buffer_size", "wait_end_of_query",
    "client_protocol_version", "enable_http_compression",
    "http_zlib_compression_level",
}

# Statements a GET request may run (ClickHouse treats GET as readonly).
READ_ONLY_STATEMENT = re.compile(
    r"\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXISTS|EXPLAIN|\()", re.IGNORECASE)
# `INSERT INTO ... FORMAT Name`: what follows the format name is data.
INSERT_WITH_FORMAT = re.compile(
    rb"\s*(INSERT\s+INTO\s.*?)\bFORMAT\s+([A-Za-z0-9_]+)", re.IGNORECASE | re.DOTALL)
# The `input('structure')` table function of `INSERT ... SELECT ... FROM input(...)`.
INPUT_FUNCTION = re.compile(r"\binput\s*\(\s*('(?:[^'\\]|\\.)*')\s*\)", re.IGNORECASE)
SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ERROR_CODE = re.compile(r"^Code: (\d+)\.")

NATIVE_CHECKSUM_SIZE = 16
NATIVE_HEADER_SIZE = 9  # method byte, compressed size, decompressed size
NATIVE_LZ4 = 0x82
NATIVE_NONE = 0x02


class ClickHouseError(Exception):
    """An error answered the way ClickHouse answers it."""

    def __init__(self, code, text, status=None):
        super().__init__(text)
        self.code = code
        self.text = text
        self.status = status

    @classmethod
    def new(cls, code, message):
        name = CODE_NAMES.get(code, "")
        return cls(code, f"Code: {code}. DB::Exception: {message}. ({name})")

    @classmethod
    def from_engine(cls, exc):
        text = str(exc).strip()
        match = ERROR_CODE.match(text)
        return cls(int(match.group(1)) if match else 1001, text)

    @property
    def http_status(self):
        return self.status or HTTP_STATUS_BY_CODE.get(self.code, 500)


# --- compression -----------------------------------------------------------


def _checksum(block):
    value = CityHash128(block)
    # CityHash128 yields (low64, high64); the python binding packs high64 first.
    return struct.pack("<QQ", value >> 64, value & 0xFFFFFFFFFFFFFFFF)


def native_decompress(data):
    """Decode ClickHouse's native compressed blocks (the `decompress=1` body)."""
    out = bytearray()
    pos = 0
    while pos < len(data):
        head = pos + NATIVE_CHECKSUM_SIZE
        if len(data) < head + NATIVE_HEADER_SIZE:
            raise ClickHouseError.new(CANNOT_DECOMPRESS, "Truncated compressed block header")
        method, size, raw_size = struct.unpack_from("<BII", data, head)
        end = head + size
        if size < NATIVE_HEADER_SIZE or end > len(data):
            raise ClickHouseError.new(CANNOT_DECOMPRESS, "Truncated compressed block")
        if _checksum(data[head:end]) != data[pos:head]:
            raise ClickHouseError.new(CHECKSUM_DOESNT_MATCH, "Checksum doesn't match: corrupted data")
        payload = data[head + NATIVE_HEADER_SIZE:end]
        if method == NATIVE_LZ4:
            out += lz4.block.decompress(payload, uncompressed_size=raw_size)
        elif method == NATIVE_NONE:
            out += payload
        else:
            raise ClickHouseError.new(UNKNOWN_COMPRESSION_METHOD, f"Unknown compression method: {method:#x}")
        pos = end
    return bytes(out)


def native_compress(data):
    """Encode a body as one native LZ4 block (the `compress=1` answer)."""
    payload = lz4.block.compress(data, store_size=False)
    block = struct.pack("<BII", NATIVE_LZ4, NATIVE_HEADER_SIZE + len(payload), len(data)) + payload
    return _checksum(block) + block


def http_decode(data, encoding):
    encoding = (encoding or "").strip().lower()
    try:
        if encoding in ("", "identity"):
            return data
        if encoding == "gzip":
            return gzip.decompress(data)
        if encoding == "deflate":
            return zlib.decompress(data)
        if encoding == "lz4":
            return lz4.frame.decompress(data)
    except Exception as exc:  # a corrupt body is the client's error, not a crash
        raise ClickHouseError.new(CANNOT_DECOMPRESS, f"Cannot decode {encoding} body: {exc}")
    raise ClickHouseError.new(UNKNOWN_COMPRESSION_METHOD, f"Unknown Content-Encoding: {encoding}")


HTTP_ENCODERS = {
    "lz4": lz4.frame.compress,
    "gzip": gzip.compress,
    "deflate": zlib.compress,
}


def pick_encoding(accept_encoding):
    for item in (accept_encoding or "").split(","):
        name = item.split(";")[0].strip().lower()
        if name in HTTP_ENCODERS:
            return name
    return None


# --- requests ----------------------------------------------------------------


def parse_multipart(body, content_type):
    """The fields of a multipart/form-data body (the crate sends query and param_* so)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise ClickHouseError.new(36, "multipart/form-data without a boundary")
    fields = {}
    for part in body.split(b"--" + match.group(1).encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, value = part.partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]*)"', head)
        if name:
            fields[name.group(1).decode()] = value[:-2] if value.endswith(b"\r\n") else value
    return fields


def split_statement(query, body):
    """(sql, insert format, insert data) for a query given in the URL and/or the body."""
    text = query.encode() if query is not None else body
    match = INSERT_WITH_FORMAT.match(text)
    if match:
        statement = match.group(1).decode().strip()
        fmt = match.group(2).decode()
        if query is not None:
            return statement, fmt, body
        data = text[match.end():]
        if data[:2] == b"\r\n":
            data = data[2:]
        elif data[:1] in (b"\n", b" "):
            data = data[1:]
        return statement, fmt, data
    sql = text.decode()
    if query is not None and body:
        sql += "\n" + body.decode()
    return sql, None, None


class Request:
    """What a query request asks for, decoded from the URL, headers and body."""

    def __init__(self, params, sql, insert_format, insert_data):
        self.params = params
        self.sql = sql
        self.insert_format = insert_format
        self.insert_data = insert_data
        self.settings = [(k, v) for k, v in params.items()
                         if k not in HTTP_PARAMETERS and not k.startswith("param_")]
        self.query_params = {k[len("param_"):]: v for k, v in params.items() if k.startswith("param_")}

    @property
    def database(self):
        return self.params.get("database")


# --- the engine --------------------------------------------------------------


class Engine:
    """chDB behind one lock: settings and the current database are session state."""

    def __init__(self, path):
        self.conn = chdb_state.Connection(path)
        self.lock = threading.Lock()
        self.version = self._run("SELECT version()", "TabSeparated").bytes().decode().strip()

    def _run(self, sql, fmt="TabSeparated", params=None):
        try:
            return self.conn.query(sql, fmt, params=params or {})
        except Exception as exc:
            raise ClickHouseError.from_engine(exc) from None

    def execute(self, req):
        """Runs one request; returns (body bytes, summary dict)."""
        with self.lock:
            applied = []
            try:
                if req.database:
                    self._run(f"USE {quote_identifier(req.database)}")
                for name, value in req.settings:
                    if not SETTING_NAME.match(name):
                        raise ClickHouseError.new(115, f"Unknown setting '{name}'")
                    self._run(f"SET {name} = {quote_string(value)}")
                    applied.append(name)
                if req.insert_format is not None:
                    return self._insert(req)
                fmt = req.params.get("default_format") or "TabSeparated"
                result = self._run(req.sql, fmt, req.query_params)
                summary = {"read_rows": str(result.rows_read()), "read_bytes": str(result.bytes_read()),
                           "written_rows": "0", "written_bytes": "0"}
                return result.bytes(), summary
            finally:
                for name in applied:
                    self._run(f"SET {name} = DEFAULT")
                if req.database:
                    self._run("USE default")

    def _insert(self, req):
        try:
            inserter = self.conn.send_insert(req.sql, req.insert_format)
            try:
                if req.insert_data:
                    inserter.append(req.insert_data)
                result = inserter.finish()
            finally:
                inserter.cancel()  # no-op once finished
        except Exception as exc:
            raise ClickHouseError.from_engine(_engine_cause(exc)) from None
        summary = {"read_rows": "0", "read_bytes": "0",
                   "written_rows": str(result.rows_written), "written_bytes": str(result.bytes_written)}
        return b"", summary

    def close(self):
        with self.lock:
            self.conn.close()


def _engine_cause(exc):
    # StreamingInserter wraps engine errors as "Streaming insert ... failed: Code: N. ..."
    text = str(exc)
    at = text.find("Code: ")
    return text[at:] if at >= 0 else text


def quote_identifier(name):
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def quote_string(value):
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# --- fault injection ----------------------------------------------------------


class Faults:
    """Failures armed through the admin endpoint, each for the next `count` matching requests.

    A rule is JSON: {"action": "error"|"delay"|"drop", "count": N,
                     "match": "substring of the SQL" (optional, case-insensitive),
                     "code": 210, "status": 500, "message": "..."   (error)
                     "seconds": 2.5                                   (delay)
                     "phase": "before"|"after"}                       (delay, drop)
    `before` acts instead of/ahead of running the query; `after` runs it (the
    data is stored) and then delays or drops the answer.
    """

    ACTIONS = ("error", "delay", "drop")

    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []

    def arm(self, rule):
        if rule.get("action") not in self.ACTIONS:
            raise ValueError(f"action must be one of {self.ACTIONS}")
        rule = {
            "action": rule["action"],
            "count": int(rule.get("count", 1)),
            "match": str(rule.get("match", "")),
            "code": int(rule.get("code", 210)),
            "status": int(rule.get("status", 500)),
            "message": str(rule.get("message", "Injected fault")),
            "seconds": float(rule.get("seconds", 0)),
            "phase": rule.get("phase", "before"),
        }
        if rule["count"] < 1 or rule["phase"] not in ("before", "after"):
            raise ValueError("count must be >= 1 and phase 'before' or 'after'")
        with self.lock:
            self.rules.append(rule)
        return rule

    def take(self, sql):
        with self.lock:
            for rule in self.rules:
                if rule["match"].lower() in sql.lower():
                    rule["count"] -= 1
                    if rule["count"] == 0:
                        self.rules.remove(rule)
                    return dict(rule)
        return None

    def snapshot(self):
        with self.lock:
            return [dict(rule) for rule in self.rules]

    def clear(self):
        with self.lock:
            self.rules.clear()


class DropConnection(Exception):
    """Close the socket without an answer."""


# --- HTTP ---------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chdevserver"

    def do_GET(self):
        self._dispatch(read_only=True)

    def do_POST(self):
        self._dispatch(read_only=False)

    def do_DELETE(self):
        self._dispatch(read_only=False)

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("devserver: " + (fmt % args) + "\n")

    def _dispatch(self, read_only):
        url = urlsplit(self.path)
        try:
            body = self._read_body()
            if url.path in ("/ping", "/ping/"):
                return self._answer(200, b"Ok.\n", content_type="text/plain")
            if url.path == "/_faults" and self.server.faults is not None:
                return self._faults_endpoint(body)
            if url.path not in ("/", ""):
                return self._answer(404, b"Not found\n", content_type="text/plain")
            self._query(url, body, read_only)
        except ClickHouseError as err:
            self._error(err)
        except DropConnection:
            self._drop()

    def _query(self, url, body, read_only):
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        self._authenticate(params)
        body = http_decode(body, self.headers.get("Content-Encoding"))
        content_type = self.headers.get("Content-Type", "")
        query = params.get("query")
        if content_type.startswith("multipart/form-data"):
            fields = parse_multipart(body, content_type)
            query = fields.pop("query", b"").decode()
            params.update((k, v.decode()) for k, v in fields.items())
            body = b""
        elif params.get("decompress") == "1":
            body = native_decompress(body)
        sql, insert_format, insert_data = split_statement(query, body)
        if read_only and (insert_format is not None or not READ_ONLY_STATEMENT.match(sql)):
            raise ClickHouseError.new(READONLY, "Cannot execute query in readonly mode. "
                                      "For queries over HTTP, method GET implies readonly")
        fault = self.server.faults.take(sql) if self.server.faults else None
        if fault and fault["phase"] == "before":
            self._apply_fault(fault)
        if insert_format is not None and INPUT_FUNCTION.search(sql):
            data, summary = self._insert_select_from_input(params, sql, insert_format, insert_data)
        else:
            data, summary = self.server.engine.execute(Request(params, sql, insert_format, insert_data))
        if fault and fault["phase"] == "after":
            self._apply_fault(fault)
        self._result(params, data, summary)

    def _insert_select_from_input(self, params, sql, insert_format, data):
        """`INSERT ... SELECT ... FROM input('structure') FORMAT F` with the data
        in the body: the engine's streaming insert cannot run a SELECT, so the
        data goes to a temporary file that `file()` reads in place of `input()`."""
        fd, path = tempfile.mkstemp(prefix="devserver-input-", suffix=".bin")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data or b"")
            source = f"file({quote_string(path)}, {quote_string(insert_format)}, "
            sql = INPUT_FUNCTION.sub(lambda m: source + m.group(1) + ")", sql)
            return self.server.engine.execute(Request(params, sql, None, None))
        finally:
            os.unlink(path)

    def _apply_fault(self, fault):
        if fault["action"] == "error":
            text = f"Code: {fault['code']}. DB::Exception: {fault['message']}. (INJECTED)"
            raise ClickHouseError(fault["code"], text, status=fault["status"])
        if fault["action"] == "delay":
            time.sleep(fault["seconds"])
        elif fault["action"] == "drop":
            raise DropConnection()

    def _authenticate(self, params):
        expected_user = self.server.user
        if expected_user is None:
            return
        user = self.headers.get("X-ClickHouse-User") or params.get("user")
        password = self.headers.get("X-ClickHouse-Key") or params.get("password")
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            try:
                user, _, password = b64decode(auth[6:]).decode().partition(":")
            except Exception:
                user = password = None
        user = user or "default"
        ok = hmac.compare_digest(user.encode(), expected_user.encode()) and hmac.compare_digest(
            (password or "").encode(), self.server.password.encode())
        if not ok:
            raise ClickHouseError.new(AUTHENTICATION_FAILED, f"{user}: Authentication failed: password is "
                                      "incorrect, or there is no user with such name")

    def _faults_endpoint(self, body):
        faults = self.server.faults
        if self.command == "POST":
            try:
                rule = faults.arm(json.loads(body or b"{}"))
            except (ValueError, TypeError, KeyError) as exc:
                return self._answer(400, f"bad fault rule: {exc}\n".encode(), content_type="text/plain")
            return self._answer(200, json.dumps(rule).encode() + b"\n", content_type="application/json")
        if self.command == "DELETE":
            faults.clear()
        return self._answer(200, json.dumps(faults.snapshot()).encode() + b"\n", content_type="application/json")

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _result(self, params, data, summary):
        headers = {"X-ClickHouse-Summary": json.dumps(summary, separators=(",", ":"))}
        if params.get("compress") == "1":
            data = native_compress(data)
        elif params.get("enable_http_compression", "1") != "0":
            encoding = pick_encoding(self.headers.get("Accept-Encoding"))
            if encoding:
                data = HTTP_ENCODERS[encoding](data)
                headers["Content-Encoding"] = encoding
        self._answer(200, data, headers=headers)

    def _error(self, err):
        body = err.text.encode() + b"\n"
        self._answer(err.http_status, body, content_type="text/plain; charset=UTF-8",
                     headers={"X-ClickHouse-Exception-Code": str(err.code)})

    def _answer(self, status, body, content_type="text/plain; charset=UTF-8", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-ClickHouse-Server-Display-Name", "chdevserver")
        self.send_header("X-ClickHouse-Query-Id", str(uuid.uuid4()))
        self.send_header("X-ClickHouse-Timezone", "UTC")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _drop(self):
        # An RST, not a clean close: the client sees a broken connection.
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


def watch_stdin(stop):
    # Unbuffered reads: a buffered reader would hold its lock at interpreter exit.
    while os.read(sys.stdin.fileno(), 4096):
        pass
    stop()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A client that goes away or fails the TLS handshake is not news;
        # anything else is reported in one line, not a traceback.
        exc = sys.exc_info()[1]
        if self.verbose or not isinstance(exc, (ConnectionError, ssl.SSLError, TimeoutError)):
            sys.stderr.write(f"devserver: request from {client_address[0]} failed: {exc!r}\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123, help="0 picks a free port and prints it")
    parser.add_argument("--data", required=True, help="data directory; kept across restarts")
    parser.add_argument("--user", help="require this user (and --password)")
    parser.add_argument("--password", default=os.environ.get("DEVSERVER_PASSWORD", ""),
                        help="password for --user (or DEVSERVER_PASSWORD)")
    parser.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate")
    parser.add_argument("--tls-key", help="PEM private key for --tls-cert")
    parser.add_argument("--faults", action="store_true", help="enable the /_faults admin endpoint")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    parser.add_argument("--stdin-watch", action="store_true",
                        help="exit when stdin closes (test harnesses: a crashed test leaves no server behind)")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")

    os.makedirs(args.data, exist_ok=True)
    server = Server((args.host, args.port), Handler)
    server.engine = Engine(args.data)
    server.user = args.user
    server.password = args.password
    server.faults = Faults() if args.faults else None
    server.verbose = args.verbose
    scheme = "http"
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        # The handshake happens in the handler thread, not in accept().
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        scheme = "https"

    port = server.server_address[1]
    print(f"devserver listening on {scheme}://{args.host}:{port} "
          f"(chDB {server.engine.version}, data {args.data})", flush=True)

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.stdin_watch:
        threading.Thread(target=watch_stdin, args=(stop,), daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        server.engine.close()
    # The engine's data is closed and on disk; skip the library's slow global
    # teardown at interpreter exit (about two seconds of joining pools).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
