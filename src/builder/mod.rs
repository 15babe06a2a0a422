//! The one builder: every option, starting from the environment
//! (`CLICKHOUSE_*`; the setters by topic in `options`, `scale` and
//! `sampling`), and its exits in `start`: the layer, the subscriber, or
//! everything global installed. It sits above the configuration it
//! resolves to and the pipeline it starts.

mod options;
mod sampling;
mod scale;
mod start;

pub use start::{builder, init};

#[cfg(test)]
mod settings_tests;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;

use crate::config::env::{self, CONNECTION_VARS, EnvSource};
use crate::config::values::{
    Secret, check_ca_cert, check_credential, env_filter, parse_host, parse_identifier, parse_port,
    parse_url,
};
use crate::config::{Config, ConsoleWriter};
use crate::error::{ConfigError, invalid};

/// Sets up telemetry: every option, starting from the environment.
///
/// ```no_run
/// # fn main() -> tracing_clickhouse::Result<()> {
/// let _telemetry = tracing_clickhouse::builder()
///     .service_name("checkout")
///     .spool_dir("/var/lib/checkout/spool")
///     .install()?;
/// # Ok(()) }
/// ```
///
/// It ends in one of four exits, from the most done for you to the least:
///
/// | exit | gives | installs |
/// | --- | --- | --- |
/// | [`install`](Builder::install) | the guard ([`Telemetry`](crate::Telemetry)) | the subscriber (filter, our layer, the console), the `log` bridge, the `metrics` recorder |
/// | [`build_subscriber`](Builder::build_subscriber) | the subscriber `install` would install, and the guard | nothing |
/// | [`build`](Builder::build) | our layer, for a subscriber of your own, and the guard | nothing |
/// | [`build_config`](Builder::build_config) | the checked [`Config`], for [`QueryClient`](crate::query::QueryClient) or [`schema::apply`](crate::schema::apply) | nothing |
///
/// None of them touches the network: a server that is down at start is
/// retried later.
///
/// A setter that parses or checks its value returns a `Result` and says there
/// what is wrong. A variable of the environment that does not parse is
/// reported by the exit, unless a setter replaced what it sets: a bad
/// `CLICKHOUSE_URL` is forgotten after [`url`](Builder::url), or after all of
/// [`host`](Builder::host), [`port`](Builder::port) and
/// [`secure`](Builder::secure) (one of them alone would leave the others to
/// a URL that does not say). A bad `RUST_LOG` is reported only by the exits
/// that install the filter (`install` and `build_subscriber`).
///
/// | variable | default | setter |
/// | --- | --- | --- |
/// | `CLICKHOUSE_URL` | unset | [`url`](Builder::url): `http(s)://host[:port]`, replaces host, port and secure; several, comma-separated: [`endpoints`](Builder::endpoints) |
/// | `CLICKHOUSE_HOST` | `localhost` | [`host`](Builder::host) |
/// | `CLICKHOUSE_PORT` | `8443` | [`port`](Builder::port) |
/// | `CLICKHOUSE_SECURE` | `true` | [`secure`](Builder::secure): HTTPS (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`) |
/// | `CLICKHOUSE_USER` | `default` | [`user`](Builder::user) (no control characters: it is sent in an HTTP header) |
/// | `CLICKHOUSE_PASSWORD` | empty | [`password`](Builder::password) (never printed; no control characters) |
/// | `CLICKHOUSE_DATABASE` | `ai_backlog_admin` | [`database`](Builder::database) (a plain identifier) |
/// | `CLICKHOUSE_CA_CERT` | unset | [`ca_cert`](Builder::ca_cert): PEM file of CAs to trust for HTTPS, besides the webpki roots (at most 4 MiB) |
/// | `OTEL_SERVICE_NAME` | executable name | [`service_name`](Builder::service_name): `ServiceName` of every row |
/// | `CLICKHOUSE_LOGS_TTL_DAYS` | `180` | [`Limit::LogsTtlDays`](crate::Limit::LogsTtlDays): retention of `logs` and `logs_by_level` |
/// | `CLICKHOUSE_SPANS_TTL_DAYS` | `180` | [`Limit::SpansTtlDays`](crate::Limit::SpansTtlDays): of `spans` |
/// | `CLICKHOUSE_METRICS_TTL_DAYS` | `730` | [`Limit::MetricsTtlDays`](crate::Limit::MetricsTtlDays): of `metrics` and its rollups |
/// | `CLICKHOUSE_EVENTS_TTL_DAYS` | `365` | [`Limit::EventsTtlDays`](crate::Limit::EventsTtlDays): of `events` |
/// | `CLICKHOUSE_QUEUE_CAPACITY` | `16384` | [`Limit::QueueCapacity`](crate::Limit::QueueCapacity): records the capture queue holds, 1-4194304 (256 bytes each, allocated at start) |
/// | `CLICKHOUSE_QUEUE_POLICY` | `drop_newest` | [`queue_policy`](Builder::queue_policy): `drop_newest` or `block` |
/// | `CLICKHOUSE_BATCH_MAX_ROWS` | `50000` | [`Limit::BatchRows`](crate::Limit::BatchRows): rows per insert, at most; 1-10000000 |
/// | `CLICKHOUSE_FLUSH_INTERVAL_MS` | `1000` | [`Timing::FlushInterval`](crate::Timing::FlushInterval): a batch is sent when its oldest row is this old (10 ms to 365 days) |
/// | `CLICKHOUSE_METRICS_INTERVAL_MS` | `10000` | [`Timing::MetricsInterval`](crate::Timing::MetricsInterval): how often metric series are written (1 s to 365 days) |
/// | `CLICKHOUSE_MONITOR` | `true` | [`system_monitor`](Builder::system_monitor): the system gauges (CPU, memory, disks, load, uptime, the process) |
/// | `CLICKHOUSE_SPOOL_DIR` | unset | [`spool_dir`](Builder::spool_dir): the disk spool's directory; unset, no spool |
/// | `CLICKHOUSE_SPOOL_MAX_BYTES` | `1073741824` | [`Limit::SpoolBytes`](crate::Limit::SpoolBytes): disk space the spool may use (positive) |
/// | `CLICKHOUSE_CLUSTER` | unset | [`cluster`](Builder::cluster): the schema `ON CLUSTER`, replicated, behind `Distributed` tables |
/// | `CLICKHOUSE_TRACE_SAMPLE_RATIO` | `1` | [`trace_sample_ratio`](Builder::trace_sample_ratio): the share of new traces whose spans are recorded (parent-based; logs are always kept) |
/// | `CLICKHOUSE_ASYNC_INSERT` | `false` | [`async_insert`](Builder::async_insert): server-side batching |
/// | `CLICKHOUSE_START_LINE` | `true` | [`start_line`](Builder::start_line): the line at start that says where unsent batches survive |
/// | `RUST_LOG` | `info` | [`filter`](Builder::filter): what `install` and `build_subscriber` let through |
///
/// Empty variables count as unset, except `CLICKHOUSE_PASSWORD`. The other
/// options have setters only: the sizes and counts in [`Limit`](crate::Limit)
/// (through [`limit`](Builder::limit)), the durations in
/// [`Timing`](crate::Timing) (through [`timing`](Builder::timing)), and a
/// setter each for the rest.
#[must_use]
pub struct Builder {
    pub(crate) config: Config,
    /// Errors of variables no setter replaced, and of settings checked at
    /// the exit; the first is the exit's error.
    pub(super) errors: Vec<ConfigError>,
    /// `None` leaves the console to the exit: on with `install`, off with `build`.
    pub(crate) console: Option<bool>,
    /// Which of host, port and secure a setter set (`HOST`, `PORT`,
    /// `SECURE`): all three replace `CLICKHOUSE_URL`.
    endpoint_set: u8,
    /// The rules the guard evaluates ([`Builder::alerts`]).
    #[cfg(feature = "alerts")]
    pub(crate) alerts: Option<Box<crate::alert::Alerts>>,
}

