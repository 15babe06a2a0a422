//! Every setting held to its bounds where it is given, the error naming
//! the variable, setter or field it was given as; credentials that cannot
//! travel in a header refused; secrets in a URL never repeated.

use std::time::Duration;

use super::*;
use crate::config::*;
use crate::error::ConfigError;

fn with_vars(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Builder::from_env_vars(vars.iter().map(|(k, v)| (*k, *v))).build_config()
}

fn no_env() -> Builder {
    Builder::from_env_vars::<&str, &str>([])
}

#[test]
fn sizes_counts_and_intervals_from_the_environment_have_both_bounds() {
    let refused = [
        // The queue's slots are allocated at start: "capacity overflow",
        // an abort, or 20 GB of memory, before.
        ("CLICKHOUSE_QUEUE_CAPACITY", "4194305"),
        ("CLICKHOUSE_QUEUE_CAPACITY", "99999999999"),
        ("CLICKHOUSE_QUEUE_CAPACITY", "18446744073709551615"),
        ("CLICKHOUSE_BATCH_MAX_ROWS", "10000001"),
        // A metrics row per series every millisecond, before.
        ("CLICKHOUSE_METRICS_INTERVAL_MS", "1"),
        ("CLICKHOUSE_METRICS_INTERVAL_MS", "999"),
        ("CLICKHOUSE_FLUSH_INTERVAL_MS", "9"),
        ("CLICKHOUSE_SPOOL_MAX_BYTES", "0"),
        ("CLICKHOUSE_LOGS_TTL_DAYS", "36501"),
    ];
    for (var, value) in refused {
        let err = with_vars(&[(var, value)]).expect_err(&format!("{var}={value}"));
        assert_eq!(err.setting(), var, "{err}");
        assert!(err.to_string().contains(&format!("{value:?}")), "{err}");
    }
    let accepted = [
        ("CLICKHOUSE_QUEUE_CAPACITY", "4194304"),
        ("CLICKHOUSE_BATCH_MAX_ROWS", "10000000"),
        ("CLICKHOUSE_METRICS_INTERVAL_MS", "1000"),
        ("CLICKHOUSE_FLUSH_INTERVAL_MS", "10"),
    ];
    for (var, value) in accepted {
        assert!(with_vars(&[(var, value)]).is_ok(), "{var}={value}");
    }
}

#[test]
fn sizes_counts_and_durations_from_setters_have_both_bounds() {
    let ms = Duration::from_millis;
    let limits = [
        (Limit::QueueCapacity(1 << 30), "Limit::QueueCapacity"),
        (Limit::QueueCapacity(usize::MAX), "Limit::QueueCapacity"),
        (Limit::BatchRows(usize::MAX), "Limit::BatchRows"),
        (Limit::BatchBytes(1 << 30), "Limit::BatchBytes"),
        (Limit::PendingBytes(0), "Limit::PendingBytes"),
        (Limit::SpoolBytes(0), "Limit::SpoolBytes"),
        (Limit::MessageBytes(1 << 40), "Limit::MessageBytes"),
        (Limit::ValueBytes(usize::MAX), "Limit::ValueBytes"),
        (Limit::Fields(100_000), "Limit::Fields"),
        (Limit::MetricSeries(0), "Limit::MetricSeries"),
        (Limit::EventsTtlDays(0), "Limit::EventsTtlDays"),
    ];
    for (limit, name) in limits {
        let err = no_env().limit(limit).expect_err(name);
        assert_eq!(err.setting(), name, "{err}");
    }
    let timings = [
        (Timing::FlushInterval(ms(1)), "Timing::FlushInterval"),
        (
            Timing::OutageFlushInterval(ms(9)),
            "Timing::OutageFlushInterval",
        ),
        (Timing::InsertTimeout(ms(99)), "Timing::InsertTimeout"),
        (Timing::MaxRetryBackoff(ms(1)), "Timing::MaxRetryBackoff"),
        (
            Timing::ShutdownTimeout(Duration::from_secs(366 * 86_400)),
            "Timing::ShutdownTimeout",
        ),
        (
            Timing::SpoolWriteAfter(Duration::ZERO),
            "Timing::SpoolWriteAfter",
        ),
        (Timing::MetricsInterval(ms(999)), "Timing::MetricsInterval"),
        (Timing::MonitorInterval(ms(1)), "Timing::MonitorInterval"),
    ];
    for (timing, name) in timings {
        let err = no_env().timing(timing).expect_err(name);
        assert_eq!(err.setting(), name, "{err}");
    }
    // The lowest bounds are taken (no fields at all is a limit).
    let config = no_env()
        .limit(Limit::Fields(0))
        .and_then(|b| b.limit(Limit::PendingBytes(usize::MAX)))
        .and_then(|b| b.timing(Timing::ShutdownTimeout(Duration::ZERO)))
        .and_then(|b| b.timing(Timing::FlushInterval(ms(10))))
        .and_then(Builder::build_config)
        .unwrap();
    assert_eq!(config.capture.limits.max_fields, 0);
    assert_eq!(config.pipeline.max_pending_bytes, usize::MAX);
    assert_eq!(config.pipeline.shutdown_timeout, Duration::ZERO);
    assert_eq!(config.pipeline.flush_interval, ms(10));

    let check = ServiceCheck::new("db", CheckTarget::Tcp("db:5432".into()))
        .interval(Duration::from_micros(1));
    let err = no_env().service_check(check).unwrap_err();
    assert_eq!(err.setting(), "ServiceCheck::interval");
}

