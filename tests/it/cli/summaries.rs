//! `stats`, `metrics`, `events`, `trace`, `slow` on the fixture.

use std::collections::BTreeMap;

use tracing_clickhouse::query::message_pattern;

use super::Db;
use crate::known::{self, TRACE};

/// The fixture's error patterns among the rows `pick` keeps, the most
/// frequent first (ties by pattern), by the library's `message_pattern`.
fn patterns(pick: impl Fn(&known::LogRow) -> bool) -> Vec<(String, u64)> {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for row in known::logs(0, 120)
        .iter()
        .filter(|r| r.level == "ERROR" && pick(r))
    {
        *counts.entry(message_pattern(&row.body)).or_default() += 1;
    }
    let mut counts: Vec<(String, u64)> = counts.into_iter().collect();
    counts.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    counts
}

#[tokio::test(flavor = "multi_thread")]
async fn stats_count_by_level_and_source_with_volume_and_top_errors() {
    let (db, _) = Db::loaded("cli_stats").await;
    let run = db.run(&["stats", "--since", "1h"]);
    let lines = run.expect(0);
    assert!(lines[0].starts_with("120 logs from "), "{lines:?}");
    let row = |first: &str| {
        *lines
            .iter()
            .find(|l| l.starts_with(first))
            .unwrap_or_else(|| panic!("{first} in {lines:?}"))
    };
    // Levels by turn: INFO 2 of 5, WARN, ERROR, DEBUG 1 of 5 each.
    assert!(
        row("ERROR ").contains("   24  20.0 %  "),
        "{}",
        row("ERROR ")
    );
    assert!(row("INFO ").contains("   48  40.0 %  "), "{}", row("INFO "));
    assert!(row("WARN ").contains("   24"));
    assert!(row("DEBUG ").contains("   24"));
    assert!(
        row("INFO ").chars().any(|c| ('▁'..='█').contains(&c)),
        "a sparkline: {}",
        row("INFO ")
    );
    assert!(
        row("app::http ").contains("60  50.0 %"),
        "{}",
        row("app::http ")
    );
    assert!(row("app::db ").contains("60  50.0 %"));
    // The patterns, as the library's own rule groups the fixture's errors.
    let expected = patterns(|_| true);
    let at = lines
        .iter()
        .position(|l| *l == "top error patterns")
        .unwrap();
    assert_eq!(lines.len(), at + 2 + expected.len(), "{lines:?}");
    for (line, (pattern, n)) in lines[at + 2..].iter().zip(&expected) {
        assert!(line.trim_start().starts_with(&format!("{n}  ")), "{line}");
        assert!(
            line.ends_with(pattern.as_str()),
            "{line} ends with {pattern}"
        );
    }
    assert_eq!(expected.iter().map(|(_, n)| n).sum::<u64>(), 24);

    let json = db.run(&["stats", "--since", "1h", "-s", "checkout", "--json"]);
    let value: serde_json::Value = serde_json::from_str(json.expect(0)[0]).unwrap();
    assert_eq!(value["total"], 60);
    assert_eq!(value["by_level"]["ERROR"], 12);
    let checkout = patterns(|r| r.service == "checkout");
    assert_eq!(value["top_errors"][0]["count"], checkout[0].1);
    assert_eq!(value["top_errors"][0]["pattern"], checkout[0].0.as_str());
    let volume: u64 = value["volume"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["by_level"].as_object().unwrap().values())
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(volume, 60, "the volume adds up to the total");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_show_rates_quantiles_gauges_and_aggregations() {
    let (db, _) = Db::loaded("cli_metrics").await;
    let counter = db.run(&["metrics", "orders.placed"]);
    let lines = counter.expect(0);
    assert!(
        lines[0].starts_with("orders.placed (counter): 10 points in 1 series"),
        "{lines:?}"
    );
    assert!(lines[1].starts_with("channel=web  "), "{}", lines[1]);
    assert!(
        lines[1].ends_with("total 60, +60 in range, now 0.1/s"),
        "{}",
        lines[1]
    );
    assert_eq!(
        lines[1].matches('█').count(),
        9,
        "nine equal rates: {}",
        lines[1]
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("  channel=web  "))
            .count(),
        10,
        "the points"
    );

    let gauge = db.run(&["metrics", "queue.depth", "-n", "3"]);
    let lines = gauge.expect(0);
    assert!(lines[1].ends_with("last 10, min 1, max 10"), "{lines:?}");
    assert!(lines[1].contains("▁▂▃▃▄▅▆▆▇█"), "{}", lines[1]);
    assert_eq!(
        lines.len(),
        2 + 1 + 1 + 3,
        "header, series, blank, table header, 3 points"
    );

    let histogram = db.run(&["metrics", "http.latency"]);
    let lines = histogram.expect(0);
    assert!(
        lines[1].starts_with("100 samples: min 0.01, p50 "),
        "{lines:?}"
    );
    assert!(lines[1].contains(", max 0.1, mean 0.055"), "{}", lines[1]);

    let minutes = db.run(&["metrics", "queue.depth", "--agg", "minute"]);
    let lines = minutes.expect(0);
    assert!(lines[0].starts_with("queue.depth: 10 buckets"), "{lines:?}");
    assert_eq!(lines.len(), 12);
    let hours = db.run(&[
        "metrics",
        "queue.depth",
        "--agg",
        "hour",
        "--since",
        "1d",
        "--json",
    ]);
    let count: u64 = hours
        .expect(0)
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["count"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(count, 10, "the hourly rollup counts the ten snapshots");
    let json = db.run(&["metrics", "orders.placed", "--json"]);
    assert_eq!(json.expect(0).len(), 10);
    let none = db.run(&["metrics", "no.such.metric"]);
    assert_eq!(none.expect(0), ["no points of no.such.metric in the range"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn events_trace_and_slow_operations() {
    let (db, _) = Db::loaded("cli_spans").await;
    let events = db.run(&["events"]);
    let lines = events.expect(0);
    assert_eq!(lines.len(), 6, "a header and five events: {lines:?}");
    assert!(
        lines[1].contains("  deploy  ") && lines[1].ends_with("version=1.4.0"),
        "oldest first: {}",
        lines[1]
    );
    assert_eq!(
        db.run(&["events", "-t", "service_status"]).expect(0).len(),
        3
    );
    let json = db.run(&["events", "--source", "ci", "--json"]);
    let versions: Vec<String> = json
        .expect(0)
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["details"]["version"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(versions, ["1.4.0", "1.4.1", "1.4.2"]);

    let trace = db.run(&["trace", TRACE]);
    let lines = trace.expect(0);
    assert!(
        lines[0].starts_with(&format!(
            "trace {TRACE}: 3 spans in 2 services, 5 logs, 1.2 s, from "
        )),
        "{lines:?}"
    );
    let span = |name: &str| *lines.iter().find(|l| l.contains(name)).unwrap();
    assert!(
        span("handle_request").starts_with(
            "handle_request  checkout     1.2 s  ████████████████████████████████████████"
        ),
        "{lines:?}"
    );
    assert!(
        span("db.query").starts_with("├─ db.query     checkout    100 ms     ███"),
        "{lines:?}"
    );
    assert!(
        span("charge").starts_with("└─ charge       payments    500 ms"),
        "{lines:?}"
    );
    assert!(span("charge").ends_with("ERROR card declined"));
    assert_eq!(
        lines.iter().filter(|l| l.contains("· ")).count(),
        5,
        "each log under its span"
    );
    let no_logs = db.run(&["trace", TRACE, "--no-logs"]);
    assert_eq!(no_logs.expect(0).len(), 4);
    let json = db.run(&["trace", TRACE, "--json"]);
    let value: serde_json::Value = serde_json::from_str(json.expect(0)[0]).unwrap();
    let depths: Vec<u64> = value["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["depth"].as_u64().unwrap())
        .collect();
    assert_eq!(depths, [0, 1, 1]);
    assert_eq!(value["logs"].as_array().unwrap().len(), 5);
    let unknown = db.run(&["trace", "00000000000000000000000000000000"]);
    unknown.expect(1);
    assert!(
        unknown.stderr.contains("no span or log of trace"),
        "{}",
        unknown.stderr
    );

    let slow = db.run(&["slow"]);
    let lines = slow.expect(0);
    let operations: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        operations,
        ["handle_request", "charge", "db.query", "search"],
        "by p95: {lines:?}"
    );
    assert!(
        lines[4].starts_with("search    search             10   60 ms  100 ms  100 ms  100 ms  █▋"),
        "{lines:?}"
    );
    let json = db.run(&["slow", "-s", "search", "--json"]);
    let value: serde_json::Value = serde_json::from_str(json.expect(0)[0]).unwrap();
    assert_eq!(
        (value["spans"].as_u64(), value["p50_ns"].as_u64()),
        (Some(10), Some(60_000_000))
    );
}
