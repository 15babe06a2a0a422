//! The `metrics` Recorder: counters, gauges and histograms aggregated in
//! the process and written as periodic snapshots (one row per series per
//! interval), never one row per increment.
//!
//! Series live in `metrics-util`'s [`Registry`]; a handle is an `Arc` of an
//! atomic (a fixed-memory [`Histogram`] for histograms), so recording
//! through a handle takes no lock and allocates nothing. Registration (what
//! the macros do on every call) is a hash lookup under a sharded read lock,
//! as in other recorders built on the same registry.
//!
//! Bad input is refused and counted, never stored: a new series past
//! `max_series` gets a handle that records nothing (`metrics_series_refused`),
//! and NaN or infinite gauge values and histogram samples are dropped
//! (`metrics_values_rejected`).

use std::sync::Arc;

use metrics::{
    Counter, Gauge, Histogram as HistogramHandle, Key, KeyName, Metadata, Recorder, SharedString,
    Unit,
};

use super::series::MetricsState;
use crate::stats::Counters;

/// A `metrics` recorder writing into ClickHouse's `metrics` table through the
/// pipeline of a [`Telemetry`](crate::Telemetry).
///
/// [`init`](crate::init) installs it as the global recorder (feature
/// `metrics`, on by default). Get it with
/// [`Telemetry::recorder`](crate::Telemetry::recorder) to install it
/// yourself, or to combine it with another recorder through
/// `metrics_util::layers::FanoutBuilder` (see `examples/metrics_fanout.rs`).
/// Cheap to clone: clones share the series.
#[derive(Clone, Debug)]
pub struct MetricsRecorder {
    state: Arc<MetricsState>,
}

impl MetricsRecorder {
    pub(crate) fn new(max_series: usize, counters: Arc<Counters>) -> Self {
        MetricsRecorder {
            state: Arc::new(MetricsState::new(max_series, counters)),
        }
    }

    pub(crate) fn state(&self) -> &Arc<MetricsState> {
        &self.state
    }

    /// Records the pipeline's own counters as metrics named
    /// `tracing_clickhouse.*` (taken with every snapshot).
    pub(crate) fn record_pipeline(&self, stats: &crate::Stats) {
        const META: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);
        let total = |name: &'static str, labels: &[(&'static str, &'static str)], value: u64| {
            let labels: Vec<metrics::Label> = labels
                .iter()
                .map(|&(k, v)| metrics::Label::new(k, v))
                .collect();
            self.register_counter(&Key::from_parts(name, labels), &META)
                .absolute(value);
        };
        total("tracing_clickhouse.queued", &[], stats.queued);
        total("tracing_clickhouse.sent_rows", &[], stats.sent_rows);
        total("tracing_clickhouse.sent_bytes", &[], stats.sent_bytes);
        total("tracing_clickhouse.sent_batches", &[], stats.sent_batches);
        total("tracing_clickhouse.retries", &[], stats.retries);
        for (kind, n) in [
            ("transient", stats.failed_transient),
            ("auth", stats.failed_auth),
            ("schema", stats.failed_schema),
        ] {
            total("tracing_clickhouse.failed_inserts", &[("kind", kind)], n);
        }
        for (reason, n) in [
            ("queue_full", stats.dropped_queue_full),
            ("after_shutdown", stats.dropped_after_shutdown),
            ("unsent", stats.dropped_unsent),
            ("spool_full", stats.dropped_spool_full),
            ("spool_corrupt", stats.dropped_spool_corrupt),
        ] {
            total("tracing_clickhouse.dropped_rows", &[("reason", reason)], n);
        }
        total("tracing_clickhouse.spooled_rows", &[], stats.spooled_rows);
        total("tracing_clickhouse.replayed_rows", &[], stats.replayed_rows);
        let level = |name: &'static str, value: f64| {
            self.register_gauge(&Key::from_name(name), &META).set(value);
        };
        level("tracing_clickhouse.queue_depth", stats.queue_depth as f64);
        level("tracing_clickhouse.pending_rows", stats.pending_rows as f64);
        level("tracing_clickhouse.memory_bytes", stats.memory_bytes as f64);
        level("tracing_clickhouse.spool_bytes", stats.spool_bytes as f64);
        level(
            "tracing_clickhouse.insert_seconds",
            stats.last_insert_micros as f64 / 1e6,
        );
    }
}

