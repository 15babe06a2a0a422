//! What an [`Error`] asks of the person who got it: [`Error::kind`], for
//! programs (a CLI, a probe) that answer differently to a server that is
//! away, a refused login and a database without the tables.

use crate::error::Error;
use crate::sink::{FailureKind, is_missing_schema};

/// The broad reason of an [`Error`], with what fixes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// ClickHouse cannot be reached: connection refused or reset, a timeout,
    /// a name that does not resolve, a TLS handshake that failed. Check the
    /// URL and that the server runs.
    Unreachable,
    /// The user or password was refused, or the user may not do this.
    /// Check `CLICKHOUSE_USER` and `CLICKHOUSE_PASSWORD`.
    Auth,
    /// The database or one of its tables does not exist: apply the schema
    /// (`schema::apply`), or check `CLICKHOUSE_DATABASE`.
    MissingSchema,
    /// The database has a newer schema than this crate knows.
    SchemaTooNew,
    /// A setting is invalid.
    Config,
    /// A query that cannot be run as asked (before anything was sent).
    InvalidQuery,
    /// Anything else ClickHouse or the connection answered.
    Other,
}

impl Error {
    /// What kind of error this is (see [`ErrorKind`]).
    ///
    /// ```
    /// use tracing_clickhouse::{Error, ErrorKind};
    /// let error: Error = "xml".parse::<tracing_clickhouse::query::ExportFormat>().unwrap_err();
    /// assert_eq!(error.kind(), ErrorKind::InvalidQuery);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config(_) => ErrorKind::Config,
            Error::InvalidQuery { .. } => ErrorKind::InvalidQuery,
            Error::SchemaTooNew { .. } => ErrorKind::SchemaTooNew,
            Error::ClickHouseNeeded { .. } => ErrorKind::Unreachable,
            Error::ClickHouse(error) => kind_of(&error.0),
            _ => ErrorKind::Other,
        }
    }
}

fn kind_of(error: &clickhouse::error::Error) -> ErrorKind {
    use clickhouse::error::Error as Ch;
    if matches!(error, Ch::Network(_) | Ch::TimedOut) {
        return ErrorKind::Unreachable;
    }
    if is_missing_schema(error) {
        return ErrorKind::MissingSchema;
    }
    match FailureKind::of(error) {
        FailureKind::Auth => ErrorKind::Auth,
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clickhouse::error::Error as Ch;

    fn kind(error: Ch) -> ErrorKind {
        Error::from(error).kind()
    }

    fn response(text: &str) -> ErrorKind {
        kind(Ch::BadResponse(text.to_owned()))
    }

    #[test]
    fn server_answers_are_told_apart_by_code() {
        let table = "Code: 60. DB::Exception: Unknown table expression identifier 'logs'";
        assert_eq!(response(table), ErrorKind::MissingSchema);
        assert_eq!(
            response("Code: 81. DB::Exception: Database x does not exist"),
            ErrorKind::MissingSchema
        );
        assert_eq!(
            response("81"),
            ErrorKind::MissingSchema,
            "the bare header code"
        );
        let login = "Code: 516. DB::Exception: default: Authentication failed";
        assert_eq!(response(login), ErrorKind::Auth);
        assert_eq!(response("403 Forbidden"), ErrorKind::Auth);
        assert_eq!(
            response("Code: 62. DB::Exception: Syntax error"),
            ErrorKind::Other
        );
        assert_eq!(
            response("Code: 241. DB::Exception: Memory limit"),
            ErrorKind::Other
        );
        assert_eq!(response("60 tables later"), ErrorKind::Other, "not a code");
        assert_eq!(response(""), ErrorKind::Other);
    }

    #[test]
    fn the_network_and_the_crate_own_errors() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(kind(Ch::Network(Box::new(refused))), ErrorKind::Unreachable);
        assert_eq!(kind(Ch::TimedOut), ErrorKind::Unreachable);
        assert_eq!(
            Error::SchemaTooNew { found: 9, known: 1 }.kind(),
            ErrorKind::SchemaTooNew
        );
        let needed = Error::ClickHouseNeeded {
            what: "paging",
            reason: "refused".into(),
        };
        assert_eq!(needed.kind(), ErrorKind::Unreachable);
        let invalid = crate::error::invalid("CLICKHOUSE_PORT", "x", "a port number");
        assert_eq!(Error::from(invalid).kind(), ErrorKind::Config);
    }
}
