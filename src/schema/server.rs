//! The server the schema goes to: its version, checked against the oldest
//! ClickHouse this crate supports, and what the schema does without on an
//! older one (docs/operations.md, "Supported ClickHouse versions").
//!
//! [`apply`](super::apply) asks the server its version first. Older than
//! [`MIN_SERVER_VERSION`] is refused with [`Error::ServerTooOld`] before
//! anything is changed. Newer than that but without something the schema
//! would use, the statements are fitted to the server and [`Applied`]
//! says, one line each, what was left out.
//!
//! [`Applied`]: super::Applied

use std::fmt;

use crate::error::{Error, Result};

/// A ClickHouse release, as `SELECT version()` begins (`24.8` of `24.8.4.1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerVersion {
    /// The year's number (`24`).
    pub major: u32,
    /// The release in it (`8`).
    pub minor: u32,
}

impl ServerVersion {
    /// The version of `text` (`24.8.4.1`, `25.10.1.3832`); `None` if it does
    /// not start with two numbers.
    pub fn parse(text: &str) -> Option<ServerVersion> {
        let mut parts = text.trim().split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(ServerVersion { major, minor })
    }

    const fn at(major: u32, minor: u32) -> ServerVersion {
        ServerVersion { major, minor }
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The oldest ClickHouse the crate supports: the oldest on which every part
/// of it is tested (`make compat`).
pub const MIN_SERVER_VERSION: ServerVersion = ServerVersion::at(23, 10);

/// `T64` after `Delta` in one column's codecs: ClickHouse 23.10, 24.8 and
/// 25.8 refuse every insert into such a column ("Cannot compress with T64
/// codec, data size 35 is not multiplier of 8"); 26.9 takes it. Releases in
/// between were not tested, and get the chain without T64.
const DELTA_T64: ServerVersion = ServerVersion::at(26, 9);
/// `logs.Timestamp`'s codecs in `schema.sql`, and what an older server gets.
const TIMESTAMP_CODECS: &str = "CODEC(Delta(8), T64, ZSTD(1))";
const TIMESTAMP_CODECS_BEFORE_DELTA_T64: &str = "CODEC(Delta(8), ZSTD(1))";

/// `statements` (of [`statements`](super::statements) or
/// [`statements_of`](super::statements_of)) as a server of `version` can
/// run them, as [`apply`](super::apply) fits them; for those who run the
/// DDL themselves.
pub fn fit_to(version: ServerVersion, statements: Vec<String>) -> Vec<String> {
    let fit = Fit { version };
    statements.into_iter().map(|s| fit.statement(s)).collect()
}

/// What the server supports of the schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fit {
    /// The server's version.
    pub(crate) version: ServerVersion,
}

impl Fit {
    /// The fit for a server of `version`; [`Error::ServerTooOld`] below the minimum.
    pub(crate) fn for_version(version: ServerVersion) -> Result<Fit> {
        if version < MIN_SERVER_VERSION {
            return Err(Error::ServerTooOld {
                found: version.to_string(),
                minimum: MIN_SERVER_VERSION.to_string(),
            });
        }
        Ok(Fit { version })
    }

    /// The fit for the server `version()` answered with.
    pub(crate) fn for_answer(answer: &str) -> Result<Fit> {
        let version = ServerVersion::parse(answer).ok_or_else(|| {
            crate::error::invalid_query(
                "version()",
                format!("the server's answer is not a version: {answer:?}"),
            )
        })?;
        Fit::for_version(version)
    }

    /// Whether a column may have `T64` after `Delta`.
    pub(crate) fn delta_t64(&self) -> bool {
        self.version >= DELTA_T64
    }

    /// `statement` as this server can run it.
    pub(crate) fn statement(&self, statement: String) -> String {
        match self.delta_t64() {
            true => statement,
            false => statement.replace(TIMESTAMP_CODECS, TIMESTAMP_CODECS_BEFORE_DELTA_T64),
        }
    }

    /// The `ALTER` that gives an existing column with `codecs` what this
    /// server can write, if it needs one (a table created by a crate that
    /// did not fit the schema to the server, whose inserts all failed).
    pub(crate) fn codec_repair(&self, codecs: &str) -> Option<&'static str> {
        let needs = !self.delta_t64() && codecs.contains("Delta") && codecs.contains("T64");
        needs.then_some(TIMESTAMP_CODECS_BEFORE_DELTA_T64)
    }

    /// One line per part of the schema this server does without.
    pub(crate) fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if !self.delta_t64() {
            notes.push(format!(
                "ClickHouse {}: logs.Timestamp is stored with {TIMESTAMP_CODECS_BEFORE_DELTA_T64} \
                 (T64 after Delta needs {DELTA_T64}; the timestamps take a little more space)",
                self.version
            ));
        }
        notes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_what_the_server_answers() {
        assert_eq!(
            ServerVersion::parse("24.8.4.1"),
            Some(ServerVersion::at(24, 8))
        );
        assert_eq!(
            ServerVersion::parse("25.10.1.3832\n"),
            Some(ServerVersion::at(25, 10))
        );
        assert_eq!(ServerVersion::parse("26"), None);
        assert_eq!(ServerVersion::parse("x.y"), None);
        assert!(ServerVersion::at(25, 10) > ServerVersion::at(25, 8));
        assert_eq!(ServerVersion::at(23, 10).to_string(), "23.10");
    }

    #[test]
    fn an_older_server_is_refused_by_name() {
        let err = Fit::for_answer("22.8.21.38").unwrap_err();
        assert!(matches!(err, Error::ServerTooOld { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("22.8") && text.contains("23.10"), "{text}");
        assert!(matches!(
            Fit::for_answer("nonsense"),
            Err(Error::InvalidQuery { .. })
        ));
        assert!(Fit::for_answer("23.10.1.1").is_ok());
    }

    #[test]
    fn the_timestamp_codecs_fit_the_server() {
        let ddl = format!("Timestamp DateTime64(9) {TIMESTAMP_CODECS},");
        let old = Fit::for_answer("24.8.4.1").unwrap();
        let new = Fit::for_answer("26.9.2.1").unwrap();
        assert_eq!(
            old.statement(ddl.clone()),
            "Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),"
        );
        assert_eq!(new.statement(ddl.clone()), ddl);
        assert_eq!(
            old.codec_repair("CODEC(Delta(8), T64, ZSTD(1))"),
            Some("CODEC(Delta(8), ZSTD(1))")
        );
        assert_eq!(old.codec_repair("CODEC(Delta(8), ZSTD(1))"), None);
        assert_eq!(new.codec_repair("CODEC(Delta(8), T64, ZSTD(1))"), None);
        assert_eq!(old.notes().len(), 1);
        assert!(new.notes().is_empty());
    }
}
