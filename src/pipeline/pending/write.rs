//! Writing memory's batches to the spool, keeping what fits.
//!
//! The spool refuses a batch when it is at its `max_bytes` (and its policy
//! keeps what it holds) or when its disk is full. Either way, a batch never
//! sent is split at the last row boundary that fits and the part is
//! written. What is left is dropped and counted when the spool refused it by
//! its policy, and stays in memory when the disk is full (written later if
//! the disk frees up; memory's bound then holds back the flusher as it does
//! without a spool, and what is left at shutdown is counted dropped).

use std::fmt;
use std::time::{Duration, Instant};

use super::{Pending, Waiting};
use crate::pipeline::spool::{Appended, record_len};
use crate::report::report;
use crate::stats::Counters;

/// How long after a failed spool write the batches overdue for the spool are
/// tried again (sooner if another batch is sealed during an outage).
pub(super) const WRITE_RETRY: Duration = Duration::from_secs(1);

/// Why the spool cannot take batches now.
#[derive(Debug)]
pub(super) enum Failing {
    /// Its disk is full (or the quota used up).
    DiskFull(String),
    /// Another error of the file system.
    Error(String),
}

impl fmt::Display for Failing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failing::DiskFull(error) => write!(f, "the spool's disk is full ({error})"),
            Failing::Error(error) => write!(f, "cannot write to the spool ({error})"),
        }
    }
}

/// What became of the batch [`Pending::write_next`] wrote.
enum Step {
    /// In the spool (whole, or the part that fit, the rest split off).
    Written,
    /// Refused by the spool's policy: gone from memory, counted dropped.
    Dropped,
    /// Not written: it stays in memory.
    Kept,
}

impl Pending {
    /// Writes memory's batches that are not in the spool yet, oldest first.
    /// Stops at the first that cannot be written (the next call tries
    /// again), so the spool keeps their order.
    pub(super) fn write_waiting(&mut self, now: Instant) {
        while self.written < self.memory.len() {
            if let Step::Kept = self.write_next(now) {
                break;
            }
        }
        self.forget_dropped();
    }

    /// Moves the oldest batches out of memory until it holds at most `keep`
    /// bytes: those already in the spool just leave memory, the others are
    /// written first. Stops at one the spool cannot take now.
    pub(super) fn spill_over(&mut self, keep: usize, now: Instant) {
        if self.spool.is_some() {
            while self.memory_bytes > keep && !self.memory.is_empty() {
                if self.written > 0 {
                    self.pop_front();
                    self.written -= 1;
                    continue;
                }
                if let Step::Kept = self.write_next(now) {
                    break;
                }
            }
        }
        self.forget_dropped();
        self.publish();
    }

    /// Writes memory's oldest batch not in the spool yet, or the part of it
    /// that fits (the rest split off after it).
    fn write_next(&mut self, now: Instant) -> Step {
        loop {
            let (Some(spool), Some(waiting)) = (&mut self.spool, self.memory.get(self.written))
            else {
                return Step::Kept;
            };
            let error = match spool.append(&waiting.batch, self.sending.as_deref()) {
                Ok(Appended::Written) => {
                    self.written += 1;
                    self.spool_failing = None;
                    return Step::Written;
                }
                Ok(Appended::OverCap { room }) => {
                    if self.split_next(room) {
                        continue;
                    }
                    let rows = self.remove(self.written);
                    Counters::add(&self.counters.dropped_spool_full, rows);
                    return Step::Dropped;
                }
                Ok(Appended::DiskFull { room, error }) => {
                    if self.split_next(room) {
                        continue;
                    }
                    Failing::DiskFull(error.to_string())
                }
                Err(error) => Failing::Error(error.to_string()),
            };
            self.write_failed(error, now);
            return Step::Kept;
        }
    }

    /// Splits memory's next batch to write so that its first part makes a
    /// spool record of at most `room` bytes; false if it cannot (it may be
    /// stored already, or is being sent, or has no row boundary that fits).
    fn split_next(&mut self, room: u64) -> bool {
        let Some(waiting) = self.memory.get(self.written) else {
            return false;
        };
        let batch = &waiting.batch;
        // A part's record: the batch's, less the rest of the body, with two
        // more bytes of token.
        let overhead = record_len(batch) - batch.body.len() as u64 + 2;
        let max_body = usize::try_from(room.saturating_sub(overhead)).unwrap_or(usize::MAX);
        let whole = waiting.maybe_stored || self.sending.as_deref() == Some(&batch.token);
        let parts = match whole {
            true => None,
            false => batch.split(max_body),
        };
        let Some((first, rest)) = parts else {
            return false;
        };
        self.memory[self.written] = Waiting {
            batch: first,
            maybe_stored: false,
        };
        let rest = Waiting {
            batch: rest,
            maybe_stored: false,
        };
        self.memory.insert(self.written + 1, rest);
        true
    }

    /// Memory's written batches that the spool no longer holds (it deleted
    /// its oldest segment to make room, counting their rows as dropped)
    /// leave memory too, so that what is counted as dropped is not sent.
    fn forget_dropped(&mut self) {
        let held = self.spool.as_ref().map_or(0, |s| s.batches());
        while self.written as u64 > held {
            self.pop_front();
            self.written -= 1;
        }
    }

    /// Notes a failed spool write, said once until a write succeeds again.
    fn write_failed(&mut self, failing: Failing, now: Instant) {
        Counters::add(&self.counters.spool_errors, 1);
        if self.spool_failing.is_none()
            && let Some(spool) = &self.spool
        {
            report(format_args!(
                "{failing} at {:?}; keeping the rows in memory while it has room",
                spool.dir()
            ));
        }
        self.spool_failing = Some(failing);
        self.write_failed_at = Some(now);
    }

    /// Removes memory's oldest batch.
    fn pop_front(&mut self) {
        if let Some(gone) = self.memory.pop_front() {
            self.memory_bytes -= gone.batch.body.memory();
        }
    }

    /// Removes memory's batch at `index`; returns its rows.
    fn remove(&mut self, index: usize) -> u64 {
        let Some(gone) = self.memory.remove(index) else {
            return 0;
        };
        self.memory_bytes -= gone.batch.body.memory();
        gone.batch.rows
    }
}
