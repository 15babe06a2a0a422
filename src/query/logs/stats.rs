//! Counting logs by level and source ([`QueryClient::log_stats`]).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::filter::LogQuery;
use super::rollup::{Rollup, Union};
use crate::batch::UnsentBatches;
use crate::error::Result;
use crate::query::client::{AnswerOrigin, QueryClient};
use crate::query::rows;
use crate::query::sql::Sql;
use crate::record::Severity;

/// Counts of matching logs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogStats {
    /// All matching logs.
    pub total: u64,
    /// Matching logs per `SeverityText`.
    pub by_level: BTreeMap<String, u64>,
    /// Matching logs per source (`ScopeName`).
    pub by_source: BTreeMap<String, u64>,
    /// The oldest matching log's time (ns since the epoch).
    pub first_ns: Option<i64>,
    /// The newest matching log's time (ns since the epoch).
    pub last_ns: Option<i64>,
    /// ClickHouse, or the in-memory fallback.
    pub origin: AnswerOrigin,
}

impl LogStats {
    /// The count for one level (0 if none).
    pub fn count(&self, level: Severity) -> u64 {
        self.by_level.get(level.as_str()).copied().unwrap_or(0)
    }
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct GroupCount {
    level: String,
    source: String,
    count: u64,
    first_ns: i64,
    last_ns: i64,
}

/// The counts of one part, from `logs` and from `logs_by_level` alike.
const FROM_LOGS: &str = "SELECT toString(SeverityText) AS level, ScopeName AS source, \
     count() AS count, toUnixTimestamp64Nano(min(Timestamp)) AS first_ns, \
     toUnixTimestamp64Nano(max(Timestamp)) AS last_ns";
const FROM_ROLLUP: &str = "SELECT toString(SeverityText) AS level, toString(ScopeName) AS source, \
     toUInt64(sum(Count)) AS count, toUnixTimestamp64Nano(min(FirstSeen)) AS first_ns, \
     toUnixTimestamp64Nano(max(LastSeen)) AS last_ns";

impl QueryClient {
    /// Counts of the logs matching `query` (its order and limit do not
    /// apply): in all, per level and per source, and the first and last
    /// times.
    ///
    /// When the query filters only by service, source, level and time, the
    /// whole minutes of its range are counted from the `logs_by_level`
    /// rollup (a row per minute, service, level and source) and only the
    /// pieces of minute at its ends from the logs: the same counts.
    ///
    /// # Errors
    ///
    /// As [`query_logs`](Self::query_logs).
    pub async fn log_stats(&self, query: &LogQuery) -> Result<LogStats> {
        query.check()?;
        let build = |rollup| {
            let mut sql = Sql::new(
                "SELECT level, source, toUInt64(sum(count)) AS count, min(first_ns) AS first_ns, \
                 max(last_ns) AS last_ns FROM (",
            );
            Union {
                rollup,
                raw: FROM_LOGS,
                rolled: FROM_ROLLUP,
                group_by: "level, source",
            }
            .push(query, &mut sql);
            sql.push(") GROUP BY level, source");
            sql
        };
        let (rows, origin) = self
            .fetch_rolled(Rollup::ByLevel, build, |memory| {
                group_counts_from_memory(memory, query)
            })
            .await?
            .answer(|row: GroupCount| row);
        let mut stats = LogStats {
            origin,
            ..LogStats::default()
        };
        for row in rows {
            stats.total += row.count;
            stats.first_ns = Some(stats.first_ns.map_or(row.first_ns, |t| t.min(row.first_ns)));
            stats.last_ns = Some(stats.last_ns.map_or(row.last_ns, |t| t.max(row.last_ns)));
            *stats.by_level.entry(row.level).or_default() += row.count;
            *stats.by_source.entry(row.source).or_default() += row.count;
        }
        Ok(stats)
    }
}

fn group_counts_from_memory(memory: &UnsentBatches, query: &LogQuery) -> Vec<GroupCount> {
    let mut counts: BTreeMap<(String, String), GroupCount> = BTreeMap::new();
    for row in rows::logs(memory).into_iter().filter(|r| query.matches(r)) {
        let count = counts
            .entry((row.level.clone(), row.source.clone()))
            .or_insert(GroupCount {
                level: row.level,
                source: row.source,
                count: 0,
                first_ns: row.timestamp_ns,
                last_ns: row.timestamp_ns,
            });
        count.count += 1;
        count.first_ns = count.first_ns.min(row.timestamp_ns);
        count.last_ns = count.last_ns.max(row.timestamp_ns);
    }
    counts.into_values().collect()
}
