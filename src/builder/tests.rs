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
fn defaults_are_the_seeds() {
    let config = with_vars(&[]).unwrap();
    assert_eq!(config.url(), "https://localhost:8443");
    assert!(config.endpoint.secure);
    assert_eq!(config.user(), "default");
    assert_eq!(config.password.expose(), "");
    assert_eq!(config.database(), "ai_backlog_admin");
    assert_eq!(config.retention.logs_days, 180);
    assert_eq!(config.retention.metrics_days, 730);
    assert_eq!(config.retention.events_days, 365);
    assert_eq!(config.filter, "info");
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
    assert_eq!(config.retention.logs_days, 30);
    assert_eq!(config.retention.spans_days, 180);
    assert_eq!(config.pipeline.queue_capacity, 1024);
    assert_eq!(config.pipeline.queue_policy, QueuePolicy::Block);
    assert_eq!(config.service_name(), "checkout");
    assert_eq!(config.filter, "warn,checkout=debug");
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
    assert!(!config.endpoint.secure);
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
        ("CLICKHOUSE_HOST", "ch.example:8123"),
        ("CLICKHOUSE_HOST", "[ch.example]"),
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
        ("CLICKHOUSE_FLUSH_INTERVAL_MS", "31536000001"),
        ("CLICKHOUSE_METRICS_INTERVAL_MS", "18446744073709551615"),
        ("CLICKHOUSE_URL", "http://host:0"),
        ("OTEL_SERVICE_NAME", "  "),
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
        .and_then(|b| b.limit(Limit::QueueCapacity(8)))
        .and_then(|b| b.limit(Limit::LogsTtlDays(180)))
        .and_then(Builder::build_config)
        .unwrap();
    assert_eq!(config.url(), "https://localhost:9000");
    assert_eq!(config.pipeline.queue_capacity, 8);
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
    let err = no_env().limit(Limit::LogsTtlDays(0)).unwrap_err();
    assert_eq!(err.setting(), "Limit::LogsTtlDays");
    let err = no_env().limit(Limit::BatchRows(0)).unwrap_err();
    assert_eq!(err.setting(), "Limit::BatchRows");
    let err = no_env().timing(Timing::FlushInterval(Duration::ZERO));
    assert_eq!(err.unwrap_err().setting(), "Timing::FlushInterval");
    let err = no_env().filter("info,[[[").unwrap_err();
    assert_eq!(err.setting(), "Builder::filter");
    // Checked at the exit: a blank service name, an empty spool path.
    let err = no_env().service_name(" ").build_config().unwrap_err();
    assert_eq!(err.setting(), "Builder::service_name");
    let err = no_env().spool_dir("").build_config().unwrap_err();
    assert_eq!(err.setting(), "Builder::spool_dir");
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
    assert!(!again.console.enabled);
    // Not asked: a builder made back from a configuration leaves the console
    // to its exit, as the first one did.
    let unasked = no_env().build_config().unwrap();
    assert!(unasked.console.enabled, "on for install");
    let (rebuilt, _) = unasked.into_builder().finish(false).unwrap();
    assert!(!rebuilt.console.enabled, "off for build");
    let changed = config.into_builder().database("other").unwrap();
    let changed = changed.build_config().unwrap();
    assert_eq!(
        (changed.database(), changed.service_name()),
        ("other", "checkout")
    );
}

#[test]
fn the_monitor_and_the_pipelines_metrics_can_be_turned_off() {
    let config = no_env()
        .system_monitor(false)
        .pipeline_metrics(false)
        .build_config()
        .unwrap();
    assert!(!config.monitor.system);
    assert!(!config.metrics.pipeline_metrics);
    let config = no_env().build_config().unwrap();
    assert!(config.monitor.system && config.metrics.pipeline_metrics);
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
    assert_eq!(config.monitor.services.len(), 1);
}

/// The error's `Display` and `Debug` both, for checking what they show.
fn shown(err: &ConfigError) -> String {
    format!("{err}\n{err:?}")
}

