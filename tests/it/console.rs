//! The console: lines rendered by the pipeline from what it captured, in
//! `fmt`'s default look and in capture order, that keep coming while
//! ClickHouse is away, and that are all out when the guard is dropped.

use crate::common;

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tracing::{Level, dispatcher};
use tracing_clickhouse::{Builder, Colors, Limit, Severity};
use tracing_subscriber::prelude::*;

/// A console writer the test can read.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn get(&self) -> Vec<String> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    /// Waits until `n` lines are there (the flusher prints them).
    fn wait_for(&self, n: usize, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        loop {
            let lines = self.get();
            if lines.len() >= n || Instant::now() >= deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn dispatch_of(layer: tracing_clickhouse::ClickHouseLayer) -> tracing::Dispatch {
    tracing::Dispatch::new(tracing_subscriber::registry().with(layer))
}

/// Everything after the timestamp (`2026-12-01T07:29:16.123456Z `).
fn without_time(line: &str) -> &str {
    let (time, rest) = line.split_once(' ').unwrap();
    assert_eq!(time.len(), 27, "{line}");
    assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{line}");
    rest
}

#[test]
fn lines_look_like_fmt_and_the_rows_are_stored_too() {
    let lines = Lines::default();
    let (layer, telemetry) = common::builder("console")
        .console_writer(lines.clone())
        .console_level(Severity::Debug)
        .build()
        .unwrap();
    let dispatch = dispatch_of(layer);
    dispatcher::with_default(&dispatch, || {
        tracing::trace!("below the console's level");
        tracing::debug!(target: "app::db", rows = 3u64, "query done");
        tracing::info_span!("request", route = "/cart").in_scope(|| {
            tracing::info_span!("auth").in_scope(|| {
                tracing::warn!(user = "ada", ratio = 0.5, ok = true, "slow {}", "login");
            });
        });
        let err = std::io::Error::other("disk full");
        tracing::error!(error = &err as &dyn std::error::Error, "write failed");
    });
    telemetry.direct_recorder().collect_log(
        "billing",
        Severity::Fatal,
        "out of money",
        [("cents", 12.into())],
    );
    telemetry.flush(Duration::from_secs(30)).unwrap();
    let got = lines.get();
    let got: Vec<&str> = got.iter().map(|l| without_time(l)).collect();
    assert_eq!(
        got,
        [
            "DEBUG app::db: query done rows=3",
            format!(
                " WARN request{{route=\"/cart\"}}:auth: {}: slow login user=\"ada\" ratio=0.5 ok=true",
                module_path!()
            )
            .as_str(),
            format!("ERROR {}: write failed error=disk full", module_path!()).as_str(),
            "FATAL billing: out of money cents=12",
        ]
    );
    // The console shows what was stored: every event, the trace one too.
    let stored = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = &common::raw_client(telemetry.config());
        common::scalar(client, "SELECT count() FROM logs").await
    });
    assert_eq!(stored, 5);
}

#[test]
fn lines_come_in_capture_order_across_threads() {
    let lines = Lines::default();
    let (layer, telemetry) = common::builder("console_order")
        .console_writer(lines.clone())
        .build()
        .unwrap();
    let dispatch = dispatch_of(layer);
    // Two threads take turns: each line is captured after the other's.
    const TURNS: u64 = 200;
    let turn = (Mutex::new(0u64), Condvar::new());
    std::thread::scope(|scope| {
        for (parity, who) in [(0, "a"), (1, "b")] {
            let (dispatch, turn) = (&dispatch, &turn);
            scope.spawn(move || {
                dispatcher::with_default(dispatch, || {
                    for i in 0..TURNS {
                        let (count, changed) = turn;
                        let mut count = changed
                            .wait_while(count.lock().unwrap(), |n| *n % 2 != parity)
                            .unwrap();
                        tracing::event!(Level::INFO, i, "{who}");
                        *count += 1;
                        changed.notify_all();
                    }
                })
            });
        }
    });
    telemetry.flush(Duration::from_secs(30)).unwrap();
    let got: Vec<String> = lines
        .get()
        .iter()
        .map(|l| without_time(l).to_owned())
        .collect();
    let expected: Vec<String> = (0..TURNS)
        .flat_map(|i| ["a", "b"].map(|who| format!(" INFO {}: {who} i={i}", module_path!())))
        .collect();
    assert_eq!(got, expected);
}

/// A pipeline whose ClickHouse never answers, with little memory for
/// waiting rows (less than one batch of 100, compressed) and a queue of
/// 256, printing to `lines`.
fn unreachable_with_console(lines: &Lines) -> (tracing::Dispatch, tracing_clickhouse::Telemetry) {
    let (layer, telemetry) = common::builder_for("http://127.0.0.1:9", "unreachable")
        .limit(Limit::BatchRows(100))
        .and_then(|b| b.limit(Limit::PendingBytes(1 << 10)))
        .and_then(|b| b.limit(Limit::QueueCapacity(256)))
        .unwrap()
        .console_writer(lines.clone())
        .build()
        .unwrap();
    (dispatch_of(layer), telemetry)
}

