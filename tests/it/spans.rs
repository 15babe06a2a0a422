//! Spans end to end: one `spans` row per closed span with W3C ids, parent
//! links, wall-clock durations and error status; logs inside carry the ids.

use crate::common;

use std::time::Duration;

use serde::Deserialize;
use tracing::{Dispatch, Instrument, dispatcher};
use tracing_clickhouse::Telemetry;
use tracing_subscriber::prelude::*;

const FLUSH: Duration = Duration::from_secs(30);

fn start(prefix: &str) -> (Dispatch, Telemetry) {
    common::start(common::config(prefix))
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct SpanRow {
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    scope: String,
    duration: u64,
    status: String,
    status_message: String,
    attributes: Vec<(String, String)>,
    start_ns: i64,
}

impl SpanRow {
    fn attribute(&self, key: &str) -> Option<&str> {
        crate::known::attribute(&self.attributes, key)
    }
}

async fn spans(telemetry: &Telemetry) -> Vec<SpanRow> {
    common::raw_client(telemetry.config())
        .query(
            "SELECT SpanName AS name, TraceId AS trace_id, SpanId AS span_id, \
             ParentSpanId AS parent_span_id, ScopeName AS scope, Duration AS duration, \
             StatusCode AS status, StatusMessage AS status_message, SpanAttributes AS attributes, \
             toUnixTimestamp64Nano(Timestamp) AS start_ns FROM spans ORDER BY Timestamp",
        )
        .fetch_all()
        .await
        .unwrap()
}

fn is_hex(id: &str, len: usize) -> bool {
    id.len() == len
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[tokio::test(flavor = "multi_thread")]
async fn nested_spans_link_to_their_parents_and_share_the_trace() {
    let (dispatch, telemetry) = start("nested");
    dispatcher::with_default(&dispatch, || {
        let root = tracing::info_span!("handle_request", route = "/items", attempt = 1u64);
        let _root = root.enter();
        {
            let child =
                tracing::debug_span!("query_db", table = "items", rows = tracing::field::Empty);
            let _child = child.enter();
            {
                let grandchild = tracing::trace_span!("decode");
                let _grandchild = grandchild.enter();
                std::thread::sleep(Duration::from_millis(2));
            }
            child.record("rows", 42u64);
            std::thread::sleep(Duration::from_millis(2));
        }
        tracing::info_span!("render").in_scope(|| std::thread::sleep(Duration::from_millis(1)));
    });
    telemetry.flush(FLUSH).unwrap();

    let rows = spans(&telemetry).await;
    let by_name = |name: &str| {
        rows.iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no {name} in {rows:?}"))
    };
    assert_eq!(rows.len(), 4, "{rows:?}");
    let (root, child, grandchild, render) = (
        by_name("handle_request"),
        by_name("query_db"),
        by_name("decode"),
        by_name("render"),
    );

    for row in &rows {
        assert!(is_hex(&row.trace_id, 32), "{row:?}");
        assert!(is_hex(&row.span_id, 16), "{row:?}");
        assert_eq!(row.trace_id, root.trace_id, "one trace");
        assert_eq!(row.scope, module_path!());
        assert_eq!(row.status, "Unset");
    }
    assert_eq!(root.parent_span_id, "");
    assert_eq!(child.parent_span_id, root.span_id);
    assert_eq!(grandchild.parent_span_id, child.span_id);
    assert_eq!(render.parent_span_id, root.span_id);
    let ids: std::collections::HashSet<_> = rows.iter().map(|r| &r.span_id).collect();
    assert_eq!(ids.len(), 4, "distinct span ids");

    assert!(grandchild.duration >= 2_000_000, "{grandchild:?}");
    assert!(
        child.duration >= grandchild.duration + 2_000_000,
        "{child:?}"
    );
    assert!(
        root.duration >= child.duration + render.duration,
        "{root:?}"
    );
    assert!(root.start_ns <= child.start_ns && child.start_ns <= grandchild.start_ns);

    assert_eq!(root.attribute("route"), Some("/items"));
    assert_eq!(root.attribute("attempt"), Some("1"));
    assert_eq!(child.attribute("table"), Some("items"));
    assert_eq!(
        child.attribute("rows"),
        Some("42"),
        "recorded after creation"
    );
    assert_eq!(child.attribute("code.namespace"), Some(module_path!()));
}

#[test]
fn an_async_span_entered_many_times_is_one_row_with_its_wall_clock_duration() {
    let (dispatch, telemetry) = start("async");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    dispatcher::with_default(&dispatch, || {
        runtime.block_on(
            async {
                for _ in 0..20 {
                    // Each await exits the span; each poll enters it again.
                    tokio::time::sleep(Duration::from_millis(3)).await;
                    tokio::task::yield_now().await;
                }
                tracing::info!("inside the task");
            }
            .instrument(tracing::info_span!("task", kind = "poller")),
        )
    });
    telemetry.flush(FLUSH).unwrap();

    runtime.block_on(async {
        let rows = spans(&telemetry).await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].name, "task");
        assert!(
            rows[0].duration >= 60_000_000,
            "at least 20 x 3 ms: {:?}",
            rows[0]
        );
        let logs = telemetry
            .query()
            .query_logs(&Default::default())
            .await
            .unwrap();
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].trace_id, rows[0].trace_id);
        assert_eq!(logs[0].span_id, rows[0].span_id);
    });
}