#[test]
fn credentials_never_show_in_url_or_host_errors() {
    // An unescaped `@` (or `/`, `?`, `#`) in the password.
    let urls = [
        "http://writer:p@ssw0rd@ch.example:8123",
        "http://writer:p@ss@w0rd@ch.example",
        "http://writer:p/ssw0rd@ch.example:8123",
        "http://writer:p?ssw0rd@ch.example:8123",
        "https://writer:p#ssw0rd@ch.example",
        "writer:p@ssw0rd@ch.example",
    ];
    for url in urls {
        let err = with_vars(&[("CLICKHOUSE_URL", url)]).unwrap_err();
        assert_eq!(err.setting(), "CLICKHOUSE_URL");
        assert!(!shown(&err).contains("ssw0rd"), "{url}: {}", shown(&err));
        assert!(!shown(&err).contains("w0rd"), "{url}: {}", shown(&err));
        assert!(shown(&err).contains("<redacted>@"), "{}", shown(&err));
        let err = no_env().url(url).unwrap_err();
        assert_eq!(err.setting(), "Builder::url");
        assert!(!shown(&err).contains("w0rd"), "{url}: {}", shown(&err));
    }
    let err = with_vars(&[("CLICKHOUSE_URL", "http://writer:p@ssw0rd@ch.example:8123")]);
    let message = err.unwrap_err().to_string();
    assert!(
        message.contains("\"http://<redacted>@ch.example:8123\""),
        "{message}"
    );

    for host in [
        "writer:hunter2@ch.example",
        "http://writer:hunter2@ch.example",
    ] {
        let err = with_vars(&[("CLICKHOUSE_HOST", host)]).unwrap_err();
        assert_eq!(err.setting(), "CLICKHOUSE_HOST");
        assert!(!shown(&err).contains("hunter2"), "{}", shown(&err));
        assert!(shown(&err).contains("<redacted>@ch.example"), "{err}");
        let err = no_env().host(host).unwrap_err();
        assert_eq!(err.setting(), "Builder::host");
        assert!(!shown(&err).contains("hunter2"), "{}", shown(&err));
    }
    // A host without credentials is still shown as given.
    let err = no_env().host("ch.example:8123").unwrap_err();
    assert!(err.to_string().contains("\"ch.example:8123\""), "{err}");

    let check = ServiceCheck::new(
        "search",
        CheckTarget::Http("https://probe:hunter2@search".into()),
    );
    let err = no_env().service_check(check).unwrap_err();
    assert!(!shown(&err).contains("hunter2"), "{}", shown(&err));
}

#[test]
fn a_url_names_port_0_never_and_its_schemes_port_as_given() {
    for url in [
        "http://ch.example:0",
        "https://[::1]:0",
        "http://ch.example:00",
    ] {
        let err = no_env().url(url).unwrap_err();
        assert_eq!(err.setting(), "Builder::url");
        assert!(err.to_string().contains("a port is 1-65535"), "{err}");
        let err = with_vars(&[("CLICKHOUSE_URL", url)]).unwrap_err();
        assert_eq!(err.setting(), "CLICKHOUSE_URL");
    }
    // `:80` and `:443` are the port asked for, not "no port".
    let url = |url: &str| no_env().url(url).unwrap().build_config().unwrap().url();
    assert_eq!(url("http://ch.example:80"), "http://ch.example:80");
    assert_eq!(url("https://ch.example:443/"), "https://ch.example:443");
    assert_eq!(url("http://[::1]:80"), "http://[::1]:80");
    assert_eq!(url("http://ch.example"), "http://ch.example:8123");
    assert_eq!(url("https://[::1]"), "https://[::1]:8443");
    assert_eq!(url("http://ch.example:9000"), "http://ch.example:9000");
}

#[test]
fn a_bad_rust_log_fails_only_the_exits_that_install_the_filter() {
    let bad = [("RUST_LOG", "info,[{")];
    // build_config (and build) do not use the filter.
    let config = Builder::from_env_vars(bad).build_config().unwrap();
    assert_eq!(config.filter, "info,[{");
    let (config, _) = Builder::from_env_vars(bad).finish(false).unwrap();
    assert_eq!(config.filter, "info,[{");
    // install and build_subscriber check it.
    let err = Builder::from_env_vars(bad)
        .with_filter_checked()
        .build_config()
        .unwrap_err();
    assert_eq!(err.setting(), "RUST_LOG");
    assert!(err.to_string().contains("\"info,[{\""), "{err}");
    // Also from a configuration made back into a builder.
    let err = config.into_builder().with_filter_checked().build_config();
    assert_eq!(err.unwrap_err().setting(), "RUST_LOG");
    // A variable's earlier error comes first.
    let err = Builder::from_env_vars([("CLICKHOUSE_PORT", "x"), ("RUST_LOG", "info,[{")])
        .with_filter_checked()
        .build_config()
        .unwrap_err();
    assert_eq!(err.setting(), "CLICKHOUSE_PORT");
    // The setter still refuses at once, and replaces the variable.
    let err = no_env().filter("info,[{").unwrap_err();
    assert_eq!(err.setting(), "Builder::filter");
    let config = Builder::from_env_vars(bad)
        .filter("warn")
        .unwrap()
        .with_filter_checked()
        .build_config()
        .unwrap();
    assert_eq!(config.filter, "warn");
    let good = Builder::from_env_vars([("RUST_LOG", "debug,my_app=trace")]);
    let config = good.with_filter_checked().build_config().unwrap();
    assert_eq!(config.filter, "debug,my_app=trace");
}

