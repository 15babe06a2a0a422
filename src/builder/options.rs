//! The builder's setters for how the pipeline runs: the queue and batches,
//! the spool, capture, metrics, the monitor, the console and the filter.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use super::Builder;
use crate::config::bounds::{BATCH_ROWS, FLUSH_INTERVAL, QUEUE_CAPACITY, SNAPSHOT_INTERVAL, WAIT};
use crate::config::env::{PIPELINE_VARS, SPOOL_VARS};
use crate::config::monitoring::{Colors, MetricsConfig, MonitorConfig, ServiceCheck};
use crate::config::sections::{CaptureConfig, PipelineConfig, QueuePolicy, SpoolConfig};
use crate::config::values::{SharedWriter, parse_filter};
use crate::error::ConfigError;
use crate::record::Severity;

impl Builder {
    // --- Pipeline -------------------------------------------------------

    /// Queue and batch limits (replaces the pipeline's variables).
    ///
    /// # Errors
    ///
    /// A field outside its bounds ([`PipelineConfig`] lists them).
    pub fn pipeline(mut self, pipeline: PipelineConfig) -> Result<Self, ConfigError> {
        pipeline.validate()?;
        self.config.pipeline = pipeline;
        self.replaced(&PIPELINE_VARS);
        Ok(self)
    }

    /// Records the capture queue holds (256 bytes each, allocated at start).
    ///
    /// # Errors
    ///
    /// Zero, or more than 4194304 (1 GiB of slots).
    pub fn queue_capacity(mut self, records: usize) -> Result<Self, ConfigError> {
        self.config.pipeline.queue_capacity =
            QUEUE_CAPACITY.check_usize("Builder::queue_capacity", records)?;
        self.replaced(&["CLICKHOUSE_QUEUE_CAPACITY"]);
        Ok(self)
    }

    /// What happens to a record when the queue is full.
    pub fn queue_policy(mut self, policy: QueuePolicy) -> Self {
        self.config.pipeline.queue_policy = policy;
        self.replaced(&["CLICKHOUSE_QUEUE_POLICY"]);
        self
    }

    /// Rows per insert, at most.
    ///
    /// # Errors
    ///
    /// Zero, or more than 10000000.
    pub fn batch_max_rows(mut self, rows: usize) -> Result<Self, ConfigError> {
        self.config.pipeline.batch_max_rows =
            BATCH_ROWS.check_usize("Builder::batch_max_rows", rows)?;
        self.replaced(&["CLICKHOUSE_BATCH_MAX_ROWS"]);
        Ok(self)
    }

    /// A batch is sent when its oldest row is this old.
    ///
    /// # Errors
    ///
    /// Shorter than 10 ms (each batch is an insert), or longer than 365 days.
    pub fn flush_interval(mut self, interval: Duration) -> Result<Self, ConfigError> {
        self.config.pipeline.flush_interval =
            FLUSH_INTERVAL.check("Builder::flush_interval", interval)?;
        self.replaced(&["CLICKHOUSE_FLUSH_INTERVAL_MS"]);
        Ok(self)
    }

