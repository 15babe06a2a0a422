//! The reads the rollups answer, on known rows: statistics, volume, error
//! patterns and the newest page give what the rows themselves give, for
//! ranges on and off whole minutes and every filter the rollups serve;
//! the whole minutes really come from the rollups; and a batch sent twice
//! with its deduplication token is counted once in each.

use crate::common;
use crate::known;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::known::{LogRow, MINUTE, SECOND, at, log, minutes_ago};
use tracing_clickhouse::query::{LogQuery, QueryClient, TimeRange, message_pattern};
use tracing_clickhouse::{Config, Severity, schema};

/// 3 000 rows over the last three hours, 3.6 s apart with an odd number of
/// nanoseconds: five services, four sources, every level (and a `WARN`
/// stored with OpenTelemetry's `WARN2` number, a level of no crate),
/// bodies with numbers, hex ids and UUIDs, and two identical rows.
fn rows(base: i64) -> Vec<LogRow> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    let mut rows: Vec<LogRow> = (0..3000i64)
        .map(|i| {
            let r = next();
            let (level, number) = [
                ("TRACE", 1),
                ("DEBUG", 5),
                ("INFO", 9),
                ("INFO", 9),
                ("INFO", 9),
                ("WARN", 13),
                ("WARN", 14),
                ("ERROR", 17),
                ("ERROR", 17),
                ("FATAL", 21),
                ("NOTICE", 10),
            ][(r % 11) as usize];
            let body = match r % 7 {
                0 => format!("request {:x} failed after {} ms", r * 7919, r % 900),
                1 => format!(
                    "order {:08x}-1234-4abc-8def-{:012x} rejected",
                    r % 0xffff_ffff,
                    r * 31
                ),
                2 => format!("pool exhausted at 0x{:x}", r % 4096),
                3 => "connection reset by peer".to_owned(),
                _ => format!("handled request {} in {} ms", r % 1000, r % 37),
            };
            log(
                base + i * 3_600_000_000 + (r % 999_999) as i64,
                level,
                number,
                ["checkout", "payments", "search", "auth", "users"][(r / 11 % 5) as usize],
                ["app::http", "app::db", "app::cache", "app::jobs"][(r / 55 % 4) as usize],
                &body,
            )
        })
        .collect();
    rows.push(rows[1500].clone());
    rows
}

/// What a query asks, applied to known rows as ClickHouse applies it.
#[derive(Clone, Debug, Default)]
struct Ask {
    level: Option<Severity>,
    min: Option<Severity>,
    max: Option<Severity>,
    services: Vec<&'static str>,
    sources: Vec<&'static str>,
    /// A text the message contains, ignoring case (no rollup keeps it).
    text: Option<&'static str>,
    since: Option<i64>,
    until: Option<i64>,
}

impl Ask {
    fn query(&self) -> LogQuery {
        let mut q = LogQuery::new();
        if let Some(level) = self.level {
            q = q.level(level);
        }
        if let Some(level) = self.min {
            q = q.min_level(level);
        }
        if let Some(level) = self.max {
            q = q.max_level(level);
        }
        for s in &self.services {
            q = q.service(*s);
        }
        for s in &self.sources {
            q = q.source(*s);
        }
        if let Some(text) = self.text {
            q = q.contains(text);
        }
        match (self.since, self.until) {
            (Some(since), Some(until)) => q.range(TimeRange::between(at(since), at(until))),
            (Some(since), None) => q.range(TimeRange::since(at(since))),
            (None, Some(until)) => q.range(TimeRange::until(at(until))),
            (None, None) => q,
        }
    }

    fn matches(&self, row: &LogRow) -> bool {
        self.level.is_none_or(|l| row.level == l.as_str())
            && self.min.is_none_or(|l| row.severity_number >= l.number())
            && self
                .max
                .is_none_or(|l| row.severity_number <= l.number() + 3)
            && (self.services.is_empty() || self.services.contains(&row.service.as_str()))
            && (self.sources.is_empty() || self.sources.contains(&row.source.as_str()))
            && self
                .text
                .is_none_or(|t| row.body.to_lowercase().contains(&t.to_lowercase()))
            && self.since.is_none_or(|t| row.timestamp_ns >= t)
            && self.until.is_none_or(|t| row.timestamp_ns < t)
    }
}

/// Ranges on whole minutes, off them at either end or both, within one
/// minute, and open.
fn ranges(base: i64) -> Vec<(Option<i64>, Option<i64>)> {
    let minute = base / MINUTE * MINUTE + 20 * MINUTE;
    vec![
        (None, None),
        (Some(minute), Some(minute + 90 * MINUTE)),
        (
            Some(minute + 7 * SECOND + 3),
            Some(minute + 61 * MINUTE + 11),
        ),
        (Some(minute - 1), None),
        (None, Some(minute + 30 * MINUTE + 29 * SECOND)),
        (Some(minute + SECOND), Some(minute + 50 * SECOND)),
        (Some(base + 170 * MINUTE + 1), None),
    ]
}

