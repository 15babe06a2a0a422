//! The evaluator: runs each rule's query, turns every group's value into an
//! observation, and moves each alert's state on.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::rule::{Comparison, Kind, Rule};
use super::settings::Direction;
use super::setup::Alerts;
use super::signal::Signal;
use super::sql::{ValueRow, rule_query};
use super::state::{Change, Observation, State, step};
use super::transition::{Transition, TransitionKind, key};
use crate::error::{Error, Result, invalid_query};
use crate::query::QueryClient;
use crate::record::unix_ns;

/// The largest anomaly score reported: a constant baseline makes any
/// change infinitely unlikely, and JSON has no infinity.
const MAX_SCORE: f64 = 1e6;

/// What an evaluation found.
#[derive(Debug, Default)]
pub(crate) struct Evaluation {
    /// The alerts that fired or resolved, oldest first.
    pub(crate) transitions: Vec<Transition>,
    /// The rules whose query failed, by name: their alerts did not move.
    pub(crate) errors: Vec<(String, Error)>,
}

/// One alert's state and what it last saw.
#[derive(Clone, Debug)]
struct Alert {
    state: State,
    service: String,
}

/// A rule and the alerts of its groups.
#[derive(Clone, Debug)]
struct Watched {
    rule: Rule,
    /// By group.
    alerts: BTreeMap<String, Alert>,
}

/// Evaluates rules against ClickHouse and keeps their alerts' states.
///
/// [`evaluate`](Evaluator::evaluate) runs one query per rule; given many
/// times, the same query evaluates each rule at all of them at once and the
/// states move on through them in order (a backtest over history:
/// [`Alerts::backtest`]).
#[derive(Debug)]
pub(crate) struct Evaluator {
    client: QueryClient,
    /// `ServiceName` of transitions whose group has no service.
    service: String,
    watched: Vec<Watched>,
    /// The longest wait for one query.
    timeout: Duration,
}

/// How long one rule's query may take unless told.
pub(crate) const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// `what` (a rule's query, a transition's write) got no answer in time:
/// not an invalid query (it was sent).
pub(super) fn timed_out(what: &'static str, timeout: Duration) -> Error {
    Error::Timeout {
        what,
        after: timeout,
        left: String::new(),
    }
}

impl Evaluator {
    /// An evaluator of `rules` reading through `client`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuery`] naming the first invalid rule, or two rules
    /// of the same name.
    pub(crate) fn new(
        client: &QueryClient,
        service: impl Into<String>,
        rules: Vec<Rule>,
    ) -> Result<Evaluator> {
        check_rules(&rules)?;
        let watched = rules
            .into_iter()
            .map(|rule| Watched {
                rule,
                alerts: BTreeMap::new(),
            })
            .collect();
        Ok(Evaluator {
            client: client.clone(),
            service: service.into(),
            watched,
            timeout: DEFAULT_QUERY_TIMEOUT,
        })
    }

    /// Checks `rules` without a server: each validates, no two share a name.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuery`] naming the first invalid rule.
    pub(crate) fn check(rules: &[Rule]) -> Result<()> {
        check_rules(rules)
    }

    /// Gives up on a query after `timeout` (30 seconds unless told).
    #[must_use]
    pub(crate) fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The longest wait for one query.
    pub(crate) fn query_timeout(&self) -> Duration {
        self.timeout
    }

    /// Takes up alerts a previous evaluator left firing (the latest
    /// transition of their key in `events` is `alert_firing`), so that they
    /// resolve, or go on firing, without firing twice. Returns how many.
    ///
    /// # Errors
    ///
    /// ClickHouse could not be asked.
    pub(crate) async fn resume(&mut self) -> Result<usize> {
        let firing = tokio::time::timeout(self.timeout, super::status::firing_alerts(&self.client))
            .await
            .map_err(|_| timed_out("reading the firing alerts", self.timeout))??;
        let mut resumed = 0;
        for alert in firing {
            let Some(watched) = self.watched.iter_mut().find(|w| w.rule.name == alert.rule) else {
                continue;
            };
            watched.alerts.insert(
                alert.group.clone(),
                Alert {
                    state: State::Firing {
                        since: alert.since_ns,
                    },
                    service: alert.service.clone(),
                },
            );
            resumed += 1;
        }
        Ok(resumed)
    }

    /// Evaluates every rule at `at`.
    pub(crate) async fn evaluate(&mut self, at: SystemTime) -> Evaluation {
        self.evaluate_each(&[unix_ns(at)]).await
    }