#[test]
fn every_duration_is_at_most_a_year() {
    let year = Duration::from_secs(365 * 24 * 3600);
    let over = year + Duration::from_nanos(1);
    let timings: [fn(Duration) -> Timing; 8] = [
        Timing::FlushInterval,
        Timing::OutageFlushInterval,
        Timing::InsertTimeout,
        Timing::MaxRetryBackoff,
        Timing::ShutdownTimeout,
        Timing::SpoolWriteAfter,
        Timing::MetricsInterval,
        Timing::MonitorInterval,
    ];
    for timing in timings {
        for d in [over, Duration::MAX] {
            let err = no_env().timing(timing(d)).unwrap_err();
            assert_eq!(err.setting(), timing(d).spec().0);
            assert!(err.to_string().contains("365 days"), "{err}");
        }
        let config = no_env().timing(timing(year)).unwrap().build_config();
        assert!(config.is_ok(), "{:?}", timing(year));
    }
    // A later setting replaces an earlier one; zero waits are fine.
    let config = no_env()
        .timing(Timing::ShutdownTimeout(year))
        .and_then(|b| b.timing(Timing::ShutdownTimeout(Duration::ZERO)))
        .and_then(|b| b.timing(Timing::FlushInterval(year)))
        .and_then(Builder::build_config)
        .unwrap();
    assert_eq!(config.pipeline.shutdown_timeout, Duration::ZERO);
    assert_eq!(config.pipeline.flush_interval, year);

    let check = || ServiceCheck::new("db", CheckTarget::Tcp("db:5432".into()));
    let cases = [
        ("ServiceCheck::interval", check().interval(Duration::MAX)),
        ("ServiceCheck::timeout", check().timeout(Duration::MAX)),
        (
            "ServiceCheck::degraded_after",
            check().degraded_after(Duration::MAX),
        ),
    ];
    for (setting, check) in cases {
        let err = no_env().service_check(check).unwrap_err();
        assert_eq!(err.setting(), setting);
    }
    let fine = check()
        .interval(year)
        .timeout(year)
        .degraded_after(Duration::ZERO);
    assert!(no_env().service_check(fine).is_ok());

    // The variables, in milliseconds.
    let year_ms = "31536000000";
    let config = with_vars(&[
        ("CLICKHOUSE_FLUSH_INTERVAL_MS", year_ms),
        ("CLICKHOUSE_METRICS_INTERVAL_MS", year_ms),
    ])
    .unwrap();
    assert_eq!(config.pipeline.flush_interval, year);
    assert_eq!(config.metrics.interval, year);
    for var in [
        "CLICKHOUSE_FLUSH_INTERVAL_MS",
        "CLICKHOUSE_METRICS_INTERVAL_MS",
    ] {
        let err = with_vars(&[(var, "31536000001")]).unwrap_err();
        assert_eq!(err.setting(), var);
        assert!(err.to_string().contains("365 days"), "{err}");
    }
}

#[test]
fn the_ca_file_is_checked_under_the_name_it_was_given() {
    const PEM: &str = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n";
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), PEM).unwrap();
    let from_builder = no_env().ca_cert(file.path()).unwrap();
    let from_builder = from_builder.build_config().unwrap();
    assert_eq!(from_builder.ca_cert_setting, "Builder::ca_cert");
    let from_env = with_vars(&[("CLICKHOUSE_CA_CERT", file.path().to_str().unwrap())]).unwrap();
    assert_eq!(from_env.ca_cert_setting, "CLICKHOUSE_CA_CERT");
    // The builder's setting wins over the variable, and so does its name.
    let both = Builder::from_env_vars([("CLICKHOUSE_CA_CERT", file.path().to_str().unwrap())])
        .ca_cert(file.path())
        .unwrap()
        .build_config()
        .unwrap();
    assert_eq!(both.ca_cert_setting, "Builder::ca_cert");
    // Kept through into_builder.
    let again = from_builder.clone().into_builder().build_config().unwrap();
    assert_eq!(again.ca_cert_setting, "Builder::ca_cert");

    // Connecting reads the file again; its error names the setting.
    #[cfg(feature = "rustls")]
    for (config, setting) in [
        (&from_builder, "Builder::ca_cert"),
        (&from_env, "CLICKHOUSE_CA_CERT"),
    ] {
        // The marker is there, the certificate is not DER.
        let err = crate::connect::client(config, true).unwrap_err();
        assert_eq!(err.setting(), setting, "{err}");
        assert!(err.to_string().starts_with(setting), "{err}");
    }
}