fn filters() -> Vec<Ask> {
    let ask = Ask::default;
    vec![
        ask(),
        Ask {
            services: vec!["checkout"],
            ..ask()
        },
        Ask {
            services: vec!["search", "auth"],
            sources: vec!["app::db"],
            ..ask()
        },
        Ask {
            level: Some(Severity::Error),
            ..ask()
        },
        Ask {
            min: Some(Severity::Warn),
            ..ask()
        },
        Ask {
            min: Some(Severity::Warn),
            max: Some(Severity::Error),
            services: vec!["payments"],
            ..ask()
        },
        Ask {
            max: Some(Severity::Info),
            sources: vec!["app::http", "app::jobs"],
            ..ask()
        },
        Ask {
            min: Some(Severity::Error),
            ..ask()
        },
        // Read from the rows: frequent, rare and absent texts.
        Ask {
            text: Some("HANDLED request"),
            ..ask()
        },
        Ask {
            text: Some("reset by peer"),
            services: vec!["auth"],
            ..ask()
        },
        Ask {
            text: Some("no such text"),
            ..ask()
        },
    ]
}

/// Every combination of a filter and a range.
fn asks(base: i64) -> Vec<Ask> {
    let mut asks = Vec::new();
    for filter in filters() {
        for (since, until) in ranges(base) {
            asks.push(Ask {
                since,
                until,
                ..filter.clone()
            });
        }
    }
    asks
}

async fn loaded(prefix: &str) -> (QueryClient, Vec<LogRow>, i64, Config) {
    let config = common::config(prefix);
    schema::apply(&config).await.unwrap();
    let client = QueryClient::new(&config).unwrap();
    let base = minutes_ago(180) + 17 * SECOND;
    let rows = rows(base);
    // Several inserts: the rollups get several parts to add up.
    for chunk in rows.chunks(700) {
        known::insert(&common::raw_client(&config), "logs", chunk).await;
    }
    (client, rows, base, config)
}

