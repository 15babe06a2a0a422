//! Configuration: where ClickHouse is, who is writing, how long data lives and
//! how the pipeline batches.
//!
//! [`Config::from_env`] reads the seed's variables; [`Config::builder`]
//! overrides any of them in code. Every bad value is an error that names the
//! variable (or the builder method) and the value; the password never appears
//! in an error or a `Debug` print.
//!
//! | variable | default | meaning |
//! | --- | --- | --- |
//! | `CLICKHOUSE_URL` | unset | `http(s)://host:port`; replaces host, port and secure |
//! | `CLICKHOUSE_HOST` | `localhost` | server host |
//! | `CLICKHOUSE_PORT` | `8443` | HTTP(S) port |
//! | `CLICKHOUSE_SECURE` | `true` | HTTPS (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`) |
//! | `CLICKHOUSE_USER` | `default` | user |
//! | `CLICKHOUSE_PASSWORD` | empty | password (never printed) |
//! | `CLICKHOUSE_DATABASE` | `ai_backlog_admin` | database (a plain identifier) |
//! | `CLICKHOUSE_CA_CERT` | unset | PEM file with the CA(s) to trust for HTTPS, besides the webpki roots |
//! | `OTEL_SERVICE_NAME` | executable name | `ServiceName` of every row |
//! | `CLICKHOUSE_LOGS_TTL_DAYS` | `180` | retention of `logs` and `logs_by_level` |
//! | `CLICKHOUSE_SPANS_TTL_DAYS` | `180` | retention of `spans` |
//! | `CLICKHOUSE_METRICS_TTL_DAYS` | `730` | retention of `metrics` and its rollups |
//! | `CLICKHOUSE_EVENTS_TTL_DAYS` | `365` | retention of `events` |
//! | `CLICKHOUSE_QUEUE_CAPACITY` | `16384` | records the capture queue holds |
//! | `CLICKHOUSE_QUEUE_POLICY` | `drop_newest` | when the queue is full: `drop_newest` or `block` |
//! | `CLICKHOUSE_BATCH_MAX_ROWS` | `50000` | rows per insert, at most |
//! | `CLICKHOUSE_FLUSH_INTERVAL_MS` | `1000` | age of a batch before it is sent anyway |
//! | `CLICKHOUSE_METRICS_INTERVAL_MS` | `10000` | how often metric series are written |
//! | `CLICKHOUSE_MONITOR` | `true` | record the system gauges (CPU, memory, disks, load, uptime, the process) |
//! | `CLICKHOUSE_SPOOL_DIR` | unset | directory of the disk spool (off when unset) |
//! | `CLICKHOUSE_SPOOL_MAX_BYTES` | `1073741824` | disk space the spool may use |
//!
//! Empty variables count as unset, except `CLICKHOUSE_PASSWORD`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::capture::CaptureLimits;
use crate::error::ConfigError;

const DEFAULT_HOST: &str = "localhost";
const DEFAULT_PORT: u16 = 8443;
const DEFAULT_SECURE: bool = true;
const DEFAULT_USER: &str = "default";
const DEFAULT_DATABASE: &str = "ai_backlog_admin";
/// Longest TTL accepted, in days (100 years).
const MAX_TTL_DAYS: u32 = 36_500;

/// A password: compared and sent, never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"<redacted>\""
        })
    }
}

/// How long each table keeps its rows, in days (ClickHouse `TTL`).
///
/// Defaults are the seed's: logs 6 months, metrics 2 years, events 1 year.
/// They take effect when the tables are created; existing tables keep theirs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// `logs` and `logs_by_level`.
    pub logs_days: u32,
    /// `spans`.
    pub spans_days: u32,
    /// `metrics`, `metrics_hourly` and `metrics_daily`.
    pub metrics_days: u32,
    /// `events`.
    pub events_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            logs_days: 180,
            spans_days: 180,
            metrics_days: 730,
            events_days: 365,
        }
    }
}

/// What to do with a record when the queue is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QueuePolicy {
    /// Drop the new record and count it: the application never waits.
    #[default]
    DropNewest,
    /// Wait until the flusher makes room: nothing is dropped while the
    /// pipeline runs, at the price of stalling the application when
    /// ClickHouse (or the flusher) cannot keep up.
    Block,
}

