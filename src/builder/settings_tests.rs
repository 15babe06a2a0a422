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
fn sizes_counts_and_intervals_from_setters_and_sections_have_both_bounds() {
    let setters = [
        no_env().queue_capacity(1 << 30).err(),
        no_env().batch_max_rows(usize::MAX).err(),
        no_env().flush_interval(Duration::from_millis(1)).err(),
        no_env().metrics_interval(Duration::from_millis(1)).err(),
    ];
    let names = [
        "Builder::queue_capacity",
        "Builder::batch_max_rows",
        "Builder::flush_interval",
        "Builder::metrics_interval",
    ];
    for (err, name) in setters.into_iter().zip(names) {
        assert_eq!(err.map(|e| e.setting()), Some(name));
    }

    let pipeline = |change: fn(&mut PipelineConfig)| {
        let mut pipeline = PipelineConfig::default();
        change(&mut pipeline);
        no_env().pipeline(pipeline).err().map(|e| e.setting())
    };
    assert_eq!(
        pipeline(|p| p.queue_capacity = usize::MAX),
        Some("PipelineConfig::queue_capacity")
    );
    assert_eq!(
        pipeline(|p| p.batch_max_bytes = 1 << 30),
        Some("PipelineConfig::batch_max_bytes")
    );
    assert_eq!(
        pipeline(|p| p.insert_timeout = Duration::from_millis(1)),
        Some("PipelineConfig::insert_timeout")
    );
    assert_eq!(
        pipeline(|p| p.max_retry_backoff = Duration::from_millis(1)),
        Some("PipelineConfig::max_retry_backoff")
    );
    assert_eq!(
        pipeline(|p| p.outage_flush_interval = Duration::from_micros(1)),
        Some("PipelineConfig::outage_flush_interval")
    );
    assert_eq!(pipeline(|p| p.max_pending_bytes = usize::MAX), None);

    let capture = |limits: CaptureLimits| {
        let capture = CaptureConfig {
            limits,
            ..CaptureConfig::default()
        };
        no_env().capture(capture).err().map(|e| e.setting())
    };
    let limits = CaptureLimits::default();
    assert_eq!(
        capture(CaptureLimits {
            max_message_bytes: 1 << 40,
            ..limits
        }),
        Some("CaptureLimits::max_message_bytes")
    );
    assert_eq!(
        capture(CaptureLimits {
            max_value_bytes: usize::MAX,
            ..limits
        }),
        Some("CaptureLimits::max_value_bytes")
    );
    assert_eq!(
        capture(CaptureLimits {
            max_fields: 100_000,
            ..limits
        }),
        Some("CaptureLimits::max_fields")
    );
    assert_eq!(
        capture(CaptureLimits {
            max_fields: 0,
            ..limits
        }),
        None
    );

    let metrics = MetricsConfig {
        interval: Duration::from_millis(1),
        ..MetricsConfig::default()
    };
    let err = no_env().metrics(metrics).unwrap_err();
    assert_eq!(err.setting(), "MetricsConfig::interval");
    let monitor = MonitorConfig {
        interval: Duration::from_millis(1),
        ..MonitorConfig::default()
    };
    let err = no_env().monitor(monitor).unwrap_err();
    assert_eq!(err.setting(), "MonitorConfig::interval");
    let check = ServiceCheck::new("db", CheckTarget::Tcp("db:5432".into()))
        .interval(Duration::from_micros(1));
    let err = no_env().service_check(check).unwrap_err();
    assert_eq!(err.setting(), "ServiceCheck::interval");
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
