//! The sizes, counts and durations the pipeline keeps within: one enum of
//! each, taken by [`Builder::limit`](crate::Builder::limit) and
//! [`Builder::timing`](crate::Builder::timing), with their bounds, their
//! variables and where each goes in the [`Config`].
//!
//! One place says, for every such setting, its variable, its bounds and
//! its field: the setters and the environment's reader both go through it.

use std::time::Duration;

use super::bounds::{
    BATCH_BYTES, BATCH_ROWS, BUDGET, Counts, Durations, FIELDS, FLUSH_INTERVAL, INSERT_TIMEOUT,
    POSITIVE, QUEUE_CAPACITY, RETRY_BACKOFF, SNAPSHOT_INTERVAL, TEXT_BYTES, TTL_DAYS, WAIT,
};
use super::resolved::Config;
use crate::error::ConfigError;

/// A size or count the pipeline keeps within, for
/// [`Builder::limit`](crate::Builder::limit). Each variant says its
/// default, its bounds and the variable that also sets it.
///
/// ```
/// use tracing_clickhouse::{Builder, Limit};
///
/// let config = Builder::from_env_vars::<&str, &str>([])
///     .limit(Limit::QueueCapacity(65_536))?
///     .limit(Limit::LogsTtlDays(30))?
///     .build_config()?;
/// # Ok::<(), tracing_clickhouse::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// Records the queue between the application and the flusher holds
    /// (256 bytes each, allocated when the pipeline starts): 1-4194304,
    /// default 16384, `CLICKHOUSE_QUEUE_CAPACITY`.
    QueueCapacity(usize),
    /// Heap memory the queued records may hold beyond their slots, in bytes
    /// (approximately): the payloads too large for a slot, and the fields
    /// of spans and events. Positive, default 32 MiB.
    QueueBytes(usize),
    /// A batch is sent when it reaches this many rows: 1-10000000, default
    /// 50000, `CLICKHOUSE_BATCH_MAX_ROWS`.
    BatchRows(usize),
    /// ...or this many encoded bytes: 1 to 512 MiB (a batch must fit a
    /// spool record), default 16 MiB.
    BatchBytes(usize),
    /// Encoded batches kept in memory until ClickHouse acknowledges them,
    /// in bytes; positive, default 64 MiB. Past it they go to the spool if
    /// there is one; without one the flusher stops taking records from the
    /// queue, so the queue fills and its [`QueuePolicy`](crate::QueuePolicy)
    /// applies. Only with the console on and `DropNewest` does the flusher
    /// keep taking records, printing them and dropping (and counting) what
    /// it cannot keep, so the console keeps going while ClickHouse is away.
    PendingBytes(usize),
    /// Disk space the spool may use, in bytes: positive, default 1 GiB,
    /// `CLICKHOUSE_SPOOL_MAX_BYTES`.
    SpoolBytes(u64),
    /// Size at which a spool segment file is closed and a new one started:
    /// positive, default 64 MiB.
    SpoolSegmentBytes(u64),
    /// Longest message kept, in bytes: 1 to 64 MiB, default 32 KiB.
    MessageBytes(usize),
    /// Most fields per event (or span, or `collect_log` context): 0-4096,
    /// default 64.
    Fields(usize),
    /// Longest field value kept, in bytes: 1 to 64 MiB, default 8 KiB.
    ValueBytes(usize),
    /// Series (metric name plus labels) the metrics recorder keeps;
    /// registrations of new ones past it are refused and counted. Positive,
    /// default 10000.
    MetricSeries(usize),
    /// Days `logs` and `logs_by_level` keep their rows (ClickHouse `TTL`):
    /// 1-36500, default 180, `CLICKHOUSE_LOGS_TTL_DAYS`. A retention takes
    /// effect when the tables are created; existing tables keep theirs.
    LogsTtlDays(u32),
    /// Days `spans` keeps its rows: 1-36500, default 180,
    /// `CLICKHOUSE_SPANS_TTL_DAYS`.
    SpansTtlDays(u32),
    /// Days `metrics` and its rollups keep their rows: 1-36500, default
    /// 730, `CLICKHOUSE_METRICS_TTL_DAYS`.
    MetricsTtlDays(u32),
    /// Days `events` keeps its rows: 1-36500, default 365,
    /// `CLICKHOUSE_EVENTS_TTL_DAYS`.
    EventsTtlDays(u32),
}

