//! Snapshots of series ([`QueryClient::query_metrics`]) and counter rates.

use std::collections::BTreeMap;

use super::filter::MetricQuery;
use super::point::MetricPoint;
use crate::batch::UnsentBatches;
use crate::error::Result;
use crate::query::client::{Answer, QueryClient};
use crate::query::rows::{self, MetricRow};
use crate::query::sql::Sql;

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

const POINT_COLUMNS: &str = "SELECT toUnixTimestamp64Nano(TimeUnix) AS timestamp_ns, \
     MetricName AS name, MetricKind AS kind, Attributes AS attributes, Value AS value, \
     Delta AS delta, Count AS count, Sum AS sum, Min AS min, Max AS max, \
     Quantiles AS quantiles, QuantileValues AS quantile_values, ServiceName AS service \
     FROM metrics";

impl QueryClient {
    /// Every snapshot of the matching series, oldest first.
    ///
    /// # Errors
    ///
    /// More than 8 attribute filters; otherwise as
    /// [`query_logs`](Self::query_logs) (including the memory fallback).
    pub async fn query_metrics(&self, query: &MetricQuery) -> Result<Answer<MetricPoint>> {
        query.check()?;
        let mut sql = Sql::new(POINT_COLUMNS);
        query.filter(&mut sql, "TimeUnix");
        sql.push(" ORDER BY TimeUnix");
        let (rows, origin) = self
            .fetch_or_memory(sql, |memory| metrics_from_memory(memory, query))
            .await?;
        Ok(Answer::new(
            rows.into_iter().map(MetricPoint::from).collect(),
            origin,
        ))
    }

    /// Per-second rates of a counter: for each series, between each pair of
    /// consecutive snapshots in the range.
    ///
    /// # Errors
    ///
    /// As [`query_metrics`](Self::query_metrics).
    pub async fn counter_rates(&self, query: &MetricQuery) -> Result<Vec<Rate>> {
        let points = self.query_metrics(query).await?.entries;
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
}

fn metrics_from_memory(memory: &UnsentBatches, query: &MetricQuery) -> Vec<MetricRow> {
    let mut rows: Vec<MetricRow> = rows::metrics(memory)
        .into_iter()
        .filter(|row| query.matches(row))
        .collect();
    rows.sort_by_key(|row| row.timestamp_ns);
    rows
}
