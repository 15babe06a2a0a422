//! Alert rules: what to watch, when it is wrong, and how long before that
//! counts. Built in code here, or read from a TOML file.

use std::time::Duration;

use crate::record::Severity;

/// Which side of the threshold is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Comparison {
    /// Wrong when the value is above the threshold.
    Above,
    /// Wrong when the value is below the threshold.
    Below,
}

/// How a metric's values in a window (or a bucket) become one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Aggregation {
    /// The mean of the values.
    Avg,
    /// The smallest value.
    Min,
    /// The largest value.
    Max,
    /// The sum of the values.
    Sum,
    /// How many values were written.
    Count,
    /// A counter's increase (the sum of its `Delta`); read from the raw
    /// `metrics` table only, as the rollups keep no deltas.
    Increase,
}

/// A metric, aggregated per group.
#[derive(Clone, Debug, PartialEq)]
#[must_use]
pub struct MetricSignal {
    pub(crate) name: String,
    pub(crate) service: Option<String>,
    pub(crate) attributes: Vec<(String, String)>,
    pub(crate) aggregation: Aggregation,
    pub(crate) group_by: Vec<String>,
}

impl MetricSignal {
    /// The metric `name`, averaged, over every series as one group.
    pub fn new(name: impl Into<String>) -> Self {
        MetricSignal {
            name: name.into(),
            service: None,
            attributes: Vec::new(),
            aggregation: Aggregation::Avg,
            group_by: Vec::new(),
        }
    }

    /// How the values become one (the mean unless told).
    pub fn aggregation(mut self, aggregation: Aggregation) -> Self {
        self.aggregation = aggregation;
        self
    }

    /// Only this `ServiceName`.
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// Only series whose attribute `key` is `value`.
    pub fn attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.push((key.into(), value.into()));
        self
    }

    /// One group per value of these attributes; `service` is the
    /// `ServiceName`.
    pub fn group_by<S: Into<String>>(mut self, keys: impl IntoIterator<Item = S>) -> Self {
        self.group_by = keys.into_iter().map(Into::into).collect();
        self
    }
}

/// A count of logs, from the `logs_by_level` rollup.
#[derive(Clone, Debug, PartialEq)]
#[must_use]
pub struct LogSignal {
    pub(crate) levels: Vec<Severity>,
    pub(crate) service: Option<String>,
    pub(crate) per_service: bool,
}

impl LogSignal {
    /// Logs of these levels, all services together.
    pub fn levels(levels: impl IntoIterator<Item = Severity>) -> Self {
        LogSignal {
            levels: levels.into_iter().collect(),
            service: None,
            per_service: false,
        }
    }

    /// `ERROR` and `FATAL` logs.
    pub fn errors() -> Self {
        LogSignal::levels([Severity::Error, Severity::Fatal])
    }

    /// Only this `ServiceName`.
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// One group per `ServiceName`.
    pub fn per_service(mut self) -> Self {
        self.per_service = true;
        self
    }
}

/// What an anomaly rule watches.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Signal {
    /// A metric, aggregated per bucket.
    Metric(MetricSignal),
    /// A log count per bucket (a bucket without logs counts 0).
    Logs(LogSignal),
}

/// How an anomaly rule scores the current bucket against its baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// `(x - mean) / stddev` of the baseline.
    ZScore,
    /// `(x - median) / (1.4826 × MAD)`: robust to outliers in the baseline
    /// (1.4826 makes the MAD of normal noise its standard deviation).
    Mad,
}

/// Which buckets form an anomaly rule's baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Season {
    /// The buckets just before the current one.
    None,
    /// The same bucket on each of the days before.
    Daily,
    /// The same bucket on each of the weeks before.
    Weekly,
}

impl Season {
    pub(crate) fn period(self) -> Option<Duration> {
        match self {
            Season::None => None,
            Season::Daily => Some(Duration::from_secs(86_400)),
            Season::Weekly => Some(Duration::from_secs(7 * 86_400)),
        }
    }
}

