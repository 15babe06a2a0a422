#!/usr/bin/env python3
"""Conformance: Python's clickhouse-connect (a client nobody here wrote)
against the devserver, or against the server CLICKHOUSE_URL names.

Run by `make conformance` with the version pinned in requirements.txt
beside this file. Without CLICKHOUSE_URL it starts a devserver of its own
(with --user, so that authentication is checked too) with the Python given
by --devserver-python. Every check prints `ok` or `FAIL` and why; the last
line counts them. The exit status is 1 if any check failed.
"""

import argparse
import datetime
import gzip
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from urllib.parse import urlsplit

import clickhouse_connect
from clickhouse_connect.driver.compression import available_compression, comp_map
from clickhouse_connect.driver.exceptions import DatabaseError, Error
from clickhouse_connect.driver.external import ExternalData

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def expect_error(code, fn):
    """fn() fails with a ClickHouse error of this code."""
    try:
        fn()
    except DatabaseError as exc:
        expect(exc.code == code, f"expected code {code}, got {exc.code}: {exc}")
        return exc
    raise AssertionError(f"expected an error with code {code}, got none")


class Target:
    """The server under test and how to reach it."""

    def __init__(self, args):
        self.proc = self.data = None
        url = os.environ.get("CLICKHOUSE_URL")
        if url:
            parts = urlsplit(url)
            self.host, self.port, self.secure = parts.hostname, parts.port or 8123, parts.scheme == "https"
            self.user = os.environ.get("CLICKHOUSE_USER", "default")
            self.password = os.environ.get("CLICKHOUSE_PASSWORD", "")
            self.name = url
            return
        self.data = tempfile.mkdtemp(prefix="conformance-devserver-")
        self.user, self.password = "conformance", secrets.token_hex(8)
        self.proc = subprocess.Popen(
            [args.devserver_python, os.path.join(HERE, "..", "chdevserver.py"), "--port", "0", "--data", self.data,
             "--user", self.user, "--password", self.password, "--stdin-watch"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            raise SystemExit(f"the devserver did not start: {line!r}")
        self.host, self.port, self.secure = "127.0.0.1", int(line.split()[3].rsplit(":", 1)[1]), False
        self.name = "devserver " + line.split("(")[1].split(",")[0]

    def client(self, **kwargs):
        options = {"host": self.host, "port": self.port, "username": self.user, "password": self.password,
                   "secure": self.secure, **kwargs}
        return clickhouse_connect.get_client(**options)

    def close(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            shutil.rmtree(self.data, ignore_errors=True)


ROW_TYPES = ("id UInt32, name String, tag LowCardinality(String), at DateTime64(6, 'UTC'), "
             "score Nullable(Float64), tags Array(String), attrs Map(String, UInt16)")


def sample_rows(count):
    base = datetime.datetime(2026, 11, 24, 12, 0, 0, tzinfo=datetime.timezone.utc)
    return [(i, f"name {i} 'quoted' \\ é", f"tag{i % 3}", base + datetime.timedelta(microseconds=i),
             None if i % 7 == 0 else i / 4, [f"t{i}", "x"] if i % 2 else [], {"k": i % 100})
            for i in range(count)]


def utc(row):
    """A row read back, its DateTime64 made timezone-aware: the client may return
    a UTC column's values as naive datetimes (its tz_mode), which is no server matter."""
    at = row[3]
    return row[:3] + (at if at.tzinfo else at.replace(tzinfo=datetime.timezone.utc),) + row[4:]


# --- checks -------------------------------------------------------------------


@check
def connect(t, db):
    client = t.client()
    expect(client.ping(), "ping")
    version = client.command("SELECT version()")
    expect(client.server_version == version, f"server_version {client.server_version} != {version}")
    expect(client.command("SELECT currentDatabase()") == "default", "current database")
    # The client probes client_protocol_version with a Native block and keeps it if the answer is right.
    expect(client.protocol_version == 54405, f"negotiated protocol version {client.protocol_version}")


@check
def inserts_with_every_compression(t, db):
    # Enough rows for the client to send several compressed blocks. (It offers
    # deflate for answers only: it has no deflate compressor for inserts.)
    rows = sample_rows(60000)
    for compression in [False] + [c for c in available_compression if c in comp_map]:
        client = t.client(database=db, compress=compression)
        table = f"ins_{compression or 'none'}"
        client.command(f"CREATE TABLE {table} ({ROW_TYPES}) ENGINE = MergeTree ORDER BY id")
        summary = client.insert(table, rows)
        expect(summary.written_rows == len(rows), f"{compression}: written_rows {summary.written_rows}")
        back = [utc(row) for row in client.query(f"SELECT * FROM {table} ORDER BY id").result_rows]
        expect(back == rows, f"{compression}: rows read back differ (first: {back[:1]} vs {rows[:1]})")


@check
def answers_with_every_compression(t, db):
    for compression in list(available_compression):
        client = t.client(database=db, compress=compression)
        rows = client.query("SELECT number, toString(number) FROM numbers(50000)").result_rows
        expect(len(rows) == 50000 and rows[-1] == (49999, "49999"), f"{compression}: {len(rows)} rows")
        raw = client.raw_query("SELECT number FROM numbers(3) FORMAT TabSeparated")
        expect(raw == b"0\n1\n2\n", f"{compression}: raw {raw!r}")


@check
def raw_inserts_in_text_formats(t, db):
    client = t.client(database=db)
    client.command("CREATE TABLE raw_ins (n UInt32, s String) ENGINE = MergeTree ORDER BY n")
    client.raw_insert("raw_ins", ["n", "s"], "1,a\n2,b\n", fmt="CSV")
    client.raw_insert("raw_ins", ["n", "s"], b'{"n":3,"s":"c"}\n', fmt="JSONEachRow")
    # With `compression` the block is sent as it is, already compressed by the caller.
    client.raw_insert("raw_ins", None, gzip.compress(b"4\td\n"), fmt="TabSeparated", compression="gzip")
    expect(client.command("SELECT groupArray(s) FROM (SELECT s FROM raw_ins ORDER BY n)") == "['a','b','c','d']",
           "raw inserts")


@check
def queries_in_its_formats(t, db):
    client = t.client(database=db)
    client.command("CREATE TABLE fmt (n UInt64, s LowCardinality(String)) ENGINE = MergeTree ORDER BY n")
    client.command("INSERT INTO fmt SELECT number, toString(number % 5) FROM numbers(100000)")
    result = client.query("SELECT n, s FROM fmt ORDER BY n")
    expect(len(result.result_rows) == 100000 and result.result_rows[99999] == (99999, "4"), "Native rows")
    columns = client.query("SELECT n, s FROM fmt ORDER BY n", column_oriented=True).result_columns
    expect(sum(columns[0]) == 99999 * 100000 // 2, "column oriented")
    blocks = 0
    with client.query_row_block_stream("SELECT n FROM fmt ORDER BY n", settings={"max_block_size": 10000}) as stream:
        total = 0
        for block in stream:
            blocks += 1
            total += len(block)
    expect(total == 100000 and blocks > 1, f"row block stream: {total} rows in {blocks} blocks")
    for fmt, expected in [("TabSeparated", b"0\t0\n1\t1\n"), ("CSV", b'0,"0"\n1,"1"\n'),
                          ("JSONEachRow", b'{"n":0,"s":"0"}\n{"n":1,"s":"1"}\n'),
                          ("RowBinary", b"\x00" * 4 + b"\x010" + b"\x01" + b"\x00" * 3 + b"\x011")]:
        got = client.raw_query("SELECT toUInt32(n) AS n, s FROM fmt ORDER BY n LIMIT 2", fmt=fmt)
        expect(got == expected, f"{fmt}: {got!r}")
    parquet = client.raw_query("SELECT n FROM fmt LIMIT 10", fmt="Parquet")
    expect(parquet[:4] == b"PAR1" and parquet[-4:] == b"PAR1", "Parquet")
    expect(client.query("SELECT n FROM fmt WHERE n > 1000000").result_rows == [], "empty result")


@check
def parameters(t, db):
    client = t.client(database=db)
    server = client.query("SELECT {a:UInt32} + {b:UInt32}, {s:String}, {arr:Array(String)}, {d:DateTime}",
                          parameters={"a": 40, "b": 2, "s": "it's \\ \"q\"", "arr": ["x", "y'"],
                                      "d": datetime.datetime(2026, 1, 2, 3, 4, 5)}).first_row
    expect(server == (42, "it's \\ \"q\"", ["x", "y'"], datetime.datetime(2026, 1, 2, 3, 4, 5)), f"server side: {server}")
    bound = client.query("SELECT %(n)s * 2, %(s)s", parameters={"n": 21, "s": "o'k"}).first_row
    expect(bound == (42, "o'k"), f"client side: {bound}")


@check
def settings(t, db):
    client = t.client(database=db, settings={"max_block_size": 1234})
    expect(client.command("SELECT getSetting('max_block_size')") == 1234, "client setting")
    got = client.command("SELECT getSetting('max_block_size')", settings={"max_block_size": 4321})
    expect(got == 4321, f"query setting {got}")
    expect(client.command("SELECT getSetting('max_block_size')") == 1234, "a query setting leaks")
    # readonly=1 on one query, then DDL on the same client.
    expect(client.command("SELECT getSetting('readonly')", settings={"readonly": 1}) == 1, "readonly query")
    expect_error(164, lambda: client.command("CREATE TABLE ro_t (n UInt8) ENGINE = Memory", settings={"readonly": 1}))
    client.command("CREATE TABLE after_ro (n UInt8) ENGINE = Memory")
    expect(client.command("EXISTS TABLE after_ro") == 1, "DDL after a readonly query")
    expect_error(115, lambda: client.command("SELECT 1", settings={"no_such_setting_at_all": 1}))


@check
def sessions(t, db):
    one = t.client(database=db)  # clickhouse-connect makes up a session_id per client
    two = t.client(database=db)
    one.command("CREATE TEMPORARY TABLE tmp (n UInt32)")
    one.insert("tmp", [[1], [2], [3]], column_names=["n"])
    expect(one.command("SELECT sum(n) FROM tmp") == 6, "temporary table in its session")
    expect_error(60, lambda: two.command("SELECT sum(n) FROM tmp"))
    one.command("SET max_threads = 1")
    expect(one.command("SELECT getSetting('max_threads')") == 1, "SET stays in the session")
    expect(two.command("SELECT getSetting('max_threads')") != 1, "SET leaks to another session")
    fixed = t.client(database=db, session_id=f"conf-{uuid.uuid4()}")
    fixed.command("SET max_threads = 1")
    again = t.client(database=db, session_id=fixed.get_client_setting("session_id"))
    expect(again.command("SELECT getSetting('max_threads')") == 1, "a named session is found again")
    none = t.client(database=db, autogenerate_session_id=False)
    expect_error(60, lambda: none.command("SELECT sum(n) FROM tmp"))
    missing = t.client(database=db, session_id=f"conf-{uuid.uuid4()}", settings={"session_check": 1})
    expect_error(372, lambda: missing.command("SELECT 1"))


@check
def external_data(t, db):
    client = t.client(database=db)
    ext = ExternalData(file_name="ext.csv", data=b"1,a\n2,b\n3,b\n", fmt="CSV", structure=["k UInt8", "v String"])
    rows = client.query("SELECT v, sum(k) FROM ext GROUP BY v ORDER BY v", external_data=ext).result_rows
    expect(rows == [("a", 1), ("b", 5)], f"external data: {rows}")


@check
def summary_and_query_id(t, db):
    client = t.client(database=db)
    client.command("CREATE TABLE sm (n UInt32) ENGINE = MergeTree ORDER BY n")
    summary = client.command("INSERT INTO sm VALUES (1), (2), (3)")
    expect(summary.written_rows == 3, f"INSERT VALUES written_rows {summary.summary}")
    result = client.query("SELECT * FROM sm", settings={"query_id": "conformance-query-1"})
    expect(result.query_id == "conformance-query-1", f"query_id {result.query_id}")
    expect(int(result.summary.get("result_rows", -1)) == 3, f"summary {result.summary}")
    first, second = client.query("SELECT 1").query_id, client.query("SELECT 1").query_id
    expect(first and second and first != second, "generated query ids")


@check
def errors(t, db):
    client = t.client(database=db)
    expect_error(62, lambda: client.command("SELEC 1"))
    expect_error(60, lambda: client.query("SELECT * FROM no_such_table"))
    expect_error(62, lambda: client.command("SELECT 1; SELECT 2"))
    wrong = None
    try:
        wrong = t.client(password="not-the-password")
        wrong.command("SELECT 1")
        raise AssertionError("a wrong password was accepted")
    except DatabaseError as exc:
        expect(exc.code == 516, f"wrong password: code {exc.code}")
    # An error after rows were sent: ClickHouse writes it into the body.
    try:
        with client.query_row_block_stream(
                "SELECT sleepEachRow(0.05) FROM system.numbers LIMIT 50",
                settings={"max_execution_time": 0.3, "max_block_size": 1}) as stream:
            count = sum(len(block) for block in stream)
        raise AssertionError(f"a query past max_execution_time returned {count} rows")
    except Error as exc:
        expect("TIMEOUT_EXCEEDED" in str(exc) or "159" in str(exc), f"mid-stream error: {exc}")
    expect(client.command("SELECT 1") == 1, "the client works after a mid-stream error")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devserver-python", default=sys.executable,
                        help="the Python with chDB that runs the devserver (without CLICKHOUSE_URL)")
    args = parser.parse_args()
    # The mid-stream error check breaks an answer on purpose; the client logs that as an error.
    logging.getLogger("clickhouse_connect").setLevel(logging.CRITICAL)
    target = Target(args)
    passed = failed = 0
    try:
        print(f"clickhouse-connect {clickhouse_connect.__version__} against {target.name}", flush=True)
        admin = target.client()
        for fn in CHECKS:
            db = f"conformance_{fn.__name__}"
            admin.command(f"DROP DATABASE IF EXISTS {db}")
            admin.command(f"CREATE DATABASE {db}")
            started = time.monotonic()
            try:
                fn(target, db)
                passed += 1
                print(f"ok    {fn.__name__} ({time.monotonic() - started:.1f} s)", flush=True)
            except Exception as exc:
                failed += 1
                detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                print(f"FAIL  {fn.__name__}: {detail}", flush=True)
            finally:
                admin.command(f"DROP DATABASE IF EXISTS {db}")
    finally:
        target.close()
    print(f"conformance: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