/// A duration of the pipeline, for [`Builder::timing`](crate::Builder::timing).
/// Each is at most 365 days; each variant says its default, its lower
/// bound and the variable that also sets it.
///
/// ```
/// use std::time::Duration;
/// use tracing_clickhouse::{Builder, Timing};
///
/// let config = Builder::from_env_vars::<&str, &str>([])
///     .timing(Timing::FlushInterval(Duration::from_millis(200)))?
///     .timing(Timing::ShutdownTimeout(Duration::from_secs(2)))?
///     .build_config()?;
/// # Ok::<(), tracing_clickhouse::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Timing {
    /// A batch is sent when its oldest row is this old: at least 10 ms
    /// (each batch is an insert), default 1 s, `CLICKHOUSE_FLUSH_INTERVAL_MS`.
    FlushInterval(Duration),
    /// While ClickHouse fails to take batches (from a failed insert until
    /// the spool is empty again), a batch is also sent when its oldest row
    /// is this old, if that is sooner than `FlushInterval`. With a spool,
    /// every batch sealed then goes to disk at once, so this bounds what a
    /// crash of the application during an outage can lose: the queue and
    /// the open batches, at most this much time of events. At least 10 ms,
    /// default 1 s.
    OutageFlushInterval(Duration),
    /// Time allowed for one insert, from the first byte sent to the answer:
    /// at least 100 ms, default 30 s.
    InsertTimeout(Duration),
    /// Longest wait between two attempts of a failed insert: at least
    /// 100 ms, default 10 s. Transient failures back off exponentially from
    /// 100 ms up to this; failures that need a person (authentication, a
    /// missing or different table) wait this long at once.
    MaxRetryBackoff(Duration),
    /// How long dropping the guard waits for what is queued to be delivered
    /// (zero: it does not wait); default 10 s.
    ShutdownTimeout(Duration),
    /// How long an insert may go without an answer before the batches
    /// waiting are written to the spool although no insert has failed yet:
    /// a server that hangs rather than refuses makes an insert fail only
    /// after `InsertTimeout`, and a crash meanwhile would lose what waited.
    /// Positive, default 5 s.
    SpoolWriteAfter(Duration),
    /// How often the metrics recorder's series are written (one row per
    /// series each time): at least 1 s, default 10 s,
    /// `CLICKHOUSE_METRICS_INTERVAL_MS`.
    MetricsInterval(Duration),
    /// How often the system monitor reads the system (the recorder's
    /// snapshots decide how often it is written): at least 1 s, default 10 s.
    MonitorInterval(Duration),
}

