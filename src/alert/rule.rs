//! Alert rules: what to watch, when it is wrong, and how long before that
//! counts. Built in code here, or read from a TOML file.

use std::time::Duration;

use super::settings::{Absence, AbsenceSource, Anomaly, Direction, Method, Season, ServiceDown};
use super::signal::Signal;

/// Which side of the threshold is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Comparison {
    /// Wrong when the value is above the threshold.
    Above,
    /// Wrong when the value is below the threshold.
    Below,
}

/// What a rule checks.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Kind {
    /// A metric's aggregate or a log count (`log_count`) over a window.
    Threshold {
        signal: Signal,
        window: Duration,
        comparison: Comparison,
        threshold: f64,
        clear: Option<f64>,
    },
    Absence {
        source: AbsenceSource,
        service: Option<String>,
        per_service: bool,
        after: Duration,
        lookback: Duration,
    },
    ServiceStatus {
        services: Vec<String>,
        states: Vec<String>,
        longer_than: Duration,
        lookback: Duration,
    },
    Anomaly {
        signal: Signal,
        method: Method,
        bucket: Duration,
        baseline: u32,
        season: Season,
        score: f64,
        clear: Option<f64>,
        direction: Direction,
        min_points: u32,
        min_spread: f64,
    },
}

impl Kind {
    /// The `kind` detail of its transitions.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Kind::Threshold {
                signal: Signal::Metric(_),
                ..
            } => "threshold",
            Kind::Threshold {
                signal: Signal::Logs(_),
                ..
            } => "log_count",
            Kind::Absence { .. } => "absence",
            Kind::ServiceStatus { .. } => "service_status",
            Kind::Anomaly { .. } => "anomaly",
        }
    }
}

/// One alert rule: a check, how long it must hold before it fires
/// ([`fire_after`](Rule::fire_after), `for` in a file) and how long it must
/// be clear before it resolves ([`resolve_after`](Rule::resolve_after)).
///
/// ```
/// use std::time::Duration;
/// use tracing_clickhouse::alert::{Comparison, LogSignal, MetricSignal, Rule};
///
/// let latency = Rule::threshold(
///     "slow_checkout",
///     MetricSignal::new("http.latency").group_by(["route"]),
///     Comparison::Above,
///     0.5,
///     Duration::from_secs(300),
/// )
/// .fire_after(Duration::from_secs(120))
/// .clear_at(0.4);
/// let errors = Rule::threshold(
///     "errors",
///     LogSignal::errors().per_service(),
///     Comparison::Above,
///     10.0,
///     Duration::from_secs(300),
/// );
/// assert!(latency.validate().is_ok() && errors.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq)]
#[must_use]
pub struct Rule {
    pub(crate) name: String,
    pub(crate) severity: String,
    pub(crate) fire_after: Duration,
    pub(crate) resolve_after: Duration,
    pub(crate) message: Option<String>,
    pub(crate) kind: Kind,
}

impl Rule {
    fn new(name: impl Into<String>, kind: Kind) -> Self {
        Rule {
            name: name.into(),
            severity: "warning".to_owned(),
            fire_after: Duration::ZERO,
            resolve_after: Duration::ZERO,
            message: None,
            kind,
        }
    }

    /// A metric's aggregate over the last `window`, per group, against a
    /// threshold. Windows of whole hours read `metrics_hourly`, of whole
    /// days (two or more) `metrics_daily`, others the raw `metrics`.
    ///
    /// With a [`LogSignal`](super::LogSignal), the count of its logs over the last `window`
    /// (whole minutes, from `logs_by_level`): the rule's kind is then
    /// `log_count`, as in a file.
    pub fn threshold(
        name: impl Into<String>,
        signal: impl Into<Signal>,
        comparison: Comparison,
        threshold: f64,
        window: Duration,
    ) -> Self {
        let kind = Kind::Threshold {
            signal: signal.into(),
            window,
            comparison,
            threshold,
            clear: None,
        };
        Rule::new(name, kind)
    }

    /// Fires when there has been no row for `after` (where, and for which
    /// services, as [`Absence`] says).
    pub fn absence(name: impl Into<String>, after: Duration, absence: Absence) -> Self {
        let Absence {
            source,
            service,
            per_service,
            lookback,
        } = absence;
        let kind = Kind::Absence {
            source,
            service,
            per_service,
            after,
            lookback,
        };
        Rule::new(name, kind)
    }

