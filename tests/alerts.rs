//! Alert rules against the devserver, on generated series: a spike and a
//! level shift are detected, normal noise is not (the false-positive rate
//! over a long series), absence and a service down fire, a flapping signal
//! does not flap, a resolved alert resolves once, and the webhook gets each
//! transition exactly once although it fails twice first. Also the guard's
//! background evaluation, and `chlog alerts` run as a process.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing_clickhouse::alert::{
    self, AbsenceSource, Alerts, Comparison, Evaluator, Method, MetricSignal, Rule, Runner, Season,
    Signal, Transition, TransitionKind, Webhook,
};
use tracing_clickhouse::query::QueryClient;

const MIN: i64 = 60_000_000_000;

struct Db {
    database: String,
    client: clickhouse::Client,
}

async fn db(prefix: &str) -> Db {
    let config = common::config(prefix);
    tracing_clickhouse::schema::apply(&config).await.unwrap();
    let client = QueryClient::new(&config).unwrap().client().clone();
    Db {
        database: config.database().to_owned(),
        client,
    }
}

impl Db {
    async fn run(&self, sql: &str) {
        self.client
            .query(sql)
            .execute()
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    async fn count(&self, sql: &str) -> u64 {
        common::scalar(&self.client, sql).await
    }

    fn evaluator(&self, rules: Vec<Rule>) -> Evaluator {
        Evaluator::new(self.client.clone(), "tc-test", rules).unwrap()
    }
}

/// The start of the minute `minutes` ago, in nanoseconds.
fn minutes_ago(minutes: i64) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    now / MIN * MIN - minutes * MIN
}

/// Inserts `n` points of gauge `name` (service `svc`, route `/a`), one a
/// minute from `start`, with value `expr` of `number` (the point's index)
/// and `noise`: deterministic normal noise of mean 0 and deviation 1 (Box-
/// Muller over two hashes of the index), so the test sees the same series
/// on every run.
async fn series(db: &Db, name: &str, start: i64, n: u64, expr: &str) {
    let noise = "(sqrt(-2 * log((sipHash64(number, 1) % 1000000 + 1) / 1000001)) \
                 * cos(2 * pi() * ((sipHash64(number, 2) % 1000000) / 1000000)))";
    let expr = expr.replace("noise", noise);
    db.run(&format!(
        "INSERT INTO metrics (TimeUnix, MetricName, MetricKind, ServiceName, Attributes, Value) \
         SELECT fromUnixTimestamp64Nano(toInt64({start}) + toInt64(number) * {MIN}), '{name}', \
         'gauge', 'svc', map('route', '/a'), {expr} FROM numbers({n})"
    ))
    .await;
}

fn minute_times(from: i64, count: i64) -> Vec<i64> {
    (0..count).map(|k| from + k * MIN).collect()
}

fn fired(transitions: &[Transition]) -> Vec<&Transition> {
    transitions
        .iter()
        .filter(|t| t.kind == TransitionKind::Firing)
        .collect()
}

