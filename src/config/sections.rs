//! The sections of the configuration for storing and delivering rows, with
//! their defaults and their checks (those for metrics, the monitor and the
//! console are in `monitoring`).
//!
//! Every section is a plain struct with public fields (`#[non_exhaustive]`:
//! start from `Default::default()` or from [`Config`](crate::Config)'s
//! getter, then set fields), handed whole to a setter of the
//! [`Builder`](crate::Builder), which checks it there.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{ConfigError, invalid};

/// Longest TTL accepted, in days (100 years).
pub(crate) const MAX_TTL_DAYS: u32 = 36_500;

/// Longest duration any setting takes (365 days): every interval, timeout
/// and backoff is added to an `Instant`, which a larger one could overflow.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// How long each table keeps its rows, in days (ClickHouse `TTL`).
///
/// Defaults are the seed's: logs 6 months, metrics 2 years, events 1 year.
/// They take effect when the tables are created; existing tables keep theirs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retention {
    /// `logs` and `logs_by_level`.
    pub logs_days: u32,
    /// `spans`.
    pub spans_days: u32,
    /// `metrics`, `metrics_hourly` and `metrics_daily`.
    pub metrics_days: u32,
    /// `events`.
    pub events_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            logs_days: 180,
            spans_days: 180,
            metrics_days: 730,
            events_days: 365,
        }
    }
}

impl Retention {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let all = [
            ("Retention::logs_days", self.logs_days),
            ("Retention::spans_days", self.spans_days),
            ("Retention::metrics_days", self.metrics_days),
            ("Retention::events_days", self.events_days),
        ];
        for (setting, days) in all {
            check_days(setting, days)?;
        }
        Ok(())
    }
}

pub(crate) fn check_days(setting: &'static str, days: u32) -> Result<u32, ConfigError> {
    if (1..=MAX_TTL_DAYS).contains(&days) {
        Ok(days)
    } else {
        Err(invalid(
            setting,
            &days.to_string(),
            "a number of days, 1-36500",
        ))
    }
}

/// What to do with a record when the queue is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QueuePolicy {
    /// Drop the new record and count it: the application never waits.
    #[default]
    DropNewest,
    /// Wait until the flusher makes room: nothing is dropped while the
    /// pipeline runs, at the price of stalling the application when
    /// ClickHouse (or the flusher) cannot keep up.
    Block,
}

/// Limits of the capture queue and the flusher's batches.
///
/// Every duration is at most 365 days; all but `shutdown_timeout` are
/// positive.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PipelineConfig {
    /// Records the queue between the application and the flusher holds
    /// (256 bytes each, allocated when the pipeline starts).
    pub queue_capacity: usize,
    /// Heap memory the queued records may hold beyond their slots, in bytes
    /// (approximately): the payloads too large for a slot, and the fields
    /// of spans and events.
    pub max_queue_bytes: usize,
    /// What happens to a record when the queue is full by either bound.
    pub queue_policy: QueuePolicy,
    /// A batch is sent when it reaches this many rows...
    pub batch_max_rows: usize,
    /// ...or this many encoded bytes...
    pub batch_max_bytes: usize,
    /// ...or when its oldest row is this old.
    pub flush_interval: Duration,
    /// While ClickHouse fails to take batches (from a failed insert until
    /// the spool is empty again), a batch is also sent when its oldest row is
    /// this old, if that is sooner than `flush_interval`. With a spool, every
    /// batch sealed then goes to disk at once, so this bounds what a crash of
    /// the application during an outage can lose: the queue and the open
    /// batches, at most this much time of events.
    pub outage_flush_interval: Duration,
    /// Time allowed for one insert, from the first byte sent to the answer.
    pub insert_timeout: Duration,
    /// Encoded batches kept in memory until ClickHouse acknowledges them.
    /// Past this size they go to the spool if there is one; without one the
    /// flusher stops taking records from the queue, so the queue fills and
    /// its policy applies (`Block`: the application waits; `DropNewest`: new
    /// records are dropped and counted). Only with the console on and
    /// `DropNewest` does the flusher keep taking records, printing them and
    /// dropping (and counting) what it cannot keep, so the console keeps
    /// going while ClickHouse is away.
    pub max_pending_bytes: usize,
    /// How long dropping the guard waits for the queue to drain (zero: it
    /// does not wait).
    pub shutdown_timeout: Duration,
    /// Longest wait between two attempts of a failed insert. Transient
    /// failures back off exponentially from 100 ms up to this; failures that
    /// need a person (authentication, a missing or different table) wait
    /// this long at once.
    pub max_retry_backoff: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            queue_capacity: 16_384,
            max_queue_bytes: 32 << 20,
            queue_policy: QueuePolicy::DropNewest,
            // ClickHouse prefers large, infrequent inserts: 10k-100k rows or ~1 s.
            batch_max_rows: 50_000,
            batch_max_bytes: 16 << 20,
            flush_interval: Duration::from_secs(1),
            outage_flush_interval: Duration::from_secs(1),
            insert_timeout: Duration::from_secs(30),
            max_pending_bytes: 64 << 20,
            shutdown_timeout: Duration::from_secs(10),
            max_retry_backoff: Duration::from_secs(10),
        }
    }
}

