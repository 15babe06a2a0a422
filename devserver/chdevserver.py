#!/usr/bin/env python3
"""devserver: ClickHouse's HTTP interface on loopback, served by chDB.

This is development and test infrastructure for tracing-clickhouse, not a
ClickHouse server. It speaks ClickHouse's HTTP interface (see README's "The
devserver" for what it supports and what it does not) and hands every
statement to chDB, ClickHouse 26.x compiled as a library. The parts live in
devserver/chdev/: request parsing, the engine and its sessions, formats,
compression, faults.
"""

import argparse
import hmac
import json
import os
import random
import signal
import socket
import ssl
import string
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

# The engine reads the time zone once, when it loads: pin it so that
# DateTime functions answer the same on every machine.
os.environ.setdefault("TZ", "UTC")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chdev import compression, formats, request  # noqa: E402
from chdev.engine import Engine  # noqa: E402
from chdev.errors import AUTHENTICATION_FAILED, HTTP_LENGTH_REQUIRED, STD_EXCEPTION, ClickHouseError  # noqa: E402
from chdev.faults import DropConnection, Faults  # noqa: E402

# Re-exported for the tests.
native_compress = compression.native_compress
native_decompress = compression.native_decompress

DISPLAY_NAME = "chdevserver"
STATUS_TEXT = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
               408: "Request Timeout", 411: "Length Required", 413: "Payload Too Large",
               415: "Unsupported Media Type", 429: "Too Many Requests", 500: "Internal Server Error",
               501: "Not Implemented", 503: "Service Unavailable"}