    /// Evaluates every rule at each of `times` (nanoseconds since the Unix
    /// epoch), one query per rule, the states moving on through the times
    /// in order. A rule whose query fails or takes longer than the
    /// [`timeout`](Evaluator::timeout) is an error of the evaluation, and
    /// its alerts stay as they were.
    pub(crate) async fn evaluate_each(&mut self, times: &[i64]) -> Evaluation {
        let mut evaluation = Evaluation::default();
        let mut times = times.to_vec();
        times.sort_unstable();
        times.dedup();
        if times.is_empty() {
            return evaluation;
        }
        for watched in &mut self.watched {
            let sql = rule_query(&watched.rule, &times);
            let rows = async {
                let query = sql.build(&self.client.client)?;
                Ok::<_, Error>(query.fetch_all::<ValueRow>().await?)
            };
            match tokio::time::timeout(self.timeout, rows).await {
                Ok(Ok(rows)) => {
                    let transitions = watched.advance(&times, &rows, &self.service);
                    evaluation.transitions.extend(transitions);
                }
                Ok(Err(error)) => evaluation.errors.push((watched.rule.name.clone(), error)),
                Err(_) => evaluation.errors.push((
                    watched.rule.name.clone(),
                    timed_out("an alert rule's query", self.timeout),
                )),
            }
        }
        evaluation
            .transitions
            .sort_by(|a, b| (a.at_ns, &a.key).cmp(&(b.at_ns, &b.key)));
        evaluation
    }

    /// The alerts firing now, as `(rule, group)`.
    pub(crate) fn firing(&self) -> Vec<(String, String)> {
        self.watched
            .iter()
            .flat_map(|w| {
                w.alerts
                    .iter()
                    .filter(|(_, a)| a.state.is_firing())
                    .map(|(group, _)| (w.rule.name.clone(), group.clone()))
            })
            .collect()
    }
}

impl Alerts {
    /// Evaluates the rules at each of `times` against what the tables hold,
    /// as evaluations every so often from the first to the last would have:
    /// one query per rule for all the times, each alert's state moving on
    /// through them in order (so `for`, `resolve_after` and `clear` count).
    /// Returns the transitions, oldest first; writes and delivers nothing.
    /// A transition whose group has no service has an empty `service`.
    ///
    /// # Errors
    ///
    /// An invalid rule ([`Error::InvalidQuery`]), or the first rule whose
    /// query failed. A query may take as long as it takes (a backtest over
    /// many times reads much): wrap the call in `tokio::time::timeout` to
    /// bound it.
    pub async fn backtest(
        &self,
        client: &QueryClient,
        times: &[SystemTime],
    ) -> Result<Vec<Transition>> {
        let mut evaluator = Evaluator::new(client, "", self.rules.clone())?
            .timeout(crate::config::bounds::MAX_DURATION);
        let times: Vec<i64> = times.iter().map(|&t| unix_ns(t)).collect();
        let evaluation = evaluator.evaluate_each(&times).await;
        match evaluation.errors.into_iter().next() {
            Some((_, error)) => Err(error),
            None => Ok(evaluation.transitions),
        }
    }
}

/// Checks every rule, and that no two share a name.
///
/// # Errors
///
/// [`Error::InvalidQuery`] naming the first invalid rule.
pub(crate) fn check_rules(rules: &[Rule]) -> Result<()> {
    let mut names = std::collections::HashSet::new();
    for rule in rules {
        rule.validate()
            .map_err(|e| invalid_query("rule", format!("{:?}: {e}", rule.name)))?;
        if !names.insert(rule.name.as_str()) {
            return Err(invalid_query(
                "rule",
                format!("two alert rules are named {:?}", rule.name),
            ));
        }
    }
    Ok(())
}

