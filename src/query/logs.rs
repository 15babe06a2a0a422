//! Logs by level, source, service, text and time range; log statistics.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Deserialize;

use super::client::{Origin, QueryClient};
use super::memory::{self, MemoryLog};
use super::sql::{Param, Sql, in_range, newest_first};
use crate::batch::UnsentBatches;
use crate::error::Result;
use crate::record::{Severity, from_unix_ns, unix_ns};

/// Rows [`QueryClient::query_logs`] returns when no limit is set.
pub const DEFAULT_LIMIT: u64 = 100;

/// Which logs to read. Every condition is optional; all given must hold.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tracing_clickhouse::{Severity, query::LogQuery};
///
/// let now = SystemTime::now();
/// let query = LogQuery::new()
///     .min_level(Severity::Warn)
///     .source("checkout::payment")
///     .contains("timeout")
///     .between(now - Duration::from_secs(3600), now)
///     .limit(20);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[must_use]
pub struct LogQuery {
    level: Option<Severity>,
    min_level: Option<Severity>,
    source: Option<String>,
    service: Option<String>,
    text: Option<String>,
    since: Option<SystemTime>,
    until: Option<SystemTime>,
    limit: Option<u64>,
}

impl LogQuery {
    /// All logs, newest first, at most [`DEFAULT_LIMIT`].
    pub fn new() -> Self {
        LogQuery::default()
    }

    /// Only this level.
    pub fn level(mut self, level: Severity) -> Self {
        self.level = Some(level);
        self
    }

    /// Only this level and above.
    pub fn min_level(mut self, level: Severity) -> Self {
        self.min_level = Some(level);
        self
    }

    /// Only this source (`ScopeName`: the tracing target, or `collect_log`'s source).
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Only this service (`ServiceName`).
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// Only messages containing this text, ignoring case.
    pub fn contains(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Only logs at or after this time.
    pub fn since(mut self, start: SystemTime) -> Self {
        self.since = Some(start);
        self
    }

    /// Only logs before this time.
    pub fn until(mut self, end: SystemTime) -> Self {
        self.until = Some(end);
        self
    }

    /// Only logs in `[start, end)`.
    pub fn between(self, start: SystemTime, end: SystemTime) -> Self {
        self.since(start).until(end)
    }

    /// At most this many rows from [`QueryClient::query_logs`] (statistics
    /// always count every matching row).
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Whether a row read back from memory matches, as [`filter`](Self::filter)
    /// would decide in ClickHouse.
    fn matches(&self, row: &MemoryLog) -> bool {
        self.level.is_none_or(|level| row.level == level.as_str())
            && self
                .min_level
                .is_none_or(|level| row.severity_number >= level.number())
            && self
                .source
                .as_ref()
                .is_none_or(|source| &row.source == source)
            && self
                .service
                .as_ref()
                .is_none_or(|service| &row.service == service)
            && self
                .text
                .as_ref()
                .is_none_or(|text| row.message.to_lowercase().contains(&text.to_lowercase()))
            && in_range(row.timestamp_ns, self.since, self.until)
    }

    /// Appends the WHERE clause.
    fn filter(&self, sql: &mut Sql) {
        sql.push_text(" WHERE 1");
        if let Some(level) = self.level {
            let fragment = " AND SeverityText = {level:String}";
            sql.push(fragment, "level", Param::Str(level.as_str().to_owned()));
        }
        if let Some(level) = self.min_level {
            let fragment = " AND SeverityNumber >= {min_severity:UInt8}";
            sql.push(fragment, "min_severity", Param::UInt(level.number().into()));
        }
        if let Some(source) = &self.source {
            sql.push(
                " AND ScopeName = {source:String}",
                "source",
                Param::Str(source.clone()),
            );
        }
        if let Some(service) = &self.service {
            let fragment = " AND ServiceName = {service:String}";
            sql.push(fragment, "service", Param::Str(service.clone()));
        }
        if let Some(text) = &self.text {
            let fragment = " AND positionCaseInsensitiveUTF8(Body, {text:String}) > 0";
            sql.push(fragment, "text", Param::Str(text.clone()));
        }
        // Each bound is given twice: on TimestampTime, which is in the primary
        // key and the partition key, and exactly on Timestamp.
        if let Some(since) = self.since {
            let fragment = " AND TimestampTime >= toDateTime(intDiv({since:Int64}, 1000000000))\
                 AND Timestamp >= fromUnixTimestamp64Nano({since:Int64})";
            sql.push(fragment, "since", Param::Int(unix_ns(since)));
        }
        if let Some(until) = self.until {
            let fragment = " AND TimestampTime <= toDateTime(intDiv({until:Int64}, 1000000000))\
                 AND Timestamp < fromUnixTimestamp64Nano({until:Int64})";
            sql.push(fragment, "until", Param::Int(unix_ns(until)));
        }
    }
}

/// One stored log, in the seed's vocabulary.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, clickhouse::Row)]
#[non_exhaustive]
pub struct LogEntry {
    /// Nanoseconds since the Unix epoch.
    pub timestamp_ns: i64,
    /// `SeverityText`: `TRACE` ... `FATAL` for rows this crate wrote.
    pub level: String,
    /// `ScopeName`: the tracing target or `collect_log`'s source.
    pub source: String,
    /// `Body`.
    pub message: String,
    /// `ServiceName`.
    pub service: String,
    /// `TraceId` (hex), empty outside a span.
    pub trace_id: String,
    /// `SpanId` (hex), empty outside a span.
    pub span_id: String,
    /// `LogAttributes`: the event's fields, then code location and thread.
    pub attributes: Vec<(String, String)>,
}

impl From<MemoryLog> for LogEntry {
    fn from(row: MemoryLog) -> Self {
        LogEntry {
            timestamp_ns: row.timestamp_ns,
            level: row.level,
            source: row.source,
            message: row.message,
            service: row.service,
            trace_id: row.trace_id,
            span_id: row.span_id,
            attributes: row.attributes,
        }
    }
}

/// The answer of [`QueryClient::query_logs`]: the entries, newest first,
/// and where they came from. Derefs to the slice of entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Logs {
    /// The matching logs, newest first.
    pub entries: Vec<LogEntry>,
    /// ClickHouse, or the in-memory fallback.
    pub origin: Origin,
}