fn anomaly(name: &str, metric: &str, method: Method) -> Rule {
    let signal = MetricSignal::new(metric).group_by(["route"]);
    Rule::anomaly(
        name,
        Signal::Metric(signal),
        method,
        Duration::from_secs(60),
        60,
    )
    .clear_at(2.0)
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
        let mut evaluator = db.evaluator(vec![anomaly("noise", "noise", method)]);
        let evaluation = evaluator.evaluate_each(&times[..1_389]).await;
        assert!(evaluation.errors.is_empty(), "{:?}", evaluation.errors);
        let false_positives = fired(&evaluation.transitions).len();
        println!(
            "{method:?}: {false_positives} false positives in 1389 evaluations ({:.2} per 1000)",
            false_positives as f64 * 1000.0 / 1389.0
        );
        assert!(
            false_positives * 1000 <= 1389,
            "{:?}",
            evaluation.transitions
        );
        // The last 100 evaluations: the event is at the 51st.
        for metric in ["spike", "shift"] {
            let mut evaluator = db.evaluator(vec![anomaly(metric, metric, method)]);
            let evaluation = evaluator.evaluate_each(&times[1_339..]).await;
            let fired = fired(&evaluation.transitions);
            assert_eq!(
                fired.len(),
                1,
                "{metric} {method:?}: {:?}",
                evaluation.transitions
            );
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
    let bucket = Duration::from_secs(3600);
    let rolling = |name: &str, metric: &str| {
        Rule::anomaly(
            name,
            Signal::Metric(MetricSignal::new(metric)),
            Method::Mad,
            bucket,
            7,
        )
    };
    let mut evaluator = db.evaluator(vec![
        rolling("rolling", "usual"),
        rolling("seasonal", "usual").seasonal(Season::Daily),
        rolling("seasonal_high", "high").seasonal(Season::Daily),
    ]);
    let evaluation = evaluator.evaluate_each(&[at]).await;
    assert!(evaluation.errors.is_empty(), "{:?}", evaluation.errors);
    let fired: Vec<&str> = fired(&evaluation.transitions)
        .iter()
        .map(|t| t.rule.as_str())
        .collect();
    assert_eq!(
        fired,
        ["rolling", "seasonal_high"],
        "{:?}",
        evaluation.transitions
    );
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
    let mut evaluator = db.evaluator(vec![
        rule("calm", "flap").fire_after(Duration::from_secs(180)),
        rule("jumpy", "flap"),
        rule("burst", "burst").resolve_after(Duration::from_secs(300)),
    ]);
    let evaluation = evaluator.evaluate_each(&times).await;
    assert!(evaluation.errors.is_empty(), "{:?}", evaluation.errors);
    let of = |rule: &str| -> Vec<(TransitionKind, i64)> {
        evaluation
            .transitions
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
    let resolved = evaluation
        .transitions
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
    let mut evaluator = db.evaluator(vec![
        Rule::absence("silent", AbsenceSource::Logs, after).per_service(),
        Rule::absence("ghost", AbsenceSource::Logs, after).service("ghost"),
        Rule::absence("present", AbsenceSource::Logs, after).service("a"),
    ]);
    let at = now + MIN / 2;
    let evaluation = evaluator.evaluate_each(&[at]).await;
    assert!(evaluation.errors.is_empty(), "{:?}", evaluation.errors);
    let keys: Vec<(&str, &str)> = evaluation
        .transitions
        .iter()
        .map(|t| (t.key.as_str(), t.service.as_str()))
        .collect();
    assert_eq!(keys, [("ghost", "ghost"), ("silent{service=b}", "b")]);
    let b = &evaluation.transitions[1];
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
    let mut evaluator = db.evaluator(vec![Rule::service_status("down", Duration::from_secs(300))]);
    let evaluation = evaluator.evaluate_each(&[now]).await;
    assert!(evaluation.errors.is_empty(), "{:?}", evaluation.errors);
    let keys: Vec<&str> = evaluation
        .transitions
        .iter()
        .map(|t| t.key.as_str())
        .collect();
    assert_eq!(keys, ["down{service=db}"]);
    assert_eq!(evaluation.transitions[0].value, Some(600.0));
}

/// A webhook receiver on loopback that answers 500 to its first `fail`
/// requests, then 200; it records every request's `Idempotency-Key` and
/// whether it was accepted.
/// Each request the receiver saw: its key, whether it was accepted, its body.
type Requests = Arc<Mutex<Vec<(String, bool, String)>>>;

fn receiver(fail: usize) -> (String, Requests) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/hook/SECRET-TOKEN",
        listener.local_addr().unwrap()
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut chunk = [0u8; 4096];
            // The head, then Content-Length bytes of body.
            let (head, body_len) = loop {
                let n = stream.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break (String::new(), 0);
                }
                request.extend_from_slice(&chunk[..n]);
                if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&request[..end]).to_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    while request.len() < end + 4 + len {
                        let n = stream.read(&mut chunk).unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        request.extend_from_slice(&chunk[..n]);
                    }
                    break (head, end + 4);
                }
            };
            let key = head
                .lines()
                .find_map(|l| l.strip_prefix("idempotency-key:"))
                .unwrap_or("")
                .trim()
                .to_owned();
            let body = String::from_utf8_lossy(&request[body_len..]).into_owned();
            let mut log = log.lock().unwrap();
            let accept = log.len() >= fail;
            log.push((key, accept, body));
            let answer = match accept {
                true => "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                false => "HTTP/1.1 500 Busy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            };
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    (url, seen)
}

