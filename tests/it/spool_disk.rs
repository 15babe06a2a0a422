//! The spool when it cannot keep everything: a 2 MB filesystem under it
//! (a tmpfs mounted here: these tests need root, as CI's `make test` has,
//! and fail saying so without it) while ClickHouse is down, and a spool at
//! its `max_bytes` during a flush. Every event ends exactly once stored,
//! in the spool, or counted dropped; what fits is kept; the cause is named.

use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{DevServer, Options, free_port, scalar};
use tokio::sync::{Mutex, MutexGuard};
use tracing_clickhouse::{
    Builder, Config, DirectRecorder, Error, Limit, QueuePolicy, Severity, ShutdownReport,
    SpoolFull, SpoolSync, Stats, Telemetry, Timing, Value,
};

/// A tmpfs of `size`, unmounted when dropped. One test at a time: a
/// process forked by another test (a devserver, mount) holds this one's
/// descriptors until its `exec`, and with them the space of a file deleted
/// meanwhile.
struct SmallDisk {
    dir: tempfile::TempDir,
    _one_at_a_time: MutexGuard<'static, ()>,
}

static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

async fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().await
}

impl SmallDisk {
    fn mount(size: &str, guard: MutexGuard<'static, ()>) -> SmallDisk {
        let dir = common::temp_dir("small_disk");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "cannot mount a {size} tmpfs at {:?} (these tests need root, as CI's `make test` \
             has): {}",
            dir.path(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        SmallDisk {
            dir,
            _one_at_a_time: guard,
        }
    }

    fn spool(&self) -> PathBuf {
        self.dir.path().join("spool")
    }

    /// A file taking all the space but about `leave` bytes.
    fn fill(&self, leave: u64) -> PathBuf {
        let path = self.dir.path().join("filler");
        let mut filler = std::fs::File::create(&path).unwrap();
        while filler.write_all(&[0u8; 4096]).is_ok() {}
        let len = filler.metadata().unwrap().len();
        filler.set_len(len.saturating_sub(leave)).unwrap();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Fast flushes and retries, `Block`, batches of `batch_rows`, and the
/// spool in `spool` (never synced, the oldest segment dropped when full)
/// within these limits.
fn config(url: &str, database: &str, spool: &Path, batch_rows: usize, limits: &[Limit]) -> Config {
    let builder = common::builder_for(url, database)
        .service_name("tc-spool-full")
        .queue_policy(QueuePolicy::Block)
        .spool_dir(spool)
        .spool_sync(SpoolSync::Never)
        .spool_full(SpoolFull::DropOldest);
    let timings = [
        Timing::FlushInterval(Duration::from_millis(100)),
        Timing::MaxRetryBackoff(Duration::from_millis(500)),
        Timing::ShutdownTimeout(Duration::from_secs(30)),
    ];
    let builder = timings.into_iter().try_fold(builder, Builder::timing);
    let mut limits = limits.iter().copied().chain([Limit::BatchRows(batch_rows)]);
    builder
        .and_then(|b| limits.try_fold(b, Builder::limit))
        .and_then(Builder::build_config)
        .unwrap()
}

fn start(config: &Config) -> Telemetry {
    config.clone().into_builder().build().unwrap().1
}

/// Emits events numbered `from..to`, each with `text`.
fn emit(collector: &DirectRecorder, from: u64, to: u64, text: &str) {
    for n in from..to {
        collector.collect_log("spool", Severity::Info, text, [("n", Value::from(n))]);
    }
}

const TEXT: &str = "numbered event, with a few words to fill the disk";

/// Waits until `done` holds, or fails after 30 s.
fn wait_for(telemetry: &Telemetry, done: impl Fn(&Stats) -> bool) {
    let start = Instant::now();
    while !done(&telemetry.stats()) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{:?}",
            telemetry.stats()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// With ClickHouse up on `port`, a new run delivers the spool; returns the
/// rows stored, their distinct numbers, and the highest number.
async fn replay(port: u16, config: &Config) -> (u64, u64, u64) {
    let _server = DevServer::start(Options {
        port,
        ..Options::default()
    });
    let telemetry = start(config);
    let at_start = telemetry.stats();
    assert_eq!(at_start.spool_corrupt_bytes, 0, "{at_start:?}");
    telemetry.flush(Duration::from_secs(60)).unwrap();
    let client = common::raw_client(config);
    let client = &client;
    (
        scalar(client, "SELECT count() FROM logs").await,
        scalar(client, "SELECT uniqExact(LogAttributes['n']) FROM logs").await,
        scalar(client, "SELECT max(toUInt64(LogAttributes['n'])) FROM logs").await,
    )
}

/// Every event is in the spool or counted dropped (for the spool's full
/// disk), once; and the report says the disk is full.
fn check_exact(report: &ShutdownReport, emitted: u64) {
    let stats = &report.stats;
    println!(
        "emitted {emitted}: spooled {}, dropped {} ({} for the full disk), error {:?}",
        report.spooled_rows,
        stats.dropped(),
        stats.dropped_spool_full,
        report.error
    );
    assert_eq!(stats.sent_rows, 0);
    assert_eq!(report.spooled_rows + stats.dropped(), emitted, "{report:?}");
    assert_eq!(stats.dropped_spool_full, report.unsent_rows, "{report:?}");
    let error = report.error.as_deref().unwrap_or_default();
    assert!(
        error.starts_with("the spool's disk is full (No space left on device"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_keeps_what_fits_and_counts_the_rest() {
    // Batches larger than the disk (the default 50,000 rows), and small ones.
    for batch_rows in [50_000, 1_000] {
        let disk = SmallDisk::mount("2m", one_at_a_time().await);
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let database = common::unique_database("disk_full");
        let config = config(&url, &database, &disk.spool(), batch_rows, &[]);
        let telemetry = start(&config);
        emit(&telemetry.direct_recorder(), 0, 60_000, TEXT);
        let report = telemetry.shutdown(Duration::from_secs(1));
        check_exact(&report, 60_000);
        let spooled = report.spooled_rows;
        assert!(spooled > 10_000, "{report:?}");
        // Part of a batch was kept: what fit of the one the disk filled on.
        assert_ne!(spooled % batch_rows as u64, 0, "{report:?}");

        let stored = replay(port, &config).await;
        assert_eq!(
            stored,
            (spooled, spooled, spooled - 1),
            "the oldest, once each"
        );
        println!(
            "| 2 MB disk, batches of {batch_rows} rows | 60000 | {spooled} | {} |",
            report.stats.dropped_spool_full
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn space_freed_during_an_outage_is_used_and_nothing_is_damaged() {
    let disk = SmallDisk::mount("2m", one_at_a_time().await);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let database = common::unique_database("disk_freed");
    let config = config(&url, &database, &disk.spool(), 1_000, &[]);
    // Room for about 2,400 events; 10,000 take 1.7 MB.
    let filler = disk.fill(400 << 10);
    let telemetry = start(&config);
    let collector = telemetry.direct_recorder();
    emit(&collector, 0, 5_000, TEXT);
    wait_for(&telemetry, |s| {
        s.spool_errors > 0 && s.pending_rows == 5_000
    });
    let full = telemetry.stats();
    assert!(full.spool_rows > 0 && full.spool_rows < 5_000, "{full:?}");
    // Room again: what waited in memory goes to disk, behind what is there.
    std::fs::remove_file(filler).unwrap();
    emit(&collector, 5_000, 10_000, TEXT);
    wait_for(&telemetry, |s| s.spool_rows == 10_000);
    let report = telemetry.shutdown(Duration::from_secs(1));
    assert_eq!(report.spooled_rows, 10_000, "{report:?}");
    assert_eq!(report.stats.dropped(), 0, "{report:?}");

    let stored = replay(port, &config).await;
    assert_eq!(stored, (10_000, 10_000, 9_999));
    println!(
        "| 2 MB disk full ({} rows kept in memory), then freed | 10000 | 10000 | 0 |",
        full.pending_rows - full.spool_rows
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flush_ends_when_the_spool_drops_the_rows_it_waits_for() {
    let _one_at_a_time = one_at_a_time().await;
    let spool = common::temp_dir("flush_dropped");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let database = common::unique_database("flush_dropped");
    let config = config(
        &url,
        &database,
        spool.path(),
        100,
        // The short events take about 270 KB of it, the long ones 600 KB.
        &[
            Limit::SpoolBytes(384 << 10),
            Limit::SpoolSegmentBytes(32 << 10),
        ],
    );
    let telemetry = start(&config);
    let collector = telemetry.direct_recorder();
    // ClickHouse is down: 2,000 short events wait in the spool.
    emit(&collector, 0, 2_000, "short");
    wait_for(&telemetry, |s| s.spool_rows == 2_000);
    let long = "x".repeat(4_000);
    let flushed = std::thread::scope(|scope| {
        let flush = scope.spawn(|| {
            let started = Instant::now();
            (telemetry.flush(Duration::from_secs(20)), started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(300));
        // Fewer rows, more bytes than the spool holds: the oldest go, the
        // rows the flush waits for among them.
        emit(&collector, 2_000, 2_150, &long);
        flush.join().unwrap()
    });
    let (result, took) = flushed;
    assert!(matches!(result, Err(Error::Dropped { .. })), "{result:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");

    let _server = DevServer::start(Options {
        port,
        ..Options::default()
    });
    let report = telemetry.shutdown(Duration::from_secs(30));
    assert_eq!(report.unsent_rows, 0, "{report:?}");
    let dropped = report.stats.dropped_spool_full;
    assert!(dropped >= 2_000, "{report:?}");
    let client = common::raw_client(&config);
    let stored = scalar(&client, "SELECT count() FROM logs").await;
    assert_eq!(stored + dropped, 2_150, "{report:?}");
    println!(
        "| a flush's rows dropped by the spool cap: it ended in {took:?} | 2150 | {stored} | {dropped} |"
    );
}
