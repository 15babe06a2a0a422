"""What an HTTP request asks for: the statement, its data, its settings.

ClickHouse's HTTP interface takes the query from the `query` URL parameter
and/or the body; every URL parameter that is not one of the interface's own
is a setting; `param_*` are query parameters. A multipart/form-data body
carries form fields (treated as URL parameters) and external tables (parts
with a file name, described by `<name>_structure` or `<name>_types` and
`<name>_format`).
"""

import io
import os
import re
import tempfile
from contextlib import contextmanager
from base64 import b64decode
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from .body import PIECE, read_all, too_large
from .errors import AUTHENTICATION_FAILED, BAD_ARGUMENTS, INVALID_SESSION_TIMEOUT, UNKNOWN_SETTING, ClickHouseError

# URL parameters that belong to the HTTP interface (HTTPHandler's reserved
# names and the ones it reads itself); every other one is a setting.
HTTP_PARAMETERS = {
    "query", "database", "default_format", "user", "password", "quota_key", "query_id",
    "stacktrace", "buffer_size", "wait_end_of_query", "session_id", "session_timeout",
    "session_check", "compress", "decompress", "role", "client_protocol_version",
}
DEFAULT_SESSION_TIMEOUT = 60  # default_session_timeout
MAX_SESSION_TIMEOUT = 3600  # max_session_timeout

SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
QUERY_LIMIT_FLAG = "--max-query-bytes"
# Formats whose data is SQL (VALUES expressions are evaluated): held whole and checked as SQL.
SQL_DATA_FORMATS = {"values", "mysqldump"}
# `INSERT INTO ... FORMAT Name`: what follows the format name is data.
INSERT_WITH_FORMAT = re.compile(
    rb"\s*(INSERT\s+INTO\s.*?)\bFORMAT\s+([A-Za-z0-9_]+)", re.IGNORECASE | re.DOTALL)


@dataclass
class ExternalTable:
    name: str
    structure: str
    format: str
    data: bytes


@dataclass
class Request:
    method: str
    params: dict
    headers: object  # the request's http.client.HTTPMessage
    sql: str = ""
    insert_format: str = None
    insert_data: "Data" = None
    external: list = field(default_factory=list)
    param_items: list = field(default_factory=list)  # every (name, value), repeats kept (role=a&role=b)

    def flag(self, name):
        return self.params.get(name, "0") not in ("", "0", "false", "False")

    @property
    def database(self):
        return self.headers.get("X-ClickHouse-Database") or self.params.get("database")

    @property
    def default_format(self):
        return self.headers.get("X-ClickHouse-Format") or self.params.get("default_format") or "TabSeparated"

    @property
    def query_id(self):
        return self.params.get("query_id") or self.headers.get("X-ClickHouse-Query-Id") or ""

    @property
    def session_id(self):
        return self.params.get("session_id") or None

    @property
    def session_timeout(self):
        text = self.params.get("session_timeout")
        if text is None:
            return DEFAULT_SESSION_TIMEOUT
        if not text.isdigit():
            raise ClickHouseError.new(INVALID_SESSION_TIMEOUT, f"Invalid session timeout: '{text}'")
        if int(text) > MAX_SESSION_TIMEOUT:
            raise ClickHouseError.new(INVALID_SESSION_TIMEOUT, f"Session timeout '{text}' is larger than "
                                      f"max_session_timeout: {MAX_SESSION_TIMEOUT}")
        return int(text)

    @property
    def roles(self):
        return [v for k, v in self.param_items if k == "role"]

    @property
    def settings(self):
        """(name, value) of every setting the request changes, in order. A name
        that cannot be a setting is refused here: names go into a SET statement."""
        skip = ("_structure", "_types", "_format") if self.external else ()
        settings = [(k, v) for k, v in self.params.items()
                    if k and k not in HTTP_PARAMETERS and not k.startswith("param_")
                    and not (skip and k.endswith(skip) and k.rsplit("_", 1)[0] in self.external_names)]
        for name, _ in settings:
            if not SETTING_NAME.match(name):
                raise ClickHouseError.new(UNKNOWN_SETTING, f"Unknown setting '{name}'")
        return settings

    @property
    def external_names(self):
        return {table.name for table in self.external}

    @property
    def query_params(self):
        return {k[len("param_"):]: v for k, v in self.params.items() if k.startswith("param_")}

    @property
    def client_protocol_version(self):
        text = self.params.get("client_protocol_version", "0")
        if not text.isdigit():
            raise ClickHouseError.new(BAD_ARGUMENTS, f"Invalid client_protocol_version: '{text}'")
        return int(text)


def credentials(headers, params):
    """(user, password), read as ClickHouse does: X-ClickHouse-User/Key headers,
    or Basic auth, or the user/password parameters; mixing them is an error."""
    user = headers.get("X-ClickHouse-User")
    password = headers.get("X-ClickHouse-Key")
    auth = headers.get("Authorization")
    in_params = "user" in params or "password" in params
    if user is not None or password is not None:
        if auth or in_params:
            raise ClickHouseError.new(AUTHENTICATION_FAILED, "Invalid authentication: it is not allowed to use "
                                      "X-ClickHouse HTTP headers and other authentication methods simultaneously")
        return user or "default", password or ""
    if auth:
        if in_params:
            raise ClickHouseError.new(AUTHENTICATION_FAILED, "Invalid authentication: it is not allowed to use "
                                      "Authorization HTTP header and authentication via parameters simultaneously")
        scheme, _, info = auth.partition(" ")
        if scheme.lower() != "basic":
            raise ClickHouseError.new(AUTHENTICATION_FAILED,
                                      f"Invalid authentication: '{scheme}' HTTP Authorization scheme is not supported")
        try:
            user, _, password = b64decode(info.strip(), validate=True).decode().partition(":")
        except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
            raise ClickHouseError.new(AUTHENTICATION_FAILED, "Invalid authentication: malformed Basic credentials") from None
        return user or "default", password
    return params.get("user") or "default", params.get("password", "")


