//! The flusher: one background thread with its own tokio runtime that drains
//! the queue, batches rows and inserts them.
//!
//! Each loop turn it sleeps until the next poll (or until a producer or the
//! guard wakes it), drains the queue into the open batch, seals the batch
//! when it is full or old enough, and sends sealed batches oldest first. A
//! batch stays in memory until ClickHouse acknowledged it and is re-sent with
//! the same deduplication token; failures back off exponentially.

use std::collections::VecDeque;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam::channel::{Receiver, Sender, TryRecvError};
use tokio::runtime::Runtime;

use super::encode::{BatchConstants, Encoder, Table};
use super::queue::Queue;
use super::stats::{Counters, Stats};
use crate::capture::suppress_capture_on_this_thread;
use crate::config::{Config, PipelineConfig};
use crate::error::{Error, Result};
use crate::sink::Sink;
use crate::sink::clickhouse::{Batch, ClickHouseSink, client};

/// How often the flusher looks at the queue when nobody wakes it.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// First and longest wait after a failed insert.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

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
    /// Rows that were captured but never acknowledged by ClickHouse.
    pub unsent_rows: u64,
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

/// Exponential backoff with jitter, so many clients do not retry in step.
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
    retry_at: Option<Instant>,
}

impl Backoff {
    fn fail(&mut self, now: Instant, jitter_seed: u64) {
        self.failures = self.failures.saturating_add(1);
        let base = BACKOFF_MIN.saturating_mul(1 << self.failures.min(16).saturating_sub(1));
        let base = base.min(BACKOFF_MAX);
        // Between 75% and 125% of the base delay.
        let jitter = 0.75 + (jitter_seed % 1000) as f64 / 2000.0;
        self.retry_at = Some(now + base.mul_f64(jitter));
    }

    fn succeed(&mut self) {
        self.failures = 0;
        self.retry_at = None;
    }

    fn ready(&self, now: Instant) -> bool {
        self.retry_at.is_none_or(|at| now >= at)
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
            prefix: random_u64(),
            next: 0,
        }
    }

    fn next(&mut self) -> String {
        self.next += 1;
        format!("tc-{:016x}-{}", self.prefix, self.next)
    }
}

fn random_u64() -> u64 {
    // std's RandomState is seeded from the OS; mixing in the time and pid
    // keeps two processes started together apart.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_i64(crate::record::now_ns());
    hasher.write_u32(std::process::id());
    hasher.finish()
}

#[derive(Debug)]
pub(crate) struct Flusher {
    queue: Arc<Queue>,
    control: Receiver<Control>,
    sink: Sink,
    /// Set until the schema was applied, when the flusher manages it.
    schema: Option<(clickhouse::Client, Config)>,
    limits: PipelineConfig,
    encoder: Encoder,
    constants: Arc<BatchConstants>,
    /// One open batch per table, in `Table::ALL` order.
    open: [OpenBatch; 3],
    pending: VecDeque<Batch>,
    pending_bytes: usize,
    backoff: Backoff,
    tokens: Tokens,
    last_error: Option<String>,
}

impl Flusher {
    /// A flusher for `config`; with `discard`, batches are encoded and thrown
    /// away instead of inserted (no schema, no network).
    pub(crate) fn new(
        config: &Config,
        create_schema: bool,
        discard: bool,
        queue: Arc<Queue>,
        control: Receiver<Control>,
    ) -> Result<Flusher> {
        let (sink, schema) = if discard {
            (Sink::Discard, None)
        } else {
            let schema = match create_schema {
                true => Some((client(config, false)?, config.clone())),
                false => None,
            };
            (
                Sink::ClickHouse(Box::new(ClickHouseSink::new(client(config, true)?))),
                schema,
            )
        };
        Ok(Flusher {
            queue,
            control,
            sink,
            schema,
            limits: config.pipeline.clone(),
            encoder: Encoder::default(),
            constants: Arc::new(BatchConstants::new(config)),
            open: Table::ALL.map(|_| OpenBatch::with_capacity(0)),
            pending: VecDeque::new(),
            pending_bytes: 0,
            backoff: Backoff::default(),
            tokens: Tokens::new(),
            last_error: None,
        })
    }

    fn counters(&self) -> &Counters {
        &self.queue.counters
    }

