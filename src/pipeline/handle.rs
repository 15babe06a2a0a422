//! The handle the guard holds: starting the flusher thread, asking it to
//! flush or to stop, and waiting for its answer within a deadline.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{Sender, bounded, unbounded};

use super::console::Console;
use super::flusher::{Control, Flusher, Unflushed};
use super::shutdown::ShutdownReport;
#[cfg(feature = "metrics")]
use super::snapshots::Snapshots;
use crate::batch::UnsentBatches;
#[cfg(feature = "metrics")]
use crate::capture::MetricsRecorder;
use crate::clock::Clock;
use crate::config::{Config, ConsoleWriter};
use crate::error::{Error, Result};
use crate::queue::Queue;
use crate::stats::{Counters, Stats};

/// Extra time the guard waits for the flusher's answer beyond the deadline
/// it gave it (the flusher checks the deadline between attempts).
const ANSWER_GRACE: Duration = Duration::from_secs(2);
/// The same with a spool: after the deadline the flusher writes what is
/// left to disk (up to `max_pending_bytes` plus the queue, each batch
/// fsynced by default), which a loaded disk may take a while to do; giving
/// up earlier would report rows as lost that are on their way to the spool.
const SPOOL_ANSWER_GRACE: Duration = Duration::from_secs(30);

/// The running pipeline: its queue and its flusher thread.
#[derive(Debug)]
pub(crate) struct Pipeline {
    queue: Arc<Queue>,
    /// What capture stamps records with; the flusher turns it into time.
    clock: Clock,
    /// The unsent batches, for queries while ClickHouse is down.
    memory: Arc<UnsentBatches>,
    #[cfg(feature = "metrics")]
    recorder: MetricsRecorder,
    /// How long past its deadline the flusher's answer is awaited.
    answer_grace: Duration,
    control: Sender<Control>,
    thread: Option<JoinHandle<()>>,
}

impl Pipeline {
    /// Starts the flusher thread. Touches no network: a server that is down
    /// now is retried later.
    pub(crate) fn start(config: &Config, console: Option<ConsoleWriter>) -> Result<Pipeline> {
        let limits = &config.pipeline;
        let counters = Arc::new(Counters::default());
        let (queue, reader) = Queue::new(
            limits.queue_capacity,
            limits.max_queue_bytes,
            limits.queue_policy,
            counters,
        );
        let (control, control_rx) = unbounded();
        let memory = Arc::new(UnsentBatches::default());
        let clock = Clock::new();
        #[cfg(feature = "metrics")]
        let recorder = MetricsRecorder::new(config.metrics.max_series, Arc::clone(&queue.counters));
        #[cfg(feature = "metrics")]
        let snapshots = Some(Snapshots::new(recorder.clone(), config.metrics));
        #[cfg(not(feature = "metrics"))]
        let snapshots = None;
        let flusher = Flusher::new(
            config,
            clock.clone(),
            reader,
            control_rx,
            Arc::clone(&memory),
            Console::new(config.console, console, Arc::clone(&queue.counters))
                .map_err(Error::Thread)?,
            snapshots,
        )?;
        let (started, started_rx) = bounded(1);
        let thread = std::thread::Builder::new()
            .name("tracing-clickhouse-flusher".into())
            .spawn(move || flusher.run(started))
            .map_err(Error::Thread)?;
        // The flusher builds its runtime first; only a broken system fails here.
        started_rx
            .recv()
            .map_err(|_| Error::Thread(std::io::Error::other("the flusher thread died")))??;
        queue.set_flusher(thread.thread().clone());
        Ok(Pipeline {
            queue,
            clock,
            memory,
            #[cfg(feature = "metrics")]
            recorder,
            answer_grace: if config.spool.dir.is_some() {
                SPOOL_ANSWER_GRACE
            } else {
                ANSWER_GRACE
            },
            control,
            thread: Some(thread),
        })
    }

    #[cfg(feature = "metrics")]
    pub(crate) fn recorder(&self) -> &MetricsRecorder {
        &self.recorder
    }

    pub(crate) fn unsent(&self) -> &Arc<UnsentBatches> {
        &self.memory
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    pub(crate) fn queue(&self) -> &Arc<Queue> {
        &self.queue
    }

    pub(crate) fn stats(&self) -> Stats {
        self.queue.stats()
    }

    /// Waits until everything queued before the call was acknowledged.
    pub(crate) fn flush(&self, timeout: Duration) -> Result<()> {
        let deadline = deadline_after(timeout);
        let (done, answer) = bounded(1);
        self.request(Control::Flush { deadline, done })?;
        if let Some(thread) = &self.thread {
            thread.thread().unpark();
        }
        match answer.recv_deadline(later(deadline, self.answer_grace)) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(Unflushed::Timeout(left))) => Err(flush_timeout(timeout, left)),
            Ok(Err(Unflushed::Dropped(rows))) => Err(Error::Dropped { rows }),
            Err(_) => Err(flush_timeout(timeout, "the flusher did not answer".into())),
        }
    }

    /// Flushes within `timeout`, stops the flusher and says what was left.
    /// Later calls report nothing left.
    pub(crate) fn shutdown(&mut self, timeout: Duration) -> ShutdownReport {
        let Some(thread) = self.thread.take() else {
            return ShutdownReport::default();
        };
        let deadline = deadline_after(timeout);
        let (done, answer) = bounded(1);
        if self.request(Control::Shutdown { deadline, done }).is_err() {
            // It died: what it held is lost, and what is queued stays there.
            let stats = self.stats();
            return ShutdownReport {
                unsent_rows: stats.pending_rows + stats.queue_depth,
                error: Some("the flusher thread is gone".into()),
                stats,
                ..ShutdownReport::default()
            };
        }
        thread.thread().unpark();
        match answer.recv_deadline(later(deadline, self.answer_grace)) {
            Ok(report) => {
                let _ = thread.join();
                // A producer that passed the `closed` check just before the
                // queue closed can push after the last drain: nobody takes
                // that record now, and the stats count it as unsent.
                let stats = self.stats();
                ShutdownReport {
                    unsent_rows: report.unsent_rows + stats.queue_depth,
                    stats,
                    ..report
                }
            }
            // Still working past its deadline: leave it detached rather than hang the program.
            Err(_) => {
                let stats = self.stats();
                ShutdownReport {
                    unsent_rows: stats.pending_rows + stats.queue_depth,
                    error: Some("the flusher did not finish in time".into()),
                    stats,
                    ..ShutdownReport::default()
                }
            }
        }
    }

    /// Hands the flusher a request; the caller wakes it.
    fn request(&self, control: Control) -> Result<()> {
        self.control
            .send(control)
            .map_err(|_| Error::Thread(std::io::Error::other("the flusher thread is gone")))
    }
}

/// A flush that did not finish within `after`, and what was left.
fn flush_timeout(after: Duration, left: String) -> Error {
    Error::Timeout {
        what: "a flush",
        after,
        left,
    }
}

/// `timeout` from now, or as far as an `Instant` goes.
fn deadline_after(timeout: Duration) -> Instant {
    later(Instant::now(), timeout)
}

/// `at + by`, saturating where an `Instant` cannot go further (a timeout of
/// `Duration::MAX` means "wait as long as it takes").
fn later(at: Instant, by: Duration) -> Instant {
    at.checked_add(by)
        .or_else(|| at.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(at)
}