/// Limits of the capture queue and the flusher's batches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipelineConfig {
    /// Records the queue between the application and the flusher holds.
    pub queue_capacity: usize,
    /// Memory those records may hold, in bytes (approximately).
    pub max_queue_bytes: usize,
    /// What happens to a record when the queue is full by either bound.
    pub queue_policy: QueuePolicy,
    /// A batch is sent when it reaches this many rows...
    pub batch_max_rows: usize,
    /// ...or this many encoded bytes...
    pub batch_max_bytes: usize,
    /// ...or when its oldest row is this old.
    pub flush_interval: Duration,
    /// Time allowed for one insert, from the first byte sent to the answer.
    pub insert_timeout: Duration,
    /// Encoded batches kept in memory until ClickHouse acknowledges them.
    /// When they reach this size the flusher stops taking records from the
    /// queue, so the queue fills and [`queue_policy`](Self::queue_policy)
    /// applies: the application waits (`Block`) or new records are dropped
    /// and counted (`DropNewest`).
    pub max_pending_bytes: usize,
    /// How long dropping the guard waits for the queue to drain.
    pub shutdown_timeout: Duration,
    /// Longest wait between two attempts of a failed insert. Transient
    /// failures back off exponentially from 100 ms up to this; failures that
    /// need a person (authentication, a missing or different table) wait
    /// this long at once.
    pub max_retry_backoff: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            queue_capacity: 16_384,
            max_queue_bytes: 32 << 20,
            queue_policy: QueuePolicy::DropNewest,
            // ClickHouse prefers large, infrequent inserts: 10k-100k rows or ~1 s.
            batch_max_rows: 50_000,
            batch_max_bytes: 16 << 20,
            flush_interval: Duration::from_secs(1),
            insert_timeout: Duration::from_secs(30),
            max_pending_bytes: 64 << 20,
            shutdown_timeout: Duration::from_secs(10),
            max_retry_backoff: Duration::from_secs(10),
        }
    }
}

/// The metrics recorder's snapshots and limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricsConfig {
    /// How often the recorder's series are written to `metrics` (one row
    /// per series each time).
    pub interval: Duration,
    /// Series (metric name plus labels) the recorder keeps; registrations
    /// of new ones past it are refused and counted.
    pub max_series: usize,
    /// Whether each snapshot also records the pipeline's own counters
    /// ([`Stats`](crate::Stats)) as `tracing_clickhouse.*` metrics.
    pub pipeline_metrics: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            interval: Duration::from_secs(10),
            max_series: 10_000,
            pipeline_metrics: true,
        }
    }
}

/// What the monitor watches, and how often.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorConfig {
    /// Whether the system gauges are recorded every `interval`.
    pub system: bool,
    /// How often the system is read (the recorder's snapshots decide how
    /// often it is written).
    pub interval: Duration,
    /// Services to check.
    pub services: Vec<ServiceCheck>,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            system: true,
            interval: Duration::from_secs(10),
            services: Vec::new(),
        }
    }
}

/// A service to check: reachable over TCP, or answering HTTP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceCheck {
    /// The name in events and statuses.
    pub name: String,
    /// What to check.
    pub target: CheckTarget,
    /// Time between checks.
    pub interval: Duration,
    /// A check that takes longer failed (the service is down).
    pub timeout: Duration,
    /// A check that succeeds slower than this finds the service degraded.
    pub degraded_after: Duration,
}

impl ServiceCheck {
    /// A check of `target` every 10 s, with a 2 s timeout, degraded past 1 s.
    pub fn new(name: impl Into<String>, target: CheckTarget) -> Self {
        ServiceCheck {
            name: name.into(),
            target,
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            degraded_after: Duration::from_secs(1),
        }
    }

    /// Sets the time between checks.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Sets the timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Where a service is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckTarget {
    /// `host:port`: up when a TCP connection opens.
    Tcp(String),
    /// `http://host[:port]/path`: up when a `GET` answers below 500;
    /// degraded on 5xx. (HTTPS is not checked yet: use `Tcp`.)
    Http(String),
}

