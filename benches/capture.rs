//! Cost on the application thread: one `info!` with a message and three
//! fields, and one span cycle, under our layer and under the usual
//! alternatives, measured in the same run.
//!
//!   cargo bench --bench capture
//!
//! Peers: `fmt().json()` and `fmt()` text writing to
//! `tracing_appender::non_blocking(io::sink())`, and the registry alone (the
//! floor). Our layer runs a dry-run pipeline (encode, then discard), so no
//! server is involved; its flusher competes for the CPU like the appender's
//! worker does.
//!
//! Events are emitted in chunks; between chunks (outside the timing) our
//! queue is flushed and the appender's worker gets a moment, so every
//! measured event takes the normal path and none is dropped for a full
//! queue.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use tracing::{Dispatch, dispatcher};
use tracing_clickhouse::{Builder, Telemetry};
use tracing_subscriber::prelude::*;

/// Events per timed chunk; below our queue's wake-up mark and the appender's buffer.
const CHUNK: u64 = 4_096;

struct Subject {
    dispatch: Dispatch,
    /// Our guard, to drain the queue between chunks.
    telemetry: Option<Telemetry>,
    /// The appender's guard, kept alive for the run.
    _appender: Option<tracing_appender::non_blocking::WorkerGuard>,
}

impl Subject {
    fn between_chunks(&self) {
        match &self.telemetry {
            Some(telemetry) => telemetry.flush(Duration::from_secs(10)).unwrap(),
            None => std::thread::sleep(Duration::from_micros(200)),
        }
    }
}

fn ours() -> Subject {
    let (layer, telemetry) = Builder::from_env_vars::<&str, &str>([])
        .url("http://127.0.0.1:9")
        .and_then(|b| b.queue_capacity(65_536))
        .unwrap()
        // Only the events measured: no system gauges, no pipeline metrics.
        .quiet()
        .dry_run(true)
        .build()
        .unwrap();
    Subject {
        dispatch: Dispatch::new(tracing_subscriber::registry().with(layer)),
        telemetry: Some(telemetry),
        _appender: None,
    }
}

fn fmt_json() -> Subject {
    let (writer, guard) = tracing_appender::non_blocking(std::io::sink());
    let layer = tracing_subscriber::fmt::layer().json().with_writer(writer);
    Subject {
        dispatch: Dispatch::new(tracing_subscriber::registry().with(layer)),
        telemetry: None,
        _appender: Some(guard),
    }
}

fn fmt_text() -> Subject {
    let (writer, guard) = tracing_appender::non_blocking(std::io::sink());
    let layer = tracing_subscriber::fmt::layer().with_writer(writer);
    Subject {
        dispatch: Dispatch::new(tracing_subscriber::registry().with(layer)),
        telemetry: None,
        _appender: Some(guard),
    }
}

fn registry_only() -> Subject {
    Subject {
        dispatch: Dispatch::new(tracing_subscriber::registry()),
        telemetry: None,
        _appender: None,
    }
}

/// A subject's name in the report, and how to set it up.
type NamedSubject = (&'static str, fn() -> Subject);

const SUBJECTS: [NamedSubject; 4] = [
    ("clickhouse_layer", ours),
    ("fmt_json_non_blocking", fmt_json),
    ("fmt_text_non_blocking", fmt_text),
    ("registry_only", registry_only),
];

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

/// Time for `iters` calls of `work` on each of `threads` threads: the
/// threads live for the whole sample; each chunk starts together and is
/// timed by the slowest thread; between chunks the subject catches up.
fn measure(subject: &Subject, threads: usize, iters: u64, work: fn(u64)) -> Duration {
    let chunks = iters.div_ceil(CHUNK);
    let start = Barrier::new(threads + 1);
    let end = Barrier::new(threads + 1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    dispatcher::with_default(&subject.dispatch, || {
                        let mut spent = Vec::with_capacity(chunks as usize);
                        for chunk in 0..chunks {
                            let n = CHUNK.min(iters - chunk * CHUNK);
                            start.wait();
                            let began = Instant::now();
                            for i in 0..n {
                                work(i);
                            }
                            spent.push(began.elapsed());
                            end.wait();
                        }
                        spent
                    })
                })
            })
            .collect();
        for _ in 0..chunks {
            start.wait();
            end.wait();
            subject.between_chunks();
        }
        let spent: Vec<Vec<Duration>> = workers.into_iter().map(|w| w.join().unwrap()).collect();
        (0..chunks as usize)
            .map(|chunk| spent.iter().map(|s| s[chunk]).max().unwrap_or_default())
            .sum()
    })
}

fn event_cost(c: &mut Criterion) {
    for threads in [1, 2] {
        let mut group = c.benchmark_group(format!("event/{threads}_thread"));
        group.measurement_time(Duration::from_secs(4));
        for (name, make) in SUBJECTS {
            let subject = make();
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_custom(|iters| measure(&subject, threads, iters, one_event))
            });
            if let Some(telemetry) = &subject.telemetry {
                let stats = telemetry.stats();
                assert_eq!(stats.dropped(), 0, "no event may be dropped: {stats:?}");
            }
        }
        group.finish();
    }
}

fn span_cost(c: &mut Criterion) {
    let mut group = c.benchmark_group("span_cycle");
    group.measurement_time(Duration::from_secs(4));
    for (name, make) in SUBJECTS {
        let subject = make();
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_custom(|iters| measure(&subject, 1, iters, one_span_cycle))
        });
    }
    group.finish();
}

criterion_group!(benches, event_cost, span_cost);
criterion_main!(benches);
