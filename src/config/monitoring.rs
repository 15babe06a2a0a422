//! The sections for metric snapshots, the system monitor with its service
//! checks, and the console, with their defaults and their checks.

use std::time::Duration;

use super::bounds::{CHECK_INTERVAL, POSITIVE, WAIT};
use super::values::redact_url;
use crate::error::{ConfigError, invalid};
use crate::record::Severity;

/// The metrics recorder's snapshots and limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MetricsConfig {
    /// How often the recorder's series are written to `metrics` (one row
    /// per series each time); from 1 s to 365 days.
    pub(crate) interval: Duration,
    /// Series (metric name plus labels) the recorder keeps; registrations
    /// of new ones past it are refused and counted.
    pub(crate) max_series: usize,
    /// Whether each snapshot also records the pipeline's own counters
    /// ([`Stats`](crate::Stats)) as `tracing_clickhouse.*` metrics.
    pub(crate) pipeline_metrics: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            interval: Duration::from_secs(10),
            max_series: 10_000,
            pipeline_metrics: true,
        }
    }
}

/// What the monitor watches, and how often.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MonitorConfig {
    /// Whether the system gauges are recorded every `interval`.
    pub(crate) system: bool,
    /// How often the system is read (the recorder's snapshots decide how
    /// often it is written); from 1 s to 365 days.
    pub(crate) interval: Duration,
    /// Services to check.
    pub(crate) services: Vec<ServiceCheck>,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            system: true,
            interval: Duration::from_secs(10),
            services: Vec::new(),
        }
    }
}

/// A service to check: reachable over TCP, or answering HTTP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceCheck {
    /// The name in events and statuses.
    pub(crate) name: String,
    /// What to check.
    pub(crate) target: CheckTarget,
    /// Time between checks; from 10 ms to 365 days.
    pub(crate) interval: Duration,
    /// A check that takes longer failed (the service is down); positive, at
    /// most 365 days.
    pub(crate) timeout: Duration,
    /// A check that succeeds slower than this finds the service degraded;
    /// at most 365 days.
    pub(crate) degraded_after: Duration,
}

impl ServiceCheck {
    /// A check of `target` every 10 s, with a 2 s timeout, degraded past 1 s.
    pub fn new(name: impl Into<String>, target: CheckTarget) -> Self {
        ServiceCheck {
            name: name.into(),
            target,
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            degraded_after: Duration::from_secs(1),
        }
    }

    /// Sets the time between checks.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Sets the timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the latency past which the service counts as degraded.
    pub fn degraded_after(mut self, latency: Duration) -> Self {
        self.degraded_after = latency;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.name.trim().is_empty() {
            return Err(invalid(
                "ServiceCheck::name",
                &self.name,
                "a non-empty name",
            ));
        }
        CHECK_INTERVAL.check("ServiceCheck::interval", self.interval)?;
        POSITIVE.check("ServiceCheck::timeout", self.timeout)?;
        WAIT.check("ServiceCheck::degraded_after", self.degraded_after)?;
        if let CheckTarget::Http(url) = &self.target
            && (!url.starts_with("http://") || url::Url::parse(url).is_err())
        {
            return Err(invalid(
                "CheckTarget::Http",
                &redact_url(url),
                "an http:// URL (for HTTPS, check the port with CheckTarget::Tcp)",
            ));
        }
        Ok(())
    }
}

/// Where a service is checked. `Debug` hides credentials in a URL.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckTarget {
    /// `host:port`: up when a TCP connection opens.
    Tcp(String),
    /// `http://host[:port]/path`: up when a `GET` answers below 500;
    /// degraded on 5xx. (HTTPS is not checked yet: use `Tcp`.)
    Http(String),
}

impl std::fmt::Debug for CheckTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckTarget::Tcp(address) => f.debug_tuple("Tcp").field(address).finish(),
            CheckTarget::Http(url) => f.debug_tuple("Http").field(&redact_url(url)).finish(),
        }
    }
}

/// The readable console: one line per log, as `tracing_subscriber::fmt`
/// prints them, rendered by the pipeline off the application's threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConsoleConfig {
    /// Whether lines are printed. [`Builder::install`](crate::Builder::install)
    /// (and [`init`](crate::init)) print them unless told not to;
    /// [`Builder::build`](crate::Builder::build) only when asked.
    pub(crate) enabled: bool,
    /// Logs below this level are not printed (they are still stored).
    pub(crate) level: Severity,
    /// Whether levels are colored.
    pub(crate) colors: Colors,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            enabled: true,
            level: Severity::Trace,
            colors: Colors::Auto,
        }
    }
}

/// Whether the console colors its lines (ANSI escapes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Colors {
    /// On a terminal, unless `NO_COLOR` is set; plain when piped.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}
