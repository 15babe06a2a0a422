use std::time::Duration;

use super::*;
use crate::error::ConfigError;

fn with_vars(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Builder::from_env_vars(vars.iter().map(|(k, v)| (*k, *v))).build_config()
}

fn no_env() -> Builder {
    Builder::from_env_vars::<&str, &str>([])
}

#[test]
fn defaults_are_the_seeds() {
    let config = with_vars(&[]).unwrap();
    assert_eq!(config.url(), "https://localhost:8443");
    assert!(config.secure());
    assert_eq!(config.user(), "default");
    assert_eq!(config.password.expose(), "");
    assert_eq!(config.database(), "ai_backlog_admin");
    assert_eq!(config.retention(), Retention::default());
    assert_eq!(config.retention().logs_days, 180);
    assert_eq!(config.retention().metrics_days, 730);
    assert_eq!(config.retention().events_days, 365);
    assert_eq!(config.filter(), "info");
}

#[test]
fn variables_are_read() {
    let config = with_vars(&[
        ("CLICKHOUSE_HOST", "ch.internal"),
        ("CLICKHOUSE_PORT", "9443"),
        ("CLICKHOUSE_SECURE", "off"),
        ("CLICKHOUSE_USER", "writer"),
        ("CLICKHOUSE_PASSWORD", "s3cret"),
        ("CLICKHOUSE_DATABASE", "telemetry_1"),
        ("CLICKHOUSE_LOGS_TTL_DAYS", "30"),
        ("CLICKHOUSE_QUEUE_CAPACITY", "1024"),
        ("CLICKHOUSE_QUEUE_POLICY", "block"),
        ("OTEL_SERVICE_NAME", "checkout"),
        ("RUST_LOG", "warn,checkout=debug"),
    ])
    .unwrap();
    assert_eq!(config.url(), "http://ch.internal:9443");
    assert_eq!(config.user(), "writer");
    assert_eq!(config.password.expose(), "s3cret");
    assert_eq!(config.database(), "telemetry_1");
    assert_eq!(config.retention().logs_days, 30);
    assert_eq!(config.retention().spans_days, 180);
    assert_eq!(config.pipeline().queue_capacity, 1024);
    assert_eq!(config.pipeline().queue_policy, QueuePolicy::Block);
    assert_eq!(config.service_name(), "checkout");
    assert_eq!(config.filter(), "warn,checkout=debug");
}

#[test]
fn url_replaces_host_port_and_secure() {
    let config = with_vars(&[
        ("CLICKHOUSE_URL", "http://127.0.0.1:8123"),
        ("CLICKHOUSE_HOST", "ignored"),
        ("CLICKHOUSE_PORT", "not a port either, ignored"),
    ])
    .unwrap();
    assert_eq!(config.url(), "http://127.0.0.1:8123");
    assert!(!config.secure());
    assert_eq!(
        with_vars(&[("CLICKHOUSE_URL", "https://h")]).unwrap().url(),
        "https://h:8443"
    );
    assert_eq!(
        with_vars(&[("CLICKHOUSE_URL", "http://h/")]).unwrap().url(),
        "http://h:8123"
    );
    assert_eq!(
        with_vars(&[("CLICKHOUSE_URL", "http://[::1]:9000")])
            .unwrap()
            .url(),
        "http://[::1]:9000"
    );
}

#[test]
fn builder_wins_over_environment() {
    let config = Builder::from_env_vars([
        ("CLICKHOUSE_DATABASE", "from_env"),
        ("CLICKHOUSE_USER", "env_user"),
    ])
    .database("from_builder")
    .unwrap()
    .build_config()
    .unwrap();
    assert_eq!(config.database(), "from_builder");
    assert_eq!(config.user(), "env_user");
}

#[test]
fn each_bad_value_names_its_variable() {
    let cases: &[(&str, &str)] = &[
        ("CLICKHOUSE_PORT", "84x3"),
        ("CLICKHOUSE_PORT", "0"),
        ("CLICKHOUSE_PORT", "70000"),
        ("CLICKHOUSE_SECURE", "maybe"),
        ("CLICKHOUSE_HOST", "http://host"),
        ("CLICKHOUSE_HOST", "a b"),
        ("CLICKHOUSE_DATABASE", "logs; DROP TABLE x"),
        ("CLICKHOUSE_DATABASE", "1abc"),
        ("CLICKHOUSE_URL", "ftp://host"),
        ("CLICKHOUSE_URL", "not a url"),
        ("CLICKHOUSE_URL", "http://host:8123/path"),
        ("CLICKHOUSE_CA_CERT", "/nonexistent/ca.pem"),
        ("CLICKHOUSE_LOGS_TTL_DAYS", "-1"),
        ("CLICKHOUSE_METRICS_TTL_DAYS", "0"),
        ("CLICKHOUSE_QUEUE_CAPACITY", "lots"),
        ("CLICKHOUSE_FLUSH_INTERVAL_MS", "0"),
        ("CLICKHOUSE_QUEUE_POLICY", "sometimes"),
        ("OTEL_SERVICE_NAME", "  "),
        ("RUST_LOG", "info,[[["),
    ];
    for (var, value) in cases {
        let err = with_vars(&[(var, value)]).expect_err(&format!("{var}={value} must fail"));
        let message = err.to_string();
        assert!(message.contains(var), "{message:?} names {var}");
        if *var != "CLICKHOUSE_CA_CERT" {
            assert!(
                message.contains(&format!("{value:?}")),
                "{message:?} shows {value:?}"
            );
        }
        assert_eq!(err.setting(), *var);
    }
}

