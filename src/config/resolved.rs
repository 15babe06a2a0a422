//! The complete, checked configuration a pipeline runs with.

use std::path::PathBuf;

use super::cluster::ClusterConfig;
use super::monitoring::{ConsoleConfig, MetricsConfig, MonitorConfig};
use super::sections::{CaptureConfig, PipelineConfig, Retention, SpoolConfig};
use super::values::{Endpoint, Secret, SharedWriter};

const DEFAULT_HOST: &str = "localhost";
const DEFAULT_PORT: u16 = 8443;
const DEFAULT_SECURE: bool = true;
const DEFAULT_USER: &str = "default";
const DEFAULT_DATABASE: &str = "ai_backlog_admin";
/// What `install` lets through when neither `RUST_LOG` nor a filter says.
const DEFAULT_FILTER: &str = "info";

/// The complete, checked configuration: what a [`Builder`](crate::Builder)
/// resolves to ([`build_config`](crate::Builder::build_config)), what
/// [`QueryClient::new`](crate::query::QueryClient::new) and
/// [`schema::apply`](crate::schema::apply) take, and what
/// [`Telemetry::config`](crate::Telemetry::config) reports.
///
/// The getters say where it points (the server, the user, the database,
/// the service); every setting is in the `Debug` print, all but the
/// password (and the console's writer). To change it, turn it back into a
/// builder ([`Config::into_builder`]).
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) endpoint: Endpoint,
    /// The endpoints after the first, in order of preference.
    pub(crate) more_endpoints: Vec<Endpoint>,
    pub(crate) cluster: Option<ClusterConfig>,
    pub(crate) async_insert: bool,
    pub(crate) user: String,
    pub(crate) password: Secret,
    pub(crate) database: String,
    #[cfg_attr(not(feature = "rustls"), allow(dead_code))]
    pub(crate) ca_cert: Option<PathBuf>,
    /// Where `ca_cert` came from (`CLICKHOUSE_CA_CERT` or `Builder::ca_cert`),
    /// for the errors of reading it when connecting.
    #[cfg_attr(not(feature = "rustls"), allow(dead_code))]
    pub(crate) ca_cert_setting: &'static str,
    pub(crate) service_name: String,
    pub(crate) service_version: Option<String>,
    pub(crate) retention: Retention,
    pub(crate) pipeline: PipelineConfig,
    pub(crate) capture: CaptureConfig,
    pub(crate) spool: SpoolConfig,
    pub(crate) metrics: MetricsConfig,
    pub(crate) monitor: MonitorConfig,
    pub(crate) console: ConsoleConfig,
    /// Whether the console was asked for or against (`console.enabled` is
    /// what the exit made of it), so a builder made back from this
    /// configuration leaves the choice to its own exit as this one did.
    pub(crate) console_asked: Option<bool>,
    /// Where console lines go instead of stderr, kept so a builder made back
    /// from this configuration prints where this one did.
    pub(crate) console_writer: Option<SharedWriter>,
    /// `EnvFilter` directives of the installed subscriber, as given: those
    /// of `RUST_LOG` are checked only by the exits that install a filter.
    pub(crate) filter: String,
    /// Where `filter` came from (`RUST_LOG` or `Builder::filter`).
    pub(crate) filter_setting: &'static str,
    pub(crate) create_schema: bool,
    /// Whether the start says where unsent batches survive.
    pub(crate) start_line: bool,
    pub(crate) dry_run: bool,
    pub(crate) global_metrics: bool,
    /// The share of new traces whose spans are recorded (`config::sampling`).
    pub(crate) trace_sample_ratio: f64,
}

impl Config {
    /// Every setting at its default, ignoring the environment.
    pub(crate) fn defaults() -> Config {
        Config {
            endpoint: Endpoint {
                secure: DEFAULT_SECURE,
                host: DEFAULT_HOST.to_owned(),
                port: DEFAULT_PORT,
            },
            more_endpoints: Vec::new(),
            cluster: None,
            async_insert: false,
            user: DEFAULT_USER.to_owned(),
            password: Secret::default(),
            database: DEFAULT_DATABASE.to_owned(),
            ca_cert: None,
            ca_cert_setting: "CLICKHOUSE_CA_CERT",
            service_name: super::values::default_service_name(),
            service_version: None,
            retention: Retention::default(),
            pipeline: PipelineConfig::default(),
            capture: CaptureConfig::default(),
            spool: SpoolConfig::default(),
            metrics: MetricsConfig::default(),
            monitor: MonitorConfig::default(),
            console: ConsoleConfig::default(),
            console_asked: None,
            console_writer: None,
            filter: DEFAULT_FILTER.to_owned(),
            filter_setting: "RUST_LOG",
            create_schema: true,
            dry_run: false,
            global_metrics: true,
            trace_sample_ratio: 1.0,
            start_line: true,
        }
    }

    /// The server's URL, `http(s)://host:port` (no credentials).
    pub fn url(&self) -> String {
        self.endpoint.url()
    }

    /// Every endpoint's URL, in order of preference (the first is
    /// [`url`](Config::url)).
    pub fn endpoints(&self) -> Vec<String> {
        std::iter::once(&self.endpoint)
            .chain(&self.more_endpoints)
            .map(Endpoint::url)
            .collect()
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
}
