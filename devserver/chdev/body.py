"""A request's body as a stream: its framing, its encodings, its limits.

The body is read piece by piece (`read(n)` gives at most n bytes, b"" at
the end), so that an INSERT's data reaches the engine while it arrives and
memory holds a piece of it, not all of it. The framing is Content-Length or
chunked; then the Content-Encoding (gzip, deflate, lz4, zstd) and the
native compressed blocks of `decompress=1` are undone as the bytes come.
A body larger than the limit, as sent or as decoded, is refused with 413;
a malformed one with 400.
"""

import gzip
import re
import struct
import zlib

import lz4.frame
import zstandard

from . import compression
from .errors import (BAD_ARGUMENTS, CANNOT_DECOMPRESS, CHECKSUM_DOESNT_MATCH, HTTP_LENGTH_REQUIRED,
                     NOT_IMPLEMENTED, QUERY_IS_TOO_LARGE, UNKNOWN_COMPRESSION_METHOD, ClickHouseError)

PIECE = 1 << 20  # what one read asks for
MAX_LINE = 4096  # a chunk's size line, a trailer
MAX_TRAILERS = 64
# A native compressed block is held whole to be checked and decompressed:
# ClickHouse takes blocks up to 1 GiB; clients write 1 MiB ones.
MAX_NATIVE_BLOCK = 128 << 20
LIMIT_FLAG = "--max-body-bytes"


def too_large(what, limit, flag=LIMIT_FLAG):
    return ClickHouseError.new(QUERY_IS_TOO_LARGE, f"{what} is larger than the devserver's limit of {limit} "
                               f"bytes ({flag})")


def malformed(message):
    return ClickHouseError.new(BAD_ARGUMENTS, message)


def open_body(rfile, headers, method, limit):
    """The body's raw bytes, as its framing headers say; framing errors are raised here."""
    te = ",".join(headers.get_all("Transfer-Encoding") or [])
    lengths = {value.strip() for value in headers.get_all("Content-Length") or []}
    if te:
        if lengths:
            raise malformed("Both Content-Length and Transfer-Encoding are given")
        if [t.strip().lower() for t in te.split(",")] != ["chunked"]:
            raise ClickHouseError(NOT_IMPLEMENTED, f"Code: {NOT_IMPLEMENTED}. DB::Exception: Transfer-Encoding "
                                  f"'{te}' is not supported (only chunked). (NOT_IMPLEMENTED)", status=501)
        return Chunked(rfile, limit)
    if lengths:
        value = lengths.pop()
        if lengths or not re.fullmatch(r"[0-9]{1,19}", value):
            raise malformed(f"Invalid Content-Length: '{value}'")
        if int(value) > limit:
            raise too_large(f"The body ({value} bytes)", limit)
        return Sized(rfile, int(value))
    if method == "POST":
        raise ClickHouseError.new(HTTP_LENGTH_REQUIRED, "The Transfer-Encoding is not chunked and there is no "
                                  "Content-Length header for POST request")
    return Sized(rfile, 0)


class Sized:
    """A Content-Length body."""

    def __init__(self, rfile, length):
        self.rfile = rfile
        self.left = length

    @property
    def done(self):
        return self.left == 0

    def read(self, size=PIECE):
        if self.left == 0:
            return b""
        data = self.rfile.read(min(size, self.left))
        if not data:
            raise ConnectionError("the client closed the connection before the end of the body")
        self.left -= len(data)
        return data


class Chunked:
    """A chunked body: chunks of at most the limit in all, each followed by CRLF."""

    def __init__(self, rfile, limit):
        self.rfile = rfile
        self.limit = limit
        self.total = 0
        self.left = 0  # of the current chunk
        self.done = False

    def read(self, size=PIECE):
        if self.done:
            return b""
        if self.left == 0:
            self.left = self._chunk_size()
            if self.left == 0:
                self._skip_trailers()
                self.done = True
                return b""
        data = self.rfile.read(min(size, self.left))
        if not data:
            raise ConnectionError("the client closed the connection in a chunk")
        self.left -= len(data)
        if self.left == 0 and self.rfile.readline(MAX_LINE) not in (b"\r\n", b"\n"):
            raise malformed("Malformed chunked body: a chunk is not followed by CRLF")
        return data

    def _chunk_size(self):
        line = self.rfile.readline(MAX_LINE)
        if not line:
            raise ConnectionError("the client closed the connection before the last chunk")
        text = line.split(b";", 1)[0].strip()
        if not re.fullmatch(rb"[0-9A-Fa-f]{1,16}", text):
            raise malformed(f"Malformed chunked body: chunk size {text[:32]!r}")
        size = int(text, 16)
        self.total += size
        if self.total > self.limit:
            raise too_large("The body", self.limit)
        return size

    def _skip_trailers(self):
        for _ in range(MAX_TRAILERS):
            if self.rfile.readline(MAX_LINE) in (b"\r\n", b"\n", b""):
                return
        raise malformed("Malformed chunked body: too many trailers")


