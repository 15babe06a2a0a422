//! The crate's error types.

use std::path::PathBuf;
use std::time::Duration;

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when setting up or querying.
///
/// Capture never returns errors to the application: a record that cannot be
/// queued or delivered is counted in [`Stats`](crate::Stats) instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid; the message names the setting and the value.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// ClickHouse (or the connection to it) answered with an error. The
    /// message includes the chain of causes (e.g. why a TLS handshake
    /// failed); [`Error::kind`] tells a refused login from a server away.
    #[error("ClickHouse: {}", chain(.0))]
    ClickHouse(ClickHouseError),
    /// A global `tracing` subscriber was already installed (the cause is
    /// `tracing-subscriber`'s error).
    #[error("a global tracing subscriber is already installed: {0}")]
    SubscriberAlreadySet(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A global `metrics` recorder was already installed (see
    /// [`Builder::global_metrics`](crate::Builder::global_metrics)).
    #[error("a global metrics recorder is already installed")]
    RecorderAlreadySet,
    /// The background flusher thread could not be started.
    #[error("cannot start the flusher thread: {0}")]
    Thread(#[source] std::io::Error),
    /// The disk spool cannot be opened.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// A query that cannot be run as asked, named by the parameter given
    /// (`token`, `attribute`, `interval`, an alert rule's name...).
    #[error("invalid query: {parameter}: {reason}")]
    InvalidQuery {
        /// The parameter, or the method that took it.
        parameter: &'static str,
        /// What is wrong with it, and what would do.
        reason: String,
    },
    /// ClickHouse cannot be reached, and what was asked cannot be answered
    /// from the rows waiting in memory (which answer the other queries
    /// meanwhile, see [`AnswerOrigin`](crate::query::AnswerOrigin)).
    #[error("{what} needs ClickHouse, which cannot be reached: {reason}")]
    ClickHouseNeeded {
        /// What was asked.
        what: &'static str,
        /// Why ClickHouse did not answer.
        reason: String,
    },
    /// The database has a newer schema than this crate knows: upgrade the
    /// crate (nothing was changed in the database).
    #[error(
        "the database has schema version {found}, newer than this tracing-clickhouse knows \
         ({known}): upgrade tracing-clickhouse; nothing was changed"
    )]
    SchemaTooNew {
        /// The database's version.
        found: u32,
        /// This crate's.
        known: u32,
    },
    /// The server is older than the oldest ClickHouse this crate supports
    /// (`schema::MIN_SERVER_VERSION`; docs/operations.md,
    /// "Supported ClickHouse versions").
    #[error(
        "ClickHouse {found} is older than {minimum}, the oldest this tracing-clickhouse supports: \
         upgrade the server; nothing was changed"
    )]
    ServerTooOld {
        /// The server's version (`22.8`).
        found: String,
        /// The oldest supported.
        minimum: String,
    },
    /// Something did not finish in time: a flush, an alert rule's query
    /// or transition write, the query thread's answer.
    #[error("timed out: {what} did not finish within {after:?}{}", left_over(.left))]
    Timeout {
        /// What did not finish (`a flush`, `an alert rule's query`).
        what: &'static str,
        /// How long it was given.
        after: Duration,
        /// What was left undone and the last error, when known (`12 rows
        /// not acknowledged: Connection refused`); empty otherwise.
        left: String,
    },
    /// A flush ended with rows it was to deliver dropped meanwhile (memory
    /// or the spool was full; counted in [`Stats`](crate::Stats)).
    #[error(
        "dropped: {rows} rows were dropped while flushing (memory or the spool was full; see Stats)"
    )]
    Dropped {
        /// The rows dropped.
        rows: u64,
    },
}

/// What ClickHouse or the connection to it answered: its message and causes
/// are the [`Display`](std::fmt::Display) and the
/// [`source`](std::error::Error::source) chain. The `clickhouse` crate's
/// error stays inside, so that upgrading that crate changes nothing here.
#[derive(Debug)]
pub struct ClickHouseError(pub(crate) Box<clickhouse::error::Error>);

