//! The `metrics` recorder: what is recorded is what ClickHouse stores
//! (counters with their deltas, gauges, histograms with exact count, sum,
//! min and max and quantiles within the buckets' error), the reads on top,
//! the rollups equal to the raw rows, and the fallback without ClickHouse.

use crate::common;

use std::time::Duration;

use crate::common::{DevServer, Options, free_port, scalar};
use metrics::{Unit, counter, describe_counter, describe_histogram, gauge, histogram};
use tracing_clickhouse::query::{AnswerOrigin, Granularity, MetricQuery};
use tracing_clickhouse::{Builder, Config, Limit, MetricsRecorder, Telemetry, Timing};

/// With the pipeline's own metrics and the system gauges, as by default.
fn config(url: &str, database: &str) -> Config {
    Builder::from_env_vars::<&str, &str>([])
        .url(url)
        .and_then(|b| b.database(database))
        .and_then(|b| b.timing(Timing::FlushInterval(Duration::from_millis(100))))
        .and_then(|b| b.timing(Timing::MaxRetryBackoff(Duration::from_millis(300))))
        // Snapshots only when the test flushes.
        .and_then(|b| b.timing(Timing::MetricsInterval(Duration::from_secs(3600))))
        .and_then(|b| b.limit(Limit::MetricSeries(100)))
        .and_then(|b| b.service_name("tc-metrics").build_config())
        .unwrap()
}

fn start(config: &Config) -> (Telemetry, MetricsRecorder) {
    let (_layer, telemetry) = config.clone().into_builder().build().unwrap();
    let recorder = telemetry.recorder();
    (telemetry, recorder)
}

fn flush(telemetry: &Telemetry) {
    telemetry.flush(Duration::from_secs(30)).unwrap();
}

fn close(actual: f64, expected: f64, relative: f64) -> bool {
    (actual - expected).abs() <= expected.abs() * relative
}

