//! Known rows written straight into the tables, with chosen times, ids,
//! levels and values, so tests can say exactly what a reader must find.

#![allow(dead_code, unreachable_pub)]

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

#[derive(Clone, Debug, Default, Serialize, clickhouse::Row)]
pub struct LogRow {
    #[serde(rename = "Timestamp")]
    pub timestamp_ns: i64,
    #[serde(rename = "TraceId")]
    pub trace_id: String,
    #[serde(rename = "SpanId")]
    pub span_id: String,
    #[serde(rename = "SeverityText")]
    pub level: String,
    #[serde(rename = "SeverityNumber")]
    pub severity_number: u8,
    #[serde(rename = "ServiceName")]
    pub service: String,
    #[serde(rename = "Body")]
    pub body: String,
    #[serde(rename = "ScopeName")]
    pub source: String,
    #[serde(rename = "LogAttributes")]
    pub attributes: Vec<(String, String)>,
}

impl LogRow {
    /// The value of the first attribute named `key`.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        attribute(&self.attributes, key)
    }

    /// Its level.
    pub fn severity(&self) -> tracing_clickhouse::Severity {
        self.level.parse().unwrap()
    }
}

#[derive(Clone, Debug, Default, Serialize, clickhouse::Row)]
pub struct SpanRow {
    #[serde(rename = "Timestamp")]
    pub timestamp_ns: i64,
    #[serde(rename = "TraceId")]
    pub trace_id: String,
    #[serde(rename = "SpanId")]
    pub span_id: String,
    #[serde(rename = "ParentSpanId")]
    pub parent_span_id: String,
    #[serde(rename = "SpanName")]
    pub name: String,
    #[serde(rename = "ServiceName")]
    pub service: String,
    #[serde(rename = "Duration")]
    pub duration_ns: u64,
    #[serde(rename = "StatusCode")]
    pub status: String,
    #[serde(rename = "StatusMessage")]
    pub status_message: String,
}

#[derive(Clone, Debug, Default, Serialize, clickhouse::Row)]
pub struct MetricRow {
    #[serde(rename = "TimeUnix")]
    pub timestamp_ns: i64,
    #[serde(rename = "MetricName")]
    pub name: String,
    #[serde(rename = "MetricKind")]
    pub kind: String,
    #[serde(rename = "ServiceName")]
    pub service: String,
    #[serde(rename = "Attributes")]
    pub attributes: Vec<(String, String)>,
    #[serde(rename = "Value")]
    pub value: f64,
    #[serde(rename = "Delta")]
    pub delta: f64,
    #[serde(rename = "Count")]
    pub count: u64,
    #[serde(rename = "Sum")]
    pub sum: f64,
    #[serde(rename = "Min")]
    pub min: f64,
    #[serde(rename = "Max")]
    pub max: f64,
    #[serde(rename = "BucketBounds")]
    pub bucket_bounds: Vec<f64>,
    #[serde(rename = "BucketCounts")]
    pub bucket_counts: Vec<u64>,
}

#[derive(Clone, Debug, Default, Serialize, clickhouse::Row)]
pub struct EventRow {
    #[serde(rename = "Timestamp")]
    pub timestamp_ns: i64,
    #[serde(rename = "EventType")]
    pub event_type: String,
    #[serde(rename = "Source")]
    pub source: String,
    #[serde(rename = "ServiceName")]
    pub service: String,
    #[serde(rename = "Details")]
    pub details: Vec<(String, String)>,
}

/// Writes `rows` into `table` in one insert (the columns the rows name; the
/// others take their defaults).
pub async fn insert<T>(client: &clickhouse::Client, table: &str, rows: &[T])
where
    T: clickhouse::Row + Serialize,
    for<'a> T: clickhouse::RowWrite<Value<'a> = T>,
{
    let client = client.clone().with_validation(false);
    let mut insert = client.insert::<T>(table).await.unwrap();
    for row in rows {
        insert.write(row).await.unwrap();
    }
    insert.end().await.unwrap();
}

/// Now, whole minutes, in ns: data is laid out `minutes` before it.
pub fn minutes_ago(minutes: i64) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    (now / 60 * 60 - minutes * 60) * 1_000_000_000
}

pub const MINUTE: i64 = 60_000_000_000;
pub const SECOND: i64 = 1_000_000_000;

/// The trace of the fixture.
pub const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// A log row.
pub fn log(at: i64, level: &str, number: u8, service: &str, source: &str, body: &str) -> LogRow {
    LogRow {
        timestamp_ns: at,
        trace_id: String::new(),
        span_id: String::new(),
        level: level.into(),
        severity_number: number,
        service: service.into(),
        body: body.into(),
        source: source.into(),
        attributes: Vec::new(),
    }
}

/// `n` logs from `base`, one every 10 s: levels INFO, INFO, WARN, ERROR, DEBUG
/// over and over; services checkout and payments by turn; sources app::http
/// and app::db; errors `request <hex> failed after <n> ms`; the attribute
/// `user.id` = n % 5 and `region`; the first five in the fixture's trace.
pub fn logs(base: i64, n: usize) -> Vec<LogRow> {
    (0..n)
        .map(|i| {
            let (level, number) = [
                ("INFO", 9),
                ("INFO", 9),
                ("WARN", 13),
                ("ERROR", 17),
                ("DEBUG", 5),
            ][i % 5];
            let body = match level {
                "ERROR" => format!("request {:016x} failed after {} ms", i * 7919, i % 90),
                "WARN" => format!("slow query {i}: timeout"),
                _ => format!("handled request {i}"),
            };
            let mut row = log(
                base + i as i64 * 10 * SECOND,
                level,
                number,
                ["checkout", "payments"][i % 2],
                ["app::http", "app::db"][i / 2 % 2],
                &body,
            );
            row.attributes = vec![
                ("user.id".into(), (i % 5).to_string()),
                ("region".into(), ["eu", "us"][i % 2].into()),
                ("code.line.number".into(), "42".into()),
            ];
            if i < 5 {
                row.trace_id = TRACE.into();
                row.span_id = ["0000000000000001", "0000000000000003"][i % 2].into();
            }
            row
        })
        .collect()
}