/// The disk spool: where batches go when ClickHouse is down and the memory
/// kept for them ([`PipelineConfig::max_pending_bytes`]) is full, and where
/// a shutdown leaves what it could not deliver. The next run of the
/// application (or this one, when ClickHouse is back) replays it, oldest
/// first, each batch with its original deduplication token.
///
/// Off unless [`dir`](Self::dir) is set: the directory must be on storage
/// that outlives the process and belong to one running instance (it is
/// locked while in use).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpoolConfig {
    /// The spool directory, created if missing. `None` keeps unsent batches
    /// in memory only.
    pub dir: Option<PathBuf>,
    /// Disk space the spool may use, in bytes.
    pub max_bytes: u64,
    /// Size at which a segment file is closed and a new one started.
    pub segment_bytes: u64,
    /// When written batches are forced to the disk.
    pub fsync: SpoolSync,
    /// What gives way when the spool is full.
    pub when_full: SpoolFull,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            dir: None,
            max_bytes: 1 << 30,
            segment_bytes: 64 << 20,
            fsync: SpoolSync::EveryBatch,
            when_full: SpoolFull::DropOldest,
        }
    }
}

/// When spooled batches are forced to the disk (`fsync`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SpoolSync {
    /// After every batch written: a crash of the machine loses nothing that
    /// reached the spool.
    #[default]
    EveryBatch,
    /// When a segment file is closed and at shutdown: a crash of the
    /// machine can lose the batches of the open segment; a crash of the
    /// process alone loses nothing that reached the spool.
    SegmentClose,
    /// Never: the operating system writes when it likes.
    Never,
}

/// What gives way when the spool is full. Either way the rows are counted
/// (`Stats::dropped_spool_full`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SpoolFull {
    /// Delete the oldest segment: recent data is usually worth more.
    #[default]
    DropOldest,
    /// Refuse the batch being spooled.
    DropNewest,
}

/// What capture keeps of each event and span.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureConfig {
    /// Size limits for messages and fields.
    pub limits: CaptureLimits,
    /// Whether a log row also carries the fields of the spans it was emitted
    /// in (innermost first, after the event's own fields).
    pub span_fields_in_logs: bool,
}

/// Where ClickHouse listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) secure: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Endpoint {
    pub(crate) fn url(&self) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        // IPv6 literals need brackets in a URL.
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// The complete, validated configuration.
///
/// `Debug` prints everything but the password.
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) endpoint: Endpoint,
    pub(crate) user: String,
    pub(crate) password: Secret,
    pub(crate) database: String,
    #[cfg_attr(not(feature = "rustls"), allow(dead_code))]
    pub(crate) ca_cert: Option<PathBuf>,
    pub(crate) service_name: String,
    pub(crate) service_version: Option<String>,
    pub(crate) retention: Retention,
    pub(crate) pipeline: PipelineConfig,
    pub(crate) capture: CaptureConfig,
    pub(crate) spool: SpoolConfig,
    pub(crate) metrics: MetricsConfig,
    pub(crate) monitor: MonitorConfig,
}

impl Config {
    /// Reads the configuration from the process environment (see the module docs).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the first invalid variable.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::builder().build()
    }

    /// A builder whose settings override the environment.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// The server's URL, `http(s)://host:port` (no credentials).
    pub fn url(&self) -> String {
        self.endpoint.url()
    }

    /// Whether the connection uses HTTPS.
    pub fn secure(&self) -> bool {
        self.endpoint.secure
    }

    /// The ClickHouse user.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The database holding the tables.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The `ServiceName` written with every row.
    pub fn service_name(&self) -> &str {
        &self.service_name
    }

    /// Retention of each table.
    pub fn retention(&self) -> Retention {
        self.retention
    }

    /// Queue and batch limits.
    pub fn pipeline(&self) -> &PipelineConfig {
        &self.pipeline
    }

    /// What capture keeps.
    pub fn capture(&self) -> CaptureConfig {
        self.capture
    }

    /// The disk spool.
    pub fn spool(&self) -> &SpoolConfig {
        &self.spool
    }

    /// The metrics recorder's settings.
    pub fn metrics(&self) -> MetricsConfig {
        self.metrics
    }

    /// The system monitor and service checks.
    pub fn monitor(&self) -> &MonitorConfig {
        &self.monitor
    }
}

/// Where unset builder values come from.
#[derive(Clone, Debug, Default)]
enum EnvSource {
    #[default]
    Process,
    Vars(HashMap<String, String>),
}

