//! Histograms take fixed memory: ten million records grow the process by
//! less than 1 MiB under our recorder. The Prometheus recorder's growth is
//! printed beside it (its samples wait in memory until the next upkeep).
//!
//! Alone in its own test binary, so no other test allocates meanwhile.

use std::time::Duration;

use metrics::{Key, Level, Metadata, Recorder};
use tracing_clickhouse::Builder;

const RECORDS: u64 = 10_000_000;
const META: Metadata<'static> = Metadata::new("test", Level::INFO, None);

/// Resident memory of this process, in bytes (Linux).
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn record_all(recorder: &impl Recorder) -> u64 {
    let histogram = recorder.register_histogram(&Key::from_name("latency"), &META);
    let before = rss();
    for i in 0..RECORDS {
        histogram.record((i % 100_000) as f64 * 1e-4);
    }
    rss().saturating_sub(before)
}

#[test]
fn ten_million_histogram_records_take_fixed_memory() {
    let (_layer, telemetry) = Builder::from_env_vars::<&str, &str>([])
        .url("http://127.0.0.1:9")
        .and_then(|b| {
            b.timing(tracing_clickhouse::Timing::MetricsInterval(
                Duration::from_secs(3600),
            ))
        })
        .unwrap()
        // Only the one series of this test.
        .system_monitor(false)
        .dry_run(true)
        .build()
        .unwrap();
    let ours = record_all(&telemetry.recorder());

    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let theirs = record_all(&prometheus);
    println!(
        "RSS growth after {RECORDS} histogram records: ours {:.2} MiB, \
         metrics-exporter-prometheus {:.2} MiB (before its upkeep)",
        ours as f64 / 1048576.0,
        theirs as f64 / 1048576.0
    );
    assert!(ours <= 1 << 20, "ours grew by {ours} bytes");
    telemetry.flush(Duration::from_secs(10)).unwrap();
}
