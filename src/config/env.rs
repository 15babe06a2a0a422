//! Reading the environment into a configuration.
//!
//! Every variable is read at once, when the builder is made. One that does
//! not parse leaves its setting at the default and its error aside: the
//! builder reports it at the end unless a setter replaced that setting.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::cluster::{ClusterConfig, parse_urls};
use super::resolved::Config;
use super::tuning::{LIMIT_VARS, TIMING_VARS};
use super::values::{
    Endpoint, Secret, check_ca_cert, check_credential, parse_bool, parse_host, parse_identifier,
    parse_policy, parse_port,
};
use crate::error::{ConfigError, invalid};

/// Where the environment's values come from.
#[derive(Clone, Debug, Default)]
pub(crate) enum EnvSource {
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

/// Variables, by the part of the configuration each sets; a setter that
/// replaces that part makes their errors moot.
pub(crate) const CONNECTION_VARS: [&str; 4] = [
    "CLICKHOUSE_URL",
    "CLICKHOUSE_HOST",
    "CLICKHOUSE_PORT",
    "CLICKHOUSE_SECURE",
];
/// The configuration the environment describes, and the errors of the
/// variables that did not parse.
pub(crate) fn read(env: &EnvSource) -> (Config, Vec<ConfigError>) {
    let mut config = Config::defaults();
    let mut errors = Vec::new();
    let mut read = Reader {
        env,
        errors: &mut errors,
    };

    // The URL replaces host, port and secure, which are then not read.
    if let Some(url) = env.get("CLICKHOUSE_URL") {
        // Several, comma-separated: the endpoint set (`Builder::endpoints`).
        if let Some(endpoints) = read.ok(parse_urls("CLICKHOUSE_URL", &url)) {
            let mut endpoints = endpoints.into_iter();
            config.endpoint = endpoints.next().unwrap_or(config.endpoint);
            config.more_endpoints = endpoints.collect();
        }
    } else {
        let defaults = config.endpoint.clone();
        config.endpoint = Endpoint {
            host: read
                .var("CLICKHOUSE_HOST", parse_host)
                .unwrap_or(defaults.host),
            port: read
                .var("CLICKHOUSE_PORT", parse_port)
                .unwrap_or(defaults.port),
            secure: read
                .var("CLICKHOUSE_SECURE", parse_bool)
                .unwrap_or(defaults.secure),
        };
    }
    if let Some(user) = env.get("CLICKHOUSE_USER")
        && read
            .ok(check_credential("CLICKHOUSE_USER", &user, false))
            .is_some()
    {
        config.user = user;
    }
    if let Some(password) = env.get("CLICKHOUSE_PASSWORD")
        && read
            .ok(check_credential("CLICKHOUSE_PASSWORD", &password, true))
            .is_some()
    {
        config.password = Secret::new(password);
    }
    if let Some(database) = read.var("CLICKHOUSE_DATABASE", parse_identifier) {
        config.database = database;
    }
    if let Some(path) = env.get("CLICKHOUSE_CA_CERT") {
        config.ca_cert = read.ok(check_ca_cert("CLICKHOUSE_CA_CERT", PathBuf::from(path)));
        config.ca_cert_setting = "CLICKHOUSE_CA_CERT";
    }
    if let Some(name) = env.get("OTEL_SERVICE_NAME") {
        let name = match name.trim().is_empty() {
            true => Err(invalid("OTEL_SERVICE_NAME", &name, "a non-empty name")),
            false => Ok(name),
        };
        if let Some(name) = read.ok(name) {
            config.service_name = name;
        }
    }

    // The sizes and durations a variable sets, each checked as its setter
    // checks it, and named by its variable.
    for (var, make) in LIMIT_VARS {
        let parse = |var, raw: &str| make(0).spec().1.parse(var, raw);
        if let Some(limit) = read.var(var, parse).map(make) {
            read.ok(limit.apply(var, &mut config));
        }
    }
    for (var, make) in TIMING_VARS {
        let parse = |var, raw: &str| make(Duration::ZERO).spec().1.parse_millis(var, raw);
        if let Some(timing) = read.var(var, parse).map(make) {
            read.ok(timing.apply(var, &mut config));
        }
    }
    if let Some(policy) = read.var("CLICKHOUSE_QUEUE_POLICY", parse_policy) {
        config.pipeline.queue_policy = policy;
    }
    config.spool.dir = env.get("CLICKHOUSE_SPOOL_DIR").map(PathBuf::from);
    if let Some(on) = read.var("CLICKHOUSE_MONITOR", parse_bool) {
        config.monitor.system = on;
    }
    if let Some(name) = env.get("CLICKHOUSE_CLUSTER") {
        let cluster = ClusterConfig::new(name);
        config.cluster = read
            .ok(cluster.validate("CLICKHOUSE_CLUSTER"))
            .map(|()| cluster);
    }
    if let Some(ratio) = read.var(super::ratio::SAMPLE_RATIO_VAR, super::ratio::parse_ratio) {
        config.trace_sample_ratio = ratio;
    }
    if let Some(on) = read.var("CLICKHOUSE_ASYNC_INSERT", parse_bool) {
        config.async_insert = on;
    }
    if let Some(on) = read.var("CLICKHOUSE_START_LINE", parse_bool) {
        config.start_line = on;
    }
    // Kept as given: only the exits that install the filter use it, and
    // check it (`Builder::with_filter_checked`).
    if let Some(directives) = env.get("RUST_LOG") {
        config.filter = directives;
        config.filter_setting = "RUST_LOG";
    }
    (config, errors)
}

/// Parses variables, keeping their errors.
struct Reader<'a> {
    env: &'a EnvSource,
    errors: &'a mut Vec<ConfigError>,
}

impl Reader<'_> {
    /// The variable, parsed, if it is set and parses.
    fn var<T>(
        &mut self,
        var: &'static str,
        parse: impl FnOnce(&'static str, &str) -> Result<T, ConfigError>,
    ) -> Option<T> {
        let raw = self.env.get(var)?;
        self.ok(parse(var, &raw))
    }

    fn ok<T>(&mut self, result: Result<T, ConfigError>) -> Option<T> {
        result.map_err(|error| self.errors.push(error)).ok()
    }
}
