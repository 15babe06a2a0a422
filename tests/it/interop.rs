//! OpenTelemetry both ways.
//!
//! In: the OpenTelemetry collector's ClickHouse exporter writes into our
//! `logs` and `spans` with its own INSERT column lists (taken from its
//! source, pinned below), and our reads show those rows, beside ours, in
//! one trace.
//!
//! Out: with `tracing-opentelemetry`'s layer in the same subscriber, our
//! rows carry the ids of its spans, so our logs join the traces it exports.

use crate::common;

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing::dispatcher;
use tracing_clickhouse::propagation::RemoteContext;
use tracing_clickhouse::query::{LogQuery, QueryClient, SpanQuery};
use tracing_subscriber::prelude::*;

const FLUSH: Duration = Duration::from_secs(30);

/// Where the exporter's column lists come from: open-telemetry/
/// opentelemetry-collector-contrib, `exporter/clickhouseexporter/internal/
/// sql_templates/logs_insert.sql` at this commit ...
const LOGS_INSERT_COMMIT: &str = "cd1a250122ef040ce6747acaa7293f223ee20192";
/// ... and `traces_insert.sql` at this one (the exporter writes `SpanKind`
/// and `StatusCode` as pdata's `String()`: `Server`, `Error`, ...).
const TRACES_INSERT_COMMIT: &str = "ff7a94656bd04ce95228ff4282554a233ed93434";

/// The columns of `logs_insert.sql` at [`LOGS_INSERT_COMMIT`], in its order.
const EXPORTER_LOG_COLUMNS: &str = "Timestamp, TraceId, SpanId, TraceFlags, SeverityText, \
    SeverityNumber, ServiceName, Body, ResourceSchemaUrl, ResourceAttributes, ScopeSchemaUrl, \
    ScopeName, ScopeVersion, ScopeAttributes, LogAttributes";

/// The columns of `traces_insert.sql` at [`TRACES_INSERT_COMMIT`], in its order.
const EXPORTER_TRACE_COLUMNS: &str = "Timestamp, TraceId, SpanId, ParentSpanId, TraceState, \
    SpanName, SpanKind, ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, \
    Duration, StatusCode, StatusMessage, Events.Timestamp, Events.Name, Events.Attributes, \
    Links.TraceId, Links.SpanId, Links.TraceState, Links.Attributes";

const TRACE: &str = "5b8efff798038103d269b633813fc60c";

