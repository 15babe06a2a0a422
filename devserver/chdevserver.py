#!/usr/bin/env python3
"""devserver: ClickHouse's HTTP interface on loopback, served by chDB.

This is development and test infrastructure for tracing-clickhouse, not a
ClickHouse server. It speaks ClickHouse's HTTP interface (see docs/devserver.md
for what it supports and what it does not) and hands every
statement to chDB, ClickHouse compiled as a library (chdb-core 26.x, or an
older chDB for an older ClickHouse: chdev/engine.py). The parts live in
devserver/chdev/ (see its __init__.py).
"""

import argparse
import hmac
import io
import json
import os
import signal
import socket
import ssl
import struct
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

# The engine reads the time zone once, when it loads: pin it so that
# DateTime functions answer the same on every machine.
os.environ.setdefault("TZ", "UTC")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chdev import compression, request, sandbox  # noqa: E402
from chdev.body import decoded, open_body, read_all  # noqa: E402
from chdev.answer import DISPLAY_NAME, Answer  # noqa: E402
from chdev.connection import TimedReader  # noqa: E402
from chdev.engine import open_engine  # noqa: E402
from chdev.errors import AUTHENTICATION_FAILED, STD_EXCEPTION, ClickHouseError  # noqa: E402
from chdev.faults import DropConnection, Faults  # noqa: E402

# Re-exported for the tests.
native_compress = compression.native_compress
native_decompress = compression.native_decompress

LINGER_SECONDS = 2