const HOST: u8 = 1;
const PORT: u8 = 2;
const SECURE: u8 = 4;

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("config", &self.config)
            .field("errors", &self.errors)
            .field("console", &self.console)
            .finish_non_exhaustive()
    }
}

impl From<Config> for Builder {
    fn from(config: Config) -> Self {
        Builder {
            console: config.console_asked,
            config,
            errors: Vec::new(),
            endpoint_set: 0,
            #[cfg(feature = "alerts")]
            alerts: None,
        }
    }
}

impl Config {
    /// The configuration from the process environment (see the
    /// [`Builder`]'s table); a shorthand for `builder().build_config()`,
    /// for programs that only read history back or manage the schema.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the first invalid variable.
    pub fn from_env() -> Result<Config, ConfigError> {
        Builder::from_env().build_config()
    }

    /// A builder starting from this configuration (not from the
    /// environment), to change some of it.
    pub fn into_builder(self) -> Builder {
        Builder::from(self)
    }
}

impl Builder {
    /// Every setting from the process environment, else its default (what
    /// [`builder`](crate::builder) returns).
    pub fn from_env() -> Self {
        Self::reading(&EnvSource::Process)
    }

    /// Like [`from_env`](Builder::from_env), from these variables instead of
    /// the process environment (for tests, or configuration kept elsewhere).
    /// `Builder::from_env_vars::<&str, &str>([])` is every default.
    pub fn from_env_vars<K, V>(vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        let vars = vars.into_iter().map(|(k, v)| (k.into(), v.into()));
        Self::reading(&EnvSource::Vars(vars.collect()))
    }

