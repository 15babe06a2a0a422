//! End to end: two threads log a fixed number of events as fast as they can,
//! then the pipeline shuts down; the time covers everything until the last
//! row is delivered.
//!
//!   cargo bench --bench throughput
//!
//! Subjects, in the same run:
//! - `dry_run`: our pipeline with the `Block` policy into a discarding sink
//!   (capture, queue, batching and RowBinary encoding included);
//! - `devserver`: the same into ClickHouse (the devserver, or `CLICKHOUSE_URL`),
//!   rows counted in ClickHouse after every run: stored == emitted;
//! - `devserver_spool`: `devserver` with a disk spool configured, and memory
//!   for waiting batches above the run's 71 MB (so that only a failed or
//!   hung insert could write, not a backlog past `max_pending_bytes`),
//!   checked after every run: nothing was written to it;
//! - `devserver_drop_newest`: the default policy with a small queue,
//!   checked after every run: stored + dropped == emitted, exactly;
//! - `fmt_json_non_blocking` (the peer): `fmt().json()` into a lossless
//!   `tracing_appender::non_blocking(io::sink())`.

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tracing::{Dispatch, dispatcher};
use tracing_clickhouse::{Builder, Config, Limit, QueuePolicy, Timing};
use tracing_subscriber::prelude::*;

const THREADS: u64 = 2;

fn emit(dispatch: &Dispatch, per_thread: u64) {
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            scope.spawn(move || {
                dispatcher::with_default(dispatch, || {
                    for i in 0..per_thread {
                        tracing::info!(t, i, user = "ada", latency_ms = 12.5, "request handled");
                    }
                })
            });
        }
    });
}

fn config(url: &str, database: &str, policy: QueuePolicy, queue_capacity: usize) -> Config {
    Builder::from_env_vars::<&str, &str>([])
        .url(url)
        .and_then(|b| b.database(database))
        .and_then(|b| b.limit(Limit::QueueCapacity(queue_capacity)))
        .and_then(|b| b.timing(Timing::ShutdownTimeout(Duration::from_secs(120))))
        .unwrap()
        .queue_policy(policy)
        // Only the events measured: no system gauges, no pipeline metrics.
        .system_monitor(false)
        .pipeline_metrics(false)
        .build_config()
        .unwrap()
}

/// One run of our pipeline: (elapsed, emitted, delivered, dropped).
fn run_ours(config: Config, dry_run: bool, per_thread: u64) -> (Duration, u64, u64, u64) {
    let began = Instant::now();
    let (layer, telemetry) = config
        .into_builder()
        .create_schema(false)
        .dry_run(dry_run)
        .build()
        .unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    emit(&dispatch, per_thread);
    let report = telemetry.shutdown(Duration::from_secs(120));
    let elapsed = began.elapsed();
    assert_eq!(report.unsent_rows, 0, "{report:?}");
    let stats = report.stats;
    assert_eq!(stats.sent_rows, stats.queued, "{stats:?}");
    // With a spool configured too: ClickHouse took every insert.
    assert_eq!(stats.spooled_batches, 0, "{stats:?}");
    (
        elapsed,
        THREADS * per_thread,
        stats.sent_rows,
        stats.dropped_queue_full,
    )
}

fn count_stored(config: &Config, runtime: &tokio::runtime::Runtime) -> u64 {
    let client = common::raw_client(config);
    runtime.block_on(common::scalar(&client, "SELECT count() FROM logs"))
}

fn prepare(config: &Config, runtime: &tokio::runtime::Runtime) {
    runtime
        .block_on(tracing_clickhouse::schema::apply(config))
        .unwrap();
}

fn throughput(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = common::url();
    let mut group = c.benchmark_group("throughput");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));

    let per_thread = 500_000;
    group.throughput(Throughput::Elements(THREADS * per_thread));
    group.bench_function(BenchmarkId::from_parameter("dry_run"), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let config = config(&url, "bench_dry_run", QueuePolicy::Block, 16_384);
                    let (elapsed, emitted, sent, dropped) = run_ours(config, true, per_thread);
                    assert_eq!((sent, dropped), (emitted, 0));
                    elapsed
                })
                .sum()
        })
    });
    group.bench_function(BenchmarkId::from_parameter("fmt_json_non_blocking"), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let began = Instant::now();
                    let (writer, guard) =
                        tracing_appender::non_blocking::NonBlockingBuilder::default()
                            .lossy(false)
                            .finish(std::io::sink());
                    let layer = tracing_subscriber::fmt::layer().json().with_writer(writer);
                    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
                    emit(&dispatch, per_thread);
                    drop(guard);
                    began.elapsed()
                })
                .sum()
        })
    });

    let per_thread = 200_000;
    group.throughput(Throughput::Elements(THREADS * per_thread));
    group.bench_function(BenchmarkId::from_parameter("devserver"), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let database = common::unique_database("bench_block");
                    let config = config(&url, &database, QueuePolicy::Block, 16_384);
                    prepare(&config, &runtime);
                    let (elapsed, emitted, sent, dropped) =
                        run_ours(config.clone(), false, per_thread);
                    assert_eq!((sent, dropped), (emitted, 0));
                    assert_eq!(
                        count_stored(&config, &runtime),
                        emitted,
                        "stored == emitted"
                    );
                    elapsed
                })
                .sum()
        })
    });
    let spool = common::temp_dir("bench_spool");
    group.bench_function(BenchmarkId::from_parameter("devserver_spool"), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let database = common::unique_database("bench_spool");
                    let config = config(&url, &database, QueuePolicy::Block, 16_384);
                    let config = config
                        .into_builder()
                        .limit(Limit::PendingBytes(256 << 20))
                        .unwrap()
                        .spool_dir(spool.path())
                        .build_config()
                        .unwrap();
                    prepare(&config, &runtime);
                    let (elapsed, emitted, sent, dropped) =
                        run_ours(config.clone(), false, per_thread);
                    assert_eq!((sent, dropped), (emitted, 0));
                    assert_eq!(count_stored(&config, &runtime), emitted);
                    elapsed
                })
                .sum()
        })
    });
    // (emitted, stored) over every run, printed at the end: the share kept.
    let mut kept = (0, 0);
    group.bench_function(BenchmarkId::from_parameter("devserver_drop_newest"), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let database = common::unique_database("bench_drop");
                    let config = config(&url, &database, QueuePolicy::DropNewest, 4_096);
                    prepare(&config, &runtime);
                    let (elapsed, emitted, sent, dropped) =
                        run_ours(config.clone(), false, per_thread);
                    assert_eq!(sent + dropped, emitted, "every event stored or counted");
                    assert_eq!(count_stored(&config, &runtime), sent, "stored == accepted");
                    kept = (kept.0 + emitted, kept.1 + sent);
                    elapsed
                })
                .sum()
        })
    });
    group.finish();
    if kept.0 > 0 {
        println!(
            "devserver_drop_newest: {} of {} events stored ({:.1} %), the rest dropped and counted",
            kept.1,
            kept.0,
            100.0 * kept.1 as f64 / kept.0 as f64
        );
    }
}

criterion_group!(benches, throughput);
criterion_main!(benches);
