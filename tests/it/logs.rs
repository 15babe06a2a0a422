//! Logs end to end: events go through the layer, the queue and the flusher
//! into ClickHouse, and the stored rows are checked one by one.

use crate::common;

use std::time::Duration;

use crate::common::scalar;
use serde::Deserialize;
use tracing::{Dispatch, dispatcher};
use tracing_clickhouse::Telemetry;

const FLUSH: Duration = Duration::from_secs(30);

/// A subscriber with only our layer, and its guard.
fn start(prefix: &str) -> (Dispatch, Telemetry) {
    common::start(common::config(prefix))
}

fn now_ns() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    since.as_nanos() as i64
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct Stored {
    thread_no: String,
    seq: u64,
    ts: i64,
    level: String,
    severity_number: u8,
    source: String,
    body: String,
    thread_name: String,
    service: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn events_from_several_threads_are_stored_exactly_once_and_in_order() {
    const THREADS: usize = 4;
    const PER_THREAD: u64 = 2_500;
    let (dispatch, telemetry) = start("threads");

    let before = now_ns();
    let emitters: Vec<_> = (0..THREADS)
        .map(|t| {
            let dispatch = dispatch.clone();
            std::thread::Builder::new()
                .name(format!("emitter-{t}"))
                .spawn(move || {
                    dispatcher::with_default(&dispatch, || {
                        for seq in 0..PER_THREAD {
                            tracing::info!(thread_no = t, seq, "event {t}-{seq}");
                        }
                    })
                })
                .unwrap()
        })
        .collect();
    for emitter in emitters {
        emitter.join().unwrap();
    }
    let after = now_ns();
    telemetry.flush(FLUSH).unwrap();

    let total = THREADS as u64 * PER_THREAD;
    let stats = telemetry.stats();
    assert_eq!(stats.dropped(), 0, "{stats:?}");
    assert_eq!(stats.queued, total, "{stats:?}");
    assert_eq!(stats.sent_rows, total, "{stats:?}");
    assert_eq!(stats.pending_rows, 0, "{stats:?}");

    let client = &common::raw_client(telemetry.config());
    assert_eq!(scalar(client, "SELECT count() FROM logs").await, total);
    assert_eq!(
        scalar(client, "SELECT uniqExact(Body) FROM logs").await,
        total
    );

    let rows: Vec<Stored> = client
        .query(
            "SELECT LogAttributes['thread_no'] AS thread_no, toUInt64(LogAttributes['seq']) AS seq, \
             toUnixTimestamp64Nano(Timestamp) AS ts, SeverityText AS level, \
             SeverityNumber AS severity_number, ScopeName AS source, Body AS body, \
             LogAttributes['thread.name'] AS thread_name, ServiceName AS service \
             FROM logs ORDER BY thread_no, seq",
        )
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(rows.len() as u64, total);
    for (i, row) in rows.iter().enumerate() {
        let t = i as u64 / PER_THREAD;
        let seq = i as u64 % PER_THREAD;
        assert_eq!(row.thread_no, t.to_string());
        assert_eq!(row.seq, seq);
        assert_eq!(row.body, format!("event {t}-{seq}"));
        assert_eq!(row.level, "INFO");
        assert_eq!(row.severity_number, 9);
        assert_eq!(
            row.source,
            module_path!(),
            "the target is the test crate's module path"
        );
        assert_eq!(row.thread_name, format!("emitter-{t}"));
        assert_eq!(row.service, "tc-test");
        assert!(
            (before..=after).contains(&row.ts),
            "{row:?} outside the test"
        );
        if seq > 0 {
            assert!(row.ts >= rows[i - 1].ts, "timestamps go back at {row:?}");
        }
    }
}

#[derive(Debug)]
struct Oops;

impl std::fmt::Display for Oops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("disk full")
    }
}

impl std::error::Error for Oops {}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct Row {
    level: String,
    severity_number: u8,
    body: String,
    attributes: Vec<(String, String)>,
}

