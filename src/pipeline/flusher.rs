//! The flusher: one background thread that drains the queue, encodes rows
//! into one open batch per table, seals a batch when it is full or old
//! enough, and hands it to [`Delivery`], which sends it while the flusher
//! goes on encoding.
//!
//! Each loop turn it sleeps until the next poll, or until a producer, the
//! guard or a finished insert wakes it.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam::channel::{Receiver, Sender, TryRecvError};

use super::delivery::Delivery;
use super::encode::Encoder;
use crate::batch::UnsentBatches;
use crate::batch::{Batch, BatchConstants, Table};
use crate::capture::suppress_capture_on_this_thread;
use crate::clock::Clock;
use crate::config::{Config, PipelineConfig};
use crate::connect::client;
use crate::error::Result;
use crate::queue::QueueReader;
use crate::report::report;
use crate::sink::ClickHouseSink;
use crate::sink::Sink;
use crate::stats::{Counters, Stats};

/// How often the flusher looks at the queue when nobody wakes it.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Requests from the guard.
#[derive(Debug)]
pub(crate) enum Control {
    /// Send everything queued so far; answer whether all of it was acknowledged.
    Flush {
        deadline: Instant,
        done: Sender<Result<(), String>>,
    },
    /// Like `Flush`, then stop; answers the rows that could not be sent.
    Shutdown {
        deadline: Instant,
        done: Sender<ShutdownReport>,
    },
}

/// What shutting the pipeline down left behind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Rows that were captured but are neither acknowledged by ClickHouse
    /// nor kept in the spool: they are lost (and counted as dropped).
    pub unsent_rows: u64,
    /// Rows left in the disk spool; the next run with the same spool
    /// directory sends them.
    pub spooled_rows: u64,
    /// The spool directory, if there is one.
    pub spool_dir: Option<std::path::PathBuf>,
    /// The last delivery error, if rows were left unsent.
    pub error: Option<String>,
    /// The pipeline's counters at the end.
    pub stats: Stats,
}

/// Rows being gathered for the next insert of one table.
#[derive(Debug)]
struct OpenBatch {
    rows: u64,
    body: Vec<u8>,
    opened_at: Option<Instant>,
}

impl OpenBatch {
    /// An empty batch with room for `capacity` bytes (the size of the
    /// table's last batch, so a steady stream does not grow it by copying).
    fn with_capacity(capacity: usize) -> Self {
        OpenBatch {
            rows: 0,
            body: Vec::with_capacity(capacity),
            opened_at: None,
        }
    }
}

/// Deduplication tokens: unique per process run, fixed per batch.
#[derive(Debug)]
struct Tokens {
    prefix: u64,
    next: u64,
}

impl Tokens {
    fn new() -> Self {
        Tokens {
            prefix: crate::ids::random_u64(),
            next: 0,
        }
    }

    fn next(&mut self) -> String {
        self.next += 1;
        format!("tc-{:016x}-{}", self.prefix, self.next)
    }
}

/// What the flusher thread needs to build its [`Delivery`] once it runs.
#[derive(Debug)]
struct DeliveryPlan {
    config: Config,
    sink: Sink,
    schema_admin: Option<clickhouse::Client>,
    ring: Arc<UnsentBatches>,
}

#[derive(Debug)]
pub(crate) struct Flusher {
    reader: QueueReader,
    control: Receiver<Control>,
    limits: PipelineConfig,
    encoder: Encoder,
    constants: Arc<BatchConstants>,
    /// One open batch per table, in `Table::ALL` order.
    open: [OpenBatch; 4],
    tokens: Tokens,
    plan: Option<DeliveryPlan>,
    #[cfg(feature = "metrics")]
    snapshots: Option<Snapshots>,
}

/// Metric snapshots, taken by the flusher every `MetricsConfig::interval`
/// (and before a flush) into the `metrics` batch.
#[cfg(feature = "metrics")]
#[derive(Debug)]
struct Snapshots {
    recorder: crate::capture::MetricsRecorder,
    /// Whether snapshots record the pipeline's own counters.
    pipeline_metrics: bool,
    /// Each counter's value at the last snapshot, for its delta.
    previous: std::collections::HashMap<metrics::Key, u64>,
    interval: Duration,
    next_at: Instant,
}

impl Flusher {
    /// A flusher for `config`; with `discard`, batches are encoded and thrown
    /// away instead of inserted (no schema, no network). Builds the clients
    /// here, so configuration errors reach the caller.
    pub(crate) fn new(
        config: &Config,
        clock: Clock,
        reader: QueueReader,
        control: Receiver<Control>,
        ring: Arc<UnsentBatches>,
    ) -> Result<Flusher> {
        let plan = if config.dry_run {
            DeliveryPlan {
                config: config.clone(),
                sink: Sink::Discard,
                schema_admin: None,
                ring,
            }
        } else {
            DeliveryPlan {
                config: config.clone(),
                sink: Sink::ClickHouse(Box::new(ClickHouseSink::new(client(config, true)?))),
                schema_admin: if config.create_schema {
                    Some(client(config, false)?)
                } else {
                    None
                },
                ring,
            }
        };
        Ok(Flusher {
            reader,
            control,
            limits: config.pipeline.clone(),
            encoder: Encoder::new(clock),
            constants: Arc::new(BatchConstants::new(config)),
            open: Table::ALL.map(|_| OpenBatch::with_capacity(0)),
            tokens: Tokens::new(),
            plan: Some(plan),
            #[cfg(feature = "metrics")]
            snapshots: None,
        })
    }

