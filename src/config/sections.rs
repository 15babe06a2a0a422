//! The sections of the configuration for storing and delivering rows, with
//! their defaults (those for metrics, the monitor and the console are in
//! `monitoring`), and the enums their setters take.
//!
//! The sections are the crate's own: a user sets them through the
//! [`Builder`](crate::Builder)'s setters, [`Limit`](crate::Limit) and
//! [`Timing`](crate::Timing), which check each value where it is given.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{ConfigError, invalid};

/// How long each table keeps its rows, in days (ClickHouse `TTL`), each
/// 1-36500.
///
/// Defaults are the seed's: logs 6 months, metrics 2 years, events 1 year.
/// They take effect when the tables are created; existing tables keep theirs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Retention {
    /// `logs` and `logs_by_level`.
    pub(crate) logs_days: u32,
    /// `spans`.
    pub(crate) spans_days: u32,
    /// `metrics`, `metrics_hourly` and `metrics_daily`.
    pub(crate) metrics_days: u32,
    /// `events`.
    pub(crate) events_days: u32,
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

/// What to do with a record when the queue is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
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
/// Every duration is at most 365 days; each field says its lower bound,
/// and the upper one where it is less.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PipelineConfig {
    /// Records the queue between the application and the flusher holds
    /// (256 bytes each, allocated when the pipeline starts): 1-4194304.
    pub(crate) queue_capacity: usize,
    /// Heap memory the queued records may hold beyond their slots, in bytes
    /// (approximately): the payloads too large for a slot, and the fields
    /// of spans and events. Positive.
    pub(crate) max_queue_bytes: usize,
    /// What happens to a record when the queue is full by either bound.
    pub(crate) queue_policy: QueuePolicy,
    /// A batch is sent when it reaches this many rows (1-10000000)...
    pub(crate) batch_max_rows: usize,
    /// ...or this many encoded bytes (1 to 512 MiB: a batch must fit a
    /// spool record)...
    pub(crate) batch_max_bytes: usize,
    /// ...or when its oldest row is this old (at least 10 ms: each batch is
    /// an insert).
    pub(crate) flush_interval: Duration,
    /// While ClickHouse fails to take batches (from a failed insert until
    /// the spool is empty again), a batch is also sent when its oldest row is
    /// this old, if that is sooner than `flush_interval`. With a spool, every
    /// batch sealed then goes to disk at once, so this bounds what a crash of
    /// the application during an outage can lose: the queue and the open
    /// batches, at most this much time of events. At least 10 ms.
    pub(crate) outage_flush_interval: Duration,
    /// Time allowed for one insert, from the first byte sent to the answer;
    /// at least 100 ms.
    pub(crate) insert_timeout: Duration,
    /// Encoded batches kept in memory until ClickHouse acknowledges them.
    /// Past this size they go to the spool if there is one; without one the
    /// flusher stops taking records from the queue, so the queue fills and
    /// its policy applies (`Block`: the application waits; `DropNewest`: new
    /// records are dropped and counted). Only with the console on and
    /// `DropNewest` does the flusher keep taking records, printing them and
    /// dropping (and counting) what it cannot keep, so the console keeps
    /// going while ClickHouse is away. Positive.
    pub(crate) max_pending_bytes: usize,
    /// How long dropping the guard waits for the queue to drain (zero: it
    /// does not wait).
    pub(crate) shutdown_timeout: Duration,
    /// Longest wait between two attempts of a failed insert, at least
    /// 100 ms. Transient failures back off exponentially from 100 ms up to
    /// this; failures that need a person (authentication, a missing or
    /// different table) wait this long at once.
    pub(crate) max_retry_backoff: Duration,
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
/// locked while in use). docs/reliability.md ("Why the spool is opt-in") says why it is not
/// on by default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SpoolConfig {
    /// The spool directory, created if missing. `None` keeps unsent batches
    /// in memory only.
    pub(crate) dir: Option<PathBuf>,
    /// Disk space the spool may use, in bytes.
    pub(crate) max_bytes: u64,
    /// Size at which a segment file is closed and a new one started.
    pub(crate) segment_bytes: u64,
    /// When written batches are forced to the disk.
    pub(crate) fsync: SpoolSync,
    /// What gives way when the spool is full.
    pub(crate) when_full: SpoolFull,
    /// How long an insert may go without an answer before the batches
    /// waiting are written to the spool although no insert has failed yet:
    /// a server that hangs rather than refuses makes an insert fail only
    /// after [`PipelineConfig::insert_timeout`], and a crash meanwhile would
    /// lose what waited. A server that answers each insert within it writes
    /// nothing, however many batches wait behind a busy one.
    pub(crate) write_after: Duration,
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
        if self.dir.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
            return Err(invalid("Builder::spool_dir", "", "a directory path"));
        }
        Ok(())
    }
}

/// When spooled batches are forced to the disk (`fsync`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
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
#[non_exhaustive]
pub enum SpoolFull {
    /// Delete the oldest segment: recent data is usually worth more.
    #[default]
    DropOldest,
    /// Refuse the batch being spooled.
    DropNewest,
}

/// How much of an event is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CaptureLimits {
    /// Longest message, in bytes: 1 to 64 MiB.
    pub(crate) max_message_bytes: usize,
    /// Most fields per event (or span, or `collect_log` context): 0-4096.
    pub(crate) max_fields: usize,
    /// Longest field value, in bytes: 1 to 64 MiB.
    pub(crate) max_value_bytes: usize,
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
pub(crate) struct CaptureConfig {
    /// Size limits for messages and fields.
    pub(crate) limits: CaptureLimits,
    /// Whether a log row also carries the fields of the spans it was emitted
    /// in (innermost first, after the event's own fields).
    pub(crate) span_fields_in_logs: bool,
}
