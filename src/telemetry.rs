//! Setting up: the builder, `init()`, and the guard that flushes on drop.

use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

use std::sync::Arc;

use crate::capture::{CaptureShared, ClickHouseLayer, Collector};
use crate::config::Config;
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

/// A [`Builder`] with every default.
pub fn builder() -> Builder {
    Builder::default()
}

/// Options for setting up, beyond the [`Config`].
///
/// | option | default |
/// | --- | --- |
/// | [`config`](Builder::config) | [`Config::from_env`] |
/// | [`create_schema`](Builder::create_schema) | `true`: tables are created if missing before the first insert |
/// | [`console`](Builder::console) | `true`: [`install`](Builder::install) also prints events to stderr |
/// | [`filter`](Builder::filter) | `RUST_LOG`, else `info` (used by `install`) |
/// | [`dry_run`](Builder::dry_run) | `false` |
/// | [`global_metrics`](Builder::global_metrics) | `true`: [`install`](Builder::install) also makes the [`MetricsRecorder`](crate::MetricsRecorder) the global `metrics` recorder (feature `metrics`) |
#[derive(Debug)]
#[must_use]
pub struct Builder {
    config: Option<Config>,
    create_schema: bool,
    console: bool,
    filter: Option<String>,
    dry_run: bool,
    global_metrics: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            config: None,
            create_schema: true,
            console: true,
            filter: None,
            dry_run: false,
            global_metrics: true,
        }
    }
}

impl Builder {
    /// Uses this configuration instead of reading the environment.
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// Whether the flusher creates missing tables (from `schema.sql`) before
    /// its first insert.
    pub fn create_schema(mut self, create: bool) -> Self {
        self.create_schema = create;
        self
    }

    /// Whether [`install`](Builder::install) adds a readable console layer on stderr.
    pub fn console(mut self, console: bool) -> Self {
        self.console = console;
        self
    }

    /// `EnvFilter` directives for [`install`](Builder::install), e.g.
    /// `"info,my_app=debug"`; replaces `RUST_LOG`.
    pub fn filter(mut self, directives: impl Into<String>) -> Self {
        self.filter = Some(directives.into());
        self
    }

    /// Encodes every batch and throws it away instead of inserting it: the
    /// whole pipeline without a server (no schema, no network), for
    /// measuring capture and encoding. Rows count as sent.
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Whether [`install`](Builder::install) also installs the metrics
    /// recorder as the global `metrics` recorder (when the `metrics` feature
    /// is on). Turn it off to install your own, or a fan-out of ours and
    /// another ([`Telemetry::recorder`]).
    pub fn global_metrics(mut self, install: bool) -> Self {
        self.global_metrics = install;
        self
    }

    /// Starts the pipeline and returns the layer, for a subscriber of your own,
    /// and the guard. Touches no network.
    ///
    /// # Errors
    ///
    /// Invalid configuration, or the flusher thread could not start.
    pub fn build(self) -> Result<(ClickHouseLayer, Telemetry)> {
        let config = match self.config {
            Some(config) => config,
            None => Config::from_env()?,
        };
        let pipeline = Pipeline::start(&config, self.create_schema, self.dry_run)?;
        let capture = Arc::new(CaptureShared {
            queue: Arc::clone(pipeline.queue()),
            clock: pipeline.clock().clone(),
            limits: config.capture.limits,
            span_fields_in_logs: config.capture.span_fields_in_logs,
        });
        let layer = ClickHouseLayer::new(Arc::clone(&capture));
        #[cfg(feature = "monitor")]
        let monitor = crate::monitor::Monitor::start(
            &config.monitor,
            pipeline.recorder().clone(),
            Collector::new(Arc::clone(&capture)),
        )?;
        let telemetry = Telemetry {
            #[cfg(feature = "monitor")]
            monitor,
            query: QueryClient::new(&config)?.with_memory(Arc::clone(pipeline.memory())),
            collector: Collector::new(capture),
            pipeline,
            config,
        };
        Ok((layer, telemetry))
    }

    /// [`build`](Builder::build)s and installs the global subscriber: the
    /// filter, our layer and (unless turned off) the console layer.
    ///
    /// # Errors
    ///
    /// As [`build`](Builder::build), or a global subscriber (or, with
    /// [`global_metrics`](Builder::global_metrics), a global `metrics`
    /// recorder) already set.
    pub fn install(self) -> Result<Telemetry> {
        let global_metrics = self.global_metrics;
        let filter = match &self.filter {
            Some(directives) => {
                EnvFilter::try_new(directives).map_err(|_| crate::ConfigError::Invalid {
                    setting: "Builder::filter",
                    value: directives.clone(),
                    reason: "EnvFilter directives such as \"info,my_app=debug\"",
                })?
            }
            None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        };
        let console = self
            .console
            .then(|| tracing_subscriber::fmt::layer().with_writer(std::io::stderr));
        let (layer, telemetry) = self.build()?;
        tracing_subscriber::registry()
            .with(filter)
            .with(layer)
            .with(console)
            .try_init()?;
        #[cfg(feature = "metrics")]
        if global_metrics {
            metrics::set_global_recorder(telemetry.recorder())
                .map_err(|_| crate::Error::RecorderAlreadySet)?;
        }
        #[cfg(not(feature = "metrics"))]
        let _ = global_metrics;
        Ok(telemetry)
    }
}

/// The running telemetry. Dropping it flushes what is queued (bounded by
/// [`PipelineConfig::shutdown_timeout`](crate::PipelineConfig::shutdown_timeout))
/// and stops the flusher; `let _ = init()` would do that at once, so bind it
/// to a named variable.
#[must_use = "dropping the guard flushes and stops the pipeline at once"]
#[derive(Debug)]
pub struct Telemetry {
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
    /// still waiting and why.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        self.pipeline.flush(timeout)
    }

    /// Flushes within `timeout`, stops the flusher, and reports what could
    /// not be delivered. Blocks the calling thread.
    pub fn shutdown(mut self, timeout: Duration) -> ShutdownReport {
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

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        #[cfg(feature = "monitor")]
        self.monitor.stop();
        let report = self
            .pipeline
            .shutdown(self.config.pipeline.shutdown_timeout);
        report_unsent(&report);
    }
}
