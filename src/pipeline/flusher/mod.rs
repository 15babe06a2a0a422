//! The flusher: one background thread that drains the queue, prints the
//! console's lines, encodes rows into the open batches, seals a batch when
//! it is full or old enough, and hands it to [`Delivery`], which sends it
//! while the flusher goes on draining.
//!
//! Each loop turn it sleeps until the next poll, or until a producer, the
//! guard or a finished insert wakes it.
//!
//! When delivery is full (its memory bound is reached and no spool takes
//! the overflow), the flusher stops taking records, so the queue fills and
//! its policy applies: with `Block` the application waits; with
//! `DropNewest` new records are dropped and counted. With the console on and
//! `DropNewest`, it instead keeps taking records, printing them and dropping
//! (and counting) what delivery cannot take, so the console keeps flowing
//! while ClickHouse is away.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, Sender, TryRecvError};

use super::batcher::Batcher;
use super::console::Console;
use super::delivery::Delivery;
use super::encode::Encoder;
use super::notices::{self, Notices};
use super::shutdown::{ShutdownReport, report_unsent};
use super::snapshots::Snapshots;
use crate::batch::{Table, UnsentBatches};
use crate::capture::suppress_capture_on_this_thread;
use crate::clock::Clock;
use crate::config::{Config, QueuePolicy};
use crate::connect::client;
use crate::error::Result;
use crate::queue::QueueReader;
use crate::record::Record;
use crate::sink::{ClickHouseSink, Sink};
use crate::stats::Counters;

/// How often the flusher looks at the queue when nobody wakes it.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// How often a flush looks again for records whose producers are still
/// writing them.
const OWED_RECHECK: Duration = Duration::from_millis(1);

/// Records taken in one drain that make it look again without sleeping: a
/// burst, not the trickle of a quiet program (which it would spin on).
const BURST: usize = 256;

/// Records one turn of the loop takes at most: about a millisecond of
/// encoding. Then the flusher yields its core and looks again, so that on
/// a small machine the application's threads wait at most that long for it
/// (a whole queue at once held the core for tens of milliseconds).
const DRAIN_CHUNK: usize = 1024;

mod finish;

pub(crate) use finish::Unflushed;

/// Requests from the guard.
#[derive(Debug)]
pub(crate) enum Control {
    /// Send everything queued so far; answer whether all of it was acknowledged.
    Flush {
        deadline: Instant,
        done: Sender<Result<(), Unflushed>>,
    },
    /// Like `Flush`, then stop; answers the rows that could not be sent.
    Shutdown {
        deadline: Instant,
        done: Sender<ShutdownReport>,
    },
}

/// What a drain does with records while delivery is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WhenFull {
    /// Leave them queued.
    Wait,
    /// Take them for the console, and drop them.
    Drop,
}

/// What the flusher thread needs to build its [`Delivery`] once it runs.
#[derive(Debug)]
struct DeliveryPlan {
    config: Config,
    sink: Sink,
    schema_admin: Option<clickhouse::Client>,
    unsent: Arc<UnsentBatches>,
}

#[derive(Debug)]
pub(crate) struct Flusher {
    reader: QueueReader,
    control: Receiver<Control>,
    /// Records taken per drain at most (a queue's worth, so producers that
    /// never stop cannot keep the flusher from sending).
    drain_limit: usize,
    /// What the regular drain does while delivery is full.
    when_full: WhenFull,
    shutdown_timeout: Duration,
    /// Where a drain stops: records captured after it started wait.
    clock: Clock,
    encoder: Encoder,
    batcher: Batcher,
    console: Option<Console>,
    snapshots: Option<Snapshots>,
    plan: Option<DeliveryPlan>,
    /// The lines about drops.
    notices: Notices,
    /// A drain found delivery full since the notices last looked.
    delivery_was_full: bool,
}

