//! What capture keeps of hostile input: limits with markers, replaced UTF-8,
//! a panicking `Debug`; and the explicit `collect_log` / `record_event` API.

use crate::common;

use std::time::Duration;

use serde::Deserialize;
use tracing::{Dispatch, dispatcher};
use tracing_clickhouse::query::LogQuery;
use tracing_clickhouse::{Limit, Severity, Telemetry, Value};

const FLUSH: Duration = Duration::from_secs(30);

fn start(prefix: &str, limits: &[Limit]) -> (Dispatch, Telemetry) {
    let mut builder = common::builder(prefix);
    for limit in limits {
        builder = builder.limit(*limit).unwrap();
    }
    common::start(builder.build_config().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_input_is_cut_with_a_marker_and_counted() {
    let limits = [
        Limit::MessageBytes(16),
        Limit::Fields(3),
        Limit::ValueBytes(8),
    ];
    let (dispatch, telemetry) = start("limits", &limits);
    let huge = "x".repeat(1_000_000);
    dispatcher::with_default(&dispatch, || {
        tracing::info!(big = huge.as_str(), "{}", huge);
        tracing::info!(a = 1, b = 2, c = 3, d = 4, e = 5, "many fields");
        tracing::info!(list = ?vec![7u8; 100_000], "debug value");
    });
    telemetry.flush(FLUSH).unwrap();

    let logs = telemetry
        .query()
        .query_logs(&LogQuery::new())
        .await
        .unwrap();
    let by_message = |prefix: &str| logs.iter().find(|l| l.message.starts_with(prefix)).unwrap();
    let long = by_message("xxxx");
    assert_eq!(long.message, format!("{}…[truncated]", "x".repeat(16)));
    assert_eq!(long.attribute("big"), Some("xxxxxxxx…[truncated]"));
    let many = by_message("many fields");
    let kept: Vec<_> = many
        .attributes
        .iter()
        .take(4)
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        kept,
        [
            ("a", "1"),
            ("b", "2"),
            ("c", "3"),
            ("capture.dropped_fields", "2")
        ]
    );
    assert_eq!(
        by_message("debug value").attribute("list"),
        Some("[7, 7, 7…[truncated]")
    );

    let stats = telemetry.stats();
    assert_eq!(stats.truncated_values, 3, "{stats:?}");
    assert_eq!(stats.dropped_fields, 2, "{stats:?}");
    assert_eq!(stats.sent_rows, 3, "nothing was lost: {stats:?}");
}

struct Explosive;

impl std::fmt::Debug for Explosive {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("this Debug impl is broken")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_utf8_is_replaced_and_a_panicking_debug_does_not_take_the_app_down() {
    let (dispatch, telemetry) = start("hostile", &[]);
    dispatcher::with_default(&dispatch, || {
        tracing::info!(raw = &b"ok\xff\xfebytes"[..], "bytes");
        tracing::info!(before = 1, bad = ?Explosive, "panicking field");
        tracing::info!("after the panic");
    });
    telemetry.flush(FLUSH).unwrap();

    let logs = telemetry
        .query()
        .query_logs(&LogQuery::new())
        .await
        .unwrap();
    let find = |message: &str| {
        logs.iter()
            .find(|l| l.message == message)
            .unwrap_or_else(|| panic!("{message} in {logs:?}"))
    };
    assert_eq!(
        find("bytes").attribute("raw"),
        Some("ok\u{fffd}\u{fffd}bytes")
    );
    let panicked = find("panicking field");
    assert_eq!(panicked.attribute("before"), Some("1"));
    assert!(
        panicked
            .attribute("capture.error")
            .is_some_and(|e| e.contains("panicked")),
        "{panicked:?}"
    );
    assert_eq!(
        panicked.attribute("bad"),
        None,
        "the half-written field is dropped"
    );
    find("after the panic");
    let stats = telemetry.stats();
    assert_eq!(
        (stats.replaced_utf8, stats.capture_panics, stats.sent_rows),
        (1, 1, 3),
        "{stats:?}"
    );
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct EventRow {
    event_type: String,
    source: String,
    service: String,
    details: Vec<(String, String)>,
    trace_id: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn collect_log_and_record_event_store_the_seeds_rows() {
    let (dispatch, telemetry) = start("collect", &[]);
    let collector = telemetry.direct_recorder();
    collector.collect_log(
        "system_monitor",
        Severity::Warn,
        "High CPU usage detected",
        [
            ("cpu_percent", Value::from(95)),
            ("threshold", Value::from(90)),
            ("host", Value::from("web-1")),
        ],
    );
    collector.collect_log("scheduler", Severity::Fatal, "Queue lost", []);
    collector.record_event(
        "service_status",
        "monitor",
        [
            ("service", Value::from("db")),
            ("status", Value::from("down")),
            ("latency_ms", Value::from(12.5)),
        ],
    );
    dispatcher::with_default(&dispatch, || {
        tracing::info_span!("deploy").in_scope(|| {
            collector.record_event("deploy", "ci", [("version", Value::from("1.4.2"))]);
            collector.collect_log("ci", Severity::Info, "deployed", []);
        });
    });
    telemetry.flush(FLUSH).unwrap();

    let query = telemetry.query();
    let monitor = query
        .query_logs(&LogQuery::new().source("system_monitor"))
        .await
        .unwrap();
    assert_eq!(monitor.len(), 1);
    let log = &monitor[0];
    assert_eq!(
        (log.level.as_str(), log.message.as_str()),
        ("WARN", "High CPU usage detected")
    );
    assert_eq!(log.attribute("cpu_percent"), Some("95"));
    assert_eq!(log.attribute("threshold"), Some("90"));
    assert_eq!(log.attribute("host"), Some("web-1"));
    assert_eq!(
        log.attribute("code.file.path"),
        None,
        "no callsite for collected logs"
    );
    let stats = query.log_stats(&LogQuery::new()).await.unwrap();
    assert_eq!((stats.total, stats.count(Severity::Fatal)), (3, 1));

    let events: Vec<EventRow> = common::raw_client(telemetry.config())
        .query(
            "SELECT EventType AS event_type, Source AS source, ServiceName AS service, \
             Details AS details, TraceId AS trace_id FROM events ORDER BY Timestamp",
        )
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(
        (events[0].event_type.as_str(), events[0].source.as_str()),
        ("service_status", "monitor")
    );
    assert_eq!(events[0].service, "tc-test");
    let details: Vec<_> = events[0]
        .details
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        details,
        [
            ("service", "db"),
            ("status", "down"),
            ("latency_ms", "12.5")
        ]
    );
    assert_eq!(events[0].trace_id, "");
    assert_eq!(
        events[1].trace_id.len(),
        32,
        "recorded inside a span: {:?}",
        events[1]
    );
    let deployed = query
        .query_logs(&LogQuery::new().source("ci"))
        .await
        .unwrap();
    assert_eq!(deployed[0].trace_id, events[1].trace_id);
}