#[tokio::test(flavor = "multi_thread")]
async fn statistics_and_volume_are_the_rows_own() {
    let (client, rows, base, _) = loaded("rollup_stats").await;
    for ask in asks(base) {
        let matching: Vec<&LogRow> = rows.iter().filter(|r| ask.matches(r)).collect();
        let stats = client.log_stats(&ask.query()).await.unwrap();
        let mut by_level = BTreeMap::new();
        let mut by_source = BTreeMap::new();
        for row in &matching {
            *by_level.entry(row.level.clone()).or_insert(0u64) += 1;
            *by_source.entry(row.source.clone()).or_insert(0u64) += 1;
        }
        assert_eq!(stats.total, matching.len() as u64, "{ask:?}");
        assert_eq!(stats.by_level, by_level, "{ask:?}");
        assert_eq!(stats.by_source, by_source, "{ask:?}");
        let times = matching.iter().map(|r| r.timestamp_ns);
        assert_eq!(stats.first_ns, times.clone().min(), "{ask:?}");
        assert_eq!(stats.last_ns, times.max(), "{ask:?}");

        // Whole minutes (the rollup), several, and seconds (the rows).
        for width in [60, 300, 1800, 7] {
            let volume = client
                .log_volume(&ask.query(), Duration::from_secs(width))
                .await
                .unwrap();
            let width = width as i64 * SECOND;
            let mut expected: BTreeMap<i64, BTreeMap<String, u64>> = BTreeMap::new();
            for row in &matching {
                *expected
                    .entry(row.timestamp_ns / width * width)
                    .or_default()
                    .entry(row.level.clone())
                    .or_default() += 1;
            }
            let got: BTreeMap<i64, BTreeMap<String, u64>> = volume
                .entries
                .into_iter()
                .map(|b| (b.start_ns, b.by_level))
                .collect();
            assert_eq!(got, expected, "{ask:?} per {width} ns");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn error_patterns_are_the_rows_own() {
    let (client, rows, base, _) = loaded("rollup_patterns").await;
    for ask in asks(base) {
        for limit in [3, 1000] {
            let got = client
                .top_patterns(&ask.query(), limit)
                .await
                .unwrap()
                .entries;
            let mut groups: BTreeMap<String, (u64, String, i64, i64)> = BTreeMap::new();
            for row in rows.iter().filter(|r| ask.matches(r)) {
                let group = groups.entry(message_pattern(&row.body)).or_insert((
                    0,
                    row.body.clone(),
                    row.timestamp_ns,
                    row.timestamp_ns,
                ));
                group.0 += 1;
                group.1 = group.1.clone().min(row.body.clone());
                group.2 = group.2.min(row.timestamp_ns);
                group.3 = group.3.max(row.timestamp_ns);
            }
            let mut expected: Vec<_> = groups.into_iter().collect();
            expected.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(&b.0)));
            expected.truncate(limit as usize);
            let got: Vec<_> = got
                .into_iter()
                .map(|p| (p.pattern, (p.count, p.example, p.first_ns, p.last_ns)))
                .collect();
            assert_eq!(got, expected, "{ask:?} limit {limit}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_newest_page_and_a_tails_backlog_are_the_rows_own() {
    let (client, rows, base, _) = loaded("rollup_newest").await;
    for ask in asks(base) {
        let mut matching: Vec<&LogRow> = rows.iter().filter(|r| ask.matches(r)).collect();
        matching.sort_by_key(|r| std::cmp::Reverse(r.timestamp_ns));
        for limit in [1, 10, 100] {
            let page = client.query_logs(&ask.query().limit(limit)).await.unwrap();
            let got: Vec<(i64, &str)> = page
                .iter()
                .map(|e| (e.timestamp_ns, e.message.as_str()))
                .collect();
            let expected: Vec<(i64, &str)> = matching
                .iter()
                .take(limit as usize)
                .map(|r| (r.timestamp_ns, r.body.as_str()))
                .collect();
            assert_eq!(got, expected, "{ask:?} limit {limit}");
            assert_eq!(
                page.next.is_some(),
                matching.len() as u64 >= limit,
                "{ask:?}"
            );
            let mut tail = client.tail(&ask.query(), limit);
            let mut backlog: Vec<(i64, String)> = tail
                .poll()
                .await
                .unwrap()
                .into_iter()
                .map(|e| (e.timestamp_ns, e.message))
                .collect();
            backlog.reverse();
            let expected: Vec<(i64, String)> = expected
                .iter()
                .map(|(t, b)| (*t, (*b).to_owned()))
                .collect();
            assert_eq!(backlog, expected, "{ask:?} backlog {limit}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn whole_minutes_are_read_from_the_rollups() {
    let (client, _, base, config) = loaded("rollup_used").await;
    // A service only the rollups know of, in a minute inside the range.
    let minute = (base / MINUTE + 60) * MINUTE;
    let seconds = minute / SECOND;
    for sql in [
        format!(
            "INSERT INTO logs_by_level (Minute, ServiceName, SeverityText, SeverityNumber, \
             ScopeName, Count, FirstSeen, LastSeen) VALUES ({seconds}, 'ghost', 'ERROR', 17, \
             'app::ghost', 7, fromUnixTimestamp64Nano({minute}), fromUnixTimestamp64Nano({}))",
            minute + 5 * SECOND
        ),
        format!(
            "INSERT INTO logs_patterns (Minute, ServiceName, SeverityText, SeverityNumber, \
             ScopeName, Pattern, Count, Example, FirstSeen, LastSeen) VALUES ({seconds}, 'ghost', \
             'ERROR', 17, 'app::ghost', 'boo <num>', 7, 'boo 1', \
             fromUnixTimestamp64Nano({minute}), fromUnixTimestamp64Nano({minute}))"
        ),
    ] {
        common::raw_client(&config)
            .query(&sql)
            .execute()
            .await
            .unwrap();
    }
    let ghost = LogQuery::new().service("ghost").range(TimeRange::between(
        at(minute - 30 * SECOND),
        at(minute + 90 * SECOND),
    ));
    assert_eq!(client.log_stats(&ghost).await.unwrap().total, 7);
    let volume = client
        .log_volume(&ghost, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(volume.entries.len(), 1);
    assert_eq!(volume.entries[0].by_level["ERROR"], 7);
    let errors = ghost.clone().min_level(Severity::Error);
    let patterns = client.top_patterns(&errors, 5).await.unwrap().entries;
    assert_eq!(patterns.len(), 1);
    assert_eq!(
        (patterns[0].pattern.as_str(), patterns[0].count),
        ("boo <num>", 7)
    );
    // A filter the rollups do not keep reads the rows, which have none.
    let raw = ghost.contains("boo");
    assert_eq!(client.log_stats(&raw).await.unwrap().total, 0);
    // The newest page finds the bound in the rollup, reads the rows, finds
    // fewer than asked (there are none) and reads the whole range: the
    // answer is the rows'.
    assert!(
        client
            .query_logs(&LogQuery::new().service("ghost").limit(5))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_sent_twice_with_its_token_is_counted_once_in_every_rollup() {
    let config = common::config("rollup_dedup");
    schema::apply(&config).await.unwrap();
    let client = common::raw_client(&config);
    let batch = rows(minutes_ago(30));
    for _ in 0..2 {
        let mut insert = client
            .clone()
            .clone()
            .with_validation(false)
            .with_setting("insert_deduplication_token", "the-same-batch")
            .with_setting("deduplicate_blocks_in_dependent_materialized_views", "1")
            .insert::<LogRow>("logs")
            .await
            .unwrap();
        for row in &batch {
            insert.write(row).await.unwrap();
        }
        insert.end().await.unwrap();
    }
    let scalar = |sql: &'static str| common::scalar(&client, sql);
    let n = batch.len() as u64;
    assert_eq!(scalar("SELECT count() FROM logs").await, n);
    assert_eq!(scalar("SELECT sum(Count) FROM logs_by_level").await, n);
    let warnings = batch.iter().filter(|r| r.severity_number >= 13).count() as u64;
    assert_eq!(
        scalar("SELECT sum(Count) FROM logs_patterns").await,
        warnings
    );
    assert!(warnings > 0);
}
