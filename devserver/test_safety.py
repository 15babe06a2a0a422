"""The devserver is as safe to run on a laptop as the server it imitates
(issue 21, item 5): read-only GETs, no file system or network access from
SQL unless asked, credentials checked, bounded bodies and connection times,
malformed requests answered 400. Over real HTTP, against the real engine.

Run: .venv/bin/python -m unittest devserver/test_safety.py -v
"""

import base64
import gzip
import json
import os
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_devserver import Server, shared_servers  # noqa: E402

SharedServerTest, tearDownModule = shared_servers("devserver-safety-")


class SafetyTest(SharedServerTest):
    def setUp(self):
        self.scratch = tempfile.mkdtemp(prefix="devserver-scratch-")
        self.addCleanup(shutil.rmtree, self.scratch, ignore_errors=True)

    def code(self, sql, method="POST", **params):
        """(status, exception code or None, body) of one statement."""
        status, headers, body = self.server.request(method, params={"query": sql, **params})
        return status, headers.get("x-clickhouse-exception-code"), body


def raw(port, data, timeout=10):
    """Bytes sent on a fresh connection, and everything answered until it closes."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer
    finally:
        sock.close()


class GetIsReadOnly(SafetyTest):
    # With external access allowed, only the GET rule stands between these and the file.
    server_args = ("--allow-external-access",)

    def test_a_get_writes_nothing_whatever_the_statement(self):
        target = os.path.join(self.scratch, "out.tsv")
        for sql in (f"INSERT INTO FUNCTION file('{target}', 'TSV', 'n UInt8') SELECT 1",
                    f"SELECT 1 INTO OUTFILE '{target}'",
                    "CREATE TABLE made_by_get (n UInt8) ENGINE = Memory"):
            status, code, body = self.code(sql, method="GET")
            self.assertEqual((status, code), (500, "164"), (sql, body))
            self.assertFalse(os.path.exists(target), sql)
        self.assertEqual(self.server.query("EXISTS TABLE made_by_get"), b"0\n")

    def test_the_flag_lets_sql_reach_files(self):
        source = os.path.join(self.scratch, "in.tsv")
        with open(source, "w") as f:
            f.write("41\n")
        self.assertEqual(self.server.query(f"SELECT c1 + 1 FROM file('{source}', 'TSV', 'c1 UInt8')"), b"42\n")


class ExternalAccessIsRefused(SafetyTest):
    def test_files_network_and_programs_are_refused_without_the_flag(self):
        secret = os.path.join(self.scratch, "secret.txt")
        with open(secret, "w") as f:
            f.write("the secret\n")
        written = os.path.join(self.scratch, "written")
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(0.2)
        self.addCleanup(listener.close)
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        statements = [
            f"SELECT * FROM file('{secret}', 'LineAsString')",
            f"SELECT file('{secret}')",
            f"SELECT * FROM `file` /* a comment */ ('{secret}', 'LineAsString')",
            f"INSERT INTO FUNCTION file('{written}', 'TSV', 'n UInt8') SELECT 1",
            f"SELECT 1 INTO OUTFILE '{written}'",
            f"SELECT * FROM '{secret}'",
            f"SELECT * FROM `{secret}`",
            f"SELECT * FROM numbers(1) AS a, '{secret}'",
            f"DESCRIBE TABLE '{secret}'",
            f"SELECT * FROM url('http://{address}/x', 'LineAsString')",
            f"SELECT * FROM s3('http://{address}/bucket/x', 'LineAsString')",
            f"SELECT * FROM remote('{address}', system.one)",
            f"SELECT * FROM mysql('{address}', 'db', 't', 'u', 'p')",
            f"SELECT * FROM postgresql('{address}', 'db', 't', 'u', 'p')",
            f"SELECT * FROM hdfs('hdfs://{address}/x', 'TSV')",
            "SELECT * FROM executable('sh', 'TSV', 'x String')",
            f"CREATE TABLE via_engine (s String) ENGINE = File(LineAsString, '{secret}')",
            f"CREATE TABLE via_url (s String) ENGINE = URL('http://{address}/x', LineAsString)",
            "CREATE DATABASE via_fs ENGINE = Filesystem",
            f"CREATE TABLE via_disk (n UInt8) ENGINE = MergeTree ORDER BY n "
            f"SETTINGS disk = disk(type = local, path = '{self.scratch}/disk/')",
            f"SELECT 1 SETTINGS output_format_schema = '{written}'",
            f"CREATE DICTIONARY via_http (k UInt64) PRIMARY KEY k SOURCE(HTTP(url 'http://{address}/x' "
            f"format 'TSV')) LAYOUT(FLAT()) LIFETIME(0)",
            # Escapes the engine decodes: \x2F is `/`, \x6C is `l`.
            "SELECT * FROM `" + secret.replace("/", "\\x2F") + "`",
            "SELECT * FROM '" + secret.replace("/", "\\x2F") + "'",
            f"SELECT `fi\\x6Ce`('{secret}')",
            # SQL in settings, in a table name argument, in Values data.
            f"SELECT * FROM numbers(1) SETTINGS additional_table_filters = {{'numbers': 'file(\\'{secret}\\') = 1'}}",
            f"SELECT count() FROM system.one SETTINGS additional_result_filter = 'file(\\'{secret}\\') = 1'",
            f"SELECT hasColumnInTable('default', '{secret}', 'c1')",
            f"SELECT * FROM format(Values, 's String', '(file(\\'{secret}\\'))')",
        ]
        for sql in statements:
            status, code, body = self.code(sql)
            self.assertEqual((status, code), (403, "497"), (sql, body))
            self.assertIn(b"--allow-external-access", body)
            self.assertNotIn(b"the secret", body)
        self.assertFalse(os.path.exists(written))
        self.assertFalse(os.path.exists(os.path.join(self.scratch, "disk")))
        with self.assertRaises(socket.timeout):
            listener.accept()
        self.assertEqual(self.server.query("SELECT count() FROM system.tables WHERE name LIKE 'via\\_%'"), b"0\n")

    def test_paths_through_parameters_and_settings_are_refused(self):
        secret = os.path.join(self.scratch, "secret.txt")
        with open(secret, "w") as f:
            f.write("the secret\n")
        status, headers, body = self.server.request(params={"query": "SELECT * FROM {t:Identifier}",
                                                            "param_t": secret})
        self.assertEqual((status, headers.get("x-clickhouse-exception-code")), (403, "497"), body)
        status, headers, body = self.server.request(params={"query": "SELECT 1", "format_schema": secret})
        self.assertEqual((status, headers.get("x-clickhouse-exception-code")), (403, "497"), body)
        # Values data is SQL: its expressions would run.
        self.server.query("CREATE TABLE IF NOT EXISTS vals (s String) ENGINE = Memory")
        status, headers, body = self.server.request(params={"query": "INSERT INTO vals FORMAT Values"},
                                                    body=f"(file('{secret}'))".encode())
        self.assertEqual((status, headers.get("x-clickhouse-exception-code")), (403, "497"), body)
        self.assertEqual(self.server.query("SELECT count() FROM vals"), b"0\n")

    def test_a_name_without_a_path_finds_no_file(self):
        # The default database of chDB reads a file named as a table, relative to the
        # working directory: the devserver's is an empty one, whatever it was started in.
        launch = tempfile.mkdtemp(prefix="devserver-cwd-")
        self.addCleanup(shutil.rmtree, launch, ignore_errors=True)
        with open(os.path.join(launch, "notes.txt"), "w") as f:
            f.write("private notes\n")
        data_dir = os.path.join(launch, "data")
        server = Server(data_dir, cwd=launch)
        self.addCleanup(server.stop)
        status, headers, body = server.request(params={"query": "SELECT * FROM `notes.txt`"})
        self.assertEqual((status, headers.get("x-clickhouse-exception-code")), (404, "60"), body)
        self.assertNotIn(b"private notes", body)

    def test_ordinary_sql_with_slashes_still_runs(self):
        self.server.query("CREATE TABLE IF NOT EXISTS paths (p String) ENGINE = MergeTree ORDER BY p")
        self.server.query("INSERT INTO paths VALUES ('/api/v1'), ('/health')")
        body = self.server.query("SELECT count() AS `rows/s`, countIf(p LIKE '/api/%') FROM paths "
                                 "WHERE p IN ('/api/v1', '/health') SETTINGS max_threads = 1")
        self.assertEqual(body, b"2\t1\n")
        self.assertEqual(self.server.query("SELECT log(1), format('{}/{}', 'a', 'b') -- file('/etc/passwd')"),
                         b"0\ta/b\n")


class Credentials(SafetyTest):
    def test_without_user_only_default_with_an_empty_password_gets_in(self):
        basic = base64.b64encode(b"default:").decode()
        for headers, params in [({}, {}), ({}, {"user": "default"}), ({"Authorization": f"Basic {basic}"}, {}),
                                ({"X-ClickHouse-User": "default", "X-ClickHouse-Key": ""}, {})]:
            status, _, body = self.server.request(params={"query": "SELECT 1", **params}, headers=headers)
            self.assertEqual((status, body), (200, b"1\n"), (headers, params))
        for params in ({"user": "default", "password": "guess"}, {"user": "admin"},
                       {"user": "admin", "password": "hunter2"}):
            status, headers, body = self.server.request(params={"query": "SELECT 1", **params})
            self.assertEqual((status, headers.get("x-clickhouse-exception-code")), (403, "516"), params)
            self.assertIn(b"Authentication failed", body)
            self.assertNotIn(params.get("password", "\0").encode(), body)


class BodyLimits(SafetyTest):
    server_args = ("--max-body-bytes", "1000000", "--max-query-bytes", "10000")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.query("CREATE TABLE IF NOT EXISTS lim (n UInt64) ENGINE = MergeTree ORDER BY n")

    def setUp(self):
        super().setUp()
        self.server.query("TRUNCATE TABLE lim")

    def count(self):
        return int(self.server.query("SELECT count() FROM lim"))

    def test_bad_lengths_are_400_and_a_huge_one_413_before_any_byte_is_read(self):
        for length in ("-5", "abc", "1e3", "99999999999999999999999"):
            answer = raw(self.server.port, f"POST /?query=SELECT+1 HTTP/1.1\r\nHost: x\r\n"
                                           f"Content-Length: {length}\r\n\r\n".encode())
            self.assertTrue(answer.startswith(b"HTTP/1.1 400"), (length, answer))
        answer = raw(self.server.port, b"POST /?query=SELECT+1 HTTP/1.1\r\nHost: x\r\n"
                                       b"Content-Length: 5000000000\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 413"), answer)
        self.assertIn(b"--max-body-bytes", answer)

    def test_framing_errors_are_400_or_501(self):
        cases = [
            (b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", b"3\r\nabc\r\n0\r\n\r\n", b"400"),
            (b"Transfer-Encoding: chunked\r\n", b"zz\r\nabc\r\n0\r\n\r\n", b"400"),
            (b"Transfer-Encoding: chunked\r\n", b"3\r\nabcdef\r\n0\r\n\r\n", b"400"),
            (b"Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n", b"501"),
            (b"Content-Length: 3\r\nContent-Length: 4\r\n", b"abcd", b"400"),
        ]
        for head, body, status in cases:
            answer = raw(self.server.port, b"POST /?query=INSERT+INTO+lim+FORMAT+TSV HTTP/1.1\r\nHost: x\r\n"
                         + head + b"\r\n" + body)
            self.assertTrue(answer.startswith(b"HTTP/1.1 " + status), (head, body, answer))
        self.assertEqual(raw(self.server.port, b"NOT A REQUEST\r\n\r\n")[:12], b"HTTP/1.1 400")
        self.assertEqual(self.count(), 0)

    def test_bodies_over_the_limit_are_413_and_store_nothing(self):
        rows = b"".join(b"%d\n" % i for i in range(200000))  # 1.3 MB of TSV
        status, headers, body = self.server.request(params={"query": "INSERT INTO lim FORMAT TSV"}, body=rows)
        self.assertEqual((status, headers.get("x-clickhouse-exception-code")), (413, "229"), body)
        # Chunked, so that the size shows only as it arrives.
        status, _, body = self.server.request(params={"query": "INSERT INTO lim FORMAT TSV"},
                                              body=iter([rows[:600000], rows[600000:]]))
        self.assertEqual(status, 413, body)
        # A small body that decodes into a large one.
        bomb = gzip.compress(b"1\n" * 5_000_000)
        self.assertLess(len(bomb), 100000)
        status, _, body = self.server.request(params={"query": "INSERT INTO lim FORMAT TSV"}, body=bomb,
                                              headers={"Content-Encoding": "gzip"})
        self.assertEqual(status, 413, body)
        self.assertEqual(self.count(), 0)
        # Under the limit all is stored.
        status, _, body = self.server.request(params={"query": "INSERT INTO lim FORMAT TSV"},
                                              body=rows[:500000])
        self.assertEqual(status, 200, body)
        self.assertEqual(self.count(), rows[:500000].count(b"\n"))

    def test_sql_held_in_memory_has_its_own_limit(self):
        values = b"INSERT INTO lim VALUES " + b",".join(b"(%d)" % i for i in range(5000))
        status, headers, body = self.server.request(body=values)
        self.assertEqual((status, headers.get("x-clickhouse-exception-code")), (413, "229"), body)
        self.assertIn(b"--max-query-bytes", body)
        # The same rows as data after FORMAT stream, under the body limit only.
        status, _, body = self.server.request(body=b"INSERT INTO lim FORMAT TSV\n" +
                                              b"".join(b"%d\n" % i for i in range(5000)))
        self.assertEqual(status, 200, body)
        self.assertEqual(self.count(), 5000)


class LargeBodiesStream(SafetyTest):
    """A large INSERT goes to the engine as it arrives: the server's memory
    grows by a fraction of the body, not by copies of it."""

    server_args = ("--max-body-bytes", "500000000")  # a server of its own: its peak memory is this test's

    def test_a_400_mb_insert_does_not_take_its_size_in_memory(self):
        # A Null table: the engine parses and drops the rows, so what grows is
        # the front's memory and the engine's parsing, not a table's writing
        # (a MergeTree insert adds a few hundred MB whatever the body's size).
        self.server.query("CREATE TABLE big_in (n UInt64, s String) ENGINE = Null")
        row_count = 16_000_000
        piece_rows = 100_000
        piece = b"".join(struct.pack("<Q", i) + b"\x10" + b"%016d" % i for i in range(piece_rows))
        before = peak_rss(self.server.proc.pid)

        def pieces():
            for _ in range(row_count // piece_rows):
                yield piece
        started = time.monotonic()
        status, headers, body = self.server.request(params={"query": "INSERT INTO big_in FORMAT RowBinary"},
                                                    body=pieces())
        elapsed = time.monotonic() - started
        self.assertEqual(status, 200, body)
        summary = json.loads(headers["x-clickhouse-summary"])
        self.assertEqual(summary["written_rows"], str(row_count))
        grown = peak_rss(self.server.proc.pid) - before
        size = len(piece) * (row_count // piece_rows)
        print(f"\n  {size / 1e6:.0f} MB insert in {elapsed:.1f} s: peak RSS grew {grown / 1e6:.0f} MB",
              file=sys.stderr)
        self.assertLess(grown, size, "the body is not held whole")


def peak_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


class SlowClients(SafetyTest):
    server_args = ("--keep-alive-timeout", "1", "--receive-timeout", "2")

    def closed_within(self, sock, seconds):
        """Whether the server closes `sock` within `seconds` (reading what it sends)."""
        sock.settimeout(seconds)
        try:
            while sock.recv(65536):
                pass
            return True
        except socket.timeout:
            return False
        except ConnectionError:
            return True

    def test_an_idle_connection_is_closed(self):
        sock = socket.create_connection(("127.0.0.1", self.server.port))
        self.addCleanup(sock.close)
        started = time.monotonic()
        self.assertTrue(self.closed_within(sock, 8))
        self.assertLess(time.monotonic() - started, 5)  # 1 s, and room for a loaded machine

    def test_a_kept_alive_connection_is_closed_when_idle(self):
        sock = socket.create_connection(("127.0.0.1", self.server.port))
        self.addCleanup(sock.close)
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
        self.assertTrue(sock.recv(4096).startswith(b"HTTP/1.1 200"))
        self.assertTrue(self.closed_within(sock, 5))

    def test_a_head_that_trickles_in_is_cut_off(self):
        sock = socket.create_connection(("127.0.0.1", self.server.port))
        self.addCleanup(sock.close)
        stop = threading.Event()

        def trickle():
            try:
                sock.sendall(b"GET /?query=SELECT+1 HTTP/1.1\r\n")
                while not stop.wait(0.3):
                    sock.sendall(b"X")
            except OSError:
                pass
        thread = threading.Thread(target=trickle)
        thread.start()
        started = time.monotonic()
        closed = self.closed_within(sock, 10)
        stop.set()
        thread.join()
        self.assertTrue(closed)
        self.assertLess(time.monotonic() - started, 6)  # 2 s, and room for a loaded machine

    def test_a_body_that_stops_is_cut_off(self):
        sock = socket.create_connection(("127.0.0.1", self.server.port))
        self.addCleanup(sock.close)
        query = urllib.parse.quote("SELECT 1")
        sock.sendall(f"POST /?query={query} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc".encode())
        started = time.monotonic()
        self.assertTrue(self.closed_within(sock, 10))
        self.assertLess(time.monotonic() - started, 6)


if __name__ == "__main__":
    unittest.main()
