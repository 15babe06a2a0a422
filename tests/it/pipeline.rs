//! The queue and the flusher: exact accounting under both policies and both
//! bounds, shutdown drains everything, and the pipeline works from plain
//! threads and inside tokio runtimes of either flavor.

use crate::common;

use std::time::Duration;

use crate::common::scalar;
use crate::common::start;
use tracing::{Dispatch, dispatcher};
use tracing_clickhouse::{Builder, Config, ConfigError, Limit, QueuePolicy, Timing};
use tracing_subscriber::prelude::*;

const FLUSH: Duration = Duration::from_secs(60);

/// The shared server, a fresh database, and these limits (with a long shutdown).
fn config(prefix: &str, set: impl FnOnce(Builder) -> Set) -> Config {
    common::builder(prefix)
        .timing(Timing::ShutdownTimeout(FLUSH))
        .and_then(set)
        .and_then(Builder::build_config)
        .unwrap()
}

/// What a test changes in the builder.
type Set = Result<Builder, ConfigError>;

fn defaults(builder: Builder) -> Set {
    Ok(builder)
}

/// `threads` threads each emit `per_thread` numbered events as fast as they can.
fn flood(dispatch: &Dispatch, threads: u64, per_thread: u64, message: &str) {
    std::thread::scope(|scope| {
        for t in 0..threads {
            scope.spawn(move || {
                dispatcher::with_default(dispatch, || {
                    for i in 0..per_thread {
                        tracing::info!(t, i, "{message}");
                    }
                })
            });
        }
    });
}

async fn stored(config: &Config) -> (u64, u64) {
    let client = common::raw_client(config);
    let count = scalar(&client, "SELECT count() FROM logs").await;
    let distinct = scalar(
        &client,
        "SELECT uniqExact(LogAttributes['t'], LogAttributes['i']) FROM logs",
    )
    .await;
    (count, distinct)
}

#[tokio::test(flavor = "multi_thread")]
async fn block_policy_stores_every_event_through_a_tiny_queue() {
    let config = config("block", |b| {
        b.limit(Limit::QueueCapacity(64))?
            .queue_policy(QueuePolicy::Block)
            .limit(Limit::BatchRows(5_000))
    });
    let (dispatch, telemetry) = start(config.clone());
    tokio::task::spawn_blocking(move || {
        flood(&dispatch, 2, 20_000, "blocked but kept");
        telemetry.flush(FLUSH).unwrap();
        let stats = telemetry.stats();
        assert_eq!(stats.dropped(), 0, "{stats:?}");
        assert_eq!(stats.sent_rows, 40_000, "{stats:?}");
    })
    .await
    .unwrap();
    assert_eq!(stored(&config).await, (40_000, 40_000));
}

