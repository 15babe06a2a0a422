//! Nothing lost: the fault-injection suite.
//!
//! Every scenario emits uniquely numbered events (`LogAttributes['n']`),
//! breaks something on the way to ClickHouse (the devserver's `/_faults`
//! endpoint, killing it, shutting the application down while it is away,
//! damaging the spool) and then checks in ClickHouse that every event is
//! stored exactly once, also in the `logs_by_level` rollup, or that exactly
//! the documented number was dropped and counted.

mod crash;
mod measurement;

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{DevServer, Options, arm_fault, free_port, scalar};
use tracing_clickhouse::{
    Builder, Config, DirectRecorder, Limit, QueuePolicy, Severity, SpoolSync, Stats, Telemetry,
    Timing, Value,
};

/// What a scenario found in ClickHouse.
#[derive(Debug, PartialEq, Eq)]
struct Stored {
    rows: u64,
    distinct: u64,
    in_rollup: u64,
}

/// What a scenario sets of the pipeline, in order (a later timing replaces
/// an earlier one).
#[derive(Clone, Debug)]
struct Pipeline {
    policy: QueuePolicy,
    limits: Vec<Limit>,
    timings: Vec<Timing>,
}

/// Fast flushes and retries, a short insert timeout, `Block`.
fn pipeline() -> Pipeline {
    Pipeline {
        policy: QueuePolicy::Block,
        limits: Vec::new(),
        timings: vec![
            Timing::FlushInterval(Duration::from_millis(100)),
            Timing::InsertTimeout(Duration::from_secs(5)),
            Timing::MaxRetryBackoff(Duration::from_millis(500)),
            Timing::ShutdownTimeout(Duration::from_secs(30)),
        ],
    }
}

/// `pipeline()` with these limits and timings besides.
fn pipeline_with(limits: &[Limit], timings: &[Timing]) -> Pipeline {
    let mut pipeline = pipeline();
    pipeline.limits.extend_from_slice(limits);
    pipeline.timings.extend_from_slice(timings);
    pipeline
}

fn builder(url: &str, database: &str, pipeline: Pipeline) -> Builder {
    let builder = common::builder_for(url, database)
        .service_name("tc-reliability")
        .queue_policy(pipeline.policy);
    let builder = pipeline
        .limits
        .into_iter()
        .try_fold(builder, Builder::limit);
    builder
        .and_then(|b| pipeline.timings.into_iter().try_fold(b, Builder::timing))
        .unwrap()
}

fn config(url: &str, database: &str, pipeline: Pipeline, spool: Option<&Path>) -> Config {
    let mut builder = builder(url, database, pipeline);
    if let Some(dir) = spool {
        builder = builder.spool_dir(dir);
    }
    builder.build_config().unwrap()
}

fn start(config: &Config) -> Telemetry {
    config.clone().into_builder().build().unwrap().1
}

/// Emits events numbered `from..to`.
fn emit(collector: &DirectRecorder, from: u64, to: u64) {
    for n in from..to {
        let level = if n % 3 == 0 {
            Severity::Warn
        } else {
            Severity::Info
        };
        collector.collect_log("reliability", level, "numbered", [("n", Value::from(n))]);
    }
}

async fn stored(config: &Config) -> Stored {
    stored_through(&common::raw_client(config)).await
}

async fn stored_through(client: &clickhouse::Client) -> Stored {
    Stored {
        rows: scalar(client, "SELECT count() FROM logs").await,
        distinct: scalar(client, "SELECT uniqExact(LogAttributes['n']) FROM logs").await,
        in_rollup: scalar(client, "SELECT sum(Count) FROM logs_by_level").await,
    }
}

/// Checks that ClickHouse holds each of the `emitted - dropped` events
/// exactly once, in `logs` and in `logs_by_level`, and prints the line of
/// docs/reliability.md's table (`cargo test --test it -- reliability:: --nocapture`).
async fn check(scenario: &str, config: &Config, emitted: u64, dropped: u64) {
    check_through(scenario, &common::raw_client(config), emitted, dropped).await;
}

