//! The batches waiting for ClickHouse: in memory, then in the disk spool,
//! sent again oldest first until acknowledged.
//!
//! Memory holds at most `max_pending_bytes`. Past that the oldest batches go
//! to the spool when there is one (so the spool always holds older batches
//! than memory, and sending the spool's head before memory's keeps the
//! order); without a spool, memory is [full](Pending::is_full) and the
//! flusher stops taking records (so the queue's policy applies), or, with
//! the console on and `DropNewest`, prints what it takes and drops it. After every change the batches in memory are published
//! for queries ([`UnsentBatches`]).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use super::spool::{Appended, Spool};
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
}

#[derive(Debug)]
pub(crate) struct Pending {
    /// Unsent batches, oldest first, newer than everything in the spool.
    memory: VecDeque<Batch>,
    memory_bytes: usize,
    max_memory_bytes: usize,
    /// What queries see of `memory`.
    unsent: Arc<UnsentBatches>,
    spool: Option<Spool>,
    /// The last spool write failed: memory keeps what it cannot hand over.
    spool_failing: bool,
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
            memory_bytes: 0,
            max_memory_bytes: config.pipeline.max_pending_bytes,
            unsent,
            spool,
            spool_failing: false,
            counters,
        })
    }

    /// Keeps a sealed batch; what memory cannot hold goes to the spool.
    pub(crate) fn push(&mut self, batch: Batch) {
        self.memory_bytes += batch.body.len();
        self.memory.push_back(batch);
        self.spill_over(self.max_memory_bytes);
    }

    /// Moves the oldest batches from memory to the spool until memory holds
    /// at most `keep` bytes. Returns the rows the spool could not take.
    fn spill_over(&mut self, keep: usize) -> u64 {
        let mut refused = 0;
        if let Some(spool) = &mut self.spool {
            while self.memory_bytes > keep {
                let Some(batch) = self.memory.pop_front() else {
                    break;
                };
                match spool.append(&batch) {
                    Ok(Appended::Written | Appended::Dropped) => {
                        self.memory_bytes -= batch.body.len();
                        self.spool_failing = false;
                    }
                    Err(error) => {
                        Counters::add(&self.counters.spool_errors, 1);
                        if !self.spool_failing {
                            report(format_args!(
                                "cannot write to the spool {:?}: {error}; keeping the rows in memory",
                                spool.dir()
                            ));
                        }
                        self.spool_failing = true;
                        refused += batch.rows;
                        self.memory.push_front(batch);
                        break;
                    }
                }
            }
        }
        self.publish();
        refused
    }

    /// Whether memory is full and nothing can take its overflow.
    pub(crate) fn is_full(&self) -> bool {
        let can_spill = self.spool.is_some() && !self.spool_failing;
        self.memory_bytes >= self.max_memory_bytes && !can_spill
    }

    /// Rows not yet acknowledged, in memory and in the spool.
    pub(crate) fn rows(&self) -> u64 {
        let spooled = self.spool.as_ref().map_or(0, Spool::rows);
        self.memory_rows() + spooled
    }

    fn memory_rows(&self) -> u64 {
        self.memory.iter().map(|b| b.rows).sum()
    }

    /// The oldest unsent batch: the spool's head, else memory's.
    pub(crate) fn oldest(&mut self) -> Option<Batch> {
        if let Some(spool) = &mut self.spool
            && let Some(batch) = spool.head()
        {
            return Some(batch.clone());
        }
        self.memory.front().cloned()
    }

    /// ClickHouse acknowledged the batch with this token (the oldest, from
    /// the spool or from memory): it is forgotten.
    pub(crate) fn acknowledge(&mut self, token: &str) {
        let from_spool = self.spool.as_mut().is_some_and(|s| s.acknowledge(token));
        if !from_spool
            && self.memory.front().is_some_and(|b| b.token == token)
            && let Some(batch) = self.memory.pop_front()
        {
            self.memory_bytes -= batch.body.len();
        }
        self.publish();
    }

    /// Puts what is left in the spool if there is one; what cannot go there
    /// is dropped and counted.
    pub(crate) fn close(&mut self) -> Leftover {
        let unsent_rows = self.spill_over(0) + self.memory_rows();
        self.memory.clear();
        self.memory_bytes = 0;
        Counters::add(&self.counters.dropped_unsent, unsent_rows);
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
        Leftover {
            unsent_rows,
            spooled_rows,
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
        self.unsent.publish(self.memory.iter());
        self.counters.memory_rows.store(self.memory_rows(), Relaxed);
        self.counters
            .memory_bytes
            .store(self.memory_bytes as u64, Relaxed);
    }
}
