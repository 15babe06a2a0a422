//! The log filters `logs` and `stats` share, as options.

use std::time::{Duration, SystemTime};

use clap::Args;
use tracing_clickhouse::Severity;
use tracing_clickhouse::query::{LogQuery, MAX_ATTRIBUTE_FILTERS};

use crate::fail::{Failure, bad_option};

/// A query with the range it was given.
pub(crate) type Ranged = (LogQuery, Option<SystemTime>, Option<SystemTime>);

/// Which logs: every `LogQuery` filter.
#[derive(Debug, Args)]
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
        Ok(self.query_in(default_since)?.0)
    }

    /// The query and its time range.
    pub(crate) fn query_in(&self, default_since: Option<Duration>) -> Result<Ranged, Failure> {
        let mut query = LogQuery::new();
        let (since, until) =
            crate::time::range(self.since.as_deref(), self.until.as_deref(), default_since)?;
        if let Some(since) = since {
            query = query.since(since);
        }
        if let Some(until) = until {
            query = query.until(until);
        }
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
        if self.attributes.len() > MAX_ATTRIBUTE_FILTERS {
            return Err(bad_option(
                "--attr",
                format!("at most {MAX_ATTRIBUTE_FILTERS} of them"),
            ));
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
            if !LogQuery::is_token(word) {
                return Err(bad_option("--word", format!("{word:?}: {ONE_WORD}")));
            }
            query = query.token(word);
        }
        if let Some(text) = &self.contains {
            query = query.contains(text);
        }
        Ok((query, since, until))
    }
}

/// What `--word` (and the page's `word`) takes.
pub(crate) const ONE_WORD: &str = "one word of ASCII letters, digits and non-ASCII characters \
                                   (search for each word, or for the text with --grep)";

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
