//! Detection on generated series: noise, spikes, level shifts, seasons,
//! flapping, absence, services down, log count anomalies.

use super::*;

fn anomaly(name: &str, metric: &str, method: Method) -> Rule {
    let signal = MetricSignal::new(metric).group_by(["route"]);
    let settings = Anomaly {
        method,
        bucket: Duration::from_secs(60),
        baseline: 60,
        ..Anomaly::default()
    };
    Rule::anomaly(name, signal, settings).clear_at(2.0)
}

/// 1,500 minutes of N(100, 5) noise: evaluated at 1,389 minutes in one
/// query per rule, the z-score and the MAD rules (score 4, clear at 2, a
/// baseline of the 60 minutes before, no `for`) fire at most once per 1,000
/// evaluations; a spike of 10σ at minute 1,450 and a level shift of 6σ
/// from minute 1,450 are each detected at once, and fire once in the 100
/// evaluations around them.
#[tokio::test(flavor = "multi_thread")]
async fn noise_is_quiet_and_a_spike_and_a_level_shift_are_detected() {
    let db = db("alerts_anomaly").await;
    let start = minutes_ago(1_500);
    series(&db, "noise", start, 1_500, "100 + 5 * noise").await;
    series(
        &db,
        "spike",
        start,
        1_500,
        "100 + 5 * noise + if(number = 1450, 50, 0)",
    )
    .await;
    series(
        &db,
        "shift",
        start,
        1_500,
        "100 + 5 * noise + if(number >= 1450, 30, 0)",
    )
    .await;
    // At minute m the current bucket is m - 1: the first has 60 before it.
    let times = minute_times(start + 61 * MIN, 1_439);
    let began = Instant::now();
    for method in [Method::ZScore, Method::Mad] {
        let transitions = db
            .backtest(vec![anomaly("noise", "noise", method)], &times[..1_389])
            .await;
        let false_positives = fired(&transitions).len();
        println!(
            "{method:?}: {false_positives} false positives in 1389 evaluations ({:.2} per 1000)",
            false_positives as f64 * 1000.0 / 1389.0
        );
        assert!(false_positives * 1000 <= 1389, "{:?}", transitions);
        // The last 100 evaluations: the event is at the 51st.
        for metric in ["spike", "shift"] {
            let transitions = db
                .backtest(vec![anomaly(metric, metric, method)], &times[1_339..])
                .await;
            let fired = fired(&transitions);
            assert_eq!(fired.len(), 1, "{metric} {method:?}: {:?}", transitions);
            let t = fired[0];
            // Point 1450 is the current bucket of the evaluation at 1451;
            // the shift's first point may be within the noise.
            let minute = (t.at_ns - start) / MIN;
            assert!(
                (1451..=1453).contains(&minute),
                "{metric} {method:?}: {minute}"
            );
            assert_eq!(t.key, format!("{metric}{{route=/a}}"));
            assert!(t.value.unwrap() > 4.0, "{t:?}");
            let (observed, center, _) = t.baseline.unwrap();
            assert!(observed > center + 20.0, "{t:?}");
        }
    }
    println!("4 rules x 1389-1439 evaluations in {:?}", began.elapsed());
}

