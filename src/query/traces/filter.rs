//! Which spans a query is about: [`SpanQuery`], as SQL and as a test on a
//! span read back from memory.

use std::time::Duration;

use crate::query::range::TimeRange;
use crate::query::rows::SpanRow;
use crate::query::sql::{Order, Sql, in_set};

/// Spans [`QueryClient::query_spans`](crate::query::QueryClient::query_spans)
/// returns when no limit is set.
pub(crate) const DEFAULT_SPAN_LIMIT: u64 = 100;

/// A span's `StatusCode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpanStatus {
    /// `Unset`: the span recorded no error.
    Unset,
    /// `Ok`: marked successful (not written by this crate, but by others).
    Ok,
    /// `Error`: the span recorded an `error` field or a `&dyn Error`.
    Error,
}

impl SpanStatus {
    /// The stored `StatusCode`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SpanStatus::Unset => "Unset",
            SpanStatus::Ok => "Ok",
            SpanStatus::Error => "Error",
        }
    }
}

/// Which spans to read. Every condition is optional; all given must hold;
/// `service` and `name` match any of the values given, one call per value.
/// The time range applies to the spans' start.
///
/// ```
/// use std::time::Duration;
/// use tracing_clickhouse::query::{SpanQuery, SpanStatus};
/// let slow_failures = SpanQuery::new()
///     .service("checkout")
///     .name("charge")
///     .min_duration(Duration::from_millis(500))
///     .status(SpanStatus::Error);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct SpanQuery {
    pub(super) services: Vec<String>,
    pub(super) names: Vec<String>,
    pub(super) min_duration: Option<Duration>,
    pub(super) status: Option<SpanStatus>,
    pub(super) trace_id: Option<String>,
    pub(super) range: TimeRange,
    pub(super) order: Order,
    pub(super) limit: Option<u64>,
}

impl SpanQuery {
    /// All spans, the latest started first, at most 100 unless [`limit`](Self::limit) says.
    pub fn new() -> Self {
        SpanQuery::default()
    }

    /// Only this service (`ServiceName`); called again, this one or the others.
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.services.push(service.into());
        self
    }

    /// Only spans of this name (`SpanName`); called again, this one or the others.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.names.push(name.into());
        self
    }

    /// Only spans that lasted at least this long.
    pub fn min_duration(mut self, duration: Duration) -> Self {
        self.min_duration = Some(duration);
        self
    }

    /// Only spans with this status.
    pub fn status(mut self, status: SpanStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Only spans of this trace (32 hex digits).
    pub fn trace_id(mut self, trace_id: impl Into<String>) -> Self {
        self.trace_id = Some(trace_id.into());
        self
    }

    /// Only spans started in this time range (all time by default).
    pub fn range(mut self, range: TimeRange) -> Self {
        self.range = range;
        self
    }

    /// The latest started first (the default) or the earliest.
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// At most this many spans from `query_spans` (`slowest_operations`
    /// takes its own limit).
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    fn min_duration_ns(&self) -> Option<u64> {
        self.min_duration
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    /// Appends the WHERE clause.
    pub(super) fn filter(&self, sql: &mut Sql) {
        sql.push(" WHERE 1");
        sql.push_any_of("ServiceName", "service", &self.services);
        sql.push_any_of("SpanName", "span name", &self.names);
        if let Some(ns) = self.min_duration_ns() {
            let ns = sql.param(ns);
            sql.push(&format!(" AND Duration >= {ns}"));
        }
        if let Some(status) = self.status {
            let status = sql.param(status.as_str());
            sql.push(&format!(" AND StatusCode = {status}"));
        }
        sql.push_equal("TraceId", "trace_id", self.trace_id.as_ref());
        sql.push_range("Timestamp", None, &self.range);
    }

    /// Whether a span read back from memory matches, as [`filter`](Self::filter)
    /// decides in ClickHouse.
    pub(super) fn matches(&self, span: &SpanRow) -> bool {
        in_set(&self.services, &span.service)
            && in_set(&self.names, &span.name)
            && self
                .min_duration_ns()
                .is_none_or(|ns| span.duration_ns >= ns)
            && self.status.is_none_or(|s| span.status == s.as_str())
            && self.trace_id.as_ref().is_none_or(|id| &span.trace_id == id)
            && self.range.contains_ns(span.timestamp_ns)
    }
}