/// [`check`] through `client` (one that logs in with a password).
async fn check_through(scenario: &str, client: &clickhouse::Client, emitted: u64, dropped: u64) {
    let found = stored_through(client).await;
    println!(
        "| {scenario} | {emitted} | {} | {} | {dropped} |",
        found.distinct,
        found.rows - found.distinct
    );
    assert_eq!(found, exactly(emitted - dropped), "{scenario}");
}

fn exactly(n: u64) -> Stored {
    Stored {
        rows: n,
        distinct: n,
        in_rollup: n,
    }
}

fn flush(telemetry: &Telemetry) {
    telemetry
        .flush(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("flush: {e}; {:?}", telemetry.stats()));
}

/// Waits until `done` holds for the stats, or fails after `limit`.
fn wait_for(telemetry: &Telemetry, limit: Duration, done: impl Fn(&Stats) -> bool) -> Stats {
    let start = Instant::now();
    loop {
        let stats = telemetry.stats();
        if done(&stats) {
            return stats;
        }
        assert!(start.elapsed() < limit, "gave up waiting: {stats:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn faulty_server() -> DevServer {
    DevServer::start(Options {
        faults: true,
        ..Options::default()
    })
}

fn database(name: &str) -> String {
    common::unique_database(name)
}

/// 1. ClickHouse is down when the application starts, and up two seconds later.
#[tokio::test(flavor = "multi_thread")]
async fn down_at_start_then_up() {
    let port = free_port();
    let config = config(
        &format!("http://127.0.0.1:{port}"),
        &database("down_at_start"),
        pipeline(),
        None,
    );
    let telemetry = start(&config);
    emit(&telemetry.direct_recorder(), 0, 3_000);
    wait_for(&telemetry, Duration::from_secs(10), |s| {
        s.failed_transient > 0
    });
    std::thread::sleep(Duration::from_secs(2));
    let _server = DevServer::start(Options {
        port,
        ..Options::default()
    });
    flush(&telemetry);
    let stats = telemetry.stats();
    check("1. down at start, up 2 s later", &config, 3_000, 0).await;
    assert_eq!((stats.sent_rows, stats.dropped()), (3_000, 0), "{stats:?}");
}

/// 2. The server is killed (SIGKILL) in the middle of a stream and restarted.
#[tokio::test(flavor = "multi_thread")]
async fn server_killed_mid_stream() {
    let mut server = faulty_server();
    let port = server.port();
    let data = server.keep_data();
    let config = config(&server.url, &database("killed"), pipeline(), None);
    let telemetry = start(&config);
    let collector = telemetry.direct_recorder();
    let writer = std::thread::spawn(move || {
        for step in 0..40 {
            emit(&collector, step * 250, (step + 1) * 250);
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    wait_for(&telemetry, Duration::from_secs(20), |s| s.sent_rows > 0);
    server.kill();
    std::thread::sleep(Duration::from_millis(700));
    let _server = DevServer::start(Options {
        port,
        data_dir: Some(server.data_dir.clone()),
        ..Options::default()
    });
    writer.join().unwrap();
    flush(&telemetry);
    check(
        "2. server SIGKILLed mid-stream, restarted",
        &config,
        10_000,
        0,
    )
    .await;
    assert_eq!(telemetry.stats().dropped(), 0);
    drop(data);
}

/// 3. HTTP 500 with a retryable ClickHouse code for the next K inserts.
#[tokio::test(flavor = "multi_thread")]
async fn retryable_errors_for_k_requests() {
    let server = faulty_server();
    let config = config(&server.url, &database("http500"), pipeline(), None);
    let telemetry = start(&config);
    emit(&telemetry.direct_recorder(), 0, 10);
    flush(&telemetry); // the schema exists and one insert went through
    arm_fault(
        &server.url,
        r#"{"action": "error", "count": 3, "match": "INSERT", "code": 202, "status": 500,
            "message": "Too many simultaneous queries"}"#,
    );
    emit(&telemetry.direct_recorder(), 10, 2_010);
    flush(&telemetry);
    let stats = telemetry.stats();
    check("3. HTTP 500 (code 202) for 3 inserts", &config, 2_010, 0).await;
    // The three injected failures, each retried; a loaded machine can add
    // a timeout of its own, which changes nothing stored.
    assert!(stats.failed_transient >= 3, "{stats:?}");
    assert!(stats.retries >= 3, "{stats:?}");
    assert_eq!((stats.failed_auth, stats.failed_schema), (0, 0));
}

/// 4. The server stores the batch, but its answer comes after the client's
/// timeout: the re-send with the same token is deduplicated, in `logs` and
/// in `logs_by_level`.
#[tokio::test(flavor = "multi_thread")]
async fn stored_but_answered_too_late() {
    let server = faulty_server();
    let pipeline = pipeline_with(&[], &[Timing::InsertTimeout(Duration::from_secs(1))]);
    let config = config(&server.url, &database("late"), pipeline, None);
    let telemetry = start(&config);
    emit(&telemetry.direct_recorder(), 0, 10);
    flush(&telemetry);
    arm_fault(
        &server.url,
        r#"{"action": "delay", "count": 2, "match": "INSERT", "seconds": 2.5, "phase": "after"}"#,
    );
    emit(&telemetry.direct_recorder(), 10, 1_010);
    flush(&telemetry);
    let stats = telemetry.stats();
    assert!(stats.failed_transient >= 1, "{stats:?}");
    check(
        "4. stored, answer delayed past the timeout (twice)",
        &config,
        1_010,
        0,
    )
    .await;
}

/// 5. The connection is dropped in the middle of a request: before the
/// server ran the insert, and after it stored the rows.
#[tokio::test(flavor = "multi_thread")]
async fn connection_dropped_mid_request() {
    let server = faulty_server();
    let config = config(&server.url, &database("dropped"), pipeline(), None);
    let telemetry = start(&config);
    emit(&telemetry.direct_recorder(), 0, 10);
    flush(&telemetry);
    arm_fault(
        &server.url,
        r#"{"action": "drop", "count": 2, "match": "INSERT", "phase": "before"}"#,
    );
    emit(&telemetry.direct_recorder(), 10, 1_010);
    flush(&telemetry);
    arm_fault(
        &server.url,
        r#"{"action": "drop", "count": 1, "match": "INSERT", "phase": "after"}"#,
    );
    emit(&telemetry.direct_recorder(), 1_010, 2_010);
    flush(&telemetry);
    let stats = telemetry.stats();
    // The three dropped connections (a loaded machine can add a timeout).
    assert!(stats.failed_transient >= 3, "{stats:?}");
    check(
        "5. connection dropped (2 before, 1 after storing)",
        &config,
        2_010,
        0,
    )
    .await;
}

/// 6. The application shuts down while ClickHouse is down; the next
/// process with the same spool directory delivers everything once it is back.
#[tokio::test(flavor = "multi_thread")]
async fn shutdown_while_down_then_next_run_delivers() {
    let spool = common::temp_dir("spool6");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let database = database("next_run");
    let first = config(&url, &database, pipeline(), Some(spool.path()));
    let telemetry = start(&first);
    emit(&telemetry.direct_recorder(), 0, 5_000);
    let report = telemetry.shutdown(Duration::from_secs(1));
    assert_eq!(
        (report.spooled_rows, report.unsent_rows),
        (5_000, 0),
        "{report:?}"
    );
    assert_eq!(report.spool_dir.as_deref(), Some(spool.path()));

    let _server = DevServer::start(Options {
        port,
        ..Options::default()
    });
    let second = config(&url, &database, pipeline(), Some(spool.path()));
    let telemetry = start(&second);
    assert_eq!(telemetry.stats().spool_rows, 5_000);
    emit(&telemetry.direct_recorder(), 5_000, 5_100);
    flush(&telemetry);
    let stats = telemetry.stats();
    check(
        "6. shutdown while down, next run delivers",
        &second,
        5_100,
        0,
    )
    .await;
    assert_eq!(
        (stats.replayed_rows, stats.spool_rows),
        (5_000, 0),
        "{stats:?}"
    );
    // Replayed in order: the earlier run's rows are older.
    let client = common::raw_client(&second);
    let late_first = scalar(
        &client,
        "SELECT count() FROM logs WHERE toUInt64(LogAttributes['n']) >= 5000 \
         AND Timestamp < (SELECT max(Timestamp) FROM logs WHERE toUInt64(LogAttributes['n']) < 5000)",
    )
    .await;
    assert_eq!(late_first, 0);
}

/// 7. The spool reaches its size cap: exactly the counted rows are missing.
#[tokio::test(flavor = "multi_thread")]
async fn spool_cap_drops_exactly_what_it_counts() {
    let spool = common::temp_dir("spool7");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let database = database("spool_cap");
    let pipeline = pipeline_with(
        &[
            Limit::BatchRows(200),
            Limit::PendingBytes(64 << 10),
            Limit::SpoolBytes(256 << 10),
            Limit::SpoolSegmentBytes(32 << 10),
        ],
        &[Timing::FlushInterval(Duration::from_secs(60))],
    );
    let spool_config = |dir: &Path| {
        builder(&url, &database, pipeline.clone())
            .spool_dir(dir)
            .spool_sync(SpoolSync::Never)
            .build_config()
            .unwrap()
    };
    let first = spool_config(spool.path());
    let telemetry = start(&first);
    emit(&telemetry.direct_recorder(), 0, 20_000);
    let report = telemetry.shutdown(Duration::from_millis(500));
    let dropped = report.stats.dropped_spool_full;
    assert!(dropped > 0, "{report:?}");
    assert_eq!(report.unsent_rows, 0, "{report:?}");
    assert_eq!(report.spooled_rows + dropped, 20_000, "{report:?}");
    assert_eq!(report.stats.dropped(), dropped);

    let _server = DevServer::start(Options {
        port,
        ..Options::default()
    });
    let telemetry = start(&spool_config(spool.path()));
    flush(&telemetry);
    check(
        "7. spool cap reached (drop oldest)",
        &first,
        20_000,
        dropped,
    )
    .await;
    // The oldest were dropped: the newest event is there.
    let client = common::raw_client(&first);
    let newest = scalar(
        &client,
        "SELECT max(toUInt64(LogAttributes['n'])) FROM logs",
    )
    .await;
    assert_eq!(newest, 19_999);
}

/// The records (offset, length) of a spool segment file.
fn records(segment: &Path) -> Vec<(usize, usize)> {
    let bytes = std::fs::read(segment).unwrap();
    let mut at = 8;
    let mut out = Vec::new();
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        out.push((at, 8 + len));
        at += 8 + len;
    }
    out
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    files.sort();
    files
}

/// 8. A corrupted and a truncated spool segment: replay delivers every
/// intact record and reports the rest.
#[tokio::test(flavor = "multi_thread")]
async fn damaged_spool_segments() {
    let spool = common::temp_dir("spool8");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let database = database("damaged");
    // Batches of exactly 100 rows (sealed by rows only), a few per segment.
    let pipeline = pipeline_with(
        &[
            Limit::BatchRows(100),
            Limit::PendingBytes(1),
            Limit::SpoolSegmentBytes(24 << 10),
        ],
        &[Timing::FlushInterval(Duration::from_secs(600))],
    );
    let config = builder(&url, &database, pipeline)
        .spool_dir(spool.path())
        .build_config()
        .unwrap();
    let telemetry = start(&config);
    emit(&telemetry.direct_recorder(), 0, 3_000);
    let report = telemetry.shutdown(Duration::from_millis(500));
    assert_eq!(report.spooled_rows, 3_000, "{report:?}");

    let files = segments(spool.path());
    assert!(files.len() >= 3, "{files:?}");
    let batches_in = |file: &Path| records(file).len() as u64;
    let total: u64 = files.iter().map(|f| batches_in(f)).sum();
    assert_eq!(total, 30);
    // Flip a byte inside the second record of the first segment: it and
    // the rest of that segment are lost.
    let first = records(&files[0]);
    assert!(first.len() >= 2);
    let mut bytes = std::fs::read(&files[0]).unwrap();
    bytes[first[1].0 + 40] ^= 0x55;
    std::fs::write(&files[0], bytes).unwrap();
    let lost_first = first.len() as u64 - 1;
    // Cut the second segment in the middle of its last record.
    let second = records(&files[1]);
    let (last_at, last_len) = second[second.len() - 1];
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&files[1])
        .unwrap();
    file.set_len((last_at + last_len / 2) as u64).unwrap();
    let lost = (lost_first + 1) * 100;

    let _server = DevServer::start(Options {
        port,
        ..Options::default()
    });
    let telemetry = start(&config);
    let stats = telemetry.stats();
    assert!(stats.spool_corrupt_bytes > 0, "{stats:?}");
    assert_eq!(stats.spool_rows, 3_000 - lost, "{stats:?}");
    // The rows of the damaged records and of those after them, counted.
    assert_eq!(stats.dropped_spool_corrupt, lost, "{stats:?}");
    flush(&telemetry);
    check("8. corrupted + truncated segment", &config, 3_000, lost).await;
    assert_eq!(telemetry.stats().replayed_rows, 3_000 - lost);
}

/// 9a. A wrong password: reported, no spinning, nothing lost once fixed.
#[tokio::test(flavor = "multi_thread")]
async fn authentication_failure_then_fixed() {
    let user = ("writer".to_owned(), "right".to_owned());
    let mut server = DevServer::start(Options {
        user: Some(("writer".into(), "other".into())),
        ..Options::default()
    });
    let port = server.port();
    let data = server.keep_data();
    let database = database("auth");
    let pipeline = pipeline_with(&[], &[Timing::MaxRetryBackoff(Duration::from_secs(1))]);
    let config = builder(&server.url, &database, pipeline)
        .user(&user.0)
        .password(&user.1)
        .build_config()
        .unwrap();
    let telemetry = start(&config);
    emit(&telemetry.direct_recorder(), 0, 1_000);
    wait_for(&telemetry, Duration::from_secs(10), |s| s.failed_auth > 0);
    std::thread::sleep(Duration::from_secs(3));
    let stats = telemetry.stats();
    // At most one attempt per second (0.75 s with jitter), not a spin.
    assert!(stats.failed_auth <= 6, "{stats:?}");
    assert_eq!(stats.failed_inserts, stats.failed_auth, "{stats:?}");
    assert_eq!(stats.pending_rows, 1_000, "{stats:?}");

    // Fixed: the server now knows the application's password.
    server.kill();
    let _server = DevServer::start(Options {
        port,
        user: Some(user),
        data_dir: Some(server.data_dir.clone()),
        ..Options::default()
    });
    flush(&telemetry);
    let admin = common::raw_client(&config).with_password("right");
    check_through("9a. wrong password, then fixed", &admin, 1_000, 0).await;
    drop(data);
}

/// 9b. A missing table: without schema management the rows wait (no spin)
/// until someone creates it; with it, the pipeline creates it again.
#[tokio::test(flavor = "multi_thread")]
async fn missing_table_then_created() {
    let server = DevServer::start(Options::default());
    let database = database("missing");
    let config = config(&server.url, &database, pipeline(), None);
    let (_layer, telemetry) = config
        .clone()
        .into_builder()
        .create_schema(false)
        .build()
        .unwrap();
    emit(&telemetry.direct_recorder(), 0, 500);
    wait_for(&telemetry, Duration::from_secs(10), |s| s.failed_schema > 0);
    std::thread::sleep(Duration::from_secs(2));
    let stats = telemetry.stats();
    assert!(stats.failed_schema <= 5, "{stats:?}");
    assert_eq!(stats.pending_rows, 500);
    tracing_clickhouse::schema::apply(&config).await.unwrap();
    flush(&telemetry);
    // Only the raw table: a retry can land between the CREATE of `logs` and
    // that of its rollup view, and ClickHouse has no DDL transaction to
    // prevent it (docs/reliability.md: create the schema before writers use it, or let
    // the pipeline manage it).
    let found = stored(&config).await;
    assert_eq!((found.rows, found.distinct), (500, 500));
    drop(telemetry);

    // Managed schema: the table is dropped under a running pipeline.
    let telemetry = start(&config);
    emit(&telemetry.direct_recorder(), 0, 10);
    flush(&telemetry);
    let client = common::raw_client(&config);
    client
        .clone()
        .query("DROP TABLE logs SYNC")
        .execute()
        .await
        .unwrap();
    emit(&telemetry.direct_recorder(), 10, 510);
    flush(&telemetry);
    let stats = telemetry.stats();
    assert!(stats.failed_schema >= 1, "{stats:?}");
    let rows = scalar(&client, "SELECT count() FROM logs").await;
    let distinct = scalar(&client, "SELECT uniqExact(LogAttributes['n']) FROM logs").await;
    println!(
        "| 9b. table missing, then created (by hand; by the pipeline) | 500; 500 | {}; {distinct} | 0; {} | 0 |",
        found.distinct,
        rows - distinct
    );
    assert_eq!((rows, distinct), (500, 500));
}

/// While ClickHouse is down, queries answer from the rows waiting in memory,
/// say so, and give what ClickHouse gives for the same query once the rows
/// are stored.
#[tokio::test(flavor = "multi_thread")]
async fn queries_answer_from_memory_while_down() {
    use tracing_clickhouse::query::{EventQuery, LogQuery};

    let port = free_port();
    let config = config(
        &format!("http://127.0.0.1:{port}"),
        &database("memory_queries"),
        pipeline(),
        None,
    );
    let telemetry = start(&config);
    let collector = telemetry.direct_recorder();
    for n in 0..300u64 {
        let (source, level) = match n % 3 {
            0 => ("billing", Severity::Error),
            1 => ("billing", Severity::Info),
            _ => ("search", Severity::Warn),
        };
        let message = if n % 10 == 0 { "Payment TIMEOUT" } else { "ok" };
        collector.collect_log(source, level, message, [("n", Value::from(n))]);
        if n % 50 == 0 {
            let kind = if n % 100 == 0 {
                "deploy"
            } else {
                "service_status"
            };
            collector.record_event(kind, "ci", [("n", Value::from(n))]);
        }
    }
    wait_for(&telemetry, Duration::from_secs(10), |s| {
        s.memory_rows == 306
    });
    let event_queries = [
        EventQuery::new(),
        EventQuery::new().event_type("deploy"),
        EventQuery::new().source("ci").limit(2),
    ];

    let queries = [
        LogQuery::new().limit(1_000),
        LogQuery::new().level(Severity::Error).limit(1_000),
        LogQuery::new().min_level(Severity::Warn).source("search"),
        LogQuery::new().contains("timeout").limit(7),
        LogQuery::new().service("tc-reliability").limit(3),
    ];
    let query = telemetry.query();
    let mut from_memory = Vec::new();
    for q in &queries {
        let logs = query.query_logs(q).await.unwrap();
        assert!(logs.origin.is_memory(), "{:?}", logs.origin);
        let stats = query.log_stats(q).await.unwrap();
        assert!(stats.origin.is_memory());
        from_memory.push((logs.entries, stats.total, stats.by_level));
    }
    assert_eq!(from_memory[0].0.len(), 300);
    assert_eq!(from_memory[1].0.len(), 100);
    assert_eq!(from_memory[2].1, 100);
    assert_eq!(from_memory[3].0.len(), 7);
    assert_eq!(from_memory[3].1, 30);
    // Newest first.
    let first = &from_memory[0].0;
    assert!(
        first
            .windows(2)
            .all(|w| w[0].timestamp_ns >= w[1].timestamp_ns)
    );
    assert_eq!(first[0].attribute("n"), Some("299"));
    let mut events_from_memory = Vec::new();
    for q in &event_queries {
        let events = query.query_events(q).await.unwrap();
        assert!(events.origin.is_memory());
        events_from_memory.push(events.entries);
    }
    let counts: Vec<usize> = events_from_memory.iter().map(Vec::len).collect();
    assert_eq!(counts, [6, 3, 2]);
    assert_eq!(events_from_memory[0][0].detail("n"), Some("250"));

    // ClickHouse comes back: the same questions, the same answers.
    let _server = DevServer::start(Options {
        port,
        ..Options::default()
    });
    flush(&telemetry);
    for (q, (entries, total, by_level)) in queries.iter().zip(from_memory) {
        let logs = query.query_logs(q).await.unwrap();
        assert_eq!(
            logs.origin,
            tracing_clickhouse::query::AnswerOrigin::ClickHouse
        );
        assert_eq!(logs.entries, entries, "{q:?}");
        let stats = query.log_stats(q).await.unwrap();
        assert_eq!((stats.total, stats.by_level), (total, by_level), "{q:?}");
    }
    for (q, entries) in event_queries.iter().zip(events_from_memory) {
        let events = query.query_events(q).await.unwrap();
        assert!(!events.origin.is_memory());
        assert_eq!(events.entries, entries, "{q:?}");
    }
}

/// 13. With a spool, nothing is written while ClickHouse takes every
/// insert; a failed insert writes its batch at once, and what follows
/// the outage's end is not written again.
#[tokio::test(flavor = "multi_thread")]
async fn spool_written_only_when_an_insert_fails() {
    let spool = common::temp_dir("spool13");
    let server = faulty_server();
    let config = config(
        &server.url,
        &database("spool_when"),
        pipeline(),
        Some(spool.path()),
    );
    let telemetry = start(&config);
    emit(&telemetry.direct_recorder(), 0, 20_000);
    flush(&telemetry);
    let stats = telemetry.stats();
    assert_eq!(
        (stats.sent_rows, stats.spooled_batches),
        (20_000, 0),
        "{stats:?}"
    );
    assert!(segments(spool.path()).is_empty(), "no segment file");
    assert!(!spool.path().join("cursor").exists(), "no cursor written");

    arm_fault(
        &server.url,
        r#"{"action": "error", "count": 1, "match": "INSERT INTO logs", "code": 202, "status": 500,
            "message": "Too many simultaneous queries"}"#,
    );
    emit(&telemetry.direct_recorder(), 20_000, 21_000);
    flush(&telemetry);
    let failed = telemetry.stats();
    assert!(failed.spooled_batches >= 1, "{failed:?}");
    // Retried from memory, not read back from disk; the spool is empty again.
    assert_eq!(
        (failed.replayed_rows, failed.spool_rows),
        (0, 0),
        "{failed:?}"
    );

    emit(&telemetry.direct_recorder(), 21_000, 26_000);
    flush(&telemetry);
    let after = telemetry.stats();
    assert_eq!(after.spooled_batches, failed.spooled_batches, "{after:?}");
    check("13. one failed insert, with a spool", &config, 26_000, 0).await;
}

/// 14. A server that hangs rather than refuses (an insert held 1.5 s before
/// it runs): once it has gone `write_after` (500 ms here) unanswered, it
/// and what follows go to the spool before any insert failed, and are
/// delivered once.
#[tokio::test(flavor = "multi_thread")]
async fn batches_waiting_on_a_hung_server_are_spooled() {
    let spool = common::temp_dir("spool14");
    let server = faulty_server();
    let pipeline = pipeline_with(&[], &[Timing::SpoolWriteAfter(Duration::from_millis(500))]);
    let config = builder(&server.url, &database("hung"), pipeline)
        .spool_dir(spool.path())
        .build_config()
        .unwrap();
    let telemetry = start(&config);
    emit(&telemetry.direct_recorder(), 0, 10);
    flush(&telemetry);
    // Creating the schema before the first insert can take longer than
    // 500 ms on a loaded machine, and then those 10 rows are written too.
    let before = telemetry.stats().spooled_rows;
    arm_fault(
        &server.url,
        r#"{"action": "delay", "count": 1, "match": "INSERT INTO logs", "seconds": 1.5}"#,
    );
    emit(&telemetry.direct_recorder(), 10, 1_010);
    let spooled = wait_for(&telemetry, Duration::from_secs(10), |s| {
        s.spooled_rows >= before + 1_000
    });
    assert_eq!(spooled.failed_inserts, 0, "before any failure: {spooled:?}");
    emit(&telemetry.direct_recorder(), 1_010, 2_010);
    flush(&telemetry);
    let stats = telemetry.stats();
    assert_eq!(stats.spooled_rows - before, 2_000, "{stats:?}");
    assert_eq!((stats.replayed_rows, stats.spool_rows), (0, 0), "{stats:?}");
    check(
        "14. insert held 1.5 s, batches spooled after 500 ms",
        &config,
        2_010,
        0,
    )
    .await;
}