#[test]
fn a_setter_replaces_the_bad_variable_of_its_own_setting_only() {
    let bad = [
        ("CLICKHOUSE_QUEUE_CAPACITY", "0"),
        ("CLICKHOUSE_FLUSH_INTERVAL_MS", "1"),
    ];
    let builder = || Builder::from_env_vars(bad);
    let err = builder()
        .limit(Limit::QueueCapacity(8))
        .unwrap()
        .build_config()
        .unwrap_err();
    assert_eq!(err.setting(), "CLICKHOUSE_FLUSH_INTERVAL_MS");
    let config = builder()
        .limit(Limit::QueueCapacity(8))
        .and_then(|b| b.timing(Timing::FlushInterval(Duration::from_millis(50))))
        .and_then(Builder::build_config)
        .unwrap();
    assert_eq!(config.pipeline.queue_capacity, 8);
    // A limit without a variable leaves the variables' errors alone.
    let err = builder()
        .limit(Limit::QueueBytes(1 << 20))
        .unwrap()
        .build_config()
        .unwrap_err();
    assert_eq!(err.setting(), "CLICKHOUSE_QUEUE_CAPACITY");
}

#[test]
fn a_user_or_password_that_cannot_travel_in_a_header_is_refused() {
    // Every insert failed, without naming either, before.
    let err = with_vars(&[("CLICKHOUSE_USER", "writer\n")]).unwrap_err();
    assert_eq!(err.setting(), "CLICKHOUSE_USER");
    assert!(err.to_string().contains(r#""writer\n""#), "{err}");
    let err = with_vars(&[("CLICKHOUSE_PASSWORD", "hunter2\r\n")]).unwrap_err();
    assert_eq!(err.setting(), "CLICKHOUSE_PASSWORD");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");

    let err = no_env().user("a\u{0}b").build_config().unwrap_err();
    assert_eq!(err.setting(), "Builder::user");
    let err = no_env().password("s3cr3t\n").build_config().unwrap_err();
    assert_eq!(err.setting(), "Builder::password");
    assert!(!err.to_string().contains("s3cr3t"), "{err}");

    // A setter replaces the variable's error; tabs and any Unicode go.
    let fixed = Builder::from_env_vars([("CLICKHOUSE_PASSWORD", "a\nb")])
        .password("tab\tand ünïcode")
        .user("wrïter")
        .build_config()
        .unwrap();
    assert_eq!(fixed.password.expose(), "tab\tand ünïcode");
    assert_eq!(fixed.user(), "wrïter");
}

#[test]
fn a_secret_in_a_urls_query_or_fragment_is_never_repeated() {
    let secrets = [
        "http://ch:8123/?password=hunter2",
        "http://ch:8123?user=u&password=hunter2",
        "https://ch/#hunter2",
        "http://u:hunter2@ch:8123/?x=1",
    ];
    for url in secrets {
        let from_env = with_vars(&[("CLICKHOUSE_URL", url)]).unwrap_err();
        let from_setter = no_env().url(url).err().unwrap();
        let in_list = no_env().endpoints(["http://a:1", url]).err().unwrap();
        for err in [from_env, from_setter, in_list] {
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("<redacted>"), "{shown}");
        }
    }
    let target = CheckTarget::Http("http://web/health?token=hunter2".into());
    assert!(!format!("{target:?}").contains("hunter2"));
    let unparsable = ServiceCheck::new("web", CheckTarget::Http("http://[::1/?k=hunter2".into()));
    let err = no_env().service_check(unparsable).unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn a_ca_file_that_never_ends_is_refused_at_once() {
    // `/dev/zero` was read until memory ran out, before.
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let from_env = with_vars(&[("CLICKHOUSE_CA_CERT", "/dev/zero")]).map(|_| ());
        let from_setter = no_env().ca_cert("/dev/zero").map(|_| ());
        let _ = done.send((from_env, from_setter));
    });
    let (from_env, from_setter) = wait
        .recv_timeout(Duration::from_secs(30))
        .expect("an answer within 30 s");
    for (err, setting) in [
        (from_env.unwrap_err(), "CLICKHOUSE_CA_CERT"),
        (from_setter.unwrap_err(), "Builder::ca_cert"),
    ] {
        assert_eq!(err.setting(), setting);
        assert!(err.to_string().contains("larger than 4 MiB"), "{err}");
    }
}

#[test]
fn an_error_can_name_the_flag_a_tool_took_the_value_by() {
    let err = no_env()
        .database("1x")
        .unwrap_err()
        .with_setting("--database");
    assert_eq!(err.setting(), "--database");
    assert!(err.to_string().starts_with("--database: "), "{err}");
}

/// The alerts' interval and webhook settings are held to their documented
/// bounds when the pipeline starts, by the setter's name.
#[cfg(feature = "alerts")]
#[test]
fn alert_settings_out_of_bounds_are_refused_by_name() {
    use crate::alert::{Alerts, Webhook};
    let started = |alerts: Alerts| no_env().dry_run(true).alerts(alerts).build().err();
    let setting = |error: Option<crate::Error>| match error {
        Some(crate::Error::Config(error)) => error.setting(),
        other => panic!("not a configuration error: {other:?}"),
    };
    let fast = Alerts::new(Vec::new()).interval(Duration::from_millis(999));
    assert_eq!(setting(started(fast)), "Alerts::interval");
    let webhook = Webhook::new("http://127.0.0.1:9/").unwrap().attempts(0);
    let no_attempt = Alerts::new(Vec::new()).webhook(webhook);
    assert_eq!(setting(started(no_attempt)), "Webhook::attempts");
    let fine = Alerts::new(Vec::new()).interval(Duration::from_secs(1));
    assert!(started(fine).is_none(), "one second is allowed");
}
