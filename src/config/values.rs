//! Values as the configuration keeps them (the endpoint, the password), and
//! the parsers shared by the environment and the builder: each names the
//! setting it reads in its error.

use std::fmt;
use std::path::{Path, PathBuf};

use super::sections::{MAX_TTL_DAYS, QueuePolicy};
use crate::error::{ConfigError, invalid};

/// A password: compared and sent, never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn new(password: String) -> Self {
        Secret(password)
    }

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

const HOST_RULE: &str = "a host name or IP address, without scheme, port or path";

pub(crate) fn parse_host(setting: &'static str, raw: &str) -> Result<String, ConfigError> {
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

pub(crate) fn parse_port(setting: &'static str, raw: &str) -> Result<u16, ConfigError> {
    match raw.trim().parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(invalid(setting, raw, "a port is 1-65535")),
    }
}

pub(crate) fn parse_bool(setting: &'static str, raw: &str) -> Result<bool, ConfigError> {
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

pub(crate) fn parse_days(setting: &'static str, raw: &str) -> Result<u32, ConfigError> {
    match raw.trim().parse::<u32>() {
        Ok(days) if (1..=MAX_TTL_DAYS).contains(&days) => Ok(days),
        _ => Err(invalid(setting, raw, "a number of days, 1-36500")),
    }
}

pub(crate) fn parse_policy(setting: &'static str, raw: &str) -> Result<QueuePolicy, ConfigError> {
    match raw.trim().to_ascii_lowercase().replace('-', "_").as_str() {
        "drop_newest" => Ok(QueuePolicy::DropNewest),
        "block" => Ok(QueuePolicy::Block),
        _ => Err(invalid(setting, raw, "drop_newest or block")),
    }
}

pub(crate) fn parse_count(setting: &'static str, raw: &str) -> Result<usize, ConfigError> {
    match raw.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(invalid(setting, raw, "a positive integer")),
    }
}

/// `EnvFilter` directives, such as `info,my_app=debug`.
pub(crate) fn parse_filter(setting: &'static str, raw: &str) -> Result<String, ConfigError> {
    match tracing_subscriber::EnvFilter::try_new(raw) {
        Ok(_) => Ok(raw.to_owned()),
        Err(_) => Err(invalid(
            setting,
            raw,
            "EnvFilter directives such as \"info,my_app=debug\"",
        )),
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

/// `http(s)://host[:port]`; credentials in it are refused and never repeated
/// in the error.
pub(crate) fn parse_url(setting: &'static str, raw: &str) -> Result<Endpoint, ConfigError> {
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
pub(crate) fn redact_url(raw: &str) -> String {
    match raw.find("://").map(|i| i + 3) {
        Some(start) => match raw[start..].find('@') {
            Some(at) => format!("{}<redacted>@{}", &raw[..start], &raw[start + at + 1..]),
            None => raw.to_owned(),
        },
        None if raw.contains('@') => "<redacted>".to_owned(),
        None => raw.to_owned(),
    }
}

pub(crate) fn check_ca_cert(setting: &'static str, path: PathBuf) -> Result<PathBuf, ConfigError> {
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

pub(crate) fn default_service_name() -> String {
    std::env::current_exe()
        .ok()
        .as_deref()
        .and_then(Path::file_stem)
        .and_then(|s| s.to_str())
        .map(|exe| exe.to_owned())
        .unwrap_or_else(|| "unknown_service".to_owned())
}