impl std::fmt::Display for ClickHouseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ClickHouseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

// Hidden: only for `?` inside the crate; not a promise about the
// `clickhouse` crate's version.
#[doc(hidden)]
impl From<clickhouse::error::Error> for Error {
    fn from(error: clickhouse::error::Error) -> Error {
        Error::ClickHouse(ClickHouseError(Box::new(error)))
    }
}

/// An invalid configuration value.
///
/// Every variant names the setting (the environment variable, or the builder
/// method) and the offending value. A password is never part of the message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value that does not parse or is out of range.
    #[error("{setting}: invalid value {value:?}: {reason}")]
    Invalid {
        /// The environment variable or builder setting.
        setting: &'static str,
        /// The value as given.
        value: String,
        /// What a valid value looks like.
        reason: String,
    },
    /// The CA certificate file cannot be read or holds no certificate.
    #[error("{setting}: cannot use CA certificate {path:?}: {reason}")]
    CaCert {
        /// The environment variable or builder setting.
        setting: &'static str,
        /// The file as given.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// HTTPS was asked for, but the crate was built without the `rustls` feature.
    #[error("{setting}: HTTPS needs the `rustls` feature of tracing-clickhouse")]
    TlsUnavailable {
        /// The setting that asked for HTTPS.
        setting: &'static str,
    },
}

/// Why opening the spool failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpoolError {
    /// The directory or one of its files cannot be used.
    #[error("spool {path:?}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// Another process (or another pipeline in this one) uses the directory.
    #[error("spool {path:?} is in use by another process")]
    Locked {
        /// The spool directory.
        path: PathBuf,
    },
}

impl ConfigError {
    /// The setting the error is about: the environment variable, or the
    /// builder method or section field.
    pub fn setting(&self) -> &'static str {
        match self {
            ConfigError::Invalid { setting, .. }
            | ConfigError::CaCert { setting, .. }
            | ConfigError::TlsUnavailable { setting } => setting,
        }
    }

    /// The same error, naming `name` as the setting: for a tool that takes
    /// a value under a name of its own (a command-line flag, a key of its
    /// configuration file) and hands it to a [`Builder`](crate::Builder)
    /// setter, so that its users read the name they gave it by.
    ///
    /// ```
    /// let error = tracing_clickhouse::Builder::from_env_vars::<&str, &str>([])
    ///     .port(0)
    ///     .unwrap_err()
    ///     .with_setting("--port");
    /// assert!(error.to_string().starts_with("--port: "));
    /// ```
    pub fn with_setting(mut self, name: &'static str) -> Self {
        match &mut self {
            ConfigError::Invalid { setting, .. }
            | ConfigError::CaCert { setting, .. }
            | ConfigError::TlsUnavailable { setting } => *setting = name,
        }
        self
    }
}

/// An invalid query's error.
pub(crate) fn invalid_query(parameter: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidQuery {
        parameter,
        reason: reason.into(),
    }
}

/// `: what was left`, or nothing.
fn left_over(left: &str) -> String {
    match left {
        "" => String::new(),
        left => format!(": {left}"),
    }
}

/// A value that does not parse or is out of range, for `setting`.
pub(crate) fn invalid(
    setting: &'static str,
    value: &str,
    reason: impl Into<String>,
) -> ConfigError {
    ConfigError::Invalid {
        setting,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// An error and its causes, "outer: inner: root", without repeats (some
/// errors already include their cause in their own message).
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn chain_lists_every_cause_once() {
        let root = std::io::Error::other("root cause");
        assert_eq!(chain(&Outer(root)), "outer: root cause");
        let echoing = std::io::Error::other(Outer(std::io::Error::other("x")));
        assert_eq!(chain(&echoing), "outer: x");
    }
}