impl Flusher {
    /// A flusher for `config`; in a dry run, batches are encoded and thrown
    /// away instead of inserted (no schema, no network). Builds the clients
    /// here, so configuration errors reach the caller.
    pub(crate) fn new(
        config: &Config,
        clock: Clock,
        reader: QueueReader,
        control: Receiver<Control>,
        unsent: Arc<UnsentBatches>,
        console: Option<Console>,
        snapshots: Option<Snapshots>,
    ) -> Result<Flusher> {
        let (sink, schema_admin) = if config.dry_run {
            (Sink::Discard, None)
        } else {
            let sink = Sink::ClickHouse(Box::new(ClickHouseSink::new(config)?));
            let admin = match config.create_schema {
                true => Some(client(config, false)?),
                false => None,
            };
            (sink, admin)
        };
        let drop_when_full =
            console.is_some() && config.pipeline.queue_policy == QueuePolicy::DropNewest;
        Ok(Flusher {
            reader,
            control,
            drain_limit: config.pipeline.queue_capacity,
            when_full: if drop_when_full {
                WhenFull::Drop
            } else {
                WhenFull::Wait
            },
            shutdown_timeout: config.pipeline.shutdown_timeout,
            encoder: Encoder::new(clock.clone()),
            clock,
            batcher: Batcher::new(config),
            console,
            snapshots,
            notices: Notices::new(Instant::now()),
            delivery_was_full: false,
            plan: Some(DeliveryPlan {
                config: config.clone(),
                sink,
                schema_admin,
                unsent,
            }),
        })
    }

    fn counters(&self) -> &Counters {
        &self.reader.queue().counters
    }

    /// The flusher thread's body. Delivery (and its runtime) is built here,
    /// on this thread, so that a runtime is never created or dropped inside
    /// the application's; `started` hears whether that worked.
    pub(crate) fn run(mut self, started: Sender<Result<()>>) {
        // Nothing this thread emits (ours, hyper's, the clickhouse crate's)
        // may come back into the queue.
        suppress_capture_on_this_thread();
        crate::threads::run_in_background();
        let Some(plan) = self.plan.take() else { return };
        let counters = Arc::clone(&self.reader.queue().counters);
        let delivery = Delivery::new(
            &plan.config,
            plan.sink,
            plan.schema_admin,
            counters,
            plan.unsent,
        );
        let mut delivery = match delivery {
            Ok(delivery) => {
                let _ = started.send(Ok(()));
                delivery
            }
            Err(error) => {
                let _ = started.send(Err(error));
                return;
            }
        };
        let mut busy = false;
        loop {
            if busy {
                // In a burst: look again at once rather than sleep until a
                // producer wakes us (a woken thread is often put on the
                // waker's core, and then the application waits for it).
                std::thread::yield_now();
            } else {
                std::thread::park_timeout(self.next_wait(&delivery));
            }
            self.reader.drained();
            match self.control.try_recv() {
                Ok(Control::Flush { deadline, done }) => {
                    let _ = done.send(self.flush_all(&mut delivery, deadline));
                }
                Ok(Control::Shutdown { deadline, done }) => {
                    let _ = done.send(self.shut_down(&mut delivery, deadline));
                    return;
                }
                Err(TryRecvError::Disconnected) => {
                    // The guard is gone without a goodbye (it was leaked or
                    // panicked): deliver what we can within the usual time.
                    let deadline = Instant::now() + self.shutdown_timeout;
                    report_unsent(&self.shut_down(&mut delivery, deadline));
                    return;
                }
                Err(TryRecvError::Empty) => {
                    let limit = self.drain_limit.min(DRAIN_CHUNK);
                    let taken = self.drain(&mut delivery, limit, self.when_full);
                    busy = taken >= BURST;
                    self.snapshot_metrics(&mut delivery, false);
                    self.seal_due(&mut delivery, Instant::now());
                    delivery.pump(None);
                    let context = self.notice_context(&delivery);
                    let (notices, queue) = (&mut self.notices, self.reader.queue());
                    notices.look(Instant::now(), || queue.stats(), &queue.counters, context);
                }
            }
            self.update_pending_rows(&delivery);
        }
    }

