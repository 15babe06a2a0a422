//! Where the newest rows of a query start, from the `logs_by_level`
//! rollup: the newest page of logs and a tail's first poll read only the
//! minutes that hold them instead of their whole range (the sort key of
//! `logs` starts with the hour, so a range that ends now would otherwise
//! read the whole current hour, and an open one every hour).
//!
//! The bound is the latest minute from which the rollup counts at least
//! `n` matching rows. A reader takes the rows from there, and if fewer than
//! `n` come back (the range's first minute is counted whole, so a few of
//! its rows may lie before `since`) reads the whole range as before: the
//! answer is the same either way.

use serde::Deserialize;

use super::filter::LogQuery;
use super::rollup::{Rollup, filter, minute_down};
use crate::query::client::QueryClient;
use crate::query::sql::Sql;
use crate::record::from_unix_ns;

#[derive(Debug, Deserialize, clickhouse::Row)]
struct Bound {
    minute_s: i64,
}

impl QueryClient {
    /// `query` starting at the minute from which the rollup counts at
    /// least `n` of its rows; `None` when the rollup does not serve its
    /// filters, counts fewer, or cannot be read (then the whole range is
    /// read, as without a rollup).
    pub(super) async fn narrowed(&self, query: &LogQuery, n: u64) -> Option<LogQuery> {
        if !Rollup::ByLevel.serves(query) {
            return None;
        }
        let since = match query.since {
            Some(since) => Some(minute_down(since).ok()?),
            None => None,
        };
        let mut sql = Sql::new(
            "SELECT toInt64(toUnixTimestamp(minute)) AS minute_s FROM (SELECT Minute AS minute, \
             sum(sum(Count)) OVER (ORDER BY Minute DESC ROWS UNBOUNDED PRECEDING) AS running \
             FROM logs_by_level",
        );
        filter(query, since, query.until, &mut sql);
        let n = sql.param(n);
        sql.push(&format!(
            " GROUP BY Minute) WHERE running >= {n} ORDER BY minute DESC LIMIT 1"
        ));
        // An optimisation only: a rollup that cannot be read (a database
        // not migrated yet) leaves the query as it was.
        let bound: Vec<Bound> = self.fetch(sql, "the newest logs").await.ok()?;
        let start = from_unix_ns(bound.first()?.minute_s.checked_mul(1_000_000_000)?);
        // Nothing to narrow when the range starts in that minute already.
        let narrower = query.since.is_none_or(|since| since < start);
        narrower.then(|| query.clone().since(start))
    }
}