/// A clone of the layer in a second subscriber: the two registries give
/// their spans the same ids, and each span still gets its own row.
#[test]
fn a_cloned_layer_in_another_subscriber_keeps_each_subscribers_spans_apart() {
    let (layer, telemetry) = common::config("clone")
        .into_builder()
        .build()
        .expect("start the pipeline");
    let other = Dispatch::new(tracing_subscriber::registry().with(layer.clone()));
    let first = Dispatch::new(tracing_subscriber::registry().with(layer));
    let a = dispatcher::with_default(&first, || tracing::info_span!("in_first", n = 1));
    let b = dispatcher::with_default(&other, || tracing::info_span!("in_other", n = 2));
    assert_eq!(a.id(), b.id(), "each registry numbers its spans from 1");
    dispatcher::with_default(&first, || drop(a));
    dispatcher::with_default(&other, || drop(b));
    telemetry.flush(FLUSH).unwrap();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let rows = runtime.block_on(spans(&telemetry));
    let mut seen: Vec<_> = rows
        .iter()
        .map(|row| (row.name.as_str(), row.attribute("n")))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [("in_first", Some("1")), ("in_other", Some("2"))],
        "{rows:?}"
    );
}

#[derive(Debug)]
struct Timeout;

impl std::fmt::Display for Timeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("upstream timed out")
    }
}

impl std::error::Error for Timeout {}

#[tokio::test(flavor = "multi_thread")]
async fn spans_that_record_an_error_have_error_status() {
    let (dispatch, telemetry) = start("status");
    dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("named_error", error = tracing::field::Empty);
        span.record("error", "boom");
        drop(span);
        let err = Timeout;
        drop(tracing::info_span!(
            "error_value",
            cause = &err as &dyn std::error::Error
        ));
        drop(tracing::info_span!("fine", result = "ok"));
    });
    telemetry.flush(FLUSH).unwrap();
    let rows = spans(&telemetry).await;
    let status: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.status.as_str(),
                r.status_message.as_str(),
            )
        })
        .collect();
    assert_eq!(
        status,
        [
            ("named_error", "Error", "boom"),
            ("error_value", "Error", "upstream timed out"),
            ("fine", "Unset", ""),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_carry_the_ids_of_their_span_and_optionally_its_fields() {
    let config = common::builder("span_logs").span_fields_in_logs(true);
    let (dispatch, telemetry) = common::start(config.build_config().unwrap());
    dispatcher::with_default(&dispatch, || {
        tracing::info!("outside");
        tracing::info_span!("outer", tenant = "acme").in_scope(|| {
            tracing::info_span!("inner", order = 7u64)
                .in_scope(|| tracing::info!(step = 1u64, "inside"));
        });
    });
    telemetry.flush(FLUSH).unwrap();

    let rows = spans(&telemetry).await;
    let inner = rows.iter().find(|r| r.name == "inner").unwrap();
    let logs = telemetry
        .query()
        .query_logs(&Default::default())
        .await
        .unwrap();
    let inside = logs.iter().find(|l| l.message == "inside").unwrap();
    let outside = logs.iter().find(|l| l.message == "outside").unwrap();
    assert_eq!(
        (inside.trace_id.as_str(), inside.span_id.as_str()),
        (inner.trace_id.as_str(), inner.span_id.as_str())
    );
    assert_eq!(
        (outside.trace_id.as_str(), outside.span_id.as_str()),
        ("", "")
    );
    let keys: Vec<_> = inside
        .attributes
        .iter()
        .take(3)
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        keys,
        [("step", "1"), ("order", "7"), ("tenant", "acme")],
        "event fields, then innermost span first"
    );
    let flags: u8 = common::raw_client(telemetry.config())
        .query("SELECT TraceFlags FROM logs WHERE Body = 'inside'")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(flags, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn otel_fields_set_the_name_kind_and_status_columns() {
    let (dispatch, telemetry) = start("otel_fields");
    dispatcher::with_default(&dispatch, || {
        let order = 7;
        drop(tracing::info_span!(
            "publish",
            otel.name = format!("orders.{order} publish").as_str(),
            otel.kind = "producer",
            messaging.system = "kafka",
        ));
        let failed = tracing::info_span!(
            "call",
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            otel.status_message = tracing::field::Empty,
        );
        failed.record("otel.status_code", "error");
        failed.record("otel.status_message", "upstream said 503");
        drop(failed);
        // An explicit `ok` wins over an error field.
        drop(tracing::info_span!(
            "retried",
            error = "first try failed",
            otel.status_code = "ok"
        ));
    });
    telemetry.flush(FLUSH).unwrap();
    #[derive(Debug, Deserialize, clickhouse::Row)]
    struct Columns {
        name: String,
        kind: String,
        status: String,
        message: String,
        keys: Vec<String>,
    }
    let rows: Vec<Columns> = common::raw_client(telemetry.config())
        .query(
            "SELECT SpanName AS name, SpanKind AS kind, StatusCode AS status, \
             StatusMessage AS message, arrayFilter(k -> NOT startsWith(k, 'code.') \
             AND NOT startsWith(k, 'thread.'), mapKeys(SpanAttributes)) AS keys \
             FROM spans ORDER BY Timestamp",
        )
        .fetch_all()
        .await
        .unwrap();
    let got: Vec<(&str, &str, &str, &str, Vec<&str>)> = rows
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.kind.as_str(),
                r.status.as_str(),
                r.message.as_str(),
                r.keys.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "orders.7 publish",
                "Producer",
                "Unset",
                "",
                vec!["messaging.system"]
            ),
            ("call", "Client", "Error", "upstream said 503", vec![]),
            ("retried", "Internal", "Ok", "", vec!["error"]),
        ]
    );
}