@dataclass
class Limits:
    """What one request may take (the flags of the same names)."""
    max_body_bytes: int
    max_query_bytes: int
    keep_alive_timeout: float
    receive_timeout: float


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chdevserver"
    # A request line that cannot be read is answered 400 with a status line
    # (as HTTP/1.0), not as HTTP/0.9's bare body.
    default_request_version = "HTTP/1.0"

    def setup(self):
        super().setup()
        # An answer is written in several pieces (status line, progress
        # headers, headers, chunks): without this, Nagle's algorithm and the
        # client's delayed ACK hold each small piece back by ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Reads go through the connection's deadlines (connection.py).
        self.rfile.close()
        self.timed = TimedReader(self.connection)
        self.rfile = io.BufferedReader(self.timed, 65536)
        self.body = None
        self.body_refused = False

    def handle_one_request(self):
        limits = self.server.limits
        self.timed.await_request(limits.keep_alive_timeout, limits.receive_timeout)
        self.body = None
        self.body_refused = False
        super().handle_one_request()
        if self.body_refused or (self.body is not None and not self.body.done):
            self._linger()  # an answer before the whole body: the rest is not a next request

    def parse_request(self):
        ok = super().parse_request()
        if ok:
            self.timed.head_done(self.server.limits.receive_timeout)
        return ok

    def do_GET(self):
        self._dispatch()

    def do_HEAD(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("devserver: " + (fmt % args) + "\n")

    def _plain(self, status, text, content_type="text/plain; charset=UTF-8"):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-ClickHouse-Server-Display-Name", DISPLAY_NAME)
        if self.body is not None and not self.body.done:
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _dispatch(self):
        url = urlsplit(self.path)
        answer = Answer(self)
        try:
            limits = self.server.limits
            self.body = open_body(self.rfile, self.headers, self.command, limits.max_body_bytes)
            if url.path in ("/ping", "/ping/"):
                return self._plain(200, "Ok.\n")
            if url.path == "/_faults" and self.server.faults is not None:
                return self._faults_endpoint(read_all(self.body, limits.max_query_bytes, "--max-query-bytes"))
            if url.path not in ("/", ""):
                return self._plain(404, "There is no handle " + url.path + "\n")
            if self.command in ("GET", "HEAD") and not url.query:
                return self._plain(200, "Ok.\n")  # http_server_default_response
            self._query(url, answer)
        except ClickHouseError as err:
            if self.body is None or not self.body.done:
                self.close_connection = True  # the rest of the body is unread, or its framing is broken
            # Refused by its head (too large, bad framing): none of it was read.
            self.body_refused = self.body is None
            answer.error(err)
        except DropConnection:
            self._drop()
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the client went away, or stopped sending
        except Exception as exc:  # a bug of the front: an answer, not a dead connection
            sys.stderr.write(f"devserver: internal error: {exc!r}\n")
            self.close_connection = True
            answer.error(ClickHouseError.new(STD_EXCEPTION, f"devserver internal error: {exc!r}"))

    def _query(self, url, answer):
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        user = self._authenticate(params)  # before a byte of the body is read
        limits = self.server.limits
        stream = decoded(self.body, self.headers.get("Content-Encoding"),
                              params.get("decompress", "0") not in ("0", ""), limits.max_body_bytes)
        req = request.parse(self.command, url.query, self.headers, stream, limits.max_query_bytes)
        faults = self.server.faults
        fault = faults.take(req.sql) if faults else None
        if fault and fault["phase"] == "before":
            self._apply_fault(fault)
        with self.server.engine.request(req, user) as run:
            answer.configure(req, run)
            run.on_progress = answer.progress
            # With wait_end_of_query (or a fault to apply after the run) the
            # whole answer is kept until the end; otherwise one block is held
            # back, so that an answer of one block is sent whole, with its
            # complete summary, and an error before the second block still
            # gets its own status.
            settings = dict(req.settings)
            # (An HTTP/1.0 client cannot take chunks: its answer is sent whole too.)
            wait = (req.flag("wait_end_of_query") or settings.get("http_wait_end_of_query", "0") not in ("0", "")
                    or fault is not None or self.request_version == "HTTP/1.0")
            held = []
            blocks = run.blocks()
            try:
                for block in blocks:
                    if not block:
                        continue
                    held.append(block)
                    if not wait and len(held) > 1:
                        answer.stream(held.pop(0))
            except ClickHouseError:
                # What the engine produced before the error goes out first, as ClickHouse sends it.
                if answer.headers_done:
                    for block in held:
                        answer.stream(block)
                raise
            finally:
                blocks.close()  # a client gone mid-stream: the query is cancelled before the session is put back
        # The session is released (and a fresh connection closed) before the
        # answer's last bytes go out: a client's next request must find it free.
        if fault:
            self._apply_fault(fault)
        if not self.body.done:
            self.close_connection = True  # a body the statement did not read (a SELECT with data after it)
        if answer.headers_done:
            for block in held:
                answer.stream(block)
            answer.end()
        else:
            answer.whole(held)

    def _apply_fault(self, fault):
        if fault["action"] == "error":
            text = f"Code: {fault['code']}. DB::Exception: {fault['message']}. (INJECTED)"
            raise ClickHouseError(fault["code"], text, status=fault["status"])
        if fault["action"] == "delay":
            time.sleep(fault["seconds"])
        elif fault["action"] == "drop":
            raise DropConnection()

    def _authenticate(self, params):
        """The user the request runs as, checked as ClickHouse checks it: the
        one user --user names, with its password, or else (as a server out of
        the box) `default` with an empty password."""
        user, password = request.credentials(self.headers, params)
        expected = self.server.user or "default"
        expected_password = self.server.password if self.server.user else ""
        ok = hmac.compare_digest(user.encode(), expected.encode()) and hmac.compare_digest(
            password.encode(), expected_password.encode())
        if not ok:
            raise ClickHouseError.new(AUTHENTICATION_FAILED, f"{user}: Authentication failed: password is "
                                      "incorrect, or there is no user with such name")
        return user

    def _faults_endpoint(self, data):
        faults = self.server.faults
        if self.command == "POST":
            try:
                rule = faults.arm(json.loads(data or b"{}"))
            except (ValueError, TypeError, KeyError) as exc:
                return self._plain(400, f"bad fault rule: {exc}\n")
            return self._plain(200, json.dumps(rule) + "\n", "application/json")
        if self.command == "DELETE":
            faults.clear()
        return self._plain(200, json.dumps(faults.snapshot()) + "\n", "application/json")

    def _linger(self):
        """Reads (and drops) what the client still sends after an early answer,
        for a moment, so that closing does not reset the connection before the
        client has read the answer."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.5)
            deadline = time.monotonic() + LINGER_SECONDS
            while time.monotonic() < deadline and self.connection.recv(65536):
                pass
        except OSError:
            pass

    def _drop(self):
        # An RST, not a clean close: the client sees a broken connection.
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


def positive(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def seconds(text):
    value = float(text)
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"must be between 0 and 3600 seconds, not {text}")
    return value


def watch_stdin(fd, stop):
    # Unbuffered reads: a buffered reader would hold its lock at interpreter exit.
    while os.read(fd, 4096):
        pass
    stop()


def detach_stdin():
    """The process's stdin moved to another descriptor (returned), and /dev/null
    in its place: older chDB reads an INSERT's data from a stdin that is a
    pipe, even with FROM INFILE, and would wait for it forever."""
    kept = os.dup(0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return kept


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
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=8123, help="0 picks a free port and prints it")
    parser.add_argument("--data", required=True, help="data directory; kept across restarts")
    parser.add_argument("--user", help="the one user (with --password); without it, `default` with no password")
    parser.add_argument("--password", default=os.environ.get("DEVSERVER_PASSWORD", ""),
                        help="password for --user (or DEVSERVER_PASSWORD)")
    parser.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate")
    parser.add_argument("--tls-key", help="PEM private key for --tls-cert")
    parser.add_argument(sandbox.FLAG, action="store_true",
                        help="let SQL read and write files and reach the network and other programs "
                             "(file(), url(), s3(), remote(), INTO OUTFILE, File/URL engines, ...): off by default")
    parser.add_argument("--max-body-bytes", type=positive, default=1 << 30,
                        help="largest request body, as sent and as decoded (default 1 GiB); larger is 413")
    parser.add_argument("--max-query-bytes", type=positive, default=16 << 20,
                        help="largest part of a body held in memory: SQL text, VALUES, forms (default 16 MiB); "
                             "INSERT data after FORMAT streams to the engine instead")
    parser.add_argument("--keep-alive-timeout", type=seconds, default=10.0,
                        help="seconds a connection may wait idle for its next request (default 10)")
    parser.add_argument("--receive-timeout", type=seconds, default=30.0,
                        help="seconds a request's head may take to arrive, and each later read or write (default 30)")
    parser.add_argument("--faults", action="store_true", help="enable the /_faults admin endpoint")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    parser.add_argument("--stdin-watch", action="store_true",
                        help="exit when stdin closes (test harnesses: a crashed test leaves no server behind)")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")

    data = os.path.abspath(args.data)
    tls = (os.path.abspath(args.tls_cert), os.path.abspath(args.tls_key)) if args.tls_cert else None
    # Relative paths reach files from the working directory (chDB's default
    # database reads a file named as a table): make it an empty one, as a
    # server's user_files directory, whatever the devserver was started in.
    user_files = os.path.join(data, "user_files")
    os.makedirs(user_files, exist_ok=True)
    os.chdir(user_files)
    stdin = detach_stdin()
    server = Server((args.host, args.port), Handler)
    server.engine = open_engine(data, allow_external_access=args.allow_external_access)
    server.user = args.user
    server.password = args.password
    server.limits = Limits(args.max_body_bytes, args.max_query_bytes, args.keep_alive_timeout, args.receive_timeout)
    server.faults = Faults() if args.faults else None
    server.verbose = args.verbose
    scheme = "http"
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        # The handshake happens in the handler thread, not in accept().
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        scheme = "https"

    port = server.server_address[1]
    print(f"devserver listening on {scheme}://{args.host}:{port} "
          f"(chDB {server.engine.version}, data {data})", flush=True)

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.stdin_watch:
        threading.Thread(target=watch_stdin, args=(stdin, stop), daemon=True).start()
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