/// A variable, with what its value (`N`, parsed) sets.
pub(crate) type Var<N, S> = (&'static str, fn(N) -> S);

/// The variables of [`Limit`]s, each with the limit it sets.
pub(crate) const LIMIT_VARS: [Var<u64, Limit>; 7] = [
    ("CLICKHOUSE_QUEUE_CAPACITY", |n| {
        Limit::QueueCapacity(saturate(n))
    }),
    ("CLICKHOUSE_BATCH_MAX_ROWS", |n| {
        Limit::BatchRows(saturate(n))
    }),
    ("CLICKHOUSE_SPOOL_MAX_BYTES", Limit::SpoolBytes),
    ("CLICKHOUSE_LOGS_TTL_DAYS", |n| Limit::LogsTtlDays(days(n))),
    ("CLICKHOUSE_SPANS_TTL_DAYS", |n| {
        Limit::SpansTtlDays(days(n))
    }),
    ("CLICKHOUSE_METRICS_TTL_DAYS", |n| {
        Limit::MetricsTtlDays(days(n))
    }),
    ("CLICKHOUSE_EVENTS_TTL_DAYS", |n| {
        Limit::EventsTtlDays(days(n))
    }),
];

/// The variables of [`Timing`]s (in milliseconds), each with the timing it sets.
pub(crate) const TIMING_VARS: [Var<Duration, Timing>; 2] = [
    ("CLICKHOUSE_FLUSH_INTERVAL_MS", Timing::FlushInterval),
    ("CLICKHOUSE_METRICS_INTERVAL_MS", Timing::MetricsInterval),
];

/// The variable among `vars` whose setting `is_it` recognizes.
fn var_of<M: Copy>(vars: &[(&'static str, M)], is_it: impl Fn(M) -> bool) -> Option<&'static str> {
    vars.iter()
        .find(|(_, make)| is_it(*make))
        .map(|(var, _)| *var)
}

/// A count parsed within bounds that fit a `usize` (budgets saturate: they
/// are only ceilings).
fn saturate(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Days parsed within `TTL_DAYS` (at most 36500: they fit).
fn days(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Limit {
    /// The name an error gives it, its bounds and its value.
    pub(crate) fn spec(self) -> (&'static str, Counts, u64) {
        let n = |n: usize| n as u64;
        match self {
            Limit::QueueCapacity(v) => ("Limit::QueueCapacity", QUEUE_CAPACITY, n(v)),
            Limit::QueueBytes(v) => ("Limit::QueueBytes", BUDGET, n(v)),
            Limit::BatchRows(v) => ("Limit::BatchRows", BATCH_ROWS, n(v)),
            Limit::BatchBytes(v) => ("Limit::BatchBytes", BATCH_BYTES, n(v)),
            Limit::PendingBytes(v) => ("Limit::PendingBytes", BUDGET, n(v)),
            Limit::SpoolBytes(v) => ("Limit::SpoolBytes", BUDGET, v),
            Limit::SpoolSegmentBytes(v) => ("Limit::SpoolSegmentBytes", BUDGET, v),
            Limit::MessageBytes(v) => ("Limit::MessageBytes", TEXT_BYTES, n(v)),
            Limit::Fields(v) => ("Limit::Fields", FIELDS, n(v)),
            Limit::ValueBytes(v) => ("Limit::ValueBytes", TEXT_BYTES, n(v)),
            Limit::MetricSeries(v) => ("Limit::MetricSeries", BUDGET, n(v)),
            Limit::LogsTtlDays(v) => ("Limit::LogsTtlDays", TTL_DAYS, v.into()),
            Limit::SpansTtlDays(v) => ("Limit::SpansTtlDays", TTL_DAYS, v.into()),
            Limit::MetricsTtlDays(v) => ("Limit::MetricsTtlDays", TTL_DAYS, v.into()),
            Limit::EventsTtlDays(v) => ("Limit::EventsTtlDays", TTL_DAYS, v.into()),
        }
    }

    /// The variable that also sets it, if any.
    pub(crate) fn var(self) -> Option<&'static str> {
        var_of(&LIMIT_VARS, |make| make(1).spec().0 == self.spec().0)
    }

    /// Checks the value against its bounds (an error names `setting`) and
    /// sets it in `config`.
    pub(crate) fn apply(
        self,
        setting: &'static str,
        config: &mut Config,
    ) -> Result<(), ConfigError> {
        let (_, bounds, value) = self.spec();
        bounds.check(setting, value)?;
        let pipeline = &mut config.pipeline;
        let limits = &mut config.capture.limits;
        let retention = &mut config.retention;
        match self {
            Limit::QueueCapacity(v) => pipeline.queue_capacity = v,
            Limit::QueueBytes(v) => pipeline.max_queue_bytes = v,
            Limit::BatchRows(v) => pipeline.batch_max_rows = v,
            Limit::BatchBytes(v) => pipeline.batch_max_bytes = v,
            Limit::PendingBytes(v) => pipeline.max_pending_bytes = v,
            Limit::SpoolBytes(v) => config.spool.max_bytes = v,
            Limit::SpoolSegmentBytes(v) => config.spool.segment_bytes = v,
            Limit::MessageBytes(v) => limits.max_message_bytes = v,
            Limit::Fields(v) => limits.max_fields = v,
            Limit::ValueBytes(v) => limits.max_value_bytes = v,
            Limit::MetricSeries(v) => config.metrics.max_series = v,
            Limit::LogsTtlDays(v) => retention.logs_days = v,
            Limit::SpansTtlDays(v) => retention.spans_days = v,
            Limit::MetricsTtlDays(v) => retention.metrics_days = v,
            Limit::EventsTtlDays(v) => retention.events_days = v,
        }
        Ok(())
    }
}

impl Timing {
    /// The name an error gives it, its bounds and its value.
    pub(crate) fn spec(self) -> (&'static str, Durations, Duration) {
        match self {
            Timing::FlushInterval(d) => ("Timing::FlushInterval", FLUSH_INTERVAL, d),
            Timing::OutageFlushInterval(d) => ("Timing::OutageFlushInterval", FLUSH_INTERVAL, d),
            Timing::InsertTimeout(d) => ("Timing::InsertTimeout", INSERT_TIMEOUT, d),
            Timing::MaxRetryBackoff(d) => ("Timing::MaxRetryBackoff", RETRY_BACKOFF, d),
            Timing::ShutdownTimeout(d) => ("Timing::ShutdownTimeout", WAIT, d),
            Timing::SpoolWriteAfter(d) => ("Timing::SpoolWriteAfter", POSITIVE, d),
            Timing::MetricsInterval(d) => ("Timing::MetricsInterval", SNAPSHOT_INTERVAL, d),
            Timing::MonitorInterval(d) => ("Timing::MonitorInterval", SNAPSHOT_INTERVAL, d),
        }
    }

    /// The variable that also sets it, if any.
    pub(crate) fn var(self) -> Option<&'static str> {
        var_of(&TIMING_VARS, |make| {
            make(Duration::ZERO).spec().0 == self.spec().0
        })
    }

    /// Checks the duration against its bounds (an error names `setting`)
    /// and sets it in `config`.
    pub(crate) fn apply(
        self,
        setting: &'static str,
        config: &mut Config,
    ) -> Result<(), ConfigError> {
        let (_, bounds, d) = self.spec();
        bounds.check(setting, d)?;
        let pipeline = &mut config.pipeline;
        match self {
            Timing::FlushInterval(d) => pipeline.flush_interval = d,
            Timing::OutageFlushInterval(d) => pipeline.outage_flush_interval = d,
            Timing::InsertTimeout(d) => pipeline.insert_timeout = d,
            Timing::MaxRetryBackoff(d) => pipeline.max_retry_backoff = d,
            Timing::ShutdownTimeout(d) => pipeline.shutdown_timeout = d,
            Timing::SpoolWriteAfter(d) => config.spool.write_after = d,
            Timing::MetricsInterval(d) => config.metrics.interval = d,
            Timing::MonitorInterval(d) => config.monitor.interval = d,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_variable_names_the_setting_it_sets() {
        for (var, make) in LIMIT_VARS {
            assert_eq!(make(1).var(), Some(var));
        }
        for (var, make) in TIMING_VARS {
            assert_eq!(make(Duration::ZERO).var(), Some(var));
        }
        assert_eq!(Limit::QueueBytes(1).var(), None);
        assert_eq!(Timing::InsertTimeout(Duration::ZERO).var(), None);
    }

    #[test]
    fn values_outside_their_bounds_are_refused_and_named() {
        let mut config = Config::defaults();
        Limit::Fields(0).apply("S", &mut config).unwrap();
        assert_eq!(config.capture.limits.max_fields, 0);
        let err = Limit::QueueCapacity(0).apply("S", &mut config).unwrap_err();
        assert!(err.to_string().contains("S"), "{err}");
        assert!(Limit::LogsTtlDays(36_501).apply("S", &mut config).is_err());
        assert_eq!(
            config.retention.logs_days, 180,
            "a refused value is not set"
        );
        let short = Timing::InsertTimeout(Duration::from_millis(99));
        assert!(short.apply("S", &mut config).is_err());
        Timing::ShutdownTimeout(Duration::ZERO)
            .apply("S", &mut config)
            .unwrap();
        assert_eq!(config.pipeline.shutdown_timeout, Duration::ZERO);
    }
}
