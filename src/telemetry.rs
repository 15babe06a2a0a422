//! Setting up: the builder's exits, `init()`, and the guard that flushes on drop.

use std::sync::Arc;
use std::time::Duration;

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

use crate::capture::{CaptureShared, ClickHouseLayer, Collector};
use crate::config::{Builder, Config};
use crate::error::Result;
use crate::pipeline::{Pipeline, ShutdownReport, report_unsent};
use crate::query::QueryClient;
use crate::stats::Stats;

/// Sets up telemetry from the environment with every default and installs
/// it as the global subscriber. Keep the guard for the life of the program.
///
/// ```no_run
/// # fn main() -> tracing_clickhouse::Result<()> {
/// let _telemetry = tracing_clickhouse::init()?;
/// tracing::warn!(cpu_percent = 95, threshold = 90, "High CPU usage detected");
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// An invalid `CLICKHOUSE_*` variable, or a global subscriber already set.
/// An unreachable server is not an error: rows wait for it.
pub fn init() -> Result<Telemetry> {
    builder().install()
}

/// A [`Builder`] starting from the environment.
pub fn builder() -> Builder {
    Builder::from_env()
}

impl Builder {
    /// Starts the pipeline and installs everything global: the subscriber
    /// (the filter, our layer, the console), the `log` bridge, and (unless
    /// [`global_metrics(false)`](Builder::global_metrics)) our `metrics`
    /// recorder.
    ///
    /// # Errors
    ///
    /// Invalid configuration, the pipeline's threads could not start, or a
    /// global subscriber (or `metrics` recorder) is already set.
    pub fn install(self) -> Result<Telemetry> {
        let (subscriber, telemetry) = self.build_subscriber()?;
        // Install all or nothing, as far as the globals let us: a global
        // subscriber can be looked for first, a `metrics` recorder cannot.
        // So: fail now if there is a subscriber (`try_init` says so without
        // setting anything), set the recorder, then the subscriber.
        let subscriber = match tracing::dispatcher::has_been_set() {
            true => {
                subscriber.try_init()?;
                None
            }
            false => Some(subscriber),
        };
        #[cfg(feature = "metrics")]
        if telemetry.config.global_metrics {
            metrics::set_global_recorder(telemetry.recorder())
                .map_err(|_| crate::Error::RecorderAlreadySet)?;
        }
        if let Some(subscriber) = subscriber {
            // Also installs the `log` bridge (tracing-subscriber's `tracing-log`).
            subscriber.try_init()?;
        }
        Ok(telemetry)
    }

    /// Starts the pipeline and returns the subscriber [`install`](Builder::install)
    /// would install (the filter, our layer, the console), without
    /// installing it or anything else: to set it as a scoped default
    /// (`tracing::dispatcher::with_default`), or to add layers of your own.
    ///
    /// # Errors
    ///
    /// Invalid configuration, or the pipeline's threads could not start.
    pub fn build_subscriber(
        self,
    ) -> Result<(
        impl Subscriber + for<'a> LookupSpan<'a> + Send + Sync + 'static,
        Telemetry,
    )> {
        // A bad RUST_LOG matters only here, where the filter is installed.
        let (layer, telemetry) = self.with_filter_checked().start(true)?;
        // The builder checked the directives.
        let filter = EnvFilter::new(&telemetry.config.filter);
        // The console is the pipeline's: it prints what our layer captures.
        let subscriber = tracing_subscriber::registry().with(filter).with(layer);
        Ok((subscriber, telemetry))
    }

    /// Starts the pipeline and returns our layer, for a subscriber of your
    /// own, and the guard. Installs nothing, and prints no console unless
    /// asked with [`console(true)`](Builder::console).
    ///
    /// # Errors
    ///
    /// Invalid configuration, or the pipeline's threads could not start.
    pub fn build(self) -> Result<(ClickHouseLayer, Telemetry)> {
        self.start(false)
    }