/// Two cycles of a runner with a webhook that fails twice first: the
/// firing and the resolution each reach `events` once, the callback once,
/// and the webhook is accepted once each (after two refusals of the first,
/// retried with the same key); `firing()` shows the alert between them.
#[tokio::test(flavor = "multi_thread")]
async fn transitions_reach_events_the_callback_and_a_failing_webhook_exactly_once() {
    let db = db("alerts_webhook").await;
    let start = minutes_ago(3);
    series(&db, "load", start, 2, "if(number = 0, 10, 0)").await;
    let (url, seen) = receiver(2);
    let calls = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&calls);
    let rule = Rule::threshold(
        "load_high",
        MetricSignal::new("load").group_by(["service", "route"]),
        Comparison::Above,
        5.0,
        Duration::from_secs(60),
    )
    .severity("critical");
    let alerts = Alerts::new(vec![rule])
        .webhook_with(
            Webhook::new(&url)
                .unwrap()
                .backoff(Duration::from_millis(50), Duration::from_millis(200)),
        )
        .on_transition(move |t| record.lock().unwrap().push(t.id()));
    let mut runner = Runner::new(alerts, db.client.clone(), "tc-test").unwrap();
    let cycle = runner
        .cycle(UNIX_EPOCH + Duration::from_nanos((start + MIN) as u64))
        .await;
    assert!(cycle.errors.is_empty(), "{:?}", cycle.errors);
    assert_eq!(cycle.transitions.len(), 1);
    let firing = alert::firing(&db.client).await.unwrap();
    assert_eq!(firing.len(), 1);
    assert_eq!(
        (firing[0].key.as_str(), firing[0].group.as_str()),
        ("load_high{service=svc,route=/a}", "service=svc,route=/a")
    );
    assert_eq!(
        (
            firing[0].service.as_str(),
            firing[0].value.as_str(),
            firing[0].severity.as_str()
        ),
        ("svc", "10", "critical")
    );
    let cycle = runner
        .cycle(UNIX_EPOCH + Duration::from_nanos((start + 2 * MIN) as u64))
        .await;
    assert_eq!(cycle.transitions.len(), 1, "{cycle:?}");
    assert_eq!(cycle.transitions[0].kind, TransitionKind::Resolved);
    assert!(alert::firing(&db.client).await.unwrap().is_empty());
    assert_eq!(runner.finish(Duration::from_secs(10)).await, 0);

    let seen = seen.lock().unwrap().clone();
    let ids: Vec<String> = calls.lock().unwrap().clone();
    assert_eq!(ids.len(), 2);
    assert_eq!(seen.len(), 4, "two refusals, then one of each: {seen:?}");
    for id in &ids {
        let accepted = seen
            .iter()
            .filter(|(k, ok, _)| k == &id.to_lowercase() && *ok)
            .count();
        assert_eq!(accepted, 1, "{id}: {seen:?}");
    }
    assert!(
        seen[..3]
            .iter()
            .all(|(k, _, _)| *k == ids[0].to_lowercase()),
        "{seen:?}"
    );
    let body: serde_json::Value = serde_json::from_str(&seen[3].2).unwrap();
    assert_eq!(body["state"], "resolved");
    assert_eq!(body["key"], "load_high{service=svc,route=/a}");
    assert_eq!(body["value"], 0.0);

    let rows = db
        .count(
            "SELECT count() FROM events WHERE Source = 'alert' AND ServiceName = 'svc' \
             AND Details['rule'] = 'load_high' AND Details['kind'] = 'threshold' \
             AND Details['threshold'] = '5' AND Details['group'] = 'service=svc,route=/a' \
             AND Details['severity'] = 'critical' AND Details['message'] = 'load_high'",
        )
        .await;
    assert_eq!(rows, 2);
    for (event_type, value) in [("alert_firing", "10"), ("alert_resolved", "0")] {
        let n = db
            .count(&format!(
                "SELECT count() FROM events WHERE EventType = '{event_type}' AND Details['value'] = '{value}'"
            ))
            .await;
        assert_eq!(n, 1, "{event_type}");
    }
}

