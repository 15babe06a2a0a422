//! `query_logs` and `log_stats` against stored logs whose counts are known.

use crate::common;

use std::time::{Duration, SystemTime};

use tracing::{Level, dispatcher};
use tracing_clickhouse::query::{LogEntry, LogQuery, TimeRange};
use tracing_clickhouse::{Severity, Telemetry};

const FLUSH: Duration = Duration::from_secs(30);

/// Logs of two sources in two time windows, and the time between them.
///
/// | window | source | level | count |
/// | --- | --- | --- | --- |
/// | early | app::db | ERROR | 3 |
/// | early | app::http | WARN | 5 |
/// | early | app::db | INFO | 7 |
/// | late | app::http | DEBUG | 2 |
/// | late | app::db | ERROR | 4 (one says "Needle in a haystack") |
fn emit_known_logs(prefix: &str) -> (Telemetry, SystemTime) {
    let (dispatch, telemetry) = common::start(common::config(prefix));
    let between = dispatcher::with_default(&dispatch, || {
        for i in 0..3 {
            tracing::event!(target: "app::db", Level::ERROR, i, "db error {i}");
        }
        for i in 0..5 {
            tracing::event!(target: "app::http", Level::WARN, i, "slow request {i}");
        }
        for i in 0..7 {
            tracing::event!(target: "app::db", Level::INFO, i, "query ran {i}");
        }
        std::thread::sleep(Duration::from_millis(20));
        let between = SystemTime::now();
        std::thread::sleep(Duration::from_millis(20));
        for i in 0..2 {
            tracing::event!(target: "app::http", Level::DEBUG, i, "headers {i}");
        }
        for i in 0..3 {
            tracing::event!(target: "app::db", Level::ERROR, i, "late db error {i}");
        }
        tracing::event!(target: "app::db", Level::ERROR, "Needle in a haystack");
        between
    });
    telemetry.flush(FLUSH).unwrap();
    (telemetry, between)
}

fn assert_newest_first(logs: &[LogEntry]) {
    for pair in logs.windows(2) {
        assert!(pair[0].timestamp_ns >= pair[1].timestamp_ns, "{pair:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn query_logs_filters_by_level_source_text_and_time() {
    let (telemetry, between) = emit_known_logs("query");
    let client = telemetry.query();
    let count =
        |query: LogQuery| async move { client.query_logs(&query.limit(1000)).await.unwrap() };

    let all = count(LogQuery::new()).await;
    assert_eq!(all.len(), 21);
    assert_newest_first(&all);
    assert_eq!(all[0].message, "Needle in a haystack");
    assert_eq!(all[0].service, "tc-test");

    let errors = count(LogQuery::new().level(Severity::Error)).await;
    assert_eq!(errors.len(), 7);
    assert!(errors.iter().all(|log| log.level == "ERROR"));
    assert_newest_first(&errors);

    let warn_and_up = count(LogQuery::new().min_level(Severity::Warn)).await;
    assert_eq!(warn_and_up.len(), 12);

    let db = count(LogQuery::new().source("app::db")).await;
    assert_eq!(db.len(), 14);
    assert!(db.iter().all(|log| log.source == "app::db"));
    assert_eq!(
        count(LogQuery::new().source("app::db").level(Severity::Info))
            .await
            .len(),
        7
    );

    let needle = count(LogQuery::new().contains("NEEDLE")).await;
    assert_eq!(needle.len(), 1);
    assert_eq!(needle[0].message, "Needle in a haystack");

    let between_ns = between
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let early = count(LogQuery::new().range(TimeRange::until(between))).await;
    assert_eq!(early.len(), 15);
    assert!(early.iter().all(|log| log.timestamp_ns < between_ns));
    let late = count(LogQuery::new().range(TimeRange::since(between))).await;
    assert_eq!(late.len(), 6);
    assert!(late.iter().all(|log| log.timestamp_ns >= between_ns));
    let late_errors = count(
        LogQuery::new()
            .range(TimeRange::since(between))
            .level(Severity::Error),
    )
    .await;
    assert_eq!(late_errors.len(), 4);

    let limited = client.query_logs(&LogQuery::new().limit(5)).await.unwrap();
    assert_eq!(limited.entries, all[..5]);
    let default_limit = client.query_logs(&LogQuery::new()).await.unwrap();
    assert_eq!(default_limit.len(), 21, "under the default limit of 100");

    assert_eq!(all[0].attribute("code.namespace"), Some(module_path!()));
    assert!(
        count(LogQuery::new().source("it's ' OR 1=1 --"))
            .await
            .is_empty()
    );
    assert!(
        count(LogQuery::new().service("another-service"))
            .await
            .is_empty()
    );
    assert_eq!(count(LogQuery::new().service("tc-test")).await.len(), 21);
}

#[tokio::test(flavor = "multi_thread")]
async fn log_stats_counts_match_what_was_logged() {
    let (telemetry, between) = emit_known_logs("stats");
    let client = telemetry.query();

    let stats = client.log_stats(&LogQuery::new()).await.unwrap();
    assert_eq!(stats.total, 21);
    assert_eq!(stats.count(Severity::Error), 7);
    assert_eq!(stats.count(Severity::Warn), 5);
    assert_eq!(stats.count(Severity::Info), 7);
    assert_eq!(stats.count(Severity::Debug), 2);
    assert_eq!(stats.count(Severity::Trace), 0);
    assert_eq!(stats.by_level.values().sum::<u64>(), stats.total);

    let all = client
        .query_logs(&LogQuery::new().limit(1000))
        .await
        .unwrap();
    assert_eq!(stats.first_ns, all.iter().map(|l| l.timestamp_ns).min());
    assert_eq!(stats.last_ns, all.iter().map(|l| l.timestamp_ns).max());

    let late = client
        .log_stats(&LogQuery::new().range(TimeRange::since(between)))
        .await
        .unwrap();
    assert_eq!(late.total, 6);
    assert_eq!(late.count(Severity::Error), 4);
    assert_eq!(late.count(Severity::Debug), 2);

    let http = client
        .log_stats(&LogQuery::new().source("app::http").limit(1))
        .await
        .unwrap();
    assert_eq!(http.total, 7, "the limit does not apply to statistics");

    let none = client
        .log_stats(&LogQuery::new().source("nobody"))
        .await
        .unwrap();
    assert_eq!(none.total, 0);
    assert_eq!(none.first_ns, None);
}