impl EnvSource {
    /// The variable's value; empty counts as unset (except for the password).
    fn get(&self, name: &str) -> Option<String> {
        let value = match self {
            EnvSource::Process => std::env::var(name).ok(),
            EnvSource::Vars(vars) => vars.get(name).cloned(),
        };
        value.filter(|v| !v.is_empty() || name == "CLICKHOUSE_PASSWORD")
    }
}

/// Builds a [`Config`]: values set here win over the environment.
///
/// ```
/// use tracing_clickhouse::Config;
/// let config = Config::builder()
///     .url("http://127.0.0.1:8123")
///     .database("telemetry")
///     .service_name("checkout")
///     .build()?;
/// assert_eq!(config.url(), "http://127.0.0.1:8123");
/// # Ok::<(), tracing_clickhouse::ConfigError>(())
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct ConfigBuilder {
    env: EnvSource,
    url: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    secure: Option<bool>,
    user: Option<String>,
    password: Option<Secret>,
    database: Option<String>,
    ca_cert: Option<PathBuf>,
    service_name: Option<String>,
    service_version: Option<String>,
    retention: Option<Retention>,
    pipeline: Option<PipelineConfig>,
    capture: CaptureConfig,
    spool: Option<SpoolConfig>,
    metrics: Option<MetricsConfig>,
    monitor: Option<MonitorConfig>,
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigBuilder")
            .field("url", &self.url)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("secure", &self.secure)
            .field("user", &self.user)
            .field("password", &self.password)
            .field("database", &self.database)
            .field("ca_cert", &self.ca_cert)
            .field("service_name", &self.service_name)
            .finish_non_exhaustive()
    }
}

