//! Cost on the application thread: one `info!` with a message and three
//! fields (u64, &str, f64), and one span cycle, under our layer, under
//! `init()`'s defaults, and under the usual alternatives, in the same run.
//!
//!   cargo bench --bench capture                 # 1 and 2 threads, events and spans
//!   BENCH_ROUNDS=31 BENCH_EVENTS=50000 cargo bench --bench capture
//!   CLICKHOUSE_URL=http://... cargo bench --bench capture   # else a devserver is started
//!
//! Measured as a plain loop does, the same for every subject: a round is
//! `BENCH_EVENTS` (20 000) calls in a tight loop on each thread, with the
//! subject's background thread (our flusher, the appender's worker) running
//! as it would in a program; subjects take turns round after round
//! (`BENCH_ROUNDS`, 15), and between rounds every subject is given time to
//! catch up (our `flush()`, then a pause for all). A round's time per call
//! is its slowest thread's. Reported: each subject's median, and the
//! median over rounds of its ratio to the peer's round next to it (this
//! machine's speed drifts; neighbouring rounds see the same machine).
//!
//! Subjects:
//! - `ClickHouseLayer`: our layer alone on the registry, a dry-run pipeline
//!   (its flusher encodes and discards) with the default limits;
//! - `ours, 64k queue`: the same with a queue that holds a whole round, so
//!   nothing is dropped (the default queue drops what a burst of two
//!   threads at full speed leaves no room for);
//! - `ours, unsampled`: ours with a trace sample ratio of 0 (spans are
//!   tracked for their logs' trace ids, and not recorded);
//! - `ours → devserver` and `→ devserver, 64k`: our layer with the
//!   default pipeline sending to ClickHouse as in a program (the flusher
//!   encodes, compresses and inserts while the application logs), into a
//!   devserver the bench starts or `CLICKHOUSE_URL`, with the default
//!   queue and with one that holds a round; at the end, the rows stored
//!   are counted and must be every call that was not dropped;
//! - `init() defaults`: the subscriber `init()` installs (the `info` filter,
//!   our layer, the console), the console's lines going to `/dev/null`, the
//!   monitor and pipeline metrics on, a dry run;
//! - `fmt().json()` (the peer) and `fmt()` text, writing through
//!   `tracing_appender::non_blocking(io::sink())` (the default: lossy);
//! - the registry alone (the floor).
//!
//! Every subject of ours shows what it dropped; a ratio of a subject that
//! dropped is marked (it was bought by dropping), and the subjects sized
//! to keep everything (`64k`) fail the bench if they drop anything.
//!
//! (Why the criterion version of this bench measured the peer three times
//! slower than a plain loop, and our layer faster: see docs/performance.md.)

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use tracing::{Dispatch, dispatcher};
use tracing_clickhouse::{Builder, Limit, Telemetry};
use tracing_subscriber::prelude::*;

/// A subscriber to measure and what keeps its background going.
struct Subject {
    name: &'static str,
    dispatch: Dispatch,
    /// Ours, to let the flusher catch up between rounds and read its counts.
    telemetry: Option<Telemetry>,
    /// The appender's guard, kept for the run.
    _appender: Option<tracing_appender::non_blocking::WorkerGuard>,
    /// Sized to keep every call: dropping fails the bench.
    lossless: bool,
    /// Sends to ClickHouse: its rows are counted at the end.
    sends: bool,
}

impl Subject {
    fn ours(name: &'static str, dispatch: Dispatch, telemetry: Telemetry) -> Subject {
        Subject {
            name,
            dispatch,
            telemetry: Some(telemetry),
            _appender: None,
            lossless: false,
            sends: false,
        }
    }

    fn peer(name: &'static str, dispatch: Dispatch) -> Subject {
        Subject {
            name,
            dispatch,
            telemetry: None,
            _appender: None,
            lossless: false,
            sends: false,
        }
    }
}

const PEER: &str = "fmt().json()";

