//! The slowest operations: [`QueryClient::slowest_operations`].

use serde::Deserialize;
use std::collections::BTreeMap;

use super::filter::SpanQuery;
use crate::batch::UnsentBatches;
use crate::error::Result;
use crate::query::client::{Answer, QueryClient};
use crate::query::rows;
use crate::query::sql::Sql;

/// The quantiles [`OperationStats`] reports, as ClickHouse's
/// `quantilesExact` computes them.
const LEVELS: [f64; 3] = [0.5, 0.95, 0.99];

/// Durations of one operation (a span name in a service).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct OperationStats {
    /// `ServiceName`.
    pub service: String,
    /// `SpanName`.
    pub name: String,
    /// Spans of it.
    pub count: u64,
    /// The median `Duration`, in ns.
    pub p50_ns: u64,
    /// The 95th percentile, in ns.
    pub p95_ns: u64,
    /// The 99th percentile, in ns.
    pub p99_ns: u64,
    /// The longest, in ns.
    pub max_ns: u64,
}

impl QueryClient {
    /// The `limit` operations (span names per service) with the highest
    /// 95th-percentile duration among the spans matching `query` (its own
    /// order and limit do not apply), with p50, p95, p99 and max. The
    /// quantiles are exact: the value at position `⌊q·n⌋` of the sorted
    /// durations.
    ///
    /// # Errors
    ///
    /// As [`query_logs`](Self::query_logs).
    pub async fn slowest_operations(
        &self,
        query: &SpanQuery,
        limit: u64,
    ) -> Result<Answer<OperationStats>> {
        let mut sql = Sql::new(
            "SELECT service, name, count, q[1] AS p50_ns, q[2] AS p95_ns, q[3] AS p99_ns, max_ns \
             FROM (SELECT ServiceName AS service, SpanName AS name, count() AS count, \
             quantilesExact(0.5, 0.95, 0.99)(Duration) AS q, max(Duration) AS max_ns FROM spans",
        );
        query.filter(&mut sql);
        let rows = sql.param(limit);
        sql.push(&format!(
            " GROUP BY service, name) ORDER BY p95_ns DESC, service, name LIMIT {rows}"
        ));
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let from_memory = |memory: &UnsentBatches| operations_from_memory(memory, query, limit);
        let (operations, origin) = self
            .fetch_or_else(sql, "this query", Some(from_memory))
            .await?
            .answer(
                |(service, name, count, p50_ns, p95_ns, p99_ns, max_ns)| OperationStats {
                    service,
                    name,
                    count,
                    p50_ns,
                    p95_ns,
                    p99_ns,
                    max_ns,
                },
            );
        Ok(Answer::new(operations, origin))
    }
}

/// `quantileExact(level)` of sorted `values`, as ClickHouse picks it.
fn quantile_exact(sorted: &[u64], level: f64) -> u64 {
    let n = if level < 1.0 {
        (level * sorted.len() as f64) as usize
    } else {
        sorted.len() - 1
    };
    sorted[n.min(sorted.len() - 1)]
}

fn operations_from_memory(
    memory: &UnsentBatches,
    query: &SpanQuery,
    limit: usize,
) -> Vec<OperationStats> {
    let mut groups: BTreeMap<(String, String), Vec<u64>> = BTreeMap::new();
    for span in rows::spans(memory).into_iter().filter(|s| query.matches(s)) {
        groups
            .entry((span.service, span.name))
            .or_default()
            .push(span.duration_ns);
    }
    let mut operations: Vec<OperationStats> = groups
        .into_iter()
        .map(|((service, name), mut durations)| {
            durations.sort_unstable();
            let [p50_ns, p95_ns, p99_ns] = LEVELS.map(|level| quantile_exact(&durations, level));
            OperationStats {
                service,
                name,
                count: durations.len() as u64,
                p50_ns,
                p95_ns,
                p99_ns,
                max_ns: durations.last().copied().unwrap_or(0),
            }
        })
        .collect();
    // Ties by service and name: the map gave them in that order, and the
    // sort is stable.
    operations.sort_by_key(|o| std::cmp::Reverse(o.p95_ns));
    operations.truncate(limit);
    operations
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_quantiles_pick_the_element_clickhouse_picks() {
        let values: Vec<u64> = (1..=10).collect();
        assert_eq!(quantile_exact(&values, 0.5), 6);
        assert_eq!(quantile_exact(&values, 0.95), 10);
        assert_eq!(quantile_exact(&values, 0.0), 1);
        assert_eq!(quantile_exact(&values, 1.0), 10);
        assert_eq!(quantile_exact(&[7], 0.99), 7);
    }
}