impl ConfigBuilder {
    /// Reads unset values from these variables instead of the process
    /// environment (for tests, or configuration kept elsewhere).
    pub fn env_vars<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        let vars = vars.into_iter().map(|(k, v)| (k.into(), v.into()));
        self.env = EnvSource::Vars(vars.collect());
        self
    }

    /// `http(s)://host:port`: replaces host, port and secure (`CLICKHOUSE_URL`).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Server host (`CLICKHOUSE_HOST`).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Server port (`CLICKHOUSE_PORT`).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// HTTPS or plain HTTP (`CLICKHOUSE_SECURE`).
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = Some(secure);
        self
    }

    /// User (`CLICKHOUSE_USER`).
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Password (`CLICKHOUSE_PASSWORD`).
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(Secret(password.into()));
        self
    }

    /// Database (`CLICKHOUSE_DATABASE`).
    pub fn database(mut self, database: impl Into<String>) -> Self {
        self.database = Some(database.into());
        self
    }

    /// PEM file with CA certificates to trust (`CLICKHOUSE_CA_CERT`).
    pub fn ca_cert(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_cert = Some(path.into());
        self
    }

    /// `ServiceName` of every row (`OTEL_SERVICE_NAME`).
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// `service.version` resource attribute.
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version = Some(version.into());
        self
    }

    /// Retention of every table (overrides the `CLICKHOUSE_*_TTL_DAYS` variables).
    pub fn retention(mut self, retention: Retention) -> Self {
        self.retention = Some(retention);
        self
    }

    /// Queue and batch limits (overrides the pipeline variables).
    pub fn pipeline(mut self, pipeline: PipelineConfig) -> Self {
        self.pipeline = Some(pipeline);
        self
    }

    /// Size limits and whether logs carry their spans' fields.
    pub fn capture(mut self, capture: CaptureConfig) -> Self {
        self.capture = capture;
        self
    }

    /// The disk spool (replaces `CLICKHOUSE_SPOOL_DIR` and `CLICKHOUSE_SPOOL_MAX_BYTES`).
    pub fn spool(mut self, spool: SpoolConfig) -> Self {
        self.spool = Some(spool);
        self
    }

    /// The metrics recorder's settings (replaces `CLICKHOUSE_METRICS_INTERVAL_MS`).
    pub fn metrics(mut self, metrics: MetricsConfig) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The system monitor and service checks (replaces `CLICKHOUSE_MONITOR`).
    pub fn monitor(mut self, monitor: MonitorConfig) -> Self {
        self.monitor = Some(monitor);
        self
    }

    /// Adds a service check.
    pub fn service_check(mut self, check: ServiceCheck) -> Self {
        let mut monitor = self.monitor.take().unwrap_or_default();
        monitor.services.push(check);
        self.monitor = Some(monitor);
        self
    }

    /// Turns the disk spool on in `dir`, with the other spool settings at
    /// their defaults (or the environment's).
    pub fn spool_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        let mut spool = self.spool.take().unwrap_or_default();
        spool.dir = Some(dir.into());
        self.spool = Some(spool);
        self
    }

    /// Validates everything, without touching the network.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the first invalid setting and its value.
    pub fn build(self) -> Result<Config, ConfigError> {
        let env = &self.env;
        let endpoint = match (self.url, env.get("CLICKHOUSE_URL")) {
            (Some(url), _) => parse_url("ConfigBuilder::url", &url)?,
            (None, Some(url)) => parse_url("CLICKHOUSE_URL", &url)?,
            (None, None) => Endpoint {
                host: match self.host {
                    Some(host) => parse_host("ConfigBuilder::host", &host)?,
                    None => env_parsed(env, "CLICKHOUSE_HOST", parse_host)?
                        .unwrap_or_else(|| DEFAULT_HOST.to_owned()),
                },
                port: match self.port {
                    Some(port) => parse_port("ConfigBuilder::port", &port.to_string())?,
                    None => env_parsed(env, "CLICKHOUSE_PORT", parse_port)?.unwrap_or(DEFAULT_PORT),
                },
                secure: match self.secure {
                    Some(secure) => secure,
                    None => {
                        env_parsed(env, "CLICKHOUSE_SECURE", parse_bool)?.unwrap_or(DEFAULT_SECURE)
                    }
                },
            },
        };

        let user = self
            .user
            .or_else(|| env.get("CLICKHOUSE_USER"))
            .unwrap_or_else(|| DEFAULT_USER.to_owned());
        let password = self
            .password
            .or_else(|| env.get("CLICKHOUSE_PASSWORD").map(Secret))
            .unwrap_or_default();
        let database = match self.database {
            Some(db) => parse_identifier("ConfigBuilder::database", &db)?,
            None => match env.get("CLICKHOUSE_DATABASE") {
                Some(db) => parse_identifier("CLICKHOUSE_DATABASE", &db)?,
                None => DEFAULT_DATABASE.to_owned(),
            },
        };
        let ca_cert = match self.ca_cert {
            Some(path) => Some(check_ca_cert("ConfigBuilder::ca_cert", path)?),
            None => match env.get("CLICKHOUSE_CA_CERT") {
                Some(path) => Some(check_ca_cert("CLICKHOUSE_CA_CERT", path.into())?),
                None => None,
            },
        };
        if endpoint.secure && !cfg!(feature = "rustls") {
            return Err(ConfigError::TlsUnavailable {
                setting: "CLICKHOUSE_SECURE / CLICKHOUSE_URL",
            });
        }

        let service_name = match self.service_name.or_else(|| env.get("OTEL_SERVICE_NAME")) {
            Some(name) if name.trim().is_empty() => {
                return Err(invalid("service_name", &name, "a non-empty name"));
            }
            Some(name) => name,
            None => default_service_name(),
        };

        let retention = match self.retention {
            Some(retention) => {
                check_retention(&retention)?;
                retention
            }
            None => {
                let defaults = Retention::default();
                let days =
                    |var, default| env_parsed(env, var, parse_days).map(|v| v.unwrap_or(default));
                Retention {
                    logs_days: days("CLICKHOUSE_LOGS_TTL_DAYS", defaults.logs_days)?,
                    spans_days: days("CLICKHOUSE_SPANS_TTL_DAYS", defaults.spans_days)?,
                    metrics_days: days("CLICKHOUSE_METRICS_TTL_DAYS", defaults.metrics_days)?,
                    events_days: days("CLICKHOUSE_EVENTS_TTL_DAYS", defaults.events_days)?,
                }
            }
        };

        let pipeline = match self.pipeline {
            Some(pipeline) => pipeline,
            None => {
                let mut pipeline = PipelineConfig::default();
                if let Some(n) = env_parsed(env, "CLICKHOUSE_QUEUE_CAPACITY", parse_count)? {
                    pipeline.queue_capacity = n;
                }
                if let Some(n) = env_parsed(env, "CLICKHOUSE_BATCH_MAX_ROWS", parse_count)? {
                    pipeline.batch_max_rows = n;
                }
                if let Some(ms) = env_parsed(env, "CLICKHOUSE_FLUSH_INTERVAL_MS", parse_count)? {
                    pipeline.flush_interval = Duration::from_millis(ms as u64);
                }
                if let Some(policy) = env_parsed(env, "CLICKHOUSE_QUEUE_POLICY", parse_policy)? {
                    pipeline.queue_policy = policy;
                }
                pipeline
            }
        };
        check_pipeline(&pipeline)?;
        check_capture(&self.capture)?;

        let spool = match self.spool {
            Some(spool) => spool,
            None => {
                let mut spool = SpoolConfig {
                    dir: env.get("CLICKHOUSE_SPOOL_DIR").map(PathBuf::from),
                    ..SpoolConfig::default()
                };
                if let Some(n) = env_parsed(env, "CLICKHOUSE_SPOOL_MAX_BYTES", parse_count)? {
                    spool.max_bytes = n as u64;
                }
                spool
            }
        };
        check_spool(&spool)?;

        let metrics = match self.metrics {
            Some(metrics) => metrics,
            None => {
                let mut metrics = MetricsConfig::default();
                if let Some(ms) = env_parsed(env, "CLICKHOUSE_METRICS_INTERVAL_MS", parse_count)? {
                    metrics.interval = Duration::from_millis(ms as u64);
                }
                metrics
            }
        };
        if metrics.interval.is_zero() {
            return Err(invalid(
                "MetricsConfig::interval",
                "0s",
                "a positive duration",
            ));
        }
        let monitor = match self.monitor {
            Some(monitor) => monitor,
            None => MonitorConfig {
                system: env_parsed(env, "CLICKHOUSE_MONITOR", parse_bool)?.unwrap_or(true),
                ..MonitorConfig::default()
            },
        };
        if monitor.interval.is_zero() {
            return Err(invalid(
                "MonitorConfig::interval",
                "0s",
                "a positive duration",
            ));
        }
        if metrics.max_series == 0 {
            return Err(invalid(
                "MetricsConfig::max_series",
                "0",
                "a positive integer",
            ));
        }

        Ok(Config {
            endpoint,
            user,
            password,
            database,
            ca_cert,
            service_name,
            service_version: self.service_version,
            retention,
            pipeline,
            capture: self.capture,
            spool,
            metrics,
            monitor,
        })
    }
}

