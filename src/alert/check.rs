//! The checks a rule passes before it runs: each error names the setting
//! as a file spells it (`window: ...`), so a file's error can be put on the
//! setting's line.

use std::time::Duration;

use super::rule::{Comparison, Kind, Rule};
use super::settings::{AbsenceSource, Season};
use super::signal::Signal;

impl Rule {
    /// Checks the rule without a server.
    ///
    /// # Errors
    ///
    /// What is wrong, naming the setting (as a file spells it).
    pub fn validate(&self) -> Result<(), String> {
        check_name(&self.name)?;
        if self.severity.trim().is_empty() {
            return Err("severity: must not be empty".to_owned());
        }
        match &self.kind {
            Kind::Threshold {
                signal,
                window,
                comparison,
                threshold,
                clear,
            } => {
                check_signal(signal, "window", *window)?;
                check_threshold(*comparison, *threshold, *clear)?;
            }
            Kind::Absence {
                source,
                after,
                lookback,
                ..
            } => {
                if let AbsenceSource::Metrics(Some(name)) = source {
                    non_empty("metric", name)?;
                }
                positive("after", *after)?;
                if lookback <= after {
                    return Err("lookback: must be longer than `after`".to_owned());
                }
            }
            Kind::ServiceStatus {
                states, lookback, ..
            } => {
                if states.is_empty() {
                    return Err("states: name at least one state (down, degraded)".to_owned());
                }
                positive("lookback", *lookback)?;
            }
            Kind::Anomaly {
                signal,
                bucket,
                baseline,
                season,
                score,
                clear,
                min_points,
                min_spread,
                ..
            } => {
                if !(min_spread.is_finite() && *min_spread >= 0.0) {
                    return Err(format!("min_spread: {min_spread}; a number, 0 or more"));
                }
                check_anomaly(
                    signal,
                    *bucket,
                    *baseline,
                    *season,
                    *score,
                    *clear,
                    *min_points,
                )?;
            }
        }
        Ok(())
    }
}

/// The longest rule name: it becomes part of a deduplication key.
const MAX_NAME: usize = 128;

fn check_name(name: &str) -> Result<(), String> {
    let good = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if name.is_empty() || name.len() > MAX_NAME || !name.chars().all(good) {
        return Err(format!(
            "name: {name:?} is not a rule name (1-{MAX_NAME} letters, digits, `_`, `-`, `.`)"
        ));
    }
    Ok(())
}

fn non_empty(what: &str, value: &str) -> Result<(), String> {
    match value.trim().is_empty() {
        true => Err(format!("{what}: must not be empty")),
        false => Ok(()),
    }
}

fn positive(what: &str, value: Duration) -> Result<(), String> {
    match value.is_zero() {
        true => Err(format!("{what}: must be longer than zero")),
        false => Ok(()),
    }
}

fn whole_minutes(what: &str, value: Duration) -> Result<(), String> {
    positive(what, value)?;
    match value.as_nanos() % 60_000_000_000 {
        0 => Ok(()),
        _ => Err(format!(
            "{what}: log counts come from the per-minute rollup, so whole minutes (e.g. 5m)"
        )),
    }
}

/// A signal over a window or bucket of `span` (the setting `what`): log
/// counts come in whole minutes.
fn check_signal(signal: &Signal, what: &str, span: Duration) -> Result<(), String> {
    match signal {
        Signal::Metric(metric) => {
            non_empty("metric", &metric.name)?;
            for key in &metric.group_by {
                non_empty("group_by", key)?;
            }
            positive(what, span)
        }
        Signal::Logs(logs) => {
            if logs.levels.is_empty() {
                return Err("levels: name at least one level (e.g. [\"ERROR\"])".to_owned());
            }
            whole_minutes(what, span)
        }
    }
}