/// Rows of ours that never leave the process: nothing listens on port 9.
fn dry_run() -> Builder {
    Builder::from_env_vars::<&str, &str>([])
        .url("http://127.0.0.1:9")
        .expect("a URL")
        .dry_run(true)
}

fn ours() -> Subject {
    let (layer, telemetry) = dry_run()
        .system_monitor(false)
        .pipeline_metrics(false)
        .build()
        .unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    Subject::ours("ClickHouseLayer", dispatch, telemetry)
}

/// Ours with room for a whole round (two threads' 20 000 events), so that
/// nothing is dropped: the cost of an event that is kept.
fn ours_roomy() -> Subject {
    let (layer, telemetry) = dry_run()
        .limit(Limit::QueueCapacity(1 << 16))
        .unwrap()
        .system_monitor(false)
        .pipeline_metrics(false)
        .build()
        .unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    Subject {
        lossless: true,
        ..Subject::ours("ours, 64k queue", dispatch, telemetry)
    }
}

/// Ours sending to ClickHouse (a database of its own), with the default
/// pipeline and a queue of `capacity` (`None`: the default).
fn ours_sending(name: &'static str, capacity: Option<usize>) -> Subject {
    let database = common::unique_database("capture_bench");
    let mut builder = Builder::from_env_vars::<&str, &str>([])
        .url(common::url())
        .and_then(|b| b.database(&database))
        .expect("a URL and a database");
    if let Some(capacity) = capacity {
        builder = builder.limit(Limit::QueueCapacity(capacity)).unwrap();
    }
    let (layer, telemetry) = builder
        .system_monitor(false)
        .pipeline_metrics(false)
        .build()
        .unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    Subject {
        lossless: capacity.is_some(),
        sends: true,
        ..Subject::ours(name, dispatch, telemetry)
    }
}

/// Ours with no trace sampled (ratio 0): a span cycle that records
/// nothing, against the registry alone.
fn ours_unsampled() -> Subject {
    let (layer, telemetry) = dry_run()
        .trace_sample_ratio(0.0)
        .unwrap()
        .system_monitor(false)
        .pipeline_metrics(false)
        .build()
        .unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    Subject::ours("ours, unsampled", dispatch, telemetry)
}

fn init_defaults() -> Subject {
    let dev_null = std::fs::File::create("/dev/null").unwrap();
    let (subscriber, telemetry) = dry_run()
        .console_writer(dev_null)
        .build_subscriber()
        .unwrap();
    Subject::ours("init() defaults", Dispatch::new(subscriber), telemetry)
}

fn appender(name: &'static str, json: bool) -> Subject {
    let (writer, guard) = tracing_appender::non_blocking(std::io::sink());
    let layer = tracing_subscriber::fmt::layer().with_writer(writer);
    let dispatch = match json {
        true => Dispatch::new(tracing_subscriber::registry().with(layer.json())),
        false => Dispatch::new(tracing_subscriber::registry().with(layer)),
    };
    Subject {
        _appender: Some(guard),
        ..Subject::peer(name, dispatch)
    }
}

fn registry_only() -> Subject {
    Subject::peer(
        "registry alone",
        Dispatch::new(tracing_subscriber::registry()),
    )
}

fn one_event(i: u64) {
    tracing::info!(
        request_id = i,
        user = "ada",
        latency_ms = 12.5,
        "request handled"
    );
}

fn one_span_cycle(i: u64) {
    let span = tracing::info_span!("handle", request_id = i);
    let entered = span.enter();
    black_box(&entered);
    drop(entered);
    drop(span);
}

/// One round: `calls` calls of `work` on each of `threads` threads at once;
/// the time per call of the slowest thread, in ns.
fn round(subject: &Subject, threads: usize, calls: u64, work: fn(u64)) -> f64 {
    let slowest = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    dispatcher::with_default(&subject.dispatch, || {
                        let began = Instant::now();
                        for i in 0..calls {
                            work(i);
                        }
                        began.elapsed()
                    })
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).max()
    });
    slowest.unwrap_or_default().as_nanos() as f64 / calls as f64
}

