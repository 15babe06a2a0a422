//! Server-side batching measured: many short-lived processes, each sending
//! a few events, with and without `async_insert`.
//!
//!   make bench-async-insert          (a devserver of its own)
//!   cargo bench --bench async_insert (CLICKHOUSE_URL, or a devserver)
//!
//! For each number of processes × events per process, and each mode
//! (`sync`: one insert per process batch, as by default; `async`:
//! `async_insert=1, wait_for_async_insert=1`), the processes (this program
//! again, as children) start at once, each event a span with a log line
//! in it, and shut down
//! (which flushes). Reported: the wall time until the last process is done,
//! each process's shutdown (its inserts' round trips) as median and max,
//! and the parts the server wrote into `logs` (always synchronous: views
//! depend on it) and `spans` (async with the option, on a server that
//! takes it), as their highest block numbers (what async inserts
//! are for: fewer, larger parts). Every run checks stored == emitted.
//!
//! `ASYNC_BENCH_PROCESSES` (default `8,32`) and `ASYNC_BENCH_EVENTS`
//! (default `5,50`) choose the grid; `ASYNC_BENCH_ROUNDS` (default 3) the
//! repetitions of each cell (the medians of the rounds are printed). Run
//! by `cargo test` (without `--bench`), it measures one cell of 2 × 2 once,
//! as a check that every row arrives.

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tracing::dispatcher;
use tracing_clickhouse::{Builder, schema};

fn main() {
    if std::env::var_os("ASYNC_BENCH_CHILD").is_some() {
        child();
        return;
    }
    let url = common::url();
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this
    // program too, without it: then one small cell, as a check.
    let measuring = std::env::args().any(|a| a == "--bench");
    let grid = |var: &str, default: &str| -> Vec<u64> {
        let default = if measuring { default } else { "2" };
        std::env::var(var)
            .unwrap_or_else(|_| default.to_owned())
            .split(',')
            .map(|n| n.trim().parse().expect("a number"))
            .collect()
    };
    let processes = grid("ASYNC_BENCH_PROCESSES", "8,32");
    let events = grid("ASYNC_BENCH_EVENTS", "5,50");
    let rounds = match measuring {
        true => grid("ASYNC_BENCH_ROUNDS", "3")[0].max(1),
        false => 1,
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    println!("async_insert bench against {url}: median of {rounds} rounds");
    println!(
        "| processes × events | mode | wall | process shutdown median / max | parts written: logs / spans |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for &p in &processes {
        for &e in &events {
            for mode in ["sync", "async"] {
                let mut runs: Vec<Run> = (0..rounds)
                    .map(|_| run(&rt, &url, p, e, mode == "async"))
                    .collect();
                runs.sort_by_key(|r| r.wall);
                let r = &runs[runs.len() / 2];
                println!(
                    "| {p} × {e} | {mode} | {:.0} ms | {:.0} / {:.0} ms | {} / {} |",
                    ms(r.wall),
                    ms(r.median),
                    ms(r.max),
                    r.parts.0,
                    r.parts.1
                );
            }
        }
    }
}

struct Run {
    wall: Duration,
    median: Duration,
    max: Duration,
    /// Parts written into `logs` (always synchronous) and `spans`.
    parts: (u64, u64),
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn run(
    rt: &tokio::runtime::Runtime,
    url: &str,
    processes: u64,
    events: u64,
    async_insert: bool,
) -> Run {
    let database = common::unique_database("async_bench");
    rt.block_on(schema::apply(&common::config_for(url, &database)))
        .expect("apply the schema");
    let exe = std::env::current_exe().unwrap();
    let start = Instant::now();
    let children: Vec<_> = (0..processes)
        .map(|_| {
            Command::new(&exe)
                .env("ASYNC_BENCH_CHILD", "1")
                .env("ASYNC_BENCH_URL", url)
                .env("ASYNC_BENCH_DB", &database)
                .env("ASYNC_BENCH_N", events.to_string())
                .env("ASYNC_BENCH_ASYNC", if async_insert { "1" } else { "0" })
                .stdout(Stdio::piped())
                .spawn()
                .expect("start a child")
        })
        .collect();
    let mut shutdowns: Vec<Duration> = children
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().unwrap();
            assert!(output.status.success(), "a child failed");
            let text = String::from_utf8(output.stdout).unwrap();
            let micros: u64 = text
                .trim()
                .strip_prefix("shutdown_micros=")
                .and_then(|m| m.parse().ok())
                .unwrap_or_else(|| panic!("child said {text:?}"));
            Duration::from_micros(micros)
        })
        .collect();
    let wall = start.elapsed();
    shutdowns.sort();
    let client = clickhouse::Client::default()
        .with_url(url)
        .with_database(&database);
    let count = |sql: &str| rt.block_on(common::scalar(&client, sql));
    for table in ["logs", "spans"] {
        let stored = count(&format!("SELECT count() FROM {table}"));
        assert_eq!(stored, processes * events, "{table}: stored == emitted");
    }
    // Each insert that wrote a part took a block number: the highest is the
    // parts written, whatever merged since.
    let parts = |table: &str| {
        count(&format!(
            "SELECT toUInt64(max(max_block_number)) FROM system.parts \
             WHERE database = currentDatabase() AND table = '{table}'"
        ))
    };
    let parts = (parts("logs"), parts("spans"));
    rt.block_on(client.query(&format!("DROP DATABASE {database}")).execute())
        .unwrap();
    Run {
        wall,
        median: shutdowns[shutdowns.len() / 2],
        max: *shutdowns.last().unwrap(),
        parts,
    }
}

/// One small process: its events, then the shutdown that sends them.
fn child() {
    let var = |name: &str| std::env::var(name).unwrap();
    let events: u64 = var("ASYNC_BENCH_N").parse().unwrap();
    let (layer, telemetry) = Builder::from_env_vars::<&str, &str>([])
        .url(var("ASYNC_BENCH_URL"))
        .and_then(|b| b.database(var("ASYNC_BENCH_DB")))
        .unwrap()
        .async_insert(var("ASYNC_BENCH_ASYNC") == "1")
        .create_schema(false)
        .service_name("async-bench")
        .system_monitor(false)
        .pipeline_metrics(false)
        .build()
        .unwrap();
    use tracing_subscriber::prelude::*;
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    dispatcher::with_default(&dispatch, || {
        for i in 0..events {
            let _span = tracing::info_span!("request", i).entered();
            tracing::info!(i, "a small process's event");
        }
    });
    let start = Instant::now();
    let report = telemetry.shutdown(Duration::from_secs(60));
    assert_eq!(report.stats.sent_rows, 2 * events, "{:?}", report.error);
    println!("shutdown_micros={}", start.elapsed().as_micros());
}