/// The fixture's trace: `handle_request` (1.2 s) with `db.query` (100 ms,
/// from 100 ms) and `charge` (500 ms, from 600 ms, an error); then ten
/// `search` spans of 10..100 ms in another trace.
pub fn spans(base: i64) -> Vec<SpanRow> {
    let span = |at: i64, id: &str, parent: &str, name: &str, service: &str, ms: u64| SpanRow {
        timestamp_ns: base + at * 1_000_000,
        trace_id: TRACE.into(),
        span_id: id.into(),
        parent_span_id: parent.into(),
        name: name.into(),
        service: service.into(),
        duration_ns: ms * 1_000_000,
        status: "Unset".into(),
        status_message: String::new(),
    };
    let mut charge = span(
        600,
        "0000000000000003",
        "0000000000000001",
        "charge",
        "payments",
        500,
    );
    charge.status = "Error".into();
    charge.status_message = "card declined".into();
    let mut rows = vec![
        span(
            0,
            "0000000000000001",
            "",
            "handle_request",
            "checkout",
            1200,
        ),
        span(
            100,
            "0000000000000002",
            "0000000000000001",
            "db.query",
            "checkout",
            100,
        ),
        charge,
    ];
    for i in 0..10u64 {
        let mut search = span(
            2000 + i as i64 * 100,
            &format!("{:016x}", 100 + i),
            "",
            "search",
            "search",
            10 * (i + 1),
        );
        search.trace_id = format!("{:032x}", 999);
        rows.push(search);
    }
    rows
}

/// Ten snapshots a minute apart from `base` of a counter `orders.placed`
/// (channel=web, +6 each), a gauge `queue.depth` (1..10) and a histogram
/// `http.latency` (10 samples each between 0.01 and 0.1).
pub fn metrics(base: i64) -> Vec<MetricRow> {
    let mut rows = Vec::new();
    for i in 0..10u32 {
        let at = base + i64::from(i) * MINUTE;
        let row = |name: &str, kind: &str| MetricRow {
            timestamp_ns: at,
            name: name.into(),
            kind: kind.into(),
            service: "checkout".into(),
            attributes: Vec::new(),
            value: 0.0,
            delta: 0.0,
            count: 0,
            sum: 0.0,
            min: 0.0,
            max: 0.0,
            bucket_bounds: Vec::new(),
            bucket_counts: Vec::new(),
        };
        let mut counter = row("orders.placed", "counter");
        counter.attributes = vec![("channel".into(), "web".into())];
        counter.value = f64::from(6 * (i + 1));
        counter.delta = 6.0;
        let mut gauge = row("queue.depth", "gauge");
        gauge.value = f64::from(i + 1);
        let mut histogram = row("http.latency", "histogram");
        histogram.count = 10;
        histogram.sum = 0.55;
        histogram.min = 0.01;
        histogram.max = 0.1;
        histogram.value = 0.055;
        histogram.bucket_bounds = vec![0.015625, 0.03125, 0.0625, 0.125];
        histogram.bucket_counts = vec![1, 2, 3, 4];
        rows.extend([counter, gauge, histogram]);
    }
    rows
}

/// Three deploys and a service going down and up, a minute apart.
pub fn events(base: i64) -> Vec<EventRow> {
    let event = |i: i64, event_type: &str, details: &[(&str, &str)]| EventRow {
        timestamp_ns: base + i * MINUTE,
        event_type: event_type.into(),
        source: if event_type == "deploy" {
            "ci"
        } else {
            "monitor"
        }
        .into(),
        service: "checkout".into(),
        details: details
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
    };
    vec![
        event(0, "deploy", &[("version", "1.4.0")]),
        event(1, "deploy", &[("version", "1.4.1")]),
        event(
            2,
            "service_status",
            &[("service", "postgres"), ("status", "down")],
        ),
        event(
            3,
            "service_status",
            &[("service", "postgres"), ("status", "up")],
        ),
        event(4, "deploy", &[("version", "1.4.2")]),
    ]
}

/// Known rows in every table around `base`: the logs, the trace, the
/// metrics, the events; a test changes what it needs before inserting.
pub struct Tables {
    pub logs: Vec<LogRow>,
    pub spans: Vec<SpanRow>,
    pub metrics: Vec<MetricRow>,
    pub events: Vec<EventRow>,
}

impl Tables {
    /// `logs` logs from `base` on ([`logs`]), and [`spans`], [`metrics`]
    /// and [`events`] at `base`.
    pub fn around(base: i64, logs: usize) -> Tables {
        Tables {
            logs: self::logs(base, logs),
            spans: spans(base),
            metrics: metrics(base),
            events: events(base),
        }
    }

    /// Inserts every table's rows.
    pub async fn insert(&self, client: &clickhouse::Client) {
        insert(client, "logs", &self.logs).await;
        insert(client, "spans", &self.spans).await;
        insert(client, "metrics", &self.metrics).await;
        insert(client, "events", &self.events).await;
    }
}

/// The value of the first of `attributes` named `key` (a row's map, as
/// read back).
pub fn attribute<'a>(attributes: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// `ns` as a time.
pub fn at(ns: i64) -> SystemTime {
    UNIX_EPOCH + std::time::Duration::from_nanos(ns as u64)
}

/// A time as ns.
pub fn ns(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64
}
