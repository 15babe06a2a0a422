//! A transition (an alert firing or resolving) and its renderings: the
//! `Details` of its `events` row and the webhook's JSON.

/// `EventType` of a firing transition.
pub(crate) const FIRING: &str = "alert_firing";
/// `EventType` of a resolved transition.
pub(crate) const RESOLVED: &str = "alert_resolved";
/// `Source` of the transitions' events.
pub(crate) const SOURCE: &str = "alert";

/// Whether an alert fired or resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransitionKind {
    /// The condition held for the rule's `for` duration.
    Firing,
    /// A firing alert's condition was clear for its `resolve_after`.
    Resolved,
}

impl TransitionKind {
    /// `firing` or `resolved`: the webhook's `state`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TransitionKind::Firing => "firing",
            TransitionKind::Resolved => "resolved",
        }
    }

    /// `alert_firing` or `alert_resolved`, its `EventType`.
    pub(crate) fn event_type(self) -> &'static str {
        match self {
            TransitionKind::Firing => FIRING,
            TransitionKind::Resolved => RESOLVED,
        }
    }
}

impl std::fmt::Display for TransitionKind {
    /// `firing` or `resolved`: the webhook's `state`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alert (a rule and a group) firing or resolving.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Transition {
    /// Firing or resolved.
    pub kind: TransitionKind,
    /// The rule's name.
    pub rule: String,
    /// `threshold`, `log_count`, `absence`, `service_status` or `anomaly`.
    pub rule_kind: &'static str,
    /// The group's attributes as `k=v,k=v`, empty for a rule without groups.
    pub group: String,
    /// The deduplication key: the rule and the group.
    pub key: String,
    /// The group's service, else the evaluating service.
    pub service: String,
    /// The value the evaluation saw (an anomaly rule's: the score); `None`
    /// when the alert resolved because the data stopped.
    pub value: Option<f64>,
    /// The rule's threshold (absence and service status: seconds; anomaly:
    /// the score).
    pub threshold: f64,
    /// The rule's severity.
    pub severity: String,
    /// The rule's message, else its name.
    pub message: String,
    /// When the evaluation ran, nanoseconds since the Unix epoch.
    pub at_ns: i64,
    /// When this alert fired (the firing this transition belongs to).
    pub since_ns: i64,
    /// Anomaly rules: the observed value, the baseline's centre and spread.
    pub baseline: Option<(f64, f64, f64)>,
}

impl Transition {
    /// The same for every delivery of this transition, and different for
    /// every other: the key, the kind, and when the firing began.
    pub fn id(&self) -> String {
        format!("{}#{}@{}", self.key, self.kind.event_type(), self.since_ns)
    }

    /// The `Details` of its `events` row.
    pub(crate) fn details(&self) -> Vec<(String, String)> {
        let mut details = vec![
            ("rule".to_owned(), self.rule.clone()),
            (
                "value".to_owned(),
                self.value.map(number).unwrap_or_default(),
            ),
            ("threshold".to_owned(), number(self.threshold)),
            ("group".to_owned(), self.group.clone()),
            ("severity".to_owned(), self.severity.clone()),
            ("kind".to_owned(), self.rule_kind.to_owned()),
            ("key".to_owned(), self.key.clone()),
            ("message".to_owned(), self.message.clone()),
            ("since".to_owned(), self.since_ns.to_string()),
        ];
        if let Some((observed, center, spread)) = self.baseline {
            details.push(("observed".to_owned(), number(observed)));
            details.push(("center".to_owned(), number(center)));
            details.push(("spread".to_owned(), number(spread)));
        }
        details
    }

    /// The webhook's body: the details as JSON, with `id`, `state`,
    /// `service` and the times.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let state = self.kind.as_str();
        serde_json::json!({
            "id": self.id(),
            "state": state,
            "event_type": self.kind.event_type(),
            "key": self.key,
            "rule": self.rule,
            "kind": self.rule_kind,
            "group": self.group,
            "service": self.service,
            "severity": self.severity,
            "value": self.value.filter(|v| v.is_finite()),
            "threshold": self.threshold,
            "message": self.message,
            "at_ns": self.at_ns,
            "since_ns": self.since_ns,
        })
    }
}

/// The deduplication key of `rule` and `group`: `rule` or `rule{group}`.
pub(crate) fn key(rule: &str, group: &str) -> String {
    match group.is_empty() {
        true => rule.to_owned(),
        false => format!("{rule}{{{group}}}"),
    }
}

/// A number as `Details` holds it: the shortest text that reads back the same.
fn number(value: f64) -> String {
    match value.is_finite() {
        true => value.to_string(),
        false => String::new(),
    }
}
