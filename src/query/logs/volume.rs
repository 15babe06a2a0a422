//! Counting logs per interval and level ([`QueryClient::log_volume`], the
//! series a logs histogram draws).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::filter::LogQuery;
use super::rollup::{Rollup, Union};
use crate::batch::UnsentBatches;
use crate::error::{Result, invalid_query};
use crate::query::client::{Answer, QueryClient};
use crate::query::rows;
use crate::query::sql::Sql;

/// How many logs of each level fell in one interval.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VolumeBucket {
    /// The interval's start (ns since the epoch, a multiple of the width).
    pub start_ns: i64,
    /// Logs per `SeverityText` in it.
    pub by_level: BTreeMap<String, u64>,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct BucketCount {
    start_ns: i64,
    level: String,
    count: u64,
}

const MINUTE_NS: i64 = 60_000_000_000;

impl QueryClient {
    /// How many logs matching `query` fell in each interval of width
    /// `interval` (whole seconds, at least one), per level. Intervals start
    /// at multiples of the width since the epoch.
    ///
    /// When the width is whole minutes and the query filters only by
    /// service, source, level and time, the whole minutes of the range are
    /// counted from the `logs_by_level` rollup and the pieces of minute at
    /// its ends from the logs: the same counts.
    ///
    /// # Errors
    ///
    /// An interval under a second or not whole seconds; otherwise as
    /// [`query_logs`](Self::query_logs).
    pub async fn log_volume(
        &self,
        query: &LogQuery,
        interval: Duration,
    ) -> Result<Answer<VolumeBucket>> {
        query.check()?;
        let width_ns = interval_ns(interval)?;
        let build = |rollup: Option<Rollup>| {
            let mut sql = Sql::new("");
            let width = sql.param(width_ns);
            sql.push("SELECT start_ns, level, toUInt64(sum(count)) AS count FROM (");
            let raw = format!(
                "SELECT intDiv(toUnixTimestamp64Nano(Timestamp), {width}) * {width} AS start_ns, \
                 toString(SeverityText) AS level, count() AS count"
            );
            let rolled = format!(
                "SELECT intDiv(toInt64(toUnixTimestamp(Minute)) * 1000000000, {width}) * {width} \
                 AS start_ns, toString(SeverityText) AS level, toUInt64(sum(Count)) AS count"
            );
            Union {
                // A minute lies in one interval only if the width is whole
                // minutes: then the rollup's minutes add up.
                rollup: rollup.filter(|_| width_ns % MINUTE_NS == 0),
                raw: &raw,
                rolled: &rolled,
                group_by: "start_ns, level",
            }
            .push(query, &mut sql);
            sql.push(") GROUP BY start_ns, level ORDER BY start_ns");
            sql
        };
        let (rows, origin) = self
            .fetch_rolled(Rollup::ByLevel, build, |memory| {
                volume_from_memory(memory, query, width_ns)
            })
            .await?
            .answer(|row: BucketCount| row);
        let mut buckets: BTreeMap<i64, BTreeMap<String, u64>> = BTreeMap::new();
        for row in rows {
            *buckets
                .entry(row.start_ns)
                .or_default()
                .entry(row.level)
                .or_default() += row.count;
        }
        let buckets = buckets
            .into_iter()
            .map(|(start_ns, by_level)| VolumeBucket { start_ns, by_level })
            .collect();
        Ok(Answer::new(buckets, origin))
    }
}

fn interval_ns(interval: Duration) -> Result<i64> {
    if interval < Duration::from_secs(1) || interval.subsec_nanos() != 0 {
        return Err(invalid_query(
            "interval",
            format!("whole seconds, at least one (not {interval:?})"),
        ));
    }
    i64::try_from(interval.as_nanos())
        .map_err(|_| invalid_query("interval", format!("{interval:?} is too long")))
}

fn volume_from_memory(memory: &UnsentBatches, query: &LogQuery, width_ns: i64) -> Vec<BucketCount> {
    let mut counts: BTreeMap<(i64, String), u64> = BTreeMap::new();
    for row in rows::logs(memory).into_iter().filter(|r| query.matches(r)) {
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
    fn intervals_are_whole_seconds() {
        assert!(interval_ns(Duration::from_millis(1500)).is_err());
        assert!(interval_ns(Duration::ZERO).is_err());
        assert_eq!(interval_ns(Duration::from_secs(2)).unwrap(), 2_000_000_000);
    }
}
