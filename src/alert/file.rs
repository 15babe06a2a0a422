//! Rules from a TOML file, with every error on its line: its form is on
//! [`Alerts::from_file`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::rule::{Comparison, Rule};
use super::settings::{Absence, AbsenceSource, Anomaly, Direction, Method, Season, ServiceDown};
use super::setup::Alerts;
use super::signal::{Aggregation, LogSignal, MetricSignal, Signal};
use super::webhook::Webhook;
use crate::config::bounds::ALERT_INTERVAL;
use crate::config::read_setting_file;
use crate::record::Severity;

/// What is wrong with a rules file: each error with its line (1-based; 0
/// when the file could not be read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError {
    /// `(line, message)`, in the file's order.
    pub errors: Vec<(usize, String)>,
}

impl FileError {
    pub(crate) fn unreadable(path: &Path, error: &std::io::Error) -> FileError {
        FileError {
            errors: vec![(0, format!("cannot read {}: {error}", path.display()))],
        }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (line, message)) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match line {
                0 => write!(f, "{message}")?,
                line => write!(f, "line {line}: {message}")?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for FileError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    settings: Option<Spanned<Settings>>,
    #[serde(default, rename = "rule")]
    rules: Vec<Spanned<RuleSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    interval: Option<String>,
    webhook: Option<String>,
}

/// Every key a rule may have; which apply depends on its kind.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    name: String,
    kind: String,
    severity: Option<String>,
    message: Option<String>,
    #[serde(rename = "for")]
    fire_after: Option<String>,
    resolve_after: Option<String>,
    metric: Option<String>,
    aggregation: Option<String>,
    service: Option<String>,
    attributes: Option<BTreeMap<String, String>>,
    group_by: Option<Vec<String>>,
    levels: Option<Vec<String>>,
    per_service: Option<bool>,
    window: Option<String>,
    above: Option<f64>,
    below: Option<f64>,
    clear: Option<f64>,
    source: Option<String>,
    after: Option<String>,
    lookback: Option<String>,
    services: Option<Vec<String>>,
    states: Option<Vec<String>>,
    longer_than: Option<String>,
    method: Option<String>,
    bucket: Option<String>,
    baseline: Option<u32>,
    seasonal: Option<String>,
    score: Option<f64>,
    direction: Option<String>,
    min_points: Option<u32>,
    min_spread: Option<f64>,
}

/// The keys of each kind, besides those every rule has.
fn keys_of(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "threshold" => &[
            "metric",
            "aggregation",
            "service",
            "attributes",
            "group_by",
            "window",
            "above",
            "below",
            "clear",
        ],
        "log_count" => &[
            "levels",
            "service",
            "per_service",
            "window",
            "above",
            "below",
            "clear",
        ],
        "absence" => &[
            "source",
            "metric",
            "service",
            "per_service",
            "after",
            "lookback",
        ],
        "service_status" => &["services", "states", "longer_than", "lookback"],
        "anomaly" => &[
            "metric",
            "aggregation",
            "service",
            "attributes",
            "group_by",
            "levels",
            "per_service",
            "method",
            "bucket",
            "baseline",
            "seasonal",
            "score",
            "clear",
            "direction",
            "min_points",
            "min_spread",
        ],
        _ => return None,
    })
}

impl RuleSpec {
    /// The kind-specific keys given.
    fn given(&self) -> Vec<&'static str> {
        let present = [
            ("metric", self.metric.is_some()),
            ("aggregation", self.aggregation.is_some()),
            ("service", self.service.is_some()),
            ("attributes", self.attributes.is_some()),
            ("group_by", self.group_by.is_some()),
            ("levels", self.levels.is_some()),
            ("per_service", self.per_service.is_some()),
            ("window", self.window.is_some()),
            ("above", self.above.is_some()),
            ("below", self.below.is_some()),
            ("clear", self.clear.is_some()),
            ("source", self.source.is_some()),
            ("after", self.after.is_some()),
            ("lookback", self.lookback.is_some()),
            ("services", self.services.is_some()),
            ("states", self.states.is_some()),
            ("longer_than", self.longer_than.is_some()),
            ("method", self.method.is_some()),
            ("bucket", self.bucket.is_some()),
            ("baseline", self.baseline.is_some()),
            ("seasonal", self.seasonal.is_some()),
            ("score", self.score.is_some()),
            ("direction", self.direction.is_some()),
            ("min_points", self.min_points.is_some()),
            ("min_spread", self.min_spread.is_some()),
        ];
        present
            .into_iter()
            .filter(|(_, p)| *p)
            .map(|(k, _)| k)
            .collect()
    }
}

