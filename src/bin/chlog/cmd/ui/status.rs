//! Service statuses and firing alerts, folded from `events`.
//!
//! A service's status is its latest `service_status` event (the system
//! monitor writes one per change, with `service`, `status`, `previous`,
//! `latency_ms`, `error`). An alert fires while the latest transition of
//! its `key` is `alert_firing` (the alert evaluator writes `alert_firing`
//! and `alert_resolved` from source `alert`, with `rule`, `value`,
//! `threshold`, `group`, `severity`, `kind`, `key`, `message`).

use std::collections::BTreeMap;

use serde::Serialize;
use tracing_clickhouse::query::EventEntry;

/// One service's latest status.
#[derive(Debug, PartialEq, Serialize)]
pub(crate) struct ServiceStatus {
    pub(crate) service: String,
    pub(crate) status: String,
    pub(crate) since_ns: i64,
    pub(crate) details: BTreeMap<String, String>,
}

/// One alert firing now.
#[derive(Debug, PartialEq, Serialize)]
pub(crate) struct FiringAlert {
    pub(crate) key: String,
    pub(crate) since_ns: i64,
    pub(crate) details: BTreeMap<String, String>,
}

fn details(event: &EventEntry) -> BTreeMap<String, String> {
    event.details.iter().cloned().collect()
}

/// The latest of `events` for each value of their detail `key` (events
/// without it are passed over), "latest" by `order`: the first of the
/// greatest.
fn latest_by<'a>(
    events: &'a [EventEntry],
    key: &str,
    order: impl Fn(&EventEntry) -> (i64, bool),
) -> BTreeMap<&'a str, &'a EventEntry> {
    let mut latest: BTreeMap<&str, &EventEntry> = BTreeMap::new();
    for event in events {
        let Some(value) = event.detail(key) else {
            continue;
        };
        let entry = latest.entry(value).or_insert(event);
        if order(event) > order(entry) {
            *entry = event;
        }
    }
    latest
}

/// The latest status of each service, by name, from `service_status`
/// events in any order.
pub(crate) fn services(events: &[EventEntry]) -> Vec<ServiceStatus> {
    latest_by(events, "service", |event| (event.timestamp_ns, false))
        .into_iter()
        .map(|(service, event)| ServiceStatus {
            service: service.to_owned(),
            status: event.detail("status").unwrap_or("unknown").to_owned(),
            since_ns: event.timestamp_ns,
            details: details(event),
        })
        .collect()
}

/// The alerts whose latest transition is `alert_firing`, from the
/// transitions (`alert_firing`, `alert_resolved`) in any order; the
/// most severe first (critical, then warning, then the rest), then by key.
/// A firing and a resolution at the same nanosecond count as resolved.
pub(crate) fn firing(transitions: &[EventEntry]) -> Vec<FiringAlert> {
    let order = |event: &EventEntry| (event.timestamp_ns, event.event_type == "alert_resolved");
    let mut alerts: Vec<FiringAlert> = latest_by(transitions, "key", order)
        .into_iter()
        .filter(|(_, event)| event.event_type == "alert_firing")
        .map(|(key, event)| FiringAlert {
            key: key.to_owned(),
            since_ns: event.timestamp_ns,
            details: details(event),
        })
        .collect();
    let rank = |alert: &FiringAlert| match alert.details.get("severity").map(String::as_str) {
        Some("critical") => 0,
        Some("warning") => 1,
        _ => 2,
    };
    alerts.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.key.cmp(&b.key)));
    alerts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ns: i64, event_type: &str, details: &[(&str, &str)]) -> EventEntry {
        // EventEntry is non-exhaustive: made from JSON as a row would be.
        serde_json::from_value(serde_json::json!({
            "timestamp_ns": ns,
            "event_type": event_type,
            "source": "alert",
            "service": "svc",
            "details": details,
            "trace_id": "",
            "span_id": "",
        }))
        .unwrap()
    }

    #[test]
    fn a_service_shows_its_latest_status_whatever_the_order() {
        let events = [
            event(3, "service_status", &[("service", "db"), ("status", "up")]),
            event(
                1,
                "service_status",
                &[("service", "db"), ("status", "down")],
            ),
            event(
                2,
                "service_status",
                &[("service", "web"), ("status", "degraded")],
            ),
            event(4, "service_status", &[("status", "up")]),
        ];
        let services = services(&events);
        let got: Vec<(&str, &str, i64)> = services
            .iter()
            .map(|s| (s.service.as_str(), s.status.as_str(), s.since_ns))
            .collect();
        assert_eq!(got, [("db", "up", 3), ("web", "degraded", 2)]);
    }

    #[test]
    fn an_alert_fires_while_its_latest_transition_is_firing() {
        let fire =
            |ns, key, severity| event(ns, "alert_firing", &[("key", key), ("severity", severity)]);
        let resolve = |ns, key| event(ns, "alert_resolved", &[("key", key)]);
        let transitions = [
            fire(1, "cpu", "warning"),
            resolve(2, "cpu"),
            fire(3, "cpu", "warning"),
            fire(1, "disk", "critical"),
            resolve(5, "disk"),
            fire(4, "errors", "critical"),
            fire(6, "tie", "warning"),
            resolve(6, "tie"),
        ];
        let firing = firing(&transitions);
        let got: Vec<(&str, i64)> = firing
            .iter()
            .map(|a| (a.key.as_str(), a.since_ns))
            .collect();
        assert_eq!(got, [("errors", 4), ("cpu", 3)]);
    }
}
