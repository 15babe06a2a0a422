"""Compression: ClickHouse's native compressed blocks and HTTP Content-Encoding.

Native blocks are what `decompress=1` request bodies and `compress=1`
answers carry: a CityHash128 checksum, a method byte, the compressed and
the raw size, the payload. HTTP encodings are the usual Accept-Encoding
ones; answers are encoded incrementally so that a streamed result can be
decoded chunk by chunk. (Request bodies are decoded as they arrive, in
body.py.)
"""

import struct
import zlib

import lz4.block
import lz4.frame
import zstandard
from clickhouse_cityhash.cityhash import CityHash128

from .errors import CANNOT_DECOMPRESS, CHECKSUM_DOESNT_MATCH, UNKNOWN_COMPRESSION_METHOD, ClickHouseError

CHECKSUM_SIZE = 16
HEADER_SIZE = 9  # method byte, compressed size (header included), raw size
NONE, LZ4, ZSTD = 0x02, 0x82, 0x90
# ClickHouse's max_compress_block_size: a larger answer is split into blocks of this size.
MAX_BLOCK_SIZE = 1 << 20


def checksum(block):
    """The CityHash128 a native block is preceded by."""
    value = CityHash128(block)
    # CityHash128 yields (low64, high64); the python binding packs high64 first.
    return struct.pack("<QQ", value >> 64, value & 0xFFFFFFFFFFFFFFFF)


def decompress_block(method, payload, raw_size):
    """The raw bytes of one native block's payload."""
    try:
        if method == LZ4:
            return lz4.block.decompress(payload, uncompressed_size=raw_size)
        if method == ZSTD:
            return zstandard.ZstdDecompressor().decompress(payload, max_output_size=raw_size)
        if method == NONE:
            return payload
    except (lz4.block.LZ4BlockError, zstandard.ZstdError) as exc:
        raise ClickHouseError.new(CANNOT_DECOMPRESS, f"Cannot decompress block: {exc}") from None
    raise ClickHouseError.new(UNKNOWN_COMPRESSION_METHOD, f"Unknown compression method: {method:#x}")


def native_decompress(data):
    """The raw bytes of a whole body of native compressed blocks (`compress=1` answers, in tests)."""
    out = bytearray()
    pos = 0
    while pos < len(data):
        head = pos + CHECKSUM_SIZE
        if len(data) < head + HEADER_SIZE:
            raise ClickHouseError.new(CANNOT_DECOMPRESS, "Truncated compressed block header")
        method, size, raw_size = struct.unpack_from("<BII", data, head)
        end = head + size
        if size < HEADER_SIZE or end > len(data):
            raise ClickHouseError.new(CANNOT_DECOMPRESS, "Truncated compressed block")
        if checksum(data[head:end]) != data[pos:head]:
            raise ClickHouseError.new(CHECKSUM_DOESNT_MATCH, "Checksum doesn't match: corrupted data")
        out += decompress_block(method, data[head + HEADER_SIZE:end], raw_size)
        pos = end
    return bytes(out)


def native_compress(data, method="lz4", level=1):
    """`data` as native compressed blocks (the `compress=1` answer), LZ4 or ZSTD
    as the `network_compression_method` setting asks."""
    out = bytearray()
    for start in range(0, max(len(data), 1), MAX_BLOCK_SIZE):
        raw = data[start:start + MAX_BLOCK_SIZE]
        if method == "zstd":
            code, payload = ZSTD, zstandard.ZstdCompressor(level=level).compress(raw)
        else:
            code, payload = LZ4, lz4.block.compress(raw, store_size=False)
        block = struct.pack("<BII", code, HEADER_SIZE + len(payload), len(raw)) + payload
        out += checksum(block) + block
    return bytes(out)


class HttpEncoder:
    """An answer's Content-Encoding, applied chunk by chunk: every `encode`
    returns bytes the client can decode up to that point (a flush)."""

    def __init__(self, name, level=3):
        self.name = name
        if name == "gzip":
            self._z = zlib.compressobj(level, zlib.DEFLATED, 31)
        elif name == "deflate":
            self._z = zlib.compressobj(level)
        elif name == "zstd":
            self._z = zstandard.ZstdCompressor(level=level).compressobj()
        elif name == "lz4":
            self._z = lz4.frame.LZ4FrameCompressor(auto_flush=True)
            self._started = False
        else:
            raise ValueError(name)

    def encode(self, data):
        if self.name in ("gzip", "deflate"):
            return self._z.compress(data) + self._z.flush(zlib.Z_SYNC_FLUSH)
        if self.name == "zstd":
            return self._z.compress(data) + self._z.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
        head = b""
        if not self._started:
            head, self._started = self._z.begin(), True
        return head + self._z.compress(data)

    def finish(self):
        if self.name == "lz4":
            return (b"" if self._started else self._z.begin()) + self._z.flush()
        return self._z.flush()


HTTP_ENCODINGS = ("gzip", "deflate", "zstd", "lz4")
# ClickHouse's preference (chooseHTTPCompressionMethod), whatever the client's order;
# br, snappy, xz and bz2 are not written here and are passed over.
SERVER_PREFERENCE = ("zstd", "br", "lz4", "snappy", "gzip", "deflate", "xz", "bz2")


def pick_encoding(accept_encoding):
    """The encoding of an answer: the server's most preferred one among those
    Accept-Encoding lists with q > 0 (`*` accepts any) that the devserver writes."""
    accepted = set()
    for item in (accept_encoding or "").split(","):
        name, _, params = item.partition(";")
        q = params.strip()
        try:
            weight = float(q[2:]) if q.lower().startswith("q=") else 1.0
        except ValueError:
            weight = 1.0
        if weight > 0:
            accepted.add(name.strip().lower())
    for name in SERVER_PREFERENCE:
        if name in HTTP_ENCODINGS and (name in accepted or "*" in accepted):
            return name
    return None
