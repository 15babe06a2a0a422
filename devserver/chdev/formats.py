"""Output formats: which ones stream block by block, and how the pieces join.

chDB's streaming API formats every block it hands out as a complete output
of its own: a RowBinaryWithNamesAndTypes block repeats the header, a JSON
block is a whole document. A format streams here only when the blocks can
be joined back into the byte stream ClickHouse would have written: formats
with no header (rows only, and Native whose blocks follow each other), and
formats whose header is a known number of lines or strings, which later
blocks repeat and lose. Every other format is answered in one piece.
"""

import re

# Formats whose blocks concatenate as they are.
ROWS_ONLY = {
    "TabSeparated", "TSV", "TabSeparatedRaw", "TSVRaw", "Raw", "CSV", "RowBinary",
    "JSONEachRow", "JSONLines", "NDJSON", "JSONCompactEachRow", "JSONStringsEachRow",
    "JSONCompactStringsEachRow", "LineAsString", "RawBLOB", "MsgPack", "Native",
}
# Text formats whose header is this many lines.
HEADER_LINES = {
    "TabSeparatedWithNames": 1, "TSVWithNames": 1, "TabSeparatedRawWithNames": 1, "TSVRawWithNames": 1,
    "RawWithNames": 1, "CSVWithNames": 1, "JSONCompactEachRowWithNames": 1,
    "JSONCompactStringsEachRowWithNames": 1,
    "TabSeparatedWithNamesAndTypes": 2, "TSVWithNamesAndTypes": 2, "TabSeparatedRawWithNamesAndTypes": 2,
    "TSVRawWithNamesAndTypes": 2, "RawWithNamesAndTypes": 2, "CSVWithNamesAndTypes": 2,
    "JSONCompactEachRowWithNamesAndTypes": 2, "JSONCompactStringsEachRowWithNamesAndTypes": 2,
}
# Binary formats whose header is a column count and this many strings per column.
HEADER_STRINGS = {"RowBinaryWithNames": 1, "RowBinaryWithNamesAndTypes": 2}

# Settings that give a streamable format a prefix or suffix of its own.
FRAMING_SETTINGS = {"output_format_json_array_of_rows"}

CONTENT_TYPES = {
    "TabSeparated": "text/tab-separated-values; charset=UTF-8",
    "TSV": "text/tab-separated-values; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8; header=absent",
    "CSVWithNames": "text/csv; charset=UTF-8; header=present",
    "CSVWithNamesAndTypes": "text/csv; charset=UTF-8; header=present",
    "JSON": "application/json; charset=UTF-8",
    "JSONCompact": "application/json; charset=UTF-8",
    "JSONStrings": "application/json; charset=UTF-8",
    "JSONEachRow": "application/x-ndjson; charset=UTF-8",
    "JSONLines": "application/x-ndjson; charset=UTF-8",
    "NDJSON": "application/x-ndjson; charset=UTF-8",
    "XML": "application/xml; charset=UTF-8",
    "Markdown": "text/markdown; charset=UTF-8",
}
BINARY_FORMATS = ("RowBinary", "Native", "Parquet", "Arrow", "ArrowStream", "ORC", "Avro", "MsgPack",
                  "Protobuf", "CapnProto", "RawBLOB", "BSONEachRow", "Npy")

# `... FORMAT Name` at the end of a statement (optionally followed by SETTINGS or `;`).
TRAILING_FORMAT = re.compile(
    r"\bFORMAT\s+([A-Za-z][A-Za-z0-9_]*)\s*(?:SETTINGS\b[^;]*)?;?\s*$", re.IGNORECASE)


def content_type(fmt):
    if fmt in CONTENT_TYPES:
        return CONTENT_TYPES[fmt]
    if fmt.startswith(("TabSeparated", "TSV")):
        return CONTENT_TYPES["TSV"]
    if fmt.startswith(BINARY_FORMATS):
        return "application/octet-stream"
    return "text/plain; charset=UTF-8"


def output_format(sql, default_format):
    """(format, sure): the format of a statement's answer, and whether that is
    certain. A FORMAT clause at the end wins; the word FORMAT anywhere else
    (a subquery, a string) leaves it uncertain, and so not streamed."""
    match = TRAILING_FORMAT.search(sql)
    if match:
        return match.group(1), True
    return default_format, not re.search(r"\bFORMAT\b", sql, re.IGNORECASE)


def _varint(data, pos):
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def header_length(fmt, block):
    """The length of the header at the start of a block of `fmt` (0 for none)."""
    if fmt in HEADER_LINES:
        pos = 0
        for _ in range(HEADER_LINES[fmt]):
            pos = block.index(b"\n", pos) + 1
        return pos
    if fmt in HEADER_STRINGS:
        count, pos = _varint(block, 0)
        for _ in range(count * HEADER_STRINGS[fmt]):
            size, pos = _varint(block, pos)
            pos += size
        return pos
    return 0


def streamable(fmt, settings):
    return (fmt in ROWS_ONLY or fmt in HEADER_LINES or fmt in HEADER_STRINGS) and not (
        FRAMING_SETTINGS & {name for name, _ in settings})


class Joiner:
    """Joins the blocks of one streamed result: the first keeps its header,
    later ones lose theirs (checked to be the same header)."""

    def __init__(self, fmt, block_info=False):
        self.fmt = fmt
        self.header = None
        # Native for a client_protocol_version > 0: every block starts with
        # its BlockInfo (is_overflows = 0, bucket_num = -1), as NativeWriter
        # writes it for a client revision > 0.
        self.block_info = b"\x01\x00\x02\xff\xff\xff\xff\x00" if block_info else b""

    def join(self, block):
        if not block:
            return b""
        if self.header is None:
            self.header = block[:header_length(self.fmt, block)]
            return self.block_info + block
        if not block.startswith(self.header):
            raise ValueError(f"a {self.fmt} block did not start with the result's header")
        return self.block_info + block[len(self.header):]


def exception_frame(message, tag):
    """An exception written after part of the result was sent, as ClickHouse
    25.11+ frames it in the body (the tag is the X-ClickHouse-Exception-Tag
    header); the length counts the message and its newline."""
    text = message.rstrip("\n").encode() + b"\n"
    tag = tag.encode()
    return (b"\r\n__exception__\r\n" + tag + b"\r\n" + text
            + str(len(text)).encode() + b" " + tag + b"\r\n__exception__\r\n")


def with_block_info(data, fmt, client_protocol_version):
    """An answer given whole, in Native for a client revision > 0: its one
    block gets the BlockInfo such a client expects."""
    if data and fmt == "Native" and client_protocol_version > 0:
        return Joiner("Native", block_info=True).join(data)
    return data
