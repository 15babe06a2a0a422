//! The pipeline's counters, and the snapshot the guard hands out.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam::utils::CachePadded;

/// Shared counters. Producers touch only the counters of rare events
/// (truncation, panics); the rest are written by the flusher, so the hot path
/// adds no shared write. The queue counts what it accepts and refuses itself
/// ([`QueueCounts`]).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Taken from the queue for the console while delivery was full, and
    /// dropped (counted with `dropped_queue_full`, not with `queued`).
    pub(crate) dropped_pending_full: AtomicU64,
    pub(crate) dropped_closed: AtomicU64,
    /// Console lines the writer could not keep up with, or lost with it.
    pub(crate) console_lines_dropped: AtomicU64,
    pub(crate) sent_rows: AtomicU64,
    pub(crate) sent_bytes: AtomicU64,
    pub(crate) sent_batches: AtomicU64,
    pub(crate) failed_inserts: AtomicU64,
    pub(crate) dropped_unsent: AtomicU64,
    pub(crate) pending_rows: AtomicU64,
    pub(crate) truncated_values: AtomicU64,
    pub(crate) dropped_fields: AtomicU64,
    pub(crate) capture_panics: AtomicU64,
    pub(crate) replaced_utf8: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) failed_transient: AtomicU64,
    pub(crate) failed_auth: AtomicU64,
    pub(crate) failed_schema: AtomicU64,
    pub(crate) spooled_rows: AtomicU64,
    pub(crate) spooled_batches: AtomicU64,
    pub(crate) replayed_rows: AtomicU64,
    pub(crate) replayed_batches: AtomicU64,
    pub(crate) spool_rows: AtomicU64,
    pub(crate) spool_bytes: AtomicU64,
    pub(crate) spool_errors: AtomicU64,
    pub(crate) spool_corrupt_bytes: AtomicU64,
    pub(crate) dropped_spool_full: AtomicU64,
    pub(crate) dropped_spool_corrupt: AtomicU64,
    pub(crate) memory_rows: AtomicU64,
    pub(crate) memory_bytes: AtomicU64,
    pub(crate) last_flush_micros: AtomicU64,
    pub(crate) metrics_series: AtomicU64,
    pub(crate) metrics_series_refused: AtomicU64,
    pub(crate) metrics_values_rejected: AtomicU64,
    pub(crate) metrics_rows: AtomicU64,
    /// Spans of unsampled traces, written by every capturing thread.
    pub(crate) spans_sampled_out: ShardedCounter,
    pub(crate) trace_context_rejected: AtomicU64,
}

/// A counter that many threads add to all the time: one cache line per
/// shard, a thread adding to the shard of its number, so two threads do not
/// fight over one line.
#[derive(Debug, Default)]
pub(crate) struct ShardedCounter([CachePadded<AtomicU64>; 8]);

