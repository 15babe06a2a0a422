//! One set of `metrics` macros feeding two recorders: ours (snapshots in
//! ClickHouse) and Prometheus's (scraped), through `metrics-util`'s fan-out.
//!
//!   cargo run --example metrics_fanout
//!
//! Runs as a dry run (rows encoded, then discarded), so it needs no server;
//! drop `.dry_run(true)` to write to the configured ClickHouse.

use std::time::Duration;

use metrics::{counter, histogram};
use metrics_exporter_prometheus::PrometheusBuilder;
use metrics_util::layers::FanoutBuilder;

fn main() -> tracing_clickhouse::Result<()> {
    let telemetry = tracing_clickhouse::builder()
        .url("http://127.0.0.1:8123")?
        .dry_run(true)
        // We install the fan-out ourselves instead of our recorder alone.
        .global_metrics(false)
        .console(false)
        .install()?;
    let prometheus = PrometheusBuilder::new().build_recorder();
    let scrape = prometheus.handle();
    let fanout = FanoutBuilder::default()
        .add_recorder(telemetry.recorder())
        .add_recorder(prometheus)
        .build();
    metrics::set_global_recorder(fanout).expect("no other global recorder");

    for route in ["/", "/checkout", "/checkout"] {
        counter!("http.requests", "route" => route).increment(1);
        histogram!("http.latency", "route" => route).record(0.012);
    }

    // Both saw the same increments.
    println!("{}", scrape.render());
    telemetry.flush(Duration::from_secs(5))?;
    println!("metric rows written: {}", telemetry.stats().metrics_rows);
    Ok(())
}