/// A daily pattern (every day at the same hour the value doubles): a
/// rolling baseline takes today's peak for an anomaly, the seasonal one
/// (the same hour on the 7 days before, from `metrics_hourly`) does not;
/// and a peak twice as high as usual fires the seasonal rule.
#[tokio::test(flavor = "multi_thread")]
async fn a_seasonal_baseline_expects_the_daily_peak() {
    let db = db("alerts_seasonal").await;
    let hour = 60 * MIN;
    let start = minutes_ago(0) / hour * hour - 8 * 24 * hour;
    // One point an hour for 8 days; the peak hour is the last one.
    let peak = "if(number % 24 = 23, 200, 100) + noise + if(number = 191, 200, 0)";
    db.run(&format!(
        "INSERT INTO metrics (TimeUnix, MetricName, MetricKind, ServiceName, Value) \
         SELECT fromUnixTimestamp64Nano(toInt64({start}) + toInt64(number) * {hour}), m, 'gauge', 'svc', \
         {} FROM numbers(192) ARRAY JOIN ['usual', 'high'] AS m",
        peak.replace("noise", "(sipHash64(number) % 100) / 100")
            .replace("if(number = 191", "if(m = 'high' AND number = 191")
    ))
    .await;
    let at = start + 192 * hour;
    let rule = |name: &str, metric: &str, season: Season| {
        let settings = Anomaly {
            method: Method::Mad,
            bucket: Duration::from_secs(3600),
            baseline: 7,
            season,
            ..Anomaly::default()
        };
        Rule::anomaly(name, MetricSignal::new(metric), settings)
    };
    let transitions = db
        .backtest(
            vec![
                rule("rolling", "usual", Season::None),
                rule("seasonal", "usual", Season::Daily),
                rule("seasonal_high", "high", Season::Daily),
            ],
            &[at],
        )
        .await;
    let fired: Vec<&str> = fired(&transitions)
        .iter()
        .map(|t| t.rule.as_str())
        .collect();
    assert_eq!(fired, ["rolling", "seasonal_high"], "{:?}", transitions);
}

/// Minutes alternating above and below the threshold for an hour: with
/// `for` 3m nothing fires; without, it fires and resolves 30 times (so the
/// series does flap). Ten minutes high then twenty low with `resolve_after`
/// 5m: one firing, one resolution, 5 minutes after the first low minute.
#[tokio::test(flavor = "multi_thread")]
async fn a_flapping_signal_does_not_flap_and_a_resolved_alert_resolves_once() {
    let db = db("alerts_flap").await;
    let start = minutes_ago(62);
    series(&db, "flap", start, 62, "if(number % 2 = 0, 10, 0)").await;
    series(
        &db,
        "burst",
        start,
        62,
        "if(number >= 20 AND number < 30, 10, 0)",
    )
    .await;
    let rule = |name: &str, metric: &str| {
        let signal = MetricSignal::new(metric).aggregation(alert::Aggregation::Max);
        Rule::threshold(
            name,
            signal,
            Comparison::Above,
            5.0,
            Duration::from_secs(60),
        )
    };
    let times = minute_times(start + MIN, 60);
    let transitions = db
        .backtest(
            vec![
                rule("calm", "flap").fire_after(Duration::from_secs(180)),
                rule("jumpy", "flap"),
                rule("burst", "burst").resolve_after(Duration::from_secs(300)),
            ],
            &times,
        )
        .await;
    let of = |rule: &str| -> Vec<(TransitionKind, i64)> {
        transitions
            .iter()
            .filter(|t| t.rule == rule)
            .map(|t| (t.kind, (t.at_ns - start) / MIN))
            .collect()
    };
    assert_eq!(of("calm"), []);
    assert_eq!(of("jumpy").len(), 60, "{:?}", of("jumpy"));
    // Minute m sees point m - 1: high at 21..=30, low from 31, resolved 5 min on.
    assert_eq!(
        of("burst"),
        [(TransitionKind::Firing, 21), (TransitionKind::Resolved, 36)]
    );
    let resolved = transitions
        .iter()
        .find(|t| t.rule == "burst" && t.kind == TransitionKind::Resolved)
        .unwrap();
    assert_eq!((resolved.since_ns - start) / MIN, 21);
    assert_eq!(resolved.value, Some(0.0));
}

