//! Drops a person can see: when records are dropped, one line on stderr at
//! most every [`NOTICE_EVERY`], with how many since the last line and why,
//! and what to change; and a last one at shutdown for what the last line
//! did not say. (The counts are in [`Stats`] and, as the
//! `tracing_clickhouse.dropped_rows` metric, in ClickHouse.)

use std::fmt::Write;
use std::time::{Duration, Instant};

use crate::report::report;
use crate::stats::{Counters, Stats};

/// The shortest time between two lines.
pub(super) const NOTICE_EVERY: Duration = Duration::from_secs(5);

/// How often the counts are looked at.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// Drops by cause, as the counters have them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Dropped {
    /// Refused by the full queue (`DropNewest`).
    queue_full: u64,
    /// Taken for the console and dropped while the batches waiting for
    /// ClickHouse filled their memory (no spool).
    memory_full: u64,
    /// Refused or deleted by the full spool.
    spool_full: u64,
}

impl Dropped {
    fn of(stats: &Stats, counters: &Counters) -> Dropped {
        let memory_full = counters
            .dropped_pending_full
            .load(std::sync::atomic::Ordering::Relaxed);
        Dropped {
            queue_full: stats.dropped_queue_full.saturating_sub(memory_full),
            memory_full,
            spool_full: stats.dropped_spool_full,
        }
    }

    fn total(&self) -> u64 {
        self.queue_full + self.memory_full + self.spool_full
    }

    fn since(&self, earlier: &Dropped) -> Dropped {
        Dropped {
            queue_full: self.queue_full - earlier.queue_full,
            memory_full: self.memory_full - earlier.memory_full,
            spool_full: self.spool_full - earlier.spool_full,
        }
    }
}

/// What the flusher knew when it looked, beyond the counters.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Context {
    /// The queue's capacity, in records.
    pub(super) queue_capacity: usize,
    /// The flusher stopped taking records at some point since the last
    /// look because the batches waiting for ClickHouse filled their memory:
    /// the queue filled behind it, not because it could not keep up.
    pub(super) delivery_was_full: bool,
    /// Whether there is a spool.
    pub(super) spool: bool,
}

/// When the last line was said, and what it covered.
#[derive(Debug)]
pub(super) struct Notices {
    said: Dropped,
    said_at: Option<Instant>,
    looked_at: Instant,
    /// Since the last line.
    delivery_was_full: bool,
}

impl Notices {
    pub(super) fn new(now: Instant) -> Notices {
        Notices {
            said: Dropped::default(),
            said_at: None,
            looked_at: now,
            delivery_was_full: false,
        }
    }

    /// Says a line if records were dropped since the last one and it is
    /// time; cheap when it is not time to look.
    pub(super) fn look(
        &mut self,
        now: Instant,
        stats: impl FnOnce() -> Stats,
        counters: &Counters,
        context: Context,
    ) {
        self.delivery_was_full |= context.delivery_was_full;
        if now.duration_since(self.looked_at) < LOOK_EVERY {
            return;
        }
        self.looked_at = now;
        if self
            .said_at
            .is_some_and(|at| now.duration_since(at) < NOTICE_EVERY)
        {
            return;
        }
        if let Some(line) = self.line(&stats(), counters, context, now) {
            report(line);
        }
    }

    /// Says what the last line did not (at shutdown).
    pub(super) fn last(&mut self, stats: &Stats, counters: &Counters, context: Context) {
        self.delivery_was_full |= context.delivery_was_full;
        if let Some(line) = self.line(stats, counters, context, Instant::now()) {
            report(line);
        }
    }

    /// The line for the drops since the last one, if any; marks them said.
    fn line(
        &mut self,
        stats: &Stats,
        counters: &Counters,
        context: Context,
        now: Instant,
    ) -> Option<String> {
        self.delivery_was_full |= context.delivery_was_full;
        let total = Dropped::of(stats, counters);
        let new = total.since(&self.said);
        if new.total() == 0 {
            return None;
        }
        let over = match self.said_at {
            Some(at) => format!("in the last {} s", now.duration_since(at).as_secs().max(1)),
            None => "so far".to_owned(),
        };
        let mut line = format!("dropped {} records {over}:", new.total());
        let mut causes = Vec::new();
        if new.queue_full > 0 {
            let why = match self.delivery_was_full {
                true => format!(
                    "{} at the full queue, which filled while ClickHouse was not taking \
                     batches as fast as they came and their memory (max_pending_bytes) was full \
                     ({})",
                    new.queue_full,
                    match context.spool {
                        true => "the spool could not take more",
                        false => "set CLICKHOUSE_SPOOL_DIR to keep them on disk",
                    }
                ),
                false => format!(
                    "{} at the full queue ({} records), which the application filled faster \
                     than the flusher took them (raise CLICKHOUSE_QUEUE_CAPACITY, or set \
                     CLICKHOUSE_QUEUE_POLICY=block to wait instead)",
                    new.queue_full, context.queue_capacity
                ),
            };
            causes.push(why);
        }
        if new.memory_full > 0 {
            causes.push(format!(
                "{} printed and dropped while the batches waiting for ClickHouse filled their \
                 memory (max_pending_bytes; set CLICKHOUSE_SPOOL_DIR to keep them on disk)",
                new.memory_full
            ));
        }
        if new.spool_full > 0 {
            causes.push(format!(
                "{} for the full spool (raise CLICKHOUSE_SPOOL_MAX_BYTES, or free its disk)",
                new.spool_full
            ));
        }
        let _ = write!(
            line,
            " {}; {} since the start (Telemetry::stats)",
            causes.join("; "),
            total.total()
        );
        self.said = total;
        self.said_at = Some(now);
        self.delivery_was_full = false;
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(queue_full: u64, spool_full: u64) -> Stats {
        Stats {
            dropped_queue_full: queue_full,
            dropped_spool_full: spool_full,
            ..Stats::default()
        }
    }

    const CONTEXT: Context = Context {
        queue_capacity: 16_384,
        delivery_was_full: false,
        spool: false,
    };

    #[test]
    fn a_line_says_the_drops_since_the_last_by_cause_and_what_to_change() {
        let t0 = Instant::now();
        let counters = Counters::default();
        let mut notices = Notices::new(t0);
        assert_eq!(notices.line(&stats(0, 0), &counters, CONTEXT, t0), None);
        let first = notices
            .line(&stats(100, 0), &counters, CONTEXT, t0)
            .unwrap();
        assert!(
            first.starts_with("dropped 100 records so far: 100 at the full queue (16384 records)"),
            "{first}"
        );
        assert!(first.contains("CLICKHOUSE_QUEUE_CAPACITY"), "{first}");
        assert!(
            first.ends_with("100 since the start (Telemetry::stats)"),
            "{first}"
        );
        let full = Context {
            delivery_was_full: true,
            ..CONTEXT
        };
        let second = notices
            .line(&stats(130, 7), &counters, full, t0 + Duration::from_secs(6))
            .unwrap();
        assert!(second.starts_with("dropped 37 records in the last 6 s: 30 at the full queue, which filled while ClickHouse"), "{second}");
        assert!(second.contains("CLICKHOUSE_SPOOL_DIR"), "{second}");
        assert!(second.contains("7 for the full spool"), "{second}");
        assert!(
            second.ends_with("137 since the start (Telemetry::stats)"),
            "{second}"
        );
        assert_eq!(notices.line(&stats(130, 7), &counters, CONTEXT, t0), None);
    }
}
