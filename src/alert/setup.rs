//! What alerting runs with: the rules, the interval, where transitions go;
//! ([`Builder::alerts`](crate::Builder::alerts) has the guard evaluate them).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::rule::Rule;
use super::transition::Transition;
use super::webhook::Webhook;
use crate::config::bounds::ALERT_INTERVAL;
use crate::error::ConfigError;

/// A function called with every transition, on the alerting thread.
pub(crate) type Callback = Arc<dyn Fn(&Transition) + Send + Sync>;

/// How often rules are evaluated unless told.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// Rules and where their transitions go: always `events`; a webhook and a
/// callback if given.
///
/// ```no_run
/// use std::time::Duration;
/// use tracing_clickhouse::alert::{Alerts, Comparison, LogSignal, Rule, Webhook};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let errors = Rule::threshold(
///     "errors",
///     LogSignal::errors().per_service(),
///     Comparison::Above,
///     10.0,
///     Duration::from_secs(300),
/// );
/// let alerts = Alerts::new(vec![errors])
///     .interval(Duration::from_secs(60))
///     .webhook(Webhook::new("https://hooks.example.com/alerts")?)
///     .on_transition(|t| eprintln!("{} {:?}", t.key, t.kind));
/// let _telemetry = tracing_clickhouse::builder().alerts(alerts).install()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct Alerts {
    pub(crate) rules: Vec<Rule>,
    pub(crate) interval: Duration,
    pub(crate) webhook: Option<Webhook>,
    pub(crate) callback: Option<Callback>,
}

impl fmt::Debug for Alerts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Alerts")
            .field("rules", &self.rules)
            .field("interval", &self.interval)
            .field("webhook", &self.webhook)
            .field(
                "callback",
                &self.callback.as_ref().map(|_| "Fn(&Transition)"),
            )
            .finish()
    }
}

impl Alerts {
    /// These rules, every 30 seconds, to `events` only.
    pub fn new(rules: Vec<Rule>) -> Self {
        Alerts {
            rules,
            interval: DEFAULT_INTERVAL,
            webhook: None,
            callback: None,
        }
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The time between evaluations.
    pub fn evaluation_interval(&self) -> Duration {
        self.interval
    }

    /// Evaluates every `interval` (30 s unless told; from 1 s to 365 days,
    /// or the builder or [`Runner::new`](super::Runner::new) refuses the
    /// alerts, naming `Alerts::interval`).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Checks the interval and the webhook against the bounds their
    /// setters document (the rules are checked on their own).
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        ALERT_INTERVAL.check("Alerts::interval", self.interval)?;
        match &self.webhook {
            Some(webhook) => webhook.validate(),
            None => Ok(()),
        }
    }

    /// Posts every transition to this webhook as JSON
    /// (`Webhook::new(url)?`, its retries and timeout as it says).
    pub fn webhook(mut self, webhook: Webhook) -> Self {
        self.webhook = Some(webhook);
        self
    }

    /// Calls `callback` with every transition, on the alerting thread (keep
    /// it short: evaluation waits for it).
    pub fn on_transition(mut self, callback: impl Fn(&Transition) + Send + Sync + 'static) -> Self {
        self.callback = Some(Arc::new(callback));
        self
    }
}