/// Logs of three services (through `logs`, so through the rollup): `b`
/// stopped 20 minutes ago. Per service after 10m, `b` alone fires, with
/// its silence as the value; a rule for a service never seen fires too.
#[tokio::test(flavor = "multi_thread")]
async fn absence_fires_for_the_service_that_stopped() {
    let db = db("alerts_absence").await;
    let now = minutes_ago(0);
    db.run(&format!(
        "INSERT INTO logs (Timestamp, SeverityText, ServiceName, Body) \
         SELECT fromUnixTimestamp64Nano(toInt64({now}) - toInt64(number) * {MIN}), 'INFO', s, 'x' \
         FROM numbers(60) ARRAY JOIN ['a', 'b', 'c'] AS s WHERE s != 'b' OR number >= 20"
    ))
    .await;
    let after = Duration::from_secs(600);
    let rules = vec![
        Rule::absence(
            "silent",
            after,
            Absence {
                per_service: true,
                ..Absence::default()
            },
        ),
        Rule::absence(
            "ghost",
            after,
            Absence {
                service: Some("ghost".into()),
                ..Absence::default()
            },
        ),
        Rule::absence(
            "present",
            after,
            Absence {
                service: Some("a".into()),
                ..Absence::default()
            },
        ),
    ];
    let transitions = db.backtest(rules, &[now + MIN / 2]).await;
    let keys: Vec<(&str, &str)> = transitions
        .iter()
        .map(|t| (t.key.as_str(), t.service.as_str()))
        .collect();
    assert_eq!(keys, [("ghost", "ghost"), ("silent{service=b}", "b")]);
    let b = &transitions[1];
    // b's last minute started 20 min before `now`: 19 min + 30 s of silence.
    assert_eq!(b.value, Some(19.0 * 60.0 + 30.0), "{b:?}");
    assert_eq!(b.threshold, 600.0);
}

/// `service_status` events as the monitor writes them: `db` down for 10
/// minutes fires a 5-minute rule, `api` down for 1 minute and `web` back
/// up do not.
#[tokio::test(flavor = "multi_thread")]
async fn a_service_down_for_too_long_fires() {
    let db = db("alerts_status").await;
    let now = minutes_ago(0);
    for (service, status, ago) in [
        ("db", "up", 30),
        ("db", "down", 10),
        ("api", "down", 1),
        ("web", "down", 20),
        ("web", "up", 15),
    ] {
        db.run(&format!(
            "INSERT INTO events (Timestamp, EventType, Source, ServiceName, Details) VALUES \
             (fromUnixTimestamp64Nano(toInt64({now} - {ago} * {MIN})), 'service_status', 'monitor', 'app', \
             map('service', '{service}', 'status', '{status}'))"
        ))
        .await;
    }
    let rule = Rule::service_status("down", Duration::from_secs(300), ServiceDown::default());
    let transitions = db.backtest(vec![rule], &[now]).await;
    let keys: Vec<&str> = transitions.iter().map(|t| t.key.as_str()).collect();
    assert_eq!(keys, ["down{service=db}"]);
    assert_eq!(transitions[0].value, Some(600.0));
}

/// A log count anomaly per service over 5-minute buckets (a bucket without
/// logs counts 0): `calm` logs one error an hour ago and one now, `burst`
/// none for an hour then 10. Against a baseline of zeros the spread floor
/// of 1 makes `calm`'s single error a score of 1 and `burst`'s ten a score
/// of 10: only `burst` fires.
#[tokio::test(flavor = "multi_thread")]
async fn a_log_count_anomaly_over_a_quiet_baseline_needs_more_than_one_log() {
    let db = db("alerts_log_anomaly").await;
    let now = minutes_ago(0);
    db.run(&format!(
        "INSERT INTO logs (Timestamp, SeverityText, ServiceName, Body) \
         SELECT fromUnixTimestamp64Nano(toInt64({now}) - toInt64(m) * {MIN}), 'ERROR', s, 'x' \
         FROM (SELECT 'calm' AS s, arrayJoin([2, 50]) AS m UNION ALL \
               SELECT 'burst' AS s, 2 AS m FROM numbers(10) UNION ALL \
               SELECT 'other' AS s, 3 AS m) \
         WHERE 1"
    ))
    .await;
    // The default: the median and MAD of the 12 five-minute buckets before.
    let settings = Anomaly::default();
    let rule = |settings| Rule::anomaly("spiky", LogSignal::errors().per_service(), settings);
    let transitions = db.backtest(vec![rule(settings)], &[now]).await;
    let keys: Vec<&str> = transitions.iter().map(|t| t.key.as_str()).collect();
    assert_eq!(keys, ["spiky{service=burst}"], "{:?}", transitions);
    let t = &transitions[0];
    assert_eq!((t.value, t.baseline), (Some(10.0), Some((10.0, 0.0, 1.0))));
    // Without the floor, one error over zeros is the largest score.
    let floorless = Anomaly {
        min_spread: Some(0.0),
        ..settings
    };
    let transitions = db.backtest(vec![rule(floorless)], &[now]).await;
    assert_eq!(transitions.len(), 3, "{:?}", transitions);
}