#[test]
fn a_setter_replacing_a_bad_variable_forgets_its_error() {
    let bad = [
        ("CLICKHOUSE_PORT", "84x3"),
        ("CLICKHOUSE_QUEUE_CAPACITY", "lots"),
        ("CLICKHOUSE_LOGS_TTL_DAYS", "-1"),
    ];
    assert!(Builder::from_env_vars(bad).build_config().is_err());
    let config = Builder::from_env_vars(bad)
        .port(9000)
        .and_then(|b| b.queue_capacity(8))
        .and_then(|b| b.retention(Retention::default()))
        .and_then(Builder::build_config)
        .unwrap();
    assert_eq!(config.url(), "https://localhost:9000");
    assert_eq!(config.pipeline().queue_capacity, 8);
    // A URL replaces the port, and so its error.
    let config = Builder::from_env_vars([("CLICKHOUSE_PORT", "84x3")])
        .url("http://127.0.0.1:8123")
        .and_then(Builder::build_config)
        .unwrap();
    assert_eq!(config.url(), "http://127.0.0.1:8123");
}

#[test]
fn a_ca_file_without_certificates_is_rejected() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "not a certificate").unwrap();
    let err = with_vars(&[("CLICKHOUSE_CA_CERT", file.path().to_str().unwrap())]).unwrap_err();
    assert!(err.to_string().contains("no PEM certificate"), "{err}");
    let err = no_env().ca_cert(file.path()).unwrap_err();
    assert_eq!(err.setting(), "Builder::ca_cert");
}

#[test]
fn password_never_shows() {
    let config = with_vars(&[("CLICKHOUSE_PASSWORD", "hunter2-secret")]).unwrap();
    assert!(!format!("{config:?}").contains("hunter2"));
    assert!(format!("{config:?}").contains("<redacted>"));
    let builder = no_env().password("hunter2-secret");
    assert!(!format!("{builder:?}").contains("hunter2"));
    let err = with_vars(&[("CLICKHOUSE_URL", "http://bob:hunter2-secret@host:8123")]).unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(err.to_string().contains("CLICKHOUSE_URL"), "{err}");
    let err = no_env().url("http://bob:hunter2-secret@host").unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn bad_builder_values_name_the_method() {
    let err = no_env().port(0).unwrap_err();
    assert_eq!(err.setting(), "Builder::port");
    let err = no_env().database("a-b").unwrap_err();
    assert_eq!(err.setting(), "Builder::database");
    let retention = Retention {
        logs_days: 0,
        ..Retention::default()
    };
    let err = no_env().retention(retention).unwrap_err();
    assert_eq!(err.setting(), "Retention::logs_days");
    let pipeline = PipelineConfig {
        batch_max_rows: 0,
        ..PipelineConfig::default()
    };
    let err = no_env().pipeline(pipeline).unwrap_err();
    assert_eq!(err.setting(), "PipelineConfig::batch_max_rows");
    let err = no_env().flush_interval(Duration::ZERO).unwrap_err();
    assert_eq!(err.setting(), "Builder::flush_interval");
    let err = no_env().filter("info,[[[").unwrap_err();
    assert_eq!(err.setting(), "Builder::filter");
    // Checked at the exit: a blank service name, an empty spool path.
    let err = no_env().service_name(" ").build_config().unwrap_err();
    assert_eq!(err.setting(), "Builder::service_name");
    let err = no_env().spool_dir("").build_config().unwrap_err();
    assert_eq!(err.setting(), "SpoolConfig::dir");
}

#[test]
fn a_config_turns_back_into_the_builder_it_came_from() {
    let config = no_env()
        .url("http://127.0.0.1:8123")
        .unwrap()
        .database("round_trip")
        .unwrap()
        .service_name("checkout")
        .password("s3cret")
        .spool_dir("/tmp/spool")
        .queue_policy(QueuePolicy::Block)
        .console(false)
        .build_config()
        .unwrap();
    let again = config.clone().into_builder().build_config().unwrap();
    assert_eq!(format!("{again:?}"), format!("{config:?}"));
    assert_eq!(again.password.expose(), "s3cret");
    assert!(!again.console().enabled);
    // Not asked: a builder made back from a configuration leaves the console
    // to its exit, as the first one did.
    let unasked = no_env().build_config().unwrap();
    assert!(unasked.console().enabled, "on for install");
    let (rebuilt, _) = unasked.into_builder().finish(false).unwrap();
    assert!(!rebuilt.console().enabled, "off for build");
    let changed = config.into_builder().database("other").unwrap();
    let changed = changed.build_config().unwrap();
    assert_eq!(
        (changed.database(), changed.service_name()),
        ("other", "checkout")
    );
}

#[test]
fn the_quiet_preset_writes_only_the_applications_rows() {
    let config = no_env().quiet().build_config().unwrap();
    assert!(!config.monitor().system);
    assert!(!config.metrics().pipeline_metrics);
}

#[test]
fn a_service_check_is_checked_where_it_is_added() {
    let https = ServiceCheck::new("search", CheckTarget::Http("https://search".into()));
    let err = no_env().service_check(https).unwrap_err();
    assert_eq!(err.setting(), "CheckTarget::Http");
    let instant =
        ServiceCheck::new("db", CheckTarget::Tcp("db:5432".into())).timeout(Duration::ZERO);
    let err = no_env().service_check(instant).unwrap_err();
    assert_eq!(err.setting(), "ServiceCheck::timeout");
    let ok = ServiceCheck::new("db", CheckTarget::Tcp("db:5432".into()));
    let config = no_env().service_check(ok).unwrap().build_config().unwrap();
    assert_eq!(config.monitor().services.len(), 1);
}
