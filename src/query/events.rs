//! Events (`record_event`, service status changes) by type, source and time range.

use serde::Deserialize;

use super::client::{Answer, QueryClient};
use super::range::TimeRange;
use super::rows::{self, EventRow};
use super::sql::{Sql, newest_first};
use crate::batch::UnsentBatches;
use crate::error::Result;

/// Rows [`QueryClient::query_events`] returns when no limit is set.
pub(crate) const DEFAULT_EVENT_LIMIT: u64 = 100;

/// Which events to read. Every condition is optional; all given must hold.
///
/// ```
/// use tracing_clickhouse::query::EventQuery;
/// let query = EventQuery::new().event_type("service_status").source("monitor").limit(10);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct EventQuery {
    event_type: Option<String>,
    source: Option<String>,
    range: TimeRange,
    limit: Option<u64>,
}

impl EventQuery {
    /// All events, newest first, at most 100 unless [`limit`](Self::limit) says.
    pub fn new() -> Self {
        EventQuery::default()
    }

    /// Only this `EventType`.
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_type = Some(event_type.into());
        self
    }

    /// Only this `Source`.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Only events in this time range (all time by default).
    pub fn range(mut self, range: TimeRange) -> Self {
        self.range = range;
        self
    }

    /// At most this many events.
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    fn filter(&self, sql: &mut Sql) {
        sql.push(" WHERE 1");
        sql.push_equal("EventType", "event_type", self.event_type.as_ref());
        sql.push_equal("Source", "source", self.source.as_ref());
        sql.push_range("Timestamp", None, &self.range);
    }

    /// Whether a row read back from memory matches, as [`filter`](Self::filter)
    /// would decide in ClickHouse.
    fn matches(&self, row: &EventRow) -> bool {
        self.event_type
            .as_ref()
            .is_none_or(|t| &row.event_type == t)
            && self.source.as_ref().is_none_or(|s| &row.source == s)
            && self.range.contains_ns(row.timestamp_ns)
    }
}

/// One stored event.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct EventEntry {
    /// Nanoseconds since the Unix epoch.
    pub timestamp_ns: i64,
    /// `EventType`, e.g. `service_status`.
    pub event_type: String,
    /// `Source`.
    pub source: String,
    /// `ServiceName`.
    pub service: String,
    /// `Details`.
    pub details: Vec<(String, String)>,
    /// `TraceId` (hex), empty outside a span.
    pub trace_id: String,
    /// `SpanId` (hex), empty outside a span.
    pub span_id: String,
}

impl EventEntry {
    /// The value of the first detail named `key`.
    pub fn detail(&self, key: &str) -> Option<&str> {
        self.details
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl From<EventRow> for EventEntry {
    fn from(row: EventRow) -> Self {
        EventEntry {
            timestamp_ns: row.timestamp_ns,
            event_type: row.event_type,
            source: row.source,
            service: row.service,
            details: row.details,
            trace_id: row.trace_id,
            span_id: row.span_id,
        }
    }
}

impl QueryClient {
    /// Events matching `query`, newest first.
    ///
    /// # Errors
    ///
    /// As [`query_logs`](Self::query_logs).
    pub async fn query_events(&self, query: &EventQuery) -> Result<Answer<EventEntry>> {
        let mut sql = Sql::new(
            "SELECT toUnixTimestamp64Nano(Timestamp) AS timestamp_ns, EventType AS event_type, \
             Source AS source, ServiceName AS service, Details AS details, \
             TraceId AS trace_id, SpanId AS span_id FROM events",
        );
        query.filter(&mut sql);
        let limit = sql.param(query.limit.unwrap_or(DEFAULT_EVENT_LIMIT));
        sql.push(&format!(" ORDER BY Timestamp DESC LIMIT {limit}"));
        self.fetch_or_memory(sql, |memory| events_from_memory(memory, query))
            .await
    }
}

fn events_from_memory(memory: &UnsentBatches, query: &EventQuery) -> Vec<EventRow> {
    let rows: Vec<EventRow> = rows::events(memory)
        .into_iter()
        .filter(|row| query.matches(row))
        .collect();
    newest_first(
        rows,
        |row| row.timestamp_ns,
        query.limit.unwrap_or(DEFAULT_EVENT_LIMIT),
    )
}