/// The variable, parsed, if it is set.
fn env_parsed<T>(
    env: &EnvSource,
    var: &'static str,
    parse: fn(&'static str, &str) -> Result<T, ConfigError>,
) -> Result<Option<T>, ConfigError> {
    env.get(var).map(|raw| parse(var, &raw)).transpose()
}

fn invalid(setting: &'static str, value: &str, reason: &'static str) -> ConfigError {
    ConfigError::Invalid {
        setting,
        value: value.to_owned(),
        reason,
    }
}

const HOST_RULE: &str = "a host name or IP address, without scheme, port or path";

fn parse_host(setting: &'static str, raw: &str) -> Result<String, ConfigError> {
    let host = raw.trim();
    let bad = host.is_empty()
        || host
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '/' | '@' | '?' | '#'))
        || url::Url::parse(&format!("http://{host}/")).is_err();
    if bad {
        return Err(invalid(setting, raw, HOST_RULE));
    }
    Ok(host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned())
}

fn parse_port(setting: &'static str, raw: &str) -> Result<u16, ConfigError> {
    match raw.trim().parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(invalid(setting, raw, "a port is 1-65535")),
    }
}

fn parse_bool(setting: &'static str, raw: &str) -> Result<bool, ConfigError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(invalid(
            setting,
            raw,
            "expected true/false, 1/0, yes/no or on/off",
        )),
    }
}

fn parse_days(setting: &'static str, raw: &str) -> Result<u32, ConfigError> {
    match raw.trim().parse::<u32>() {
        Ok(days) if (1..=MAX_TTL_DAYS).contains(&days) => Ok(days),
        _ => Err(invalid(setting, raw, "a number of days, 1-36500")),
    }
}

