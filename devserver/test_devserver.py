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
import zstandard

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import chdevserver  # noqa: E402  (for its codecs)


class Server:
    """A devserver process on a free port."""

    def __init__(self, data_dir, *args, cwd=None):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "chdevserver.py"), "--port", "0",
             "--data", data_dir, "--stdin-watch", *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=cwd)
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


def shared_servers(prefix):
    """(a TestCase base, the module's tearDownModule): the base's subclasses
    share one server per set of `server_args` (starting one, loading the
    engine, is the slowest part of these tests), and the teardown stops them."""
    servers = {}

    class SharedServerTest(unittest.TestCase):
        server_args = ()

        @classmethod
        def setUpClass(cls):
            if cls.server_args not in servers:
                data_dir = tempfile.mkdtemp(prefix=prefix)
                servers[cls.server_args] = (Server(data_dir, *cls.server_args), data_dir)
            cls.server = servers[cls.server_args][0]

    def stop_all():
        for server, data_dir in servers.values():
            server.stop()
            shutil.rmtree(data_dir, ignore_errors=True)

    return SharedServerTest, stop_all


ServerTest, tearDownModule = shared_servers("devserver-test-")


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
        # READONLY is not in ClickHouse's exceptionCodeToHTTPStatus: 500.
        status, headers, _ = self.server.request("GET", params={"query": "INSERT INTO t VALUES (1, 'x')"})
        self.assertEqual((status, headers["x-clickhouse-exception-code"]), (500, "164"))
        status, headers, _ = self.server.request("GET", params={"query": "DROP TABLE t"})
        self.assertEqual(headers["x-clickhouse-exception-code"], "164")
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
        # As in ClickHouse, Accept-Encoding is honoured only with enable_http_compression=1.
        sql = {"query": "SELECT number FROM numbers(1000) FORMAT JSONEachRow", "enable_http_compression": "1"}
        plain = self.server.query(sql["query"])
        _, headers, body = self.server.request(params={"query": sql["query"]}, headers={"Accept-Encoding": "gzip"})
        self.assertNotIn("content-encoding", headers)
        self.assertEqual(body, plain)
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

    def test_the_answer_encoding_is_the_servers_choice(self):
        for accept, expected in [("gzip, zstd", "zstd"), ("deflate, gzip", "gzip"), ("zstd;q=0, gzip", "gzip"),
                                 ("br", None), ("x-gzip-custom", None), ("*", "zstd"), ("lz4, gzip;q=0.5", "lz4")]:
            _, headers, _ = self.server.request(params={"query": "SELECT 1", "enable_http_compression": "1"},
                                                headers={"Accept-Encoding": accept})
            self.assertEqual(headers.get("content-encoding"), expected, accept)

    def test_concatenated_frames_in(self):
        # clickhouse-connect compresses an insert block by block: one LZ4 frame (or zstd frame) each.
        half = len(self.rows) // 2
        for name, compress in (("lz4", lz4.frame.compress), ("zstd", zstandard.ZstdCompressor().compress),
                               ("gzip", gzip.compress)):
            body = compress(self.rows[:half]) + compress(self.rows[half:])
            status, _, data = self.insert(body, headers={"Content-Encoding": name})
            self.assertEqual(status, 200, data)
        self.assertEqual(self.server.query("SELECT count(), sum(n) FROM c"), b"3000\t1498500\n")

    def test_zstd_both_ways(self):
        status, _, body = self.insert(zstandard.ZstdCompressor().compress(self.rows),
                                      headers={"Content-Encoding": "zstd"})
        self.assertEqual(status, 200, body)
        status, _, body = self.insert(chdevserver.native_compress(self.rows, "zstd"), decompress="1")
        self.assertEqual(status, 200, body)
        self.assertEqual(self.server.query("SELECT count(), sum(n) FROM c"), b"2000\t999000\n")
        sql = {"query": "SELECT number FROM numbers(1000) FORMAT JSONEachRow"}
        plain = self.server.query(sql["query"])
        _, headers, body = self.server.request(params={**sql, "enable_http_compression": "1"},
                                               headers={"Accept-Encoding": "zstd"})
        self.assertEqual(headers["content-encoding"], "zstd")
        self.assertEqual(zstandard.ZstdDecompressor().decompressobj().decompress(body), plain)
        _, _, body = self.server.request(params={**sql, "compress": "1", "network_compression_method": "ZSTD"})
        self.assertEqual(body[16], 0x90, "a native ZSTD block")
        self.assertEqual(chdevserver.native_decompress(body), plain)

    def test_streamed_answers_are_compressed_chunk_by_chunk(self):
        sql = "SELECT number FROM numbers(20000) FORMAT RowBinary"
        plain = self.server.query(sql)
        for params, headers, decode in [
            ({"compress": "1"}, {}, chdevserver.native_decompress),
            ({"enable_http_compression": "1"}, {"Accept-Encoding": "gzip"}, gzip.decompress),
            ({"enable_http_compression": "1"}, {"Accept-Encoding": "zstd"},
             lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b)),
            ({"enable_http_compression": "1"}, {"Accept-Encoding": "lz4"}, lz4.frame.decompress),
        ]:
            status, _, chunks, complete = raw_exchange(self.server.port, "POST", {
                "query": sql, "max_block_size": "1000", **params}, headers=headers)
            self.assertTrue(status == 200 and complete and len(chunks) > 5, params)
            self.assertEqual(decode(b"".join(chunks)), plain, params)


