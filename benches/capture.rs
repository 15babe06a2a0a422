//! Cost on the application thread: one `info!` with a message and three
//! fields (u64, &str, f64), and one span cycle, under our layer, under
//! `init()`'s defaults, and under the usual alternatives, in the same run.
//!
//!   cargo bench --bench capture                 # 1 and 2 threads, events and spans
//!   BENCH_ROUNDS=31 BENCH_EVENTS=50000 cargo bench --bench capture
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
//! - `init() defaults`: the subscriber `init()` installs (the `info` filter,
//!   our layer, the console), the console's lines going to `/dev/null`, the
//!   monitor and pipeline metrics on, a dry run;
//! - `fmt().json()` (the peer) and `fmt()` text, writing through
//!   `tracing_appender::non_blocking(io::sink())` (the default: lossy);
//! - the registry alone (the floor).
//!
//! (Why the criterion version of this bench measured the peer three times
//! slower than a plain loop, and our layer faster: see docs/performance.md.)

use std::hint::black_box;
use std::time::{Duration, Instant};

use tracing::{Dispatch, dispatcher};
use tracing_clickhouse::{Builder, Telemetry};
use tracing_subscriber::prelude::*;

/// A subscriber to measure and what keeps its background going.
struct Subject {
    name: &'static str,
    dispatch: Dispatch,
    /// Ours, to let the flusher catch up between rounds and read its counts.
    telemetry: Option<Telemetry>,
    /// The appender's guard, kept for the run.
    _appender: Option<tracing_appender::non_blocking::WorkerGuard>,
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
    let (layer, telemetry) = dry_run().quiet().build().unwrap();
    Subject {
        name: "ClickHouseLayer",
        dispatch: Dispatch::new(tracing_subscriber::registry().with(layer)),
        telemetry: Some(telemetry),
        _appender: None,
    }
}

/// Ours with room for a whole round (two threads' 20 000 events), so that
/// nothing is dropped: the cost of an event that is kept.
fn ours_roomy() -> Subject {
    let (layer, telemetry) = dry_run()
        .queue_capacity(1 << 16)
        .unwrap()
        .quiet()
        .build()
        .unwrap();
    Subject {
        name: "ours, 64k queue",
        dispatch: Dispatch::new(tracing_subscriber::registry().with(layer)),
        telemetry: Some(telemetry),
        _appender: None,
    }
}

/// Ours with no trace sampled (ratio 0): a span cycle that records
/// nothing, against the registry alone.
fn ours_unsampled() -> Subject {
    let (layer, telemetry) = dry_run()
        .trace_sample_ratio(0.0)
        .unwrap()
        .quiet()
        .build()
        .unwrap();
    Subject {
        name: "ours, unsampled",
        dispatch: Dispatch::new(tracing_subscriber::registry().with(layer)),
        telemetry: Some(telemetry),
        _appender: None,
    }
}

fn init_defaults() -> Subject {
    let dev_null = std::fs::File::create("/dev/null").unwrap();
    let (subscriber, telemetry) = dry_run()
        .console_writer(dev_null)
        .build_subscriber()
        .unwrap();
    Subject {
        name: "init() defaults",
        dispatch: Dispatch::new(subscriber),
        telemetry: Some(telemetry),
        _appender: None,
    }
}

fn appender(name: &'static str, json: bool) -> Subject {
    let (writer, guard) = tracing_appender::non_blocking(std::io::sink());
    let layer = tracing_subscriber::fmt::layer().with_writer(writer);
    let dispatch = match json {
        true => Dispatch::new(tracing_subscriber::registry().with(layer.json())),
        false => Dispatch::new(tracing_subscriber::registry().with(layer)),
    };
    Subject {
        name,
        dispatch,
        telemetry: None,
        _appender: Some(guard),
    }
}

fn registry_only() -> Subject {
    Subject {
        name: "registry alone",
        dispatch: Dispatch::new(tracing_subscriber::registry()),
        telemetry: None,
        _appender: None,
    }
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

fn run(kind: &str, work: fn(u64), threads: usize, rounds: u64, calls: u64) {
    let subjects = [
        ours(),
        ours_roomy(),
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
            times[at].push(round(&subjects[at], threads, calls, work));
            settle(&subjects[at]);
        }
    }
    let peer = subjects.iter().position(|s| s.name == PEER).unwrap();
    println!("\n{kind}, {threads} thread(s), {rounds} rounds of {calls} calls per thread");
    println!(
        "  {:18} {:>10} {:>10} {:>10}  {:>8}  dropped",
        "subject", "median", "min", "max", "ratio"
    );
    for (k, subject) in subjects.iter().enumerate() {
        let ratios = times[k].iter().zip(&times[peer]).map(|(a, b)| a / b);
        let dropped = subject
            .telemetry
            .as_ref()
            .map(|t| t.stats().dropped() - dropped_before[k]);
        let min = times[k].iter().copied().fold(f64::INFINITY, f64::min);
        let max = times[k].iter().copied().fold(0.0, f64::max);
        println!(
            "  {:18} {:>8.0}ns {:>8.0}ns {:>8.0}ns  {:>8.3}  {}",
            subject.name,
            median(times[k].clone()),
            min,
            max,
            median(ratios.collect()),
            dropped.map_or("-".to_owned(), |d| d.to_string()),
        );
    }
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
    if wanted("event") {
        for threads in [1, 2] {
            run("event", one_event, threads, rounds, calls);
        }
    }
    if wanted("span") {
        run("span cycle", one_span_cycle, 1, rounds, calls);
    }
}
