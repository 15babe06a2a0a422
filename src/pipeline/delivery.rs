//! Delivery: running the inserts of the waiting batches.
//!
//! Batches are sent oldest first, one insert at a time (so rows arrive in
//! order), as tasks on a one-worker tokio runtime: while ClickHouse works on
//! one batch, the flusher thread keeps draining and encoding the next. A task
//! wakes the flusher when it finishes.
//!
//! A batch stays in [`Pending`] until ClickHouse acknowledged it, and every
//! attempt sends it with the same deduplication token, so one that
//! ClickHouse stored before an error or timeout is not stored twice. When to
//! try again after a failure is [`Retry`]'s to say; a failure also sends
//! what waits to the spool ([`Pending::insert_failed`]).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::thread::Thread;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, TryRecvError, bounded};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use super::pending::{Leftover, Pending};
use super::retry::Retry;
use crate::batch::{Batch, UnsentBatches};
use crate::capture::suppress_capture_on_this_thread;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::report::report;
use crate::sink::{Failure, FailureKind, Sink};
use crate::stats::Counters;

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

/// Creating the tables before an insert, when the pipeline manages them.
#[derive(Debug)]
struct SchemaPlan {
    admin: clickhouse::Client,
    config: Config,
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
    insert_timeout: Duration,
    pending: Pending,
    in_flight: Option<InFlight>,
    retry: Retry,
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
        unsent: Arc<UnsentBatches>,
    ) -> Result<Delivery> {
        let with_spool = matches!(sink, Sink::ClickHouse(_));
        let pending = Pending::new(config, with_spool, Arc::clone(&counters), unsent)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tracing-clickhouse-sender")
            // Nothing emitted while sending may come back into the queue.
            .on_thread_start(|| {
                suppress_capture_on_this_thread();
                crate::threads::run_in_background();
            })
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
            retry: Retry::new(config.pipeline.max_retry_backoff, schema.is_some()),
            schema,
            insert_timeout: config.pipeline.insert_timeout,
            pending,
            in_flight: None,
            counters,
            flusher: std::thread::current(),
        })
    }

    /// Queues a sealed batch for sending.
    pub(crate) fn push(&mut self, batch: Batch) {
        self.pending.push(batch, Instant::now());
    }

    /// Whether batches go to the spool as they are sealed (an insert failed
    /// and none succeeded since, or the spool still holds batches); the
    /// batcher seals by the outage's age limit then.
    pub(crate) fn in_outage(&self) -> bool {
        self.pending.in_outage()
    }

    /// Whether the waiting batches fill memory and nothing can take more.
    pub(crate) fn is_full(&self) -> bool {
        self.pending.is_full()
    }

    /// Rows not yet acknowledged, in memory and in the spool.
    pub(crate) fn pending_rows(&self) -> u64 {
        self.pending.rows()
    }

    /// The token of the oldest batch not yet acknowledged nor dropped.
    pub(crate) fn oldest_token(&mut self) -> Option<&str> {
        self.pending.oldest_token()
    }

    /// When the flusher should look again even if nothing wakes it: the end
    /// of the backoff, if batches wait for it, or when the insert under way
    /// will have gone `write_after` without an answer.
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        let retry = match (self.pending.rows() > 0, &self.in_flight) {
            (true, None) => self.retry.retry_at(),
            _ => None,
        };
        let since = self.in_flight.as_ref().map(|f| f.started);
        retry
            .into_iter()
            .chain(self.pending.hanging_at(since))
            .min()
    }

    /// Collects a finished insert and starts the next one, if any may start.
    /// With a deadline, no new attempt may run past it.
    pub(crate) fn pump(&mut self, deadline: Option<Instant>) {
        let since = self.in_flight.as_ref().map(|f| f.started);
        self.pending.write_if_hanging(since, Instant::now());
        if let Some(in_flight) = &self.in_flight {
            let outcome = match in_flight.outcome.try_recv() {
                Ok(outcome) => outcome,
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => Err(Failure {
                    kind: FailureKind::Transient,
                    missing_table: false,
                    maybe_stored: true,
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
        if self.in_flight.is_some() || !self.retry.ready(Instant::now()) {
            return;
        }
        let mut timeout = self.insert_timeout;
        if let Some(deadline) = deadline {
            timeout = timeout.min(deadline.saturating_duration_since(Instant::now()));
            if timeout.is_zero() {
                return;
            }
        }
        let Some(batch) = self.pending.oldest() else {
            return;
        };
        if self.retry.is_retrying() {
            Counters::add(&self.counters.retries, 1);
        }
        self.in_flight = Some(self.send(batch, timeout));
    }

    /// Starts the insert of `batch` (creating the schema first if needed).
    fn send(&self, batch: Batch, timeout: Duration) -> InFlight {
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
        InFlight {
            task,
            outcome,
            token,
            rows,
            bytes,
            started: Instant::now(),
        }
    }

    /// Sleeps until an insert finishes, the backoff ends, or the deadline.
    pub(crate) fn wait(&self, deadline: Instant) {
        let wake_at = self.retry_at().unwrap_or(deadline).min(deadline);
        std::thread::park_timeout(wake_at.saturating_duration_since(Instant::now()));
    }

    /// The last delivery error, if the last attempt failed.
    pub(crate) fn last_error(&self) -> Option<&str> {
        self.retry.last_error()
    }

    /// Ends delivery: stops the insert under way, and puts what is left in
    /// the spool if there is one; what cannot go there is dropped and counted.
    pub(crate) fn close(&mut self) -> Leftover {
        if let Some(in_flight) = self.in_flight.take() {
            // Spooled again with its token: if ClickHouse stored it anyway,
            // the replay is deduplicated.
            in_flight.task.abort();
        }
        self.pending.close()
    }

    /// Whether unsent batches can outlive the process.
    pub(crate) fn has_spool(&self) -> bool {
        self.pending.has_spool()
    }

    /// The spool's directory, if there is one.
    pub(crate) fn spool_dir(&self) -> Option<std::path::PathBuf> {
        self.pending.spool_dir()
    }

    fn acknowledged(&mut self, in_flight: &InFlight) {
        self.schema_needed = false;
        if self.retry.succeeded() {
            report("ClickHouse takes rows again; sending the rows kept meanwhile");
        }
        self.pending.acknowledge(&in_flight.token);
        let micros = in_flight.started.elapsed().as_micros();
        self.counters
            .last_flush_micros
            .store(u64::try_from(micros).unwrap_or(u64::MAX), Relaxed);
        Counters::add(&self.counters.sent_rows, in_flight.rows);
        Counters::add(&self.counters.sent_bytes, in_flight.bytes as u64);
        Counters::add(&self.counters.sent_batches, 1);
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
        let maybe_stored = failure.maybe_stored;
        let decision = self
            .retry
            .failed(failure, Instant::now(), crate::ids::random_u64());
        self.schema_needed |= decision.create_schema;
        if let Some(message) = decision.report {
            report(message);
        }
        self.pending.insert_failed(maybe_stored);
    }
}

/// Creates the schema, within `timeout`.
async fn create_schema(plan: &SchemaPlan, timeout: Duration) -> Result<(), Failure> {
    // Before the insert: nothing of the batch was sent.
    let failure = |kind, message| Failure {
        kind,
        missing_table: false,
        maybe_stored: false,
        message,
    };
    let apply = crate::schema::apply_with(&plan.admin, &plan.config);
    match tokio::time::timeout(timeout, apply).await {
        Err(_) => Err(failure(
            FailureKind::Transient,
            "schema creation timed out".to_owned(),
        )),
        Ok(Err(Error::ClickHouse(e))) => {
            let kind = FailureKind::of(&e.0);
            let doing = match kind {
                FailureKind::Transient => "cannot reach ClickHouse to create the schema",
                _ => "cannot create the schema",
            };
            Err(failure(
                kind,
                format!("{doing}: {}", crate::error::chain(&e)),
            ))
        }
        // Inserts into a newer schema work as long as it kept our columns:
        // say so once and go on.
        Ok(Err(e @ Error::SchemaTooNew { .. })) => {
            report(format_args!("{e}; inserting as usual"));
            Ok(())
        }
        Ok(Err(e)) => Err(failure(
            FailureKind::Schema,
            format!("cannot create the schema: {e}"),
        )),
        Ok(Ok(applied)) => {
            // What an older server does without, once per apply.
            applied.notes.iter().for_each(report);
            Ok(())
        }
    }
}