    fn reading(source: &EnvSource) -> Self {
        let (config, errors) = env::read(source);
        Builder {
            config,
            errors,
            console: None,
            endpoint_set: 0,
            #[cfg(feature = "alerts")]
            alerts: None,
        }
    }

    /// Forgets the errors of variables whose settings a setter replaced.
    pub(super) fn replaced(&mut self, vars: &[&str]) {
        self.errors.retain(|error| !vars.contains(&error.setting()));
    }

    /// A setter set one of host, port and secure (`part`), replacing `var`,
    /// and `CLICKHOUSE_URL` once it has set all three.
    fn endpoint_replaced(&mut self, part: u8, var: &str) {
        self.endpoint_set |= part;
        self.replaced(&[var]);
        if self.endpoint_set == HOST | PORT | SECURE {
            self.config.more_endpoints.clear();
            self.replaced(&["CLICKHOUSE_URL"]);
        }
    }

    // --- Connection -----------------------------------------------------

    /// `http(s)://host[:port]` (ClickHouse's usual port when it names none:
    /// 8123 for http, 8443 for https); replaces host, port and secure.
    ///
    /// # Errors
    ///
    /// Not such a URL, or one with credentials, a path or a query (the
    /// credentials are not repeated in the error).
    pub fn url(mut self, url: impl AsRef<str>) -> Result<Self, ConfigError> {
        self.config.endpoint = parse_url("Builder::url", url.as_ref())?;
        self.config.more_endpoints.clear();
        self.endpoint_set = HOST | PORT | SECURE;
        self.replaced(&CONNECTION_VARS);
        Ok(self)
    }

    /// Server host.
    ///
    /// # Errors
    ///
    /// Not a host name or IP address (a scheme, port, path or credentials in
    /// it; credentials are not repeated in the error).
    pub fn host(mut self, host: impl AsRef<str>) -> Result<Self, ConfigError> {
        self.config.endpoint.host = parse_host("Builder::host", host.as_ref())?;
        self.endpoint_replaced(HOST, "CLICKHOUSE_HOST");
        Ok(self)
    }

    /// Server port.
    ///
    /// # Errors
    ///
    /// Port 0.
    pub fn port(mut self, port: u16) -> Result<Self, ConfigError> {
        self.config.endpoint.port = parse_port("Builder::port", &port.to_string())?;
        self.endpoint_replaced(PORT, "CLICKHOUSE_PORT");
        Ok(self)
    }

    /// HTTPS or plain HTTP.
    pub fn secure(mut self, secure: bool) -> Self {
        self.config.endpoint.secure = secure;
        self.endpoint_replaced(SECURE, "CLICKHOUSE_SECURE");
        self
    }

