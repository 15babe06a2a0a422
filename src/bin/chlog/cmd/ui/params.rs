//! The endpoints' parameters: an address's query string (`?level=warn&
//! service=a&service=b&attr=k%3Dv`), read into the library's queries. Every
//! value goes into a query builder, which binds it; none is checked against
//! a pattern here, so hostile text is matched literally, as stored.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing_clickhouse::query::{LogCursor, LogQuery, Order, TimeRange};

use crate::cmd::filters::{LogFilter, Refused, pair};

/// The last nanosecond after the epoch a `DateTime64(9)` holds.
pub(crate) const LATEST_NS: u64 = i64::MAX as u64;

/// A bad parameter, said to the page as a 400.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BadParam(pub(crate) String);

/// The parameters of one request, in their order.
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn parse(query: Option<&str>) -> Params {
        Params(
            url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// Every non-empty value of `key`.
    pub(crate) fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// The last non-empty value of `key`.
    pub(crate) fn get<'a>(&'a self, key: &'a str) -> Option<&'a str> {
        self.all(key).last()
    }

    /// `key` parsed, if given.
    pub(crate) fn parsed<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, BadParam>
    where
        T::Err: std::fmt::Display,
    {
        self.get(key)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|e| BadParam(format!("{key}={v:?}: {e}")))
            })
            .transpose()
    }

    /// A time given as nanoseconds since the epoch, up to the last
    /// nanosecond ClickHouse's `DateTime64(9)` holds (2262-04-11).
    pub(crate) fn time(&self, key: &str) -> Result<Option<SystemTime>, BadParam> {
        match self.parsed::<u64>(key)? {
            Some(ns) if ns > LATEST_NS => Err(BadParam(format!(
                "{key}={ns}: at most {LATEST_NS} (2262-04-11, the last time ClickHouse stores)"
            ))),
            time => Ok(time.map(|ns| UNIX_EPOCH + Duration::from_nanos(ns))),
        }
    }

    /// `since` and `until`, which must be in order.
    pub(crate) fn range(&self) -> Result<TimeRange, BadParam> {
        let (since, until) = (self.time("since")?, self.time("until")?);
        if let (Some(since), Some(until)) = (since, until)
            && since >= until
        {
            return Err(BadParam("since must be before until".into()));
        }
        Ok(crate::time::range_of(since, until))
    }

    /// `limit`, `default` when not given, at most `max`.
    pub(crate) fn limit(&self, default: u64, max: u64) -> Result<u64, BadParam> {
        match self.parsed::<u64>("limit")? {
            Some(0) => Err(BadParam("limit must be at least 1".into())),
            Some(n) if n > max => Err(BadParam(format!("limit must be at most {max}"))),
            Some(n) => Ok(n),
            None => Ok(default),
        }
    }

    /// The log filters: `level`, `min_level`, `max_level`, `service` and
    /// `source` (repeatable), `attr` (`KEY=VALUE`, repeatable), `trace`,
    /// `span`, `word` (repeatable), `q` (contains, ignoring case), `since`,
    /// `until` (ns): the command line's filters under the page's names.
    pub(crate) fn log_query(&self) -> Result<LogQuery, BadParam> {
        let owned = |values: Vec<&str>| values.into_iter().map(str::to_owned).collect();
        let filter = LogFilter {
            level: self.parsed("level")?,
            min_level: self.parsed("min_level")?,
            max_level: self.parsed("max_level")?,
            service: owned(self.all("service").collect()),
            source: owned(self.all("source").collect()),
            attributes: self
                .all("attr")
                .map(|text| pair(text).map_err(|e| BadParam(format!("attr={e}"))))
                .collect::<Result<_, _>>()?,
            trace_id: self.get("trace").map(str::to_owned),
            span_id: self.get("span").map(str::to_owned),
            words: owned(self.all("word").collect()),
            contains: self.get("q").map(str::to_owned),
            ..LogFilter::default()
        };
        filter
            .query_over(self.range()?)
            .map_err(|refused| match refused {
                Refused::Attributes(reason) => BadParam(format!("attr: {reason}")),
                Refused::Word(reason) => BadParam(format!(
                    "word={reason} (search for each word, or for the text with q)"
                )),
            })
    }

    /// The log query of a page: the filters, `order` (`oldest` or the
    /// newest first), `limit` and `after` (a cursor).
    pub(crate) fn log_page(&self, default: u64, max: u64) -> Result<LogQuery, BadParam> {
        let mut query = self.log_query()?.limit(self.limit(default, max)?);
        match self.get("order") {
            None | Some("newest") => {}
            Some("oldest") => query = query.order(Order::OldestFirst),
            Some(other) => return Err(BadParam(format!("order={other:?}: newest or oldest"))),
        }
        if let Some(cursor) = self.parsed::<LogCursor>("after")? {
            query = query.after(cursor);
        }
        Ok(query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_decoded_and_kept_as_given() {
        let params = Params::parse(Some(
            "q=%27%3B%20DROP%20TABLE%20logs%3B%20--&service=a&service=b&attr=k%3Dv%3Dw&x=%00%0A%25_",
        ));
        assert_eq!(params.get("q"), Some("'; DROP TABLE logs; --"));
        assert_eq!(params.all("service").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(params.get("x"), Some("\0\n%_"));
        assert!(params.log_query().is_ok());
    }

    use proptest::prelude::*;

    proptest::proptest! {
        /// Any query string, of known keys with any values or of anything:
        /// a query or a 400 that names what was wrong, never a panic.
        #[test]
        fn any_query_string_is_read_or_refused_by_name(
            pairs in proptest::collection::vec((
                proptest::sample::select(vec![
                    "since", "until", "level", "min_level", "max_level", "service", "source",
                    "attr", "trace", "span", "word", "q", "limit", "order", "after", "x",
                ]),
                proptest::prop_oneof![
                    proptest::num::u64::ANY.prop_map(|n| n.to_string()),
                    "\\PC{0,30}",
                    proptest::sample::select(vec![
                        "18446744073709551615".to_owned(), "9223372036854775808".to_owned(),
                        "-1".to_owned(), "k=v".to_owned(), "=".to_owned(), "oldest".to_owned(),
                        "warn".to_owned(), "%00".to_owned(),
                    ]),
                ],
            ), 0..8),
            raw in "\\PC{0,60}",
        ) {
            let query: String = pairs
                .iter()
                .map(|(k, v)| format!("{k}={}", url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()))
                .collect::<Vec<_>>()
                .join("&");
            for text in [query.as_str(), raw.as_str()] {
                let params = Params::parse(Some(text));
                if let Err(BadParam(message)) = params.log_page(100, 1000) {
                    let named = ["since", "until", "level", "min_level", "max_level", "attr", "word", "limit", "order", "after"]
                        .iter()
                        .any(|key| message.contains(key));
                    prop_assert!(named, "{text:?}: {message}");
                }
                let _ = params.range();
            }
        }
    }

    #[test]
    fn times_past_what_clickhouse_stores_are_refused_by_name() {
        for key in ["since", "until"] {
            let query = format!("{key}=18446744073709551615");
            let error = Params::parse(Some(&query)).range().unwrap_err();
            assert!(error.0.starts_with(&format!("{key}=")), "{}", error.0);
            let last = format!("{key}={LATEST_NS}");
            assert!(Params::parse(Some(&last)).range().is_ok());
        }
    }

    #[test]
    fn bad_values_are_named() {
        for (query, says) in [
            ("level=loud", "level="),
            ("since=yesterday", "since="),
            ("since=5&until=5", "before"),
            ("attr=novalue", "KEY=VALUE"),
            ("limit=0", "at least"),
            ("limit=100000", "at most"),
            ("order=sideways", "order="),
            ("after=garbage", "after="),
        ] {
            let error = Params::parse(Some(query)).log_page(100, 1000).unwrap_err();
            assert!(error.0.contains(says), "{query}: {}", error.0);
        }
    }
}
