//! Delivery: sealed batches on their way to ClickHouse.
//!
//! Batches are sent oldest first, one insert at a time (so rows arrive in
//! order), as tasks on a one-worker tokio runtime: while ClickHouse works on
//! one batch, the flusher thread keeps draining and encoding the next. A task
//! wakes the flusher when it finishes.
//!
//! A batch stays here until ClickHouse acknowledged it, and every attempt
//! sends it with the same deduplication token, so one that ClickHouse stored
//! before an error or timeout is not stored twice. Unsent batches wait in
//! memory, bounded by `max_pending_bytes`. Past that bound they go to the
//! disk spool when there is one (oldest first: the spool always holds older
//! batches than memory, so sending the spool's head before memory's keeps
//! the order); without a spool delivery is [full](Delivery::is_full) and the
//! flusher stops draining the queue, so the queue's policy applies.
//!
//! Failures are classified ([`FailureKind`]): transient ones back off
//! exponentially with jitter; those that need a person (authentication, a
//! missing or different table) are reported once and retried at the longest
//! backoff, unless the pipeline manages the schema and can create a missing
//! table again.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::thread::Thread;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, TryRecvError, bounded};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use super::spool::{Appended, Spool};
use crate::batch::{Batch, UnsentBatches};
use crate::capture::suppress_capture_on_this_thread;
use crate::config::{Config, PipelineConfig};
use crate::error::{Error, Result};
use crate::report::report;
use crate::sink::{Failure, FailureKind, Sink};
use crate::stats::Counters;

/// The first wait after a failed insert; it doubles up to `max_retry_backoff`.
const BACKOFF_MIN: Duration = Duration::from_millis(100);

/// Exponential backoff with jitter, so many clients do not retry in step.
#[derive(Debug)]
struct Backoff {
    failures: u32,
    retry_at: Option<Instant>,
    max: Duration,
}

impl Backoff {
    fn new(max: Duration) -> Self {
        Backoff {
            failures: 0,
            retry_at: None,
            max,
        }
    }

    /// After a transient failure: the next wait doubles.
    fn fail(&mut self, now: Instant, jitter_seed: u64) {
        self.failures = self.failures.saturating_add(1);
        let base = BACKOFF_MIN.saturating_mul(1 << self.failures.min(16).saturating_sub(1));
        self.wait(now, base.min(self.max), jitter_seed);
    }

    /// After a failure only a person can fix: the longest wait at once.
    fn fail_long(&mut self, now: Instant, jitter_seed: u64) {
        self.failures = self.failures.saturating_add(1);
        self.wait(now, self.max, jitter_seed);
    }

