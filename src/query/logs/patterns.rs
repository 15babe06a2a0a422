//! The most frequent messages, grouped by pattern: the message with what
//! changes from one occurrence to the next (numbers, ids, hex, UUIDs)
//! replaced by a placeholder.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::bytes::Regex;

use super::filter::LogQuery;
use super::rollup::{Rollup, Union};
use crate::batch::UnsentBatches;
use crate::error::Result;
use crate::query::client::{Answer, QueryClient};
use crate::query::rows;
use crate::query::sql::Sql;

/// The replacements, in order, in the syntax RE2 (ClickHouse's
/// `replaceRegexpAll`) and the `regex` crate read alike: `\b` is an ASCII
/// word boundary in both (the crate's bytes regexes, without Unicode).
const REPLACEMENTS: [(&str, &str); 4] = [
    (
        r"(?-u:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})",
        "<uuid>",
    ),
    (r"(?-u:\b0[xX][0-9a-fA-F]+\b)", "<hex>"),
    // A word of hex digits with a digit and a letter in it: an id.
    (
        r"(?-u:\b[0-9a-fA-F]*[0-9][0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\b|\b[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*[0-9][0-9a-fA-F]*\b)",
        "<hex>",
    ),
    (r"(?-u:[0-9]+)", "<num>"),
];

/// The `(?-u:...)` wrapper is the `regex` crate's; RE2 reads the same
/// expression without it (it has no Unicode `\b`).
fn re2(expression: &str) -> &str {
    expression
        .strip_prefix("(?-u:")
        .and_then(|e| e.strip_suffix(')'))
        .unwrap_or(expression)
}

static COMPILED: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    REPLACEMENTS
        .iter()
        .map(|&(expression, with)| (Regex::new(expression).expect("a valid pattern"), with))
        .collect()
});

/// `message`'s pattern, as [`QueryClient::top_patterns`] computes it in
/// ClickHouse.
pub fn message_pattern(message: &str) -> String {
    let mut text = message.as_bytes().to_vec();
    for (regex, with) in COMPILED.iter() {
        text = regex.replace_all(&text, with.as_bytes()).into_owned();
    }
    // Only ASCII was replaced by ASCII: still UTF-8.
    String::from_utf8_lossy(&text).into_owned()
}

/// Messages of one pattern.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct LogPattern {
    /// The message with `<num>`, `<hex>` and `<uuid>` where values vary.
    pub pattern: String,
    /// Matching logs with this pattern.
    pub count: u64,
    /// One of their messages: the smallest (in byte order), so that every
    /// reader of the same rows gives the same one.
    pub example: String,
    /// The oldest one's time (ns since the epoch).
    pub first_ns: i64,
    /// The newest one's time (ns since the epoch).
    pub last_ns: i64,
}

impl QueryClient {
    /// The `limit` most frequent message patterns among the logs matching
    /// `query` (its own order and limit do not apply), each with a count
    /// and an example (the smallest message of the pattern): for the top
    /// errors of a day, a query with `min_level(Severity::Error)` and the
    /// day's range.
    ///
    /// With a minimum level of WARN or above and no filters but service,
    /// source, level and time, the whole minutes of the range are read
    /// from the `logs_patterns` rollup and the pieces of minute at its ends
    /// from the logs: the same answer.
    ///
    /// # Errors
    ///
    /// As [`query_logs`](Self::query_logs).
    pub async fn top_patterns(&self, query: &LogQuery, limit: u64) -> Result<Answer<LogPattern>> {
        query.check()?;
        let build = |rollup| {
            let mut sql = Sql::new("");
            let mut pattern = "Body".to_owned();
            for (expression, with) in REPLACEMENTS {
                let expression = sql.param(re2(expression));
                let with = sql.param(with);
                pattern = format!("replaceRegexpAll({pattern}, {expression}, {with})");
            }
            sql.push(
                "SELECT pattern, toUInt64(sum(count)) AS count, min(example) AS example, \
                 min(first_ns) AS first_ns, max(last_ns) AS last_ns FROM (",
            );
            let raw = format!(
                "SELECT {pattern} AS pattern, count() AS count, min(Body) AS example, \
                 toUnixTimestamp64Nano(min(Timestamp)) AS first_ns, \
                 toUnixTimestamp64Nano(max(Timestamp)) AS last_ns"
            );
            Union {
                rollup,
                raw: &raw,
                rolled: "SELECT Pattern AS pattern, toUInt64(sum(Count)) AS count, \
                         min(Example) AS example, toUnixTimestamp64Nano(min(FirstSeen)) AS first_ns, \
                         toUnixTimestamp64Nano(max(LastSeen)) AS last_ns",
                group_by: "pattern",
            }
            .push(query, &mut sql);
            let rows = sql.param(limit);
            sql.push(&format!(
                ") GROUP BY pattern ORDER BY count DESC, pattern ASC LIMIT {rows}"
            ));
            sql
        };
        let kept = usize::try_from(limit).unwrap_or(usize::MAX);
        // Read as `(pattern, count, example, first_ns, last_ns)`.
        let (patterns, origin) = self
            .fetch_rolled(Rollup::Patterns, build, |memory| {
                patterns_from_memory(memory, query, kept)
            })
            .await?
            .answer(|(pattern, count, example, first_ns, last_ns)| LogPattern {
                pattern,
                count,
                example,
                first_ns,
                last_ns,
            });
        Ok(Answer::new(patterns, origin))
    }
}