    /// The flusher thread's body. Its runtime is built here, on its own
    /// thread, so that it is never created or dropped inside the
    /// application's runtime; `started` hears whether that worked.
    pub(crate) fn run(mut self, started: Sender<Result<()>>) {
        // Nothing this thread emits (ours, hyper's, the clickhouse crate's)
        // may come back into the queue.
        suppress_capture_on_this_thread();
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => {
                let _ = started.send(Ok(()));
                runtime
            }
            Err(error) => {
                let _ = started.send(Err(Error::Thread(error)));
                return;
            }
        };
        let runtime = &runtime;
        loop {
            std::thread::park_timeout(self.next_wait());
            self.queue.drained();
            match self.control.try_recv() {
                Ok(Control::Flush { deadline, done }) => {
                    let _ = done.send(self.flush_all(runtime, deadline));
                }
                Ok(Control::Shutdown { deadline, done }) => {
                    let _ = done.send(self.shut_down(runtime, deadline));
                    return;
                }
                Err(TryRecvError::Disconnected) => {
                    // The guard is gone without a goodbye (it was leaked or
                    // panicked): deliver what we can within the usual time.
                    let deadline = Instant::now() + self.limits.shutdown_timeout;
                    let report = self.shut_down(runtime, deadline);
                    report_unsent(&report);
                    return;
                }
                Err(TryRecvError::Empty) => {
                    self.drain();
                    self.seal_due(Instant::now());
                    self.send_pending(runtime, None);
                }
            }
        }
    }

    fn next_wait(&self) -> Duration {
        let now = Instant::now();
        let mut wait = POLL_INTERVAL;
        for opened in self.open.iter().filter_map(|batch| batch.opened_at) {
            let due = opened + self.limits.flush_interval;
            wait = wait.min(due.saturating_duration_since(now));
        }
        if let (false, Some(at)) = (self.pending.is_empty(), self.backoff.retry_at) {
            wait = wait.min(at.saturating_duration_since(now));
        }
        wait
    }

    /// Moves queued records into the open batches; at most one queue's
    /// worth, so producers that never stop cannot keep the flusher from sending.
    fn drain(&mut self) {
        let mut taken = 0;
        let mut bytes = 0;
        while taken < self.limits.queue_capacity {
            let Some(record) = self.queue.pop() else {
                break;
            };
            taken += 1;
            bytes += record.size_bytes();
            let table = Table::of(&record);
            let batch = &mut self.open[table as usize];
            self.encoder.encode(&record, &mut batch.body);
            batch.rows += 1;
            batch.opened_at.get_or_insert_with(Instant::now);
            if batch.rows as usize >= self.limits.batch_max_rows
                || batch.body.len() >= self.limits.batch_max_bytes
            {
                self.seal(table);
            }
        }
        self.queue.release(bytes);
        self.update_pending_rows();
    }

    /// Seals the batches whose oldest row waited `flush_interval`.
    fn seal_due(&mut self, now: Instant) {
        for table in Table::ALL {
            let opened = self.open[table as usize].opened_at;
            if opened.is_some_and(|at| now.duration_since(at) >= self.limits.flush_interval) {
                self.seal(table);
            }
        }
    }

    fn seal_all(&mut self) {
        for table in Table::ALL {
            self.seal(table);
        }
    }

    /// Closes the table's open batch and queues it for sending.
    fn seal(&mut self, table: Table) {
        let slot = &mut self.open[table as usize];
        if slot.rows == 0 {
            return;
        }
        let capacity = slot.body.len();
        let open = std::mem::replace(slot, OpenBatch::with_capacity(capacity));
        let batch = Batch {
            table,
            rows: open.rows,
            token: self.tokens.next(),
            body: Bytes::from(open.body),
            constants: Arc::clone(&self.constants),
        };
        self.pending_bytes += batch.body.len();
        self.pending.push_back(batch);
        self.enforce_memory_bound();
    }

    /// Drops the oldest unsent batches beyond `max_pending_bytes`.
    fn enforce_memory_bound(&mut self) {
        while self.pending_bytes > self.limits.max_pending_bytes && self.pending.len() > 1 {
            let Some(oldest) = self.pending.pop_front() else {
                break;
            };
            self.pending_bytes -= oldest.body.len();
            Counters::add(&self.counters().dropped_unsent, oldest.rows);
            eprintln!(
                "tracing-clickhouse: dropped {} unsent rows of {}: more than {} bytes waiting for ClickHouse",
                oldest.rows,
                oldest.table.name(),
                self.limits.max_pending_bytes
            );
        }
        self.update_pending_rows();
    }

    fn update_pending_rows(&self) {
        let open: u64 = self.open.iter().map(|b| b.rows).sum();
        let rows = open + self.pending.iter().map(|b| b.rows).sum::<u64>();
        self.counters()
            .pending_rows
            .store(rows, std::sync::atomic::Ordering::Relaxed);
    }

    /// Sends sealed batches, oldest first, until one fails or none is left.
    /// With a deadline, no attempt may run past it.
    fn send_pending(&mut self, runtime: &Runtime, deadline: Option<Instant>) {
        while !self.pending.is_empty() && self.backoff.ready(Instant::now()) {
            let mut timeout = self.limits.insert_timeout;
            if let Some(deadline) = deadline {
                timeout = timeout.min(deadline.saturating_duration_since(Instant::now()));
                if timeout.is_zero() {
                    return;
                }
            }
            let outcome = runtime.block_on(async {
                if let Some((admin, config)) = &self.schema {
                    tokio::time::timeout(timeout, crate::schema::apply_with(admin, config))
                        .await
                        .map_err(|_| "schema creation timed out".to_owned())?
                        .map_err(|e| format!("cannot create the schema: {e}"))?;
                }
                self.sink.insert(&self.pending[0], timeout).await
            });
            match outcome {
                Ok(()) => self.acknowledged(),
                Err(error) => {
                    self.failed(error);
                    return;
                }
            }
        }
    }

    fn acknowledged(&mut self) {
        self.schema = None;
        if self.backoff.failures > 0 {
            eprintln!(
                "tracing-clickhouse: ClickHouse reachable again; sending the rows kept meanwhile"
            );
        }
        self.backoff.succeed();
        self.last_error = None;
        let Some(batch) = self.pending.pop_front() else {
            return;
        };
        self.pending_bytes -= batch.body.len();
        let counters = self.counters();
        Counters::add(&counters.sent_rows, batch.rows);
        Counters::add(&counters.sent_bytes, batch.body.len() as u64);
        Counters::add(&counters.sent_batches, 1);
        self.update_pending_rows();
    }

    fn failed(&mut self, error: String) {
        Counters::add(&self.counters().failed_inserts, 1);
        if self.backoff.failures == 0 {
            // Once per outage, not once per retry.
            eprintln!("tracing-clickhouse: {error}; keeping the rows and retrying");
        }
        self.backoff.fail(Instant::now(), random_u64());
        self.last_error = Some(error);
    }

    /// Drains the queue and sends everything, retrying until the deadline.
    fn flush_all(&mut self, runtime: &Runtime, deadline: Instant) -> Result<(), String> {
        loop {
            self.drain();
            if self.queue.len() == 0 {
                break;
            }
        }
        self.seal_all();
        loop {
            self.send_pending(runtime, Some(deadline));
            if self.pending.is_empty() {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                let rows: u64 = self.pending.iter().map(|b| b.rows).sum();
                let error = self
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "timed out".into());
                return Err(format!("{rows} rows not acknowledged: {error}"));
            }
            let retry_at = self.backoff.retry_at.unwrap_or(now).min(deadline);
            std::thread::sleep(retry_at.saturating_duration_since(now));
        }
    }

    fn shut_down(&mut self, runtime: &Runtime, deadline: Instant) -> ShutdownReport {
        self.queue.close();
        let result = self.flush_all(runtime, deadline);
        let unsent_rows: u64 = self.pending.iter().map(|b| b.rows).sum();
        Counters::add(&self.counters().dropped_unsent, unsent_rows);
        self.pending.clear();
        self.update_pending_rows();
        ShutdownReport {
            unsent_rows,
            error: result.err(),
            // Filled in by the handle, which reads the queue too.
            stats: Stats::default(),
        }
    }
}

pub(crate) fn report_unsent(report: &ShutdownReport) {
    if report.unsent_rows > 0 {
        eprintln!(
            "tracing-clickhouse: {} rows could not be delivered before shutdown: {}",
            report.unsent_rows,
            report.error.as_deref().unwrap_or("unknown error")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let now = Instant::now();
        let mut backoff = Backoff::default();
        assert!(backoff.ready(now));
        backoff.fail(now, 500); // jitter factor 1.0
        assert_eq!(backoff.retry_at, Some(now + BACKOFF_MIN));
        assert!(!backoff.ready(now));
        backoff.fail(now, 500);
        assert_eq!(backoff.retry_at, Some(now + BACKOFF_MIN * 2));
        for _ in 0..40 {
            backoff.fail(now, 999);
        }
        let wait = backoff.retry_at.unwrap() - now;
        assert!(
            wait <= BACKOFF_MAX.mul_f64(1.25) && wait >= BACKOFF_MAX.mul_f64(0.75),
            "{wait:?}"
        );
        backoff.succeed();
        assert!(backoff.ready(now));
    }

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
