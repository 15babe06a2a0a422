//! Summaries over a range: histogram quantiles from the stored buckets,
//! and minute, hour and day aggregations (the last two from the rollups).

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

use super::filter::MetricQuery;
use crate::error::{Error, Result};
use crate::query::client::QueryClient;
use crate::query::sql::{Sql, by_name};

/// The width of an aggregation bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Granularity {
    /// From the raw rows.
    Minute,
    /// From the `metrics_hourly` rollup.
    Hour,
    /// From the `metrics_daily` rollup.
    Day,
}

impl Granularity {
    /// Every granularity, finest first.
    pub const ALL: [Granularity; 3] = [Granularity::Minute, Granularity::Hour, Granularity::Day];

    fn as_str(self) -> &'static str {
        match self {
            Granularity::Minute => "minute",
            Granularity::Hour => "hour",
            Granularity::Day => "day",
        }
    }
}

/// `minute`, `hour` or `day`.
impl fmt::Display for Granularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reads what [`Display`](fmt::Display) writes.
impl FromStr for Granularity {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        by_name(&Granularity::ALL, Granularity::as_str, "granularity", text)
    }
}

/// avg, min, max and count of a metric's values in one time bucket (over
/// all series the query matches).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct Aggregate {
    /// The bucket's start (seconds since the epoch).
    pub start: u32,
    /// Mean of `Value`.
    pub avg: f64,
    /// Smallest `Value`.
    pub min: f64,
    /// Largest `Value`.
    pub max: f64,
    /// Rows (snapshots) in the bucket.
    pub count: u64,
}

/// A histogram's quantiles over a time range, from the buckets stored with
/// each snapshot.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Quantiles {
    /// Samples in the range.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// `(q, value)` for each quantile asked for (NaN without samples).
    pub values: Vec<(f64, f64)>,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct BucketRow {
    bound: f64,
    count: u64,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct Totals {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl QueryClient {
    /// Quantiles `qs` of a histogram over the range, from the buckets of
    /// every matching snapshot added together (within the buckets' 6.25 %).
    ///
    /// # Errors
    ///
    /// As [`query_metrics`](Self::query_metrics), without the memory
    /// fallback: [`Error::ClickHouseNeeded`](crate::Error::ClickHouseNeeded)
    /// while ClickHouse cannot be reached.
    pub async fn histogram_quantiles(&self, query: &MetricQuery, qs: &[f64]) -> Result<Quantiles> {
        query.check()?;
        let mut sql = Sql::new(
            "SELECT toUInt64(sum(Count)) AS count, sum(Sum) AS sum, min(Min) AS min, \
             max(Max) AS max FROM metrics",
        );
        query.filter(&mut sql, "TimeUnix");
        sql.push(" AND MetricKind = 'histogram'");
        let totals: Totals = self
            .fetch(sql, "histogram_quantiles")
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| {
                crate::error::invalid_query("histogram_quantiles", "the server sent no totals row")
            })?;
        let mut sql = Sql::new(
            "SELECT bound, toUInt64(sum(n)) AS count FROM metrics \
             ARRAY JOIN BucketBounds AS bound, BucketCounts AS n",
        );
        query.filter(&mut sql, "TimeUnix");
        sql.push(" AND MetricKind = 'histogram' GROUP BY bound ORDER BY bound");
        let buckets: Vec<BucketRow> = self.fetch(sql, "histogram_quantiles").await?;
        let buckets: Vec<(f64, u64)> = buckets.into_iter().map(|b| (b.bound, b.count)).collect();
        let values = qs
            .iter()
            .map(|&q| {
                let value =
                    crate::histogram::quantile(&buckets, totals.count, q, totals.min, totals.max);
                (q, value)
            })
            .collect();
        Ok(Quantiles {
            count: totals.count,
            sum: totals.sum,
            min: totals.min,
            max: totals.max,
            values,
        })
    }

    /// avg, min, max and count of the metric's values per minute (from the
    /// raw rows), hour (`metrics_hourly`) or day (`metrics_daily`), oldest
    /// first. The range selects buckets by their start.
    ///
    /// # Errors
    ///
    /// As [`query_metrics`](Self::query_metrics), without the memory
    /// fallback: [`Error::ClickHouseNeeded`](crate::Error::ClickHouseNeeded)
    /// while ClickHouse cannot be reached.
    pub async fn metric_aggregations(
        &self,
        granularity: Granularity,
        query: &MetricQuery,
    ) -> Result<Vec<Aggregate>> {
        query.check()?;
        let (select, time, group) = match granularity {
            Granularity::Minute => (
                "SELECT toUInt32(toStartOfMinute(TimeUnix)) AS start, avg(Value) AS avg, \
                 min(Value) AS min, max(Value) AS max, toUInt64(count()) AS count FROM metrics",
                "toStartOfMinute(TimeUnix)",
                " GROUP BY start ORDER BY start",
            ),
            // The rollups are re-aggregated: their parts merge in the background.
            Granularity::Hour => (
                "SELECT toUInt32(Hour) AS start, sum(ValueSum) / sum(ValueCount) AS avg, \
                 min(ValueMin) AS min, max(ValueMax) AS max, toUInt64(sum(ValueCount)) AS count \
                 FROM metrics_hourly",
                "Hour",
                " GROUP BY start ORDER BY start",
            ),
            Granularity::Day => (
                "SELECT toUInt32(toDateTime(Day)) AS start, sum(ValueSum) / sum(ValueCount) AS avg, \
                 min(ValueMin) AS min, max(ValueMax) AS max, toUInt64(sum(ValueCount)) AS count \
                 FROM metrics_daily",
                "toDateTime(Day)",
                " GROUP BY start ORDER BY start",
            ),
        };
        let mut sql = Sql::new(select);
        query.filter(&mut sql, time);
        sql.push(group);
        let rows = self.fetch(sql, "metric_aggregations").await?;
        Ok(rows
            .into_iter()
            .map(|(start, avg, min, max, count)| Aggregate {
                start,
                avg,
                min,
                max,
                count,
            })
            .collect())
    }
}