/// A runner started after another left an alert firing takes it up: it
/// does not fire again, and resolves it once.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_runner_resumes_what_fires() {
    let db = db("alerts_resume").await;
    let start = minutes_ago(4);
    series(&db, "q", start, 3, "if(number < 2, 10, 0)").await;
    let rule = || {
        Rule::threshold(
            "q_high",
            MetricSignal::new("q"),
            Comparison::Above,
            5.0,
            Duration::from_secs(60),
        )
    };
    let at = |m: i64| UNIX_EPOCH + Duration::from_nanos((start + m * MIN) as u64);
    let mut first = Runner::new(Alerts::new(vec![rule()]), db.client.clone(), "tc-test").unwrap();
    assert_eq!(first.cycle(at(1)).await.transitions.len(), 1);
    drop(first);
    let mut second = Runner::new(Alerts::new(vec![rule()]), db.client.clone(), "tc-test").unwrap();
    let cycle = second.cycle(at(2)).await;
    assert!(
        cycle.transitions.is_empty() && cycle.errors.is_empty(),
        "{cycle:?}"
    );
    assert_eq!(second.firing(), [("q_high".to_owned(), String::new())]);
    let cycle = second.cycle(at(3)).await;
    assert_eq!(cycle.transitions.len(), 1);
    assert_eq!(cycle.transitions[0].kind, TransitionKind::Resolved);
    assert_eq!(
        db.count("SELECT count() FROM events WHERE Source = 'alert'")
            .await,
        2
    );
}

/// `Builder::alerts`: the guard evaluates in the background; a rule about a
/// service that never reported fires within a few intervals, named after
/// the evaluating service, and the guard's stats say so. A bad rule is the
/// builder's error.
#[tokio::test(flavor = "multi_thread")]
async fn the_guard_evaluates_in_the_background() {
    let config = common::config("alerts_guard");
    tracing_clickhouse::schema::apply(&config).await.unwrap();
    let rule = Rule::absence(
        "nobody",
        AbsenceSource::Metrics(Some("never".into())),
        Duration::from_secs(60),
    );
    let alerts = Alerts::new(vec![rule]).interval(Duration::from_secs(1));
    let (_, telemetry) = config
        .clone()
        .into_builder()
        .alerts(alerts)
        .build()
        .unwrap();
    let client = telemetry.query().client().clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = common::scalar(&client, "SELECT count() FROM events WHERE EventType = 'alert_firing' AND ServiceName = 'tc-test' AND Details['key'] = 'nobody'").await;
        if n == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no alert_firing after 20 s: {:?}",
            telemetry.alert_stats()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stats = telemetry.alert_stats().unwrap();
    assert!(
        stats.cycles >= 1 && stats.transitions == 1 && stats.errors == 0,
        "{stats:?}"
    );
    assert_eq!(stats.firing, ["nobody"]);
    drop(telemetry);

    let bad = Rule::absence("bad name", AbsenceSource::Logs, Duration::from_secs(60));
    let error = config
        .into_builder()
        .alerts(Alerts::new(vec![bad]))
        .build()
        .err()
        .unwrap();
    assert!(error.to_string().contains("bad name"), "{error}");
}

fn chlog(db: &Db, args: &[&str]) -> (i32, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_chlog"))
        .args(args)
        .env_clear()
        .env("CLICKHOUSE_URL", common::url())
        .env("CLICKHOUSE_DATABASE", &db.database)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        output.status.code().unwrap_or(-1),
        text(&output.stdout),
        text(&output.stderr),
    )
}