impl Watched {
    /// Moves the alerts on through `times`, given the query's rows.
    fn advance(&mut self, times: &[i64], rows: &[ValueRow], evaluating: &str) -> Vec<Transition> {
        let mut out = Vec::new();
        let mut rows = rows.iter().peekable();
        for &at in times {
            let mut seen: BTreeMap<String, (Observation, &ValueRow)> = BTreeMap::new();
            while let Some(row) = rows.next_if(|row| row.at <= at) {
                if row.at == at
                    && let Some(observation) = observe(&self.rule, row)
                {
                    seen.insert(row.grp.clone(), (observation, row));
                }
            }
            // Every group with a state and no row, and a rule without groups
            // that has no row at all: no data.
            let mut quiet: Vec<String> = self
                .alerts
                .keys()
                .filter(|g| !seen.contains_key(*g))
                .cloned()
                .collect();
            if !self.rule.grouped() && seen.is_empty() && !quiet.iter().any(String::is_empty) {
                quiet.push(String::new());
            }
            let mut steps: Vec<(String, Observation, Option<&ValueRow>)> = seen
                .into_iter()
                .map(|(g, (o, row))| (g, o, Some(row)))
                .collect();
            for group in quiet {
                if let Some(observation) = no_data(&self.rule) {
                    steps.push((group, observation, None));
                }
            }
            for (group, observation, row) in steps {
                let service = row
                    .map(|r| r.service.clone())
                    .filter(|s| !s.is_empty())
                    .or_else(|| self.rule.own_service().map(str::to_owned))
                    .unwrap_or_else(|| evaluating.to_owned());
                let alert = self.alerts.entry(group.clone()).or_insert(Alert {
                    state: State::Inactive,
                    service: service.clone(),
                });
                if row.is_some() {
                    alert.service = service;
                }
                // When the firing began, for a resolution's transition.
                let since = match alert.state {
                    State::Firing { since } | State::Resolving { since, .. } => since,
                    _ => at,
                };
                let change = step(
                    &mut alert.state,
                    observation,
                    at,
                    self.rule.fire_after,
                    self.rule.resolve_after,
                );
                let service = alert.service.clone();
                if alert.state == State::Inactive {
                    // Nothing to remember until it breaches again.
                    self.alerts.remove(&group);
                }
                if let Some(change) = change {
                    let since = match change {
                        Change::Fired => at,
                        Change::Resolved => since,
                    };
                    out.push(self.transition(change, &group, service, observation, row, at, since));
                }
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn transition(
        &self,
        change: Change,
        group: &str,
        service: String,
        observation: Observation,
        row: Option<&ValueRow>,
        at: i64,
        since: i64,
    ) -> Transition {
        let rule = &self.rule;
        let value = observation.value();
        let baseline = match (&rule.kind, row) {
            // The spread the score divided by (the floor, if above).
            (Kind::Anomaly { min_spread, .. }, Some(row)) => {
                Some((row.value, row.center, row.spread.max(*min_spread)))
            }
            _ => None,
        };
        Transition {
            kind: match change {
                Change::Fired => TransitionKind::Firing,
                Change::Resolved => TransitionKind::Resolved,
            },
            rule: rule.name.clone(),
            rule_kind: rule.kind.name(),
            group: group.to_owned(),
            key: key(&rule.name, group),
            service,
            value: value.is_finite().then_some(value),
            threshold: rule.threshold_value(),
            severity: rule.severity.clone(),
            message: rule.message.clone().unwrap_or_else(|| rule.name.clone()),
            at_ns: at,
            since_ns: since,
            baseline,
        }
    }
}

impl Rule {
    /// The SQL this rule runs, with its placeholders (`{a0:String}`), for
    /// evaluations at `times`, and the bound values in order.
    pub fn query_text(&self, times: &[i64]) -> (String, Vec<String>) {
        rule_query(self, times).parts()
    }

    /// Whether the rule has groups (a rule without has one alert, `""`).
    fn grouped(&self) -> bool {
        match &self.kind {
            Kind::Threshold { signal, .. } | Kind::Anomaly { signal, .. } => signal.grouped(),
            Kind::Absence { per_service, .. } => *per_service,
            Kind::ServiceStatus { .. } => true,
        }
    }

    /// The one service the rule is about, if it names one.
    fn own_service(&self) -> Option<&str> {
        match &self.kind {
            Kind::Threshold { signal, .. } | Kind::Anomaly { signal, .. } => signal.service(),
            Kind::Absence { service, .. } => service.as_deref(),
            Kind::ServiceStatus { .. } => None,
        }
    }

    /// The `threshold` of its transitions.
    fn threshold_value(&self) -> f64 {
        match &self.kind {
            Kind::Threshold { threshold, .. } => *threshold,
            Kind::Absence { after, .. } => after.as_secs_f64(),
            Kind::ServiceStatus { longer_than, .. } => longer_than.as_secs_f64(),
            Kind::Anomaly { score, .. } => *score,
        }
    }
}

/// What a row says, or `None` when it is no judgement (an anomaly rule's
/// baseline too short, or no current bucket).
fn observe(rule: &Rule, row: &ValueRow) -> Option<Observation> {
    let v = row.value;
    Some(match &rule.kind {
        Kind::Threshold {
            comparison,
            threshold,
            clear,
            ..
        } => compare(*comparison, v, *threshold, clear.unwrap_or(*threshold)),
        Kind::Absence { after, .. } => at_least(v, *after),
        Kind::ServiceStatus { longer_than, .. } => at_least(v, *longer_than),
        Kind::Anomaly {
            score,
            clear,
            direction,
            min_points,
            min_spread,
            ..
        } => {
            if row.has_value == 0 || row.points < u64::from(*min_points) {
                return None;
            }
            let s = anomaly_score(v, row.center, row.spread.max(*min_spread));
            let signed = match direction {
                Direction::Above => s,
                Direction::Below => -s,
                Direction::Both => s.abs(),
            };
            let clear = clear.unwrap_or(*score);
            match () {
                _ if signed > *score => Observation::Breach(s),
                _ if signed <= clear => Observation::Clear(s),
                _ => Observation::Hold(s),
            }
        }
    })
}

/// `(value - center) / spread`, within ±[`MAX_SCORE`]; a zero spread makes
/// any difference the largest score.
pub(crate) fn anomaly_score(value: f64, center: f64, spread: f64) -> f64 {
    let diff = value - center;
    if !(diff.is_finite() && spread.is_finite()) {
        return 0.0;
    }
    if spread > 0.0 {
        return (diff / spread).clamp(-MAX_SCORE, MAX_SCORE);
    }
    match diff {
        0.0 => 0.0,
        d => d.signum() * MAX_SCORE,
    }
}

fn compare(comparison: Comparison, v: f64, threshold: f64, clear: f64) -> Observation {
    match comparison {
        Comparison::Above if v > threshold => Observation::Breach(v),
        Comparison::Above if v <= clear => Observation::Clear(v),
        Comparison::Below if v < threshold => Observation::Breach(v),
        Comparison::Below if v >= clear => Observation::Clear(v),
        _ => Observation::Hold(v),
    }
}

fn at_least(v: f64, limit: Duration) -> Observation {
    match v >= limit.as_secs_f64() {
        true => Observation::Breach(v),
        false => Observation::Clear(v),
    }
}

/// What no row for a group means: for absence, no data for the whole
/// lookback (the condition itself); for service status, nothing new (the
/// last status is older than the lookback); for the others, the condition
/// is not met (a count without logs, a metric that stopped).
fn no_data(rule: &Rule) -> Option<Observation> {
    match &rule.kind {
        Kind::Absence { lookback, .. } => Some(Observation::Breach(lookback.as_secs_f64())),
        Kind::ServiceStatus { .. } => Some(Observation::Hold(f64::NAN)),
        Kind::Threshold {
            signal: Signal::Logs(_),
            ..
        } => Some(Observation::Clear(0.0)),
        Kind::Threshold { .. } | Kind::Anomaly { .. } => Some(Observation::Clear(f64::NAN)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_and_comparisons() {
        assert_eq!(anomaly_score(12.0, 10.0, 1.0), 2.0);
        assert_eq!(anomaly_score(10.0, 10.0, 0.0), 0.0);
        assert_eq!(anomaly_score(9.0, 10.0, 0.0), -MAX_SCORE);
        assert_eq!(anomaly_score(f64::NAN, 10.0, 1.0), 0.0);
        use Observation::{Breach, Clear, Hold};
        // (comparison, value, threshold, clear): what the value is.
        let cases = [
            (Comparison::Above, 5.0, 4.0, 3.0, Breach(5.0)),
            (Comparison::Above, 3.5, 4.0, 3.0, Hold(3.5)),
            (Comparison::Above, 3.0, 4.0, 3.0, Clear(3.0)),
            (Comparison::Below, 1.0, 2.0, 3.0, Breach(1.0)),
            (Comparison::Below, 2.5, 2.0, 3.0, Hold(2.5)),
            (Comparison::Below, 3.0, 2.0, 3.0, Clear(3.0)),
        ];
        for (comparison, value, threshold, clear, expected) in cases {
            let seen = compare(comparison, value, threshold, clear);
            assert_eq!(seen, expected, "{comparison:?} {value} {threshold} {clear}");
        }
    }
}
