#!/usr/bin/env python3
"""Counts the crate's public items reachable from its root, from rustdoc's
JSON output, and fails when they exceed a budget.

    scripts/public-items.py [--max N] [--json FILE]

Without --json it runs `cargo rustdoc --lib --all-features` with JSON
output (an unstable rustdoc flag, hence RUSTC_BOOTSTRAP=1 for this build
only). What counts: every public module, struct, enum, trait, function,
constant, static, type alias and macro reachable through public modules
and re-exports, and every public inherent method of a reachable type
(trait impls and fields do not count: a type's fields are part of it).
Issue 25 measured 421 such items; the budget keeps the API from growing
back unnoticed."""

import argparse
import collections
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TYPES = ("struct", "enum", "union", "trait")


def count(doc):
    """The reachable public items of a rustdoc JSON document, by kind."""
    index = doc["index"]
    seen = set()
    counts = collections.Counter()
    pending = [doc["root"]]
    while pending:
        key = str(pending.pop())
        item = index.get(key)
        if item is None or key in seen:
            continue
        seen.add(key)
        kind, inner = next(iter(item["inner"].items()))
        if kind == "use":
            # A re-export counts as the item it names (once, wherever seen).
            if inner.get("id") is not None:
                pending.append(inner["id"])
            continue
        if item["visibility"] != "public":
            continue
        counts[kind] += 1
        if kind == "module":
            pending.extend(inner["items"])
        elif kind in TYPES:
            for impl_id in inner.get("impls", []):
                impl = index.get(str(impl_id), {}).get("inner", {}).get("impl")
                if not impl or impl["trait"] is not None or impl.get("blanket_impl"):
                    continue
                for member_id in impl["items"]:
                    member = index.get(str(member_id))
                    if member and member["visibility"] == "public" and "function" in member["inner"]:
                        counts["method"] += 1
    return counts


def rustdoc_json():
    env = dict(os.environ, RUSTC_BOOTSTRAP="1")
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    subprocess.run(
        ["cargo", "rustdoc", "--lib", "--all-features", "-q", "--",
         "-Zunstable-options", "--output-format", "json"],
        cwd=ROOT, env=env, check=True)
    with open(os.path.join(target, "doc", "tracing_clickhouse.json"), encoding="utf-8") as f:
        return json.load(f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=int, help="fail when more items than this are public")
    parser.add_argument("--json", help="a rustdoc JSON file instead of building one")
    args = parser.parse_args()
    if args.json:
        with open(args.json, encoding="utf-8") as f:
            doc = json.load(f)
    else:
        doc = rustdoc_json()
    counts = count(doc)
    total = sum(counts.values())
    parts = ", ".join(f"{n} {kind}" for kind, n in counts.most_common())
    print(f"{total} public items ({parts})")
    if args.max is not None and total > args.max:
        print(f"more than the budget of {args.max}: make an item pub(crate), or raise "
              f"--max in the Makefile's lint target and say why in CHANGELOG.md")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