fn check_threshold(
    comparison: Comparison,
    threshold: f64,
    clear: Option<f64>,
) -> Result<(), String> {
    if !threshold.is_finite() {
        return Err(format!("threshold: {threshold} is not a finite number"));
    }
    let Some(clear) = clear else { return Ok(()) };
    let wrong_side = match comparison {
        Comparison::Above => clear > threshold,
        Comparison::Below => clear < threshold,
    };
    if !clear.is_finite() || wrong_side {
        let side = match comparison {
            Comparison::Above => "at most",
            Comparison::Below => "at least",
        };
        return Err(format!(
            "clear: {clear} must be {side} the threshold {threshold}"
        ));
    }
    Ok(())
}

fn check_anomaly(
    signal: &Signal,
    bucket: Duration,
    baseline: u32,
    season: Season,
    score: f64,
    clear: Option<f64>,
    min_points: u32,
) -> Result<(), String> {
    check_signal(signal, "bucket", bucket)?;
    if baseline < 3 {
        return Err(format!("baseline: {baseline} buckets; at least 3"));
    }
    if min_points < 2 || min_points > baseline {
        return Err(format!(
            "min_points: {min_points}; between 2 and the baseline ({baseline})"
        ));
    }
    if let Some(period) = season.period()
        && period.as_nanos() % bucket.as_nanos() != 0
    {
        return Err(
            "bucket: a seasonal baseline needs a bucket that divides the period".to_owned(),
        );
    }
    if !(score.is_finite() && score > 0.0) {
        return Err(format!("score: {score} must be a positive number"));
    }
    if let Some(clear) = clear
        && !(clear.is_finite() && (0.0..=score).contains(&clear))
    {
        return Err(format!(
            "clear: {clear} must be between 0 and the score {score}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::settings::{Absence, Anomaly, ServiceDown};
    use crate::alert::signal::{LogSignal, MetricSignal};

    const MIN5: Duration = Duration::from_secs(300);

    /// A rule `name`: `signal` above `threshold` over `window`.
    fn threshold(name: &str, signal: impl Into<Signal>, threshold: f64, window: Duration) -> Rule {
        Rule::threshold(name, signal, Comparison::Above, threshold, window)
    }

    /// An anomaly rule on the metric `m`, changed by `change`.
    fn anomaly(change: impl FnOnce(&mut Anomaly)) -> Rule {
        let mut settings = Anomaly::default();
        change(&mut settings);
        Rule::anomaly("a", MetricSignal::new("m"), settings)
    }

    #[test]
    fn validation_names_the_setting() {
        let m = || MetricSignal::new("m");
        let below = Rule::threshold("a", m(), Comparison::Below, 1.0, MIN5);
        let short_lookback = Absence {
            lookback: MIN5,
            ..Absence::default()
        };
        let no_states = ServiceDown {
            states: Vec::new(),
            ..ServiceDown::default()
        };
        let bad = [
            (threshold("x y", LogSignal::errors(), 1.0, MIN5), "name"),
            (threshold("a", LogSignal::errors(), 1.0, MIN5 / 2), "window"),
            (threshold("a", MetricSignal::new(""), 1.0, MIN5), "metric"),
            (threshold("a", m(), f64::NAN, MIN5), "threshold"),
            (threshold("a", m(), 1.0, MIN5).clear_at(2.0), "clear"),
            (below.clear_at(0.5), "clear"),
            (
                Rule::absence("a", Duration::ZERO, Absence::default()),
                "after",
            ),
            (Rule::absence("a", MIN5, short_lookback), "lookback"),
            (anomaly(|a| a.baseline = 2), "baseline"),
            (anomaly(|a| a.min_points = Some(20)), "min_points"),
            (
                anomaly(|a| {
                    a.bucket = Duration::from_secs(7 * 60);
                    a.season = Season::Daily;
                }),
                "bucket",
            ),
            (anomaly(|a| a.score = 0.0), "score"),
            (anomaly(|a| a.min_spread = Some(-1.0)), "min_spread"),
            (Rule::service_status("a", MIN5, no_states), "states"),
        ];
        for (rule, setting) in bad {
            let error = rule.validate().expect_err(setting);
            assert!(error.starts_with(setting), "{setting}: {error}");
        }
        let logs = Rule::anomaly("a", LogSignal::errors(), Anomaly::default());
        assert_eq!(logs.validate(), Ok(()));
    }
}
