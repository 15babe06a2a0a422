//! One evaluation cycle and where its transitions go: `events` (kept and
//! written again next cycle if ClickHouse did not take them), the callback
//! and the webhook. Both the guard's background thread and `chlog alerts
//! run` drive a [`Runner`].

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use super::engine::Evaluator;
use super::setup::{Alerts, Callback};
use super::status;
use super::transition::Transition;
use super::webhook::Deliveries;
use crate::error::Result;
use crate::query::QueryClient;

/// Transitions kept for `events` while ClickHouse does not take them, at
/// most; the oldest beyond are dropped and counted.
const MAX_UNWRITTEN: usize = 10_000;

/// What one cycle did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Cycle {
    /// The transitions of this cycle.
    pub transitions: Vec<Transition>,
    /// What went wrong: a rule's query, a write to `events`, and the
    /// webhook's failures since the last cycle.
    pub errors: Vec<String>,
    /// Transitions still waiting to be written to `events`.
    pub unwritten: usize,
    /// Transitions dropped from that wait so far (it is bounded).
    pub unwritten_dropped: u64,
    /// The alerts firing after this cycle, by key (`rule` or
    /// `rule{group}`), in the rules' order.
    pub firing: Vec<String>,
    /// Transitions the webhook's receiver took (answered 2xx) since the
    /// last cycle (its deliveries run on their own, between cycles).
    pub webhook_delivered: u64,
}

/// Evaluates on demand and delivers what changed.
#[derive(Debug)]
pub struct Runner {
    evaluator: Evaluator,
    client: QueryClient,
    callback: Option<CallbackBox>,
    deliveries: Option<(Deliveries, tokio::task::JoinHandle<()>)>,
    unwritten: VecDeque<Transition>,
    unwritten_dropped: u64,
    resumed: bool,
    /// The webhook's failed attempts, given-up, dropped and delivered
    /// transitions as the last cycle reported them.
    webhook_reported: [u64; 4],
}

/// A callback with a `Debug`.
struct CallbackBox(Callback);

impl std::fmt::Debug for CallbackBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fn(&Transition)")
    }
}

impl Runner {
    /// A runner of `alerts` reading and writing through `client`, naming
    /// `service` in transitions whose group has no service. With a webhook,
    /// it must be called on a tokio runtime: the deliveries run on it.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::Error::Config) naming the setting when the
    /// interval or a webhook setting is out of its bounds; an invalid rule;
    /// a webhook and no tokio runtime.
    pub fn new(alerts: Alerts, client: &QueryClient, service: &str) -> Result<Runner> {
        alerts.validate()?;
        if alerts.webhook.is_some() && tokio::runtime::Handle::try_current().is_err() {
            return Err(crate::error::invalid_query(
                "webhook",
                "alert::Runner::new with a webhook needs a tokio runtime (its deliveries run on it)",
            ));
        }
        let evaluator = Evaluator::new(client, service, alerts.rules)?;
        Ok(Runner {
            evaluator,
            client: client.clone(),
            callback: alerts.callback.map(CallbackBox),
            deliveries: alerts.webhook.map(Deliveries::start),
            unwritten: VecDeque::new(),
            unwritten_dropped: 0,
            resumed: false,
            webhook_reported: [0; 4],
        })
    }