/// Which way an anomaly counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Direction {
    /// Only values above the baseline.
    Above,
    /// Only values below it.
    Below,
    /// Either way.
    Both,
}

/// Where an absence rule looks for data.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AbsenceSource {
    /// Any log row.
    Logs,
    /// Metric rows (of one name, if given).
    Metrics(Option<String>),
    /// Any span.
    Spans,
}

/// What a rule checks.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Kind {
    Threshold {
        signal: MetricSignal,
        window: Duration,
        comparison: Comparison,
        threshold: f64,
        clear: Option<f64>,
    },
    LogCount {
        signal: LogSignal,
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
            Kind::Threshold { .. } => "threshold",
            Kind::LogCount { .. } => "log_count",
            Kind::Absence { .. } => "absence",
            Kind::ServiceStatus { .. } => "service_status",
            Kind::Anomaly { .. } => "anomaly",
        }
    }
}

/// How far back absence and service status rules look by default.
pub(crate) const DEFAULT_LOOKBACK: Duration = Duration::from_secs(86_400);
/// An anomaly's score beyond which it fires, by default.
pub(crate) const DEFAULT_SCORE: f64 = 4.0;

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
/// let errors = Rule::log_count(
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
    pub fn threshold(
        name: impl Into<String>,
        signal: MetricSignal,
        comparison: Comparison,
        threshold: f64,
        window: Duration,
    ) -> Self {
        let kind = Kind::Threshold {
            signal,
            window,
            comparison,
            threshold,
            clear: None,
        };
        Rule::new(name, kind)
    }

    /// A count of logs over the last `window` (whole minutes) against a
    /// threshold.
    pub fn log_count(
        name: impl Into<String>,
        signal: LogSignal,
        comparison: Comparison,
        threshold: f64,
        window: Duration,
    ) -> Self {
        let kind = Kind::LogCount {
            signal,
            window,
            comparison,
            threshold,
            clear: None,
        };
        Rule::new(name, kind)
    }

    /// Fires when `source` has had no row for `after` (per service with
    /// [`per_service`](Rule::per_service): a service seen in the lookback
    /// that stopped reporting).
    pub fn absence(name: impl Into<String>, source: AbsenceSource, after: Duration) -> Self {
        let kind = Kind::Absence {
            source,
            service: None,
            per_service: false,
            after,
            lookback: DEFAULT_LOOKBACK,
        };
        Rule::new(name, kind)
    }

    /// Fires when a checked service (the monitor's `service_status`
    /// events) has been `down` for longer than `longer_than`.
    pub fn service_status(name: impl Into<String>, longer_than: Duration) -> Self {
        let kind = Kind::ServiceStatus {
            services: Vec::new(),
            states: vec!["down".to_owned()],
            longer_than,
            lookback: Duration::from_secs(7 * 86_400),
        };
        Rule::new(name, kind)
    }

    /// Scores the current `bucket` of `signal` against a baseline of
    /// `baseline` buckets (the ones before it, or with
    /// [`seasonal`](Rule::seasonal) the same bucket on days or weeks
    /// before), and fires beyond a score of 4 (see [`score`](Rule::score)).
    pub fn anomaly(
        name: impl Into<String>,
        signal: Signal,
        method: Method,
        bucket: Duration,
        baseline: u32,
    ) -> Self {
        // A count that is usually zero has no spread at all: without a
        // floor, its first log would be an infinitely unlikely anomaly.
        let min_spread = match signal {
            Signal::Logs(_) => 1.0,
            Signal::Metric(_) => 0.0,
        };
        let kind = Kind::Anomaly {
            signal,
            method,
            bucket,
            baseline,
            season: Season::None,
            score: DEFAULT_SCORE,
            clear: None,
            direction: Direction::Both,
            min_points: baseline.div_ceil(2).max(3),
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
    pub fn clear_at(mut self, clear_value: f64) -> Self {
        match &mut self.kind {
            Kind::Threshold { clear, .. }
            | Kind::LogCount { clear, .. }
            | Kind::Anomaly { clear, .. } => *clear = Some(clear_value),
            Kind::Absence { .. } | Kind::ServiceStatus { .. } => {}
        }
        self
    }

    /// Absence: one group per `ServiceName`. Service status: no effect.
    pub fn per_service(mut self) -> Self {
        if let Kind::Absence { per_service, .. } = &mut self.kind {
            *per_service = true;
        }
        self
    }

    /// Absence: only this `ServiceName`.
    pub fn service(mut self, name: impl Into<String>) -> Self {
        if let Kind::Absence { service, .. } = &mut self.kind {
            *service = Some(name.into());
        }
        self
    }

    /// Service status: only these checked services (all unless given).
    pub fn services<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        if let Kind::ServiceStatus { services, .. } = &mut self.kind {
            *services = names.into_iter().map(Into::into).collect();
        }
        self
    }

    /// Service status: the states that count as down (`down` unless given;
    /// the monitor writes `up`, `down` and `degraded`).
    pub fn states<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        if let Kind::ServiceStatus { states, .. } = &mut self.kind {
            *states = names.into_iter().map(Into::into).collect();
        }
        self
    }

    /// Absence and service status: how far back to look for the last row.
    pub fn lookback(mut self, duration: Duration) -> Self {
        match &mut self.kind {
            Kind::Absence { lookback, .. } | Kind::ServiceStatus { lookback, .. } => {
                *lookback = duration;
            }
            _ => {}
        }
        self
    }

    /// Anomaly: the baseline from the same bucket on days or weeks before.
    pub fn seasonal(mut self, value: Season) -> Self {
        if let Kind::Anomaly { season, .. } = &mut self.kind {
            *season = value;
        }
        self
    }

    /// Anomaly: the score's magnitude beyond which it fires.
    pub fn score(mut self, value: f64) -> Self {
        if let Kind::Anomaly { score, .. } = &mut self.kind {
            *score = value;
        }
        self
    }

    /// Anomaly: which way counts (both unless told).
    pub fn direction(mut self, value: Direction) -> Self {
        if let Kind::Anomaly { direction, .. } = &mut self.kind {
            *direction = value;
        }
        self
    }

    /// Anomaly: the fewest baseline buckets with data for a judgement (half
    /// the baseline, at least 3, unless told).
    pub fn min_points(mut self, value: u32) -> Self {
        if let Kind::Anomaly { min_points, .. } = &mut self.kind {
            *min_points = value;
        }
        self
    }

    /// Anomaly: the smallest spread a score divides by (1 for log counts,
    /// 0 for metrics, unless told): over a baseline that never moves, a
    /// difference of `score × min_spread` fires; with 0, any difference
    /// does.
    pub fn min_spread(mut self, value: f64) -> Self {
        if let Kind::Anomaly { min_spread, .. } = &mut self.kind {
            *min_spread = value;
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

    const MIN5: Duration = Duration::from_secs(300);

    #[test]
    fn good_rules_pass_and_setters_reach_their_kind() {
        let rule = Rule::anomaly(
            "a",
            Signal::Metric(MetricSignal::new("m")),
            Method::Mad,
            Duration::from_secs(3600),
            14,
        )
        .seasonal(Season::Weekly)
        .score(3.5)
        .clear_at(2.0)
        .direction(Direction::Above);
        assert_eq!(rule.validate(), Ok(()));
        let Kind::Anomaly {
            season,
            score,
            clear,
            direction,
            min_points,
            ..
        } = rule.kind
        else {
            panic!("an anomaly rule");
        };
        assert_eq!((season, score, clear), (Season::Weekly, 3.5, Some(2.0)));
        assert_eq!((direction, min_points), (Direction::Above, 7));
        let rule = Rule::service_status("db", MIN5)
            .services(["db"])
            .clear_at(1.0);
        assert_eq!(rule.validate(), Ok(()));
        assert_eq!(rule.kind(), "service_status");
    }
}