    /// How long dropping the guard waits for what is queued to be delivered
    /// (zero: it does not wait). Longer than 365 days is reported by the exit.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        const SETTING: &str = "Builder::shutdown_timeout";
        self.replaced(&[SETTING]);
        match WAIT.check(SETTING, timeout) {
            Ok(timeout) => self.config.pipeline.shutdown_timeout = timeout,
            Err(error) => self.errors.push(error),
        }
        self
    }

    // --- Spool ----------------------------------------------------------

    /// The disk spool (replaces `CLICKHOUSE_SPOOL_DIR` and `CLICKHOUSE_SPOOL_MAX_BYTES`).
    ///
    /// # Errors
    ///
    /// A zero size or interval, an interval longer than 365 days, or an
    /// empty directory path.
    pub fn spool(mut self, spool: SpoolConfig) -> Result<Self, ConfigError> {
        spool.validate()?;
        self.config.spool = spool;
        self.replaced(&SPOOL_VARS);
        Ok(self)
    }

    /// Turns the disk spool on in `dir`, with the other spool settings as
    /// they are. An empty path is reported by the exit.
    pub fn spool_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.spool.dir = Some(dir.into());
        self.replaced(&["CLICKHOUSE_SPOOL_DIR"]);
        self
    }

    // --- Capture --------------------------------------------------------

    /// Size limits, and whether logs carry their spans' fields.
    ///
    /// # Errors
    ///
    /// A size limit of zero or above 64 MiB, or more than 4096 fields.
    pub fn capture(mut self, capture: CaptureConfig) -> Result<Self, ConfigError> {
        capture.validate()?;
        self.config.capture = capture;
        Ok(self)
    }

    /// Whether a log row also carries the fields of the spans around it.
    pub fn span_fields_in_logs(mut self, on: bool) -> Self {
        self.config.capture.span_fields_in_logs = on;
        self
    }

    // --- Metrics --------------------------------------------------------

    /// The metrics recorder's settings (replaces `CLICKHOUSE_METRICS_INTERVAL_MS`).
    ///
    /// # Errors
    ///
    /// An interval shorter than 1 s or longer than 365 days, or a zero
    /// series cap.
    pub fn metrics(mut self, metrics: MetricsConfig) -> Result<Self, ConfigError> {
        metrics.validate()?;
        self.config.metrics = metrics;
        self.replaced(&["CLICKHOUSE_METRICS_INTERVAL_MS"]);
        Ok(self)
    }

    /// How often metric series are written (a row per series each time).
    ///
    /// # Errors
    ///
    /// Shorter than 1 s, or longer than 365 days.
    pub fn metrics_interval(mut self, interval: Duration) -> Result<Self, ConfigError> {
        self.config.metrics.interval =
            SNAPSHOT_INTERVAL.check("Builder::metrics_interval", interval)?;
        self.replaced(&["CLICKHOUSE_METRICS_INTERVAL_MS"]);
        Ok(self)
    }

    /// Whether each snapshot also records the pipeline's own counters as
    /// `tracing_clickhouse.*` metrics.
    pub fn pipeline_metrics(mut self, on: bool) -> Self {
        self.config.metrics.pipeline_metrics = on;
        self
    }

    /// Whether [`install`](Builder::install) also makes our `MetricsRecorder`
    /// the global `metrics` recorder (feature `metrics`). Turn it off to
    /// install your own, or a fan-out of ours and another
    /// (`Telemetry::recorder`).
    pub fn global_metrics(mut self, install: bool) -> Self {
        self.config.global_metrics = install;
        self
    }

    // --- Monitor --------------------------------------------------------

    /// The system monitor and service checks (replaces `CLICKHOUSE_MONITOR`).
    ///
    /// # Errors
    ///
    /// An interval shorter than 1 s or longer than 365 days, or a service
    /// check that [`service_check`](Builder::service_check) refuses.
    pub fn monitor(mut self, monitor: MonitorConfig) -> Result<Self, ConfigError> {
        monitor.validate()?;
        self.config.monitor = monitor;
        self.replaced(&["CLICKHOUSE_MONITOR"]);
        Ok(self)
    }

    /// Whether the system gauges (CPU, memory, disks, load, uptime, the
    /// process) are recorded.
    pub fn system_monitor(mut self, on: bool) -> Self {
        self.config.monitor.system = on;
        self.replaced(&["CLICKHOUSE_MONITOR"]);
        self
    }

    /// Adds a service check.
    ///
    /// # Errors
    ///
    /// A check without a name, with an interval shorter than 10 ms, a zero
    /// timeout, a duration longer than 365 days, or an HTTP target that is
    /// not `http://`.
    pub fn service_check(mut self, check: ServiceCheck) -> Result<Self, ConfigError> {
        check.validate()?;
        self.config.monitor.services.push(check);
        Ok(self)
    }

    /// Only the application's own rows: no system gauges and no pipeline
    /// metrics (for tests, benchmarks and examples that count rows).
    pub fn quiet(self) -> Self {
        self.system_monitor(false).pipeline_metrics(false)
    }

    // --- Console and filter ---------------------------------------------

    /// Whether logs are printed on the console (stderr). Unless set,
    /// [`install`](Builder::install) prints them and [`build`](Builder::build)
    /// does not (a subscriber of your own may have its own `fmt` layer).
    pub fn console(mut self, on: bool) -> Self {
        self.console = Some(on);
        self
    }

    /// Logs below `level` are not printed (they are still stored).
    pub fn console_level(mut self, level: Severity) -> Self {
        self.config.console.level = level;
        self
    }

    /// Whether console lines are colored.
    pub fn console_colors(mut self, colors: Colors) -> Self {
        self.config.console.colors = colors;
        self
    }

    /// Prints console lines into `writer` instead of stderr (and turns the
    /// console on). Colors are off unless [`Colors::Always`].
    pub fn console_writer(mut self, writer: impl Write + Send + 'static) -> Self {
        self.console = Some(true);
        self.config.console_writer = Some(SharedWriter::new(writer));
        self
    }

    /// `EnvFilter` directives for [`install`](Builder::install), e.g.
    /// `"info,my_app=debug"`; replaces `RUST_LOG`.
    ///
    /// # Errors
    ///
    /// Directives `EnvFilter` does not take.
    pub fn filter(mut self, directives: impl AsRef<str>) -> Result<Self, ConfigError> {
        self.config.filter = parse_filter("Builder::filter", directives.as_ref())?;
        self.replaced(&["RUST_LOG"]);
        Ok(self)
    }

    // --- The pipeline's own behaviour -------------------------------------

    /// Whether the flusher creates missing tables (from `schema.sql`) before
    /// its first insert (default `true`).
    pub fn create_schema(mut self, create: bool) -> Self {
        self.config.create_schema = create;
        self
    }

    /// Whether the start says on stderr where batches that ClickHouse has
    /// not taken survive (the spool, or that there is none and they would
    /// be lost with the process); default `true`, `CLICKHOUSE_START_LINE`.
    /// The lines about dropped records and outages are printed either way.
    pub fn start_line(mut self, on: bool) -> Self {
        self.config.start_line = on;
        self.replaced(&["CLICKHOUSE_START_LINE"]);
        self
    }

    /// Encodes every batch and throws it away instead of inserting it: the
    /// whole pipeline without a server (no schema, no network), for
    /// measuring capture and encoding. Rows count as sent.
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.config.dry_run = dry_run;
        self
    }
}