/// Windows of whole hours and days read the rollups: a 6-hour average
/// from `metrics_hourly` and a 2-day maximum from `metrics_daily` are the
/// raw table's over the same whole hours and days, and fire as they should.
#[tokio::test(flavor = "multi_thread")]
async fn hour_and_day_windows_agree_with_the_raw_rows() {
    let db = db("alerts_rollups").await;
    let hour = 60 * MIN;
    let start = minutes_ago(0) / hour * hour - 72 * hour;
    // Four points an hour for three days, rising.
    db.run(&format!(
        "INSERT INTO metrics (TimeUnix, MetricName, MetricKind, ServiceName, Value) \
         SELECT fromUnixTimestamp64Nano(toInt64({start}) + toInt64(number) * 15 * {MIN}), 'rise', \
         'gauge', 'svc', number FROM numbers(288)"
    ))
    .await;
    let at = start + 72 * hour - 20 * MIN;
    let raw = |window: &str, agg: &str, start: &str| {
        format!(
            "SELECT toFloat64({agg}(Value)) FROM metrics WHERE MetricName = 'rise' \
             AND TimeUnix >= {start}(fromUnixTimestamp64Nano(toInt64({at}))) - INTERVAL {window} \
             AND TimeUnix < {start}(fromUnixTimestamp64Nano(toInt64({at})))"
        )
    };
    let client = &db.client;
    let value = |sql: String| async move { client.query(&sql).fetch_one::<f64>().await.unwrap() };
    let hourly = value(raw("6 HOUR", "avg", "toStartOfHour")).await;
    let daily = value(raw("2 DAY", "max", "toStartOfDay")).await;
    let rule = |name: &str, aggregation, window: u64, threshold: f64| {
        let signal = MetricSignal::new("rise").aggregation(aggregation);
        Rule::threshold(
            name,
            signal,
            Comparison::Above,
            threshold,
            Duration::from_secs(window),
        )
    };
    let rules = vec![
        rule("hourly", alert::Aggregation::Avg, 6 * 3600, hourly - 0.5),
        rule(
            "hourly_quiet",
            alert::Aggregation::Avg,
            6 * 3600,
            hourly + 0.5,
        ),
        rule("daily", alert::Aggregation::Max, 2 * 86_400, daily - 0.5),
        rule("daily_quiet", alert::Aggregation::Max, 2 * 86_400, daily),
    ];
    for rule in &rules {
        let (text, _) = rule.query_text(&[at]);
        let table = if rule.name().starts_with("hourly") {
            "metrics_hourly"
        } else {
            "metrics_daily"
        };
        assert!(
            text.contains(&format!("FROM {table} ")),
            "{}: {text}",
            rule.name()
        );
    }
    let transitions = db.backtest(rules, &[at]).await;
    let fired: Vec<(&str, Option<f64>)> = transitions
        .iter()
        .map(|t| (t.rule.as_str(), t.value))
        .collect();
    assert_eq!(fired, [("daily", Some(daily)), ("hourly", Some(hourly))]);
}
