//! What threshold and anomaly rules watch: a metric, aggregated per group,
//! or a count of logs.

use crate::record::Severity;

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

/// What a threshold or anomaly rule watches.
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
