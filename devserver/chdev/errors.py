"""ClickHouse errors as the HTTP interface reports them."""

import re

# Error codes the front raises itself (numbers as the engine's errorCodeToName() gives them).
NO_SUCH_COLUMN_IN_TABLE = 16
BAD_ARGUMENTS = 36
CHECKSUM_DOESNT_MATCH = 40
NOT_IMPLEMENTED = 48
SYNTAX_ERROR = 62
UNKNOWN_COMPRESSION_METHOD = 89
UNKNOWN_SETTING = 115
READONLY = 164
QUERY_IS_TOO_LARGE = 229
CANNOT_DECOMPRESS = 271
UNFINISHED = 341
SESSION_NOT_FOUND = 372
SESSION_IS_LOCKED = 373
INVALID_SESSION_TIMEOUT = 374
HTTP_LENGTH_REQUIRED = 381
ACCESS_DENIED = 497
AUTHENTICATION_FAILED = 516
STD_EXCEPTION = 1001

CODE_NAMES = {
    NO_SUCH_COLUMN_IN_TABLE: "NO_SUCH_COLUMN_IN_TABLE",
    BAD_ARGUMENTS: "BAD_ARGUMENTS",
    CHECKSUM_DOESNT_MATCH: "CHECKSUM_DOESNT_MATCH",
    NOT_IMPLEMENTED: "NOT_IMPLEMENTED",
    SYNTAX_ERROR: "SYNTAX_ERROR",
    UNKNOWN_COMPRESSION_METHOD: "UNKNOWN_COMPRESSION_METHOD",
    UNKNOWN_SETTING: "UNKNOWN_SETTING",
    READONLY: "READONLY",
    QUERY_IS_TOO_LARGE: "QUERY_IS_TOO_LARGE",
    CANNOT_DECOMPRESS: "CANNOT_DECOMPRESS",
    UNFINISHED: "UNFINISHED",
    SESSION_NOT_FOUND: "SESSION_NOT_FOUND",
    SESSION_IS_LOCKED: "SESSION_IS_LOCKED",
    INVALID_SESSION_TIMEOUT: "INVALID_SESSION_TIMEOUT",
    HTTP_LENGTH_REQUIRED: "HTTP_LENGTH_REQUIRED",
    ACCESS_DENIED: "ACCESS_DENIED",
    AUTHENTICATION_FAILED: "AUTHENTICATION_FAILED",
    STD_EXCEPTION: "STD_EXCEPTION",
}

# HTTP status by exception code: ClickHouse's exceptionCodeToHTTPStatus
# (src/Server/HTTP/exceptionCodeToHTTPStatus.cpp). Every other code is 500,
# READONLY included.
HTTP_STATUS_BY_CODE = {
    194: 401,  # REQUIRED_PASSWORD
    # UNKNOWN_USER, WRONG_PASSWORD, AUTHENTICATION_FAILED, SET_NON_GRANTED_ROLE, ACCESS_DENIED
    **dict.fromkeys((192, 193, 516, 512, 497), 403),
    # BAD_ARGUMENTS, CANNOT_COMPILE_REGEXP, CANNOT_PARSE_* (text, escape sequence, quoted string,
    # date, datetime, number, domain value, IPv4, IPv6, input assertion, UUID), DUPLICATE_COLUMN,
    # ILLEGAL_COLUMN, UNKNOWN_ELEMENT_IN_AST, UNKNOWN_TYPE_OF_AST_NODE, THERE_IS_NO_COLUMN,
    # TOO_DEEP_AST, TOO_BIG_AST, UNEXPECTED_AST_STRUCTURE, SYNTAX_ERROR, INCORRECT_DATA,
    # TYPE_MISMATCH, VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    **dict.fromkeys((36, 427, 6, 25, 26, 38, 41, 72, 441, 675, 676, 27, 376, 15, 44, 37, 123, 8,
                     167, 168, 223, 62, 117, 53, 321), 400),
    # UNKNOWN_TABLE, _FUNCTION, _IDENTIFIER, _TYPE, _STORAGE, _DATABASE, _SETTING,
    # _DIRECTION_OF_SORTING, _AGGREGATE_FUNCTION, _FORMAT, _DATABASE_ENGINE, _TYPE_OF_QUERY, _ROLE
    **dict.fromkeys((60, 46, 47, 50, 56, 81, 115, 152, 63, 73, 336, 78, 511), 404),
    229: 413,  # QUERY_IS_TOO_LARGE
    48: 501,  # NOT_IMPLEMENTED
    **dict.fromkeys((209, 76, 439), 503),  # SOCKET_TIMEOUT, CANNOT_OPEN_FILE, CANNOT_SCHEDULE_TASK
    381: 411,  # HTTP_LENGTH_REQUIRED
    159: 408,  # TIMEOUT_EXCEEDED
    779: 415,  # UNSUPPORTED_MEDIA_TYPE
}

ERROR_CODE = re.compile(r"Code: (\d+)\.")


class ClickHouseError(Exception):
    """An error answered the way ClickHouse answers it: a code and a `Code: N. DB::Exception: ...` text."""

    def __init__(self, code, text, status=None):
        super().__init__(text)
        self.code = code
        self.text = text
        self.status = status

    @classmethod
    def new(cls, code, message):
        return cls(code, f"Code: {code}. DB::Exception: {message}. ({CODE_NAMES.get(code, '')})")

    @classmethod
    def from_engine(cls, exc):
        """The engine's own error; chDB's wrappers ("Streaming query failed: ...") are cut off."""
        text = str(exc).strip()
        match = ERROR_CODE.search(text)
        if not match:
            return cls.new(STD_EXCEPTION, text.rstrip("."))
        return cls(int(match.group(1)), text[match.start():])

    @property
    def http_status(self):
        return self.status or HTTP_STATUS_BY_CODE.get(self.code, 500)
