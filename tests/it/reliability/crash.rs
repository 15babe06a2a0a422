//! Crashes of the application itself.
//!
//! The application is a child process, this test binary run again on
//! `crash_child` (ignored in ordinary runs), SIGKILLed by the scenario. It
//! emits numbered events at a pace and prints its counters every 20 ms; what
//! it printed last before the kill gives the rows it had made safe (acknowledged
//! by ClickHouse or written to the spool), which must all be stored, once.

use std::path::Path;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::*;

/// Events per second the child emits in the scenarios.
const CHILD_RATE: u64 = 5_000;

/// The pipeline of the crash scenarios: batches of `batch_max_rows` while
/// ClickHouse takes them, sealed every 250 ms during an outage; or, with 0
/// rows, every default but the spool (the measurement of issue 16).
pub(super) fn crash_config(
    url: &str,
    database: &str,
    spool: &Path,
    batch_max_rows: usize,
) -> Config {
    if batch_max_rows == 0 {
        // The pipeline's defaults.
        let defaults = Pipeline {
            policy: QueuePolicy::DropNewest,
            limits: Vec::new(),
            timings: vec![
                Timing::FlushInterval(Duration::from_secs(1)),
                Timing::ShutdownTimeout(Duration::from_secs(10)),
            ],
        };
        return config(url, database, defaults, Some(spool));
    }
    let pipeline = pipeline_with(
        &[Limit::BatchRows(batch_max_rows)],
        &[
            Timing::FlushInterval(Duration::from_secs(10)),
            Timing::OutageFlushInterval(Duration::from_millis(250)),
            Timing::InsertTimeout(Duration::from_secs(30)),
        ],
    );
    config(url, database, pipeline, Some(spool))
}

/// The process the crash scenarios start and SIGKILL (see above); it exits
/// when its parent closes its stdin, and after two minutes at the latest.
#[test]
#[ignore = "the application the crash scenarios run and kill, not a test by itself"]
fn crash_child() {
    use std::io::Read;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| panic!("{name} unset: run by the crash scenarios"))
    };
    let number = |name: &str| var(name).parse::<u64>().unwrap();
    let config = crash_config(
        &var("TC_CRASH_URL"),
        &var("TC_CRASH_DATABASE"),
        Path::new(&var("TC_CRASH_SPOOL")),
        number("TC_CRASH_BATCH_ROWS") as usize,
    );
    let (from, count) = (number("TC_CRASH_FROM"), number("TC_CRASH_COUNT"));
    let rate = number("TC_CRASH_RATE");
    std::thread::spawn(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        std::process::exit(3);
    });
    let telemetry = start(&config);
    let collector = telemetry.direct_recorder();
    let emitted = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&emitted);
    std::thread::spawn(move || {
        let began = Instant::now();
        for i in 0..count {
            emit(&collector, from + i, from + i + 1);
            counter.store(i + 1, Relaxed);
            let due = began + Duration::from_secs_f64((i + 1) as f64 / rate as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    });
    let began = Instant::now();
    while began.elapsed() < Duration::from_secs(120) {
        // The counters first, then the count emitted: a row counted as safe
        // was emitted before the count printed with it.
        let s = telemetry.stats();
        let spool_rows = telemetry.stats().spool_rows;
        println!(
            "CHILD emitted={} sent={} replayed={} spooled={} spool_rows={}",
            emitted.load(Relaxed),
            s.sent_rows,
            s.replayed_rows,
            s.spooled_rows,
            spool_rows
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::process::exit(4);
}

/// One line of the child's counters.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ChildLine {
    pub(super) emitted: u64,
    sent: u64,
    replayed: u64,
    spooled: u64,
    spool_rows: u64,
}

impl ChildLine {
    fn parse(line: &str) -> Option<ChildLine> {
        let mut values = line.strip_prefix("CHILD ")?.split(' ').map(|field| {
            let (_, value) = field.split_once('=')?;
            value.trim().parse::<u64>().ok()
        });
        let mut next = || values.next().flatten();
        Some(ChildLine {
            emitted: next()?,
            sent: next()?,
            replayed: next()?,
            spooled: next()?,
            spool_rows: next()?,
        })
    }

    /// The rows of the child's own that it had made safe (acknowledged, or
    /// in the spool), when `earlier` rows of an earlier run were in the
    /// spool at its start: every row is either acknowledged or in the
    /// spool, once (`sent` is read before `spool_rows`, so a batch
    /// acknowledged between the two reads is missed, never counted twice).
    fn safe(&self, earlier: u64) -> u64 {
        (self.sent + self.spool_rows).saturating_sub(earlier)
    }
}

/// The running child.
pub(super) struct CrashChild {
    process: std::process::Child,
    lines: std::sync::mpsc::Receiver<ChildLine>,
    last: ChildLine,
}

impl CrashChild {
    /// Starts the application on `database` with `spool`, emitting `count`
    /// events numbered from `from`, `rate` a second.
    pub(super) fn start(
        url: &str,
        database: &str,
        spool: &Path,
        batch_rows: usize,
        from: u64,
        count: u64,
        rate: u64,
    ) -> Self {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let mut process = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                &common::test_name(module_path!(), "crash_child"),
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("TC_CRASH_URL", url)
            .env("TC_CRASH_DATABASE", database)
            .env("TC_CRASH_SPOOL", spool)
            .env("TC_CRASH_BATCH_ROWS", batch_rows.to_string())
            .env("TC_CRASH_FROM", from.to_string())
            .env("TC_CRASH_COUNT", count.to_string())
            .env("TC_CRASH_RATE", rate.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the child");
        let stdout = process.stdout.take().unwrap();
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(parsed) = ChildLine::parse(&line)
                    && send.send(parsed).is_err()
                {
                    break;
                }
            }
        });
        CrashChild {
            process,
            lines,
            last: ChildLine::default(),
        }
    }

    /// Waits for a line for which `done` holds, or fails after `limit`.
    pub(super) fn wait(&mut self, limit: Duration, done: impl Fn(&ChildLine) -> bool) -> ChildLine {
        let give_up = Instant::now() + limit;
        loop {
            let left = give_up.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.last = line;
                    if done(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("gave up waiting; the child's last line: {:?}", self.last),
            }
        }
    }

    /// SIGKILLs the child; returns the last line it printed.
    pub(super) fn kill(mut self) -> ChildLine {
        self.process.kill().unwrap();
        self.process.wait().unwrap();
        while let Ok(line) = self.lines.try_recv() {
            self.last = line;
        }
        self.last
    }
}

