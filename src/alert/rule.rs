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

impl Signal {
    /// Whether it has groups (else one alert, `""`).
    pub(crate) fn grouped(&self) -> bool {
        match self {
            Signal::Metric(metric) => !metric.group_by.is_empty(),
            Signal::Logs(logs) => logs.per_service,
        }
    }

    /// The one service it is about, if it names one.
    pub(crate) fn service(&self) -> Option<&str> {
        match self {
            Signal::Metric(metric) => metric.service.as_deref(),
            Signal::Logs(logs) => logs.service.as_deref(),
        }
    }
}

impl From<MetricSignal> for Signal {
    fn from(signal: MetricSignal) -> Signal {
        Signal::Metric(signal)
    }
}

impl From<LogSignal> for Signal {
    fn from(signal: LogSignal) -> Signal {
        Signal::Logs(signal)
    }
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

/// An absence rule's settings besides how long the silence is
/// ([`Rule::absence`]); `Absence::default()` is any log row, over all
/// services, in the last day.
///
/// ```
/// use tracing_clickhouse::alert::{Absence, AbsenceSource};
///
/// // One alert per service that logged in the last day and stopped.
/// let per_service = Absence { per_service: true, ..Absence::default() };
/// // One alert when no span of `checkout` arrives.
/// let checkout = Absence {
///     source: AbsenceSource::Spans,
///     service: Some("checkout".into()),
///     ..Absence::default()
/// };
/// # let _ = (per_service, checkout);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Absence {
    /// Where to look for rows (any log row unless told).
    pub source: AbsenceSource,
    /// Only this `ServiceName`: one alert, named after it, which fires
    /// also for a service that never reported.
    pub service: Option<String>,
    /// One alert per `ServiceName` seen in the lookback that stopped.
    pub per_service: bool,
    /// How far back to look for the last row (a day unless told); longer
    /// than the rule's `after`.
    pub lookback: Duration,
}

impl Default for Absence {
    fn default() -> Self {
        Absence {
            source: AbsenceSource::Logs,
            service: None,
            per_service: false,
            lookback: DEFAULT_LOOKBACK,
        }
    }
}

/// A service status rule's settings besides how long a service may be down
/// ([`Rule::service_status`]); `ServiceDown::default()` is every checked
/// service, `down`, looking back a week.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceDown {
    /// Only these checked services (every one if empty).
    pub services: Vec<String>,
    /// The states that count as down (`down` unless told; the monitor
    /// writes `up`, `down` and `degraded`).
    pub states: Vec<String>,
    /// How far back to look for a service's last status (a week unless
    /// told).
    pub lookback: Duration,
}

impl Default for ServiceDown {
    fn default() -> Self {
        ServiceDown {
            services: Vec::new(),
            states: vec!["down".to_owned()],
            lookback: Duration::from_secs(7 * 86_400),
        }
    }
}

/// An anomaly rule's settings ([`Rule::anomaly`]): how the current bucket
/// is scored against a baseline of buckets, and beyond which score it
/// fires. `Anomaly::default()` scores 5-minute buckets against the 12
/// before (an hour) by their median and MAD, and fires beyond 4 either way.
///
/// ```
/// use std::time::Duration;
/// use tracing_clickhouse::alert::{Anomaly, Direction, Season};
///
/// // Hourly buckets against the same hour on the 7 days before, spikes only.
/// let daily = Anomaly {
///     bucket: Duration::from_secs(3600),
///     baseline: 7,
///     season: Season::Daily,
///     direction: Direction::Above,
///     ..Anomaly::default()
/// };
/// # let _ = daily;
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Anomaly {
    /// How the bucket is scored (the median and MAD unless told).
    pub method: Method,
    /// The bucket's length (5 minutes unless told; whole minutes for logs).
    pub bucket: Duration,
    /// How many buckets form the baseline (12 unless told; at least 3).
    pub baseline: u32,
    /// The buckets just before (unless told), or the same bucket on the
    /// days or weeks before.
    pub season: Season,
    /// The score's magnitude beyond which it fires (4 unless told).
    pub score: f64,
    /// Which way counts (both unless told: an error count should fire on
    /// spikes, [`Direction::Above`]).
    pub direction: Direction,
    /// The fewest baseline buckets with data for a judgement (`None`: half
    /// the baseline, at least 3).
    pub min_points: Option<u32>,
    /// The smallest spread a score divides by (`None`: 1 for log counts, 0
    /// for metrics): over a baseline that never moves, a difference of
    /// `score × min_spread` fires; with 0, any difference does.
    pub min_spread: Option<f64>,
}

impl Default for Anomaly {
    fn default() -> Self {
        Anomaly {
            method: Method::Mad,
            bucket: Duration::from_secs(300),
            baseline: 12,
            season: Season::None,
            score: DEFAULT_SCORE,
            direction: Direction::Both,
            min_points: None,
            min_spread: None,
        }
    }
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

/// How far back absence rules look by default.
const DEFAULT_LOOKBACK: Duration = Duration::from_secs(86_400);
/// An anomaly's score beyond which it fires, by default.
const DEFAULT_SCORE: f64 = 4.0;

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
    /// With a [`LogSignal`], the count of its logs over the last `window`
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

    /// Scores the current bucket of `signal` (a [`MetricSignal`] or a
    /// [`LogSignal`]) against a baseline of buckets, as [`Anomaly`] says.
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
