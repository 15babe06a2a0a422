//! Ending: a flush (everything queued so far delivered), and the shutdown
//! (a flush, then what is left to the spool or counted lost).

use std::ops::ControlFlow;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use super::{Flusher, OWED_RECHECK, POLL_INTERVAL, WhenFull};
use crate::pipeline::delivery::Delivery;
use crate::pipeline::shutdown::ShutdownReport;
use crate::record::Record;
use crate::stats::{Counters, Stats};

/// Why a flush did not deliver everything it was to.
#[derive(Debug)]
pub(crate) enum Unflushed {
    /// The deadline came first; says how many rows were left, and why.
    Timeout(String),
    /// Every row was settled, but this many were dropped (and counted) meanwhile.
    Dropped(u64),
}

impl std::fmt::Display for Unflushed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unflushed::Timeout(message) => f.write_str(message),
            Unflushed::Dropped(rows) => write!(f, "{rows} rows were dropped while flushing"),
        }
    }
}

impl Flusher {
    /// Delivers everything queued before the call, retrying until the
    /// deadline.
    ///
    /// First the records queued before the call are drained (those after
    /// wait their turn, as they arrive in capture order) and every batch is
    /// sealed; from then on the flush waits until no batch sealed by then is
    /// waiting (each was acknowledged, or dropped and counted), while the
    /// flusher goes on as usual with what arrives. Batches leave oldest
    /// first, so it is enough to look at the oldest.
    pub(super) fn flush_all(
        &mut self,
        delivery: &mut Delivery,
        deadline: Instant,
    ) -> Result<(), Unflushed> {
        // The metrics as they are now are part of what a flush delivers.
        self.snapshot_metrics(delivery, true);
        let mut owed = self.reader.queue().len();
        let dropped_before = self.counters().dropped_after_queue();
        // Once all are sealed: how many batches were, and the rows owed then.
        let mut sealed = None;
        loop {
            match sealed {
                None => {
                    owed -= self.drain(delivery, owed, self.when_full);
                    if owed == 0 {
                        self.seal_all(delivery);
                        let rows = self.acknowledged_rows() + delivery.pending_rows();
                        sealed = Some((self.batcher.sealed(), rows));
                    }
                }
                Some(_) => {
                    self.drain(delivery, self.drain_limit, self.when_full);
                    self.seal_due(delivery, Instant::now());
                }
            }
            delivery.pump(Some(deadline));
            self.update_pending_rows(delivery);
            let done = sealed.is_some_and(|(mark, _)| {
                delivery
                    .oldest_token()
                    .is_none_or(|token| self.batcher.sealed_after(token, mark))
            });
            if done || Instant::now() >= deadline {
                // What a flush printed is out, too (as far as the writer
                // keeps up).
                if let Some(console) = &mut self.console {
                    console.sync(deadline);
                }
            }
            let dropped = self.counters().dropped_after_queue() - dropped_before;
            if done {
                return match dropped {
                    0 => Ok(()),
                    n => Err(Unflushed::Dropped(n)),
                };
            }
            if Instant::now() >= deadline {
                let left = match sealed {
                    None => owed as u64 + self.batcher.rows() + delivery.pending_rows(),
                    Some((_, rows)) => rows.saturating_sub(self.acknowledged_rows() + dropped),
                };
                let error = delivery.last_error().unwrap_or("timed out");
                return Err(Unflushed::Timeout(format!(
                    "{left} rows not acknowledged: {error}"
                )));
            }
            let wait_until = match sealed {
                // Records still owed are being written by their producers
                // (the queue counts a slot once it is reserved): look again
                // soon, rather than wait for an insert that may not be under way.
                None => deadline.min(Instant::now() + OWED_RECHECK),
                // Taking what arrives meanwhile, as often as the regular loop.
                Some(_) => deadline.min(Instant::now() + POLL_INTERVAL),
            };
            // Producers may wake us earlier (a queue filling up).
            self.reader.drained();
            delivery.wait(wait_until);
        }
    }

    /// Rows ClickHouse acknowledged so far.
    fn acknowledged_rows(&self) -> u64 {
        self.counters().sent_rows.load(Relaxed)
    }

    /// Flushes; what is left goes to the spool if there is one, else it is
    /// given up (counted as dropped).
    pub(super) fn shut_down(
        &mut self,
        delivery: &mut Delivery,
        deadline: Instant,
    ) -> ShutdownReport {
        self.reader.queue().close();
        let result = self.flush_all(delivery, deadline);
        if result.is_err() && delivery.has_spool() {
            // Everything still queued or batched goes to the spool too.
            self.drain(delivery, usize::MAX, WhenFull::Wait);
            self.seal_all(delivery);
        }
        let leftover = delivery.close();
        let unsent_rows = leftover.unsent_rows + self.discard_undelivered();
        self.update_pending_rows(delivery);
        if let Some(console) = &mut self.console {
            console.finish(deadline);
        }
        let context = self.notice_context(delivery);
        let queue = self.reader.queue();
        self.notices.last(&queue.stats(), &queue.counters, context);
        // Rows lost for the spool's sake are lost for that reason first.
        let error = match (leftover.spool_error, result.err().map(|e| e.to_string())) {
            (Some(spool), Some(delivery)) => Some(format!("{spool}; {delivery}")),
            (spool, delivery) => spool.or(delivery),
        };
        ShutdownReport {
            unsent_rows,
            spooled_rows: leftover.spooled_rows,
            spool_dir: delivery.spool_dir(),
            error,
            // Filled in by the handle, which reads the queue too.
            stats: Stats::default(),
        }
    }

    /// Drops the open batches and what is still queued (printing the
    /// queued logs first), counting the rows as unsent; returns how many.
    fn discard_undelivered(&mut self) -> u64 {
        let mut heap_bytes = 0;
        let (encoder, console) = (&self.encoder, &mut self.console);
        let queued = self.reader.drain(usize::MAX, u64::MAX, |record| {
            heap_bytes += record.heap_bytes();
            if let (Some(console), Record::Log(log)) = (console.as_mut(), &*record) {
                console.render(log, encoder.unix_ns(log.ticks));
            }
            ControlFlow::Continue(())
        });
        self.reader.release(heap_bytes);
        if let Some(console) = &mut self.console {
            console.flush();
        }
        let rows = self.batcher.discard() + queued as u64;
        Counters::add(&self.counters().dropped_unsent, rows);
        rows
    }
}
