//! Which logs a query is about: [`LogQuery`], as SQL and as a test on a row
//! read back from memory, deciding the same.

use super::cursor::LogCursor;
use crate::error::{Result, invalid_query};
use crate::query::range::TimeRange;
use crate::query::rows::LogRow;
use crate::query::sql::{Order, Sql, check_attribute_count, in_set};
use crate::record::Severity;

/// Rows [`QueryClient::query_logs`](crate::query::QueryClient::query_logs)
/// returns when no limit is set.
pub(crate) const DEFAULT_LIMIT: u64 = 100;

/// Which logs to read. Every condition is optional; all given must hold.
/// The ones that take a set (`service`, `source`) match any of the values
/// given, one call per value.
///
/// ```
/// use std::time::Duration;
/// use tracing_clickhouse::{Severity, query::{LogQuery, TimeRange}};
///
/// let query = LogQuery::new()
///     .min_level(Severity::Warn)
///     .service("checkout")
///     .service("payments")
///     .attribute("user.id", "42")
///     .token("timeout")
///     .range(TimeRange::last(Duration::from_secs(3600)))
///     .limit(20);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[must_use]
pub struct LogQuery {
    pub(super) level: Option<Severity>,
    pub(super) min_level: Option<Severity>,
    pub(super) max_level: Option<Severity>,
    pub(super) sources: Vec<String>,
    pub(super) services: Vec<String>,
    pub(super) text: Option<String>,
    pub(super) tokens: Vec<String>,
    pub(super) attributes: Vec<(String, String)>,
    pub(super) trace_id: Option<String>,
    pub(super) span_id: Option<String>,
    pub(super) range: TimeRange,
    pub(super) order: Order,
    pub(super) limit: Option<u64>,
    pub(super) after: Option<LogCursor>,
}

impl LogQuery {
    /// All logs, newest first, at most 100 unless [`limit`](Self::limit) says.
    pub fn new() -> Self {
        LogQuery::default()
    }

    /// Only this level.
    pub fn level(mut self, level: Severity) -> Self {
        self.level = Some(level);
        self
    }

    /// Only this level and above.
    pub fn min_level(mut self, level: Severity) -> Self {
        self.min_level = Some(level);
        self
    }

    /// Only this level and below (with `min_level`, a range).
    pub fn max_level(mut self, level: Severity) -> Self {
        self.max_level = Some(level);
        self
    }

