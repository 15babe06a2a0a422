//! The log filters `logs` and `stats` share, as options.

use std::time::Duration;

use clap::Args;
use tracing_clickhouse::query::{LogQuery, TimeRange};
use tracing_clickhouse::{Error, Severity};

use crate::fail::{Failure, bad_option};

/// Which logs: every `LogQuery` filter.
#[derive(Debug, Default, Args)]
pub(crate) struct LogFilter {
    /// Only this level: trace, debug, info, warn, error, fatal
    #[arg(long, value_name = "LEVEL")]
    pub(crate) level: Option<Severity>,
    /// Only this level and above
    #[arg(long, value_name = "LEVEL")]
    pub(crate) min_level: Option<Severity>,
    /// Only this level and below
    #[arg(long, value_name = "LEVEL")]
    pub(crate) max_level: Option<Severity>,
    /// Only this service (ServiceName); repeat for several
    #[arg(long, short = 's', value_name = "NAME")]
    pub(crate) service: Vec<String>,
    /// Only this source (ScopeName: the tracing target); repeat for several
    #[arg(long, value_name = "TARGET")]
    pub(crate) source: Vec<String>,
    /// Only logs with this attribute; repeat: all must hold
    #[arg(long = "attr", short = 'a', value_name = "KEY=VALUE", value_parser = pair)]
    pub(crate) attributes: Vec<(String, String)>,
    /// Only logs of this trace (32 hex digits)
    #[arg(long = "trace", value_name = "TRACE_ID")]
    pub(crate) trace_id: Option<String>,
    /// Only logs emitted in this span (16 hex digits)
    #[arg(long = "span", value_name = "SPAN_ID")]
    pub(crate) span_id: Option<String>,
    /// Only messages with this whole word, case kept (indexed); repeat: all must be there
    #[arg(long = "word", short = 'w', value_name = "WORD")]
    pub(crate) words: Vec<String>,
    /// Only messages containing this text, ignoring case
    #[arg(long = "grep", short = 'g', value_name = "TEXT")]
    pub(crate) contains: Option<String>,
    /// From this time: a duration back (1h) or RFC 3339
    #[arg(long, value_name = "TIME")]
    pub(crate) since: Option<String>,
    /// Before this time
    #[arg(long, value_name = "TIME")]
    pub(crate) until: Option<String>,
}

impl LogFilter {
    /// The query, `default_since` back from now without `--since`.
    pub(crate) fn query(&self, default_since: Option<Duration>) -> Result<LogQuery, Failure> {
        self.query_in(self.range(default_since)?)
    }

    /// `--since` and `--until`, `default_since` back from now without `--since`.
    pub(crate) fn range(&self, default_since: Option<Duration>) -> Result<TimeRange, Failure> {
        crate::time::range(self.since.as_deref(), self.until.as_deref(), default_since)
    }

    /// The query over `range`.
    pub(crate) fn query_in(&self, range: TimeRange) -> Result<LogQuery, Failure> {
        self.query_over(range).map_err(|error| match error {
            Refused::Attributes(reason) => bad_option("--attr", reason),
            Refused::Word(reason) => bad_option("--word", format!("{reason} {GREP}")),
        })
    }

    /// The query over `range` (each front reads its times its own way):
    /// the one chain of every filter, for the command line and the page.
    pub(crate) fn query_over(&self, range: TimeRange) -> Result<LogQuery, Refused> {
        let mut query = LogQuery::new().range(range);
        if let Some(level) = self.level {
            query = query.level(level);
        }
        if let Some(level) = self.min_level {
            query = query.min_level(level);
        }
        if let Some(level) = self.max_level {
            query = query.max_level(level);
        }
        for service in &self.service {
            query = query.service(service);
        }
        for source in &self.source {
            query = query.source(source);
        }
        for (key, value) in &self.attributes {
            query = query.attribute(key, value);
        }
        if let Some(id) = &self.trace_id {
            query = query.trace_id(id);
        }
        if let Some(id) = &self.span_id {
            query = query.span_id(id);
        }
        for word in &self.words {
            query = query.token(word);
        }
        if let Some(text) = &self.contains {
            query = query.contains(text);
        }
        match query.check() {
            Err(Error::InvalidQuery {
                parameter: "token",
                reason,
            }) => Err(Refused::Word(reason)),
            Err(Error::InvalidQuery { reason, .. }) => Err(Refused::Attributes(reason)),
            _ => Ok(query),
        }
    }
}

/// A filter the library refuses, and why; each front names it by its own
/// name (`--word`, `word=`).
#[derive(Debug)]
pub(crate) enum Refused {
    /// Too many attribute filters.
    Attributes(String),
    /// A word that is not one.
    Word(String),
}

/// What the command line says to search for instead of a word that is not one.
const GREP: &str = "(search for each word, or for the text with --grep)";

/// `KEY=VALUE` (the value may hold `=`; the key may not be empty).
pub(crate) fn pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_split_at_the_first_equals_sign() {
        assert_eq!(pair("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert_eq!(pair("a=").unwrap(), ("a".into(), String::new()));
        assert!(pair("=b").is_err());
        assert!(pair("ab").is_err());
    }
}