/// The highest event number stored, plus one.
async fn stored_end(config: &Config) -> u64 {
    let client = common::raw_client(config);
    scalar(
        &client,
        "SELECT max(toUInt64(LogAttributes['n'])) + 1 FROM logs",
    )
    .await
}

/// Checks what the child's run left, once replayed: each event stored once
/// (in `logs` and the rollup), no gap (the lost ones are the newest), all
/// it had made safe, and at most `max_lost` of what it had emitted missing.
/// Returns the rows stored.
pub(super) async fn check_after_crash(
    scenario: &str,
    config: &Config,
    from: u64,
    last: ChildLine,
    max_lost: u64,
) -> u64 {
    let found = stored(config).await;
    let end = stored_end(config).await;
    let own = found.rows - from;
    let lost = (from + last.emitted).saturating_sub(found.rows);
    println!(
        "| {scenario} | {} | {} | {} | {lost} not sealed at the kill (made safe: {}) |",
        from + last.emitted,
        found.distinct,
        found.rows - found.distinct,
        from + last.safe(from)
    );
    assert_eq!(
        found,
        exactly(found.rows),
        "{scenario}: each once, rollup equal"
    );
    assert_eq!(
        end, found.rows,
        "{scenario}: no gap before the newest stored"
    );
    assert!(
        own >= last.safe(from),
        "{scenario}: {own} stored of {last:?}"
    );
    assert!(lost <= max_lost, "{scenario}: {lost} lost of {last:?}");
    found.rows
}

/// 10. The application is SIGKILLed during an outage, while it emits; the
/// next start replays the spool. Every event sealed before the kill is
/// stored once; what was lost is the queue and the open batch (at most the
/// outage's 250 ms age limit of events, a second allowed on a loaded machine).
#[tokio::test(flavor = "multi_thread")]
async fn app_killed_during_outage() {
    let spool = common::temp_dir("crash10");
    let mut server = DevServer::start(Options::default());
    let port = server.port();
    let data = server.keep_data();
    let database = database("crash_outage");
    let mut child = CrashChild::start(
        &server.url,
        &database,
        spool.path(),
        2_500,
        0,
        1_000_000,
        CHILD_RATE,
    );
    let up = child.wait(Duration::from_secs(60), |l| l.sent >= 5_000);
    assert_eq!(
        up.spooled, 0,
        "nothing written while ClickHouse takes inserts: {up:?}"
    );
    server.kill();
    // Two seconds of outage on disk, then the crash.
    child.wait(Duration::from_secs(60), |l| l.spooled >= 2 * CHILD_RATE);
    let last = child.kill();

    let _server = DevServer::start(Options {
        port,
        data_dir: Some(server.data_dir.clone()),
        ..Options::default()
    });
    let config = crash_config(&server.url, &database, spool.path(), 2_500);
    let telemetry = start(&config);
    let waiting = telemetry.stats().spool_rows;
    assert!(
        waiting >= last.spooled,
        "{waiting} in the spool of {last:?}"
    );
    flush(&telemetry);
    assert_eq!(telemetry.stats().replayed_rows, waiting);
    check_after_crash(
        "10. application SIGKILLed during an outage, restarted",
        &config,
        0,
        last,
        CHILD_RATE,
    )
    .await;
    drop(data);
}

