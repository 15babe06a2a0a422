//! The running telemetry: the guard that flushes on drop, its statistics,
//! flush and shutdown.

use std::time::Duration;

use crate::capture::DirectRecorder;
use crate::config::Config;
use crate::error::Result;
use crate::pipeline::{Pipeline, ShutdownReport, report_unsent};
use crate::query::QueryClient;
use crate::stats::Stats;

/// The running telemetry. Dropping it flushes what is queued (bounded by
/// [`Timing::ShutdownTimeout`](crate::Timing::ShutdownTimeout))
/// and stops the flusher; `let _ = init()` would do that at once, so bind it
/// to a named variable.
#[must_use = "dropping the guard flushes and stops the pipeline at once"]
#[derive(Debug)]
pub struct Telemetry {
    /// Stopped first, so no evaluation runs while the rest shuts down.
    #[cfg(feature = "alerts")]
    pub(crate) alerts: Option<crate::alert::AlertTask>,
    /// Stopped before the pipeline shuts down, so its last readings and
    /// events are delivered.
    #[cfg(feature = "monitor")]
    pub(crate) monitor: crate::monitor::Monitor,
    pub(crate) pipeline: Pipeline,
    pub(crate) query: QueryClient,
    pub(crate) direct_recorder: DirectRecorder,
    pub(crate) config: Config,
}

impl Telemetry {
    /// The pipeline's counters so far.
    pub fn stats(&self) -> Stats {
        self.pipeline.stats()
    }

    /// Waits until everything captured before the call is stored in
    /// ClickHouse, retrying failed inserts until `timeout`. Blocks the
    /// calling thread.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`](crate::Error::Timeout) saying how many rows are
    /// still waiting and why; [`Error::Dropped`](crate::Error::Dropped)
    /// when every row was settled but some were dropped meanwhile (the
    /// memory bound or the spool was full).
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        self.pipeline.flush(timeout)
    }

    /// Flushes within `timeout`, stops the flusher, and reports what could
    /// not be delivered. Blocks the calling thread.
    pub fn shutdown(mut self, timeout: Duration) -> ShutdownReport {
        #[cfg(feature = "alerts")]
        if let Some(alerts) = &mut self.alerts {
            alerts.stop();
        }
        #[cfg(feature = "monitor")]
        self.monitor.stop();
        self.pipeline.shutdown(timeout)
    }

    /// The `metrics` recorder writing into this pipeline, to install as the
    /// global recorder or combine with others (`metrics_util::layers::FanoutBuilder`).
    #[cfg(feature = "metrics")]
    pub fn recorder(&self) -> crate::MetricsRecorder {
        self.pipeline.recorder().clone()
    }

    /// Reads the host and this process now, records the readings as the
    /// `system.*` and `process.*` gauges, and returns them (the seed's
    /// `get_system_status()`).
    #[cfg(feature = "monitor")]
    pub fn system_status(&self) -> crate::monitor::SystemStatus {
        self.monitor.system_status()
    }

    /// The last status of each configured service check.
    #[cfg(feature = "monitor")]
    pub fn service_statuses(&self) -> Vec<crate::monitor::ServiceStatus> {
        self.monitor.service_statuses()
    }

    /// Records logs and events without tracing (`collect_log`, `record_event`).
    pub fn direct_recorder(&self) -> DirectRecorder {
        self.direct_recorder.clone()
    }

    /// Reads history back from the same server and database.
    pub fn query(&self) -> &QueryClient {
        &self.query
    }

    /// What the background alerting ([`Builder::alerts`](crate::Builder::alerts)) has done so far:
    /// cycles, transitions, errors, what fires now. `None` without alerts.
    #[cfg(feature = "alerts")]
    pub fn alert_stats(&self) -> Option<crate::alert::AlertStats> {
        self.alerts.as_ref().map(crate::alert::AlertTask::stats)
    }

    /// The configuration in use ([`Config::into_builder`] makes a builder of it).
    pub fn config(&self) -> &Config {
        &self.config
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        #[cfg(feature = "alerts")]
        if let Some(alerts) = &mut self.alerts {
            alerts.stop();
        }
        #[cfg(feature = "monitor")]
        self.monitor.stop();
        let report = self
            .pipeline
            .shutdown(self.config.pipeline.shutdown_timeout);
        report_unsent(&report);
    }
}
