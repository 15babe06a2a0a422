//! The `metrics` hot path under our recorder and under
//! `metrics-exporter-prometheus`'s, measured in the same run.
//!
//!   cargo bench --bench metrics
//!
//! Four operations: a counter increment through a handle, a counter
//! increment through the macro with one label (which registers, that is
//! looks the series up, on every call), a gauge set through a handle, and a
//! histogram record through a handle. Our recorder runs in a dry-run
//! pipeline; its snapshots are not taken during the measurement (the
//! interval is an hour), as the Prometheus recorder renders only on request.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use metrics::{Key, Label, Level, Metadata, Recorder, counter};
use metrics_exporter_prometheus::PrometheusBuilder;
use tracing_clickhouse::{Builder, Telemetry, Timing};

const META: Metadata<'static> = Metadata::new("bench", Level::INFO, None);

fn ours() -> (Telemetry, tracing_clickhouse::MetricsRecorder) {
    let (_layer, telemetry) = Builder::from_env_vars::<&str, &str>([])
        .url("http://127.0.0.1:9")
        .and_then(|b| b.timing(Timing::MetricsInterval(Duration::from_secs(3600))))
        .unwrap()
        .system_monitor(false)
        .pipeline_metrics(false)
        .dry_run(true)
        .build()
        .unwrap();
    let recorder = telemetry.recorder();
    (telemetry, recorder)
}

fn metrics_hot_path(c: &mut Criterion) {
    let (_telemetry, ours) = ours();
    let prometheus = PrometheusBuilder::new().build_recorder();
    let labelled = Key::from_parts("requests", vec![Label::new("route", "/checkout")]);

    let mut group = c.benchmark_group("counter_handle");
    let counter = ours.register_counter(&Key::from_name("requests"), &META);
    group.bench_function("ours", |b| b.iter(|| counter.increment(black_box(1))));
    let counter = prometheus.register_counter(&Key::from_name("requests"), &META);
    group.bench_function("prometheus", |b| b.iter(|| counter.increment(black_box(1))));
    group.finish();

    let mut group = c.benchmark_group("counter_macro_one_label");
    group.bench_function("ours", |b| {
        metrics::with_local_recorder(&ours, || {
            b.iter(|| counter!("requests", "route" => "/checkout").increment(black_box(1)))
        })
    });
    group.bench_function("prometheus", |b| {
        metrics::with_local_recorder(&prometheus, || {
            b.iter(|| counter!("requests", "route" => "/checkout").increment(black_box(1)))
        })
    });
    group.finish();

    let mut group = c.benchmark_group("gauge_set");
    let gauge = ours.register_gauge(&labelled, &META);
    group.bench_function("ours", |b| b.iter(|| gauge.set(black_box(42.5))));
    let gauge = prometheus.register_gauge(&labelled, &META);
    group.bench_function("prometheus", |b| b.iter(|| gauge.set(black_box(42.5))));
    group.finish();

    let mut group = c.benchmark_group("histogram_record");
    let histogram = ours.register_histogram(&labelled, &META);
    group.bench_function("ours", |b| b.iter(|| histogram.record(black_box(0.0123))));
    let histogram = prometheus.register_histogram(&labelled, &META);
    let handle = prometheus.handle();
    group.bench_function("prometheus", |b| {
        b.iter(|| histogram.record(black_box(0.0123)));
        // Its samples pile up until upkeep; keep its memory in check between runs.
        handle.run_upkeep();
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = metrics_hot_path
}
criterion_main!(benches);
