//! When the rollups answer a log query, and how: the range of a query is
//! cut at whole minutes, the whole minutes are read from a rollup
//! (`logs_by_level`, or `logs_patterns` for the patterns of warnings and
//! errors) and the pieces of minute at either end from `logs`, and one
//! statement adds the parts up. The answer is the raw table's: a rollup row
//! of minute `m` counts exactly the rows of `logs` whose `TimestampTime`
//! falls in `m`, its key holds every column a servable filter tests
//! (service, source, `SeverityText`, `SeverityNumber`), and its first and
//! last times are the rows' own.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::filter::LogQuery;
use crate::batch::UnsentBatches;
use crate::error::{Error, Result};
use crate::query::client::{Fetched, QueryClient};
use crate::query::range::TimeRange;
use crate::query::sql::Sql;
use crate::record::{Severity, from_unix_ns, unix_ns};
use crate::sink::server_code_of;

/// The rollup of warnings and errors (`logs_patterns`) holds the rows of
/// this `SeverityNumber` and up (WARN): its view's `WHERE`.
pub(super) const PATTERNS_MIN_SEVERITY: u8 = Severity::Warn.number();

const MINUTE_NS: i64 = 60_000_000_000;

/// The rollups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Rollup {
    /// `logs_by_level`: count, first and last time per minute, service,
    /// level and source.
    ByLevel,
    /// `logs_patterns`: the same per message pattern, for WARN and up.
    Patterns,
}

impl Rollup {
    pub(super) fn table(self) -> &'static str {
        match self {
            Rollup::ByLevel => "logs_by_level",
            Rollup::Patterns => "logs_patterns",
        }
    }

    /// Whether this rollup holds every row `query` can match, with every
    /// column its filters test.
    pub(super) fn serves(self, query: &LogQuery) -> bool {
        let filters = query.text.is_none()
            && query.tokens.is_empty()
            && query.attributes.is_empty()
            && query.trace_id.is_none()
            && query.span_id.is_none()
            // A page's cursor bounds rows by their hash; a rollup cannot.
            && query.after.is_none();
        let rows = match self {
            Rollup::ByLevel => true,
            Rollup::Patterns => query
                .min_level
                .is_some_and(|level| level.number() >= PATTERNS_MIN_SEVERITY),
        };
        filters && rows
    }
}

/// One part of an answer: rows of `logs`, or whole minutes of a rollup.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Part {
    /// The query on `logs`, with the range of this part.
    Raw(Box<LogQuery>),
    /// The minutes in this range (each bound a whole minute, or open).
    Rollup(TimeRange),
}

/// The parts that answer `query` together: all of it from `logs`, or the
/// whole minutes from `rollup` and the pieces of minute at the ends from
/// `logs`.
pub(super) fn parts(query: &LogQuery, rollup: Option<Rollup>) -> Vec<Part> {
    let whole = vec![Part::Raw(Box::new(query.clone()))];
    if !rollup.is_some_and(|rollup| rollup.serves(query)) {
        return whole;
    }
    // Times before the epoch are refused by the server's DateTime anyway.
    let (Ok(since), Ok(until)) = (
        query.range.start.map(minute_up).transpose(),
        query.range.end.map(minute_down).transpose(),
    ) else {
        return whole;
    };
    if let (Some(since), Some(until)) = (since, until)
        && since >= until
    {
        return whole;
    }
    let mut parts = Vec::with_capacity(3);
    if let (Some(start), Some(minute)) = (query.range.start, since)
        && start < minute
    {
        let edge = TimeRange::between(start, minute);
        parts.push(Part::Raw(Box::new(query.clone().range(edge))));
    }
    parts.push(Part::Rollup(TimeRange {
        start: since,
        end: until,
    }));
    if let (Some(minute), Some(end)) = (until, query.range.end)
        && minute < end
    {
        let edge = TimeRange::between(minute, end);
        parts.push(Part::Raw(Box::new(query.clone().range(edge))));
    }
    parts
}

/// The first whole minute at or after `at`.
fn minute_up(at: SystemTime) -> Result<SystemTime, ()> {
    let ns = ns_since_epoch(at)?;
    // Not negative: see ns_since_epoch.
    Ok(from_unix_ns((ns + MINUTE_NS - 1) / MINUTE_NS * MINUTE_NS))
}

/// The last whole minute at or before `at`.
pub(super) fn minute_down(at: SystemTime) -> Result<SystemTime, ()> {
    let ns = ns_since_epoch(at)?;
    Ok(from_unix_ns(ns / MINUTE_NS * MINUTE_NS))
}

fn ns_since_epoch(at: SystemTime) -> Result<i64, ()> {
    match at.duration_since(UNIX_EPOCH) {
        Ok(since) if since < Duration::from_secs(1 << 32) => Ok(unix_ns(at)),
        _ => Err(()),
    }
}

/// Appends the `WHERE` clause on a rollup for `query`'s filters (all of
/// them columns of the rollup, see [`Rollup::serves`]) and the minutes
/// of `minutes`.
pub(super) fn filter(query: &LogQuery, minutes: &TimeRange, sql: &mut Sql) {
    sql.push(" WHERE 1");
    query.filter_levels_and_scope(sql);
    sql.push_range("Minute", None, minutes);
}

/// Appends the parts of `query` as one `UNION ALL`: each raw part as
/// `raw` writes it (its `SELECT ...`, then `FROM logs`, the part's filter
/// and `group_by`), each rollup part as `rolled` writes it (`SELECT ...`,
/// then `FROM` the rollup, the query's filters on its minutes and
/// `group_by`). The columns of both must agree in name and type.
pub(super) struct Union<'a> {
    /// `None`: all from `logs`.
    pub(super) rollup: Option<Rollup>,
    pub(super) raw: &'a str,
    pub(super) rolled: &'a str,
    pub(super) group_by: &'a str,
}