impl Alerts {
    /// The rules, interval and webhook of a TOML file (or its text:
    /// `text.parse::<Alerts>()`). Each `[[rule]]` has a `name`, a `kind`
    /// (`threshold`, `log_count`, `absence`, `service_status`, `anomaly`),
    /// the settings of its kind (those of [`Rule`]'s constructors, as the
    /// alerting guide lists them: `seasonal` is [`Anomaly::season`](super::Anomaly::season),
    /// `above = N` or `below = N` the comparison and threshold), and
    /// optionally `for`, `resolve_after`, `severity`, `message`:
    ///
    /// ```toml
    /// [settings]
    /// interval = "30s"                      # optional
    /// webhook = "https://hooks.example/x"   # optional
    ///
    /// [[rule]]
    /// name = "errors"
    /// kind = "log_count"
    /// levels = ["ERROR", "FATAL"]
    /// per_service = true
    /// window = "5m"
    /// above = 10                            # or below = ...
    /// clear = 5                             # optional hysteresis in value
    /// for = "2m"                            # optional, before firing
    /// resolve_after = "5m"                  # optional, before resolving
    /// severity = "critical"                 # optional: warning
    /// ```
    ///
    /// # Errors
    ///
    /// The file cannot be read, or its errors, each with its line: TOML
    /// syntax and types (the first only: parsing stops there), then each
    /// rule's problems, among them a key that does not apply to its kind.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Alerts, FileError> {
        let path = path.as_ref();
        let bytes = read_setting_file(path).map_err(|e| FileError::unreadable(path, &e))?;
        let text = String::from_utf8(bytes).map_err(|_| {
            let not_text = std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text");
            FileError::unreadable(path, &not_text)
        })?;
        parse(&text)
    }
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line of `key = ...` in the table that starts at `range` (up to the
/// next table's header: a spanned array-of-tables entry may cover only its
/// header), else the table's first line.
fn line_of_key(text: &str, range: std::ops::Range<usize>, key: &str) -> usize {
    let start = range.start.min(text.len());
    let mut offset = start;
    for (i, line) in text[start..].split_inclusive('\n').enumerate() {
        let trimmed = line.trim_start();
        if i > 0 && trimmed.starts_with('[') {
            break;
        }
        if let Some(rest) = trimmed.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            return line_of(text, offset);
        }
        offset += line.len();
    }
    line_of(text, start)
}

impl std::str::FromStr for Alerts {
    type Err = FileError;

    /// The rules and settings of a rules file's text (its form is on
    /// [`Alerts::from_file`]).
    ///
    /// # Errors
    ///
    /// Every error found, each with its line: TOML syntax and types (the
    /// first only: parsing stops there), then each rule's problems.
    fn from_str(text: &str) -> Result<Alerts, FileError> {
        parse(text)
    }
}