class Answer:
    """One HTTP answer, written the way ClickHouse writes it.

    The status line goes out first, when the body starts or, with
    send_progress_in_http_headers=1, with the first X-ClickHouse-Progress
    header; the other headers (summary included) go out with the body. Until
    the body starts an error still gets its own status; after that it is
    written into the body (framed with the X-ClickHouse-Exception-Tag) and
    the connection is closed without the last chunk, so that no client can
    take the answer for complete.
    """

    def __init__(self, handler):
        self.handler = handler
        self.out = handler.wfile
        self.run = None
        self.status_sent = False
        self.headers_done = False
        self.tag = "".join(random.choices(string.ascii_lowercase, k=16))
        self.progress_interval = None
        self.last_progress = time.monotonic()
        self.native = None  # compress=1: (method, level)
        self.encoder = None
        # The engine may report progress from a thread of its own.
        self.lock = threading.Lock()

    def configure(self, req, run):
        """The query's answer: its compression, progress headers and metadata."""
        self.run = run
        settings = dict(req.settings)
        if settings.get("send_progress_in_http_headers", "0") not in ("0", "false"):
            self.progress_interval = int(settings.get("http_headers_progress_interval_ms", "100")) / 1000
        if req.flag("compress"):
            self.native = (settings.get("network_compression_method", "lz4").lower(),
                           int(settings.get("network_zstd_compression_level", "1")))
        elif settings.get("enable_http_compression", "0") not in ("0", "false"):
            name = compression.pick_encoding(self.handler.headers.get("Accept-Encoding"))
            if name:
                level = int(settings.get("http_zlib_compression_level", "3"))
                self.encoder = compression.HttpEncoder(name, level if name != "lz4" else 0)

    def _status(self, status):
        if not self.status_sent:
            self.out.write(f"HTTP/1.1 {status} {STATUS_TEXT.get(status, 'Error')}\r\n".encode())
            self.status_sent = True

    def progress(self, summary):
        """An X-ClickHouse-Progress header, at most every http_headers_progress_interval_ms.
        Called by the engine while the query runs: it must not raise into it."""
        with self.lock:
            if self.progress_interval is None or self.headers_done:
                return
            now = time.monotonic()
            if now - self.last_progress < self.progress_interval:
                return
            self.last_progress = now
            try:
                self._status(200)
                self.out.write(b"X-ClickHouse-Progress: " + json.dumps(summary, separators=(",", ":")).encode()
                               + b"\r\n")
                self.out.flush()
            except OSError:
                self.progress_interval = None  # the client is gone; writing the answer will fail too

    def _headers(self, status, content_type, extra, length=None):
        with self.lock:
            self._write_headers(status, content_type, extra, length)

    def _write_headers(self, status, content_type, extra, length):
        self._status(status)
        lines = {"Content-Type": content_type, "X-ClickHouse-Server-Display-Name": DISPLAY_NAME}
        if self.run:
            lines["X-ClickHouse-Query-Id"] = self.run.query_id
            if self.run.has_result:
                lines.update({"X-ClickHouse-Format": self.run.format, "X-ClickHouse-Timezone": self.run.timezone})
            lines["X-ClickHouse-Summary"] = json.dumps(self.run.summary(), separators=(",", ":"))
        lines.update(extra)
        if length is None:
            lines["Transfer-Encoding"] = "chunked"
        else:
            lines["Content-Length"] = str(length)
        if self.handler.close_connection:
            lines["Connection"] = "close"
        self.out.write("".join(f"{name}: {value}\r\n" for name, value in lines.items()).encode() + b"\r\n")
        self.headers_done = True

    def _encode(self, data):
        if self.native:
            return compression.native_compress(data, *self.native) if data else b""
        if self.encoder:
            return self.encoder.encode(data)
        return data

    def _chunk(self, data):
        if data:
            self.out.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.out.flush()

    def _success_headers(self, length=None):
        extra = {"X-ClickHouse-Exception-Tag": self.tag}
        if self.encoder:
            extra["Content-Encoding"] = self.encoder.name
        content_type = formats.content_type(self.run.format) if self.run.has_result else "text/plain; charset=UTF-8"
        self._headers(200, content_type, extra, length)

    def whole(self, blocks):
        """The complete answer at once (nothing was streamed)."""
        data = self._encode(b"".join(blocks))
        if self.encoder:
            data += self.encoder.finish()
        self._success_headers(len(data))
        self.out.write(data)
        self.out.flush()

    def stream(self, data):
        """One more block of a streamed answer."""
        if not self.headers_done:
            self._success_headers()
        self._chunk(self._encode(data))

    def end(self):
        if self.encoder:
            self._chunk(self.encoder.finish())
        self.out.write(b"0\r\n\r\n")
        self.out.flush()

    def error(self, err):
        """An error: with its own status if the body has not started, else in the body."""
        text = err.text.rstrip("\n") + "\n"
        if not self.headers_done:
            extra = {"X-ClickHouse-Exception-Code": str(err.code)}
            # Once the status line is out (progress headers), the status stays 200.
            body = text.encode()
            self._headers(err.http_status, "text/plain; charset=UTF-8", extra, len(body))
            self.out.write(body)
            self.out.flush()
            return
        self.handler.close_connection = True
        frame = formats.exception_frame(text, self.tag)
        self._chunk(self._encode(frame))
        # No last chunk: the answer is visibly incomplete.


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chdevserver"

    def setup(self):
        super().setup()
        # An answer is written in several pieces (status line, progress
        # headers, headers, chunks): without this, Nagle's algorithm and the
        # client's delayed ACK hold each small piece back by ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

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
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-ClickHouse-Server-Display-Name", DISPLAY_NAME)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _dispatch(self):
        url = urlsplit(self.path)
        answer = Answer(self)
        try:
            body = self._read_body()
            if url.path in ("/ping", "/ping/"):
                return self._plain(200, "Ok.\n")
            if url.path == "/_faults" and self.server.faults is not None:
                return self._faults_endpoint(body)
            if url.path not in ("/", ""):
                return self._plain(404, "There is no handle " + url.path + "\n")
            if self.command in ("GET", "HEAD") and not url.query:
                return self._plain(200, "Ok.\n")  # http_server_default_response
            self._query(url, body, answer)
        except ClickHouseError as err:
            answer.error(err)
        except DropConnection:
            self._drop()
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the client went away
        except Exception as exc:  # a bug of the front: an answer, not a dead connection
            sys.stderr.write(f"devserver: internal error: {exc!r}\n")
            self.close_connection = True
            answer.error(ClickHouseError.new(STD_EXCEPTION, f"devserver internal error: {exc!r}"))

    def _query(self, url, body, answer):
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        user = self._authenticate(params)
        body = compression.http_decode(body, self.headers.get("Content-Encoding"))
        if params.get("decompress", "0") not in ("0", "") and body:
            body = compression.native_decompress(body)
        req = request.parse(self.command, url.query, self.headers, body)
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
        """The user the request runs as; with --user, its password is checked."""
        user, password = request.credentials(self.headers, params)
        expected = self.server.user
        if expected is None:
            return user
        ok = hmac.compare_digest(user.encode(), expected.encode()) and hmac.compare_digest(
            password.encode(), self.server.password.encode())
        if not ok:
            raise ClickHouseError.new(AUTHENTICATION_FAILED, f"{user}: Authentication failed: password is "
                                      "incorrect, or there is no user with such name")
        return user

    def _faults_endpoint(self, body):
        faults = self.server.faults
        if self.command == "POST":
            try:
                rule = faults.arm(json.loads(body or b"{}"))
            except (ValueError, TypeError, KeyError) as exc:
                return self._plain(400, f"bad fault rule: {exc}\n")
            return self._plain(200, json.dumps(rule) + "\n", "application/json")
        if self.command == "DELETE":
            faults.clear()
        return self._plain(200, json.dumps(faults.snapshot()) + "\n", "application/json")

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                try:
                    size = int(line.split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    self.close_connection = True
                    raise ClickHouseError.new(HTTP_LENGTH_REQUIRED, "Malformed chunked request body") from None
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
        length = self.headers.get("Content-Length")
        if length is None and self.command == "POST":
            self.close_connection = True
            raise ClickHouseError.new(HTTP_LENGTH_REQUIRED, "The Transfer-Encoding is not chunked and there "
                                      "is no Content-Length header for POST request")
        return self.rfile.read(int(length)) if length else b""

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
