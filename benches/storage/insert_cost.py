"""What an index of `logs` costs at insert, in the server's CPU time.

    .venv/bin/python benches/storage/insert_cost.py [--turns N] [--rows N] [--index NAME]

Makes two databases from `schema.sql` in a chDB of its own (a temporary
directory; the devserver's engine): one as the file says, one without the
index NAME (default `idx_body_lower`, schema version 4's n-gram index on
the lowered body). Then inserts the same rows of the storage study's corpus
(`benches/storage/corpus.rs`, generated once into memory) into the `logs`
of each, in turns of random order, as the pipeline inserts (a
deduplication token, the rollups' views run), and reports the median CPU
time of the process per insert: chDB runs in this process, so that is the
server's work, and it moves less with the machine's other load than the
wall time does. Background merges of earlier inserts fall into whichever
insert is running; the turns spread them over both.

Also the bare cost of the index: the bodies alone into a table with and
without it, merges stopped."""

import argparse
import os
import random
import resource
import statistics
import tempfile

from chdb import session

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLUMNS = (
    "Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, ServiceName, Body, "
    "ResourceSchemaUrl, ResourceAttributes, ScopeSchemaUrl, ScopeName, ScopeVersion, "
    "ScopeAttributes, LogAttributes"
)
# The corpus's "now" (`END_SECS` in corpus.rs); the rows cover the 10 minutes before.
END_SECS = 1_795_996_800


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def corpus_select(rows):
    """The corpus generator's SELECT for `rows` rows over 10 minutes, 12 services."""
    source = open(os.path.join(ROOT, "benches/storage/corpus.rs")).read()
    generate = source.split('const GENERATE: &str = r"', 1)[1].split('";\n', 1)[0]
    for key, value in {
        "__ROWS__": str(rows),
        "__FIRST__": "0",
        "__COUNT__": str(rows),
        "__SEED__": "7",
        "__START_NS__": str((END_SECS - 600) * 10**9),
        "__SPAN_NS__": "600e9",
        "__DAYS__": "1",
        "__SERVICES__": "12",
    }.items():
        generate = generate.replace(key, value)
    return generate


def schema_statements(database, drop_index):
    """schema.sql's statements for `database`, without the line of index
    `drop_index` when it is given."""
    sql = open(os.path.join(ROOT, "schema.sql")).read()
    if drop_index:
        lines = sql.splitlines()
        at = next(i for i, l in enumerate(lines) if l.strip().startswith(f"INDEX {drop_index} "))
        lines.pop(at)
        if lines[at].strip() == ")":
            lines[at - 1] = lines[at - 1].rstrip().rstrip(",")
        sql = "\n".join(lines)
    for key, value in {
        "{{database}}": database,
        "{{dedup_window}}": "1000",
    }.items():
        sql = sql.replace(key, value)
    for table in ("logs", "spans", "metrics", "events"):
        sql = sql.replace("{{%s_ttl_days}}" % table, "3650")
    statements, current = [], []
    for line in sql.splitlines():
        if line.startswith("--"):
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            statement = "\n".join(current).strip().rstrip(";")
            if statement:
                statements.append(statement)
            current = []
    return statements


def index_definition(name):
    sql = open(os.path.join(ROOT, "schema.sql")).read()
    line = next(l for l in sql.splitlines() if l.strip().startswith(f"INDEX {name} "))
    return line.strip().rstrip(",").split(" ", 2)[2]


def turns(subjects, count, insert):
    """CPU seconds of each insert, by subject, over `count` turns in random order."""
    times = {s: [] for s in subjects}
    for turn in range(count):
        order = list(subjects)
        random.shuffle(order)
        for subject in order:
            start = cpu_seconds()
            insert(subject, turn)
            times[subject].append(cpu_seconds() - start)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=15)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--index", default="idx_body_lower")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="insert_cost_") as path:
        db = session.Session(path)
        db.query("CREATE DATABASE corpus")
        db.query(
            f"CREATE TABLE corpus.rows ENGINE = Memory AS SELECT {COLUMNS} "
            f"FROM ({corpus_select(args.rows)})"
        )
        for database, drop in (("with_index", None), ("without_index", args.index)):
            for statement in schema_statements(database, drop):
                db.query(statement)

        def insert_logs(database, turn):
            db.query(
                f"INSERT INTO {database}.logs ({COLUMNS}) SETTINGS "
                f"insert_deduplication_token = '{database}-{turn}', "
                "deduplicate_blocks_in_dependent_materialized_views = 1 "
                f"SELECT {COLUMNS} FROM corpus.rows"
            )

        whole = turns(("with_index", "without_index"), args.turns, insert_logs)

        definition = index_definition(args.index)
        db.query("CREATE DATABASE bare")
        for name, index in (("with_index", f", INDEX i {definition}"), ("without_index", "")):
            db.query(f"CREATE TABLE bare.{name} (Body String{index}) ENGINE = MergeTree ORDER BY tuple()")
            db.query(f"SYSTEM STOP MERGES bare.{name}")
        bare = turns(
            ("with_index", "without_index"),
            args.turns,
            lambda name, _: db.query(f"INSERT INTO bare.{name} SELECT Body FROM corpus.rows"),
        )

        with_ms = statistics.median(whole["with_index"]) * 1000
        without_ms = statistics.median(whole["without_index"]) * 1000
        extra_ns = (
            (statistics.median(bare["with_index"]) - statistics.median(bare["without_index"]))
            / args.rows
            * 1e9
        )
        print(f"index {args.index}: {definition}")
        print(f"{args.rows} rows an insert into logs (views included), {args.turns} turns, median CPU:")
        print(f"  with the index    {with_ms:8.1f} ms  ({with_ms * 1e6 / args.rows:.0f} ns a row)")
        print(f"  without it        {without_ms:8.1f} ms  ({without_ms * 1e6 / args.rows:.0f} ns a row)")
        print(f"  ratio             {with_ms / without_ms:8.3f}")
        print(f"the index alone (bodies only, merges stopped): {extra_ns:.0f} ns a row")


if __name__ == "__main__":
    main()