impl ShardedCounter {
    #[inline]
    pub(crate) fn add_one(&self) {
        let shard = crate::threads::current_id() as usize % self.0.len();
        self.0[shard].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn sum(&self) -> u64 {
        self.0.iter().map(|n| n.load(Ordering::Relaxed)).sum()
    }
}

/// What the queue counts itself (on the producers' own cache lines).
#[derive(Clone, Copy, Debug)]
pub(crate) struct QueueCounts {
    /// Records ever accepted.
    pub(crate) accepted: u64,
    /// Records refused because the queue was full.
    pub(crate) refused: u64,
    /// Records in the queue now.
    pub(crate) len: usize,
    /// Memory they hold.
    pub(crate) bytes: usize,
    /// Records in the queue that nobody will take: the flusher has stopped.
    pub(crate) stranded: usize,
}

impl Counters {
    /// Adds `n`; adding nothing writes nothing, so the common case of a
    /// capture that cut nothing leaves the shared line alone.
    #[inline]
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        if n != 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Rows dropped after they left the queue: for a full memory (with the
    /// console on), or by the spool (full, or damaged).
    pub(crate) fn dropped_after_queue(&self) -> u64 {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        get(&self.dropped_pending_full)
            + get(&self.dropped_spool_full)
            + get(&self.dropped_spool_corrupt)
    }

    pub(crate) fn snapshot(&self, queue: QueueCounts) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let dropped_pending_full = get(&self.dropped_pending_full);
        Stats {
            queued: queue.accepted.saturating_sub(dropped_pending_full),
            queue_depth: queue.len as u64,
            queue_bytes: queue.bytes as u64,
            dropped_queue_full: queue.refused + dropped_pending_full,
            dropped_after_shutdown: get(&self.dropped_closed),
            console_lines_dropped: get(&self.console_lines_dropped),
            sent_rows: get(&self.sent_rows),
            sent_bytes: get(&self.sent_bytes),
            sent_batches: get(&self.sent_batches),
            failed_inserts: get(&self.failed_inserts),
            dropped_unsent: get(&self.dropped_unsent) + queue.stranded as u64,
            pending_rows: get(&self.pending_rows),
            truncated_values: get(&self.truncated_values),
            dropped_fields: get(&self.dropped_fields),
            capture_panics: get(&self.capture_panics),
            replaced_utf8: get(&self.replaced_utf8),
            retries: get(&self.retries),
            failed_transient: get(&self.failed_transient),
            failed_auth: get(&self.failed_auth),
            failed_schema: get(&self.failed_schema),
            memory_rows: get(&self.memory_rows),
            memory_bytes: get(&self.memory_bytes),
            spooled_rows: get(&self.spooled_rows),
            spooled_batches: get(&self.spooled_batches),
            replayed_rows: get(&self.replayed_rows),
            replayed_batches: get(&self.replayed_batches),
            spool_rows: get(&self.spool_rows),
            spool_bytes: get(&self.spool_bytes),
            spool_errors: get(&self.spool_errors),
            spool_corrupt_bytes: get(&self.spool_corrupt_bytes),
            dropped_spool_full: get(&self.dropped_spool_full),
            dropped_spool_corrupt: get(&self.dropped_spool_corrupt),
            last_insert_micros: get(&self.last_flush_micros),
            metrics_series: get(&self.metrics_series),
            metrics_series_refused: get(&self.metrics_series_refused),
            metrics_values_rejected: get(&self.metrics_values_rejected),
            metrics_rows: get(&self.metrics_rows),
            spans_sampled_out: self.spans_sampled_out.sum(),
            trace_context_rejected: get(&self.trace_context_rejected),
        }
    }
}

/// What the pipeline has done so far. Read it with
/// [`Telemetry::stats`](crate::Telemetry::stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Records the pipeline took: accepted into the queue, and not dropped
    /// afterwards for a full pipeline.
    pub queued: u64,
    /// Records in the queue right now, not yet taken by the flusher.
    pub queue_depth: u64,
    /// Memory those records hold, in bytes.
    pub queue_bytes: u64,
    /// Records dropped because the queue was full (`DropNewest`), or,
    /// with the console on, because the batches waiting for ClickHouse
    /// filled their memory and no spool took more (their logs were printed).
    pub dropped_queue_full: u64,
    /// Records emitted after the pipeline shut down.
    pub dropped_after_shutdown: u64,
    /// Rows ClickHouse acknowledged.
    pub sent_rows: u64,
    /// RowBinary bytes (before compression) ClickHouse acknowledged.
    pub sent_bytes: u64,
    /// Inserts ClickHouse acknowledged.
    pub sent_batches: u64,
    /// Insert attempts that failed, for any reason (each is retried).
    pub failed_inserts: u64,
    /// Of those: the connection failed or timed out, or the server was
    /// overloaded or failing (5xx).
    pub failed_transient: u64,
    /// Of those: ClickHouse refused the user or password.
    pub failed_auth: u64,
    /// Of those: a table or database is missing, or the table does not have
    /// the columns and types the rows need.
    pub failed_schema: u64,
    /// Attempts that re-sent a batch after a failure (same deduplication token).
    pub retries: u64,
    /// Rows of the batches kept in memory, waiting to be sent.
    pub memory_rows: u64,
    /// Bytes of those batches (bounded by `max_pending_bytes`).
    pub memory_bytes: u64,
    /// Rows written to the disk spool so far.
    pub spooled_rows: u64,
    /// Batches written to the disk spool so far.
    pub spooled_batches: u64,
    /// Rows read back from the spool and acknowledged by ClickHouse.
    pub replayed_rows: u64,
    /// Batches read back from the spool and acknowledged by ClickHouse.
    pub replayed_batches: u64,
    /// Rows in the spool right now.
    pub spool_rows: u64,
    /// Disk space the spool takes right now, in bytes.
    pub spool_bytes: u64,
    /// Batches that could not be written to the spool (kept in memory).
    pub spool_errors: u64,
    /// Bytes of damaged spool segments that were skipped.
    pub spool_corrupt_bytes: u64,
    /// Rows dropped because the spool was full: at its `max_bytes` (by its
    /// `when_full` policy), or its disk full (rows it could not take by
    /// shutdown).
    pub dropped_spool_full: u64,
    /// Rows lost with damaged spool records: found damaged when the spool
    /// was opened (the rows a damaged record says it holds, and those of
    /// the records after it in its segment), or damaged after that.
    pub dropped_spool_corrupt: u64,
    /// Time the last acknowledged insert took, in microseconds.
    pub last_insert_micros: u64,
    /// Metric series (name and labels) the recorder holds.
    pub metrics_series: u64,
    /// Registrations of new series refused past `Limit::MetricSeries`
    /// (their values are not recorded).
    pub metrics_series_refused: u64,
    /// NaN or infinite gauge values and histogram samples, refused.
    pub metrics_values_rejected: u64,
    /// `metrics` rows written by snapshots.
    pub metrics_rows: u64,
    /// Rows given up at shutdown because ClickHouse did not acknowledge them
    /// in time (still queued, batched or in flight), and records left in the
    /// queue once the flusher stopped.
    pub dropped_unsent: u64,
    /// Rows taken from the queue and not yet acknowledged (in open batches,
    /// in memory or in the spool).
    pub pending_rows: u64,
    /// Messages and values cut at their limit (they end with `…[truncated]`).
    pub truncated_values: u64,
    /// Fields dropped past the field limit (noted in `capture.dropped_fields`).
    pub dropped_fields: u64,
    /// `Debug`/`Display` implementations that panicked during capture (the
    /// row is kept, with a `capture.error` note).
    pub capture_panics: u64,
    /// Byte fields that were not UTF-8 and were stored with U+FFFD replacements.
    pub replaced_utf8: u64,
    /// Console lines not printed because the console's writer could not
    /// keep up (or stopped); their rows are stored as usual.
    pub console_lines_dropped: u64,
    /// Spans not recorded because their trace is not sampled
    /// ([`Builder::trace_sample_ratio`](crate::Builder::trace_sample_ratio),
    /// or the caller's sampled flag). Not lost: left out on purpose.
    pub spans_sampled_out: u64,
    /// Incoming `traceparent`/`tracestate` fields that were invalid or
    /// repeated (the span started a new trace, or dropped the `tracestate`).
    pub trace_context_rejected: u64,
}

impl Stats {
    /// Every record lost so far, for any reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full
            + self.dropped_after_shutdown
            + self.dropped_unsent
            + self.dropped_spool_full
            + self.dropped_spool_corrupt
    }
}