class Authentication(ServerTest):
    server_args = ("--user", "alice", "--password", "wonderland")

    def test_requests_without_credentials_are_refused(self):
        status, headers, body = self.server.request(params={"query": "SELECT 1"})
        # ClickHouse answers AUTHENTICATION_FAILED with 403 (401 is for REQUIRED_PASSWORD).
        self.assertEqual((status, headers["x-clickhouse-exception-code"]), (403, "516"))
        self.assertIn(b"Authentication failed", body)

    def test_wrong_password_is_refused(self):
        status, _, _ = self.server.request(params={"query": "SELECT 1"},
                                           headers={"X-ClickHouse-User": "alice", "X-ClickHouse-Key": "x"})
        self.assertEqual(status, 403)

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


def raw_exchange(port, method, params=None, body=b"", headers=None, timeout=30):
    """One request over a bare socket: (status, headers, chunks, complete), where
    chunks are the body's HTTP chunks as sent and complete says whether the
    last (empty) chunk came; a Content-Length body is one chunk."""
    target = "/?" + urllib.parse.urlencode(params or {})
    head = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    stream = sock.makefile("rb")
    status = int(stream.readline().split()[1])
    response_headers = {}
    while True:
        line = stream.readline().decode().rstrip("\r\n")
        if not line:
            break
        name, _, value = line.partition(":")
        response_headers.setdefault(name.strip().lower(), []).append(value.strip())
    chunks, complete = [], False
    if "content-length" in response_headers:
        chunks.append(stream.read(int(response_headers["content-length"][0])))
        complete = True
    else:
        while True:
            size_line = stream.readline()
            if not size_line:
                break  # closed without the last chunk
            size = int(size_line.strip(), 16)
            if size == 0:
                complete = True
                break
            chunks.append(stream.read(size))
            stream.readline()
    sock.close()
    return status, {k: v[0] if len(v) == 1 else v for k, v in response_headers.items()}, chunks, complete


def multipart(fields, files=()):
    """A multipart/form-data body: (content type, bytes)."""
    boundary = "devserver-test-boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts += [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}"\r\n'
              f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n" for name, data in files]
    return f"multipart/form-data; boundary={boundary}", b"".join(parts) + f"--{boundary}--\r\n".encode()


