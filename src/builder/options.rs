//! The builder's setters for how the pipeline runs: its sizes and
//! durations, the queue, the spool, capture, metrics, the monitor, the
//! console and the filter.

use std::io::Write;
use std::path::PathBuf;

use super::Builder;
use crate::config::sections::{QueuePolicy, SpoolFull, SpoolSync};
use crate::config::values::{SharedWriter, parse_filter};
use crate::config::{Colors, Limit, ServiceCheck, Timing};
use crate::error::ConfigError;
use crate::record::Severity;

impl Builder {
    // --- Sizes and durations ----------------------------------------------

    /// A size or count the pipeline keeps within (queue, batches, memory,
    /// spool, capture, metric series, retention); [`Limit`] lists them with
    /// their defaults, bounds and variables. Replaces the variable that
    /// sets the same limit.
    ///
    /// # Errors
    ///
    /// A value outside its bounds, naming the limit.
    pub fn limit(mut self, limit: Limit) -> Result<Self, ConfigError> {
        limit.apply(limit.spec().0, &mut self.config)?;
        self.replaced(limit.var().as_slice());
        Ok(self)
    }

    /// A duration of the pipeline (flush intervals, timeouts, backoff,
    /// snapshot intervals); [`Timing`] lists them with their defaults,
    /// bounds and variables. Replaces the variable that sets the same one.
    ///
    /// # Errors
    ///
    /// A duration outside its bounds, naming the timing.
    pub fn timing(mut self, timing: Timing) -> Result<Self, ConfigError> {
        timing.apply(timing.spec().0, &mut self.config)?;
        self.replaced(timing.var().as_slice());
        Ok(self)
    }

    /// What happens to a record when the queue is full.
    pub fn queue_policy(mut self, policy: QueuePolicy) -> Self {
        self.config.pipeline.queue_policy = policy;
        self.replaced(&["CLICKHOUSE_QUEUE_POLICY"]);
        self
    }

    // --- Spool ----------------------------------------------------------

    /// Turns the disk spool on in `dir` (created if missing): where batches
    /// go as soon as ClickHouse fails to take them, and where a shutdown
    /// leaves what it could not deliver; the next run (or this one, when
    /// ClickHouse is back) replays it, oldest first, each batch with its
    /// original deduplication token. The directory must be on storage that
    /// outlives the process and belong to one running instance (it is
    /// locked while in use); docs/reliability.md says why the spool is
    /// opt-in. Its size: [`Limit::SpoolBytes`], [`Limit::SpoolSegmentBytes`];
    /// when it is written: [`Timing::SpoolWriteAfter`]. An empty path is
    /// reported by the exit.
    pub fn spool_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.spool.dir = Some(dir.into());
        self.replaced(&["CLICKHOUSE_SPOOL_DIR"]);
        self
    }

    /// When written spool batches are forced to the disk (default: after
    /// every batch).
    pub fn spool_sync(mut self, sync: SpoolSync) -> Self {
        self.config.spool.fsync = sync;
        self
    }

    /// What gives way when the spool is full (default: the oldest segment).
    pub fn spool_full(mut self, when_full: SpoolFull) -> Self {
        self.config.spool.when_full = when_full;
        self
    }

    // --- Capture --------------------------------------------------------

    /// Whether a log row also carries the fields of the spans it was
    /// emitted in (innermost first, after the event's own fields).
    pub fn span_fields_in_logs(mut self, on: bool) -> Self {
        self.config.capture.span_fields_in_logs = on;
        self
    }

    // --- Metrics --------------------------------------------------------

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
