//! Drops people can see: one line on stderr at most every few seconds with
//! the counts and what to change, and the pipeline's counters as metrics
//! rows that `chlog health` turns into a problem; and a start line that can
//! be kept quiet. The stderr lines are read from a child process (this
//! test binary run again as the application).

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tracing_clickhouse::{Builder, Limit, Severity, Telemetry, Timing, Value};
#[cfg(feature = "metrics")]
use {common::scalar, tracing_clickhouse::QueuePolicy, tracing_clickhouse::health};

/// Runs this test binary's `test` as a child with `env`, and returns its
/// stderr lines, each with when it arrived, and its stdout.
fn child(test: &str, env: &[(&str, &str)]) -> (Vec<(Duration, String)>, String) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", &common::test_name(module_path!(), test)])
        .args(["--nocapture", "--test-threads", "1"])
        .env("TC_NOTICES_CHILD", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let started = Instant::now();
    let mut child = command.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let lines = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map(|line| (started.elapsed(), line.unwrap()))
            .collect::<Vec<_>>()
    });
    let output = child.wait_with_output().unwrap();
    let lines = lines.join().unwrap();
    assert!(output.status.success(), "{output:?} {lines:?}");
    (lines, String::from_utf8(output.stdout).unwrap())
}

fn is_child() -> bool {
    std::env::var_os("TC_NOTICES_CHILD").is_some()
}

/// Emits from two threads until `until`, as fast as they can.
fn flood(telemetry: &Telemetry, until: Instant) {
    std::thread::scope(|scope| {
        for thread in 0..2u64 {
            let collector = telemetry.direct_recorder();
            scope.spawn(move || {
                let mut n = 0u64;
                while Instant::now() < until {
                    collector.collect_log(
                        "flood",
                        Severity::Info,
                        "flooding",
                        [("n", Value::from(n))],
                    );
                    n += 1 + thread;
                }
            });
        }
    });
}

