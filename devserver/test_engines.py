"""The devserver on whichever chDB runs it: what every engine must answer
alike (issue 24). `make test` runs these on chdb-core 26.9 (the .venv);
`make compat` on each older ClickHouse too, with DEVSERVER_PYTHON naming
that engine's venv (older chDB has one session per process: chdev/shared.py).

Run: DEVSERVER_PYTHON=target/venv-ch24.8/bin/python .venv/bin/python -m unittest devserver/test_engines.py -v
"""

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_devserver import Server  # noqa: E402

PYTHON = os.environ.get("DEVSERVER_PYTHON") or sys.executable
EM_DASH = "it's — a “test” – ünïcode"


class EngineServer(Server):
    """A devserver on PYTHON's chDB."""

    def __init__(self, data_dir):
        self.proc = subprocess.Popen(
            [PYTHON, os.path.join(HERE, "chdevserver.py"), "--port", "0", "--data", data_dir, "--stdin-watch"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert "listening on http" in line, line
        self.port = int(line.split()[3].rsplit(":", 1)[1])


class OnEveryEngine(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data_dir = tempfile.mkdtemp(prefix="devserver-engine-")
        cls.server = EngineServer(cls.data_dir)
        cls.version = tuple(int(p) for p in cls.server.query("SELECT version()").decode().split(".")[:2])
        cls.server.query("CREATE DATABASE IF NOT EXISTS e")
        cls.server.query("CREATE TABLE IF NOT EXISTS e.t (n UInt32, d String DEFAULT 'dflt', s String) "
                         "ENGINE = MergeTree ORDER BY n SETTINGS non_replicated_deduplication_window = 100")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.data_dir, ignore_errors=True)

    def setUp(self):
        self.server.query("TRUNCATE TABLE e.t")

    def rows(self):
        out = self.server.query("SELECT n, d, s FROM e.t ORDER BY n FORMAT JSONCompactEachRow").decode()
        return [json.loads(line) for line in out.splitlines()]

    def test_inserts_in_every_form_store_the_same_rows(self):
        self.server.request(params={"query": "INSERT INTO e.t (n, s) FORMAT JSONEachRow"},
                            body=b'{"n":1,"s":"listed"}\n')
        self.server.request(params={"query": "INSERT INTO e.t FORMAT JSONEachRow"},
                            body=b'{"n":2,"d":"given","s":"all"}\n')
        self.server.request(params={"query": "INSERT INTO e.t (s, n) FORMAT RowBinary"},
                            body=b"\x06binary" + struct.pack("<I", 3))
        self.server.request(body=b"INSERT INTO e.t (n, s) VALUES (4, 'values')")
        status, _, body = self.server.request(
            params={"query": "INSERT INTO e.t (n, s) SELECT n + {o:UInt32}, s FROM input('n UInt32, s String') "
                             "FORMAT RowBinary", "param_o": "100"},
            body=struct.pack("<I", 5) + b"\x05input")
        self.assertEqual(status, 200, body)
        self.assertEqual(self.rows(), [[1, "dflt", "listed"], [2, "given", "all"], [3, "dflt", "binary"],
                                       [4, "dflt", "values"], [105, "dflt", "input"]])

    def test_text_beyond_ascii_arrives_as_it_was_sent(self):
        # (Older chDB's client turns — – − in the query text into `--`.)
        expected = (json.dumps({"v": EM_DASH}, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        literal = EM_DASH.replace("'", "\\'")
        self.assertEqual(self.server.query(f"SELECT '{literal}' AS v FORMAT JSONEachRow"), expected)
        self.assertEqual(self.server.query("SELECT {p:String} AS v FORMAT JSONEachRow", param_p=EM_DASH), expected)
        status, _, body = self.server.request(params={"query": "INSERT INTO e.t (n, s) SELECT 1, {p:String}",
                                                      "param_p": EM_DASH})
        self.assertEqual(status, 200, body)
        self.server.request(params={"query": "INSERT INTO e.t (n, s) FORMAT JSONEachRow"},
                            body=json.dumps({"n": 2, "s": EM_DASH}).encode())
        self.assertEqual(self.server.query("SELECT s AS v FROM e.t ORDER BY n FORMAT JSONEachRow"), expected * 2)

    def test_url_settings_reach_their_statement_only(self):
        self.assertEqual(self.server.query("SELECT getSetting('max_threads')", max_threads="1"), b"1\n")
        self.assertNotEqual(self.server.query("SELECT getSetting('max_threads')"), b"1\n")
        # A string setting, then every later query still runs (chDB 1.x and 2.x
        # broke the session for good once one was SET).
        for token in ("tok — 1", "tok — 1", "tok 2"):
            status, _, body = self.server.request(params={"query": "INSERT INTO e.t (n, s) FORMAT JSONEachRow",
                                                          "insert_deduplication_token": token},
                                                  body=b'{"n":1,"s":"x"}\n')
            self.assertEqual(status, 200, body)
        self.assertEqual(self.server.query("SELECT count() FROM e.t"), b"2\n")
        self.assertEqual(self.server.query("SELECT getSetting('insert_deduplication_token')"), b"\n")

    def test_ddl_of_every_kind_runs(self):
        self.server.query("CREATE TABLE IF NOT EXISTS e.dropped (n UInt8) ENGINE = MergeTree ORDER BY n")
        self.server.query("DROP TABLE e.dropped SYNC")
        self.assertEqual(self.server.query("EXISTS TABLE e.dropped"), b"0\n")
        self.server.query("CREATE TABLE e.dropped (n UInt8) ENGINE = MergeTree ORDER BY n")
        self.server.query("DROP TABLE e.dropped")
        # A table renamed and dropped, then a view dropped: chDB 2.1 waited
        # forever on the DROP VIEW when the first drop was not SYNC.
        self.server.query("CREATE TABLE e.old (n UInt8) ENGINE = MergeTree ORDER BY n")
        self.server.query("RENAME TABLE e.old TO e.retired")
        self.server.query("DROP TABLE IF EXISTS e.retired")
        self.server.query("CREATE DATABASE IF NOT EXISTS e2")
        self.server.query("CREATE TABLE e2.src (n UInt8) ENGINE = MergeTree ORDER BY n")
        self.server.query("CREATE TABLE e2.dst (n UInt8) ENGINE = MergeTree ORDER BY n")
        self.server.query("CREATE MATERIALIZED VIEW e2.mv TO e2.dst AS SELECT n FROM e2.src")
        self.server.query("DROP VIEW IF EXISTS e2.mv")
        self.assertEqual(self.server.query("EXISTS TABLE e2.mv"), b"0\n")

    def test_refusals_are_the_same_everywhere(self):
        for method, params, status, code in [
            ("GET", {"query": "INSERT INTO e.t (n, s) VALUES (1, 'get')"}, 500, "164"),
            ("POST", {"query": "SELECT 1; SELECT 2"}, 400, "62"),
            ("POST", {"query": "SELECT * FROM file('/etc/hostname')"}, 403, "497"),
            ("POST", {"query": "SELECT * FROM e.missing"}, 404, "60"),
            ("POST", {"query": "SELEC 1"}, 400, "62"),
            ("POST", {"query": "SELECT 1", "user": "someone"}, 403, "516"),
        ]:
            got, headers, body = self.server.request(method, params=params)
            self.assertEqual((got, headers.get("x-clickhouse-exception-code")), (status, code), (params, body))
        self.assertEqual(self.rows(), [])

    def test_sessions_where_the_engine_has_them(self):
        status, headers, body = self.server.request(params={"query": "SELECT 1", "session_id": "s"})
        if self.version >= (26, 1):
            self.assertEqual((status, body), (200, b"1\n"))
        else:
            self.assertEqual((status, headers.get("x-clickhouse-exception-code")), (501, "48"), body)
            self.assertIn(b"session", body)


if __name__ == "__main__":
    unittest.main()