fn patterns_from_memory(memory: &UnsentBatches, query: &LogQuery, limit: usize) -> Vec<LogPattern> {
    let mut groups: BTreeMap<String, LogPattern> = BTreeMap::new();
    for row in rows::logs(memory).into_iter().filter(|r| query.matches(r)) {
        let pattern = message_pattern(&row.message);
        let group = groups.entry(pattern.clone()).or_insert(LogPattern {
            pattern,
            count: 0,
            example: row.message.clone(),
            first_ns: row.timestamp_ns,
            last_ns: row.timestamp_ns,
        });
        group.count += 1;
        // The smallest message, as ClickHouse's min(Body) (byte order).
        if row.message < group.example {
            group.example = row.message;
        }
        group.first_ns = group.first_ns.min(row.timestamp_ns);
        group.last_ns = group.last_ns.max(row.timestamp_ns);
    }
    let mut patterns: Vec<LogPattern> = groups.into_values().collect();
    // The pattern breaks ties, as in ClickHouse; the BTreeMap gave them in
    // pattern order and the sort is stable.
    patterns.sort_by_key(|p| std::cmp::Reverse(p.count));
    patterns.truncate(limit);
    patterns
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_varies_is_replaced_and_the_rest_kept() {
        let cases = [
            ("user 42 logged in", "user <num> logged in"),
            (
                "request 9f86d081884c7d65 failed after 1500 ms",
                "request <hex> failed after <num> ms",
            ),
            (
                "order 123e4567-e89b-12d3-a456-426614174000 paid",
                "order <uuid> paid",
            ),
            ("at 0x7ffee3b0 in frame", "at <hex> in frame"),
            ("retry 3/5 for ec2", "retry <num>/<num> for <hex>"),
            (
                "deadbeef and cafe stay words",
                "deadbeef and cafe stay words",
            ),
            ("naïve 12 café", "naïve <num> café"),
            ("user_42 x", "user_<num> x"),
        ];
        for (message, pattern) in cases {
            assert_eq!(message_pattern(message), pattern, "{message}");
        }
    }

    #[test]
    fn the_expressions_for_clickhouse_drop_only_the_crates_wrapper() {
        assert_eq!(re2(REPLACEMENTS[3].0), "[0-9]+");
        assert!(REPLACEMENTS.iter().all(|(e, _)| !re2(e).contains("(?-u")));
    }

    /// The expression the rollup's view and the migration's backfill
    /// write, from the same replacements.
    fn as_written_in_schema() -> String {
        let mut expression = "Body".to_owned();
        for (regex, with) in REPLACEMENTS {
            let literal = re2(regex).replace('\\', "\\\\");
            expression = format!("replaceRegexpAll({expression},'{literal}','{with}')");
        }
        format!("{expression}ASPattern")
    }

    #[test]
    fn the_rollup_replaces_as_message_pattern_does() {
        let squash = |sql: &str| sql.split_whitespace().collect::<String>();
        let expected = as_written_in_schema();
        let schema = squash(crate::schema::SCHEMA_SQL);
        assert_eq!(schema.matches(&expected).count(), 1, "{expected}");
        let migration = squash(include_str!("../../../migrations/003_log_rollups.sql"));
        assert_eq!(migration.matches(&expected).count(), 2, "{expected}");
        let floor = format!(
            "WHERESeverityNumber>={}",
            super::super::rollup::PATTERNS_MIN_SEVERITY
        );
        assert_eq!(schema.matches(&floor).count(), 1);
        assert_eq!(migration.matches(&floor).count(), 2);
    }
}
