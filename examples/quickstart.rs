//! The main job: log events at every level with fields into ClickHouse,
//! record a few metrics and the system's status, then read them back with
//! their statistics.
//!
//! `make demo` runs it against a local devserver; with `CLICKHOUSE_URL` (or
//! `CLICKHOUSE_HOST` and friends) set, against that server instead.

use std::time::{Duration, SystemTime};

use tracing_clickhouse::Severity;
use tracing_clickhouse::query::{Granularity, LogQuery, MetricQuery, TimeRange};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = SystemTime::now();

    // `tracing_clickhouse::init()` is the one-line version (its filter is
    // RUST_LOG or `info`); here every level of this program is kept.
    let telemetry = tracing_clickhouse::builder()
        .filter("info,quickstart=trace")?
        .install()?;

    tracing::trace!(step = "start", "Quickstart starting");
    tracing::debug!(config_source = "environment", "Configuration loaded");
    tracing::info!(user = "ada", items = 3u64, total = 42.5, "Order placed");
    tracing::warn!(cpu_percent = 95, threshold = 90, "High CPU usage detected");
    let cause = std::io::Error::new(std::io::ErrorKind::TimedOut, "connection timed out");
    tracing::error!(
        error = &cause as &dyn std::error::Error,
        retries = 3,
        "Payment service unreachable"
    );
    tracing::info!(user = "ada", "Order confirmed");

    // Metrics through the `metrics` macros (init installed our recorder),
    // and the system monitor's reading (the seed's get_system_status()).
    for latency in [0.012, 0.020, 0.031, 0.250] {
        metrics::counter!("orders.placed", "channel" => "web").increment(1);
        metrics::histogram!("orders.latency_seconds").record(latency);
    }
    let system = telemetry.system_status();

    // Wait until ClickHouse has the rows (flush blocks, so step off the runtime).
    tokio::task::block_in_place(|| telemetry.flush(Duration::from_secs(30)))?;

    let config = telemetry.config();
    let query = telemetry.query();
    let this_run = LogQuery::new()
        .service(config.service_name())
        .range(TimeRange::since(started));
    let logs = query.query_logs(&this_run).await?;
    println!();
    println!(
        "Stored {} logs in ClickHouse at {} (database {}), newest first:",
        logs.len(),
        config.url(),
        config.database()
    );
    for log in &logs {
        let fields: Vec<String> = log
            .attributes
            .iter()
            .filter(|(key, _)| !key.starts_with("code.") && !key.starts_with("thread."))
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        println!(
            "  {}  {:<5}  {:<10}  {}  {{{}}}",
            humantime::format_rfc3339_nanos(
                SystemTime::UNIX_EPOCH + Duration::from_nanos(log.timestamp_ns as u64)
            ),
            log.level,
            log.source,
            log.message,
            fields.join(", ")
        );
    }

    let stats = query.log_stats(&this_run).await?;
    let per_level: Vec<String> = Severity::ALL
        .iter()
        .map(|level| format!("{level} {}", stats.count(*level)))
        .collect();
    println!();
    println!(
        "Statistics of this run: total {} | {}",
        stats.total,
        per_level.join(" | ")
    );
    let errors = query
        .query_logs(&this_run.clone().min_level(Severity::Warn))
        .await?;
    println!("Warnings and errors of this run: {}", errors.len());
    let all_time = query.log_stats(&LogQuery::new()).await?;
    println!("All logs of every run in this database: {}", all_time.total);

    println!();
    println!(
        "System: CPU {:.1} %, memory {:.1} % of {} MiB, {} disks, up {} s; this process {} MiB RSS, {} threads",
        system.cpu_percent,
        system.memory_percent,
        system.memory_total_bytes >> 20,
        system.disks.len(),
        system.uptime_seconds,
        system.process_rss_bytes >> 20,
        system.process_threads,
    );
    let since_start = |name: &str| {
        MetricQuery::new(name)
            .service(config.service_name())
            .range(TimeRange::since(started))
    };
    let orders = query.query_metrics(&since_start("orders.placed")).await?;
    let latency = query
        .histogram_quantiles(&since_start("orders.latency_seconds"), &[0.5, 0.99])
        .await?;
    println!(
        "Metrics of this run: orders.placed = {} | orders.latency_seconds: {} samples, p50 {:.3} s, p99 {:.3} s",
        orders.entries.last().map_or(0.0, |p| p.value),
        latency.count,
        latency.values[0].1,
        latency.values[1].1,
    );
    let cpu_by_hour = query
        .metric_aggregations(Granularity::Hour, &MetricQuery::new("system.cpu_percent"))
        .await?;
    if let Some(hour) = cpu_by_hour.last() {
        println!(
            "system.cpu_percent this hour (from metrics_hourly): avg {:.1}, min {:.1}, max {:.1} over {} readings",
            hour.avg, hour.min, hour.max, hour.count
        );
    }

    let report = telemetry.shutdown(Duration::from_secs(10));
    assert_eq!(report.unsent_rows, 0, "{report:?}");
    Ok(())
}