#[tokio::test(flavor = "multi_thread")]
async fn the_collectors_exporter_writes_our_tables_and_our_reads_show_its_rows() {
    assert_eq!(
        (LOGS_INSERT_COMMIT.len(), TRACES_INSERT_COMMIT.len()),
        (40, 40)
    );
    let config = common::config("exporter");
    tracing_clickhouse::schema::apply(&config).await.unwrap();
    let reader = QueryClient::new(&config).unwrap();
    let client = common::raw_client(&config);
    // Two spans of a Python service, as the exporter sends them (one row
    // each, in its column order), and one of its logs.
    let spans = format!(
        "INSERT INTO spans ({EXPORTER_TRACE_COLUMNS}) VALUES \
         (now64(9) - 1, '{TRACE}', 'eee19b7ec3c1b174', '', '', 'GET /orders', 'Server', \
          'orders-py', map('service.name', 'orders-py', 'telemetry.sdk.language', 'python'), \
          'opentelemetry.instrumentation.flask', '0.48b0', map('http.request.method', 'GET'), \
          120000000, 'Unset', '', [now64(9) - 1], ['exception'], [map('exception.type', 'KeyError')], \
          [], [], [], []), \
         (now64(9) - 1, '{TRACE}', '1a2b3c4d5e6f7081', 'eee19b7ec3c1b174', 'congo=t61rcWkgMzE', \
          'SELECT orders', 'Client', 'orders-py', map('service.name', 'orders-py'), \
          'opentelemetry.instrumentation.sqlite3', '0.48b0', map('db.system', 'sqlite'), \
          30000000, 'Error', 'no such table', [], [], [], \
          ['{TRACE}'], ['eee19b7ec3c1b174'], [''], [map()])"
    );
    let logs = format!(
        "INSERT INTO logs ({EXPORTER_LOG_COLUMNS}) VALUES \
         (now64(9) - 1, '{TRACE}', '1a2b3c4d5e6f7081', 1, 'ERROR', 17, 'orders-py', \
          'query failed: no such table', 'https://opentelemetry.io/schemas/1.21.0', \
          map('service.name', 'orders-py'), '', 'orders.db', '', map(), map('db.statement', 'SELECT 1'))"
    );
    for sql in [spans, logs] {
        client
            .query(&sql)
            .execute()
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    // Our reads: the log, the spans, and the trace as a tree.
    let found = reader
        .query_logs(&LogQuery::new().trace_id(TRACE))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        (
            found[0].service.as_str(),
            found[0].level.as_str(),
            found[0].source.as_str()
        ),
        ("orders-py", "ERROR", "orders.db")
    );
    let spans = reader
        .query_spans(&SpanQuery::new().service("orders-py"))
        .await
        .unwrap();
    let mut kinds: Vec<(&str, &str, &str)> = spans
        .iter()
        .map(|s| (s.name.as_str(), s.kind.as_str(), s.status.as_str()))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("GET /orders", "Server", "Unset"),
            ("SELECT orders", "Client", "Error")
        ]
    );
    let trace = reader.trace(TRACE).await.unwrap();
    assert_eq!(trace.roots.len(), 1);
    let root = &trace.roots[0];
    assert_eq!(
        (root.span.name.as_str(), root.parent_missing),
        ("GET /orders", false)
    );
    assert_eq!(root.children[0].span.name, "SELECT orders");
    assert_eq!(root.children[0].span.trace_state, "congo=t61rcWkgMzE");
    assert_eq!(
        root.children[0].logs[0].message,
        "query failed: no such table"
    );
    assert!(
        trace
            .spans()
            .iter()
            .all(|(_, span)| span.service == "orders-py")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_tracing_opentelemetry_our_rows_carry_its_ids() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let (layer, telemetry) = common::config("otel_ids").into_builder().build().unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("interop")))
        .with(layer);
    let dispatch = tracing::Dispatch::new(subscriber);
    let remote_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    dispatcher::with_default(&dispatch, || {
        let outer = tracing::info_span!("outer");
        outer.in_scope(|| {
            tracing::info!("in outer");
            tracing::info_span!("inner").in_scope(|| tracing::info!("in inner"));
        });
        drop(outer);
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "traceparent",
            format!("00-{remote_trace}-00f067aa0ba902b7-01")
                .parse()
                .unwrap(),
        );
        let remote = RemoteContext::extract(&headers);
        remote
            .parent_of(|| tracing::info_span!("served"))
            .in_scope(|| tracing::info!("in served"));
    });
    provider.force_flush().unwrap();
    telemetry.flush(FLUSH).unwrap();

    let exported = exporter.get_finished_spans().unwrap();
    let otel = |name: &str| {
        let span = exported.iter().find(|s| s.name == name).unwrap();
        (
            format!(
                "{:032x}",
                u128::from_be_bytes(span.span_context.trace_id().to_bytes())
            ),
            format!(
                "{:016x}",
                u64::from_be_bytes(span.span_context.span_id().to_bytes())
            ),
            format!(
                "{:016x}",
                u64::from_be_bytes(span.parent_span_id.to_bytes())
            ),
        )
    };
    let reader = telemetry.query();
    let ours = reader.query_spans(&SpanQuery::new()).await.unwrap();
    for name in ["outer", "inner", "served"] {
        let row = ours.iter().find(|s| s.name == name).unwrap();
        let (trace_id, span_id, parent) = otel(name);
        assert_eq!(
            (&row.trace_id, &row.span_id),
            (&trace_id, &span_id),
            "{name}"
        );
        let parent = if parent == "0000000000000000" {
            String::new()
        } else {
            parent
        };
        assert_eq!(row.parent_span_id, parent, "{name}");
    }
    assert_eq!(
        otel("served").0,
        remote_trace,
        "OpenTelemetry continued the remote trace too"
    );
    assert_eq!(otel("served").2, "00f067aa0ba902b7");
    let logs = reader.query_logs(&LogQuery::new()).await.unwrap();
    for (message, span) in [
        ("in outer", "outer"),
        ("in inner", "inner"),
        ("in served", "served"),
    ] {
        let log = logs.iter().find(|l| l.message == message).unwrap();
        let (trace_id, span_id, _) = otel(span);
        assert_eq!(
            (&log.trace_id, &log.span_id),
            (&trace_id, &span_id),
            "{message}"
        );
    }
}