fn parse_policy(setting: &'static str, raw: &str) -> Result<QueuePolicy, ConfigError> {
    match raw.trim().to_ascii_lowercase().replace('-', "_").as_str() {
        "drop_newest" => Ok(QueuePolicy::DropNewest),
        "block" => Ok(QueuePolicy::Block),
        _ => Err(invalid(setting, raw, "drop_newest or block")),
    }
}

fn parse_count(setting: &'static str, raw: &str) -> Result<usize, ConfigError> {
    match raw.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(invalid(setting, raw, "a positive integer")),
    }
}

/// Database names go into DDL, so they must be plain identifiers.
pub(crate) fn parse_identifier(setting: &'static str, raw: &str) -> Result<String, ConfigError> {
    let mut chars = raw.chars();
    let ok = raw.len() <= 64
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(invalid(
            setting,
            raw,
            "an identifier: letters, digits and '_', not starting with a digit, at most 64 characters",
        ))
    }
}

fn parse_url(setting: &'static str, raw: &str) -> Result<Endpoint, ConfigError> {
    const RULE: &str = "http(s)://host[:port], without credentials, path or query";
    let Ok(url) = url::Url::parse(raw.trim()) else {
        return Err(invalid(setting, &redact_url(raw), RULE));
    };
    let secure = match url.scheme() {
        "https" => true,
        "http" => false,
        _ => return Err(invalid(setting, &redact_url(raw), RULE)),
    };
    let has_extras = !url.username().is_empty()
        || url.password().is_some()
        || !matches!(url.path(), "" | "/")
        || url.query().is_some()
        || url.fragment().is_some();
    let host = match url.host_str() {
        Some(host) if !has_extras => host,
        _ => return Err(invalid(setting, &redact_url(raw), RULE)),
    };
    Ok(Endpoint {
        secure,
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        // ClickHouse's conventional ports when the URL names none.
        port: url.port().unwrap_or(if secure { 8443 } else { 8123 }),
    })
}

/// The URL with any `user:password@` part masked, fit for an error message.
fn redact_url(raw: &str) -> String {
    match raw.find("://").map(|i| i + 3) {
        Some(start) => match raw[start..].find('@') {
            Some(at) => format!("{}<redacted>@{}", &raw[..start], &raw[start + at + 1..]),
            None => raw.to_owned(),
        },
        None if raw.contains('@') => "<redacted>".to_owned(),
        None => raw.to_owned(),
    }
}

fn check_ca_cert(setting: &'static str, path: PathBuf) -> Result<PathBuf, ConfigError> {
    let reason = match std::fs::read(&path) {
        Err(err) => err.to_string(),
        Ok(pem) if contains_pem_certificate(&pem) => return Ok(path),
        Ok(_) => "no PEM certificate (-----BEGIN CERTIFICATE-----) in the file".to_owned(),
    };
    Err(ConfigError::CaCert {
        setting,
        path,
        reason,
    })
}

fn contains_pem_certificate(pem: &[u8]) -> bool {
    pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----")
}

fn check_retention(retention: &Retention) -> Result<(), ConfigError> {
    let all = [
        ("Retention::logs_days", retention.logs_days),
        ("Retention::spans_days", retention.spans_days),
        ("Retention::metrics_days", retention.metrics_days),
        ("Retention::events_days", retention.events_days),
    ];
    for (setting, days) in all {
        parse_days(setting, &days.to_string())?;
    }
    Ok(())
}

fn check_pipeline(pipeline: &PipelineConfig) -> Result<(), ConfigError> {
    let counts = [
        ("PipelineConfig::queue_capacity", pipeline.queue_capacity),
        ("PipelineConfig::max_queue_bytes", pipeline.max_queue_bytes),
        ("PipelineConfig::batch_max_rows", pipeline.batch_max_rows),
        ("PipelineConfig::batch_max_bytes", pipeline.batch_max_bytes),
        (
            "PipelineConfig::max_pending_bytes",
            pipeline.max_pending_bytes,
        ),
    ];
    for (setting, n) in counts {
        if n == 0 {
            return Err(invalid(setting, "0", "a positive integer"));
        }
    }
    let durations = [
        ("PipelineConfig::flush_interval", pipeline.flush_interval),
        ("PipelineConfig::insert_timeout", pipeline.insert_timeout),
        (
            "PipelineConfig::max_retry_backoff",
            pipeline.max_retry_backoff,
        ),
    ];
    for (setting, d) in durations {
        if d.is_zero() {
            return Err(invalid(setting, "0s", "a positive duration"));
        }
    }
    Ok(())
}