    /// User. One with a control character (a newline, say: it travels in
    /// an HTTP header) is reported by the exit.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        const SETTING: &str = "Builder::user";
        let user = user.into();
        self.replaced(&["CLICKHOUSE_USER", SETTING]);
        match check_credential(SETTING, &user, false) {
            Ok(()) => self.config.user = user,
            Err(error) => self.errors.push(error),
        }
        self
    }

    /// Password; never printed. One with a control character (a newline,
    /// say: it travels in an HTTP header) is reported by the exit, without
    /// the password.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        const SETTING: &str = "Builder::password";
        let password = password.into();
        self.replaced(&["CLICKHOUSE_PASSWORD", SETTING]);
        match check_credential(SETTING, &password, true) {
            Ok(()) => self.config.password = Secret::new(password),
            Err(error) => self.errors.push(error),
        }
        self
    }

    /// Database.
    ///
    /// # Errors
    ///
    /// Not a plain identifier (letters, digits and `_`, not starting with a
    /// digit, at most 64 characters): the name goes into DDL.
    pub fn database(mut self, database: impl AsRef<str>) -> Result<Self, ConfigError> {
        self.config.database = parse_identifier("Builder::database", database.as_ref())?;
        self.replaced(&["CLICKHOUSE_DATABASE"]);
        Ok(self)
    }

    /// PEM file with CA certificates to trust for HTTPS, besides the webpki roots.
    ///
    /// # Errors
    ///
    /// The file cannot be read or holds no certificate.
    pub fn ca_cert(mut self, path: impl Into<PathBuf>) -> Result<Self, ConfigError> {
        self.config.ca_cert = Some(check_ca_cert("Builder::ca_cert", path.into())?);
        self.config.ca_cert_setting = "Builder::ca_cert";
        self.replaced(&["CLICKHOUSE_CA_CERT"]);
        Ok(self)
    }

    // --- Service --------------------------------------------------------

    /// `ServiceName` of every row. A blank name is reported by the exit.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.replaced(&["OTEL_SERVICE_NAME", "Builder::service_name"]);
        if name.trim().is_empty() {
            let error = invalid("Builder::service_name", &name, "a non-empty name");
            self.errors.push(error);
        } else {
            self.config.service_name = name;
        }
        self
    }

    /// `service.version` resource attribute.
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.config.service_version = Some(version.into());
        self
    }

    // --- Exits ------------------------------------------------------------

    /// The checked configuration, for reading history back or managing the
    /// schema without a pipeline.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the first invalid setting and its value.
    pub fn build_config(self) -> Result<Config, ConfigError> {
        Ok(self.finish(true)?.0)
    }

    /// For the exits that install the filter (`install` and
    /// `build_subscriber`): the error of directives `EnvFilter` does not take
    /// (an invalid `RUST_LOG`; [`filter`](Builder::filter) refuses them at
    /// once) joins those the exit reports, so that after `finish`
    /// `config.filter` is known good.
    pub(crate) fn with_filter_checked(mut self) -> Self {
        if let Err(error) = env_filter(self.config.filter_setting, &self.config.filter) {
            self.errors.push(error);
        }
        self
    }

    /// The checked configuration, with the console on or off as asked or,
    /// if not asked, as `console_by_default`; and where the console writes.
    pub(crate) fn finish(
        mut self,
        console_by_default: bool,
    ) -> Result<(Config, Option<ConsoleWriter>), ConfigError> {
        if let Some(error) = self.errors.drain(..).next() {
            return Err(error);
        }
        let config = &mut self.config;
        config.spool.validate()?;
        if config.endpoint.secure && !cfg!(feature = "rustls") {
            return Err(ConfigError::TlsUnavailable {
                setting: "CLICKHOUSE_SECURE / CLICKHOUSE_URL",
            });
        }
        config.console_asked = self.console;
        config.console.enabled = self.console.unwrap_or(console_by_default);
        let writer = config
            .console_writer
            .clone()
            .map(|writer| Box::new(writer) as ConsoleWriter);
        Ok((self.config, writer))
    }
}
