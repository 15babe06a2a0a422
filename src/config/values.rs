//! Values as the configuration keeps them (the endpoint, the password), and
//! the parsers shared by the environment and the builder: each names the
//! setting it reads in its error.

use std::fmt;
use std::path::{Path, PathBuf};

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use super::sections::QueuePolicy;
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
    // A `:` belongs to an IPv6 address (bracketed or not), never to a port:
    // `Url` would take `host:port` as a host with a port.
    let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    let ipv6 = literal
        .unwrap_or(host)
        .parse::<std::net::Ipv6Addr>()
        .is_ok();
    let bad = host.is_empty()
        || host
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '/' | '@' | '?' | '#'))
        || (host.contains(':') && !ipv6)
        || (!ipv6 && url::Url::parse(&format!("http://{host}/")).is_err());
    if bad {
        // `user:password@host` is a mistake that must not print the password.
        return Err(invalid(setting, &redact_userinfo(raw), HOST_RULE));
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

pub(crate) fn parse_policy(setting: &'static str, raw: &str) -> Result<QueuePolicy, ConfigError> {
    match raw.trim().to_ascii_lowercase().replace('-', "_").as_str() {
        "drop_newest" => Ok(QueuePolicy::DropNewest),
        "block" => Ok(QueuePolicy::Block),
        _ => Err(invalid(setting, raw, "drop_newest or block")),
    }
}

/// `EnvFilter` directives, such as `info,my_app=debug`.
pub(crate) fn parse_filter(setting: &'static str, raw: &str) -> Result<String, ConfigError> {
    env_filter(setting, raw).map(|_| raw.to_owned())
}

/// The `EnvFilter` of these directives.
pub(crate) fn env_filter(
    setting: &'static str,
    raw: &str,
) -> Result<tracing_subscriber::EnvFilter, ConfigError> {
    tracing_subscriber::EnvFilter::try_new(raw).map_err(|_| {
        invalid(
            setting,
            raw,
            "EnvFilter directives such as \"info,my_app=debug\"",
        )
    })
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
    // `Url::port` is `None` for the scheme's own port (`:80`, `:443`) as for
    // no port at all; only the latter means ClickHouse's conventional one.
    let port = match url.port() {
        Some(port) => port,
        None if names_a_port(raw) => url.port_or_known_default().unwrap_or(0),
        None if secure => 8443,
        None => 8123,
    };
    if port == 0 {
        return Err(invalid(setting, &redact_url(raw), "a port is 1-65535"));
    }
    Ok(Endpoint {
        secure,
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port,
    })
}

/// Whether the authority of `raw` (a URL that parsed) ends in `:digits`.
fn names_a_port(raw: &str) -> bool {
    let raw = raw.trim();
    let rest = raw.find("://").map_or(raw, |i| &raw[i + 3..]);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    // After an IPv6 literal's `]`, or after the last `:` of a name.
    let port = match host_port.rfind(']') {
        Some(end) => host_port[end + 1..].strip_prefix(':'),
        None => host_port.rsplit_once(':').map(|(_, port)| port),
    };
    port.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The URL with everything up to its last `@` (a `user:password@` part)
/// and its query and fragment (`?password=...`, `?access_token=...`)
/// masked, fit for an error message. The last `@` of the whole value, not
/// only of the authority: a password written unescaped may hold `/`, `?` or
/// `#`, which would end the authority early.
pub(crate) fn redact_url(raw: &str) -> String {
    let start = raw.find("://").map_or(0, |i| i + 3);
    let (scheme, rest) = raw.split_at(start);
    let rest = redact_userinfo(rest);
    match rest.find(['?', '#']) {
        Some(at) => format!("{scheme}{}{}<redacted>", &rest[..at], &rest[at..=at]),
        None => format!("{scheme}{rest}"),
    }
}

/// `user:password@host` as `<redacted>@host`; a value without `@` as it is.
fn redact_userinfo(raw: &str) -> String {
    match raw.rsplit_once('@') {
        Some((_, host)) => format!("<redacted>@{host}"),
        None => raw.to_owned(),
    }
}

pub(crate) fn check_ca_cert(setting: &'static str, path: PathBuf) -> Result<PathBuf, ConfigError> {
    let reason = match read_setting_file(&path) {
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

/// Most bytes read from a file a setting names: a CA file (the usual
/// bundles are a few hundred KiB) or a file of alert rules.
pub(crate) const MAX_SETTING_FILE_BYTES: u64 = 4 << 20;

/// The contents of a file a setting names, read whole but never past
/// [`MAX_SETTING_FILE_BYTES`]: a device such as `/dev/zero` given by
/// mistake is an error, not a process reading forever.
pub(crate) fn read_setting_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_SETTING_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SETTING_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "larger than 4 MiB (read no further)",
        ));
    }
    Ok(bytes)
}

fn contains_pem_certificate(pem: &[u8]) -> bool {
    pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----")
}

/// A user or password: they travel in HTTP headers (`X-ClickHouse-User`,
/// `X-ClickHouse-Key`), which cannot hold control characters, so one (the
/// newline a file or `echo` leaves, say) would fail every request. A
/// password is not repeated in the error.
pub(crate) fn check_credential(
    setting: &'static str,
    value: &str,
    secret: bool,
) -> Result<(), ConfigError> {
    let control = |b: u8| (b < 0x20 && b != b'\t') || b == 0x7f;
    if !value.bytes().any(control) {
        return Ok(());
    }
    let shown = if secret { "<redacted>" } else { value };
    Err(invalid(
        setting,
        shown,
        "no control characters such as a newline (it is sent in an HTTP header)",
    ))
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

/// Where console lines go instead of stderr: the writer given to
/// [`Builder::console_writer`](crate::Builder::console_writer), shared by the
/// builder, the configurations made from it and the pipelines they start
/// (only a pipeline's flusher writes, once per drain). `Debug` does not
/// print it.
#[derive(Clone)]
pub(crate) struct SharedWriter(Arc<Mutex<Box<dyn Write + Send>>>);

impl SharedWriter {
    pub(crate) fn new(writer: impl Write + Send + 'static) -> Self {
        SharedWriter(Arc::new(Mutex::new(Box::new(writer))))
    }

    fn with<T>(&self, f: impl FnOnce(&mut (dyn Write + Send)) -> T) -> T {
        // A writer that panicked is still a writer: the console goes on.
        let mut writer = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut **writer)
    }
}

impl Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.with(|w| w.write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.with(|w| w.write_all(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.with(|w| w.flush())
    }
}

impl fmt::Debug for SharedWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("..")
    }
}