#[tokio::test(flavor = "multi_thread")]
async fn recorded_values_are_stored_and_read_back() {
    let config = common::config("metrics");
    let config = self::config(&config.url(), config.database());
    let (telemetry, recorder) = start(&config);

    metrics::with_local_recorder(&recorder, || {
        describe_counter!("http.requests", Unit::Count, "requests served");
        describe_histogram!("http.latency", Unit::Seconds, "time to answer");
        counter!("http.requests", "route" => "/a").increment(3);
        counter!("http.requests", "route" => "/b").increment(5);
        gauge!("queue.depth").set(42.0);
        let latency = histogram!("http.latency", "route" => "/a");
        for i in 1..=1000 {
            latency.record(f64::from(i) / 1000.0);
        }
    });
    flush(&telemetry);
    std::thread::sleep(Duration::from_millis(50));
    metrics::with_local_recorder(&recorder, || {
        counter!("http.requests", "route" => "/a").increment(4);
        gauge!("queue.depth").set(7.0);
        gauge!("queue.depth").set(f64::NAN); // refused and counted
        let latency = histogram!("http.latency", "route" => "/a");
        for _ in 0..10 {
            latency.record(2.0);
        }
    });
    flush(&telemetry);

    let query = telemetry.query();
    let a = MetricQuery::new("http.requests").attribute("route", "/a");
    let points = query.query_metrics(&a).await.unwrap();
    assert_eq!(points.origin, AnswerOrigin::ClickHouse);
    let values: Vec<(f64, f64)> = points.entries.iter().map(|p| (p.value, p.delta)).collect();
    assert_eq!(values, [(3.0, 3.0), (7.0, 4.0)]);
    assert!(points.entries.iter().all(|p| p.kind == "counter"));
    let b = MetricQuery::new("http.requests").attribute("route", "/b");
    let values: Vec<(f64, f64)> = query
        .query_metrics(&b)
        .await
        .unwrap()
        .entries
        .iter()
        .map(|p| (p.value, p.delta))
        .collect();
    assert_eq!(values, [(5.0, 5.0), (5.0, 0.0)]);

    let gauge: Vec<f64> = query
        .query_metrics(&MetricQuery::new("queue.depth"))
        .await
        .unwrap()
        .entries
        .iter()
        .map(|p| p.value)
        .collect();
    assert_eq!(gauge, [42.0, 7.0]);
    assert_eq!(telemetry.stats().metrics_values_rejected, 1);

    // Histograms: exact count, sum, min, max; quantiles within the buckets.
    let latency = MetricQuery::new("http.latency");
    let points = query.query_metrics(&latency).await.unwrap().entries;
    assert_eq!(points.len(), 2);
    let first = &points[0];
    assert_eq!((first.count, first.min, first.max), (1000, 0.001, 1.0));
    assert!(close(first.sum, 500.5, 1e-12), "{}", first.sum);
    assert_eq!(first.quantiles, [0.5, 0.9, 0.99]);
    for (q, value) in first.quantiles.iter().zip(&first.quantile_values) {
        assert!(close(*value, *q, 1.0 / 16.0), "q{q} = {value}");
    }
    assert_eq!((points[1].count, points[1].sum), (10, 20.0));
    let client = &common::raw_client(telemetry.config());
    let bucket_total = scalar(
        client,
        "SELECT toUInt64(sum(arraySum(BucketCounts))) FROM metrics WHERE MetricName = 'http.latency'",
    )
    .await;
    assert_eq!(bucket_total, 1010);
    let unit = client
        .query("SELECT any(MetricUnit) FROM metrics WHERE MetricName = 'http.latency'")
        .fetch_one::<String>()
        .await
        .unwrap();
    assert_eq!(unit, "seconds");

    // Quantiles over the whole range, from the stored buckets.
    let over_range = query
        .histogram_quantiles(&latency, &[0.5, 0.99])
        .await
        .unwrap();
    assert_eq!(
        (over_range.count, over_range.min, over_range.max),
        (1010, 0.001, 2.0)
    );
    // 1010 samples: the median is the 505th (0.505), the p99 the 1000th (1.0).
    assert!(
        close(over_range.values[0].1, 0.505, 1.0 / 16.0),
        "{over_range:?}"
    );
    assert!(
        close(over_range.values[1].1, 1.0, 1.0 / 16.0),
        "{over_range:?}"
    );

    // The pipeline's own counters are metrics too.
    let sent = query
        .query_metrics(&MetricQuery::new("tracing_clickhouse.sent_batches"))
        .await
        .unwrap()
        .entries;
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|p| p.kind == "counter"));
    let failed = query
        .query_metrics(
            &MetricQuery::new("tracing_clickhouse.failed_inserts").attribute("kind", "auth"),
        )
        .await
        .unwrap()
        .entries;
    assert_eq!(
        failed.iter().map(|p| p.value).collect::<Vec<_>>(),
        [0.0, 0.0]
    );

    // Aggregations from the rollups equal those from the raw rows.
    for (granularity, bucket) in [
        (Granularity::Minute, "toStartOfMinute(TimeUnix)"),
        (Granularity::Hour, "toStartOfHour(TimeUnix)"),
        (Granularity::Day, "toDateTime(toDate(TimeUnix))"),
    ] {
        for name in ["queue.depth", "http.requests", "http.latency"] {
            let aggregates = query
                .metric_aggregations(granularity, &MetricQuery::new(name))
                .await
                .unwrap();
            let raw: Vec<(u32, f64, f64, f64, u64)> = client
                .query(&format!(
                    "SELECT toUInt32({bucket}) AS start, avg(Value), min(Value), max(Value), \
                     toUInt64(count()) FROM metrics WHERE MetricName = ? \
                     GROUP BY start ORDER BY start"
                ))
                .bind(name)
                .fetch_all()
                .await
                .unwrap();
            let ours: Vec<(u32, f64, f64, f64, u64)> = aggregates
                .iter()
                .map(|a| (a.start, a.avg, a.min, a.max, a.count))
                .collect();
            assert_eq!(ours.len(), raw.len(), "{granularity:?} {name}");
            for (o, r) in ours.iter().zip(&raw) {
                assert_eq!(
                    (o.0, o.2, o.3, o.4),
                    (r.0, r.2, r.3, r.4),
                    "{granularity:?} {name}"
                );
                assert!(
                    close(o.1, r.1, 1e-12),
                    "{granularity:?} {name}: {o:?} {r:?}"
                );
            }
        }
    }
}

/// With ClickHouse unreachable the recorder keeps working: its rows wait
/// with the others, queries answer from memory, and they are stored once
/// ClickHouse is back.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_wait_for_clickhouse() {
    let port = free_port();
    let config = config(
        &format!("http://127.0.0.1:{port}"),
        &common::unique_database("metrics_down"),
    );
    let (telemetry, recorder) = start(&config);
    metrics::with_local_recorder(&recorder, || {
        counter!("jobs.done", "queue" => "mail").increment(12);
        gauge!("workers").set(3.0);
    });
    assert!(telemetry.flush(Duration::from_millis(500)).is_err());
    let query = telemetry.query();
    let jobs = MetricQuery::new("jobs.done").attribute("queue", "mail");
    let from_memory = query.query_metrics(&jobs).await.unwrap();
    assert!(from_memory.origin.is_memory(), "{:?}", from_memory.origin);
    assert_eq!(from_memory.entries.len(), 1);
    assert_eq!(from_memory.entries[0].value, 12.0);

    let _server = DevServer::start(Options {
        port,
        ..Options::default()
    });
    flush(&telemetry);
    let stored = query.query_metrics(&jobs).await.unwrap();
    assert_eq!(stored.origin, AnswerOrigin::ClickHouse);
    // The flush took a second snapshot.
    let values: Vec<(f64, f64)> = stored.entries.iter().map(|p| (p.value, p.delta)).collect();
    assert_eq!(values, [(12.0, 12.0), (12.0, 0.0)]);
    assert_eq!(stored.entries[0], from_memory.entries[0]);
}