/// Lets a subject's background catch up before the next round.
fn settle(subject: &Subject) {
    if let Some(telemetry) = &subject.telemetry {
        telemetry.flush(Duration::from_secs(60)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(20));
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What a run measures: its name, the call, and the table our rows go to.
struct Kind {
    name: &'static str,
    work: fn(u64),
    table: &'static str,
}

fn run(kind: &Kind, threads: usize, rounds: u64, calls: u64) {
    let subjects = [
        ours(),
        ours_roomy(),
        ours_sending("ours → devserver", None),
        ours_sending("→ devserver, 64k", Some(1 << 16)),
        ours_unsampled(),
        init_defaults(),
        appender(PEER, true),
        appender("fmt() text", false),
        registry_only(),
    ];
    let dropped_before: Vec<u64> = subjects
        .iter()
        .map(|s| s.telemetry.as_ref().map_or(0, |t| t.stats().dropped()))
        .collect();
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); subjects.len()];
    for r in 0..rounds {
        // Rotate who goes first, so no subject always follows the same one.
        for k in 0..subjects.len() {
            let at = (k + r as usize) % subjects.len();
            times[at].push(round(&subjects[at], threads, calls, kind.work));
            settle(&subjects[at]);
        }
    }
    let peer = subjects.iter().position(|s| s.name == PEER).unwrap();
    println!(
        "\n{}, {threads} thread(s), {rounds} rounds of {calls} calls per thread",
        kind.name
    );
    println!(
        "  {:18} {:>10} {:>10} {:>10}  {:>9}  dropped",
        "subject", "median", "min", "max", "ratio"
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut failures = Vec::new();
    for (k, subject) in subjects.iter().enumerate() {
        let ratios = times[k].iter().zip(&times[peer]).map(|(a, b)| a / b);
        let dropped = subject
            .telemetry
            .as_ref()
            .map(|t| t.stats().dropped() - dropped_before[k]);
        let min = times[k].iter().copied().fold(f64::INFINITY, f64::min);
        let max = times[k].iter().copied().fold(0.0, f64::max);
        // A ratio bought by dropping is marked.
        let mark = if dropped.unwrap_or(0) > 0 { "*" } else { " " };
        println!(
            "  {:18} {:>8.0}ns {:>8.0}ns {:>8.0}ns  {:>8.3}{mark}  {}",
            subject.name,
            median(times[k].clone()),
            min,
            max,
            median(ratios.collect()),
            dropped.map_or("-".to_owned(), |d| d.to_string()),
        );
        let dropped = dropped.unwrap_or(0);
        if subject.lossless && dropped > 0 {
            failures.push(format!("{}: dropped {dropped}", subject.name));
        }
        if let (true, Some(telemetry)) = (subject.sends, &subject.telemetry) {
            let emitted = rounds * threads as u64 * calls;
            let sql = format!("SELECT count() FROM {}", kind.table);
            let stored = runtime.block_on(common::scalar(
                &common::raw_client(telemetry.config()),
                &sql,
            ));
            if stored + dropped != emitted {
                failures.push(format!(
                    "{}: {stored} rows stored + {dropped} dropped != {emitted} emitted",
                    subject.name
                ));
            }
        }
    }
    println!("  (* dropped calls: not a ratio to compare)");
    assert!(failures.is_empty(), "{failures:?}");
}

fn main() {
    // `cargo bench` passes `--bench`; a filter word picks events or spans.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |kind: &str| filter.is_empty() || filter.iter().any(|f| kind.contains(f.as_str()));
    let rounds = env_or("BENCH_ROUNDS", 15);
    let calls = env_or("BENCH_EVENTS", 20_000);
    let event = Kind {
        name: "event",
        work: one_event,
        table: "logs",
    };
    let span = Kind {
        name: "span cycle",
        work: one_span_cycle,
        table: "spans",
    };
    if wanted("event") {
        for threads in [1, 2] {
            run(&event, threads, rounds, calls);
        }
    }
    if wanted("span") {
        run(&span, 1, rounds, calls);
    }
}
