//! The settings of absence, service status and anomaly rules: structs with
//! public fields and a `Default`, and the choices they name.

use std::time::Duration;

/// How far back absence rules look by default.
const DEFAULT_LOOKBACK: Duration = Duration::from_secs(86_400);
/// An anomaly's score beyond which it fires, by default.
const DEFAULT_SCORE: f64 = 4.0;

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
/// ([`Rule::absence`](super::Rule::absence)); `Absence::default()` is any
/// log row, over all services, in the last day.
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
/// ([`Rule::service_status`](super::Rule::service_status));
/// `ServiceDown::default()` is every checked service, `down`, looking back
/// a week.
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

/// An anomaly rule's settings ([`Rule::anomaly`](super::Rule::anomaly)):
/// how the current bucket is scored against a baseline of buckets, and
/// beyond which score it fires. `Anomaly::default()` scores 5-minute
/// buckets against the 12 before (an hour) by their median and MAD, and
/// fires beyond 4 either way.
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