class SettingsApplyToTheirRequest(ServerTest):
    """Issue 10: settings used to be applied with SET on one shared session,
    and one readonly=1 request left the whole server read-only."""

    def test_readonly_applies_to_its_request_only(self):
        body = self.server.query("SELECT getSetting('readonly')", readonly="1")
        self.assertEqual(body, b"1\n")
        status, headers, _ = self.server.request(params={"query": "CREATE DATABASE ro_attempt", "readonly": "1"})
        self.assertEqual((status, headers["x-clickhouse-exception-code"]), (500, "164"))
        # The next requests are not read-only: this DDL used to fail with 164.
        self.assertEqual(self.server.query("SELECT getSetting('readonly')"), b"0\n")
        self.server.query("CREATE DATABASE IF NOT EXISTS after_readonly")
        self.assertEqual(self.server.query("EXISTS DATABASE after_readonly"), b"1\n")

    def test_readonly_with_other_settings_in_the_same_request(self):
        # The other settings are checked against the settings before readonly, as in ClickHouse.
        body = self.server.query("SELECT getSetting('readonly'), getSetting('max_threads')",
                                 readonly="1", max_threads="1")
        self.assertEqual(body, b"1\t1\n")

    def test_a_get_is_readonly_2_and_may_change_settings(self):
        status, _, body = self.server.request("GET", params={"query": "SELECT getSetting('readonly')",
                                                             "max_threads": "1"})
        self.assertEqual((status, body), (200, b"2\n"))

    def test_a_set_statement_does_not_outlive_its_request(self):
        self.server.query("SET max_threads = 1")
        self.assertNotEqual(self.server.query("SELECT getSetting('max_threads')"), b"1\n")

    def test_database_applies_to_its_request_only(self):
        self.server.query("CREATE DATABASE IF NOT EXISTS db_param")
        self.assertEqual(self.server.query("SELECT currentDatabase()", database="db_param"), b"db_param\n")
        self.server.query("USE db_param")
        self.assertEqual(self.server.query("SELECT currentDatabase()"), b"default\n")

    def test_an_expression_alone_is_not_a_query(self):
        # chDB turns implicit_select on; ClickHouse servers have it off.
        status, headers, _ = self.server.request(body=b"1 + 1")
        self.assertEqual((status, headers["x-clickhouse-exception-code"]), (400, "62"))

    def test_multi_statements_are_refused(self):
        status, headers, _ = self.server.request(params={"query": "SELECT 1; SELECT 2"})
        self.assertEqual((status, headers["x-clickhouse-exception-code"]), (400, "62"))
        self.server.query("CREATE DATABASE IF NOT EXISTS kept")
        status, headers, _ = self.server.request(
            params={"query": "INSERT INTO t SELECT 1; DROP DATABASE kept; INSERT INTO t FORMAT CSV"}, body=b"1\n")
        self.assertEqual((status, headers["x-clickhouse-exception-code"]), (400, "62"))
        self.assertEqual(self.server.query("EXISTS DATABASE kept"), b"1\n")