#[test]
fn drops_are_said_on_stderr_at_most_every_five_seconds_and_add_up() {
    if is_child() {
        let telemetry = Builder::from_env_vars::<&str, &str>([])
            .dry_run(true)
            .system_monitor(false)
            .pipeline_metrics(false)
            .limit(Limit::QueueCapacity(64))
            .unwrap()
            .build()
            .unwrap()
            .1;
        flood(&telemetry, Instant::now() + Duration::from_millis(6_500));
        let report = telemetry.shutdown(Duration::from_secs(10));
        println!("dropped_queue_full={}", report.stats.dropped_queue_full);
        return;
    }
    let (lines, stdout) = child(
        "drops_are_said_on_stderr_at_most_every_five_seconds_and_add_up",
        &[],
    );
    // After the harness's "test ... " on the same line.
    let dropped: u64 = stdout
        .split("dropped_queue_full=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(dropped > 0);
    let said: Vec<&(Duration, String)> = lines
        .iter()
        .filter(|(_, l)| l.starts_with("tracing-clickhouse: dropped "))
        .collect();
    for (_, line) in &said {
        println!("{line}");
        assert!(line.contains("at the full queue (64 records)"), "{line}");
        assert!(line.contains("raise CLICKHOUSE_QUEUE_CAPACITY"), "{line}");
    }
    // A line within a second or two of the first drop, one about 5 s later,
    // and at shutdown one for the rest: never two within 5 s but the last.
    assert!((2..=3).contains(&said.len()), "{lines:?}");
    assert!(said[0].0 < Duration::from_secs(3), "{:?}", said[0]);
    assert!(
        said[1].0 - said[0].0 >= Duration::from_millis(4_900),
        "{said:?}"
    );
    let total: u64 = said
        .iter()
        .map(|(_, l)| {
            let n = l.trim_start_matches("tracing-clickhouse: dropped ");
            n[..n.find(' ').unwrap()].parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(total, dropped, "{said:?}");
    let last = &said[said.len() - 1].1;
    assert!(
        last.ends_with(&format!("{dropped} since the start (Telemetry::stats)")),
        "{last}"
    );
}

#[test]
fn drops_behind_a_stalled_server_say_so_and_what_to_change() {
    if is_child() {
        let url = std::env::var("TC_NOTICES_URL").unwrap();
        let telemetry = common::builder_for(&url, &std::env::var("TC_NOTICES_DB").unwrap())
            // Small enough for the stall to fill (the default holds seconds
            // of a busy service's rows, compressed).
            .limit(Limit::PendingBytes(64 << 10))
            .and_then(|b| b.limit(Limit::QueueCapacity(256)))
            .and_then(|b| b.timing(Timing::FlushInterval(Duration::from_millis(50))))
            .unwrap()
            .build()
            .unwrap()
            .1;
        flood(&telemetry, Instant::now() + Duration::from_millis(2_500));
        drop(telemetry);
        return;
    }
    let server = common::DevServer::start(common::Options {
        faults: true,
        ..common::Options::default()
    });
    // Every insert for 3 s waits.
    common::arm_fault(
        &server.url,
        r#"{"action": "delay", "count": 1, "match": "INSERT", "seconds": 3, "phase": "before"}"#,
    );
    let database = common::unique_database("stalled");
    let (lines, _) = child(
        "drops_behind_a_stalled_server_say_so_and_what_to_change",
        &[
            ("TC_NOTICES_URL", &server.url),
            ("TC_NOTICES_DB", &database),
        ],
    );
    let said: Vec<&String> = lines
        .iter()
        .map(|(_, l)| l)
        .filter(|l| l.starts_with("tracing-clickhouse: dropped "))
        .collect();
    assert!(!said.is_empty(), "{lines:?}");
    assert!(
        said[0]
            .contains("which filled while ClickHouse was not taking batches as fast as they came"),
        "{}",
        said[0]
    );
    assert!(said[0].contains("set CLICKHOUSE_SPOOL_DIR"), "{}", said[0]);
}

#[test]
fn the_start_line_says_where_unsent_batches_survive_unless_told_not_to() {
    if is_child() {
        // No server: nothing is sent, and the start line is about that.
        let telemetry = Builder::from_env()
            .url("http://127.0.0.1:1")
            .unwrap()
            .system_monitor(false)
            .pipeline_metrics(false)
            .timing(Timing::ShutdownTimeout(Duration::ZERO))
            .unwrap()
            .build()
            .unwrap()
            .1;
        drop(telemetry);
        return;
    }
    let test = "the_start_line_says_where_unsent_batches_survive_unless_told_not_to";
    let said = |env: &[(&str, &str)]| {
        let (lines, _) = child(test, env);
        lines
            .iter()
            .filter(|(_, l)| l.starts_with("tracing-clickhouse: no spool:"))
            .count()
    };
    assert_eq!(said(&[]), 1);
    assert_eq!(said(&[("CLICKHOUSE_START_LINE", "false")]), 0);
    assert_eq!(said(&[("CLICKHOUSE_START_LINE", "true")]), 1);
    let bad = Builder::from_env_vars([("CLICKHOUSE_START_LINE", "sometimes")]).build_config();
    let error = bad.unwrap_err().to_string();
    assert!(error.contains("CLICKHOUSE_START_LINE"), "{error}");
    let quiet = Builder::from_env_vars::<&str, &str>([]).start_line(false);
    let debug = format!("{:?}", quiet.build_config().unwrap());
    assert!(debug.contains("start_line: false"), "{debug}");
}

/// The pipeline's counters are written as metrics rows (`metrics` feature).
#[cfg(feature = "metrics")]
#[tokio::test(flavor = "multi_thread")]
async fn dropped_records_are_metrics_rows_and_a_health_problem() {
    let database = common::unique_database("notices");
    let config = common::builder_for(&common::url(), &database)
        .service_name("tc-dropping")
        .pipeline_metrics(true)
        .limit(Limit::QueueCapacity(64))
        .map(|b| b.queue_policy(QueuePolicy::DropNewest))
        .and_then(Builder::build_config)
        .unwrap();
    let telemetry = config.clone().into_builder().build().unwrap().1;
    flood(&telemetry, Instant::now() + Duration::from_millis(500));
    // The flush takes a snapshot of the counters, every drop so far in it.
    telemetry.flush(Duration::from_secs(60)).unwrap();
    let dropped = telemetry.stats().dropped_queue_full;
    assert!(dropped > 0);

    let client = common::raw_client(&config);
    let rows = scalar(
        &client,
        "SELECT toUInt64(sum(Delta)) FROM metrics \
         WHERE MetricName = 'tracing_clickhouse.dropped_rows' \
         AND Attributes['reason'] = 'queue_full' AND ServiceName = 'tc-dropping'",
    )
    .await;
    assert_eq!(rows, dropped);

    let health = health::check(&config, Duration::from_secs(300))
        .await
        .unwrap();
    let queue_full = health
        .dropped
        .iter()
        .find(|d| d.service == "tc-dropping" && d.reason == "queue_full")
        .unwrap_or_else(|| panic!("{:?}", health.dropped));
    assert_eq!(queue_full.records, dropped);
    let problems = health.problems(&health::Thresholds::default());
    let problem = problems
        .iter()
        .find(|p| p.subject == "service tc-dropping")
        .unwrap_or_else(|| panic!("{problems:?}"));
    assert!(
        problem.message.contains(&format!("{dropped} queue_full")),
        "{problem}"
    );
    drop(telemetry);
}