def decoded(raw, content_encoding, native, limit):
    """The body as the query reads it: Content-Encoding undone, then (with
    `decompress=1`) the native blocks; at most `limit` bytes of it."""
    reader = raw
    name = (content_encoding or "").strip().lower()
    if name == "gzip":
        reader = Decoding(gzip.GzipFile(fileobj=raw, mode="rb"), name)
    elif name == "deflate":
        reader = Decoding(Inflate(raw), name)
    elif name == "lz4":
        reader = Decoding(lz4.frame.LZ4FrameFile(raw, mode="rb"), name)
    elif name == "zstd":
        reader = Decoding(zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True), name)
    elif name not in ("", "identity", "none"):
        raise ClickHouseError.new(UNKNOWN_COMPRESSION_METHOD, f"Unknown Content-Encoding: {name}")
    if native:
        reader = NativeBlocks(reader)
    return Limited(reader, limit) if reader is not raw else reader


class Decoding:
    """A decompressor's reads, its errors turned into the client's (CANNOT_DECOMPRESS)."""

    def __init__(self, inner, name):
        self.inner = inner
        self.name = name

    def read(self, size=PIECE):
        try:
            return self.inner.read(size)
        except (ClickHouseError, ConnectionError, TimeoutError):
            raise
        except Exception as exc:  # zlib.error, EOFError, RuntimeError, ZstdError, BadGzipFile ...
            raise ClickHouseError.new(CANNOT_DECOMPRESS, f"Cannot decode {self.name} body: {exc}") from None


class Inflate:
    """Content-Encoding: deflate (a zlib stream), at most `size` bytes a read."""

    def __init__(self, raw):
        self.raw = raw
        self.z = zlib.decompressobj()

    def read(self, size=PIECE):
        while True:
            data = self.z.unconsumed_tail or self.raw.read(PIECE)
            if not data:
                if not self.z.eof:
                    raise EOFError("the deflate stream ends early")
                return b""
            out = self.z.decompress(data, size)
            if out or self.z.eof:
                return out


class NativeBlocks:
    """ClickHouse's native compressed blocks (`decompress=1`), one at a time."""

    def __init__(self, raw):
        self.raw = raw
        self.buffer = b""

    def read(self, size=PIECE):
        while not self.buffer:
            block = self._next_block()
            if block is None:
                return b""
            self.buffer = block
        out, self.buffer = self.buffer[:size], self.buffer[size:]
        return out

    def _exactly(self, n):
        parts, left = [], n
        while left:
            data = self.raw.read(min(left, PIECE))
            if not data:
                return b"".join(parts)
            parts.append(data)
            left -= len(data)
        return b"".join(parts)

    def _next_block(self):
        head = self._exactly(compression.CHECKSUM_SIZE + compression.HEADER_SIZE)
        if not head:
            return None
        if len(head) < compression.CHECKSUM_SIZE + compression.HEADER_SIZE:
            raise ClickHouseError.new(CANNOT_DECOMPRESS, "Truncated compressed block header")
        method, size, raw_size = struct.unpack_from("<BII", head, compression.CHECKSUM_SIZE)
        if size < compression.HEADER_SIZE or size > MAX_NATIVE_BLOCK or raw_size > MAX_NATIVE_BLOCK:
            raise ClickHouseError.new(CANNOT_DECOMPRESS, f"Compressed block of {size} bytes ({raw_size} "
                                      f"decompressed): the devserver takes blocks up to {MAX_NATIVE_BLOCK}")
        rest = self._exactly(size - compression.HEADER_SIZE)
        if len(rest) < size - compression.HEADER_SIZE:
            raise ClickHouseError.new(CANNOT_DECOMPRESS, "Truncated compressed block")
        block = head[compression.CHECKSUM_SIZE:] + rest
        if compression.checksum(block) != head[:compression.CHECKSUM_SIZE]:
            raise ClickHouseError.new(CHECKSUM_DOESNT_MATCH, "Checksum doesn't match: corrupted data")
        return compression.decompress_block(method, rest, raw_size)


class Limited:
    """At most `limit` bytes of a decoded body: a compressed body expands, the limit holds."""

    def __init__(self, inner, limit):
        self.inner = inner
        self.limit = limit
        self.total = 0

    def read(self, size=PIECE):
        data = self.inner.read(size)
        self.total += len(data)
        if self.total > self.limit:
            raise too_large("The decoded body", self.limit)
        return data


def read_all(reader, limit, flag):
    """The rest of a body, which the query must hold whole: at most `limit` bytes."""
    parts, total = [], 0
    while data := reader.read(PIECE):
        total += len(data)
        if total > limit:
            raise too_large("A query held in memory (the SQL text, VALUES, a form)", limit, flag)
        parts.append(data)
    return b"".join(parts)
