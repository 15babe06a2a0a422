"""The devserver's readers of outside bytes, on random input: the SQL
scanner of sandbox.py against the engine's own parser, and the body's
framing and decoders. Any input gives a value or the client's error, never
a crash, a hang or an unbounded allocation.

Run: .venv/bin/python -m unittest devserver/test_parsers.py -v
"""

import gzip
import io
import os
import random
import re
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from chdb import _chdb  # noqa: E402

from chdev import body, compression, sandbox  # noqa: E402
from chdev.sql import tokens  # noqa: E402
from chdev.errors import ClickHouseError  # noqa: E402

# Pieces of SQL where lexers disagree: quotes, escapes, comments of every
# kind, heredocs, numbers with exponents, unicode spaces.
FRAGMENTS = ["SELECT ", "1", " ", "\n", "'", '"', "`", "--", "//", "/*", "*/", "#", "# ", "#!", "$$", "$a$",
             "$", "\\", "x'", "b'", "0x", "1e", "-", "+", ".", ",", "(", ")", "''", "``", "f", "ile", "\u00a0",
             "\u2003", "é", "e", "0", "AS ", "a", "1.", "*", "=", "'/*'", "'--'", "/* /* */", "$$'$$",
             "\\x27", "\\x", "\\"]
CALLS = ["file('m')", "`file`('m')", '"file"(\'m\')', "file /**/ ('m')", "file\u00a0('m')", "url('m')",
         "file\n('m')", "FILE('m')", "`fi\\x6Ce`('m')", '"\\x66ile"(\'m\')']
SEED = 20261207
CASES = 3000


def engine():
    return _chdb.connect(":memory:")


class ScannerAgainstTheEngine(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.conn = engine()
        names = {kind: cls.conn.query(f"SELECT name FROM system.{kind}", "TSVRaw").bytes().decode().split()
                 for kind in ("table_functions", "table_engines", "database_engines")}
        cls.sandbox = sandbox.Sandbox(names["table_functions"], names["table_engines"], names["database_engines"])
        denied = "|".join(sorted(cls.sandbox.denied_calls, key=len, reverse=True))
        cls.denied_in_ast = re.compile(rf"^\s*Function ({denied})\b", re.IGNORECASE | re.MULTILINE)

    def calls_in_ast(self, sql):
        """The denied calls the engine's parser finds in `sql` (None: it does not parse)."""
        try:
            ast = self.conn.query("EXPLAIN AST " + sql, "TSVRaw").bytes().decode()
        except Exception:
            return None
        return self.denied_in_ast.findall(ast)

    def test_whatever_the_engine_would_call_is_refused(self):
        rng = random.Random(SEED)
        refused = refused_and_called = 0
        for _ in range(CASES):
            noise = [rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 12))]
            noise.insert(rng.randint(0, len(noise)), rng.choice(CALLS))
            sql = "SELECT " + "".join(noise)
            self.assertIsInstance(tokens(sql), list)
            try:
                self.sandbox.check(sql)
            except ClickHouseError:
                refused += 1
                refused_and_called += bool(self.calls_in_ast(sql))
                continue
            calls = self.calls_in_ast(sql)
            self.assertFalse(calls, f"the engine calls {calls} in {sql!r}, the scanner let it through")
        # Not vacuous: many random statements are ones the engine would run a call in.
        self.assertGreater(refused_and_called, CASES // 10, refused)
        for sql in ("SELECT file('m') -- '", "SELECT '--', file('m')", "SELECT /* ' /* */ ' */ file('m')",
                    "SELECT $a$'$a$, file('m')", "SELECT 1e-1-- x\n, file('m')", "SELECT x'41', file('m')",
                    "SELECT 1 # x\n, file('m')", "SELECT 1 #!x\n, file('m')"):
            self.assertTrue(self.calls_in_ast(sql), sql)
            with self.assertRaises(ClickHouseError, msg=sql):
                self.sandbox.check(sql)

    def test_the_scanner_takes_any_text(self):
        rng = random.Random(SEED + 1)
        alphabet = "'\"`\\$#-/*(){}[],.;:=xXbBeE01 \n\u00a0é"
        for _ in range(CASES):
            sql = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
            for kind, text in tokens(sql):
                self.assertIn(kind, ("word", "ident", "string", "number", "punct"))
            try:
                self.sandbox.check(sql, {"a": "/x"})
            except ClickHouseError as err:
                self.assertEqual(err.code, 497)


class BodyReadersOnRandomBytes(unittest.TestCase):
    def read_everything(self, reader, limit=1 << 20):
        total = 0
        while data := reader.read(4096):
            self.assertLessEqual(len(data), 4096)
            total += len(data)
            self.assertLessEqual(total, limit)
        return total

    def test_any_chunked_body_is_read_or_refused(self):
        rng = random.Random(SEED + 2)
        pieces = [b"0", b"1", b"a", b"F", b"ffffffffffffffffff", b"\r\n", b"\n", b";ext", b" ", b"x", b"-1"]
        for _ in range(CASES):
            raw = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 20)))
            try:
                self.read_everything(body.Chunked(io.BufferedReader(io.BytesIO(raw)), limit=1000))
            except (ClickHouseError, ConnectionError) as err:
                if isinstance(err, ClickHouseError):
                    self.assertIn(err.code, (36, 229))

    def test_any_encoded_body_is_decoded_or_refused(self):
        rng = random.Random(SEED + 3)
        samples = [gzip.compress(b"abc" * 100), compression.native_compress(b"abc" * 100),
                   compression.native_compress(b"x", "zstd")]
        for _ in range(CASES):
            data = bytearray(rng.choice(samples))
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            data = bytes(data[:rng.randint(0, len(data))])
            for encoding, native in (("gzip", False), ("", True), ("lz4", False), ("zstd", False),
                                     ("deflate", False)):
                reader = body.decoded(body.Sized(io.BufferedReader(io.BytesIO(data)), len(data)), encoding,
                                      native, limit=1 << 16)
                try:
                    self.read_everything(reader, limit=1 << 16)
                except ClickHouseError as err:
                    self.assertIn(err.code, (40, 89, 229, 271), (encoding, native, err.text))


if __name__ == "__main__":
    unittest.main()