    /// Fires when a checked service (the monitor's `service_status`
    /// events) has been down for longer than `longer_than` (which services
    /// and states, as [`ServiceDown`] says).
    pub fn service_status(
        name: impl Into<String>,
        longer_than: Duration,
        down: ServiceDown,
    ) -> Self {
        let ServiceDown {
            services,
            states,
            lookback,
        } = down;
        let kind = Kind::ServiceStatus {
            services,
            states,
            longer_than,
            lookback,
        };
        Rule::new(name, kind)
    }

    /// Scores the current bucket of `signal` (a
    /// [`MetricSignal`](super::MetricSignal) or a
    /// [`LogSignal`](super::LogSignal)) against a baseline of buckets, as [`Anomaly`] says.
    pub fn anomaly(name: impl Into<String>, signal: impl Into<Signal>, anomaly: Anomaly) -> Self {
        let signal = signal.into();
        // A count that is usually zero has no spread at all: without a
        // floor, its first log would be an infinitely unlikely anomaly.
        let min_spread = anomaly.min_spread.unwrap_or(match signal {
            Signal::Logs(_) => 1.0,
            Signal::Metric(_) => 0.0,
        });
        let kind = Kind::Anomaly {
            signal,
            method: anomaly.method,
            bucket: anomaly.bucket,
            baseline: anomaly.baseline,
            season: anomaly.season,
            score: anomaly.score,
            clear: None,
            direction: anomaly.direction,
            min_points: (anomaly.min_points).unwrap_or(anomaly.baseline.div_ceil(2).max(3)),
            min_spread,
        };
        Rule::new(name, kind)
    }

    /// `critical`, `warning` (the default) or `info`: passed along.
    pub fn severity(mut self, severity: impl Into<String>) -> Self {
        self.severity = severity.into();
        self
    }

    /// How long the condition must hold before the alert fires (zero: at
    /// the first evaluation that sees it).
    pub fn fire_after(mut self, duration: Duration) -> Self {
        self.fire_after = duration;
        self
    }

    /// How long the condition must be clear before a firing alert resolves.
    pub fn resolve_after(mut self, duration: Duration) -> Self {
        self.resolve_after = duration;
        self
    }

    /// The `message` of its transitions (the rule's name unless given).
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Hysteresis in value: a firing threshold or log count rule resolves
    /// only once the value is back past `clear` (an anomaly rule: once the
    /// score's magnitude is at most `clear`). Between the two it holds.
    /// Absence and service status rules have no value to clear at: it has
    /// no effect on them.
    pub fn clear_at(mut self, clear_value: f64) -> Self {
        match &mut self.kind {
            Kind::Threshold { clear, .. } | Kind::Anomaly { clear, .. } => {
                *clear = Some(clear_value);
            }
            Kind::Absence { .. } | Kind::ServiceStatus { .. } => {}
        }
        self
    }

    /// The rule's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `threshold`, `log_count`, `absence`, `service_status` or `anomaly`.
    pub fn kind(&self) -> &'static str {
        self.kind.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::signal::{LogSignal, MetricSignal};

    const MIN5: Duration = Duration::from_secs(300);

    #[test]
    fn good_rules_pass_and_settings_reach_their_kind() {
        let settings = Anomaly {
            method: Method::Mad,
            bucket: Duration::from_secs(3600),
            baseline: 14,
            season: Season::Weekly,
            score: 3.5,
            direction: Direction::Above,
            ..Anomaly::default()
        };
        let rule = Rule::anomaly("a", MetricSignal::new("m"), settings).clear_at(2.0);
        assert_eq!(rule.validate(), Ok(()));
        let Kind::Anomaly {
            season,
            score,
            clear,
            direction,
            min_points,
            min_spread,
            ..
        } = rule.kind
        else {
            panic!("an anomaly rule");
        };
        assert_eq!((season, score, clear), (Season::Weekly, 3.5, Some(2.0)));
        assert_eq!(
            (direction, min_points, min_spread),
            (Direction::Above, 7, 0.0)
        );
        let logs = Rule::anomaly("l", LogSignal::errors(), Anomaly::default());
        let Kind::Anomaly {
            min_points,
            min_spread,
            ..
        } = logs.kind
        else {
            panic!("an anomaly rule");
        };
        assert_eq!((min_points, min_spread), (6, 1.0));
        let down = ServiceDown {
            services: vec!["db".to_owned()],
            ..ServiceDown::default()
        };
        let rule = Rule::service_status("db", MIN5, down).clear_at(1.0);
        assert_eq!(rule.validate(), Ok(()));
        assert_eq!(rule.kind(), "service_status");
    }
}
