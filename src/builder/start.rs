//! Setting up: `init()`, `builder()`, and the builder's exits (the pipeline
//! started, and the layer, the subscriber or everything global installed).

use std::sync::Arc;

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

use super::Builder;
use crate::capture::{CaptureShared, ClickHouseLayer, DirectRecorder};
use crate::config::Config;
use crate::error::Result;
use crate::pipeline::Pipeline;
use crate::query::QueryClient;
use crate::telemetry::Telemetry;

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
                subscriber.try_init().map_err(already_set)?;
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
            subscriber.try_init().map_err(already_set)?;
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
        #[cfg(feature = "alerts")]
        let alerts = self.alerts.take();
        let (config, console_writer) = self.finish(console_by_default)?;
        // Checked before anything starts: a bad rule is the exit's error.
        #[cfg(feature = "alerts")]
        if let Some(alerts) = &alerts {
            alerts.validate()?;
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
            DirectRecorder::new(Arc::clone(&capture)),
        )?;
        let telemetry = Telemetry {
            #[cfg(feature = "alerts")]
            alerts: alerts
                .map(|alerts| crate::alert::AlertTask::start(*alerts, &config))
                .transpose()?,
            #[cfg(feature = "monitor")]
            monitor,
            query: QueryClient::new(&config)?.with_memory(Arc::clone(pipeline.unsent())),
            direct_recorder: DirectRecorder::new(capture),
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

/// A global subscriber was there before ours.
fn already_set(error: tracing_subscriber::util::TryInitError) -> crate::Error {
    crate::Error::SubscriberAlreadySet(Box::new(error))
}