class Sessions(ServerTest):
    def session(self, sql, session_id, **params):
        return self.server.request(params={"query": sql, "session_id": session_id, **params})

    def test_set_use_and_temporary_tables_stay_in_their_session(self):
        self.server.query("CREATE DATABASE IF NOT EXISTS sess_db")
        for sql in ("SET max_threads = 1", "USE sess_db", "CREATE TEMPORARY TABLE tmp (n UInt8)",
                    "INSERT INTO tmp VALUES (7)"):
            status, _, body = self.session(sql, "s1")
            self.assertEqual(status, 200, body)
        status, _, body = self.session("SELECT getSetting('max_threads'), currentDatabase(), sum(n) FROM tmp", "s1")
        self.assertEqual((status, body), (200, b"1\tsess_db\t7\n"))
        # Another session and a request without one see none of it.
        for params in ({"session_id": "s2"}, {}):
            _, _, body = self.server.request(params={"query": "SELECT getSetting('max_threads') = 1, currentDatabase()",
                                                     **params})
            self.assertEqual(body, b"0\tdefault\n", params)
            status, headers, _ = self.server.request(params={"query": "SELECT * FROM tmp", **params})
            self.assertEqual(headers["x-clickhouse-exception-code"], "60", params)

    def test_url_settings_and_database_of_a_session_request_are_for_that_request(self):
        self.server.query("CREATE DATABASE IF NOT EXISTS sess_db2")
        _, _, body = self.session("SELECT getSetting('max_threads'), currentDatabase()", "s3",
                                  max_threads="1", database="sess_db2")
        self.assertEqual(body, b"1\tsess_db2\n")
        _, _, body = self.session("SELECT getSetting('max_threads') = 1, currentDatabase()", "s3")
        self.assertEqual(body, b"0\tdefault\n")

    def test_readonly_in_a_session_request_does_not_stick(self):
        status, headers, _ = self.session("CREATE TEMPORARY TABLE t_ro (n UInt8)", "s4", readonly="1")
        self.assertEqual(headers.get("x-clickhouse-exception-code"), "164")
        # Without temporary tables in the session the engine itself applies readonly,
        # on a copy of the session's settings and database (or the request's database).
        self.server.query("CREATE DATABASE IF NOT EXISTS sess_ro")
        self.session("SET max_threads = 1", "s4")
        self.session("USE sess_ro", "s4")
        status, _, body = self.session("SELECT getSetting('readonly'), getSetting('max_threads'), currentDatabase()",
                                       "s4", readonly="1")
        self.assertEqual((status, body), (200, b"1\t1\tsess_ro\n"))
        _, _, body = self.session("SELECT currentDatabase()", "s4", readonly="1", database="default")
        self.assertEqual(body, b"default\n")
        status, _, body = self.session("CREATE TEMPORARY TABLE t_ro (n UInt8)", "s4")
        self.assertEqual(status, 200, body)
        # A GET in a session reads the session's temporary tables and cannot write.
        status, _, body = self.server.request("GET", params={"query": "SELECT count() FROM t_ro", "session_id": "s4"})
        self.assertEqual((status, body), (200, b"0\n"))
        status, headers, _ = self.server.request("GET", params={"query": "INSERT INTO t_ro VALUES (1)",
                                                                "session_id": "s4"})
        self.assertEqual(headers.get("x-clickhouse-exception-code"), "164")

    def test_a_session_made_readonly_by_its_own_set(self):
        status, _, body = self.session("SET readonly = 1", "s5", max_threads="1")
        self.assertEqual(status, 200, body)
        status, headers, _ = self.session("CREATE TEMPORARY TABLE t5 (n UInt8)", "s5")
        self.assertEqual(headers.get("x-clickhouse-exception-code"), "164")
        self.assertEqual(self.session("SELECT 1", "s5")[2], b"1\n")

    def test_session_check_needs_an_existing_session(self):
        status, headers, _ = self.session("SELECT 1", "never-created", session_check="1")
        self.assertEqual((status, headers["x-clickhouse-exception-code"]), (500, "372"))
        self.session("SELECT 1", "created")
        status, _, body = self.session("SELECT 1", "created", session_check="1")
        self.assertEqual((status, body), (200, b"1\n"))

    def test_a_session_expires_after_its_timeout(self):
        self.session("SET max_threads = 1", "short", session_timeout="1")
        _, _, body = self.session("SELECT getSetting('max_threads')", "short", session_timeout="1")
        self.assertEqual(body, b"1\n")
        time.sleep(1.5)
        status, headers, _ = self.session("SELECT 1", "short", session_check="1")
        self.assertEqual(headers.get("x-clickhouse-exception-code"), "372")

    def test_bad_session_timeouts_are_refused(self):
        for timeout in ("abc", "-1", "999999"):
            status, headers, _ = self.session("SELECT 1", "t", session_timeout=timeout)
            self.assertEqual(headers.get("x-clickhouse-exception-code"), "374", timeout)

    def test_a_session_in_use_is_locked(self):
        results = {}

        def slow():
            results["slow"] = self.session("SELECT sleep(1)", "busy")[0]
        thread = threading.Thread(target=slow)
        thread.start()
        time.sleep(0.4)
        status, headers, _ = self.session("SELECT 1", "busy")
        thread.join()
        self.assertEqual(results["slow"], 200)
        self.assertEqual((status, headers.get("x-clickhouse-exception-code")), (500, "373"))
        # Once released, the session takes requests again; other sessions were never blocked.
        self.assertEqual(self.session("SELECT 1", "busy")[0], 200)

    def test_a_session_is_reached_only_with_the_right_credentials(self):
        # (Sessions are keyed by user; with one user the key cannot be seen otherwise.)
        self.session("SET max_threads = 1", "guarded")
        status, headers, _ = self.server.request(params={"query": "SELECT getSetting('max_threads')",
                                                         "session_id": "guarded", "user": "someone_else"})
        self.assertEqual((status, headers.get("x-clickhouse-exception-code")), (403, "516"))
        self.assertEqual(self.session("SELECT getSetting('max_threads')", "guarded")[2], b"1\n")