impl PipelineConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let counts = [
            ("PipelineConfig::queue_capacity", self.queue_capacity),
            ("PipelineConfig::max_queue_bytes", self.max_queue_bytes),
            ("PipelineConfig::batch_max_rows", self.batch_max_rows),
            ("PipelineConfig::batch_max_bytes", self.batch_max_bytes),
            ("PipelineConfig::max_pending_bytes", self.max_pending_bytes),
        ];
        for (setting, n) in counts {
            check_count(setting, n)?;
        }
        let durations = [
            ("PipelineConfig::flush_interval", self.flush_interval),
            (
                "PipelineConfig::outage_flush_interval",
                self.outage_flush_interval,
            ),
            ("PipelineConfig::insert_timeout", self.insert_timeout),
            ("PipelineConfig::max_retry_backoff", self.max_retry_backoff),
        ];
        for (setting, d) in durations {
            check_duration(setting, d)?;
        }
        check_duration_max("PipelineConfig::shutdown_timeout", self.shutdown_timeout)?;
        Ok(())
    }
}

pub(crate) fn check_count(setting: &'static str, n: usize) -> Result<usize, ConfigError> {
    if n == 0 {
        return Err(invalid(setting, "0", "a positive integer"));
    }
    Ok(n)
}

/// A positive duration, at most [`MAX_DURATION`].
pub(crate) fn check_duration(setting: &'static str, d: Duration) -> Result<Duration, ConfigError> {
    if d.is_zero() {
        return Err(invalid(
            setting,
            "0s",
            "a positive duration, at most 365 days",
        ));
    }
    check_duration_max(setting, d)
}

/// A duration of at most [`MAX_DURATION`], zero included.
pub(crate) fn check_duration_max(
    setting: &'static str,
    d: Duration,
) -> Result<Duration, ConfigError> {
    if d > MAX_DURATION {
        return Err(invalid(
            setting,
            &format!("{d:?}"),
            "a duration of at most 365 days",
        ));
    }
    Ok(d)
}

