//! The batches waiting for ClickHouse: in memory, and in the disk spool,
//! sent again oldest first until acknowledged.
//!
//! With a spool, a batch goes to disk as soon as ClickHouse fails to take
//! it: a failed insert writes every batch waiting in memory, and from then
//! on every batch sealed is written at once, until the spool is empty again
//! (the outage is over and its batches delivered). An insert that has
//! gone `write_after` without an answer does the same (a server that hangs
//! rather than refuses); a backlog behind a server that answers does not.
//! So a crash during an outage loses only what was not sealed yet, and
//! nothing is written while ClickHouse takes every insert.
//!
//! A written batch stays in memory (for retries without reading the disk,
//! and for queries) until memory holds more than `max_pending_bytes`: then
//! the oldest leave memory, and those not written yet go to the spool. The
//! written batches in memory are always its oldest and the spool's newest,
//! in the same order, so the spool's head is memory's when nothing older
//! waits on disk. Without a spool, memory is [full](Pending::is_full) at
//! `max_pending_bytes` and the flusher stops taking records (so the queue's
//! policy applies), or, with the console on and `DropNewest`, prints what it
//! takes and drops it. After every change the batches in memory are
//! published for queries ([`UnsentBatches`]).
//!
//! Writing to the spool ([`write`]) keeps what fits: a batch the spool has
//! room for only part of is split, the part written and the rest kept in
//! memory (a full disk) or dropped (the spool's `max_bytes`). Every row
//! ends exactly once as acknowledged, in the spool, or counted dropped.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use super::spool::Spool;
use crate::batch::{Batch, UnsentBatches};
use crate::config::Config;
use crate::error::Result;
use crate::report::report;
use crate::stats::Counters;

/// What was left when delivery closed.
#[derive(Debug, Default)]
pub(crate) struct Leftover {
    /// Rows given up (counted as dropped).
    pub(crate) unsent_rows: u64,
    /// Rows in the spool, for the next run.
    pub(crate) spooled_rows: u64,
    /// Why rows the spool was to keep are lost, if some are.
    pub(crate) spool_error: Option<String>,
}

/// A batch waiting in memory.
#[derive(Debug)]
struct Waiting {
    batch: Batch,
    /// An attempt to send it ended without an answer (or was stopped): it
    /// may be stored under its token, so it is never split into parts with
    /// tokens of their own.
    maybe_stored: bool,
}

#[derive(Debug)]
pub(crate) struct Pending {
    /// Unsent batches, oldest first. The first `written` are also the
    /// spool's newest; the others are newer than everything in the spool.
    memory: VecDeque<Waiting>,
    /// How many of memory's oldest batches are in the spool too.
    written: usize,
    memory_bytes: usize,
    max_memory_bytes: usize,
    /// What queries see of `memory`.
    unsent: Arc<UnsentBatches>,
    spool: Option<Spool>,
    /// How long an insert may go without an answer before what waits is
    /// written.
    write_after: Duration,
    /// An insert failed and none succeeded since.
    outage: bool,
    /// The token of the batch being sent, from [`Pending::oldest`] until
    /// its insert ends.
    sending: Option<String>,
    /// Why the last spool write failed, until one succeeds: memory keeps
    /// what the spool cannot take.
    spool_failing: Option<write::Failing>,
    /// When a spool write last failed.
    write_failed_at: Option<Instant>,
    counters: Arc<Counters>,
}

impl Pending {
    /// Opens the spool if `config` has one and `with_spool` (a dry run has
    /// none), and says when an earlier run left rows in it.
    pub(crate) fn new(
        config: &Config,
        with_spool: bool,
        counters: Arc<Counters>,
        unsent: Arc<UnsentBatches>,
    ) -> Result<Pending> {
        let spool = match (&config.spool.dir, with_spool) {
            (Some(dir), true) => {
                let spool = Spool::open(dir, &config.spool, Arc::clone(&counters))?;
                if !spool.is_empty() {
                    report(format_args!(
                        "{} rows from an earlier run wait in the spool {:?}; sending them first",
                        spool.rows(),
                        spool.dir()
                    ));
                }
                Some(spool)
            }
            _ => None,
        };
        Ok(Pending {
            memory: VecDeque::new(),
            written: 0,
            memory_bytes: 0,
            max_memory_bytes: config.pipeline.max_pending_bytes,
            unsent,
            spool,
            write_after: config.spool.write_after,
            outage: false,
            sending: None,
            spool_failing: None,
            write_failed_at: None,
            counters,
        })
    }

