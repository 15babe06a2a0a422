//! Delivery: sealed batches on their way to ClickHouse.
//!
//! Batches are sent oldest first, one insert at a time (so rows arrive in
//! order), as tasks on a one-worker tokio runtime: while ClickHouse works on
//! one batch, the flusher thread keeps draining and encoding the next. A task
//! wakes the flusher when it finishes. A batch stays here until ClickHouse
//! acknowledged it and is re-sent with the same deduplication token; failures
//! back off exponentially with jitter. Unsent batches are bounded by bytes:
//! at `max_pending_bytes` delivery is [full](Delivery::is_full) and the
//! flusher stops draining the queue, so the queue's policy applies (the
//! application waits, or the newest records are dropped and counted).

use std::collections::VecDeque;
use std::sync::Arc;
use std::thread::Thread;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, TryRecvError, bounded};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use super::stats::Counters;
use crate::capture::suppress_capture_on_this_thread;
use crate::config::{Config, PipelineConfig};
use crate::error::{Error, Result};
use crate::sink::Sink;
use crate::sink::clickhouse::Batch;

/// First and longest wait after a failed insert.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

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

/// The insert under way: its task, and where its outcome arrives. The task
/// sends the outcome before waking the flusher, so a woken flusher finds it.
#[derive(Debug)]
struct InFlight {
    task: JoinHandle<()>,
    outcome: Receiver<Result<(), String>>,
}

/// Creating the tables before the first insert, when asked to.
#[derive(Debug)]
struct SchemaPlan {
    admin: clickhouse::Client,
    config: Config,
}

#[derive(Debug)]
pub(crate) struct Delivery {
    runtime: Runtime,
    sink: Arc<Sink>,
    /// Set until an insert succeeded (which means the schema is in place).
    schema: Option<Arc<SchemaPlan>>,
    limits: PipelineConfig,
    /// Oldest first; while an insert runs, it is sending `pending[0]`.
    pending: VecDeque<Batch>,
    pending_bytes: usize,
    in_flight: Option<InFlight>,
    backoff: Backoff,
    last_error: Option<String>,
    counters: Arc<Counters>,
    /// The flusher thread, woken when an insert finishes.
    flusher: Thread,
}

impl Delivery {
    /// Delivery into `sink`; with `schema_admin`, the schema is created
    /// before the first insert. Call on the flusher thread: it is the one
    /// woken when inserts finish.
    pub(crate) fn new(
        config: &Config,
        sink: Sink,
        schema_admin: Option<clickhouse::Client>,
        counters: Arc<Counters>,
    ) -> Result<Delivery> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tracing-clickhouse-sender")
            // Nothing emitted while sending may come back into the queue.
            .on_thread_start(suppress_capture_on_this_thread)
            .enable_all()
            .build()
            .map_err(Error::Thread)?;
        Ok(Delivery {
            runtime,
            sink: Arc::new(sink),
            schema: schema_admin.map(|admin| {
                Arc::new(SchemaPlan {
                    admin,
                    config: config.clone(),
                })
            }),
            limits: config.pipeline.clone(),
            pending: VecDeque::new(),
            pending_bytes: 0,
            in_flight: None,
            backoff: Backoff::default(),
            last_error: None,
            counters,
            flusher: std::thread::current(),
        })
    }

    /// Queues a sealed batch.
    pub(crate) fn push(&mut self, batch: Batch) {
        self.pending_bytes += batch.body.len();
        self.pending.push_back(batch);
    }

    /// Whether the unsent batches reached `max_pending_bytes`: then the
    /// flusher takes nothing more from the queue until some are delivered.
    pub(crate) fn is_full(&self) -> bool {
        self.pending_bytes >= self.limits.max_pending_bytes
    }

    /// Rows not yet acknowledged.
    pub(crate) fn pending_rows(&self) -> u64 {
        self.pending.iter().map(|b| b.rows).sum()
    }

    /// When the flusher should look again even if nothing wakes it: the end
    /// of the backoff, if batches wait for it.
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        match (self.pending.is_empty(), &self.in_flight) {
            (false, None) => self.backoff.retry_at,
            _ => None,
        }
    }

    /// Collects a finished insert and starts the next one, if any may start.
    /// With a deadline, no new attempt may run past it.
    pub(crate) fn pump(&mut self, deadline: Option<Instant>) {
        if let Some(in_flight) = &self.in_flight {
            let outcome = match in_flight.outcome.try_recv() {
                Ok(outcome) => outcome,
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    Err("the insert task ended without an answer".into())
                }
            };
            self.in_flight = None;
            match outcome {
                Ok(()) => self.acknowledged(),
                Err(error) => self.failed(error),
            }
        }
        if self.in_flight.is_some()
            || self.pending.is_empty()
            || !self.backoff.ready(Instant::now())
        {
            return;
        }
        let mut timeout = self.limits.insert_timeout;
        if let Some(deadline) = deadline {
            timeout = timeout.min(deadline.saturating_duration_since(Instant::now()));
            if timeout.is_zero() {
                return;
            }
        }
        let batch = self.pending[0].clone();
        let sink = Arc::clone(&self.sink);
        let schema = self.schema.clone();
        let flusher = self.flusher.clone();
        let (send_outcome, outcome) = bounded(1);
        let task = self.runtime.spawn(async move {
            let result = async {
                if let Some(plan) = schema {
                    let apply = crate::schema::apply_with(&plan.admin, &plan.config);
                    tokio::time::timeout(timeout, apply)
                        .await
                        .map_err(|_| "schema creation timed out".to_owned())?
                        .map_err(|e| format!("cannot create the schema: {e}"))?;
                }
                sink.insert(&batch, timeout).await
            }
            .await;
            let _ = send_outcome.send(result);
            flusher.unpark();
        });
        self.in_flight = Some(InFlight { task, outcome });
    }

    /// Sleeps until an insert finishes, the backoff ends, or the deadline.
    pub(crate) fn wait(&self, deadline: Instant) {
        let wake_at = self.retry_at().unwrap_or(deadline).min(deadline);
        std::thread::park_timeout(wake_at.saturating_duration_since(Instant::now()));
    }

    /// The last delivery error, if the last attempt failed.
    pub(crate) fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Gives up on what is left: the rows are counted as dropped and returned.
    pub(crate) fn abandon(&mut self) -> u64 {
        let rows = self.pending_rows();
        Counters::add(&self.counters.dropped_unsent, rows);
        self.pending.clear();
        self.pending_bytes = 0;
        if let Some(in_flight) = self.in_flight.take() {
            in_flight.task.abort();
        }
        rows
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
        Counters::add(&self.counters.sent_rows, batch.rows);
        Counters::add(&self.counters.sent_bytes, batch.body.len() as u64);
        Counters::add(&self.counters.sent_batches, 1);
    }

    fn failed(&mut self, error: String) {
        Counters::add(&self.counters.failed_inserts, 1);
        if self.backoff.failures == 0 {
            // Once per outage, not once per retry.
            eprintln!("tracing-clickhouse: {error}; keeping the rows and retrying");
        }
        self.backoff
            .fail(Instant::now(), super::flusher::random_u64());
        self.last_error = Some(error);
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
        let (low, high) = (BACKOFF_MAX.mul_f64(0.75), BACKOFF_MAX.mul_f64(1.25));
        assert!(wait >= low && wait <= high, "{wait:?}");
        backoff.succeed();
        assert!(backoff.ready(now));
    }
}
