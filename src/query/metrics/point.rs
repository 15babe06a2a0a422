//! One snapshot of one series, as ClickHouse and the in-memory fallback
//! both give it.

use serde::Deserialize;

use crate::query::rows::MetricRow;

/// One snapshot of one series.
#[derive(Clone, Debug, PartialEq, Deserialize)]
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

impl From<MetricRow> for MetricPoint {
    fn from(row: MetricRow) -> Self {
        MetricPoint {
            timestamp_ns: row.timestamp_ns,
            name: row.name,
            kind: row.kind,
            attributes: row.attributes,
            value: row.value,
            delta: row.delta,
            count: row.count,
            sum: row.sum,
            min: row.min,
            max: row.max,
            quantiles: row.quantiles,
            quantile_values: row.quantile_values,
        }
    }
}