    /// Keeps a sealed batch, written to the spool at once during an outage;
    /// what memory cannot hold goes to the spool.
    pub(crate) fn push(&mut self, batch: Batch, now: Instant) {
        self.memory_bytes += batch.body.memory();
        self.memory.push_back(Waiting {
            batch,
            maybe_stored: false,
        });
        if self.in_outage() {
            self.write_waiting(now);
        }
        self.spill_over(self.max_memory_bytes, now);
    }

    /// Whether batches go to the spool as they are sealed: an insert failed
    /// and none succeeded since, or the spool still holds batches (an
    /// outage's, or an earlier run's) that newer ones must queue behind.
    pub(crate) fn in_outage(&self) -> bool {
        self.spool
            .as_ref()
            .is_some_and(|s| self.outage || !s.is_empty())
    }

    /// An insert failed: every batch waiting in memory goes to the spool,
    /// and so will every batch sealed until the spool is empty again.
    pub(crate) fn insert_failed(&mut self, maybe_stored: bool) {
        self.outage = true;
        self.insert_ended(maybe_stored);
        self.write_waiting(Instant::now());
        self.publish();
    }

    /// The insert under way ended without an acknowledgement; its batch
    /// may be stored all the same if `maybe_stored`.
    fn insert_ended(&mut self, maybe_stored: bool) {
        if let Some(token) = self.sending.take()
            && let Some(waiting) = self.memory.iter_mut().find(|w| w.batch.token == token)
        {
            waiting.maybe_stored |= maybe_stored;
        }
        if let Some(spool) = &mut self.spool {
            spool.insert_ended();
        }
    }

    /// Writes every batch waiting in memory to the spool if the insert
    /// under way since `insert_since` has gone `write_after` without an
    /// answer by `now`; the batches sealed after them follow, as during an
    /// outage, until the spool is empty again.
    pub(crate) fn write_if_hanging(&mut self, insert_since: Option<Instant>, now: Instant) {
        if self.hanging_at(insert_since).is_some_and(|at| at <= now) {
            self.write_waiting(now);
            self.publish();
        }
    }

    /// When the insert under way since `insert_since` will have gone
    /// `write_after` without an answer, if batches wait that are not in the
    /// spool (after a failed write, not sooner than a second later: no
    /// spinning on a broken disk).
    pub(crate) fn hanging_at(&self, insert_since: Option<Instant>) -> Option<Instant> {
        self.spool.as_ref()?;
        self.memory.get(self.written)?;
        let due = insert_since? + self.write_after;
        Some(match self.write_failed_at {
            Some(at) if self.spool_failing.is_some() => due.max(at + write::WRITE_RETRY),
            _ => due,
        })
    }

    /// Whether memory is full and nothing can take its overflow.
    pub(crate) fn is_full(&self) -> bool {
        let can_spill = self.spool.is_some() && self.spool_failing.is_none();
        self.memory_bytes >= self.max_memory_bytes && !can_spill
    }

    /// Rows not yet acknowledged, in memory and in the spool (once each),
    /// and the batch in flight whose segment the spool deleted.
    pub(crate) fn rows(&self) -> u64 {
        let spooled = self
            .spool
            .as_ref()
            .map_or(0, |s| s.rows() + s.evicted_rows());
        let not_written = self.memory.iter().skip(self.written);
        not_written.map(|w| w.batch.rows).sum::<u64>() + spooled
    }

    fn memory_rows(&self) -> u64 {
        self.memory.iter().map(|w| w.batch.rows).sum()
    }

