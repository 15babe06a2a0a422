//! The recorder's series: their storage (atomic counters, gauges that
//! refuse NaN, fixed-memory histograms), their cap, their descriptions, and
//! the rows a snapshot of them makes.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use metrics::{GaugeFn, HistogramFn, Key, KeyName, SharedString, Unit};
use metrics_util::registry::{Registry, Storage};
use parking_lot::RwLock;

use crate::histogram::{Histogram, HistogramSnapshot};
use crate::report::report;
use crate::stats::Counters;

/// The quantiles each histogram snapshot stores.
pub(crate) const QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];

/// The series and what describes them, shared by the recorder's clones and
/// the flusher, which takes the snapshots.
#[derive(Debug)]
pub(crate) struct MetricsState {
    pub(super) registry: Registry<Key, SeriesStorage>,
    descriptions: RwLock<HashMap<KeyName, Description>>,
    max_series: usize,
    counters: Arc<Counters>,
}

#[derive(Clone, Debug)]
pub(super) struct Description {
    unit: Option<Unit>,
    text: SharedString,
}

/// Creates the series' cells, counting them (the cap is checked before).
#[derive(Debug)]
pub(super) struct SeriesStorage {
    series: AtomicUsize,
    counters: Arc<Counters>,
}

impl Storage<Key> for SeriesStorage {
    type Counter = Arc<AtomicU64>;
    type Gauge = Arc<GaugeCell>;
    type Histogram = Arc<HistogramCell>;

    fn counter(&self, _: &Key) -> Self::Counter {
        self.created();
        Arc::new(AtomicU64::new(0))
    }

    fn gauge(&self, _: &Key) -> Self::Gauge {
        self.created();
        Arc::new(GaugeCell {
            bits: AtomicU64::new(0f64.to_bits()),
            counters: Arc::clone(&self.counters),
        })
    }

    fn histogram(&self, _: &Key) -> Self::Histogram {
        self.created();
        Arc::new(HistogramCell {
            histogram: Histogram::default(),
            counters: Arc::clone(&self.counters),
        })
    }
}

impl SeriesStorage {
    fn created(&self) {
        let n = self.series.fetch_add(1, Ordering::Relaxed) + 1;
        self.counters
            .metrics_series
            .store(n as u64, Ordering::Relaxed);
    }
}

/// A gauge's value (f64 bits); NaN and infinite results are refused.
#[derive(Debug)]
pub(crate) struct GaugeCell {
    bits: AtomicU64,
    counters: Arc<Counters>,
}

impl GaugeCell {
    fn reject(&self) {
        Counters::add(&self.counters.metrics_values_rejected, 1);
    }

    fn update(&self, change: impl Fn(f64) -> f64) {
        let result = self
            .bits
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |bits| {
                let next = change(f64::from_bits(bits));
                next.is_finite().then_some(next.to_bits())
            });
        if result.is_err() {
            self.reject();
        }
    }

    fn get(&self) -> f64 {
        f64::from_bits(self.bits.load(Ordering::Relaxed))
    }
}

impl GaugeFn for GaugeCell {
    fn increment(&self, value: f64) {
        self.update(|current| current + value);
    }

    fn decrement(&self, value: f64) {
        self.update(|current| current - value);
    }

    fn set(&self, value: f64) {
        if value.is_finite() {
            self.bits.store(value.to_bits(), Ordering::Relaxed);
        } else {
            self.reject();
        }
    }
}

/// A histogram that refuses NaN and infinite samples.
#[derive(Debug)]
pub(crate) struct HistogramCell {
    histogram: Histogram,
    counters: Arc<Counters>,
}

impl HistogramFn for HistogramCell {
    #[inline]
    fn record(&self, value: f64) {
        if value.is_finite() {
            self.histogram.record(value);
        } else {
            Counters::add(&self.counters.metrics_values_rejected, 1);
        }
    }
}

impl MetricsState {
    /// No series yet, at most `max_series` of them.
    pub(super) fn new(max_series: usize, counters: Arc<Counters>) -> Self {
        MetricsState {
            registry: Registry::new(SeriesStorage {
                series: AtomicUsize::new(0),
                counters: Arc::clone(&counters),
            }),
            descriptions: RwLock::new(HashMap::new()),
            max_series,
            counters,
        }
    }

    /// Whether a new series may be created; counts the refusal if not.
    pub(super) fn admit(&self) -> bool {
        let series = self.registry.storage().series.load(Ordering::Relaxed);
        if series < self.max_series {
            return true;
        }
        let refused = self
            .counters
            .metrics_series_refused
            .fetch_add(1, Ordering::Relaxed);
        if refused == 0 {
            report(format_args!(
                "more than {} metric series (label cardinality); \
                 new series are not recorded (see Stats::metrics_series_refused)",
                self.max_series
            ));
        }
        false
    }

    pub(super) fn describe(&self, key: KeyName, unit: Option<Unit>, text: SharedString) {
        self.descriptions
            .write()
            .insert(key, Description { unit, text });
    }

    /// The rows of one snapshot taken at `timestamp_ns`. `previous` holds
    /// each counter's value at the last snapshot (for the delta) and is
    /// updated.
    pub(crate) fn snapshot(
        &self,
        timestamp_ns: i64,
        previous: &mut HashMap<Key, u64>,
    ) -> Vec<MetricRow> {
        let descriptions = self.descriptions.read().clone();
        let row = |key: &Key, kind: MetricKind| {
            let description = descriptions.get(key.name());
            MetricRow {
                timestamp_ns,
                name: key.name().to_owned(),
                kind,
                description: description.map(|d| d.text.to_string()).unwrap_or_default(),
                unit: description
                    .and_then(|d| d.unit)
                    .map(|u| u.as_str().to_owned())
                    .unwrap_or_default(),
                attributes: key
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect(),
                value: 0.0,
                delta: 0.0,
                histogram: None,
            }
        };
        let mut rows = Vec::new();
        self.registry.visit_counters(|key, counter| {
            let value = counter.load(Ordering::Relaxed);
            let before = previous.insert(key.clone(), value).unwrap_or(0);
            // Counters only grow (`absolute` raises them, never lowers).
            let delta = value.saturating_sub(before);
            rows.push(MetricRow {
                value: value as f64,
                delta: delta as f64,
                ..row(key, MetricKind::Counter)
            });
        });
        self.registry.visit_gauges(|key, gauge| {
            rows.push(MetricRow {
                value: gauge.get(),
                ..row(key, MetricKind::Gauge)
            });
        });
        self.registry.visit_histograms(|key, histogram| {
            let snapshot = histogram.histogram.take();
            // An interval without samples has nothing to say (and no mean).
            if snapshot.count > 0 {
                rows.push(MetricRow {
                    value: snapshot.sum / snapshot.count as f64,
                    histogram: Some(snapshot),
                    ..row(key, MetricKind::Histogram)
                });
            }
        });
        Counters::add(&self.counters.metrics_rows, rows.len() as u64);
        rows
    }
}

/// What a row of `metrics` describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

impl MetricKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// One row of the `metrics` table.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct MetricRow {
    pub(crate) timestamp_ns: i64,
    pub(crate) name: String,
    pub(crate) kind: MetricKind,
    pub(crate) description: String,
    pub(crate) unit: String,
    pub(crate) attributes: Vec<(String, String)>,
    /// Counters: the total; gauges: the value; histograms: the mean.
    pub(crate) value: f64,
    /// Counters: the increase since the previous snapshot.
    pub(crate) delta: f64,
    pub(crate) histogram: Option<HistogramSnapshot>,
}
