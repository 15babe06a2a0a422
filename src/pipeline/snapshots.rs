//! Metric snapshots: every `Timing::MetricsInterval` (and before a flush)
//! the flusher writes one `metrics` row per series of the recorder. Without
//! the `metrics` feature there is nothing to snapshot.

use std::time::Instant;

use crate::stats::Stats;

#[cfg(feature = "metrics")]
#[derive(Debug)]
pub(super) struct Snapshots {
    recorder: crate::capture::MetricsRecorder,
    /// Whether snapshots record the pipeline's own counters.
    pipeline_metrics: bool,
    /// Each counter's value at the last snapshot, for its delta.
    previous: std::collections::HashMap<metrics::Key, u64>,
    interval: std::time::Duration,
    next_at: Instant,
}

#[cfg(feature = "metrics")]
impl Snapshots {
    pub(super) fn new(
        recorder: crate::capture::MetricsRecorder,
        config: crate::config::monitoring::MetricsConfig,
    ) -> Self {
        Snapshots {
            recorder,
            pipeline_metrics: config.pipeline_metrics,
            previous: Default::default(),
            interval: config.interval,
            next_at: Instant::now() + config.interval,
        }
    }

    /// When the next snapshot is due.
    pub(super) fn due_at(&self) -> Option<Instant> {
        Some(self.next_at)
    }

    /// Appends a snapshot's rows to `out` if one is due at `now`, or now
    /// with `force`; returns how many rows. `stats` are the pipeline's own
    /// counters, recorded first when asked.
    pub(super) fn take(
        &mut self,
        now: Instant,
        force: bool,
        stats: &Stats,
        out: &mut Vec<u8>,
    ) -> u64 {
        if !force && now < self.next_at {
            return 0;
        }
        self.next_at = now + self.interval;
        if self.pipeline_metrics {
            self.recorder.record_pipeline(stats);
        }
        let rows = self
            .recorder
            .state()
            .snapshot(crate::record::now_ns(), &mut self.previous);
        for row in &rows {
            super::encode::encode_metric(row, out);
        }
        rows.len() as u64
    }
}

/// Without metrics: never due, nothing to write.
#[cfg(not(feature = "metrics"))]
#[derive(Debug)]
pub(super) struct Snapshots;

#[cfg(not(feature = "metrics"))]
impl Snapshots {
    pub(super) fn due_at(&self) -> Option<Instant> {
        None
    }

    pub(super) fn take(&mut self, _: Instant, _: bool, _: &Stats, _: &mut Vec<u8>) -> u64 {
        0
    }
}
