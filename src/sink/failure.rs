//! What a failed insert or query asks of the pipeline, from the error the
//! `clickhouse` crate returned.

/// A failed attempt: what kind of failure, and the message to report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) kind: FailureKind,
    /// The table or database does not exist (creating the schema fixes it).
    pub(crate) missing_table: bool,
    /// ClickHouse may have stored the batch all the same (an attempt timed
    /// out, or its connection broke after the rows were sent): it must be
    /// sent again whole, with its token, never in parts with tokens of
    /// their own.
    pub(crate) maybe_stored: bool,
    pub(crate) message: String,
}

/// What a failure asks of the pipeline. Every kind keeps the batch; they
/// differ in how soon it is tried again and how loudly it is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// Connection refused or reset, a timeout, an overloaded or failing
    /// server: retry soon, backing off.
    Transient,
    /// The user or password was refused: nothing changes until a person
    /// acts, so wait long between attempts.
    Auth,
    /// A table or database is missing, or does not take the rows: the same,
    /// unless the pipeline may create the schema again.
    Schema,
}

impl FailureKind {
    /// Classifies an error of the `clickhouse` crate by the ClickHouse error
    /// code the server sent (or the HTTP status, without one).
    pub(crate) fn of(error: &::clickhouse::error::Error) -> FailureKind {
        use ::clickhouse::error::Error;
        match (error, server_code_of(error)) {
            (_, Some(code)) => FailureKind::of_code(code),
            (Error::BadResponse(text), None)
                if text.starts_with("401") || text.starts_with("403") =>
            {
                FailureKind::Auth
            }
            // Network, timeouts, 5xx without a code, and anything else the
            // client itself hit.
            _ => FailureKind::Transient,
        }
    }

    /// The kind of a ClickHouse error code (`src/Common/ErrorCodes.cpp`).
    pub(crate) fn of_code(code: u32) -> FailureKind {
        match code {
            // AUTHENTICATION_FAILED, REQUIRED_PASSWORD, UNKNOWN_USER,
            // IP_ADDRESS_NOT_ALLOWED, ACCESS_DENIED, READONLY.
            516 | 194 | 192 | 195 | 497 | 164 => FailureKind::Auth,
            // UNKNOWN_TABLE, UNKNOWN_DATABASE, NO_SUCH_COLUMN_IN_TABLE,
            // UNKNOWN_IDENTIFIER, THERE_IS_NO_COLUMN, TYPE_MISMATCH,
            // CANNOT_CONVERT_TYPE, ILLEGAL_TYPE_OF_ARGUMENT, ILLEGAL_COLUMN,
            // NOT_FOUND_COLUMN_IN_BLOCK, UNKNOWN_TYPE, CANNOT_PARSE_INPUT_ASSERTION_FAILED,
            // CANNOT_READ_ALL_DATA, INCORRECT_DATA, SYNTAX_ERROR.
            60 | 81 | 16 | 47 | 8 | 53 | 70 | 43 | 44 | 10 | 50 | 27 | 33 | 117 | 62 => {
                FailureKind::Schema
            }
            // Overload (TOO_MANY_SIMULTANEOUS_QUERIES, TOO_MANY_PARTS,
            // MEMORY_LIMIT_EXCEEDED), timeouts, network and internal errors,
            // and codes we do not know: worth another try.
            _ => FailureKind::Transient,
        }
    }
}

/// Whether an insert that failed with `error` certainly stored nothing:
/// ClickHouse answered with an error (an insert of one block is atomic), or
/// the connection was never made.
pub(crate) fn never_stored(error: &::clickhouse::error::Error) -> bool {
    use std::io::ErrorKind::{
        AddrNotAvailable, ConnectionRefused, HostUnreachable, NetworkUnreachable,
    };
    if server_code_of(error).is_some() {
        return true;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                ConnectionRefused | HostUnreachable | NetworkUnreachable | AddrNotAvailable
            )
        {
            return true;
        }
        source = cause.source();
    }
    false
}

/// The code of a ClickHouse error text: `Code: 60. DB::Exception: ...`, or
/// the bare `X-ClickHouse-Exception-Code` the crate reports without a body.
fn server_code(text: &str) -> Option<u32> {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix("Code: ") {
        let digits = rest.split(|c: char| !c.is_ascii_digit()).next()?;
        return digits.parse().ok();
    }
    if !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    None
}

/// The ClickHouse error code the server answered with, if it did.
pub(crate) fn server_code_of(error: &::clickhouse::error::Error) -> Option<u32> {
    match error {
        ::clickhouse::error::Error::BadResponse(text) => server_code(text),
        _ => None,
    }
}

/// Whether the server said our database or a table of it does not exist
/// (UNKNOWN_TABLE 60, UNKNOWN_DATABASE 81): the schema is to be applied.
pub(crate) fn is_missing_schema(error: &::clickhouse::error::Error) -> bool {
    matches!(server_code_of(error), Some(60 | 81))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::clickhouse::error::Error;

    fn kind(text: &str) -> FailureKind {
        FailureKind::of(&Error::BadResponse(text.to_owned()))
    }

    #[test]
    fn server_errors_are_classified_by_code() {
        let auth =
            "Code: 516. DB::Exception: default: Authentication failed. (AUTHENTICATION_FAILED)";
        assert_eq!(kind(auth), FailureKind::Auth);
        let table = "Code: 60. DB::Exception: Table db.logs does not exist. (UNKNOWN_TABLE)";
        assert_eq!(kind(table), FailureKind::Schema);
        assert_eq!(kind("Code: 81. DB::Exception: no db"), FailureKind::Schema);
        assert_eq!(
            kind("Code: 202. DB::Exception: Too many"),
            FailureKind::Transient
        );
        assert_eq!(
            kind("Code: 241. DB::Exception: Memory"),
            FailureKind::Transient
        );
        // The header alone, and bare HTTP statuses.
        assert_eq!(kind("516"), FailureKind::Auth);
        assert_eq!(kind("403 Forbidden"), FailureKind::Auth);
        assert_eq!(kind("500 Internal Server Error"), FailureKind::Transient);
        assert_eq!(kind("503 Service Unavailable"), FailureKind::Transient);
    }

    #[test]
    fn client_side_errors_are_transient() {
        assert_eq!(FailureKind::of(&Error::TimedOut), FailureKind::Transient);
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(
            FailureKind::of(&Error::Network(Box::new(reset))),
            FailureKind::Transient
        );
    }

    #[test]
    fn only_an_answer_or_no_connection_says_nothing_was_stored() {
        let io = |kind| Error::Network(Box::new(std::io::Error::from(kind)));
        // Wrapped as hyper wraps it: the io error is a cause further down.
        let wrapped = Error::Network(Box::new(std::io::Error::other(io(
            std::io::ErrorKind::ConnectionRefused,
        ))));
        assert!(never_stored(&wrapped));
        assert!(never_stored(&io(std::io::ErrorKind::ConnectionRefused)));
        assert!(never_stored(&Error::BadResponse(
            "Code: 241. DB::Exception: Memory limit".into()
        )));
        assert!(!never_stored(&Error::TimedOut));
        assert!(!never_stored(&io(std::io::ErrorKind::ConnectionReset)));
        assert!(!never_stored(&Error::BadResponse("502 Bad Gateway".into())));
    }
}
