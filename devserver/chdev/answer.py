"""One HTTP answer, written the way ClickHouse writes it (see Answer)."""

import json
import random
import string
import threading
import time

from . import compression, formats

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