impl Row {
    fn attribute(&self, key: &str) -> Option<&str> {
        crate::known::attribute(&self.attributes, key)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn levels_fields_and_locations_are_stored() {
    let (dispatch, telemetry) = start("fields");
    let line = dispatcher::with_default(&dispatch, || {
        tracing::trace!("a trace");
        tracing::debug!("a debug");
        tracing::warn!("a warning");
        tracing::error!(error = &Oops as &dyn std::error::Error, "an error");
        let line = line!() + 1;
        tracing::info!(count = 42u64, delta = -7i64, ratio = 0.5, ok = true, name = "ada", big = u128::MAX, maybe = ?Some(3), shown = %"displayed", "all types");
        line
    });
    telemetry.flush(FLUSH).unwrap();

    let rows: Vec<Row> = common::raw_client(telemetry.config())
        .query(
            "SELECT SeverityText AS level, SeverityNumber AS severity_number, Body AS body, \
             LogAttributes AS attributes FROM logs ORDER BY Timestamp",
        )
        .fetch_all()
        .await
        .unwrap();
    let levels: Vec<_> = rows
        .iter()
        .map(|r| (r.level.as_str(), r.severity_number, r.body.as_str()))
        .collect();
    assert_eq!(
        levels,
        [
            ("TRACE", 1, "a trace"),
            ("DEBUG", 5, "a debug"),
            ("WARN", 13, "a warning"),
            ("ERROR", 17, "an error"),
            ("INFO", 9, "all types"),
        ]
    );
    assert_eq!(rows[3].attribute("error"), Some("disk full"));

    let typed = &rows[4];
    let expected = [
        ("count", "42"),
        ("delta", "-7"),
        ("ratio", "0.5"),
        ("ok", "true"),
        ("name", "ada"),
        ("big", "340282366920938463463374607431768211455"),
        ("maybe", "Some(3)"),
        ("shown", "displayed"),
        ("code.namespace", module_path!()),
        ("code.file.path", file!()),
        ("code.line.number", &line.to_string()),
    ];
    for (key, value) in expected {
        assert_eq!(typed.attribute(key), Some(value), "{key} in {typed:?}");
    }
    assert!(
        typed
            .attribute("thread.id")
            .is_some_and(|id| id.parse::<u64>().is_ok())
    );
    // Fields come first, in the order they were written.
    let keys: Vec<_> = typed
        .attributes
        .iter()
        .take(8)
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "count", "delta", "ratio", "ok", "name", "big", "maybe", "shown"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_the_guard_flushes_what_is_queued() {
    let config = common::config("drop");
    let query = common::raw_client(&config);
    let (dispatch, telemetry) = common::start(config);
    dispatcher::with_default(&dispatch, || {
        for i in 0..500 {
            tracing::warn!(i, "before drop");
        }
    });
    // No flush: dropping the guard must deliver everything. It blocks, so
    // keep it off the runtime's threads.
    tokio::task::spawn_blocking(move || drop(telemetry))
        .await
        .unwrap();
    assert_eq!(scalar(&query, "SELECT count() FROM logs").await, 500);
}

#[tokio::test(flavor = "multi_thread")]
async fn own_and_transport_events_are_not_captured() {
    let (dispatch, telemetry) = start("internal");
    dispatcher::with_default(&dispatch, || {
        tracing::info!(target: "hyper::proto::h1", "transport chatter");
        tracing::error!(target: "clickhouse::insert", "client chatter");
        tracing::warn!(target: "tracing_clickhouse::pipeline", "our own");
        tracing::info!(target: "hyperloop", "an application crate that only looks alike");
        tracing::info!("the application's");
    });
    telemetry.flush(FLUSH).unwrap();
    let bodies: Vec<String> = common::raw_client(telemetry.config())
        .query("SELECT Body FROM logs ORDER BY Timestamp")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(
        bodies,
        [
            "an application crate that only looks alike",
            "the application's"
        ]
    );
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct Identity {
    service: String,
    resource: Vec<(String, String)>,
}

#[tokio::test(flavor = "multi_thread")]
async fn service_and_resource_attributes_arrive_once_per_batch_intact() {
    let hostile = "it's a \\ back\tslash\nand `tick` service — ünïcode";
    let config = common::builder("identity")
        .service_name(hostile)
        .service_version("1.2.3");
    let (dispatch, telemetry) = common::start(config.build_config().unwrap());
    dispatcher::with_default(&dispatch, || {
        tracing::info!("one");
        tracing::info_span!("a span").in_scope(|| {});
    });
    telemetry.direct_recorder().record_event("deploy", "ci", []);
    telemetry.flush(FLUSH).unwrap();

    let client = &common::raw_client(telemetry.config());
    for table in ["logs", "spans"] {
        let rows: Vec<Identity> = client
            .query(&format!(
                "SELECT ServiceName AS service, ResourceAttributes AS resource FROM {table}"
            ))
            .fetch_all()
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "{table}");
        let row = &rows[0];
        assert_eq!(row.service, hostile, "{table}");
        let attribute = |key: &str| {
            row.resource
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(attribute("service.name"), Some(hostile), "{table}");
        assert_eq!(attribute("service.version"), Some("1.2.3"));
        assert_eq!(
            attribute("process.pid"),
            Some(std::process::id().to_string().as_str())
        );
        assert_eq!(attribute("telemetry.sdk.language"), Some("rust"));
        assert!(attribute("host.name").is_some_and(|h| !h.is_empty()));
    }
    let services: Vec<String> = client
        .query("SELECT ServiceName FROM events")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(services, [hostile]);
}
