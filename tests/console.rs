//! The console: lines rendered by the pipeline from what it captured, in
//! `fmt`'s default look and in capture order, that keep coming while
//! ClickHouse is away, and that are all out when the guard is dropped.

mod common;

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tracing::{Level, dispatcher};
use tracing_clickhouse::{Builder, Colors, PipelineConfig, Severity};
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
    telemetry.collector().collect_log(
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
            " WARN request{route=\"/cart\"}:auth: console: slow login user=\"ada\" ratio=0.5 ok=true",
            "ERROR console: write failed error=disk full",
            "FATAL billing: out of money cents=12",
        ]
    );
    // The console shows what was stored: every event, the trace one too.
    let stored = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = telemetry.query().client();
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
        .flat_map(|i| ["a", "b"].map(|who| format!(" INFO console: {who} i={i}")))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn lines_keep_coming_while_clickhouse_is_down() {
    let lines = Lines::default();
    let mut pipeline = PipelineConfig::default();
    // Memory for the waiting batches fills after a few hundred rows.
    pipeline.batch_max_rows = 100;
    pipeline.max_pending_bytes = 16 << 10;
    pipeline.queue_capacity = 256;
    let (layer, telemetry) = common::builder_for("http://127.0.0.1:9", "unreachable")
        .pipeline(pipeline)
        .unwrap()
        .console_writer(lines.clone())
        .build()
        .unwrap();
    let dispatch = dispatch_of(layer);
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
        .quiet()
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
            .quiet()
            .install()
            .unwrap();
        tracing::warn!(target: "child", answer = 42, "from the child");
        drop(telemetry);
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "installed_console_on_a_pipe_is_plain",
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
