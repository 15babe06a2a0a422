#!/usr/bin/env python3
"""The devserver's memory under large inserts: a devserver of its own, then
CONCURRENT inserts of SIZE_MB of RowBinary each into a MergeTree table, at
once; prints the server's peak RSS before and after, and the rows stored.

Run: .venv/bin/python devserver/bench_memory.py [SIZE_MB] [CONCURRENT]
"""

import http.client
import os
import shutil
import struct
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_devserver import Server  # noqa: E402

ROW = 25  # bytes of one row: UInt64 and a 16-byte String


def peak_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


def insert(port, rows, errors):
    piece_rows = 100_000
    piece = b"".join(struct.pack("<Q", i) + b"\x10" + b"%016d" % i for i in range(piece_rows))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    body = (piece for _ in range(rows // piece_rows))
    conn.request("POST", "/?query=INSERT+INTO+mem+FORMAT+RowBinary", body=body)
    response = conn.getresponse()
    if response.status != 200:
        errors.append(response.read())
    conn.close()


def main():
    size_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    concurrent = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    rows = size_mb * 1_000_000 // ROW // 100_000 * 100_000
    data_dir = tempfile.mkdtemp(prefix="devserver-memory-")
    server = Server(data_dir)
    try:
        server.query("CREATE TABLE mem (n UInt64, s String) ENGINE = MergeTree ORDER BY n")
        before = peak_rss(server.proc.pid)
        errors = []
        threads = [threading.Thread(target=insert, args=(server.port, rows, errors)) for _ in range(concurrent)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        stored = int(server.query("SELECT count() FROM mem"))
        after = peak_rss(server.proc.pid)
        print(f"{concurrent} x {rows * ROW / 1e6:.0f} MB of RowBinary into MergeTree in {elapsed:.1f} s: "
              f"{stored} of {rows * concurrent} rows stored, errors {len(errors)}; peak RSS "
              f"{before / 1e6:.0f} MB before, {after / 1e6:.0f} MB after (+{(after - before) / 1e6:.0f} MB)")
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