    /// Only this source (`ScopeName`: the tracing target, or `collect_log`'s
    /// source); called again, this one or the others.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.sources.push(source.into());
        self
    }

    /// Only this service (`ServiceName`); called again, this one or the others.
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.services.push(service.into());
        self
    }

    /// Only messages containing this text, ignoring case (as ClickHouse's
    /// `lowerUTF8` folds it). The `logs` table's n-gram index
    /// (`idx_body_lower`, schema version 4) skips the granules that cannot
    /// hold it, so a rare text is found without reading the range; a text
    /// shorter than three characters, or parts written before version 4,
    /// are scanned. [`token`](Self::token) looks for a whole word.
    pub fn contains(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Only messages containing this word, as a whole word and with this
    /// case (served by the token index on `Body`). A word is a run of ASCII
    /// letters and digits and non-ASCII characters; anything else separates
    /// words, so `token("time-out")` is an error (ask for `time` and `out`).
    /// Called again, every word must be there.
    pub fn token(mut self, word: impl Into<String>) -> Self {
        self.tokens.push(word.into());
        self
    }

    /// Only logs with the attribute `key` equal to `value` (in
    /// `LogAttributes`: an event's fields, `code.*`, `thread.*`). Called
    /// again, every pair must be there; at most 32 pairs.
    pub fn attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.push((key.into(), value.into()));
        self
    }

    /// Only logs of this trace (32 hex digits, as stored).
    pub fn trace_id(mut self, trace_id: impl Into<String>) -> Self {
        self.trace_id = Some(trace_id.into());
        self
    }

    /// Only logs emitted inside this span (16 hex digits, as stored).
    pub fn span_id(mut self, span_id: impl Into<String>) -> Self {
        self.span_id = Some(span_id.into());
        self
    }

    /// Only logs in this time range (all time by default).
    pub fn range(mut self, range: TimeRange) -> Self {
        self.range = range;
        self
    }

    /// Newest first (the default) or oldest first.
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// At most this many rows from `query_logs` (statistics always count
    /// every matching row).
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The page after the one `cursor` came with ([`Logs::next`](super::Logs::next)).
    /// The cursor carries its order, which the query takes.
    pub fn after(mut self, cursor: LogCursor) -> Self {
        self.order = cursor.order;
        self.after = Some(cursor);
        self
    }

    /// Refuses what cannot be asked of ClickHouse, as the queries do
    /// before anything is sent (a tool that takes the filters under names
    /// of its own checks them with this, so that its errors name those).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuery`](crate::Error::InvalidQuery) naming the
    /// parameter: `attribute` (more than 32 of them), `token` (not one
    /// word).
    pub fn check(&self) -> Result<()> {
        check_attribute_count(&self.attributes)?;
        for word in &self.tokens {
            if !is_token(word) {
                return Err(invalid_query(
                    "token",
                    format!("{word:?}: one word of ASCII letters, digits and non-ASCII characters"),
                ));
            }
        }
        Ok(())
    }

    /// The highest `SeverityNumber` of `max_level`'s range (OpenTelemetry
    /// gives each level four numbers: WARN is 13 to 16).
    pub(super) fn max_number(&self) -> Option<u8> {
        self.max_level.map(|level| level.number() + 3)
    }

    /// Appends the WHERE clause (the cursor's bound included).
    pub(super) fn filter(&self, sql: &mut Sql) {
        sql.push(" WHERE 1");
        self.filter_levels_and_scope(sql);
        if let Some(text) = &self.text {
            // `LIKE` on the lowered body is the form the n-gram index on
            // `lowerUTF8(Body)` serves. The server lowers the text too (both
            // sides fold the same way) and escapes its `%`, `_` and `\`, so
            // they match themselves; the pattern is a constant it works out
            // before choosing granules. Escaped here, the bound text could
            // outgrow what a parameter may hold.
            let text = sql.filter_param("contains", text);
            sql.push(&format!(
                r" AND lowerUTF8(Body) LIKE concat('%', replaceRegexpAll(lowerUTF8({text}), '[%_\\\\]', '\\\\\\0'), '%')"
            ));
        }
        for word in &self.tokens {
            let word = sql.filter_param("token", word);
            sql.push(&format!(" AND hasToken(Body, {word})"));
        }
        for (key, value) in &self.attributes {
            let key = sql.filter_param("attribute", key);
            let value = sql.filter_param("attribute", value);
            // The pair itself, and what it implies, which the key and value
            // indexes can answer: most granules are skipped on those.
            sql.push(&format!(
                " AND has(mapKeys(LogAttributes), {key}) AND has(mapValues(LogAttributes), {value}) \
                 AND arrayExists((k, v) -> k = {key} AND v = {value}, \
                 mapKeys(LogAttributes), mapValues(LogAttributes))"
            ));
        }
        sql.push_equal("TraceId", "trace_id", self.trace_id.as_ref());
        sql.push_equal("SpanId", "span_id", self.span_id.as_ref());
        sql.push_range("Timestamp", Some("TimestampTime"), &self.range);
        if let Some(cursor) = &self.after {
            cursor.filter(sql);
        }
    }

    /// Appends the conditions on level, source and service: the columns
    /// `logs` shares with its rollups, whose queries take them from here.
    pub(super) fn filter_levels_and_scope(&self, sql: &mut Sql) {
        if let Some(level) = self.level {
            let level = sql.param(level.as_str());
            sql.push(&format!(" AND SeverityText = {level}"));
        }
        if let Some(level) = self.min_level {
            let number = sql.param(u64::from(level.number()));
            sql.push(&format!(" AND SeverityNumber >= {number}"));
        }
        if let Some(number) = self.max_number() {
            let number = sql.param(u64::from(number));
            sql.push(&format!(" AND SeverityNumber <= {number}"));
        }
        sql.push_any_of("ScopeName", "source", &self.sources);
        sql.push_any_of("ServiceName", "service", &self.services);
    }

    /// Whether a row read back from memory matches, as [`filter`](Self::filter)
    /// decides in ClickHouse (the cursor aside: a cursor needs ClickHouse).
    pub(in crate::query) fn matches(&self, row: &LogRow) -> bool {
        self.level.is_none_or(|level| row.level == level.as_str())
            && self
                .min_level
                .is_none_or(|level| row.severity_number >= level.number())
            && self
                .max_number()
                .is_none_or(|number| row.severity_number <= number)
            && in_set(&self.sources, &row.source)
            && in_set(&self.services, &row.service)
            && self.text.as_ref().is_none_or(|text| {
                row.message
                    .to_lowercase()
                    .contains(text.to_lowercase().as_str())
            })
            && self.tokens.iter().all(|word| has_token(&row.message, word))
            && self
                .attributes
                .iter()
                .all(|(key, value)| row.attributes.iter().any(|(k, v)| k == key && v == value))
            && self.trace_id.as_ref().is_none_or(|id| &row.trace_id == id)
            && self.span_id.as_ref().is_none_or(|id| &row.span_id == id)
            && self.range.contains_ns(row.timestamp_ns)
    }
}

