"""Tests of the devserver over real HTTP, against its real engine.

Run: .venv/bin/python -m unittest discover -s devserver -p 'test_*.py' -v
"""

import base64
import gzip
import http.client
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

import lz4.frame

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import chdevserver  # noqa: E402  (for its codecs)


class Server:
    """A devserver process on a free port."""

    def __init__(self, data_dir, *args):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "chdevserver.py"), "--port", "0",
             "--data", data_dir, "--stdin-watch", *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert "listening on http" in line, line
        self.port = int(line.split()[3].rsplit(":", 1)[1])

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.proc.stdin.close()
        self.proc.stdout.close()

    def request(self, method="POST", path="/", params=None, body=b"", headers=None):
        """(status, headers dict, body) of one request."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        url = path + ("?" + urllib.parse.urlencode(params) if params else "")
        conn.request(method, url, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def query(self, sql, **params):
        status, _, body = self.request(params={"query": sql, **params})
        assert status == 200, (status, body)
        return body


# One server per set of options, shared by the classes that use it: starting
# one (loading the engine) is the slowest part of these tests.
_servers = {}


def tearDownModule():
    for server, data_dir in _servers.values():
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


class ServerTest(unittest.TestCase):
    server_args = ()

    @classmethod
    def setUpClass(cls):
        if cls.server_args not in _servers:
            data_dir = tempfile.mkdtemp(prefix="devserver-test-")
            _servers[cls.server_args] = (Server(data_dir, *cls.server_args), data_dir)
        cls.server = _servers[cls.server_args][0]


class QueriesAndFormats(ServerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.query("CREATE TABLE t (n UInt32, s String) ENGINE = MergeTree ORDER BY n "
                         "SETTINGS non_replicated_deduplication_window = 100")

    def setUp(self):
        self.server.query("TRUNCATE TABLE t")

    def test_ping(self):
        status, _, body = self.server.request("GET", "/ping")
        self.assertEqual((status, body), (200, b"Ok.\n"))

    def test_query_in_url_and_in_body(self):
        self.assertEqual(self.server.query("SELECT 1 + 1"), b"2\n")
        status, _, body = self.server.request(body=b"SELECT 'from body'")
        self.assertEqual((status, body), (200, b"from body\n"))
        status, _, body = self.server.request(params={"query": "SELECT"}, body=b"3 * 3")
        self.assertEqual((status, body), (200, b"9\n"))

    def test_output_formats(self):
        self.assertEqual(self.server.query("SELECT 1 AS a FORMAT JSONEachRow"), b'{"a":1}\n')
        self.assertEqual(self.server.query("SELECT 1 AS a", default_format="JSONEachRow"), b'{"a":1}\n')
        self.assertEqual(self.server.query("SELECT toUInt8(5) AS a FORMAT RowBinary"), b"\x05")
        with_header = self.server.query("SELECT toUInt8(5) AS a FORMAT RowBinaryWithNamesAndTypes")
        self.assertEqual(with_header, b"\x01\x01a\x05UInt8\x05")

    def test_insert_formats(self):
        self.server.query("INSERT INTO t FORMAT JSONEachRow")  # no data: nothing stored
        status, _, _ = self.server.request(params={"query": "INSERT INTO t FORMAT JSONEachRow"},
                                           body=b'{"n":1,"s":"json"}\n')
        self.assertEqual(status, 200)
        rowbinary = struct.pack("<I", 2) + b"\x03bin"
        status, _, _ = self.server.request(params={"query": "INSERT INTO t (n, s) FORMAT RowBinary"},
                                           body=rowbinary)
        self.assertEqual(status, 200)
        status, _, _ = self.server.request(body=b'INSERT INTO t FORMAT JSONEachRow\n{"n":3,"s":"inline"}')
        self.assertEqual(status, 200)
        status, _, _ = self.server.request(body=b"INSERT INTO t VALUES (4, 'values')")
        self.assertEqual(status, 200)
        self.assertEqual(self.server.query("SELECT n, s FROM t ORDER BY n"),
                         b"1\tjson\n2\tbin\n3\tinline\n4\tvalues\n")

    def test_insert_select_from_input(self):
        # ClickHouse's input() table function: the body's rows feed a SELECT,
        # here with a query parameter for a value every row shares.
        rows = struct.pack("<I", 7) + b"\x05seven" + struct.pack("<I", 8) + b"\x05eight"
        sql = ("INSERT INTO t (n, s) SELECT n + {offset:UInt32}, concat(s, '!') "
               "FROM input('n UInt32, s String') FORMAT RowBinary")
        status, _, body = self.server.request(params={"query": sql, "param_offset": "100"}, body=rows)
        self.assertEqual(status, 200, body)
        self.assertEqual(self.server.query("SELECT n, s FROM t ORDER BY n"), b"107\tseven!\n108\teight!\n")
        status, headers, _ = self.server.request(params={"query": sql, "param_offset": "1"}, body=b"\x01")
        self.assertEqual((status, headers["x-clickhouse-exception-code"]), (500, "33"), "truncated rows")

    def test_insert_reports_written_rows(self):
        _, headers, _ = self.server.request(params={"query": "INSERT INTO t FORMAT JSONEachRow"},
                                            body=b'{"n":1,"s":"a"}\n{"n":2,"s":"b"}\n')
        self.assertEqual(json.loads(headers["x-clickhouse-summary"])["written_rows"], "2")

    def test_chunked_body(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        conn.putrequest("POST", "/?" + urllib.parse.urlencode({"query": "INSERT INTO t FORMAT JSONEachRow"}))
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for chunk in (b'{"n":1,"s":"a"}\n', b'{"n":2,', b'"s":"b"}\n'):
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
        self.assertEqual(conn.getresponse().status, 200)
        conn.close()
        self.assertEqual(self.server.query("SELECT count() FROM t"), b"2\n")

    def test_dedup_token_reaches_the_engine(self):
        for token in ("a", "a", "b"):
            self.server.request(params={"query": "INSERT INTO t FORMAT JSONEachRow",
                                        "insert_deduplication_token": token},
                                body=b'{"n":1,"s":"x"}\n')
        self.assertEqual(self.server.query("SELECT count() FROM t"), b"2\n")

    def test_settings_apply_to_one_request_only(self):
        self.assertEqual(self.server.query("SELECT getSetting('max_threads')", max_threads="3"), b"3\n")
        self.assertNotEqual(self.server.query("SELECT getSetting('max_threads')"), b"3\n")
        status, headers, body = self.server.request(params={"query": "SELECT 1", "no_such_setting": "1"})
        self.assertEqual((status, headers["x-clickhouse-exception-code"]), (404, "115"))

    def test_database_parameter(self):
        self.server.query("CREATE DATABASE IF NOT EXISTS other")
        self.assertEqual(self.server.query("SELECT currentDatabase()", database="other"), b"other\n")
        self.assertEqual(self.server.query("SELECT currentDatabase()"), b"default\n")
        status, headers, _ = self.server.request(params={"query": "SELECT 1", "database": "missing"})
        self.assertEqual((status, headers["x-clickhouse-exception-code"]), (404, "81"))

    def test_query_parameters_in_url_and_multipart(self):
        self.assertEqual(self.server.query("SELECT {s:String}, {n:UInt8} + 1", param_s="it's", param_n="41"),
                         b"it\\'s\t42\n")
        boundary = "XyZ"
        fields = {"query": "SELECT {v:UInt32} * 2", "param_v": "21"}
        body = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                       for k, v in fields.items()) + f"--{boundary}--\r\n"
        status, _, data = self.server.request(
            body=body.encode(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        self.assertEqual((status, data), (200, b"42\n"))

    def test_errors_look_like_clickhouse(self):
        status, headers, body = self.server.request(params={"query": "SELECT * FROM no_such_table"})
        self.assertEqual(status, 404)
        self.assertEqual(headers["x-clickhouse-exception-code"], "60")
        self.assertTrue(body.startswith(b"Code: 60. DB::Exception:"), body)
        status, headers, body = self.server.request(params={"query": "SELEC 1"})
        self.assertEqual((status, headers["x-clickhouse-exception-code"]), (400, "62"))
        status, headers, body = self.server.request(params={"query": "INSERT INTO t FORMAT JSONEachRow"},
                                                    body=b'{"n":"not a number"}')
        self.assertGreaterEqual(status, 400)
        self.assertTrue(body.startswith(b"Code: "), body)

    def test_get_is_read_only(self):
        status, _, body = self.server.request("GET", params={"query": "SELECT 5"})
        self.assertEqual((status, body), (200, b"5\n"))
        status, headers, _ = self.server.request("GET", params={"query": "INSERT INTO t VALUES (1, 'x')"})
        self.assertEqual((status, headers["x-clickhouse-exception-code"]), (403, "164"))
        status, _, _ = self.server.request("GET", params={"query": "DROP TABLE t"})
        self.assertEqual(status, 403)
        self.assertEqual(self.server.query("EXISTS TABLE t"), b"1\n")

    def test_concurrent_inserts_are_all_stored(self):
        def insert(worker):
            rows = "".join(json.dumps({"n": worker * 1000 + i, "s": "c"}) + "\n" for i in range(50))
            status, _, _ = self.server.request(params={"query": "INSERT INTO t FORMAT JSONEachRow"},
                                               body=rows.encode())
            self.assertEqual(status, 200)
        threads = [threading.Thread(target=insert, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(self.server.query("SELECT count(), uniqExact(n) FROM t"), b"400\t400\n")


class Compression(ServerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.query("CREATE TABLE c (n UInt32) ENGINE = MergeTree ORDER BY n")

    def setUp(self):
        self.server.query("TRUNCATE TABLE c")
        self.rows = "".join(f'{{"n":{i}}}\n' for i in range(1000)).encode()

    def insert(self, body, headers=None, **params):
        return self.server.request(params={"query": "INSERT INTO c FORMAT JSONEachRow", **params},
                                   body=body, headers=headers)

    def test_native_lz4_blocks_in(self):
        status, _, body = self.insert(chdevserver.native_compress(self.rows), decompress="1")
        self.assertEqual(status, 200, body)
        self.assertEqual(self.server.query("SELECT count(), sum(n) FROM c"), b"1000\t499500\n")

    def test_a_corrupt_block_is_rejected_with_its_code(self):
        block = bytearray(chdevserver.native_compress(self.rows))
        block[-1] ^= 0xFF
        status, headers, _ = self.insert(bytes(block), decompress="1")
        self.assertEqual((status, headers["x-clickhouse-exception-code"]), (500, "40"))
        self.assertEqual(self.server.query("SELECT count() FROM c"), b"0\n")

    def test_http_encodings_in(self):
        status, _, _ = self.insert(gzip.compress(self.rows), headers={"Content-Encoding": "gzip"})
        self.assertEqual(status, 200)
        status, _, _ = self.insert(lz4.frame.compress(self.rows), headers={"Content-Encoding": "lz4"})
        self.assertEqual(status, 200)
        self.assertEqual(self.server.query("SELECT count() FROM c"), b"2000\n")

    def test_encodings_out(self):
        sql = {"query": "SELECT number FROM numbers(1000) FORMAT JSONEachRow"}
        plain = self.server.query(sql["query"])
        _, headers, body = self.server.request(params=sql, headers={"Accept-Encoding": "lz4"})
        self.assertEqual(headers["content-encoding"], "lz4")
        self.assertEqual(lz4.frame.decompress(body), plain)
        _, headers, body = self.server.request(params=sql, headers={"Accept-Encoding": "br, gzip"})
        self.assertEqual((headers["content-encoding"], gzip.decompress(body)), ("gzip", plain))
        _, headers, body = self.server.request(params={**sql, "enable_http_compression": "0"},
                                               headers={"Accept-Encoding": "gzip"})
        self.assertNotIn("content-encoding", headers)
        self.assertEqual(body, plain)
        _, _, body = self.server.request(params={**sql, "compress": "1"})
        self.assertEqual(chdevserver.native_decompress(body), plain)


class Authentication(ServerTest):
    server_args = ("--user", "alice", "--password", "wonderland")

    def test_requests_without_credentials_are_refused(self):
        status, headers, body = self.server.request(params={"query": "SELECT 1"})
        self.assertEqual((status, headers["x-clickhouse-exception-code"]), (401, "516"))
        self.assertIn(b"Authentication failed", body)

    def test_wrong_password_is_refused(self):
        status, _, _ = self.server.request(params={"query": "SELECT 1"},
                                           headers={"X-ClickHouse-User": "alice", "X-ClickHouse-Key": "x"})
        self.assertEqual(status, 401)

    def test_every_way_of_giving_credentials(self):
        basic = base64.b64encode(b"alice:wonderland").decode()
        for headers, params in [
            ({"X-ClickHouse-User": "alice", "X-ClickHouse-Key": "wonderland"}, {}),
            ({"Authorization": f"Basic {basic}"}, {}),
            ({}, {"user": "alice", "password": "wonderland"}),
        ]:
            status, _, body = self.server.request(params={"query": "SELECT 1", **params}, headers=headers)
            self.assertEqual((status, body), (200, b"1\n"), headers or params)

    def test_ping_needs_no_credentials(self):
        self.assertEqual(self.server.request("GET", "/ping")[0], 200)


class Faults(ServerTest):
    server_args = ("--faults",)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.query("CREATE TABLE f (n UInt32) ENGINE = MergeTree ORDER BY n")

    def setUp(self):
        self.server.request("DELETE", "/_faults")
        self.server.query("TRUNCATE TABLE f")

    def arm(self, **rule):
        status, _, body = self.server.request(path="/_faults", body=json.dumps(rule).encode())
        self.assertEqual(status, 200, body)

    def insert(self, n):
        return self.server.request(params={"query": "INSERT INTO f FORMAT JSONEachRow"},
                                   body=json.dumps({"n": n}).encode())

    def count(self):
        return int(self.server.query("SELECT count() FROM f"))

    def test_error_for_the_next_k_matching_requests(self):
        self.arm(action="error", count=2, code=210, status=503, match="INSERT")
        self.assertEqual(self.server.query("SELECT 1"), b"1\n", "a SELECT does not match")
        for _ in range(2):
            status, headers, body = self.insert(1)
            self.assertEqual((status, headers["x-clickhouse-exception-code"]), (503, "210"))
            self.assertTrue(body.startswith(b"Code: 210."), body)
        self.assertEqual(self.insert(1)[0], 200)
        self.assertEqual(self.count(), 1, "failed inserts stored nothing")
        _, _, body = self.server.request("GET", "/_faults")
        self.assertEqual(json.loads(body), [])

    def test_delay_after_stores_then_answers_late(self):
        self.arm(action="delay", seconds=1.0, phase="after", match="INSERT")
        started = time.monotonic()
        self.assertEqual(self.insert(1)[0], 200)
        self.assertGreaterEqual(time.monotonic() - started, 1.0)
        self.assertEqual(self.count(), 1)

    def test_drop_before_loses_the_request(self):
        self.arm(action="drop", phase="before", match="INSERT")
        with self.assertRaises((ConnectionError, http.client.HTTPException, socket.error)):
            self.insert(1)
        self.assertEqual(self.count(), 0)

    def test_drop_after_stores_but_never_answers(self):
        self.arm(action="drop", phase="after", match="INSERT")
        with self.assertRaises((ConnectionError, http.client.HTTPException, socket.error)):
            self.insert(1)
        self.assertEqual(self.count(), 1)

    def test_bad_rules_are_refused(self):
        status, _, _ = self.server.request(path="/_faults", body=b'{"action": "explode"}')
        self.assertEqual(status, 400)


class FaultsAreOffByDefault(ServerTest):
    def test_no_admin_endpoint(self):
        status, _, _ = self.server.request(path="/_faults", body=b'{"action": "error"}')
        self.assertEqual(status, 404)


class Persistence(unittest.TestCase):
    def test_data_survives_a_restart(self):
        data_dir = tempfile.mkdtemp(prefix="devserver-restart-")
        try:
            first = Server(data_dir)
            first.query("CREATE TABLE p (n UInt32) ENGINE = MergeTree ORDER BY n")
            first.request(params={"query": "INSERT INTO p FORMAT JSONEachRow"}, body=b'{"n":1}\n{"n":2}\n')
            first.stop()
            second = Server(data_dir)
            self.assertEqual(second.query("SELECT sum(n) FROM p"), b"3\n")
            second.stop()
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