/// The disk spool: where batches go as soon as ClickHouse fails to take
/// them, and where a shutdown leaves what it could not deliver. The next
/// run of the application (or this one, when ClickHouse is back) replays
/// it, oldest first, each batch with its original deduplication token.
///
/// A batch is written when an insert fails (it, every batch waiting
/// behind it, and every batch sealed after it until the spool is empty
/// again), the same when an insert has gone
/// [`write_after`](Self::write_after) without an answer, or when the memory
/// kept for waiting batches
/// ([`PipelineConfig::max_pending_bytes`]) is full. It also stays in memory,
/// for retries and queries, until that is full. While ClickHouse takes every
/// insert, nothing is written.
///
/// Off unless [`dir`](Self::dir) is set: the directory must be on storage
/// that outlives the process and belong to one running instance (it is
/// locked while in use). README's Reliability section says why it is not
/// on by default.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpoolConfig {
    /// The spool directory, created if missing. `None` keeps unsent batches
    /// in memory only.
    pub dir: Option<PathBuf>,
    /// Disk space the spool may use, in bytes.
    pub max_bytes: u64,
    /// Size at which a segment file is closed and a new one started.
    pub segment_bytes: u64,
    /// When written batches are forced to the disk.
    pub fsync: SpoolSync,
    /// What gives way when the spool is full.
    pub when_full: SpoolFull,
    /// How long an insert may go without an answer before the batches
    /// waiting are written to the spool although no insert has failed yet:
    /// a server that hangs rather than refuses makes an insert fail only
    /// after [`PipelineConfig::insert_timeout`], and a crash meanwhile would
    /// lose what waited. A server that answers each insert within it writes
    /// nothing, however many batches wait behind a busy one.
    pub write_after: Duration,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            dir: None,
            max_bytes: 1 << 30,
            segment_bytes: 64 << 20,
            fsync: SpoolSync::EveryBatch,
            when_full: SpoolFull::DropOldest,
            write_after: Duration::from_secs(5),
        }
    }
}

impl SpoolConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_bytes == 0 {
            return Err(invalid(
                "SpoolConfig::max_bytes",
                "0",
                "a positive number of bytes",
            ));
        }
        if self.segment_bytes == 0 {
            return Err(invalid(
                "SpoolConfig::segment_bytes",
                "0",
                "a positive number of bytes",
            ));
        }
        check_duration("SpoolConfig::write_after", self.write_after)?;
        if self.dir.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
            return Err(invalid("SpoolConfig::dir", "", "a directory path"));
        }
        Ok(())
    }
}

/// When spooled batches are forced to the disk (`fsync`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SpoolSync {
    /// After every batch written: a crash of the machine loses nothing that
    /// reached the spool.
    #[default]
    EveryBatch,
    /// When a segment file is closed and at shutdown: a crash of the
    /// machine can lose the batches of the open segment; a crash of the
    /// process alone loses nothing that reached the spool.
    SegmentClose,
    /// Never: the operating system writes when it likes.
    Never,
}

/// What gives way when the spool is full. Either way the rows are counted
/// (`Stats::dropped_spool_full`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SpoolFull {
    /// Delete the oldest segment: recent data is usually worth more.
    #[default]
    DropOldest,
    /// Refuse the batch being spooled.
    DropNewest,
}

/// How much of an event is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CaptureLimits {
    /// Longest message, in bytes.
    pub max_message_bytes: usize,
    /// Most fields per event (or span, or `collect_log` context).
    pub max_fields: usize,
    /// Longest field value, in bytes.
    pub max_value_bytes: usize,
}

impl Default for CaptureLimits {
    fn default() -> Self {
        CaptureLimits {
            max_message_bytes: 32 << 10,
            max_fields: 64,
            max_value_bytes: 8 << 10,
        }
    }
}

/// What capture keeps of each event and span.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CaptureConfig {
    /// Size limits for messages and fields.
    pub limits: CaptureLimits,
    /// Whether a log row also carries the fields of the spans it was emitted
    /// in (innermost first, after the event's own fields).
    pub span_fields_in_logs: bool,
}

impl CaptureConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let all = [
            (
                "CaptureLimits::max_message_bytes",
                self.limits.max_message_bytes,
            ),
            (
                "CaptureLimits::max_value_bytes",
                self.limits.max_value_bytes,
            ),
        ];
        for (setting, n) in all {
            if n == 0 {
                return Err(invalid(setting, "0", "a positive number of bytes"));
            }
        }
        Ok(())
    }
}