/// `chlog alerts check` on a good file lists its rules and exits 0; on a
/// bad one prints each error as FILE:LINE and exits 1. `run --cycles 2`
/// evaluates twice, prints the one firing, writes it to `events`; `status`
/// then shows it and exits 3 (and again as JSON).
#[tokio::test(flavor = "multi_thread")]
async fn chlog_alerts_check_run_and_status() {
    let db = db("alerts_chlog").await;
    let dir = common::temp_dir("alerts_chlog");
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[settings]\ninterval = \"1s\"\n\n[[rule]]\nname = \"quiet_logs\"\nkind = \"absence\"\n\
         service = \"checkout\"\nafter = \"5m\"\nseverity = \"critical\"\n\n[[rule]]\nname = \"errors\"\n\
         kind = \"log_count\"\nper_service = true\nwindow = \"5m\"\nabove = 10\n",
    )
    .unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[rule]]\nname = \"errors\"\nkind = \"log_count\"\nwindow = \"5m\"\n\n[[rule]]\n\
         name = \"x\"\nkind = \"threshold\"\nmetric = \"m\"\nwindow = \"5m\"\nabove = 1\nclear = 3\n",
    )
    .unwrap();
    let good = good.to_str().unwrap();
    let bad = bad.to_str().unwrap();

    let (code, out, err) = chlog(&db, &["alerts", "check", good]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!("absence  quiet_logs\nlog_count  errors\n{good}: 2 rules, every 1s\n")
    );
    let (code, out, err) = chlog(&db, &["alerts", "check", bad]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert_eq!(
        err,
        format!(
            "chlog: {bad}:1: rule \"errors\": above: give the threshold as `above = N` or `below = N` (one of the two)\n\
             chlog: {bad}:12: rule \"x\": clear: 3 must be at most the threshold 1\n"
        )
    );

    let (code, out, err) = chlog(
        &db,
        &["alerts", "run", good, "--cycles", "2", "--color", "never"],
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].ends_with(" FIRING quiet_logs value=86400 threshold=300 severity=critical"),
        "{out}"
    );
    let n = db
        .count("SELECT count() FROM events WHERE EventType = 'alert_firing' AND ServiceName = 'checkout'")
        .await;
    assert_eq!(n, 1);

    let (code, out, _) = chlog(&db, &["alerts", "status", "--color", "never"]);
    assert_eq!(code, 3);
    assert!(
        out.contains("critical  quiet_logs  value=86400 threshold=300  quiet_logs"),
        "{out}"
    );
    let (code, out, _) = chlog(&db, &["alerts", "status", "--json"]);
    assert_eq!(code, 3);
    let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (json["key"].as_str(), json["service"].as_str()),
        (Some("quiet_logs"), Some("checkout"))
    );
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
    let rule = Rule::anomaly(
        "spiky",
        Signal::Logs(tracing_clickhouse::alert::LogSignal::errors().per_service()),
        Method::Mad,
        Duration::from_secs(300),
        12,
    );
    let mut evaluator = db.evaluator(vec![rule.clone()]);
    let evaluation = evaluator.evaluate_each(&[now]).await;
    assert!(evaluation.errors.is_empty(), "{:?}", evaluation.errors);
    let keys: Vec<&str> = evaluation
        .transitions
        .iter()
        .map(|t| t.key.as_str())
        .collect();
    assert_eq!(
        keys,
        ["spiky{service=burst}"],
        "{:?}",
        evaluation.transitions
    );
    let t = &evaluation.transitions[0];
    assert_eq!((t.value, t.baseline), (Some(10.0), Some((10.0, 0.0, 1.0))));
    // Without the floor, one error over zeros is the largest score.
    let mut evaluator = db.evaluator(vec![rule.min_spread(0.0)]);
    let evaluation = evaluator.evaluate_each(&[now]).await;
    assert_eq!(
        evaluation.transitions.len(),
        3,
        "{:?}",
        evaluation.transitions
    );
}

/// A transition written twice (a retry after a lost answer) is stored once.
#[tokio::test(flavor = "multi_thread")]
async fn a_transition_written_twice_is_stored_once() {
    let db = db("alerts_write").await;
    let mut evaluator = db.evaluator(vec![Rule::absence(
        "gone",
        AbsenceSource::Spans,
        Duration::from_secs(60),
    )]);
    let transitions = evaluator.evaluate(SystemTime::now()).await.transitions;
    assert_eq!(transitions.len(), 1);
    for _ in 0..2 {
        alert::write(&db.client, &transitions[0]).await.unwrap();
    }
    let n = db
        .count("SELECT count() FROM events WHERE EventType = 'alert_firing' AND Details['key'] = 'gone'")
        .await;
    assert_eq!(n, 1);
}