impl Union<'_> {
    pub(super) fn push(&self, query: &LogQuery, sql: &mut Sql) {
        let Union {
            rollup,
            raw,
            rolled,
            group_by,
        } = *self;
        for (i, part) in parts(query, rollup).iter().enumerate() {
            if i > 0 {
                sql.push(" UNION ALL ");
            }
            match part {
                Part::Raw(part) => {
                    sql.push(&format!("{raw} FROM logs"));
                    part.filter(sql);
                }
                Part::Rollup(minutes) => {
                    let table = rollup.map_or("logs", Rollup::table);
                    sql.push(&format!("{rolled} FROM {table}"));
                    filter(query, minutes, sql);
                }
            }
            sql.push(&format!(" GROUP BY {group_by}"));
        }
    }
}

impl QueryClient {
    /// Runs the statement `build` makes with `rollup`, or, on a database
    /// whose rollup is not version 3's (not migrated yet: no such table or
    /// column), the one it makes without: the same answer, from `logs`
    /// alone. The memory fallback as [`QueryClient::fetch_or_else`].
    pub(super) async fn fetch_rolled<T, M>(
        &self,
        rollup: Rollup,
        build: impl Fn(Option<Rollup>) -> Sql,
        from_memory: impl Fn(&UnsentBatches) -> Vec<M>,
    ) -> Result<Fetched<T, M>>
    where
        T: clickhouse::RowOwned + clickhouse::RowRead,
    {
        let what = "this query";
        match self
            .fetch_or_else(build(Some(rollup)), what, Some(&from_memory))
            .await
        {
            Err(Error::ClickHouse(error)) if lacks_rollup(&error.0) => {
                self.fetch_or_else(build(None), what, Some(&from_memory))
                    .await
            }
            answer => answer,
        }
    }
}

/// Whether the server said a table or column the statement names does not
/// exist (UNKNOWN_TABLE 60, UNKNOWN_IDENTIFIER 47, NO_SUCH_COLUMN_IN_TABLE
/// 16): our statements name only our tables and columns, so the rollups
/// are older than this crate's.
fn lacks_rollup(error: &clickhouse::error::Error) -> bool {
    matches!(server_code_of(error), Some(16 | 47 | 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ns: i64) -> SystemTime {
        from_unix_ns(ns)
    }

    const T: i64 = 1_796_000_040 * 1_000_000_000; // a whole minute (2026-11-30)

    #[test]
    fn a_range_is_cut_at_whole_minutes() {
        let query = LogQuery::new()
            .min_level(Severity::Warn)
            .range(TimeRange::between(
                at(T - 5_000_000_000),
                at(T + 10 * MINUTE_NS + 7),
            ));
        let parts = parts(&query, Some(Rollup::ByLevel));
        assert_eq!(
            parts,
            [
                Part::Raw(Box::new(
                    query
                        .clone()
                        .range(TimeRange::between(at(T - 5_000_000_000), at(T)))
                )),
                Part::Rollup(TimeRange::between(at(T), at(T + 10 * MINUTE_NS))),
                Part::Raw(Box::new(query.clone().range(TimeRange::between(
                    at(T + 10 * MINUTE_NS),
                    at(T + 10 * MINUTE_NS + 7)
                )))),
            ]
        );
        // On whole minutes: the rollup alone; open ends: no edge.
        let on = LogQuery::new().range(TimeRange::between(at(T), at(T + MINUTE_NS)));
        assert_eq!(parts_of(&on), ["rollup"]);
        assert_eq!(parts_of(&LogQuery::new()), ["rollup"]);
        let open = LogQuery::new().range(TimeRange::since(at(T + 1)));
        assert_eq!(parts_of(&open), ["raw", "rollup"]);
        // Within one minute: raw.
        let short = LogQuery::new().range(TimeRange::between(at(T + 1), at(T + MINUTE_NS - 1)));
        assert_eq!(parts_of(&short), ["raw"]);
    }

    fn parts_of(query: &LogQuery) -> Vec<&'static str> {
        parts(query, Some(Rollup::ByLevel))
            .iter()
            .map(|p| match p {
                Part::Raw(_) => "raw",
                Part::Rollup(_) => "rollup",
            })
            .collect()
    }

    #[test]
    fn only_filters_on_the_rollups_columns_are_served() {
        let base = LogQuery::new()
            .service("a")
            .source("m")
            .level(Severity::Error)
            .max_level(Severity::Fatal);
        assert!(Rollup::ByLevel.serves(&base));
        for other in [
            base.clone().contains("x"),
            base.clone().token("x"),
            base.clone().attribute("k", "v"),
            base.clone().trace_id("t"),
            base.clone().span_id("s"),
        ] {
            assert!(!Rollup::ByLevel.serves(&other), "{other:?}");
            assert_eq!(parts_of(&other), ["raw"]);
        }
        // Patterns: only warnings and up are rolled up.
        assert!(!Rollup::Patterns.serves(&base), "no minimum level");
        assert!(Rollup::Patterns.serves(&base.clone().min_level(Severity::Warn)));
        assert!(!Rollup::Patterns.serves(&base.min_level(Severity::Info)));
    }

    #[test]
    fn times_before_the_epoch_are_left_to_the_raw_table() {
        let before = UNIX_EPOCH - Duration::from_secs(90);
        assert_eq!(
            parts_of(&LogQuery::new().range(TimeRange::since(before))),
            ["raw"]
        );
    }
}