    /// Snapshots the recorder's series every `config.interval`.
    #[cfg(feature = "metrics")]
    pub(crate) fn with_metrics(
        mut self,
        recorder: crate::capture::MetricsRecorder,
        config: crate::config::MetricsConfig,
    ) -> Self {
        let interval = config.interval;
        self.snapshots = Some(Snapshots {
            recorder,
            pipeline_metrics: config.pipeline_metrics,
            previous: Default::default(),
            interval,
            next_at: Instant::now() + interval,
        });
        self
    }

    /// When the next metrics snapshot is due, if there is a recorder.
    fn snapshot_due_at(&self) -> Option<Instant> {
        #[cfg(feature = "metrics")]
        if let Some(snapshots) = &self.snapshots {
            return Some(snapshots.next_at);
        }
        None
    }

    /// Writes a snapshot of the metric series into the `metrics` batch if
    /// one is due, or now with `force`.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    fn snapshot_metrics(&mut self, delivery: &mut Delivery, force: bool) {
        #[cfg(feature = "metrics")]
        {
            let now = Instant::now();
            let Some(snapshots) = &mut self.snapshots else {
                return;
            };
            if !force && now < snapshots.next_at {
                return;
            }
            snapshots.next_at = now + snapshots.interval;
            if snapshots.pipeline_metrics {
                snapshots
                    .recorder
                    .record_pipeline(&self.reader.queue().stats());
            }
            let rows = snapshots
                .recorder
                .state()
                .snapshot(crate::record::now_ns(), &mut snapshots.previous);
            let batch = &mut self.open[Table::Metrics as usize];
            for row in &rows {
                super::encode::encode_metric(row, &mut batch.body);
            }
            batch.rows += rows.len() as u64;
            if !rows.is_empty() {
                batch.opened_at.get_or_insert(now);
            }
            if batch.rows as usize >= self.limits.batch_max_rows
                || batch.body.len() >= self.limits.batch_max_bytes
            {
                self.seal(delivery, Table::Metrics);
            }
        }
    }

    /// The flusher thread's body. Delivery (and its runtime) is built here,
    /// on this thread, so that a runtime is never created or dropped inside
    /// the application's; `started` hears whether that worked.
    pub(crate) fn run(mut self, started: Sender<Result<()>>) {
        // Nothing this thread emits (ours, hyper's, the clickhouse crate's)
        // may come back into the queue.
        suppress_capture_on_this_thread();
        let Some(plan) = self.plan.take() else { return };
        let counters = Arc::clone(&self.reader.queue().counters);
        let delivery = Delivery::new(
            &plan.config,
            plan.sink,
            plan.schema_admin,
            counters,
            plan.ring,
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
        loop {
            std::thread::park_timeout(self.next_wait(&delivery));
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
                    let deadline = Instant::now() + self.limits.shutdown_timeout;
                    report_unsent(&self.shut_down(&mut delivery, deadline));
                    return;
                }
                Err(TryRecvError::Empty) => {
                    self.drain(&mut delivery, self.limits.queue_capacity);
                    self.snapshot_metrics(&mut delivery, false);
                    self.seal_due(&mut delivery, Instant::now());
                    delivery.pump(None);
                }
            }
            self.update_pending_rows(&delivery);
        }
    }

    fn next_wait(&self, delivery: &Delivery) -> Duration {
        let now = Instant::now();
        let opened = self.open.iter().filter_map(|batch| batch.opened_at);
        let due = opened.map(|at| at + self.limits.flush_interval);
        due.chain(delivery.retry_at())
            .chain(self.snapshot_due_at())
            .map(|at| at.saturating_duration_since(now))
            .fold(POLL_INTERVAL, Duration::min)
    }

    /// Moves up to `limit` queued records into the open batches (callers
    /// pass at most one queue's worth, so producers that never stop cannot
    /// keep the flusher from sending), and none while delivery is full.
    /// Returns how many it took.
    fn drain(&mut self, delivery: &mut Delivery, limit: usize) -> usize {
        let mut taken = 0;
        let mut heap_bytes = 0;
        let (max_rows, max_bytes) = (self.limits.batch_max_rows, self.limits.batch_max_bytes);
        self.encoder.set_anchor();
        while taken < limit && !delivery.is_full() {
            let (encoder, open) = (&mut self.encoder, &mut self.open);
            let mut full = None;
            taken += self.reader.drain(limit - taken, |record| {
                let table = Table::of(record);
                let batch = &mut open[table as usize];
                encoder.encode(record, &mut batch.body);
                heap_bytes += record.heap_bytes();
                batch.rows += 1;
                batch.opened_at.get_or_insert_with(Instant::now);
                if batch.rows as usize >= max_rows || batch.body.len() >= max_bytes {
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
        taken
    }

    /// Seals the batches whose oldest row waited `flush_interval`.
    fn seal_due(&mut self, delivery: &mut Delivery, now: Instant) {
        for table in Table::ALL {
            let opened = self.open[table as usize].opened_at;
            if opened.is_some_and(|at| now.duration_since(at) >= self.limits.flush_interval) {
                self.seal(delivery, table);
            }
        }
    }

    /// Closes the table's open batch and hands it to delivery.
    fn seal(&mut self, delivery: &mut Delivery, table: Table) {
        let slot = &mut self.open[table as usize];
        if slot.rows == 0 {
            return;
        }
        let capacity = slot.body.len();
        let open = std::mem::replace(slot, OpenBatch::with_capacity(capacity));
        delivery.push(Batch {
            table,
            rows: open.rows,
            token: self.tokens.next(),
            body: Bytes::from(open.body),
            constants: Arc::clone(&self.constants),
        });
    }

    fn open_rows(&self) -> u64 {
        self.open.iter().map(|b| b.rows).sum()
    }

    fn update_pending_rows(&self, delivery: &Delivery) {
        let rows = self.open_rows() + delivery.pending_rows();
        self.reader
            .queue()
            .counters
            .pending_rows
            .store(rows, std::sync::atomic::Ordering::Relaxed);
    }

    /// Delivers everything queued before the call, retrying until the
    /// deadline. Records queued later wait for the next turn; while delivery
    /// is full, draining and delivering take turns.
    fn flush_all(&mut self, delivery: &mut Delivery, deadline: Instant) -> Result<(), String> {
        // The metrics as they are now are part of what a flush delivers.
        self.snapshot_metrics(delivery, true);
        let mut owed = self.reader.queue().len();
        loop {
            owed -= self.drain(delivery, owed);
            if owed == 0 {
                for table in Table::ALL {
                    self.seal(delivery, table);
                }
            }
            delivery.pump(Some(deadline));
            self.update_pending_rows(delivery);
            let left = owed as u64 + self.open_rows() + delivery.pending_rows();
            if left == 0 {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let error = delivery.last_error().unwrap_or("timed out");
                return Err(format!("{left} rows not acknowledged: {error}"));
            }
            delivery.wait(deadline);
        }
    }

    /// Flushes; what is left goes to the spool if there is one, else it is
    /// given up (counted as dropped).
    fn shut_down(&mut self, delivery: &mut Delivery, deadline: Instant) -> ShutdownReport {
        self.reader.queue().close();
        let result = self.flush_all(delivery, deadline);
        if result.is_err() && delivery.has_spool() {
            // Everything still queued or batched goes to the spool too.
            self.drain(delivery, usize::MAX);
            for table in Table::ALL {
                self.seal(delivery, table);
            }
        }
        let leftover = delivery.close();
        let unsent_rows = leftover.unsent_rows + self.discard_undelivered();
        self.update_pending_rows(delivery);
        ShutdownReport {
            unsent_rows,
            spooled_rows: leftover.spooled_rows,
            spool_dir: delivery.spool_dir(),
            error: result.err(),
            // Filled in by the handle, which reads the queue too.
            stats: Stats::default(),
        }
    }

    /// Drops the open batches and what is still queued, counting the rows
    /// as unsent; returns how many.
    fn discard_undelivered(&mut self) -> u64 {
        let mut rows = self.open_rows();
        self.open = Table::ALL.map(|_| OpenBatch::with_capacity(0));
        let mut heap_bytes = 0;
        rows += self.reader.drain(usize::MAX, |record| {
            heap_bytes += record.heap_bytes();
            ControlFlow::Continue(())
        }) as u64;
        self.reader.release(heap_bytes);
        Counters::add(&self.reader.queue().counters.dropped_unsent, rows);
        rows
    }
}

pub(crate) fn report_unsent(shutdown: &ShutdownReport) {
    let error = shutdown.error.as_deref().unwrap_or("unknown error");
    if shutdown.unsent_rows > 0 {
        report(format_args!(
            "{} rows could not be delivered before shutdown and are lost: {error}",
            shutdown.unsent_rows,
        ));
    }
    if let (true, Some(dir)) = (shutdown.spooled_rows > 0, &shutdown.spool_dir) {
        report(format_args!(
            "{} rows wait in the spool {dir:?} for the next run ({error})",
            shutdown.spooled_rows,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_stable_in_form() {
        let mut a = Tokens::new();
        let mut b = Tokens::new();
        let (a1, a2, b1) = (a.next(), a.next(), b.next());
        assert_ne!(a1, a2);
        assert_ne!(a1, b1);
        assert!(a1.starts_with("tc-") && a1.ends_with("-1"), "{a1}");
    }
}