class Streaming(ServerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.query("CREATE TABLE IF NOT EXISTS big (n UInt64, s String) ENGINE = MergeTree ORDER BY n")
        cls.server.query("TRUNCATE TABLE big")
        cls.server.query("INSERT INTO big SELECT number, toString(number) FROM numbers(30000)")

    def streamed(self, fmt, **params):
        sql = f"SELECT n, s FROM big ORDER BY n FORMAT {fmt}"
        status, headers, chunks, complete = raw_exchange(
            self.server.port, "POST", {"query": sql, "max_block_size": "1000", **params})
        self.assertEqual(status, 200, chunks)
        self.assertTrue(complete)
        whole = self.server.query(sql, wait_end_of_query="1", max_block_size="1000", **params)
        return chunks, whole, headers

    def test_results_stream_in_chunks_that_join_to_the_whole_result(self):
        for fmt in ("RowBinaryWithNamesAndTypes", "TSVWithNamesAndTypes", "CSVWithNames", "JSONEachRow",
                    "Native", "RowBinary"):
            chunks, whole, headers = self.streamed(fmt)
            self.assertGreater(len(chunks), 1, fmt)
            self.assertEqual(b"".join(chunks), whole, fmt)
            self.assertEqual(headers["x-clickhouse-format"], fmt)
        # The header of a WithNames format comes once, in the first chunk.
        chunks, whole, _ = self.streamed("TSVWithNames")
        self.assertEqual(whole.count(b"n\ts\n"), 1)

    def test_whole_document_formats_come_in_one_piece(self):
        chunks, whole, _ = self.streamed("JSON")
        self.assertEqual(len(chunks), 1)
        self.assertEqual(json.loads(b"".join(chunks))["rows"], 30000)

    def test_native_with_a_protocol_version_has_block_info_in_every_block(self):
        sql = "SELECT number AS check FROM numbers(3000) FORMAT Native"
        plain = self.server.query(sql, max_block_size="1000")
        versioned = self.server.query(sql, max_block_size="1000", client_protocol_version="54405")
        info = b"\x01\x00\x02\xff\xff\xff\xff\x00"
        self.assertEqual(versioned.count(info), 3)
        self.assertEqual(versioned.replace(info, b""), plain)
        self.assertEqual(self.server.query("SELECT 1 AS check FORMAT Native", client_protocol_version="54405")[8:16],
                         b"\x01\x01\x05check")
        status, headers, _ = self.server.request(params={"query": sql, "client_protocol_version": "54460"})
        self.assertEqual((status, headers["x-clickhouse-exception-code"]), (501, "48"))

    def test_an_error_after_some_rows_is_written_into_the_body(self):
        sql = "SELECT sleepEachRow(0.05) AS s FROM system.numbers LIMIT 10 FORMAT RowBinary"
        params = {"query": sql, "max_execution_time": "0.2", "max_block_size": "1"}
        status, headers, chunks, complete = raw_exchange(self.server.port, "POST", params)
        self.assertEqual(status, 200)
        tag = headers["x-clickhouse-exception-tag"]
        body = b"".join(chunks)
        rows, marker, rest = body.partition(b"\r\n__exception__\r\n")
        self.assertTrue(marker, body)
        self.assertGreaterEqual(len(rows), 1)
        self.assertEqual(rows, b"\x00" * len(rows))
        self.assertTrue(rest.startswith(tag.encode() + b"\r\nCode: 159."), rest)
        message, _, trailer = rest[len(tag) + 2:].partition(b"\n")
        self.assertEqual(trailer, f"{len(message) + 1} {tag}\r\n__exception__\r\n".encode())
        self.assertFalse(complete, "an interrupted answer must not end like a complete one")

    def test_with_wait_end_of_query_the_error_gets_its_status(self):
        sql = "SELECT sleepEachRow(0.05) AS s FROM system.numbers LIMIT 10 FORMAT RowBinary"
        status, headers, body = self.server.request(params={"query": sql, "max_execution_time": "0.2",
                                                            "max_block_size": "1", "wait_end_of_query": "1"})
        self.assertEqual((status, headers["x-clickhouse-exception-code"]), (408, "159"))
        self.assertTrue(body.startswith(b"Code: 159."), body)

    def test_progress_headers(self):
        sql = "SELECT sleepEachRow(0.05) FROM numbers(6) FORMAT RowBinary"
        status, headers, chunks, _ = raw_exchange(self.server.port, "POST", {
            "query": sql, "max_block_size": "1", "send_progress_in_http_headers": "1",
            "http_headers_progress_interval_ms": "50", "wait_end_of_query": "1"})
        self.assertEqual((status, b"".join(chunks)), (200, b"\x00" * 6))
        progress = headers.get("x-clickhouse-progress")
        self.assertIsInstance(progress, list, headers)
        read = [int(json.loads(p)["read_rows"]) for p in progress]
        self.assertEqual(read, sorted(read))
        self.assertEqual(json.loads(headers["x-clickhouse-summary"])["read_rows"], "6")


class Summary(ServerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.query("CREATE TABLE IF NOT EXISTS sm (n UInt32) ENGINE = MergeTree ORDER BY n")

    def summary(self, sql, body=b"", **params):
        status, headers, data = self.server.request(params={"query": sql, **params}, body=body)
        self.assertEqual(status, 200, data)
        return json.loads(headers["x-clickhouse-summary"]), headers

    def test_insert_values_reports_its_rows(self):
        self.server.query("TRUNCATE TABLE sm")
        summary, _ = self.summary("INSERT INTO sm VALUES (1), (2), (3)")
        self.assertEqual((summary["written_rows"], summary["result_rows"]), ("3", "3"))
        summary, _ = self.summary("INSERT INTO sm FORMAT JSONEachRow", b'{"n":4}\n{"n":5}\n')
        self.assertEqual(summary["written_rows"], "2")

    def test_select_reports_rows_read_and_the_result(self):
        summary, _ = self.summary("SELECT count() FROM numbers(1000)")
        self.assertEqual((summary["read_rows"], summary["result_rows"]), ("1000", "1"))
        self.assertGreater(int(summary["read_bytes"]), 0)
        self.assertGreater(int(summary["result_bytes"]), 0)
        self.assertGreater(int(summary["elapsed_ns"]), 0)

    def test_query_id_is_the_clients_or_a_new_one(self):
        _, headers = self.summary("SELECT 1", query_id="my-query-42")
        self.assertEqual(headers["x-clickhouse-query-id"], "my-query-42")
        _, headers = self.summary("SELECT 1")
        first = headers["x-clickhouse-query-id"]
        _, headers = self.summary("SELECT 1")
        self.assertNotEqual(first, headers["x-clickhouse-query-id"])
        self.assertNotEqual(self.server.query("SELECT queryID()"), self.server.query("SELECT queryID()"))

    def test_database_and_format_headers(self):
        self.server.query("CREATE DATABASE IF NOT EXISTS hdr_db")
        status, headers, body = self.server.request(params={"query": "SELECT currentDatabase() AS d"},
                                                    headers={"X-ClickHouse-Database": "hdr_db",
                                                             "X-ClickHouse-Format": "JSONEachRow"})
        self.assertEqual((status, body), (200, b'{"d":"hdr_db"}\n'))
        self.assertEqual(headers["x-clickhouse-format"], "JSONEachRow")
        self.assertTrue(headers["content-type"].startswith("application/x-ndjson"))

    def test_external_data_is_a_temporary_table_of_the_query(self):
        content_type, body = multipart({"query": "SELECT sum(a), any(b) FROM ext WHERE a > {min:UInt8}",
                                        "param_min": "1"}, [("ext", b"1\tx\n2\ty\n3\ty\n")])
        status, _, data = self.server.request(params={"ext_structure": "a UInt8, b String"}, body=body,
                                              headers={"Content-Type": content_type})
        self.assertEqual((status, data), (200, b"5\ty\n"))
        content_type, body = multipart({"query": "SELECT _1 + _2 FROM ext2"}, [("ext2", b"[1,2]\n")])
        status, _, data = self.server.request(params={"ext2_types": "UInt8,UInt8", "ext2_format": "JSONCompactEachRow"},
                                              body=body, headers={"Content-Type": content_type})
        self.assertEqual((status, data), (200, b"3\n"))
        content_type, body = multipart({"query": "SELECT 1 FROM ext3"}, [("ext3", b"1\n")])
        status, headers, _ = self.server.request(body=body, headers={"Content-Type": content_type})
        self.assertEqual(headers["x-clickhouse-exception-code"], "36", "no structure given")
        self.server.query("CREATE DATABASE IF NOT EXISTS ext_kept")
        status, headers, _ = self.server.request(
            params={"ext3_structure": "a UInt8) ENGINE = Memory; DROP DATABASE ext_kept; SELECT (1"},
            body=body, headers={"Content-Type": content_type})
        self.assertEqual(headers["x-clickhouse-exception-code"], "36", "a structure that is more than one")
        self.assertEqual(self.server.query("EXISTS DATABASE ext_kept"), b"1\n")


class EngineLogs(ServerTest):
    def test_queries_are_in_the_query_log(self):
        marker = f"query-log-{time.time_ns()}"
        self.server.query(f"SELECT '{marker}'")
        self.server.query("SYSTEM FLUSH LOGS")
        body = self.server.query(f"SELECT type, result_rows FROM system.query_log WHERE query LIKE '%{marker}%' "
                                 "AND query NOT LIKE '%system.query_log%' ORDER BY event_time_microseconds")
        self.assertEqual(body, b"QueryStart\t0\nQueryFinish\t1\n")


class StatusCodes(ServerTest):
    def test_an_http_1_0_client_gets_the_answer_whole(self):
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        sock.sendall(b"POST /?query=SELECT+number+FROM+numbers(3) HTTP/1.0\r\nContent-Length: 0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        sock.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        self.assertIn(b"Content-Length: 6", head)
        self.assertEqual(body, b"0\n1\n2\n")

    def test_get_root_without_a_query_is_ok(self):
        status, _, body = self.server.request("GET", "/")
        self.assertEqual((status, body), (200, b"Ok.\n"))

    def test_a_syntax_error_in_a_get_is_a_syntax_error(self):
        status, headers, body = self.server.request("GET", params={"query": "SELEC 1"})
        self.assertEqual((status, headers["x-clickhouse-exception-code"]), (400, "62"))

    def test_small_answers_are_not_held_back(self):
        # An answer written in pieces used to wait ~40 ms per request for the
        # client's delayed ACK (Nagle); ten round trips on one connection took 0.45 s.
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        started = time.monotonic()
        for _ in range(10):
            conn.request("POST", "/?query=SELECT+1")
            response = conn.getresponse()
            self.assertEqual(response.read(), b"1\n")
        conn.close()
        self.assertLess(time.monotonic() - started, 0.3)

    def test_roles_reach_the_engine(self):
        # chDB has no roles: the engine's own UNKNOWN_ROLE, which ClickHouse answers 404.
        status, headers, body = self.server.request(params={"query": "SELECT 1", "role": "analyst"})
        self.assertEqual((status, headers["x-clickhouse-exception-code"]), (404, "511"))
        self.assertIn(b"analyst", body)

    def test_unknown_path(self):
        self.assertEqual(self.server.request("GET", "/nowhere")[0], 404)

    def test_post_without_length_is_refused(self):
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        sock.sendall(b"POST /?query=SELECT+1 HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = sock.recv(4096)
        sock.close()
        self.assertTrue(answer.startswith(b"HTTP/1.1 411"), answer)

    def test_bad_input_gets_a_clear_error(self):
        self.server.query("CREATE TABLE IF NOT EXISTS bad_in (n UInt8) ENGINE = Memory")
        cases = [
            ({"query": "SELECT 1", "client_protocol_version": "x"}, {}, b"", "36"),
            ({"query": "SELECT 1"}, {"Authorization": "Basic !!!"}, b"", "516"),
            ({"query": "SELECT 1"}, {"Authorization": "Bearer abc"}, b"", "516"),
            ({"query": "SELECT 1", "user": "u"}, {"X-ClickHouse-User": "u"}, b"", "516"),
            # (The body is decoded as the insert reads it: the table must exist for its errors to show.)
            ({"query": "INSERT INTO bad_in FORMAT RowBinary"}, {"Content-Encoding": "zstd"}, b"not zstd", "271"),
            ({"query": "INSERT INTO bad_in FORMAT RowBinary"}, {"Content-Encoding": "gzip"}, b"not gzip", "271"),
            ({"query": "INSERT INTO bad_in FORMAT RowBinary", "decompress": "1"}, {}, b"short", "271"),
            ({"query": "INSERT INTO bad_in FORMAT RowBinary"}, {"Content-Encoding": "br"}, b"x", "89"),
            # A parameter name goes into a SET statement only if it can be a setting's name.
            ({"query": "SELECT 1", "max_threads = 1; DROP DATABASE default; --": "1"}, {}, b"", "115"),
        ]
        for params, headers, body, code in cases:
            status, got, data = self.server.request(params=params, headers=headers, body=body)
            self.assertEqual(got.get("x-clickhouse-exception-code"), code, (params, headers, data))
            self.assertTrue(data.startswith(f"Code: {code}.".encode()), data)
        self.assertEqual(self.server.query("SELECT 1"), b"1\n", "the server is still up")
        self.assertEqual(self.server.query("SELECT count() FROM bad_in"), b"0\n")


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