/// A callback that panics is an error of the cycle; the transition still
/// reaches `events`, and the next cycle runs.
#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_callback_does_not_stop_alerting() {
    let db = db("alerts_panic").await;
    let rule = Rule::absence("gone", AbsenceSource::Spans, Duration::from_secs(60));
    let alerts = Alerts::new(vec![rule]).on_transition(|_| panic!("a bad callback"));
    let mut runner = Runner::new(alerts, db.client.clone(), "tc-test").unwrap();
    let cycle = runner.cycle(SystemTime::now()).await;
    assert_eq!(cycle.transitions.len(), 1);
    assert!(
        cycle.errors[0].contains("callback panicked"),
        "{:?}",
        cycle.errors
    );
    assert_eq!(
        db.count("SELECT count() FROM events WHERE Source = 'alert'")
            .await,
        1
    );
    let cycle = runner.cycle(SystemTime::now()).await;
    assert!(
        cycle.errors.is_empty() && cycle.transitions.is_empty(),
        "{cycle:?}"
    );
}

/// On a devserver with faults: a rule's query answered after the timeout is
/// an error of the cycle and moves nothing (the next cycle fires); a write
/// to `events` that is stored but answered too late is retried at the next
/// cycle and stored once; one refused is kept and written later.
#[tokio::test(flavor = "multi_thread")]
async fn slow_and_failing_servers_lose_and_repeat_nothing() {
    let server = common::DevServer::start(common::Options {
        faults: true,
        ..common::Options::default()
    });
    let database = common::unique_database("alerts_faults");
    let config = common::config_for(&server.url, &database);
    tracing_clickhouse::schema::apply(&config).await.unwrap();
    let client = QueryClient::new(&config).unwrap().client().clone();
    let rules = vec![
        Rule::absence("gone", AbsenceSource::Spans, Duration::from_secs(60)),
        Rule::absence("away", AbsenceSource::Logs, Duration::from_secs(60)),
    ];
    let mut runner = Runner::new(Alerts::new(rules), client.clone(), "tc-test")
        .unwrap()
        .timeout(Duration::from_millis(700));
    assert!(runner.cycle(SystemTime::now()).await.transitions.len() == 2);
    let events = "SELECT count() FROM events WHERE Source = 'alert'";
    assert_eq!(common::scalar(&client, events).await, 2);

    // Resolve both (data arrives), with the rule's query slow once.
    client
        .query("INSERT INTO spans (Timestamp, TraceId, SpanId, SpanName, ServiceName) VALUES (now64(9), 't', 's', 'op', 'x')")
        .execute()
        .await
        .unwrap();
    client
        .query("INSERT INTO logs (Timestamp, SeverityText, ServiceName, Body) VALUES (now64(9) - INTERVAL 1 MINUTE, 'INFO', 'x', 'b')")
        .execute()
        .await
        .unwrap();
    common::arm_fault(
        &server.url,
        r#"{"action": "delay", "count": 1, "match": "FROM spans", "seconds": 1.5}"#,
    );
    common::arm_fault(
        &server.url,
        r#"{"action": "delay", "count": 1, "match": "INSERT INTO events", "seconds": 1.5, "phase": "after"}"#,
    );
    let cycle = runner.cycle(SystemTime::now()).await;
    assert_eq!(cycle.errors.len(), 2, "{cycle:?}");
    assert!(
        cycle.errors[0].contains("\"gone\"") && cycle.errors[0].contains("no answer"),
        "{cycle:?}"
    );
    // `away` resolved; its write stored but answered too late.
    assert_eq!(cycle.transitions.len(), 1, "{cycle:?}");
    assert_eq!(cycle.unwritten, 1, "{cycle:?}");
    common::arm_fault(
        &server.url,
        r#"{"action": "error", "count": 1, "match": "INSERT INTO events", "code": 202, "status": 500, "message": "busy"}"#,
    );
    let cycle = runner.cycle(SystemTime::now()).await;
    // `gone` resolves now; the first write is refused, so both wait.
    assert_eq!(cycle.transitions.len(), 1, "{cycle:?}");
    assert_eq!(cycle.unwritten, 2, "{cycle:?}");
    let cycle = runner.cycle(SystemTime::now()).await;
    assert!(cycle.errors.is_empty() && cycle.unwritten == 0, "{cycle:?}");
    let resolved = "SELECT count() FROM events WHERE EventType = 'alert_resolved'";
    assert_eq!(common::scalar(&client, resolved).await, 2);
    assert_eq!(common::scalar(&client, events).await, 4);
}