    /// Evaluates every rule at `at` and delivers the transitions. The first
    /// cycle that reaches ClickHouse first takes up the alerts `events` says
    /// are firing.
    pub async fn cycle(&mut self, at: SystemTime) -> Cycle {
        let mut cycle = Cycle::default();
        self.webhook_since_last(&mut cycle);
        if !self.resumed {
            match self.evaluator.resume().await {
                Ok(_) => self.resumed = true,
                Err(error) => {
                    // Without knowing what fires, evaluating could fire twice.
                    cycle
                        .errors
                        .push(format!("reading the firing alerts: {error}"));
                    cycle.unwritten = self.unwritten.len();
                    cycle.unwritten_dropped = self.unwritten_dropped;
                    return cycle;
                }
            }
        }
        let evaluation = self.evaluator.evaluate(at).await;
        for (rule, error) in evaluation.errors {
            cycle.errors.push(format!("rule {rule:?}: {error}"));
        }
        for transition in &evaluation.transitions {
            if let Some(callback) = &self.callback {
                // A panicking callback must not take alerting down with it.
                let call = std::panic::AssertUnwindSafe(|| (callback.0)(transition));
                if std::panic::catch_unwind(call).is_err() {
                    cycle
                        .errors
                        .push(format!("the callback panicked on {}", transition.id()));
                }
            }
            if let Some((deliveries, _)) = &self.deliveries {
                deliveries.send(transition);
            }
            self.unwritten.push_back(transition.clone());
        }
        while self.unwritten.len() > MAX_UNWRITTEN {
            self.unwritten.pop_front();
            self.unwritten_dropped += 1;
        }
        while let Some(transition) = self.unwritten.front() {
            let timeout = self.evaluator.query_timeout();
            match tokio::time::timeout(timeout, status::write_transition(&self.client, transition))
                .await
            {
                Ok(Ok(())) => {
                    self.unwritten.pop_front();
                }
                Ok(Err(error)) => {
                    cycle.errors.push(format!("writing to events: {error}"));
                    break;
                }
                Err(_) => {
                    let error = super::engine::timed_out("a transition's write", timeout);
                    cycle.errors.push(format!("writing to events: {error}"));
                    break;
                }
            }
        }
        cycle.transitions = evaluation.transitions;
        cycle.unwritten = self.unwritten.len();
        cycle.unwritten_dropped = self.unwritten_dropped;
        cycle.firing = (self.evaluator.firing().iter())
            .map(|(rule, group)| super::transition::key(rule, group))
            .collect();
        cycle
    }

    /// What the webhook did since the last cycle (its deliveries run on
    /// their own, between cycles): transitions delivered, and as errors the
    /// failed attempts (an error answer, a refused connection, no answer in
    /// time), transitions given up and transitions dropped.
    fn webhook_since_last(&mut self, cycle: &mut Cycle) {
        let Some((deliveries, _)) = &self.deliveries else {
            return;
        };
        let stats = &deliveries.stats;
        let now = [
            stats.failed_attempts.load(Ordering::Relaxed),
            stats.given_up.load(Ordering::Relaxed),
            stats.dropped.load(Ordering::Relaxed),
            stats.delivered.load(Ordering::Relaxed),
        ];
        let [failed, given_up, dropped, delivered] =
            std::array::from_fn(|i| now[i].saturating_sub(self.webhook_reported[i]));
        self.webhook_reported = now;
        cycle.webhook_delivered = delivered;
        let errors = &mut cycle.errors;
        if given_up > 0 {
            let attempts = deliveries.attempts;
            errors.push(format!(
                "webhook: {given_up} transitions given up after {attempts} attempts each"
            ));
        }
        if dropped > 0 {
            errors.push(format!(
                "webhook: {dropped} transitions dropped (too many were waiting for it)"
            ));
        }
        if failed > 0 {
            let why = deliveries.last_failure.lock().clone().unwrap_or_default();
            errors.push(format!(
                "webhook: {failed} attempts failed, the last: {why}"
            ));
        }
    }

    /// Gives up on a query or a write after `timeout`
    /// (30 seconds unless told).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.evaluator = self.evaluator.timeout(timeout);
        self
    }

    /// Waits (at most `timeout`) for the webhook to take what is queued,
    /// then stops it. Returns how many transitions it did not deliver
    /// (given up, dropped, or still queued at the timeout).
    pub async fn finish(self, timeout: Duration) -> u64 {
        let Some((deliveries, task)) = self.deliveries else {
            return 0;
        };
        let stats = std::sync::Arc::clone(&deliveries.stats);
        // Closing the queue lets the task end once it is empty.
        drop(deliveries);
        let mut task = task;
        if tokio::time::timeout(timeout, &mut task).await.is_err() {
            task.abort();
        }
        let delivered = stats.delivered.load(Ordering::Relaxed);
        stats
            .queued
            .load(Ordering::Relaxed)
            .saturating_sub(delivered)
    }
}
