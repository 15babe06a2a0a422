//! Metrics by name, attributes and time range; counter rates; histogram
//! quantiles over a range; minute, hour and day aggregations.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Deserialize;

use super::client::{Origin, QueryClient};
use super::logs::MAX_ATTRIBUTE_FILTERS;
use super::memory::{self, MemoryMetric};
use super::sql::{Sql, in_range};
use crate::batch::UnsentBatches;
use crate::error::Result;
use crate::record::from_unix_ns;

/// Which metric rows to read: one metric name, and optionally a service,
/// attributes that must all match, and a time range.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tracing_clickhouse::query::MetricQuery;
///
/// let now = SystemTime::now();
/// let query = MetricQuery::new("http.requests")
///     .attribute("route", "/checkout")
///     .between(now - Duration::from_secs(3600), now);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct MetricQuery {
    name: String,
    service: Option<String>,
    attributes: Vec<(String, String)>,
    since: Option<SystemTime>,
    until: Option<SystemTime>,
}

impl MetricQuery {
    /// Rows of the metric `name`.
    pub fn new(name: impl Into<String>) -> Self {
        MetricQuery {
            name: name.into(),
            service: None,
            attributes: Vec::new(),
            since: None,
            until: None,
        }
    }

    /// Only rows whose attribute `key` is `value` (may be given several times).
    pub fn attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.push((key.into(), value.into()));
        self
    }

    /// Only this service (`ServiceName`).
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// Only rows at or after this time (for aggregations: buckets starting then or later).
    pub fn since(mut self, start: SystemTime) -> Self {
        self.since = Some(start);
        self
    }

    /// Only rows before this time (for aggregations: buckets starting before it).
    pub fn until(mut self, end: SystemTime) -> Self {
        self.until = Some(end);
        self
    }

    /// Only rows in `[start, end)`.
    pub fn between(self, start: SystemTime, end: SystemTime) -> Self {
        self.since(start).until(end)
    }

    /// Appends the WHERE clause; `time` is the expression the range applies to.
    fn filter(&self, sql: &mut Sql, time: &str) {
        let name = sql.filter_param("metric name", &self.name);
        sql.push(&format!(" WHERE MetricName = {name}"));
        if let Some(service) = &self.service {
            let service = sql.filter_param("service", service);
            sql.push(&format!(" AND ServiceName = {service}"));
        }
        for (key, value) in &self.attributes {
            let key = sql.filter_param("attribute", key);
            let value = sql.filter_param("attribute", value);
            sql.push(&format!(
                " AND arrayExists((k, v) -> k = {key} AND v = {value}, \
                 mapKeys(Attributes), mapValues(Attributes))"
            ));
        }
        sql.push_time_range(time, self.since, self.until);
    }

    fn check(&self) -> Result<()> {
        if self.attributes.len() > MAX_ATTRIBUTE_FILTERS {
            return Err(crate::Error::Query(format!(
                "MetricQuery: {} attribute filters; at most {MAX_ATTRIBUTE_FILTERS}",
                self.attributes.len()
            )));
        }
        Ok(())
    }

    fn matches(&self, row: &MemoryMetric) -> bool {
        row.point.name == self.name
            && self.service.as_ref().is_none_or(|s| &row.service == s)
            && self.attributes.iter().all(|(k, v)| {
                row.point
                    .attributes
                    .iter()
                    .any(|(rk, rv)| rk == k && rv == v)
            })
            && in_range(row.point.timestamp_ns, self.since, self.until)
    }
}

/// One snapshot of one series.
#[derive(Clone, Debug, PartialEq, Deserialize, clickhouse::Row)]
#[non_exhaustive]
pub struct MetricPoint {
    /// When the snapshot was taken (ns since the epoch).
    pub timestamp_ns: i64,
    /// `MetricName`.
    pub name: String,
    /// `counter`, `gauge` or `histogram`.
    pub kind: String,
    /// The series' labels.
    pub attributes: Vec<(String, String)>,
    /// Counter: the total; gauge: the value; histogram: the interval's mean.
    pub value: f64,
    /// Counter: the increase since the previous snapshot.
    pub delta: f64,
    /// Histogram: samples in the interval.
    pub count: u64,
    /// Histogram: their sum.
    pub sum: f64,
    /// Histogram: the smallest.
    pub min: f64,
    /// Histogram: the largest.
    pub max: f64,
    /// Histogram: the interval's quantiles (0.5, 0.9, 0.99) ...
    pub quantiles: Vec<f64>,
    /// ... and their values.
    pub quantile_values: Vec<f64>,
}

impl MetricPoint {
    /// When the snapshot was taken.
    pub fn timestamp(&self) -> SystemTime {
        from_unix_ns(self.timestamp_ns)
    }
}