/// A rules file's text, as [`Alerts::from_str`](std::str::FromStr) says.
fn parse(text: &str) -> Result<Alerts, FileError> {
    let spec: FileSpec = toml::from_str(text).map_err(|e| FileError {
        errors: vec![(
            e.span().map_or(1, |s| line_of(text, s.start)),
            e.message().trim().to_owned(),
        )],
    })?;
    let mut errors = Vec::new();
    let mut rules = Vec::new();
    let mut names = BTreeMap::new();
    for spanned in spec.rules {
        let range = spanned.span();
        let spec = spanned.into_inner();
        match rule(&spec) {
            Ok(rule) => match rule.validate() {
                Ok(()) => {
                    if let Some(first) = names.insert(rule.name.clone(), line_of(text, range.start))
                    {
                        let message = format!(
                            "a second rule named {:?} (the first is on line {first})",
                            rule.name
                        );
                        errors.push((line_of_key(text, range.clone(), "name"), message));
                    }
                    rules.push(rule);
                }
                Err(error) => errors.push(located(text, range, &spec.name, &error)),
            },
            Err(error) => errors.push(located(text, range, &spec.name, &error)),
        }
    }
    let mut alerts = Alerts::new(Vec::new());
    if let Some(settings) = spec.settings {
        let range = settings.span();
        let settings = settings.into_inner();
        if let Some(interval) = &settings.interval {
            // The bounds `Alerts::interval` is held to, said on this line.
            let bounded = duration("interval", interval).and_then(|d| {
                ALERT_INTERVAL
                    .check("interval", d)
                    .map_err(|e| e.to_string())
            });
            match bounded {
                Ok(interval) => alerts = alerts.interval(interval),
                Err(e) => errors.push((line_of_key(text, range.clone(), "interval"), e)),
            }
        }
        if let Some(webhook) = &settings.webhook {
            match Webhook::parse("webhook", webhook) {
                Ok(hook) => alerts = alerts.webhook(hook),
                Err(e) => errors.push((line_of_key(text, range, "webhook"), e.to_string())),
            }
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|(line, _)| *line);
        return Err(FileError { errors });
    }
    alerts.rules = rules;
    Ok(alerts)
}

/// An error of the rule `name` in `range`, on the line of the key it names
/// (messages start with the key: `window: ...`).
fn located(text: &str, range: std::ops::Range<usize>, name: &str, error: &str) -> (usize, String) {
    let key = error.split(':').next().unwrap_or("");
    (
        line_of_key(text, range, key),
        format!("rule {name:?}: {error}"),
    )
}

fn rule(spec: &RuleSpec) -> Result<Rule, String> {
    let kind = spec.kind.as_str();
    let Some(keys) = keys_of(kind) else {
        return Err(format!(
            "kind: {kind:?} is not a kind (threshold, log_count, absence, service_status, anomaly)"
        ));
    };
    if let Some(key) = spec.given().into_iter().find(|k| !keys.contains(k)) {
        return Err(format!("{key}: does not apply to a {kind} rule"));
    }
    let name = spec.name.clone();
    let mut rule = match kind {
        "threshold" | "log_count" => {
            let signal: Signal = match kind {
                "threshold" => metric_signal(spec)?.into(),
                _ => log_signal(spec)?.into(),
            };
            let (comparison, threshold) = comparison(spec)?;
            let window = required(spec.window.as_ref(), "window")?;
            Rule::threshold(name, signal, comparison, threshold, window)
        }
        "absence" => {
            let source = match spec.source.as_deref().unwrap_or("logs") {
                "logs" if spec.metric.is_none() => AbsenceSource::Logs,
                "metrics" => AbsenceSource::Metrics(spec.metric.clone()),
                "spans" if spec.metric.is_none() => AbsenceSource::Spans,
                "logs" | "spans" => return Err("metric: only with source = \"metrics\"".to_owned()),
                other => return Err(format!("source: {other:?}; logs, metrics or spans")),
            };
            let after = required(spec.after.as_ref(), "after")?;
            let defaults = Absence::default();
            let absence = Absence {
                source,
                service: spec.service.clone(),
                per_service: spec.per_service == Some(true),
                lookback: lookback(spec)?.unwrap_or(defaults.lookback),
            };
            Rule::absence(name, after, absence)
        }
        "service_status" => {
            let longer_than = required(spec.longer_than.as_ref(), "longer_than")?;
            let defaults = ServiceDown::default();
            let down = ServiceDown {
                services: spec.services.clone().unwrap_or(defaults.services),
                states: spec.states.clone().unwrap_or(defaults.states),
                lookback: lookback(spec)?.unwrap_or(defaults.lookback),
            };
            Rule::service_status(name, longer_than, down)
        }
        _ => anomaly(spec)?,
    };
    if let Some(clear) = spec.clear {
        rule = rule.clear_at(clear);
    }
    if let Some(severity) = &spec.severity {
        rule = rule.severity(severity.clone());
    }
    if let Some(message) = &spec.message {
        rule = rule.message(message.clone());
    }
    if let Some(d) = &spec.fire_after {
        rule = rule.fire_after(duration("for", d)?);
    }
    if let Some(d) = &spec.resolve_after {
        rule = rule.resolve_after(duration("resolve_after", d)?);
    }
    Ok(rule)
}