    /// The pipeline, the layer and the guard, with the console on unless
    /// the builder was told otherwise and `console_by_default` is false.
    #[cfg_attr(not(feature = "alerts"), allow(unused_mut))]
    fn start(mut self, console_by_default: bool) -> Result<(ClickHouseLayer, Telemetry)> {
        // Only `Builder::alerts` (below) leaves anything there.
        #[cfg(feature = "alerts")]
        let alerts = self
            .alerts
            .take()
            .and_then(|alerts| alerts.downcast::<crate::alert::Alerts>().ok());
        let (config, console_writer) = self.finish(console_by_default)?;
        // Checked before anything starts: a bad rule is the exit's error.
        #[cfg(feature = "alerts")]
        if let Some(alerts) = &alerts {
            crate::alert::Evaluator::check(alerts.rules())?;
        }
        let pipeline = Pipeline::start(&config, console_writer)?;
        if !config.dry_run && config.start_line {
            crate::report::report(spool_line(&config));
        }
        let capture = Arc::new(CaptureShared {
            queue: Arc::clone(pipeline.queue()),
            clock: pipeline.clock().clone(),
            limits: config.capture.limits,
            span_fields_in_logs: config.capture.span_fields_in_logs,
            console_spans: config.console.enabled,
            sampler: crate::capture::sampler::Sampler::new(config.trace_sample_ratio),
        });
        let layer = ClickHouseLayer::new(Arc::clone(&capture));
        #[cfg(feature = "monitor")]
        let monitor = crate::monitor::Monitor::start(
            &config.monitor,
            pipeline.recorder().clone(),
            Collector::new(Arc::clone(&capture)),
        )?;
        let telemetry = Telemetry {
            #[cfg(feature = "alerts")]
            alerts: alerts
                .map(|alerts| crate::alert::AlertTask::start(*alerts, &config))
                .transpose()?,
            #[cfg(feature = "monitor")]
            monitor,
            query: QueryClient::new(&config)?.with_memory(Arc::clone(pipeline.unsent())),
            collector: Collector::new(capture),
            pipeline,
            config,
        };
        Ok((layer, telemetry))
    }
}

#[cfg(feature = "alerts")]
impl Builder {
    /// Evaluates `alerts` in the background while the guard lives: a thread
    /// of its own (off the application's threads and the flusher's), one
    /// query per rule every interval, transitions to `events`, the webhook
    /// and the callback. A rule that does not validate is the exit's error.
    ///
    /// The alerts are not part of the [`Config`]: a builder made back from
    /// [`Telemetry::config`] has none.
    pub fn alerts(mut self, alerts: crate::alert::Alerts) -> Self {
        self.alerts = Some(Box::new(alerts));
        self
    }
}

/// The line said on stderr at start: where unsent batches survive a crash,
/// or that they do not (docs/reliability.md, "Why the spool is opt-in").
fn spool_line(config: &Config) -> String {
    match &config.spool.dir {
        Some(dir) => format!(
            "spool in {dir:?}: batches ClickHouse does not take are written there at once \
             and sent from there, also after a restart (nothing is written while it takes them)"
        ),
        None => {
            let bytes = config.pipeline.max_pending_bytes;
            let bound = match bytes >> 20 {
                0 => format!("{bytes} bytes"),
                mib => format!("{mib} MiB"),
            };
            format!(
                "no spool: batches waiting for ClickHouse are kept in memory only (up to {bound}) \
                 and lost if the process dies; set CLICKHOUSE_SPOOL_DIR to keep them on disk"
            )
        }
    }
}

/// The running telemetry. Dropping it flushes what is queued (bounded by
/// [`PipelineConfig::shutdown_timeout`](crate::PipelineConfig::shutdown_timeout))
/// and stops the flusher; `let _ = init()` would do that at once, so bind it
/// to a named variable.
#[must_use = "dropping the guard flushes and stops the pipeline at once"]
#[derive(Debug)]
pub struct Telemetry {
    /// Stopped first, so no evaluation runs while the rest shuts down.
    #[cfg(feature = "alerts")]
    alerts: Option<crate::alert::AlertTask>,
    /// Stopped before the pipeline shuts down, so its last readings and
    /// events are delivered.
    #[cfg(feature = "monitor")]
    monitor: crate::monitor::Monitor,
    pipeline: Pipeline,
    query: QueryClient,
    collector: Collector,
    config: Config,
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
    pub fn collector(&self) -> Collector {
        self.collector.clone()
    }

    /// Reads history back from the same server and database.
    pub fn query(&self) -> &QueryClient {
        &self.query
    }

    /// What the background alerting ([`Builder::alerts`]) has done so far:
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
