//! The rule queries, by example: their text and bound values.

use super::*;
use crate::alert::rule::Comparison;
use crate::alert::settings::{Absence, Anomaly, Season, ServiceDown};

const HOSTILE: &str = "x' OR 1=1 --";

#[test]
fn every_value_is_bound() {
    let minute = Duration::from_secs(60);
    let metric = MetricSignal::new(HOSTILE)
        .service(HOSTILE)
        .attribute(HOSTILE, HOSTILE)
        .group_by([HOSTILE, "service"]);
    let rules = [
        Rule::threshold("a", metric.clone(), Comparison::Above, 1.0, minute),
        Rule::threshold(
            "a",
            LogSignal::errors().service(HOSTILE),
            Comparison::Above,
            1.0,
            minute,
        ),
        Rule::absence(
            "a",
            minute,
            Absence {
                source: AbsenceSource::Metrics(Some(HOSTILE.into())),
                service: Some(HOSTILE.into()),
                ..Absence::default()
            },
        ),
        Rule::service_status(
            "a",
            minute,
            ServiceDown {
                services: vec![HOSTILE.into()],
                states: vec![HOSTILE.into()],
                ..ServiceDown::default()
            },
        ),
        Rule::anomaly(
            "a",
            metric,
            Anomaly {
                season: Season::Daily,
                ..Anomaly::default()
            },
        ),
    ];
    for rule in rules {
        let sql = rule_query(&rule, &[1, 2]);
        assert!(!sql.text.contains("OR 1=1"), "{}", sql.text);
        assert!(
            !sql.text.contains('?'),
            "the crate would take ? for a bind: {}",
            sql.text
        );
        assert!(
            sql.bound_values().iter().any(|v| v.contains("OR 1=1")),
            "{rule:?}"
        );
    }
}

#[test]
fn windows_of_whole_hours_and_days_read_the_rollups() {
    let hour = Duration::from_secs(3600);
    let cases = [
        (hour * 6, Aggregation::Avg, Source::Hourly),
        (hour * 48, Aggregation::Max, Source::Daily),
        (hour * 24, Aggregation::Max, Source::Hourly),
        (hour * 6, Aggregation::Increase, Source::Raw),
        (Duration::from_secs(300), Aggregation::Avg, Source::Raw),
    ];
    for (span, aggregation, source) in cases {
        let seen = Source::for_metric(span, aggregation);
        assert_eq!(seen, source, "{span:?} {aggregation:?}");
    }
    let rule = Rule::threshold(
        "a",
        MetricSignal::new("m"),
        Comparison::Above,
        1.0,
        hour * 6,
    );
    assert!(rule_query(&rule, &[0]).text.contains("FROM metrics_hourly"));
}