#[tokio::test(flavor = "multi_thread")]
async fn drop_newest_counts_every_dropped_event_exactly() {
    let config = config("drop", |b| b.limit(Limit::QueueCapacity(16)));
    let (dispatch, telemetry) = start(config.clone());
    let stats = tokio::task::spawn_blocking(move || {
        flood(&dispatch, 2, 50_000, "maybe dropped");
        telemetry.flush(FLUSH).unwrap();
        telemetry.stats()
    })
    .await
    .unwrap();
    assert!(
        stats.dropped_queue_full > 0,
        "a 16-record queue must overflow: {stats:?}"
    );
    assert_eq!(
        stats.queued + stats.dropped_queue_full,
        100_000,
        "{stats:?}"
    );
    assert_eq!(stats.sent_rows, stats.queued, "{stats:?}");
    assert_eq!(stored(&config).await, (stats.queued, stats.queued));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_byte_bound_holds_with_few_large_records() {
    let config = config("bytes", |b| {
        b.limit(Limit::QueueCapacity(10_000))?
            .limit(Limit::QueueBytes(64 << 10))
    });
    let (dispatch, telemetry) = start(config.clone());
    let stats = tokio::task::spawn_blocking(move || {
        let message = "m".repeat(8 << 10);
        flood(&dispatch, 2, 2_000, &message);
        let during = telemetry.stats();
        telemetry.flush(FLUSH).unwrap();
        (during, telemetry.stats())
    })
    .await
    .unwrap();
    let (during, after) = stats;
    assert!(
        during.queue_bytes <= 80 << 10,
        "about 64 KiB at most: {during:?}"
    );
    assert!(
        after.dropped_queue_full > 0,
        "8 KiB records overflow 64 KiB: {after:?}"
    );
    assert_eq!(after.queued + after.dropped_queue_full, 4_000, "{after:?}");
    assert_eq!(stored(&config).await.0, after.queued);
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_delivers_everything_queued_and_says_so() {
    let config = config("shutdown", |b| {
        // Nothing is sent before shutdown asks for it.
        let b = b.timing(Timing::FlushInterval(Duration::from_secs(3600)))?;
        Ok(b.queue_policy(QueuePolicy::Block))
    });
    let (dispatch, telemetry) = start(config.clone());
    let report = tokio::task::spawn_blocking(move || {
        flood(&dispatch, 1, 30_000, "drained at shutdown");
        telemetry.shutdown(FLUSH)
    })
    .await
    .unwrap();
    assert_eq!(report.unsent_rows, 0, "{report:?}");
    assert_eq!(report.error, None);
    assert_eq!(stored(&config).await, (30_000, 30_000));
}

#[test]
fn works_from_a_plain_main_without_any_runtime() {
    let config = config("plain", defaults);
    let (dispatch, telemetry) = start(config.clone());
    dispatcher::with_default(&dispatch, || tracing::info!("no runtime here"));
    drop(telemetry);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    assert_eq!(runtime.block_on(stored(&config)).0, 1);
}

#[test]
fn works_inside_a_current_thread_runtime() {
    let config = config("current_thread", defaults);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // Built, used and dropped inside the runtime: no nested-runtime panic,
        // and the guard's blocking flush does not need this runtime to run.
        let (dispatch, telemetry) = start(config.clone());
        dispatcher::with_default(&dispatch, || {
            tracing::info!("inside a current-thread runtime")
        });
        telemetry.flush(FLUSH).unwrap();
        drop(telemetry);
        assert_eq!(stored(&config).await.0, 1);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_inside_a_multi_thread_runtime() {
    let config = config("multi_thread", defaults);
    let (dispatch, telemetry) = start(config.clone());
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let dispatch = dispatch.clone();
            tokio::spawn(async move {
                for i in 0..100 {
                    dispatcher::with_default(&dispatch, || tracing::info!(task, i, "from a task"));
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    drop(telemetry);
    assert_eq!(stored(&config).await.0, 800);
}

/// Nothing listens on the discard port: every insert is refused.
fn unreachable(set: impl FnOnce(Builder) -> Set) -> Config {
    set(common::builder_for("http://127.0.0.1:9", "unreachable"))
        .and_then(Builder::build_config)
        .unwrap()
}

#[test]
fn with_block_a_full_delivery_holds_the_application_back_and_nothing_goes_missing() {
    let config = unreachable(|b| {
        b.limit(Limit::QueueCapacity(64))?
            .queue_policy(QueuePolicy::Block)
            .limit(Limit::BatchRows(100))?
            .limit(Limit::PendingBytes(8 << 10))
    });
    let (layer, telemetry) = config.into_builder().build().unwrap();
    let counters = layer.clone();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let report = std::thread::scope(|scope| {
        let producer = scope.spawn(|| {
            dispatcher::with_default(&dispatch, || {
                for i in 0..100_000u64 {
                    tracing::info!(i, "waits for room");
                }
            })
        });
        std::thread::sleep(Duration::from_millis(500));
        let stats = telemetry.stats();
        assert!(
            stats.queued < 100_000,
            "the producer must be held back: {stats:?}"
        );
        assert_eq!((stats.sent_rows, stats.dropped()), (0, 0), "{stats:?}");
        // Shutting down releases the producer: the rest is refused at the queue.
        let report = telemetry.shutdown(Duration::from_millis(200));
        producer.join().unwrap();
        report
    });
    assert_eq!(report.unsent_rows, report.stats.queued, "{report:?}");
    assert!(report.error.is_some_and(|e| e.contains("not acknowledged")));
    let stats = counters.stats();
    assert_eq!(stats.sent_rows, 0);
    assert_eq!(stats.dropped_unsent, stats.queued, "{stats:?}");
    assert_eq!(
        stats.queued + stats.dropped_after_shutdown,
        100_000,
        "{stats:?}"
    );
}

#[test]
fn with_drop_newest_an_unreachable_server_costs_only_counted_events() {
    let config = unreachable(|b| {
        b.limit(Limit::QueueCapacity(64))?
            .limit(Limit::BatchRows(100))?
            .limit(Limit::PendingBytes(8 << 10))
    });
    let (dispatch, telemetry) = start(config);
    dispatcher::with_default(&dispatch, || {
        for i in 0..100_000u64 {
            tracing::info!(i, "dropped or kept, always counted");
        }
    });
    let report = telemetry.shutdown(Duration::from_millis(200));
    let stats = report.stats;
    assert!(stats.dropped_queue_full > 0, "{stats:?}");
    assert_eq!(
        stats.queued + stats.dropped_queue_full,
        100_000,
        "{stats:?}"
    );
    assert_eq!(
        (stats.sent_rows, stats.dropped_unsent),
        (0, stats.queued),
        "{stats:?}"
    );
    assert_eq!(report.unsent_rows, stats.queued);
}

/// The scheduling policy (`/proc/self/task/TID/stat`, field 41) of each of
/// this process's threads whose name starts with `prefix`.
#[cfg(target_os = "linux")]
fn policies(prefix: &str) -> Vec<(String, u32)> {
    let mut found = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = task.unwrap().path();
        let (Ok(comm), Ok(stat)) = (
            std::fs::read_to_string(path.join("comm")),
            std::fs::read_to_string(path.join("stat")),
        ) else {
            continue; // the thread ended meanwhile
        };
        if !comm.starts_with(prefix) {
            continue;
        }
        // Fields after the name's closing parenthesis start at field 3.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        found.push((comm.trim().to_owned(), fields[41 - 3].parse().unwrap()));
    }
    found
}

/// The crate's own threads run `SCHED_BATCH` (3): waking them never
/// preempts the application's threads.
#[cfg(target_os = "linux")]
#[test]
fn the_crates_threads_never_preempt_the_application() {
    let (layer, telemetry) = Builder::from_env_vars::<&str, &str>([])
        .dry_run(true)
        .console(true)
        .build()
        .unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    dispatcher::with_default(&dispatch, || tracing::info!("wakes the console"));
    telemetry.flush(Duration::from_secs(10)).unwrap();
    // Threads named "tracing-clickhouse-…" (15 characters of it).
    let ours = policies("tracing-clickho");
    // The flusher, delivery's worker, the console's writer (and the
    // monitor, with its feature).
    assert!(ours.len() >= 3, "{ours:?}");
    assert!(ours.iter().all(|(_, policy)| *policy == 3), "{ours:?}");
    // The test's own thread is left as it was (SCHED_OTHER).
    assert!(policies("the_crates_thre").iter().all(|(_, p)| *p == 0));
    drop(telemetry);
}