fn anomaly(spec: &RuleSpec) -> Result<Rule, String> {
    let signal = match (&spec.metric, &spec.levels) {
        (Some(_), None) => Signal::Metric(metric_signal(spec)?),
        (None, Some(_)) => Signal::Logs(log_signal(spec)?),
        _ => {
            return Err(
                "metric: an anomaly rule watches a metric or log levels (one of the two)"
                    .to_owned(),
            );
        }
    };
    let method = match spec.method.as_deref().unwrap_or("mad") {
        "zscore" => Method::ZScore,
        "mad" => Method::Mad,
        other => return Err(format!("method: {other:?}; zscore or mad")),
    };
    let bucket = required(spec.bucket.as_ref(), "bucket")?;
    let baseline = (spec.baseline).ok_or("baseline: missing (how many buckets)")?;
    let season = match spec.seasonal.as_deref().unwrap_or("none") {
        "none" => Season::None,
        "daily" => Season::Daily,
        "weekly" => Season::Weekly,
        other => return Err(format!("seasonal: {other:?}; none, daily or weekly")),
    };
    let direction = match spec.direction.as_deref().unwrap_or("both") {
        "above" => Direction::Above,
        "below" => Direction::Below,
        "both" => Direction::Both,
        other => return Err(format!("direction: {other:?}; above, below or both")),
    };
    let anomaly = Anomaly {
        method,
        bucket,
        baseline,
        season,
        score: spec.score.unwrap_or(Anomaly::default().score),
        direction,
        min_points: spec.min_points,
        min_spread: spec.min_spread,
    };
    Ok(Rule::anomaly(spec.name.clone(), signal, anomaly))
}

/// The rule's `lookback`, if given.
fn lookback(spec: &RuleSpec) -> Result<Option<Duration>, String> {
    (spec.lookback.as_ref())
        .map(|text| duration("lookback", text))
        .transpose()
}

fn comparison(spec: &RuleSpec) -> Result<(Comparison, f64), String> {
    match (spec.above, spec.below) {
        (Some(v), None) => Ok((Comparison::Above, v)),
        (None, Some(v)) => Ok((Comparison::Below, v)),
        _ => Err(
            "above: give the threshold as `above = N` or `below = N` (one of the two)".to_owned(),
        ),
    }
}

fn metric_signal(spec: &RuleSpec) -> Result<MetricSignal, String> {
    let name = spec
        .metric
        .clone()
        .ok_or("metric: missing (the metric's name)")?;
    let mut signal = MetricSignal::new(name);
    if let Some(aggregation) = &spec.aggregation {
        signal = signal.aggregation(match aggregation.as_str() {
            "avg" => Aggregation::Avg,
            "min" => Aggregation::Min,
            "max" => Aggregation::Max,
            "sum" => Aggregation::Sum,
            "count" => Aggregation::Count,
            "increase" => Aggregation::Increase,
            other => {
                return Err(format!(
                    "aggregation: {other:?}; avg, min, max, sum, count or increase"
                ));
            }
        });
    }
    if let Some(service) = &spec.service {
        signal = signal.service(service.clone());
    }
    for (key, value) in spec.attributes.iter().flatten() {
        signal = signal.attribute(key.clone(), value.clone());
    }
    if let Some(keys) = &spec.group_by {
        signal = signal.group_by(keys.clone());
    }
    Ok(signal)
}

fn log_signal(spec: &RuleSpec) -> Result<LogSignal, String> {
    let levels = match &spec.levels {
        None => vec![Severity::Error, Severity::Fatal],
        Some(levels) => levels
            .iter()
            .map(|l| {
                l.parse::<Severity>()
                    .map_err(|_| format!("levels: {l:?} is not a level"))
            })
            .collect::<Result<_, _>>()?,
    };
    let mut signal = LogSignal::levels(levels);
    if let Some(service) = &spec.service {
        signal = signal.service(service.clone());
    }
    if spec.per_service == Some(true) {
        signal = signal.per_service();
    }
    Ok(signal)
}

fn required(value: Option<&String>, key: &str) -> Result<Duration, String> {
    duration(
        key,
        value.ok_or_else(|| format!("{key}: missing (a duration such as 5m)"))?,
    )
}

fn duration(key: &str, text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{key}: {text:?} is not a duration ({e})"))
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