/// Whether `word` can be a [`token`](LogQuery::token): one word of ASCII
/// letters, digits and non-ASCII characters.
fn is_token(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(is_token_byte)
}

/// A byte that is part of a word for ClickHouse's token functions and
/// index: ASCII letters and digits, and every byte of a non-ASCII character.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || !byte.is_ascii()
}

/// `hasToken(haystack, word)`: `word` appears as a whole word.
pub(super) fn has_token(haystack: &str, word: &str) -> bool {
    haystack
        .as_bytes()
        .split(|&b| !is_token_byte(b))
        .any(|token| token == word.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn filter_binds_every_value_and_interpolates_none() {
        let hostile = "x' OR 1=1 --";
        let mut sql = Sql::new("SELECT 1 FROM logs");
        LogQuery::new()
            .level(Severity::Error)
            .source(hostile)
            .service(hostile)
            .service("b")
            .contains(hostile)
            .attribute(hostile, hostile)
            .trace_id(hostile)
            .range(TimeRange::between(
                UNIX_EPOCH + Duration::from_secs(10),
                UNIX_EPOCH + Duration::from_secs(20),
            ))
            .filter(&mut sql);
        assert!(!sql.text.contains(hostile), "{}", sql.text);
        assert!(!sql.text.contains("OR 1"), "{}", sql.text);
        let values = sql.bound_values();
        assert_eq!(values.iter().filter(|v| v.contains("OR 1=1")).count(), 6);
    }

    #[test]
    fn tokens_must_be_words() {
        for bad in ["", "time-out", "a b", "x'"] {
            assert!(LogQuery::new().token(bad).check().is_err(), "{bad:?}");
        }
        for good in ["timeout", "HTTP2", "naïve", "日本"] {
            assert!(LogQuery::new().token(good).check().is_ok(), "{good:?}");
        }
    }

    #[test]
    fn has_token_matches_whole_words_with_case() {
        assert!(has_token("request timeout after 5s", "timeout"));
        assert!(has_token("timeout", "timeout"));
        assert!(has_token("a.timeout,b", "timeout"));
        assert!(!has_token("timeouts happen", "timeout"));
        assert!(!has_token("Timeout", "timeout"));
        assert!(has_token("café ok", "café"));
    }
}
