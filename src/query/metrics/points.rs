//! Snapshots of series ([`QueryClient::query_metrics`]).

use super::filter::MetricQuery;
use super::point::MetricPoint;
use crate::batch::UnsentBatches;
use crate::error::Result;
use crate::query::client::{Answer, QueryClient};
use crate::query::rows::{self, MetricRow};
use crate::query::sql::Sql;

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
        self.fetch_or_memory(sql, |memory| metrics_from_memory(memory, query))
            .await
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