impl std::ops::Deref for Logs {
    type Target = [LogEntry];

    fn deref(&self) -> &[LogEntry] {
        &self.entries
    }
}

impl IntoIterator for Logs {
    type Item = LogEntry;
    type IntoIter = std::vec::IntoIter<LogEntry>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a> IntoIterator for &'a Logs {
    type Item = &'a LogEntry;
    type IntoIter = std::slice::Iter<'a, LogEntry>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

impl LogEntry {
    /// When it was logged.
    pub fn timestamp(&self) -> SystemTime {
        from_unix_ns(self.timestamp_ns)
    }

    /// The value of the first attribute named `key`.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Counts of matching logs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogStats {
    /// All matching logs.
    pub total: u64,
    /// Matching logs per `SeverityText`.
    pub by_level: BTreeMap<String, u64>,
    /// The oldest matching log's time (ns since the epoch).
    pub first_ns: Option<i64>,
    /// The newest matching log's time (ns since the epoch).
    pub last_ns: Option<i64>,
    /// ClickHouse, or the in-memory fallback.
    pub origin: Origin,
}

impl LogStats {
    /// The count for one level (0 if none).
    pub fn count(&self, level: Severity) -> u64 {
        self.by_level.get(level.as_str()).copied().unwrap_or(0)
    }
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct LevelCount {
    level: String,
    count: u64,
    first_ns: i64,
    last_ns: i64,
}

impl QueryClient {
    /// Logs matching `query`, newest first.
    ///
    /// # Errors
    ///
    /// The ClickHouse or connection error (without a memory fallback, or
    /// when the error is not one of reaching ClickHouse).
    pub async fn query_logs(&self, query: &LogQuery) -> Result<Logs> {
        let mut sql = Sql::new(
            "SELECT toUnixTimestamp64Nano(Timestamp) AS timestamp_ns, SeverityText AS level, \
             ScopeName AS source, Body AS message, ServiceName AS service, \
             TraceId AS trace_id, SpanId AS span_id, LogAttributes AS attributes FROM logs",
        );
        query.filter(&mut sql);
        let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
        sql.push(
            " ORDER BY Timestamp DESC LIMIT {limit:UInt64}",
            "limit",
            Param::UInt(limit),
        );
        let (entries, origin) = self
            .fetch_or_memory(sql, |memory| logs_from_memory(memory, query))
            .await?;
        Ok(Logs { entries, origin })
    }

