//! Following logs as they arrive: [`QueryClient::tail`].
//!
//! A tail is a cursor in oldest-first order that only ever moves forward
//! past rows it has handed out, in the total order of pages
//! (`(Timestamp, RowHash)`, see the cursor's module): a row is handed out
//! once, however often polls fail or the server restarts in between. A row
//! that arrives with a time before the cursor's (a batch replayed late from
//! a spool) is behind it and is not handed out.

use serde::Deserialize;

use super::cursor::{LogCursor, ROW_HASH, RowKey};
use super::filter::LogQuery;
use super::read::{LogEntry, page_sql};
use crate::error::Result;
use crate::query::client::QueryClient;
use crate::query::range::TimeRange;
use crate::query::rows::LogRow;
use crate::query::sql::{Order, Sql};
use crate::record::from_unix_ns;

/// A live tail of the logs matching a query (see [`QueryClient::tail`]).
#[derive(Clone, Debug)]
pub struct LogTail {
    client: QueryClient,
    query: LogQuery,
    backlog: u64,
    started: bool,
    cursor: Option<LogCursor>,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct NewestKey {
    timestamp_ns: i64,
    row_hash: u64,
    rows: u64,
}

impl QueryClient {
    /// Follows the logs matching `query` (its filters; its order, limit
    /// and cursor do not apply): [`LogTail::poll`] first returns the last
    /// `backlog` of them, then, call after call, those that arrived since,
    /// oldest first, each once.
    pub fn tail(&self, query: &LogQuery, backlog: u64) -> LogTail {
        let mut query = query.clone();
        query.order = Order::OldestFirst;
        query.limit = None;
        query.after = None;
        LogTail {
            client: self.clone(),
            query,
            backlog,
            started: false,
            cursor: None,
        }
    }
}

impl LogTail {
    /// Rows one [`poll`](Self::poll) returns at most: a full answer means
    /// more are waiting. Each poll reads the rows past the cursor once, so
    /// the page is large enough to follow 50 000 rows a second with a few
    /// polls (README, "Reads at scale"), and small enough to hold (a few
    /// MB).
    pub const PAGE: u64 = 10_000;

    /// The logs that arrived since the last successful poll (the first
    /// time: the last `backlog` ones), oldest first; at most [`Self::PAGE`] at once,
    /// so a full answer means to poll again right away. A failed poll
    /// changes nothing: the next one starts where this one would have.
    ///
    /// # Errors
    ///
    /// As [`QueryClient::query_logs`] (this reads ClickHouse only).
    pub async fn poll(&mut self) -> Result<Vec<LogEntry>> {
        self.query.check()?;
        if !self.started {
            let entries = match self.backlog {
                0 => {
                    self.cursor = self.newest_key().await?;
                    Vec::new()
                }
                n => self.newest(n).await?,
            };
            self.started = true;
            return Ok(entries);
        }
        let mut query = self.query.clone();
        if let Some(cursor) = self.cursor {
            query = query.after(cursor);
        }
        let shown = self.cursor.map_or(0, |c| u64::from(c.shown));
        let sql = page_sql(&query, Self::PAGE + shown);
        let rows: Vec<LogRow> = self.client.fetch(sql, "a tail").await?;
        let keys: Vec<RowKey> = rows.iter().map(LogRow::key).collect();
        let skip = self.cursor.map_or(0, |c| c.skip(&keys));
        if keys.len() > skip {
            self.cursor =
                LogCursor::after_page(Order::OldestFirst, &keys[skip..], self.cursor.as_ref());
        }
        Ok(rows.into_iter().skip(skip).map(LogEntry::from).collect())
    }

    /// Where the tail stands (`None` before anything matched): the next
    /// poll returns what comes after it, and so does a page query resumed
    /// from it ([`LogQuery::after`]) with the same filters, in another
    /// process or after a restart.
    pub fn cursor(&self) -> Option<LogCursor> {
        self.cursor
    }

    /// The newest `n` rows, oldest first, and the cursor after them: read
    /// without the whole range when that can be avoided (see the newest
    /// module).
    async fn newest(&mut self, n: u64) -> Result<Vec<LogEntry>> {
        let mut rows = match self.client.newest_rows(&self.query, n, newest_sql).await {
            Some(rows) => rows,
            None => {
                self.client
                    .fetch(newest_sql(&self.query, n), "a tail")
                    .await?
            }
        };
        rows.reverse();
        let keys: Vec<RowKey> = rows.iter().map(LogRow::key).collect();
        self.cursor = LogCursor::after_page(Order::OldestFirst, &keys, None);
        Ok(rows.into_iter().map(LogEntry::from).collect())
    }

    /// The cursor just past the newest row (and every row identical to it):
    /// looked for from the newest row's time, found as above.
    async fn newest_key(&self) -> Result<Option<LogCursor>> {
        let query = match self.client.newest_rows(&self.query, 1, newest_sql).await {
            Some(rows) => match rows.first() {
                Some(row) => self.query.clone().range(TimeRange {
                    start: Some(from_unix_ns(row.key().0)),
                    ..self.query.range
                }),
                None => return Ok(None),
            },
            None => self.query.clone(),
        };
        let mut sql = Sql::new(&format!(
            "SELECT toUnixTimestamp64Nano(Timestamp) AS timestamp_ns, {ROW_HASH} AS row_hash, \
             count() AS rows FROM logs"
        ));
        query.filter(&mut sql);
        // Only the rows of the newest time are grouped.
        sql.push(" AND Timestamp >= (SELECT max(Timestamp) FROM logs");
        query.filter(&mut sql);
        sql.push(
            ") GROUP BY timestamp_ns, row_hash ORDER BY timestamp_ns DESC, row_hash DESC LIMIT 1",
        );
        let newest: Vec<NewestKey> = self.client.fetch(sql, "a tail").await?;
        Ok(newest.first().map(|key| LogCursor {
            order: Order::OldestFirst,
            timestamp_ns: key.timestamp_ns,
            row_hash: key.row_hash,
            shown: u32::try_from(key.rows).unwrap_or(u32::MAX),
        }))
    }
}

/// The newest `n` rows of `query`, newest first.
fn newest_sql(query: &LogQuery, n: u64) -> Sql {
    page_sql(&query.clone().order(Order::NewestFirst), n)
}