    /// What the drop notices need to know beyond the counters.
    fn notice_context(&mut self, delivery: &Delivery) -> notices::Context {
        notices::Context {
            queue_capacity: self.drain_limit,
            delivery_was_full: std::mem::take(&mut self.delivery_was_full),
            spool: delivery.has_spool(),
        }
    }

    fn next_wait(&self, delivery: &Delivery) -> Duration {
        let now = Instant::now();
        let snapshot = self.snapshots.as_ref().and_then(Snapshots::due_at);
        self.batcher
            .next_due(delivery.in_outage())
            .into_iter()
            .chain(delivery.retry_at())
            .chain(snapshot)
            .map(|at| at.saturating_duration_since(now))
            .fold(POLL_INTERVAL, Duration::min)
    }

    /// Takes up to `limit` queued records: prints each log on the console,
    /// encodes it into its open batch, and hands a batch that fills up to
    /// delivery. While delivery is full it waits or drops, as `when_full`
    /// says. Returns how many records it took.
    fn drain(&mut self, delivery: &mut Delivery, limit: usize, when_full: WhenFull) -> usize {
        let mut taken = 0;
        let mut heap_bytes = 0;
        let mut dropped = 0;
        self.encoder.set_anchor();
        while taken < limit {
            let until = self.clock.ticks();
            let keep = !delivery.is_full();
            self.delivery_was_full |= !keep;
            if !keep && when_full == WhenFull::Wait {
                break;
            }
            let (encoder, batcher, console) =
                (&mut self.encoder, &mut self.batcher, &mut self.console);
            let mut full = None;
            taken += self.reader.drain(limit - taken, until, |record| {
                heap_bytes += record.heap_bytes();
                if let (Some(console), Record::Log(log)) = (console.as_mut(), &*record) {
                    console.render(log, encoder.unix_ns(log.ticks));
                }
                if !keep {
                    dropped += 1;
                    return ControlFlow::Continue(());
                }
                let table = Table::of(record);
                encoder.encode(record, batcher.body(table));
                if batcher.added(table, 1) {
                    full = Some(table);
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            });
            let Some(table) = full else { break };
            self.seal(delivery, table);
            // Start sending now rather than after the whole drain.
            delivery.pump(None);
        }
        self.reader.release(heap_bytes);
        Counters::add(&self.counters().dropped_pending_full, dropped);
        if let Some(console) = &mut self.console {
            console.flush();
        }
        taken
    }

    /// Writes a snapshot of the metric series into the `metrics` batch if
    /// one is due, or now with `force`.
    fn snapshot_metrics(&mut self, delivery: &mut Delivery, force: bool) {
        let Some(snapshots) = &mut self.snapshots else {
            return;
        };
        let stats = self.reader.queue().stats();
        let body = self.batcher.body(Table::Metrics);
        let rows = snapshots.take(Instant::now(), force, &stats, body);
        if rows > 0 && self.batcher.added(Table::Metrics, rows) {
            self.seal(delivery, Table::Metrics);
        }
    }

    /// Seals the batches whose oldest row waited `flush_interval` (or
    /// `outage_flush_interval`, during an outage).
    fn seal_due(&mut self, delivery: &mut Delivery, now: Instant) {
        let due: Vec<Table> = self.batcher.due(now, delivery.in_outage()).collect();
        for table in due {
            self.seal(delivery, table);
        }
    }

    /// Closes the table's open batch and hands it to delivery.
    fn seal(&mut self, delivery: &mut Delivery, table: Table) {
        if let Some(batch) = self.batcher.seal(table) {
            delivery.push(batch);
        }
    }

    fn seal_all(&mut self, delivery: &mut Delivery) {
        for table in Table::ALL {
            self.seal(delivery, table);
        }
    }

    fn update_pending_rows(&self, delivery: &Delivery) {
        let rows = self.batcher.rows() + delivery.pending_rows();
        self.counters().pending_rows.store(rows, Relaxed);
    }
}
