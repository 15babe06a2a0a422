//! Failures, as a message that says what to do and an exit status.

use std::fmt::Display;
use std::process::ExitCode;

use tracing_clickhouse::{Error, ErrorKind};

/// Exit statuses (docs/chlog.md and `chlog --help` list them).
pub(crate) mod status {
    /// A failure none of the others describes.
    pub(crate) const FAILED: u8 = 1;
    /// A bad command line.
    pub(crate) const USAGE: u8 = 2;
    /// Something needs attention (health, schema status).
    pub(crate) const ATTENTION: u8 = 3;
    /// ClickHouse cannot be reached.
    pub(crate) const UNREACHABLE: u8 = 4;
    /// The login was refused.
    pub(crate) const AUTH: u8 = 5;
    /// The database or its tables are missing, or the schema is too new.
    pub(crate) const SCHEMA: u8 = 6;
}

/// Why a command did not do what was asked.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: u8,
    pub(crate) message: String,
    pub(crate) broken_pipe: bool,
}

impl Failure {
    pub(crate) fn new(status: u8, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
            broken_pipe: false,
        }
    }

    pub(crate) fn other(message: impl Into<String>) -> Self {
        Failure::new(status::FAILED, message)
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Failure::new(status::USAGE, message)
    }

    /// The error of the library, with what to do about it for `url` and
    /// `database` (no credentials: the library's messages carry none).
    pub(crate) fn from_error(error: &Error, url: &str, database: &str) -> Self {
        match error.kind() {
            ErrorKind::Unreachable => Failure::new(
                status::UNREACHABLE,
                format!(
                    "cannot reach ClickHouse at {url}: {error}\n\
                     Is the server running? Point chlog at it with CLICKHOUSE_URL or --url."
                ),
            ),
            ErrorKind::Auth => Failure::new(
                status::AUTH,
                format!(
                    "ClickHouse at {url} refused the login: {error}\n\
                     Check CLICKHOUSE_USER and CLICKHOUSE_PASSWORD (or --user, --password-file)."
                ),
            ),
            ErrorKind::MissingSchema => Failure::new(
                status::SCHEMA,
                format!(
                    "database {database} lacks the tables: {error}\n\
                     Create them with `chlog schema apply`, or name the right database with \
                     CLICKHOUSE_DATABASE or --database."
                ),
            ),
            ErrorKind::SchemaTooNew => Failure::new(status::SCHEMA, error.to_string()),
            ErrorKind::Config => Failure::usage(error.to_string()),
            ErrorKind::InvalidQuery => match error {
                // Named by the flag that gave it.
                Error::InvalidQuery { parameter, reason } => bad_option(flag_of(parameter), reason),
                _ => Failure::usage(error.to_string()),
            },
            _ => Failure::other(error.to_string()),
        }
    }

    /// A write to stdout failed: a closed pipe (`chlog logs | head`) is
    /// not a failure.
    pub(crate) fn write(error: std::io::Error) -> Self {
        Failure {
            broken_pipe: error.kind() == std::io::ErrorKind::BrokenPipe,
            ..Failure::other(format!("cannot write the output: {error}"))
        }
    }

    pub(crate) fn is_broken_pipe(&self) -> bool {
        self.broken_pipe
    }

    /// Prints the message on stderr and gives the exit status.
    pub(crate) fn report(self) -> ExitCode {
        eprintln!("chlog: {}", self.message);
        ExitCode::from(self.status)
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Failure::write(error)
    }
}

/// `Result` of a command: the exit status it chose, or a failure.
pub(crate) type Outcome = Result<ExitCode, Failure>;

/// The flag that gives the library's query parameter `parameter` (itself
/// when none does).
fn flag_of(parameter: &str) -> &str {
    match parameter {
        "attribute" => "--attr",
        "token" => "--word",
        "after" => "--after",
        other => other,
    }
}

/// A usage failure naming the option: `--since: ...`.
pub(crate) fn bad_option(option: &str, why: impl Display) -> Failure {
    Failure::usage(format!("{option}: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_says_what_to_do_and_has_its_status() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let error = Error::from(clickhouse::error::Error::Network(Box::new(refused)));
        let failure = Failure::from_error(&error, "http://127.0.0.1:1", "db");
        assert_eq!(failure.status, status::UNREACHABLE);
        assert!(
            failure.message.contains("CLICKHOUSE_URL"),
            "{}",
            failure.message
        );
        let login = "Code: 516. DB::Exception: default: Authentication failed".to_owned();
        let error = Error::from(clickhouse::error::Error::BadResponse(login));
        let failure = Failure::from_error(&error, "http://h:8123", "db");
        assert_eq!(failure.status, status::AUTH);
        assert!(failure.message.contains("CLICKHOUSE_PASSWORD"));
        let table =
            "Code: 60. DB::Exception: Unknown table expression identifier 'logs'".to_owned();
        let error = Error::from(clickhouse::error::Error::BadResponse(table));
        let failure = Failure::from_error(&error, "http://h:8123", "db");
        assert_eq!(failure.status, status::SCHEMA);
        assert!(failure.message.contains("chlog schema apply"));
        let failure = Failure::from_error(
            &Error::InvalidQuery {
                parameter: "token",
                reason: "x".into(),
            },
            "u",
            "d",
        );
        assert_eq!(failure.status, status::USAGE);
    }

    #[test]
    fn a_closed_pipe_is_not_a_failure() {
        let pipe = Failure::write(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(pipe.is_broken_pipe());
        let full = Failure::write(std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert!(!full.is_broken_pipe());
    }
}