fn check_spool(spool: &SpoolConfig) -> Result<(), ConfigError> {
    if spool.max_bytes == 0 {
        return Err(invalid(
            "SpoolConfig::max_bytes",
            "0",
            "a positive number of bytes",
        ));
    }
    if spool.segment_bytes == 0 {
        return Err(invalid(
            "SpoolConfig::segment_bytes",
            "0",
            "a positive number of bytes",
        ));
    }
    if spool.dir.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
        return Err(invalid("SpoolConfig::dir", "", "a directory path"));
    }
    Ok(())
}

fn check_capture(capture: &CaptureConfig) -> Result<(), ConfigError> {
    let limits = capture.limits;
    let all = [
        ("CaptureLimits::max_message_bytes", limits.max_message_bytes),
        ("CaptureLimits::max_value_bytes", limits.max_value_bytes),
    ];
    for (setting, n) in all {
        if n == 0 {
            return Err(invalid(setting, "0", "a positive number of bytes"));
        }
    }
    Ok(())
}

fn default_service_name() -> String {
    std::env::current_exe()
        .ok()
        .as_deref()
        .and_then(Path::file_stem)
        .and_then(|s| s.to_str())
        .map(|exe| exe.to_owned())
        .unwrap_or_else(|| "unknown_service".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_vars(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::builder()
            .env_vars(vars.iter().map(|(k, v)| (*k, *v)))
            .build()
    }

    fn setting_of(err: ConfigError) -> &'static str {
        match err {
            ConfigError::Invalid { setting, .. } | ConfigError::CaCert { setting, .. } => setting,
            ConfigError::TlsUnavailable { setting } => setting,
        }
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
        let config = Config::builder()
            .env_vars([
                ("CLICKHOUSE_DATABASE", "from_env"),
                ("CLICKHOUSE_USER", "env_user"),
            ])
            .database("from_builder")
            .build()
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
            assert_eq!(setting_of(err), *var);
        }
    }

    #[test]
    fn a_ca_file_without_certificates_is_rejected() {
        let path = std::env::temp_dir().join(format!("tc-empty-ca-{}.pem", std::process::id()));
        std::fs::write(&path, "not a certificate").unwrap();
        let err = Config::builder()
            .env_vars([("CLICKHOUSE_CA_CERT", path.to_str().unwrap())])
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn password_never_shows() {
        let config = with_vars(&[("CLICKHOUSE_PASSWORD", "hunter2-secret")]).unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
        assert!(format!("{config:?}").contains("<redacted>"));
        let builder = Config::builder().password("hunter2-secret");
        assert!(!format!("{builder:?}").contains("hunter2"));
        let err =
            with_vars(&[("CLICKHOUSE_URL", "http://bob:hunter2-secret@host:8123")]).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains("CLICKHOUSE_URL"), "{err}");
    }

    #[test]
    fn bad_builder_values_name_the_method() {
        let err = Config::builder()
            .env_vars::<&str, &str>([])
            .port(0)
            .build()
            .unwrap_err();
        assert_eq!(setting_of(err), "ConfigBuilder::port");
        let err = Config::builder()
            .env_vars::<&str, &str>([])
            .database("a-b")
            .build()
            .unwrap_err();
        assert_eq!(setting_of(err), "ConfigBuilder::database");
        let retention = Retention {
            logs_days: 0,
            ..Retention::default()
        };
        let err = Config::builder()
            .env_vars::<&str, &str>([])
            .retention(retention)
            .build()
            .unwrap_err();
        assert_eq!(setting_of(err), "Retention::logs_days");
        let pipeline = PipelineConfig {
            batch_max_rows: 0,
            ..PipelineConfig::default()
        };
        let err = Config::builder()
            .env_vars::<&str, &str>([])
            .pipeline(pipeline)
            .build()
            .unwrap_err();
        assert_eq!(setting_of(err), "PipelineConfig::batch_max_rows");
    }
}