#[test]
fn into_builder_keeps_the_console_writer() {
    #[derive(Clone, Default)]
    struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let config = no_env()
        .console_writer(lines.clone())
        .build_config()
        .unwrap();
    assert!(config.console.enabled);
    let (rebuilt, writer) = config.clone().into_builder().finish(false).unwrap();
    assert!(rebuilt.console.enabled, "still asked for");
    let mut writer = writer.expect("the writer is kept");
    writer.write_all(b"secret line\n").unwrap();
    writer.flush().unwrap();
    assert_eq!(&*lines.0.lock().unwrap(), b"secret line\n");
    // Debug prints neither the writer nor what it holds.
    for debug in [
        format!("{config:?}"),
        format!("{:?}", config.into_builder()),
    ] {
        assert!(debug.contains("console_writer: Some(..)"), "{debug}");
        assert!(!debug.contains("secret"), "{debug}");
    }
    // No writer: stderr, as before.
    let (_, writer) = no_env().console(true).finish(false).unwrap();
    assert!(writer.is_none());
}

#[test]
fn a_bad_url_variable_is_forgotten_once_the_setters_replace_all_it_sets() {
    let bad = [("CLICKHOUSE_URL", "http://ch.example:8123/path")];
    // One part alone would leave port or scheme to a URL that does not say.
    let partial = [
        Builder::from_env_vars(bad).host("ch.example").unwrap(),
        Builder::from_env_vars(bad).port(8123).unwrap(),
        Builder::from_env_vars(bad).secure(false),
        Builder::from_env_vars(bad)
            .host("ch.example")
            .unwrap()
            .port(8123)
            .unwrap(),
    ];
    for builder in partial {
        assert_eq!(
            builder.build_config().unwrap_err().setting(),
            "CLICKHOUSE_URL"
        );
    }
    let config = Builder::from_env_vars(bad)
        .secure(false)
        .port(9000)
        .and_then(|b| b.host("ch.example"))
        .and_then(Builder::build_config)
        .unwrap();
    assert_eq!(config.url(), "http://ch.example:9000");
    let config = Builder::from_env_vars(bad)
        .url("https://ch.example")
        .and_then(Builder::build_config)
        .unwrap();
    assert_eq!(config.url(), "https://ch.example:8443");
    // A good URL variable: host alone keeps its port and scheme.
    let config = Builder::from_env_vars([("CLICKHOUSE_URL", "http://a:9000")])
        .host("b")
        .and_then(Builder::build_config)
        .unwrap();
    assert_eq!(config.url(), "http://b:9000");
}

#[test]
fn a_host_is_a_name_or_an_address_without_a_port() {
    let url = |host: &str| no_env().host(host).unwrap().build_config().unwrap().url();
    assert_eq!(url("ch.example"), "https://ch.example:8443");
    assert_eq!(url("10.0.0.1"), "https://10.0.0.1:8443");
    assert_eq!(url("::1"), "https://[::1]:8443");
    assert_eq!(url("[2001:db8::1]"), "https://[2001:db8::1]:8443");
    for bad in [
        "ch.example:8123",
        "10.0.0.1:8123",
        "[::1]:8123",
        "[::1",
        "::g",
    ] {
        let err = no_env().host(bad).unwrap_err();
        assert_eq!(err.setting(), "Builder::host", "{bad}");
    }
}

#[test]
fn a_service_check_url_prints_without_its_credentials() {
    let target = CheckTarget::Http("http://probe:s3cret@search:9200/health".into());
    let printed = format!("{target:?}");
    assert!(!printed.contains("s3cret"), "{printed}");
    assert!(printed.contains("search:9200"), "{printed}");
}