#[test]
fn lines_keep_coming_while_clickhouse_is_down() {
    let lines = Lines::default();
    // Memory for the waiting batches fills after a few hundred rows.
    let (dispatch, telemetry) = unreachable_with_console(&lines);
    // In waves smaller than the queue, each left time to be printed: none
    // is dropped at the queue, every one reaches the console, and what the
    // pipeline could not keep is dropped and counted.
    const WAVES: u64 = 20;
    const PER_WAVE: u64 = 100;
    for wave in 0..WAVES {
        dispatcher::with_default(&dispatch, || {
            for i in 0..PER_WAVE {
                tracing::info!(n = wave * PER_WAVE + i, "during the outage");
            }
        });
        let printed = lines.wait_for(((wave + 1) * PER_WAVE) as usize, Duration::from_secs(10));
        assert_eq!(printed.len() as u64, (wave + 1) * PER_WAVE, "wave {wave}");
    }
    let last = lines.get().last().cloned().unwrap();
    assert!(
        last.ends_with(&format!("n={}", WAVES * PER_WAVE - 1)),
        "{last}"
    );
    let stats = telemetry.stats();
    assert!(stats.dropped_queue_full > 0, "memory filled: {stats:?}");
    assert_eq!(
        stats.queued + stats.dropped_queue_full,
        WAVES * PER_WAVE,
        "{stats:?}"
    );
    assert_eq!(stats.sent_rows, 0, "{stats:?}");
    let report = telemetry.shutdown(Duration::from_millis(200));
    assert_eq!(report.unsent_rows, report.stats.queued, "{report:?}");
}

#[test]
fn dropping_the_guard_prints_everything_captured() {
    let lines = Lines::default();
    let (layer, telemetry) = common::builder("console_drop")
        .console_writer(lines.clone())
        .build()
        .unwrap();
    let dispatch = dispatch_of(layer);
    dispatcher::with_default(&dispatch, || {
        for i in 0..1_000 {
            tracing::info!(i, "before the drop");
        }
    });
    drop(telemetry);
    let got = lines.get();
    assert_eq!(got.len(), 1_000);
    assert!(got[999].ends_with("i=999"), "{}", got[999]);
}

#[test]
fn colors_when_asked_and_the_level_filter() {
    let lines = Lines::default();
    let (layer, telemetry) = Builder::from_env_vars::<&str, &str>([])
        .dry_run(true)
        .system_monitor(false)
        .pipeline_metrics(false)
        .console_writer(lines.clone())
        .console_colors(Colors::Always)
        .console_level(Severity::Warn)
        .build()
        .unwrap();
    let dispatch = dispatch_of(layer);
    dispatcher::with_default(&dispatch, || {
        tracing::info!("not shown");
        tracing::warn!(target: "t", "shown");
    });
    telemetry.flush(Duration::from_secs(10)).unwrap();
    let got = lines.get();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].ends_with(" \x1b[33m WARN\x1b[0m \x1b[2mt\x1b[0m\x1b[2m:\x1b[0m shown"),
        "{:?}",
        got[0]
    );
    assert_eq!(telemetry.stats().sent_rows, 2, "both stored");
}

/// `install()`'s console on stderr, seen from outside: plain when piped.
#[test]
fn installed_console_on_a_pipe_is_plain() {
    if std::env::var_os("TC_CONSOLE_CHILD").is_some() {
        let telemetry = Builder::from_env_vars([("RUST_LOG", "info")])
            .dry_run(true)
            .system_monitor(false)
            .pipeline_metrics(false)
            .install()
            .unwrap();
        tracing::warn!(target: "child", answer = 42, "from the child");
        drop(telemetry);
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &common::test_name(module_path!(), "installed_console_on_a_pipe_is_plain"),
            "--nocapture",
        ])
        .env("TC_CONSOLE_CHILD", "1")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    let line = stderr
        .lines()
        .find(|l| l.contains("from the child"))
        .unwrap_or_else(|| panic!("no console line in {stderr:?}"));
    assert_eq!(without_time(line), " WARN child: from the child answer=42");
}

/// A console writer that panics on its first write.
struct Panicking;

