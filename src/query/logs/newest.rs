//! The newest rows of a query without reading its whole range: the newest
//! page of logs and a tail's first poll. The sort key of `logs` starts with
//! the hour, so a range that ends now would otherwise read the whole current
//! hour, an open one every hour, and a text search every row of the range
//! before it could keep the newest.
//!
//! - When the `logs_by_level` rollup keeps every column the filters test,
//!   it says where the newest rows start: the latest minute from which it
//!   counts at least `n` matching rows. The rows are read from there; if
//!   fewer than `n` come back (the range's first minute is counted whole,
//!   so a few of its rows may lie before `since`), the whole range is read.
//! - Otherwise (text, words, attributes, ids) the range is read in windows
//!   back from its end, the last minute first and each window eight times
//!   as long as the one before, until `n` rows are found or the range is
//!   done. Every row of a window is older than every row of the windows
//!   read before it, so the newest `n` of the windows read are the newest
//!   `n` of the range.
//!
//! Either way the answer is the one the whole range gives.

use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::filter::LogQuery;
use super::rollup::{Rollup, filter, minute_down};
use crate::query::client::QueryClient;
use crate::query::range::TimeRange;
use crate::query::rows::LogRow;
use crate::query::sql::Sql;
use crate::record::from_unix_ns;

/// The first window of a search back in time; each next is this many times
/// as long as the one before.
const FIRST_WINDOW: Duration = Duration::from_secs(60);
const GROWTH: u32 = 8;
/// Windows past this length end the search with one window to the start.
const LONGEST_WINDOW: Duration = Duration::from_secs(200 * 86_400);

#[derive(Debug, Deserialize, clickhouse::Row)]
struct Bound {
    minute_s: i64,
}

impl QueryClient {
    /// The newest `n` rows of `query`, newest first, each statement made by
    /// `sql_of` (for a query, the rows to read): from the minutes the
    /// rollup says hold them, or from windows back from the range's end.
    /// `None` when that did not answer (the caller reads the whole range,
    /// and reports its errors).
    pub(super) async fn newest_rows(
        &self,
        query: &LogQuery,
        n: u64,
        sql_of: impl Fn(&LogQuery, u64) -> Sql,
    ) -> Option<Vec<LogRow>> {
        if Rollup::ByLevel.serves(query) {
            let narrow = self.narrowed(query, n).await?;
            let rows: Vec<LogRow> = self
                .fetch(sql_of(&narrow, n), "the newest logs")
                .await
                .ok()?;
            return (rows.len() as u64 >= n).then_some(rows);
        }
        let mut found: Vec<LogRow> = Vec::new();
        for window in windows(query, SystemTime::now()) {
            let wanted = n - found.len() as u64;
            let rows: Vec<LogRow> = self
                .fetch(sql_of(&window, wanted), "the newest logs")
                .await
                .ok()?;
            found.extend(rows);
            if found.len() as u64 >= n {
                break;
            }
        }
        Some(found)
    }

    /// `query` starting at the minute from which the rollup counts at
    /// least `n` of its rows; `None` when the rollup does not serve its
    /// filters, counts fewer, or cannot be read (then the whole range is
    /// read, as without a rollup).
    pub(super) async fn narrowed(&self, query: &LogQuery, n: u64) -> Option<LogQuery> {
        if !Rollup::ByLevel.serves(query) {
            return None;
        }
        let since = match query.range.start {
            Some(since) => Some(minute_down(since).ok()?),
            None => None,
        };
        let mut sql = Sql::new(
            "SELECT toInt64(toUnixTimestamp(minute)) AS minute_s FROM (SELECT Minute AS minute, \
             sum(sum(Count)) OVER (ORDER BY Minute DESC ROWS UNBOUNDED PRECEDING) AS running \
             FROM logs_by_level",
        );
        filter(
            query,
            &TimeRange {
                start: since,
                ..query.range
            },
            &mut sql,
        );
        let n = sql.param(n);
        sql.push(&format!(
            " GROUP BY Minute) WHERE running >= {n} ORDER BY minute DESC LIMIT 1"
        ));
        // An optimisation only: a rollup that cannot be read (a database
        // not migrated yet) leaves the query as it was.
        let bound: Vec<Bound> = self.fetch(sql, "the newest logs").await.ok()?;
        let start = from_unix_ns(bound.first()?.minute_s.checked_mul(1_000_000_000)?);
        // Nothing to narrow when the range starts in that minute already.
        let narrower = query.range.start.is_none_or(|since| since < start);
        narrower.then(|| {
            query.clone().range(TimeRange {
                start: Some(start),
                ..query.range
            })
        })
    }
}

/// The range of `query` cut into windows, newest first, disjoint, together
/// the whole range: the last minute before its end (`now` for an open
/// end, the first window then open too), then each eight times as long as
/// the one before, the last reaching the start (or open, without one).
fn windows(query: &LogQuery, now: SystemTime) -> Vec<LogQuery> {
    let end = query.range.end.unwrap_or(now);
    let mut out = Vec::new();
    let mut upper = query.range.end;
    let mut length = FIRST_WINDOW;
    loop {
        let lower = end.checked_sub(length);
        let reaches_start = match (lower, query.range.start) {
            (Some(lower), Some(since)) => lower <= since,
            (None, _) => true,
            (Some(_), None) => length > LONGEST_WINDOW,
        };
        let mut window = query.clone();
        window.range.end = upper;
        if reaches_start {
            window.range.start = query.range.start;
            out.push(window);
            return out;
        }
        window.range.start = lower;
        out.push(window);
        upper = lower;
        length *= GROWTH;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::unix_ns;

    #[test]
    fn windows_cover_the_range_once_newest_first() {
        let now = from_unix_ns(1_796_000_040_000_000_000);
        let minute = Duration::from_secs(60);
        let day = LogQuery::new()
            .contains("x")
            .range(TimeRange::between(now - 1440 * minute, now));
        let cut = windows(&day, now);
        let bounds: Vec<(i64, i64)> = cut
            .iter()
            .map(|w| {
                let at =
                    |t: Option<SystemTime>| (unix_ns(now) - unix_ns(t.unwrap())) / 60_000_000_000;
                (at(w.range.start), at(w.range.end))
            })
            .collect();
        assert_eq!(bounds, [(1, 0), (8, 1), (64, 8), (512, 64), (1440, 512)]);
        assert!(cut.iter().all(|w| w.text.as_deref() == Some("x")));

        // An open end: the first window is open too; an open start: the last.
        let open = windows(&LogQuery::new().token("y"), now);
        assert_eq!(
            (open[0].range.start, open[0].range.end),
            (Some(now - minute), None)
        );
        let last = open.last().unwrap();
        assert_eq!(last.range.start, None);
        assert_eq!(last.range.end, open[open.len() - 2].range.start);
        assert!(open.len() <= 9, "{}", open.len());

        // A range shorter than a minute is one window.
        let short = LogQuery::new().range(TimeRange::between(now - Duration::from_secs(5), now));
        assert_eq!(windows(&short, now), std::slice::from_ref(&short));
    }
}