    /// Counts per level, total, and first and last time of the logs matching
    /// `query` (its limit does not apply).
    ///
    /// # Errors
    ///
    /// The ClickHouse or connection error (as for [`query_logs`](Self::query_logs)).
    pub async fn log_stats(&self, query: &LogQuery) -> Result<LogStats> {
        let mut sql = Sql::new(
            "SELECT SeverityText AS level, count() AS count, \
             toUnixTimestamp64Nano(min(Timestamp)) AS first_ns, \
             toUnixTimestamp64Nano(max(Timestamp)) AS last_ns FROM logs",
        );
        query.filter(&mut sql);
        sql.push_text(" GROUP BY level");
        let (rows, origin) = self
            .fetch_or_memory(sql, |memory| level_counts_from_memory(memory, query))
            .await?;
        let mut stats = LogStats {
            origin,
            ..LogStats::default()
        };
        for row in rows {
            stats.total += row.count;
            stats.first_ns = Some(stats.first_ns.map_or(row.first_ns, |t| t.min(row.first_ns)));
            stats.last_ns = Some(stats.last_ns.map_or(row.last_ns, |t| t.max(row.last_ns)));
            stats.by_level.insert(row.level, row.count);
        }
        Ok(stats)
    }
}

/// [`QueryClient::query_logs`] on the rows waiting in memory.
fn logs_from_memory(memory: &UnsentBatches, query: &LogQuery) -> Vec<LogEntry> {
    let rows: Vec<MemoryLog> = memory::logs(memory)
        .into_iter()
        .filter(|row| query.matches(row))
        .collect();
    newest_first(
        rows,
        |row| row.timestamp_ns,
        query.limit.unwrap_or(DEFAULT_LIMIT),
    )
}

/// [`QueryClient::log_stats`]'s per-level counts on the rows waiting in memory.
fn level_counts_from_memory(memory: &UnsentBatches, query: &LogQuery) -> Vec<LevelCount> {
    let mut counts: BTreeMap<String, LevelCount> = BTreeMap::new();
    for row in memory::logs(memory)
        .into_iter()
        .filter(|row| query.matches(row))
    {
        let count = counts.entry(row.level.clone()).or_insert(LevelCount {
            level: row.level,
            count: 0,
            first_ns: row.timestamp_ns,
            last_ns: row.timestamp_ns,
        });
        count.count += 1;
        count.first_ns = count.first_ns.min(row.timestamp_ns);
        count.last_ns = count.last_ns.max(row.timestamp_ns);
    }
    counts.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn filter_binds_every_value_and_interpolates_none() {
        let hostile = "x' OR 1=1 --";
        let mut sql = Sql::new("SELECT 1 FROM logs");
        LogQuery::new()
            .level(Severity::Error)
            .source(hostile)
            .service(hostile)
            .contains(hostile)
            .since(UNIX_EPOCH + Duration::from_secs(10))
            .until(UNIX_EPOCH + Duration::from_secs(20))
            .filter(&mut sql);
        assert!(!sql.text.contains(hostile), "{}", sql.text);
        let names: Vec<_> = sql.params.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            ["level", "source", "service", "text", "since", "until"]
        );
        assert!(sql.text.contains("{since:Int64}") && sql.text.contains("{until:Int64}"));
    }
}