def parse_multipart(body, content_type):
    """(fields, files) of a multipart/form-data body: fields by name, and
    (name, data) of the parts that carry a file name."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise ClickHouseError.new(BAD_ARGUMENTS, "multipart/form-data without a boundary")
    fields, files = {}, []
    for part in body.split(b"--" + match.group(1).encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, value = part.partition(b"\r\n\r\n")
        value = value[:-2] if value.endswith(b"\r\n") else value
        name = re.search(rb'\bname="([^"]*)"', head)
        if not name:
            continue
        if re.search(rb'\bfilename="', head):
            files.append((name.group(1).decode(), value))
        else:
            fields[name.group(1).decode()] = value
    return fields, files


def external_table(name, data, params):
    structure = params.get(f"{name}_structure")
    if structure is None:
        types = params.get(f"{name}_types")
        if types is None:
            raise ClickHouseError.new(BAD_ARGUMENTS, f"Neither structure nor types have not been provided "
                                      f"for external table {name}. Use fields {name}_structure or {name}_types")
        structure = ", ".join(f"_{i} {t.strip()}" for i, t in enumerate(types.split(","), 1))
    return ExternalTable(name, structure, params.get(f"{name}_format", "TabSeparated"), data)


class Data:
    """An INSERT's data: what came with the statement, then the rest of the
    body as it arrives (`rest` is None when it is all in `first`)."""

    def __init__(self, first, rest=None):
        self.first = first
        self.rest = rest

    def pieces(self):
        if self.first:
            yield self.first
        while self.rest is not None and (piece := self.rest.read(PIECE)):
            yield piece

    @contextmanager
    def in_file(self):
        """The path of a temporary file holding the data (written as it arrives), removed afterwards."""
        fd, path = tempfile.mkstemp(prefix="devserver-data-", suffix=".bin")
        try:
            with os.fdopen(fd, "wb") as f:
                for piece in self.pieces():
                    f.write(piece)
            yield path
        finally:
            os.unlink(path)


def _text(data, what):
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise ClickHouseError.new(BAD_ARGUMENTS, f"{what} is not valid UTF-8") from None


def _statement_head(reader, limit):
    """(bytes read, whether the body ended): the body up to where an INSERT's
    data starts (the statement and a little after it), or all of it."""
    head = b""
    while True:
        piece = reader.read(PIECE)
        head += piece
        match = INSERT_WITH_FORMAT.match(head)
        if not piece or (match and match.end() + 2 <= len(head)):
            return head, not piece
        if len(head) > limit:
            raise too_large("A query held in memory (the SQL text, VALUES, a form)", limit, QUERY_LIMIT_FLAG)


def split_statement(query, reader, limit):
    """(sql, insert format, insert Data) for a query given in the URL and/or
    the body. Only the data of `INSERT ... FORMAT` streams; the rest of a
    request (the SQL text, VALUES, the data of the Values format, whose
    expressions are SQL) is read whole, at most `limit` bytes of it."""
    if query is not None:
        text, ended = query.encode(), False
    else:
        text, ended = _statement_head(reader, limit)
    match = INSERT_WITH_FORMAT.match(text)
    if not match:
        body = b"" if ended else read_all(reader, limit - len(text), QUERY_LIMIT_FLAG)
        if query is None:
            return _text(text + body, "The query"), None, None
        return _text(text + b"\n" + body if body else text, "The query"), None, None
    statement, fmt = match.group(1).decode().strip(), match.group(2).decode()
    first = text[match.end():]
    if query is not None:
        first = first.lstrip()  # ClickHouse reads the URL's query and then the body as one text
    elif first[:2] == b"\r\n":
        first = first[2:]
    elif first[:1] in (b"\n", b" "):
        first = first[1:]
    rest = None if ended else reader
    if fmt.lower() in SQL_DATA_FORMATS:
        data = first + (read_all(rest, limit - len(first), QUERY_LIMIT_FLAG) if rest else b"")
        return statement, fmt, Data(data)
    return statement, fmt, Data(first, rest)


def parse(method, url_query, headers, body, limit):
    """The Request of an HTTP request; `body` is its decoded body, read as
    far as the statement needs (the data of an INSERT stays unread)."""
    params = dict(parse_qsl(url_query, keep_blank_values=True))
    request = Request(method, params, headers)
    request.param_items = parse_qsl(url_query, keep_blank_values=True)
    query = params.get("query")
    content_type = headers.get("Content-Type", "")
    if content_type.startswith("multipart/form-data"):
        fields, files = parse_multipart(read_all(body, limit, QUERY_LIMIT_FLAG), content_type)
        decoded = {k: _text(v, "A form field") for k, v in fields.items()}
        params.update(decoded)
        request.param_items += list(decoded.items())
        query = params.get("query")
        request.external = [external_table(name, data, params) for name, data in files]
        body = io.BytesIO(b"")
    request.sql, request.insert_format, request.insert_data = split_statement(query, body, limit)
    return request
