//! Counting logs: by level and source ([`QueryClient::log_stats`]), and per
//! interval by level ([`QueryClient::log_volume`], the series a logs
//! histogram draws).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use super::filter::LogQuery;
use crate::batch::UnsentBatches;
use crate::error::{Error, Result};
use crate::query::client::{Origin, QueryClient};
use crate::query::memory;
use crate::query::sql::Sql;
use crate::record::{Severity, unix_ns};

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
    pub origin: Origin,
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

/// How many logs of each level fell in one interval.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VolumeBucket {
    /// The interval's start (ns since the epoch, a multiple of the width).
    pub start_ns: i64,
    /// Logs per `SeverityText` in it.
    pub by_level: BTreeMap<String, u64>,
}

impl VolumeBucket {
    /// Logs of every level in the interval.
    pub fn total(&self) -> u64 {
        self.by_level.values().sum()
    }
}

/// The answer of [`QueryClient::log_volume`]: the non-empty intervals,
/// oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogVolume {
    /// The intervals with logs in them, oldest first.
    pub buckets: Vec<VolumeBucket>,
    /// ClickHouse (`logs`, or the `logs_by_level` rollup), or the
    /// in-memory fallback.
    pub origin: Origin,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct BucketCount {
    start_ns: i64,
    level: String,
    count: u64,
}

const MINUTE_NS: i64 = 60_000_000_000;

