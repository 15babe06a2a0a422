//! Reading spans: [`QueryClient::query_spans`].

use serde::Deserialize;

use super::filter::{DEFAULT_SPAN_LIMIT, SpanQuery};
use crate::batch::UnsentBatches;
use crate::error::Result;
use crate::query::client::{Answer, QueryClient};
use crate::query::rows::{self, SpanRow};
use crate::query::sql::{Order, Sql};

/// One stored span.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct SpanEntry {
    /// When it started (ns since the epoch).
    pub timestamp_ns: i64,
    /// `TraceId` (32 hex digits).
    pub trace_id: String,
    /// `SpanId` (16 hex digits).
    pub span_id: String,
    /// `ParentSpanId`, empty for a trace's root.
    pub parent_span_id: String,
    /// `SpanName`.
    pub name: String,
    /// `ServiceName`.
    pub service: String,
    /// `ScopeName`: the span's tracing target.
    pub source: String,
    /// `Duration`: wall-clock time from start to close, in ns.
    pub duration_ns: u64,
    /// `StatusCode`: `Unset`, `Ok` or `Error`.
    pub status: String,
    /// `StatusMessage`: the error's text.
    pub status_message: String,
    /// `SpanAttributes`: the span's fields.
    pub attributes: Vec<(String, String)>,
    /// `SpanKind`: `Internal`, `Server`, `Client`, `Producer` or `Consumer`.
    pub kind: String,
    /// `TraceState`: the `tracestate` the trace came with.
    pub trace_state: String,
}

impl SpanEntry {
    /// The value of the first attribute named `key`.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl From<SpanRow> for SpanEntry {
    fn from(span: SpanRow) -> Self {
        SpanEntry {
            timestamp_ns: span.timestamp_ns,
            trace_id: span.trace_id,
            span_id: span.span_id,
            parent_span_id: span.parent_span_id,
            name: span.name,
            service: span.service,
            source: span.source,
            duration_ns: span.duration_ns,
            status: span.status,
            status_message: span.status_message,
            attributes: span.attributes,
            kind: span.kind,
            trace_state: span.trace_state,
        }
    }
}

pub(super) const SPAN_COLUMNS: &str = "SELECT toUnixTimestamp64Nano(Timestamp) AS timestamp_ns, \
     TraceId AS trace_id, SpanId AS span_id, ParentSpanId AS parent_span_id, \
     SpanName AS name, ServiceName AS service, ScopeName AS source, Duration AS duration_ns, \
     StatusCode AS status, StatusMessage AS status_message, SpanAttributes AS attributes, \
     SpanKind AS kind, TraceState AS trace_state \
     FROM spans";

impl QueryClient {
    /// Spans matching `query`, in its order of start (the latest first
    /// unless asked), at most its limit.
    ///
    /// # Errors
    ///
    /// As [`query_logs`](Self::query_logs).
    pub async fn query_spans(&self, query: &SpanQuery) -> Result<Answer<SpanEntry>> {
        let mut sql = Sql::new(SPAN_COLUMNS);
        query.filter(&mut sql);
        let limit = query.limit.unwrap_or(DEFAULT_SPAN_LIMIT);
        let rows = sql.param(limit);
        let order = query.order.sql();
        sql.push(&format!(
            " ORDER BY Timestamp {order}, SpanId {order} LIMIT {rows}"
        ));
        self.fetch_or_memory(sql, |memory| spans_from_memory(memory, query, limit))
            .await
    }
}

fn spans_from_memory(memory: &UnsentBatches, query: &SpanQuery, limit: u64) -> Vec<SpanRow> {
    let mut spans: Vec<SpanRow> = rows::spans(memory)
        .into_iter()
        .filter(|span| query.matches(span))
        .collect();
    spans.sort_by(|a, b| (a.timestamp_ns, &a.span_id).cmp(&(b.timestamp_ns, &b.span_id)));
    if query.order == Order::NewestFirst {
        spans.reverse();
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    spans.into_iter().take(limit).collect()
}
