//! Which metrics there are: [`QueryClient::metric_names`], for a picker
//! (the web view's) to offer before a name is known.

use crate::error::Result;
use crate::query::client::QueryClient;
use crate::query::range::TimeRange;
use crate::query::sql::Sql;
use serde::Deserialize;

/// One metric name with snapshots in the range.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct MetricName {
    /// `MetricName`.
    pub name: String,
    /// `counter`, `gauge` or `histogram` (of its latest snapshot).
    pub kind: String,
    /// Distinct attribute sets (series) in the range.
    pub series: u64,
    /// The latest snapshot's time (ns since the epoch).
    pub last_ns: i64,
}

impl QueryClient {
    /// The metric names with snapshots in `range`, by name, at
    /// most `limit` of them.
    ///
    /// # Errors
    ///
    /// The ClickHouse or connection error;
    /// [`Error::ClickHouseNeeded`](crate::Error::ClickHouseNeeded) on the
    /// memory fallback (names come from the stored history).
    pub async fn metric_names(&self, range: TimeRange, limit: u64) -> Result<Vec<MetricName>> {
        let mut sql = Sql::new(
            "SELECT MetricName AS name, argMax(MetricKind, TimeUnix) AS kind, \
             toUInt64(uniqExact(Attributes)) AS series, \
             toUnixTimestamp64Nano(max(TimeUnix)) AS last_ns FROM metrics WHERE 1",
        );
        sql.push_range("TimeUnix", None, &range);
        let limit = sql.param(limit);
        sql.push(&format!(" GROUP BY name ORDER BY name LIMIT {limit}"));
        let rows = self.fetch(sql, "metric_names").await?;
        Ok(rows
            .into_iter()
            .map(|(name, kind, series, last_ns)| MetricName {
                name,
                kind,
                series,
                last_ns,
            })
            .collect())
    }
}
