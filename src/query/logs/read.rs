//! Reading logs: [`QueryClient::query_logs`], a page at a time.

use serde::Deserialize;

use super::cursor::{LogCursor, ROW_HASH, RowKey};
use super::filter::{DEFAULT_LIMIT, LogQuery};
use crate::batch::UnsentBatches;
use crate::error::Result;
use crate::query::client::{AnswerOrigin, Fetched, QueryClient};
use crate::query::rows::{self, LogRow};
use crate::query::sql::{Order, Sql};

/// One stored log, in the seed's vocabulary.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
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

impl LogEntry {
    /// The value of the first attribute named `key`.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl From<LogRow> for LogEntry {
    fn from(row: LogRow) -> Self {
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

/// The answer of [`QueryClient::query_logs`]: one page of entries, in the
/// query's order, where they came from, and where the next page starts.
/// Derefs to the slice of entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Logs {
    /// The matching logs, in the query's order.
    pub entries: Vec<LogEntry>,
    /// ClickHouse, or the in-memory fallback.
    pub origin: AnswerOrigin,
    /// The rest of the answer, when this page is full: pass it to
    /// [`LogQuery::after`] with the same filters. `None` on the last page,
    /// and on answers from memory (paging needs ClickHouse).
    pub next: Option<LogCursor>,
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

impl QueryClient {
    /// Logs matching `query`, in its order (newest first unless asked),
    /// at most its limit; [`Logs::next`] continues.
    ///
    /// # Errors
    ///
    /// An invalid query ([`Error::InvalidQuery`](crate::Error::InvalidQuery)); the
    /// ClickHouse or connection error, unless this client has the memory
    /// fallback and ClickHouse cannot be reached; then
    /// [`Error::ClickHouseNeeded`](crate::Error::ClickHouseNeeded) for a
    /// page after the first.
    pub async fn query_logs(&self, query: &LogQuery) -> Result<Logs> {
        query.check()?;
        let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
        let shown = query.after.map_or(0, |cursor| u64::from(cursor.shown));
        // The newest rows of a first page, without reading the whole range
        // when that can be avoided (see the newest module).
        if query.order == Order::NewestFirst
            && query.after.is_none()
            && limit > 0
            && let Some(rows) = self.newest_rows(query, limit, page_sql).await
        {
            return Ok(page(query, limit, rows));
        }
        let sql = page_sql(query, limit.saturating_add(shown));
        // A page after the first needs ClickHouse: memory has no cursor.
        let memory = query
            .after
            .is_none()
            .then_some(|memory: &UnsentBatches| logs_from_memory(memory, query));
        let rows: Vec<LogRow> = match self.fetch_or_else(sql, "paging", memory).await? {
            Fetched::ClickHouse(rows) => rows,
            Fetched::Memory(entries, origin) => {
                return Ok(Logs {
                    entries,
                    origin,
                    next: None,
                });
            }
        };
        Ok(page(query, limit, rows))
    }
}

/// The rows of a page of `query`: at most `rows`, in its order (a tail's
/// too, oldest first).
pub(super) fn page_sql(query: &LogQuery, rows: u64) -> Sql {
    let mut sql = Sql::new(&format!(
        "SELECT toUnixTimestamp64Nano(Timestamp) AS timestamp_ns, {ROW_HASH} AS row_hash, \
         TraceId AS trace_id, SpanId AS span_id, SeverityText AS level, \
         SeverityNumber AS severity_number, Body AS message, ScopeName AS source, \
         ServiceName AS service, LogAttributes AS attributes FROM logs"
    ));
    query.filter(&mut sql);
    let order = query.order.sql();
    let rows = sql.param(rows);
    sql.push(&format!(
        " ORDER BY Timestamp {order}, row_hash {order} LIMIT {rows}"
    ));
    sql
}

/// The page of `query` (at most `limit` entries) from the rows read for
/// it, the rows its cursor already showed dropped, and the cursor of the
/// next page if this one is full.
fn page(query: &LogQuery, limit: u64, rows: Vec<LogRow>) -> Logs {
    let keys: Vec<RowKey> = rows.iter().map(LogRow::key).collect();
    let skip = query.after.map_or(0, |cursor| cursor.skip(&keys));
    let limit_rows = usize::try_from(limit).unwrap_or(usize::MAX);
    let page = &keys[skip..keys.len().min(skip.saturating_add(limit_rows))];
    let next = match limit > 0 && page.len() as u64 >= limit {
        true => LogCursor::after_page(query.order, page, query.after.as_ref()),
        false => None,
    };
    Logs {
        entries: rows
            .into_iter()
            .skip(skip)
            .take(limit_rows)
            .map(LogEntry::from)
            .collect(),
        origin: AnswerOrigin::ClickHouse,
        next,
    }
}

/// [`QueryClient::query_logs`] on the rows waiting in memory.
fn logs_from_memory(memory: &UnsentBatches, query: &LogQuery) -> Vec<LogEntry> {
    let mut rows: Vec<LogRow> = rows::logs(memory)
        .into_iter()
        .filter(|row| query.matches(row))
        .collect();
    match query.order {
        Order::NewestFirst => rows.sort_by_key(|row| std::cmp::Reverse(row.timestamp_ns)),
        Order::OldestFirst => rows.sort_by_key(|row| row.timestamp_ns),
    }
    let limit = usize::try_from(query.limit.unwrap_or(DEFAULT_LIMIT)).unwrap_or(usize::MAX);
    rows.into_iter().take(limit).map(LogEntry::from).collect()
}
