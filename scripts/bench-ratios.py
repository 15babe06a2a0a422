#!/usr/bin/env python3
"""Ratios of the last criterion run: every subject against its peer,
`fmt_json_non_blocking`, measured in the same run (medians; for throughput,
events per second). Reads criterion's estimates under target/criterion.
(`benches/capture.rs` is a plain-loop bench program that prints its own
ratios; this script is for `throughput`.)

    cargo bench --bench throughput
    scripts/bench-ratios.py
"""

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"
PEER = "fmt_json_non_blocking"


def load(bench):
    estimates = json.loads((bench / "new" / "estimates.json").read_text())
    meta = json.loads((bench / "new" / "benchmark.json").read_text())
    elements = (meta.get("throughput") or {}).get("Elements")
    return estimates["median"]["point_estimate"], elements


def human(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.2f} {unit}"
    return f"{ns:.0f} ns"


def main():
    if not ROOT.is_dir():
        sys.exit("no criterion results: run `cargo bench` first")
    for group in sorted(p for p in ROOT.iterdir() if p.is_dir() and p.name != "report"):
        results = {b.name: load(b) for b in sorted(group.iterdir()) if (b / "new").is_dir()}
        if not results:
            continue
        peer = results.get(PEER)
        print(f"\n{group.name}")
        for name, (median, elements) in results.items():
            line = f"  {name:24s} {human(median):>10s}"
            if elements:
                line += f"  {elements / median * 1e9 / 1e3:9.0f} k events/s"
            if peer:
                if elements:
                    # Throughput: how many times the peer's rate.
                    ratio = (elements / median) / (peer[1] / peer[0])
                else:
                    ratio = median / peer[0]
                line += f"  ratio to {PEER}: {ratio:.3f}"
            print(line)


if __name__ == "__main__":
    main()