    /// The spool's head, taken from memory when it is memory's oldest (all
    /// the spool holds is memory's written batches), else read from disk.
    fn spool_head(&mut self) -> Option<&Batch> {
        let spool = self.spool.as_mut()?;
        if self.written > 0
            && spool.batches() == self.written as u64
            && let Some(front) = self.memory.front()
        {
            spool.know_head(&front.batch);
        }
        spool.head()
    }

    /// The oldest unsent batch, to send: the spool's head, else memory's.
    pub(crate) fn oldest(&mut self) -> Option<Batch> {
        let batch = match self.spool_head() {
            Some(batch) => batch.clone(),
            None => self.memory.front()?.batch.clone(),
        };
        self.sending = Some(batch.token.clone());
        Some(batch)
    }

    /// The token of the oldest batch not yet acknowledged nor dropped (the
    /// one being sent, even if the spool deleted it meanwhile).
    pub(crate) fn oldest_token(&mut self) -> Option<&str> {
        if self.spool.as_ref().is_some_and(|s| s.evicted_rows() > 0) {
            return self.sending.as_deref();
        }
        if self.spool_head().is_some() {
            return self.spool_head().map(|b| b.token.as_str());
        }
        self.memory.front().map(|w| w.batch.token.as_str())
    }

    /// ClickHouse acknowledged the batch with this token (the oldest, from
    /// the spool or from memory, or both): it is forgotten, and the outage,
    /// if there was one, is over (batches sealed from now on are written
    /// only while the spool still holds some).
    pub(crate) fn acknowledge(&mut self, token: &str) {
        self.outage = false;
        self.sending = None;
        let evicted = self
            .spool
            .as_mut()
            .is_some_and(|s| s.acknowledge_evicted(token));
        let head_is_it = !evicted && self.spool_head().is_some_and(|head| head.token == token);
        if head_is_it && let Some(spool) = &mut self.spool {
            spool.acknowledge(token);
        }
        if self.memory.front().is_some_and(|w| w.batch.token == token)
            && let Some(gone) = self.memory.pop_front()
        {
            self.memory_bytes -= gone.batch.body.memory();
            self.written = self.written.saturating_sub(1);
        }
        self.publish();
    }

    /// Puts what is left in the spool if there is one; what cannot go there
    /// is dropped and counted (as `dropped_spool_full` when the spool's disk
    /// is full, else as `dropped_unsent`).
    pub(crate) fn close(&mut self) -> Leftover {
        // The insert under way was stopped, maybe after ClickHouse had it.
        self.insert_ended(true);
        self.spill_over(0, Instant::now());
        let unsent_rows = self.memory_rows();
        self.memory.clear();
        self.memory_bytes = 0;
        self.written = 0;
        let disk_full = matches!(self.spool_failing, Some(write::Failing::DiskFull(_)));
        let counter = match disk_full {
            true => &self.counters.dropped_spool_full,
            false => &self.counters.dropped_unsent,
        };
        Counters::add(counter, unsent_rows);
        let mut spooled_rows = 0;
        if let Some(spool) = &mut self.spool {
            if let Err(error) = spool.sync() {
                report(format_args!(
                    "cannot sync the spool {:?}: {error}",
                    spool.dir()
                ));
            }
            spooled_rows = spool.rows();
        }
        self.publish();
        let spool_error = match (unsent_rows, &self.spool_failing) {
            (1.., Some(failing)) => Some(failing.to_string()),
            _ => None,
        };
        Leftover {
            unsent_rows,
            spooled_rows,
            spool_error,
        }
    }

    /// Whether unsent batches can outlive the process.
    pub(crate) fn has_spool(&self) -> bool {
        self.spool.is_some()
    }

    /// The spool's directory, if there is one.
    pub(crate) fn spool_dir(&self) -> Option<PathBuf> {
        self.spool.as_ref().map(|s| s.dir().to_owned())
    }

    /// Publishes memory's batches to queries, and its size to the stats.
    fn publish(&self) {
        self.unsent.publish(self.memory.iter().map(|w| &w.batch));
        self.counters.memory_rows.store(self.memory_rows(), Relaxed);
        self.counters
            .memory_bytes
            .store(self.memory_bytes as u64, Relaxed);
    }
}

#[cfg(test)]
mod tests;
mod write;