impl Recorder for MetricsRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.state.describe(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.state.describe(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.state.describe(key, unit, description);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let registry = &self.state.registry;
        if let Some(counter) = registry.get_counter(key) {
            return Counter::from_arc(counter);
        }
        if !self.state.admit() {
            return Counter::noop();
        }
        registry.get_or_create_counter(key, |c| Counter::from_arc(Arc::clone(c)))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let registry = &self.state.registry;
        if let Some(gauge) = registry.get_gauge(key) {
            return Gauge::from_arc(gauge);
        }
        if !self.state.admit() {
            return Gauge::noop();
        }
        registry.get_or_create_gauge(key, |g| Gauge::from_arc(Arc::clone(g)))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> HistogramHandle {
        let registry = &self.state.registry;
        if let Some(histogram) = registry.get_histogram(key) {
            return HistogramHandle::from_arc(histogram);
        }
        if !self.state.admit() {
            return HistogramHandle::noop();
        }
        registry.get_or_create_histogram(key, |h| HistogramHandle::from_arc(Arc::clone(h)))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use metrics::Label;

    fn recorder(max_series: usize) -> (MetricsRecorder, Arc<Counters>) {
        let counters = Arc::new(Counters::default());
        (
            MetricsRecorder::new(max_series, Arc::clone(&counters)),
            counters,
        )
    }

    fn key(name: &'static str, labels: &[(&'static str, &'static str)]) -> Key {
        let labels: Vec<Label> = labels.iter().map(|&(k, v)| Label::new(k, v)).collect();
        Key::from_parts(name, labels)
    }

    const META: Metadata<'static> = Metadata::new("test", metrics::Level::INFO, None);

    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    #[test]
    fn counters_snapshot_total_and_delta() {
        let (recorder, _) = recorder(100);
        recorder.describe_counter(
            "requests".into(),
            Some(Unit::Count),
            "requests served".into(),
        );
        let counter = recorder.register_counter(&key("requests", &[("route", "/a")]), &META);
        counter.increment(5);
        let mut previous = HashMap::new();
        let rows = recorder.state().snapshot(1, &mut previous);
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!((row.value, row.delta), (5.0, 5.0));
        assert_eq!(
            (row.unit.as_str(), row.description.as_str()),
            ("count", "requests served")
        );
        assert_eq!(row.attributes, [("route".to_owned(), "/a".to_owned())]);
        counter.increment(3);
        let rows = recorder.state().snapshot(2, &mut previous);
        assert_eq!((rows[0].value, rows[0].delta), (8.0, 3.0));
        counter.absolute(20);
        let rows = recorder.state().snapshot(3, &mut previous);
        assert_eq!((rows[0].value, rows[0].delta), (20.0, 12.0));
        let rows = recorder.state().snapshot(4, &mut previous);
        assert_eq!((rows[0].value, rows[0].delta), (20.0, 0.0));
    }

    #[test]
    fn gauges_refuse_nan_and_infinity() {
        let (recorder, counters) = recorder(100);
        let gauge = recorder.register_gauge(&key("temperature", &[]), &META);
        gauge.set(20.5);
        gauge.set(f64::NAN);
        gauge.increment(f64::INFINITY);
        gauge.increment(1.0);
        let histogram = recorder.register_histogram(&key("latency", &[]), &META);
        histogram.record(f64::NAN);
        histogram.record(f64::NEG_INFINITY);
        let rows = recorder.state().snapshot(1, &mut HashMap::new());
        assert_eq!(rows.len(), 1, "an empty histogram writes no row");
        assert_eq!(rows[0].value, 21.5);
        assert_eq!(get(&counters.metrics_values_rejected), 4);
    }

    #[test]
    fn histograms_snapshot_per_interval() {
        let (recorder, _) = recorder(100);
        let histogram = recorder.register_histogram(&key("latency", &[]), &META);
        for v in [1.0, 2.0, 3.0, 10.0] {
            histogram.record(v);
        }
        let rows = recorder.state().snapshot(1, &mut HashMap::new());
        let h = rows[0].histogram.as_ref().unwrap();
        assert_eq!((h.count, h.sum, h.min, h.max), (4, 16.0, 1.0, 10.0));
        assert_eq!(rows[0].value, 4.0);
        assert!(recorder.state().snapshot(2, &mut HashMap::new()).is_empty());
    }

    #[test]
    fn series_past_the_cap_are_refused_and_counted() {
        let (recorder, counters) = recorder(3);
        let labels = ["a", "b", "c", "d", "e"];
        for label in labels {
            recorder
                .register_counter(&key("hits", &[("user", label)]), &META)
                .increment(1);
        }
        // Known series still work past the cap.
        recorder
            .register_counter(&key("hits", &[("user", "a")]), &META)
            .increment(1);
        let rows = recorder.state().snapshot(1, &mut HashMap::new());
        assert_eq!(rows.len(), 3);
        assert_eq!(rows.iter().map(|r| r.value).sum::<f64>(), 4.0);
        assert_eq!(get(&counters.metrics_series_refused), 2);
        assert_eq!(get(&counters.metrics_series), 3);
    }
}
