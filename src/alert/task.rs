//! The guard's alerting: a thread of its own with a one-thread tokio
//! runtime, so evaluation never runs on the application's threads nor holds
//! up the flusher. It stops (after a last, bounded webhook delivery) when
//! the guard does.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use tokio::sync::watch;

use super::runner::Runner;
use super::setup::Alerts;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::query::QueryClient;

/// How long a stopping alerting thread gives the webhook to take what is queued.
const FINISH_TIMEOUT: Duration = Duration::from_secs(5);

/// What the background evaluation has done so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AlertStats {
    /// Evaluation cycles run.
    pub cycles: u64,
    /// Transitions (firing and resolved).
    pub transitions: u64,
    /// Errors (a rule's query, a write to `events`, a webhook attempt that
    /// failed or got no answer in time, a transition it gave up or
    /// dropped), counted.
    pub errors: u64,
    /// The last error, if any.
    pub last_error: Option<String>,
    /// Transitions the webhook's receiver took (answered 2xx).
    pub webhook_delivered: u64,
    /// The alerts firing now, as `rule` or `rule{group}`.
    pub firing: Vec<String>,
}

#[derive(Debug, Default)]
struct Shared {
    cycles: AtomicU64,
    transitions: AtomicU64,
    errors: AtomicU64,
    last_error: Mutex<Option<String>>,
    webhook_delivered: AtomicU64,
    firing: Mutex<Vec<String>>,
}

/// The running background evaluation, owned by the guard.
#[derive(Debug)]
pub(crate) struct AlertTask {
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl AlertTask {
    /// Starts the thread, for rules the builder checked before anything
    /// started (`Evaluator::check`).
    pub(crate) fn start(alerts: Alerts, config: &Config) -> Result<AlertTask> {
        let client = QueryClient::new(config)?;
        let service = config.service_name().to_owned();
        let shared = Arc::new(Shared::default());
        let (stop, stopped) = watch::channel(false);
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("tc-alerts".into())
            .spawn(move || run(alerts, client, &service, stopped, &thread_shared))
            .map_err(Error::Thread)?;
        Ok(AlertTask {
            stop,
            thread: Some(thread),
            shared,
        })
    }

    /// The counters so far.
    pub(crate) fn stats(&self) -> AlertStats {
        let s = &self.shared;
        AlertStats {
            cycles: s.cycles.load(Ordering::Relaxed),
            transitions: s.transitions.load(Ordering::Relaxed),
            errors: s.errors.load(Ordering::Relaxed),
            last_error: s.last_error.lock().clone(),
            webhook_delivered: s.webhook_delivered.load(Ordering::Relaxed),
            firing: s.firing.lock().clone(),
        }
    }

    /// Stops the thread and waits for it.
    pub(crate) fn stop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for AlertTask {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(
    alerts: Alerts,
    client: QueryClient,
    service: &str,
    mut stopped: watch::Receiver<bool>,
    shared: &Shared,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            return failed(
                shared,
                format!("cannot start the alerting runtime: {error}"),
            );
        }
    };
    let interval = alerts.interval;
    runtime.block_on(async {
        let mut runner = match Runner::new(alerts, &client, service) {
            Ok(runner) => runner,
            Err(error) => return failed(shared, error.to_string()),
        };
        loop {
            tokio::select! {
                cycle = runner.cycle(SystemTime::now()) => {
                    shared.cycles.fetch_add(1, Ordering::Relaxed);
                    shared.transitions.fetch_add(cycle.transitions.len() as u64, Ordering::Relaxed);
                    shared.webhook_delivered.fetch_add(cycle.webhook_delivered, Ordering::Relaxed);
                    if let Some(last) = cycle.errors.last() {
                        shared.errors.fetch_add(cycle.errors.len() as u64, Ordering::Relaxed);
                        *shared.last_error.lock() = Some(last.clone());
                    }
                    *shared.firing.lock() = cycle.firing;
                }
                _ = stopped.changed() => break,
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                _ = stopped.changed() => break,
            }
        }
        runner.finish(FINISH_TIMEOUT).await;
    });
}

fn failed(shared: &Shared, error: String) {
    shared.errors.fetch_add(1, Ordering::Relaxed);
    *shared.last_error.lock() = Some(error);
}