impl QueryClient {
    /// Counts of the logs matching `query` (its order and limit do not
    /// apply): in all, per level and per source, and the first and last
    /// times.
    ///
    /// # Errors
    ///
    /// As [`query_logs`](Self::query_logs).
    pub async fn log_stats(&self, query: &LogQuery) -> Result<LogStats> {
        query.check()?;
        let mut sql = Sql::new(
            "SELECT SeverityText AS level, ScopeName AS source, count() AS count, \
             toUnixTimestamp64Nano(min(Timestamp)) AS first_ns, \
             toUnixTimestamp64Nano(max(Timestamp)) AS last_ns FROM logs",
        );
        query.filter(&mut sql);
        sql.push(" GROUP BY level, source");
        let (rows, origin) = self
            .fetch_or_memory(sql, |memory| group_counts_from_memory(memory, query))
            .await?;
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

    /// How many logs matching `query` fell in each interval of width
    /// `interval` (whole seconds, at least one), per level. Intervals start
    /// at multiples of the width since the epoch.
    ///
    /// When the query filters only by service, level and time, the width is
    /// whole minutes, and the range starts and ends on a minute, the counts
    /// come from the `logs_by_level` rollup instead of the logs themselves.
    ///
    /// # Errors
    ///
    /// An interval under a second or not whole seconds; otherwise as
    /// [`query_logs`](Self::query_logs).
    pub async fn log_volume(&self, query: &LogQuery, interval: Duration) -> Result<LogVolume> {
        query.check()?;
        let width_ns = interval_ns(interval)?;
        let sql = match rollup_levels(query, width_ns) {
            Some(levels) => volume_from_rollup(query, levels.as_deref(), width_ns),
            None => volume_from_logs(query, width_ns),
        };
        let (rows, origin) = self
            .fetch_or_memory(sql, |memory| volume_from_memory(memory, query, width_ns))
            .await?;
        let mut buckets: BTreeMap<i64, BTreeMap<String, u64>> = BTreeMap::new();
        for row in rows {
            *buckets
                .entry(row.start_ns)
                .or_default()
                .entry(row.level)
                .or_default() += row.count;
        }
        Ok(LogVolume {
            buckets: buckets
                .into_iter()
                .map(|(start_ns, by_level)| VolumeBucket { start_ns, by_level })
                .collect(),
            origin,
        })
    }
}

fn interval_ns(interval: Duration) -> Result<i64> {
    if interval < Duration::from_secs(1) || interval.subsec_nanos() != 0 {
        return Err(Error::Query(format!(
            "log_volume: the interval must be whole seconds, at least one (not {interval:?})"
        )));
    }
    i64::try_from(interval.as_nanos())
        .map_err(|_| Error::Query(format!("log_volume: interval {interval:?} is too long")))
}

/// The levels to read from `logs_by_level`, if the rollup can answer
/// `query` exactly: whole-minute intervals, a range on minutes, and no
/// filter the rollup does not keep. `None` inside: every level.
fn rollup_levels(query: &LogQuery, width_ns: i64) -> Option<Option<Vec<String>>> {
    let on_minute = |time: Option<SystemTime>| {
        time.is_none_or(|t| t >= UNIX_EPOCH && unix_ns(t) % MINUTE_NS == 0)
    };
    let only_rollup_filters = query.sources.is_empty()
        && query.text.is_none()
        && query.tokens.is_empty()
        && query.attributes.is_empty()
        && query.trace_id.is_none()
        && query.span_id.is_none()
        // A page's cursor bounds the rows; the rollup cannot.
        && query.after.is_none();
    if !(only_rollup_filters
        && width_ns % MINUTE_NS == 0
        && on_minute(query.since)
        && on_minute(query.until))
    {
        return None;
    }
    if query.level.is_none() && query.min_level.is_none() && query.max_level.is_none() {
        return Some(None);
    }
    let levels = Severity::ALL
        .into_iter()
        .filter(|&level| {
            query.level.is_none_or(|l| l == level)
                && query.min_level.is_none_or(|min| level >= min)
                && query.max_level.is_none_or(|max| level <= max)
        })
        .map(|level| level.as_str().to_owned())
        .collect();
    Some(Some(levels))
}

fn volume_from_logs(query: &LogQuery, width_ns: i64) -> Sql {
    let mut sql = Sql::new("");
    let width = sql.param(width_ns);
    sql.push(&format!(
        "SELECT intDiv(toUnixTimestamp64Nano(Timestamp), {width}) * {width} AS start_ns, \
         SeverityText AS level, count() AS count FROM logs"
    ));
    query.filter(&mut sql);
    sql.push(" GROUP BY start_ns, level ORDER BY start_ns");
    sql
}

/// The rollup is re-aggregated with `GROUP BY`: its rows of one minute are
/// summed only when parts merge.
fn volume_from_rollup(query: &LogQuery, levels: Option<&[String]>, width_ns: i64) -> Sql {
    let mut sql = Sql::new("");
    let width = sql.param(width_ns / 1_000_000_000);
    sql.push(&format!(
        "SELECT intDiv(toInt64(toUnixTimestamp(Minute)), {width}) * {width} * 1000000000 \
         AS start_ns, SeverityText AS level, toUInt64(sum(Count)) AS count \
         FROM logs_by_level WHERE 1"
    ));
    if let Some(levels) = levels {
        let levels = sql.param(levels);
        sql.push(&format!(" AND SeverityText IN {levels}"));
    }
    match query.services.as_slice() {
        [] => {}
        services => {
            // Checked for length as the raw path checks it.
            let services = sql.filter_set("service", services);
            sql.push(&format!(" AND ServiceName IN {services}"));
        }
    }
    sql.push_time_range("Minute", query.since, query.until);
    sql.push(" GROUP BY start_ns, level ORDER BY start_ns");
    sql
}

fn group_counts_from_memory(memory: &UnsentBatches, query: &LogQuery) -> Vec<GroupCount> {
    let mut counts: BTreeMap<(String, String), GroupCount> = BTreeMap::new();
    for row in memory::logs(memory)
        .into_iter()
        .filter(|r| query.matches(r))
    {
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

fn volume_from_memory(memory: &UnsentBatches, query: &LogQuery, width_ns: i64) -> Vec<BucketCount> {
    let mut counts: BTreeMap<(i64, String), u64> = BTreeMap::new();
    for row in memory::logs(memory)
        .into_iter()
        .filter(|r| query.matches(r))
    {
        // intDiv rounds toward zero, as ClickHouse's does.
        let start_ns = row.timestamp_ns / width_ns * width_ns;
        *counts.entry((start_ns, row.level)).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|((start_ns, level), count)| BucketCount {
            start_ns,
            level,
            count,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rollup_answers_only_what_it_can_answer_exactly() {
        let minute = UNIX_EPOCH + Duration::from_secs(60 * 1000);
        let query = LogQuery::new()
            .service("a")
            .min_level(Severity::Warn)
            .since(minute);
        let levels = rollup_levels(&query, MINUTE_NS).expect("the rollup");
        assert_eq!(levels.unwrap(), ["WARN", "ERROR", "FATAL"]);
        let all = rollup_levels(&LogQuery::new(), MINUTE_NS).expect("the rollup");
        assert_eq!(all, None, "no level filter");
        assert!(
            rollup_levels(&query, MINUTE_NS / 2).is_none(),
            "half a minute"
        );
        let off = query.clone().since(minute + Duration::from_secs(1));
        assert!(
            rollup_levels(&off, MINUTE_NS).is_none(),
            "a range off the minute"
        );
        assert!(rollup_levels(&query.clone().source("x"), MINUTE_NS).is_none());
        assert!(rollup_levels(&query.token("x"), MINUTE_NS).is_none());
    }

    #[test]
    fn intervals_are_whole_seconds() {
        assert!(interval_ns(Duration::from_millis(1500)).is_err());
        assert!(interval_ns(Duration::ZERO).is_err());
        assert_eq!(interval_ns(Duration::from_secs(2)).unwrap(), 2_000_000_000);
    }
}