impl Write for Panicking {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        panic!("the console writer panics");
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_panicking_console_writer_stops_the_console_not_the_rows() {
    let (layer, telemetry) = common::builder("console_panics")
        .console_writer(Panicking)
        .build()
        .unwrap();
    let dispatch = dispatch_of(layer);
    for wave in 0..3 {
        dispatcher::with_default(&dispatch, || {
            for i in 0..100 {
                tracing::info!(wave, i, "rows go on");
            }
        });
        telemetry.flush(Duration::from_secs(30)).unwrap();
    }
    let stats = telemetry.stats();
    assert_eq!(stats.sent_rows, 300, "{stats:?}");
    // The writer printed nothing: every line is counted as dropped, those
    // handed over before the panic was seen too.
    assert_eq!(stats.console_lines_dropped, 300, "{stats:?}");
}

/// A console writer that blocks until the test lets it go, as a pipe
/// nobody reads does.
#[derive(Clone, Default)]
struct Stuck(Arc<(Mutex<bool>, Condvar)>);

impl Stuck {
    fn release(&self) {
        *self.0.0.lock().unwrap() = true;
        self.0.1.notify_all();
    }
}

impl Write for Stuck {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let (released, wake) = &*self.0;
        let _held = wake
            .wait_while(released.lock().unwrap(), |released| !*released)
            .unwrap();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_stuck_console_does_not_hold_up_delivery() {
    let stuck = Stuck::default();
    let (layer, telemetry) = common::builder("console_stuck")
        .console_writer(stuck.clone())
        .build()
        .unwrap();
    let dispatch = dispatch_of(layer);
    let began = Instant::now();
    for wave in 0..30 {
        dispatcher::with_default(&dispatch, || {
            for i in 0..100 {
                tracing::info!(wave, i, "the terminal is stuck");
            }
        });
        telemetry.flush(Duration::from_secs(30)).unwrap();
    }
    let stats = telemetry.stats();
    assert_eq!(stats.sent_rows, 3_000, "{stats:?}");
    assert!(stats.console_lines_dropped > 0, "{stats:?}");
    assert!(
        began.elapsed() < Duration::from_secs(20),
        "{:?}",
        began.elapsed()
    );
    // A writer stuck at shutdown is left behind after the deadline.
    let began = Instant::now();
    let report = telemetry.shutdown(Duration::from_millis(500));
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(report.unsent_rows, 0, "{report:?}");
    stuck.release();
}

#[test]
fn lines_keep_coming_during_a_flush_while_clickhouse_is_down() {
    let lines = Lines::default();
    let (dispatch, telemetry) = unreachable_with_console(&lines);
    // Rows that cannot be delivered: the flush waits for them until its
    // deadline, and meanwhile memory is full.
    for wave in 0..2 {
        dispatcher::with_default(&dispatch, || {
            for i in 0..150 {
                tracing::info!(i, "before the flush");
            }
        });
        let printed = lines.wait_for(150 * (wave + 1), Duration::from_secs(5));
        assert_eq!(printed.len(), 150 * (wave + 1));
    }
    assert!(telemetry.stats().dropped_queue_full > 0, "memory is full");
    std::thread::scope(|scope| {
        let flushing = scope.spawn(|| telemetry.flush(Duration::from_secs(3)));
        std::thread::sleep(Duration::from_millis(200));
        for i in 0..500 {
            dispatcher::with_default(&dispatch, || tracing::info!(i, "while flushing"));
            if i % 50 == 49 {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let printed = lines.wait_for(800, Duration::from_secs(2));
        assert_eq!(printed.len(), 800, "printed during the flush");
        assert!(printed[799].ends_with("i=499"), "{}", printed[799]);
        assert!(
            flushing.join().unwrap().is_err(),
            "nothing can be acknowledged"
        );
    });
}

/// `install()` sets nothing when it cannot set everything: with a `metrics`
/// recorder already installed it fails, and leaves the subscriber free.
#[cfg(feature = "metrics")]
#[test]
fn install_sets_nothing_when_a_recorder_is_already_set() {
    if std::env::var_os("TC_INSTALL_CHILD").is_some() {
        metrics::set_global_recorder(metrics::NoopRecorder).unwrap();
        let builder = || {
            Builder::from_env_vars::<&str, &str>([])
                .dry_run(true)
                .system_monitor(false)
                .pipeline_metrics(false)
        };
        let error = builder().install().unwrap_err();
        assert!(
            matches!(error, tracing_clickhouse::Error::RecorderAlreadySet),
            "{error}"
        );
        assert!(
            !tracing::dispatcher::has_been_set(),
            "no subscriber left behind"
        );
        let telemetry = builder().global_metrics(false).install().unwrap();
        assert!(tracing::dispatcher::has_been_set());
        drop(telemetry);
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &common::test_name(
                module_path!(),
                "install_sets_nothing_when_a_recorder_is_already_set",
            ),
            "--nocapture",
        ])
        .env("TC_INSTALL_CHILD", "1")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
}