/// The answer of [`QueryClient::query_metrics`]: points, oldest first.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct MetricPoints {
    /// The matching points, oldest first.
    pub points: Vec<MetricPoint>,
    /// ClickHouse, or the in-memory fallback.
    pub origin: Origin,
}

/// A counter's rate between two snapshots of one series.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Rate {
    /// The later snapshot's time (ns since the epoch).
    pub timestamp_ns: i64,
    /// The series' labels.
    pub attributes: Vec<(String, String)>,
    /// Increase per second since the previous snapshot.
    pub per_second: f64,
}

/// The width of an aggregation bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    /// From the raw rows.
    Minute,
    /// From the `metrics_hourly` rollup.
    Hour,
    /// From the `metrics_daily` rollup.
    Day,
}

/// avg, min, max and count of a metric's values in one time bucket (over
/// all series the query matches).
#[derive(Clone, Debug, PartialEq, Deserialize, clickhouse::Row)]
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

const POINT_COLUMNS: &str = "SELECT toUnixTimestamp64Nano(TimeUnix) AS timestamp_ns, \
     MetricName AS name, MetricKind AS kind, Attributes AS attributes, Value AS value, \
     Delta AS delta, Count AS count, Sum AS sum, Min AS min, Max AS max, \
     Quantiles AS quantiles, QuantileValues AS quantile_values FROM metrics";

impl QueryClient {
    /// Every snapshot of the matching series, oldest first.
    ///
    /// # Errors
    ///
    /// More than 8 attribute filters; otherwise as
    /// [`query_logs`](Self::query_logs) (including the memory fallback).
    pub async fn query_metrics(&self, query: &MetricQuery) -> Result<MetricPoints> {
        query.check()?;
        let mut sql = Sql::new(POINT_COLUMNS);
        query.filter(&mut sql, "TimeUnix");
        sql.push(" ORDER BY TimeUnix");
        let (points, origin) = self
            .fetch_or_memory(sql, |memory| metrics_from_memory(memory, query))
            .await?;
        Ok(MetricPoints { points, origin })
    }

    /// Per-second rates of a counter: for each series, between each pair of
    /// consecutive snapshots in the range.
    ///
    /// # Errors
    ///
    /// As [`query_metrics`](Self::query_metrics).
    pub async fn counter_rates(&self, query: &MetricQuery) -> Result<Vec<Rate>> {
        let points = self.query_metrics(query).await?.points;
        let mut series: BTreeMap<Vec<(String, String)>, Vec<&MetricPoint>> = BTreeMap::new();
        for point in &points {
            series
                .entry(point.attributes.clone())
                .or_default()
                .push(point);
        }
        let mut rates = Vec::new();
        for (attributes, points) in series {
            for pair in points.windows(2) {
                let seconds = (pair[1].timestamp_ns - pair[0].timestamp_ns) as f64 / 1e9;
                if seconds > 0.0 {
                    rates.push(Rate {
                        timestamp_ns: pair[1].timestamp_ns,
                        attributes: attributes.clone(),
                        per_second: pair[1].delta / seconds,
                    });
                }
            }
        }
        rates.sort_by_key(|r| r.timestamp_ns);
        Ok(rates)
    }

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
            .ok_or_else(|| crate::Error::Query("histogram_quantiles: no totals row".into()))?;
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
        self.fetch(sql, "metric_aggregations").await
    }
}

fn metrics_from_memory(memory: &UnsentBatches, query: &MetricQuery) -> Vec<MetricPoint> {
    let mut points: Vec<MetricPoint> = memory::metrics(memory)
        .into_iter()
        .filter(|row| query.matches(row))
        .map(|row| row.point)
        .collect();
    points.sort_by_key(|p| p.timestamp_ns);
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_binds_every_value() {
        let hostile = "x' OR 1=1 --";
        let mut sql = Sql::new("SELECT 1 FROM metrics");
        MetricQuery::new(hostile)
            .service(hostile)
            .attribute(hostile, hostile)
            .attribute("b", "c")
            .since(SystemTime::UNIX_EPOCH)
            .filter(&mut sql, "TimeUnix");
        assert!(!sql.text.contains(hostile), "{}", sql.text);
        let bound = sql.bound_values();
        assert_eq!(bound.len(), 7, "{bound:?}");
        assert_eq!(bound.iter().filter(|v| v.contains("OR 1=1")).count(), 4);
    }

    #[test]
    fn too_many_attribute_filters_are_an_error() {
        let mut query = MetricQuery::new("m");
        for i in 0..=MAX_ATTRIBUTE_FILTERS {
            query = query.attribute(format!("k{i}"), "v");
        }
        assert!(query.check().is_err());
    }
}