    fn wait(&mut self, now: Instant, base: Duration, jitter_seed: u64) {
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

/// The insert under way: its task, where its outcome arrives, and which
/// batch it sends. The task sends the outcome before waking the flusher, so
/// a woken flusher finds it.
#[derive(Debug)]
struct InFlight {
    task: JoinHandle<()>,
    outcome: Receiver<Result<(), Failure>>,
    token: String,
    rows: u64,
    bytes: usize,
    started: Instant,
}

/// Creating the tables before an insert, when asked to.
#[derive(Debug)]
struct SchemaPlan {
    admin: clickhouse::Client,
    config: Config,
}

/// What was left when delivery closed.
#[derive(Debug, Default)]
pub(crate) struct Leftover {
    /// Rows given up (counted as dropped).
    pub(crate) unsent_rows: u64,
    /// Rows in the spool, for the next run.
    pub(crate) spooled_rows: u64,
}

#[derive(Debug)]
pub(crate) struct Delivery {
    runtime: Runtime,
    sink: Arc<Sink>,
    /// How to create the schema, when the pipeline manages it.
    schema: Option<Arc<SchemaPlan>>,
    /// Create the schema before the next insert: at the start, and after
    /// ClickHouse said a table or database is missing.
    schema_needed: bool,
    limits: PipelineConfig,
    /// Unsent batches, oldest first, newer than everything in the spool.
    memory: VecDeque<Batch>,
    memory_bytes: usize,
    /// What queries see of `memory`.
    ring: Arc<UnsentBatches>,
    spool: Option<Spool>,
    /// The last spool write failed: memory keeps what it cannot hand over.
    spool_failing: bool,
    in_flight: Option<InFlight>,
    backoff: Backoff,
    last_failure: Option<Failure>,
    counters: Arc<Counters>,
    /// The flusher thread, woken when an insert finishes.
    flusher: Thread,
}

impl Delivery {
    /// Delivery into `sink`; with `schema_admin`, the schema is created
    /// before the first insert. Opens the spool if the configuration has
    /// one (and the sink is ClickHouse). Call on the flusher thread: it is
    /// the one woken when inserts finish.
    pub(crate) fn new(
        config: &Config,
        sink: Sink,
        schema_admin: Option<clickhouse::Client>,
        counters: Arc<Counters>,
        ring: Arc<UnsentBatches>,
    ) -> Result<Delivery> {
        let spool = match (&sink, &config.spool.dir) {
            (Sink::ClickHouse(_), Some(dir)) => {
                let spool = Spool::open(dir, &config.spool, Arc::clone(&counters))?;
                if !spool.is_empty() {
                    report(format_args!(
                        "{} rows from an earlier run wait in the spool {:?}; \
                         sending them first",
                        spool.rows(),
                        spool.dir()
                    ));
                }
                Some(spool)
            }
            _ => None,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tracing-clickhouse-sender")
            // Nothing emitted while sending may come back into the queue.
            .on_thread_start(suppress_capture_on_this_thread)
            .enable_all()
            .build()
            .map_err(Error::Thread)?;
        let schema = schema_admin.map(|admin| {
            Arc::new(SchemaPlan {
                admin,
                config: config.clone(),
            })
        });
        Ok(Delivery {
            runtime,
            sink: Arc::new(sink),
            schema_needed: schema.is_some(),
            schema,
            limits: config.pipeline.clone(),
            memory: VecDeque::new(),
            memory_bytes: 0,
            ring,
            spool,
            spool_failing: false,
            in_flight: None,
            backoff: Backoff::new(config.pipeline.max_retry_backoff),
            last_failure: None,
            counters,
            flusher: std::thread::current(),
        })
    }

    /// Queues a sealed batch; what memory cannot hold goes to the spool.
    pub(crate) fn push(&mut self, batch: Batch) {
        self.memory_bytes += batch.body.len();
        self.memory.push_back(batch);
        self.spill_over(self.limits.max_pending_bytes);
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
                                "cannot write to the spool {:?}: {error}; \
                                 keeping the rows in memory",
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
        self.memory_changed();
        refused
    }

    /// Whether memory is full and nothing can take its overflow: then the
    /// flusher takes nothing more from the queue until some are delivered.
    pub(crate) fn is_full(&self) -> bool {
        let can_spill = self.spool.is_some() && !self.spool_failing;
        self.memory_bytes >= self.limits.max_pending_bytes && !can_spill
    }

    /// Rows not yet acknowledged, in memory and in the spool.
    pub(crate) fn pending_rows(&self) -> u64 {
        let spooled = self.spool.as_ref().map_or(0, Spool::rows);
        self.memory.iter().map(|b| b.rows).sum::<u64>() + spooled
    }

    /// When the flusher should look again even if nothing wakes it: the end
    /// of the backoff, if batches wait for it.
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        match (self.pending_rows() > 0, &self.in_flight) {
            (true, None) => self.backoff.retry_at,
            _ => None,
        }
    }

    /// The oldest unsent batch: the spool's head, else memory's.
    fn next_batch(&mut self) -> Option<Batch> {
        if let Some(spool) = &mut self.spool
            && let Some(batch) = spool.head()
        {
            return Some(batch.clone());
        }
        self.memory.front().cloned()
    }

    /// Collects a finished insert and starts the next one, if any may start.
    /// With a deadline, no new attempt may run past it.
    pub(crate) fn pump(&mut self, deadline: Option<Instant>) {
        if let Some(in_flight) = &self.in_flight {
            let outcome = match in_flight.outcome.try_recv() {
                Ok(outcome) => outcome,
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => Err(Failure {
                    kind: FailureKind::Transient,
                    missing_table: false,
                    message: "the insert task ended without an answer".into(),
                }),
            };
            if let Some(in_flight) = self.in_flight.take() {
                match outcome {
                    Ok(()) => self.acknowledged(&in_flight),
                    Err(failure) => self.failed(failure),
                }
            }
        }
        if self.in_flight.is_some() || !self.backoff.ready(Instant::now()) {
            return;
        }
        let mut timeout = self.limits.insert_timeout;
        if let Some(deadline) = deadline {
            timeout = timeout.min(deadline.saturating_duration_since(Instant::now()));
            if timeout.is_zero() {
                return;
            }
        }
        let Some(batch) = self.next_batch() else {
            return;
        };
        if self.backoff.failures > 0 {
            Counters::add(&self.counters.retries, 1);
        }
        let sink = Arc::clone(&self.sink);
        let schema = self.schema.clone().filter(|_| self.schema_needed);
        let flusher = self.flusher.clone();
        let (send_outcome, outcome) = bounded(1);
        let (token, rows, bytes) = (batch.token.clone(), batch.rows, batch.body.len());
        let task = self.runtime.spawn(async move {
            let result = async {
                if let Some(plan) = schema {
                    create_schema(&plan, timeout).await?;
                }
                sink.insert(&batch, timeout).await
            }
            .await;
            let _ = send_outcome.send(result);
            flusher.unpark();
        });
        self.in_flight = Some(InFlight {
            task,
            outcome,
            token,
            rows,
            bytes,
            started: Instant::now(),
        });
    }

    /// Sleeps until an insert finishes, the backoff ends, or the deadline.
    pub(crate) fn wait(&self, deadline: Instant) {
        let wake_at = self.retry_at().unwrap_or(deadline).min(deadline);
        std::thread::park_timeout(wake_at.saturating_duration_since(Instant::now()));
    }

    /// The last delivery error, if the last attempt failed.
    pub(crate) fn last_error(&self) -> Option<&str> {
        self.last_failure.as_ref().map(|f| f.message.as_str())
    }

    /// Ends delivery: stops the insert under way, and puts what is left in
    /// the spool if there is one; what cannot go there is dropped and counted.
    pub(crate) fn close(&mut self) -> Leftover {
        if let Some(in_flight) = self.in_flight.take() {
            // Spooled again below with its token: if ClickHouse stored it
            // anyway, the replay is deduplicated.
            in_flight.task.abort();
        }
        let unsent_rows = self.spill_over(0) + self.memory.iter().map(|b| b.rows).sum::<u64>();
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
        self.memory_changed();
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
    pub(crate) fn spool_dir(&self) -> Option<std::path::PathBuf> {
        self.spool.as_ref().map(|s| s.dir().to_owned())
    }

    fn acknowledged(&mut self, in_flight: &InFlight) {
        self.schema_needed = false;
        if self.backoff.failures > 0 {
            report(format_args!(
                "ClickHouse takes rows again; sending the rows kept meanwhile"
            ));
        }
        self.backoff.succeed();
        self.last_failure = None;
        let token = &in_flight.token;
        let from_spool = self.spool.as_mut().is_some_and(|s| s.acknowledge(token));
        if !from_spool
            && self.memory.front().is_some_and(|b| &b.token == token)
            && let Some(batch) = self.memory.pop_front()
        {
            self.memory_bytes -= batch.body.len();
        }
        let micros = in_flight.started.elapsed().as_micros();
        self.counters
            .last_flush_micros
            .store(u64::try_from(micros).unwrap_or(u64::MAX), Relaxed);
        Counters::add(&self.counters.sent_rows, in_flight.rows);
        Counters::add(&self.counters.sent_bytes, in_flight.bytes as u64);
        Counters::add(&self.counters.sent_batches, 1);
        self.memory_changed();
    }

    fn failed(&mut self, failure: Failure) {
        let counters = &self.counters;
        Counters::add(&counters.failed_inserts, 1);
        Counters::add(
            match failure.kind {
                FailureKind::Transient => &counters.failed_transient,
                FailureKind::Auth => &counters.failed_auth,
                FailureKind::Schema => &counters.failed_schema,
            },
            1,
        );
        let now = Instant::now();
        let jitter = crate::ids::random_u64();
        let recreate = failure.missing_table && self.schema.is_some();
        // Once per outage, and again when its cause changes; not per retry.
        let news = self
            .last_failure
            .as_ref()
            .is_none_or(|last| last.kind != failure.kind);
        if recreate {
            self.schema_needed = true;
            if news {
                report(format_args!(
                    "{}; creating the schema again",
                    failure.message
                ));
            }
            self.backoff.fail(now, jitter);
        } else if failure.kind == FailureKind::Transient {
            if news {
                report(format_args!(
                    "{}; keeping the rows and retrying",
                    failure.message
                ));
            }
            self.backoff.fail(now, jitter);
        } else {
            if news {
                report(format_args!(
                    "ClickHouse refuses the rows and will until this is \
                     fixed: {}; keeping them and trying again every {:?}",
                    failure.message, self.backoff.max
                ));
            }
            self.backoff.fail_long(now, jitter);
        }
        self.last_failure = Some(failure);
    }

    /// Publishes memory's batches to queries, and its size to the stats.
    fn memory_changed(&self) {
        self.ring.publish(self.memory.iter());
        let rows = self.memory.iter().map(|b| b.rows).sum();
        self.counters.memory_rows.store(rows, Relaxed);
        self.counters
            .memory_bytes
            .store(self.memory_bytes as u64, Relaxed);
    }
}

/// Creates the schema, within `timeout`.
async fn create_schema(plan: &SchemaPlan, timeout: Duration) -> Result<(), Failure> {
    let failure = |kind, message| Failure {
        kind,
        missing_table: false,
        message,
    };
    let apply = crate::schema::apply_with(&plan.admin, &plan.config);
    match tokio::time::timeout(timeout, apply).await {
        Err(_) => Err(failure(
            FailureKind::Transient,
            "schema creation timed out".to_owned(),
        )),
        Ok(Err(Error::ClickHouse(e))) => Err(failure(
            FailureKind::of(&e),
            format!("cannot create the schema: {}", crate::error::chain(&e)),
        )),
        Ok(Err(e)) => Err(failure(
            FailureKind::Schema,
            format!("cannot create the schema: {e}"),
        )),
        Ok(Ok(())) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let now = Instant::now();
        let mut backoff = Backoff::new(Duration::from_secs(10));
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
        let max = Duration::from_secs(10);
        let (low, high) = (max.mul_f64(0.75), max.mul_f64(1.25));
        assert!(wait >= low && wait <= high, "{wait:?}");
        backoff.succeed();
        assert!(backoff.ready(now));
        backoff.fail_long(now, 500);
        assert_eq!(backoff.retry_at, Some(now + max));
    }
}