/// Emits `0..count` into a spool while ClickHouse (at `url`) is down, in
/// batches of `batch_rows`, and shuts down: the spool an earlier run left.
fn spool_while_down(url: &str, database: &str, spool: &Path, batch_rows: usize, count: u64) {
    let telemetry = start(&crash_config(url, database, spool, batch_rows));
    emit(&telemetry.direct_recorder(), 0, count);
    let report = telemetry.shutdown(Duration::from_secs(1));
    assert_eq!(
        (report.spooled_rows, report.unsent_rows),
        (count, 0),
        "{report:?}"
    );
}

/// What scenarios 11 and 12 start from: `count` events an earlier run left
/// in a spool (batches of 1 000) while ClickHouse was down, then ClickHouse
/// up on the same port with `fault` armed. Returns the spool, the URL, the
/// database and the server.
fn earlier_spool(name: &str, count: u64, fault: &str) -> (TempDir, String, String, DevServer) {
    let spool = common::temp_dir(name);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let database = database(name);
    spool_while_down(&url, &database, spool.path(), 1_000, count);
    let server = DevServer::start(Options {
        port,
        faults: true,
        ..Options::default()
    });
    arm_fault(&server.url, fault);
    (spool, url, database, server)
}

/// 11. The application is SIGKILLed while it replays the spool of an
/// earlier run (ClickHouse is slow: 0.4 s an insert), emitting new events
/// that queue behind it on disk. The next start delivers every event of
/// the earlier run and every one the killed run had sealed, once.
#[tokio::test(flavor = "multi_thread")]
async fn app_killed_during_replay() {
    let (spool, url, database, _server) = earlier_spool(
        "crash_replay",
        10_000,
        r#"{"action": "delay", "count": 12, "match": "INSERT INTO logs", "seconds": 0.4}"#,
    );
    let mut child = CrashChild::start(
        &url,
        &database,
        spool.path(),
        1_000,
        10_000,
        1_000_000,
        CHILD_RATE,
    );
    // Mid-replay: some of the earlier run's rows sent, not all, and some
    // of the child's own written behind them although ClickHouse answers.
    let during = child.wait(Duration::from_secs(60), |l| {
        l.replayed >= 2_000 && l.replayed < 10_000 && l.spooled >= 2_000
    });
    let last = child.kill();
    assert_eq!(
        during.sent, during.replayed,
        "the spool goes first: {during:?}"
    );

    let config = crash_config(&url, &database, spool.path(), 1_000);
    let telemetry = start(&config);
    flush(&telemetry);
    let client = common::raw_client(&config);
    let earlier = scalar(
        &client,
        "SELECT uniqExact(LogAttributes['n']) FROM logs WHERE toUInt64(LogAttributes['n']) < 10000",
    )
    .await;
    assert_eq!(earlier, 10_000, "every event of the earlier run");
    check_after_crash(
        "11. application SIGKILLed while replaying an earlier spool",
        &config,
        10_000,
        last,
        CHILD_RATE,
    )
    .await;
}

/// Rows in `logs`, or none while the table does not exist yet.
async fn logs_count(client: &clickhouse::Client) -> Option<u64> {
    client
        .query("SELECT count() FROM logs")
        .fetch_one::<u64>()
        .await
        .ok()
}

/// 12. A crash after ClickHouse stored a replayed batch but before the
/// spool's cursor moved past it (its answer delayed 10 s, the application
/// SIGKILLed meanwhile): the next start sends that batch again, with its
/// token, and ClickHouse keeps it once.
#[tokio::test(flavor = "multi_thread")]
async fn crash_between_insert_and_cursor() {
    let (spool, url, database, _server) = earlier_spool(
        "crash_cursor",
        5_000,
        r#"{"action": "delay", "count": 1, "match": "INSERT INTO logs", "seconds": 10, "phase": "after"}"#,
    );
    let child = CrashChild::start(&url, &database, spool.path(), 1_000, 5_000, 0, CHILD_RATE);
    let config = crash_config(&url, &database, spool.path(), 1_000);
    let client = common::raw_client(&config);
    let give_up = Instant::now() + Duration::from_secs(60);
    while logs_count(&client).await != Some(1_000) {
        assert!(Instant::now() < give_up, "the first batch was not stored");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let last = child.kill();
    assert_eq!((last.replayed, last.spool_rows), (0, 5_000), "{last:?}");

    let telemetry = start(&config);
    // The stored batch is still in the spool: the cursor never moved.
    assert_eq!(telemetry.stats().spool_rows, 5_000);
    flush(&telemetry);
    let stats = telemetry.stats();
    assert_eq!(
        (stats.replayed_rows, stats.replayed_batches),
        (5_000, 5),
        "{stats:?}"
    );
    check(
        "12. crash between a replayed insert and the cursor (sent twice)",
        &config,
        5_000,
        0,
    )
    .await;
}
