//! SQL from fixed fragments with bound parameters, and the filters the
//! in-memory fallback applies to rows read back from batches.
//!
//! The text of a query is only ever our own fragments and the placeholders
//! [`Sql::param`] hands out (`{p0:String}`); every value travels beside it
//! as a query parameter, which ClickHouse parses as a literal of the
//! placeholder's type. A value can therefore never change the query.

use super::range::TimeRange;
use crate::error::{Result, invalid_query};
use crate::record::unix_ns;

/// The longest text a filter may bind, in bytes. ClickHouse refuses a
/// parameter longer than `http_max_field_value_size` (128 KiB by default)
/// after escaping, which can double a value's length; and no stored value
/// is that long unless the capture limits were raised well past their
/// defaults (32 KiB for a message, 8 KiB for a field).
pub(crate) const MAX_FILTER_BYTES: usize = 64 << 10;

/// Attribute filters a query may have (each binds two parameters).
pub(crate) const MAX_ATTRIBUTE_FILTERS: usize = 32;

/// Refuses more than [`MAX_ATTRIBUTE_FILTERS`] attribute filters.
pub(crate) fn check_attribute_count(attributes: &[(String, String)]) -> Result<()> {
    match attributes.len() {
        n if n > MAX_ATTRIBUTE_FILTERS => Err(invalid_query(
            "attribute",
            format!("at most {MAX_ATTRIBUTE_FILTERS} attribute filters, not {n}"),
        )),
        _ => Ok(()),
    }
}

/// A bound parameter's value.
#[derive(Clone, Debug)]
pub(crate) enum Param {
    Str(String),
    Strs(Vec<String>),
    Int(i64),
    Ints(Vec<i64>),
    UInt(u64),
}

impl Param {
    fn type_name(&self) -> &'static str {
        match self {
            Param::Str(_) => "String",
            Param::Strs(_) => "Array(String)",
            Param::Int(_) => "Int64",
            Param::Ints(_) => "Array(Int64)",
            Param::UInt(_) => "UInt64",
        }
    }
}

impl From<&str> for Param {
    fn from(value: &str) -> Self {
        Param::Str(value.to_owned())
    }
}

impl From<&String> for Param {
    fn from(value: &String) -> Self {
        Param::Str(value.clone())
    }
}

impl From<&[String]> for Param {
    fn from(values: &[String]) -> Self {
        Param::Strs(values.to_vec())
    }
}

impl From<i64> for Param {
    fn from(value: i64) -> Self {
        Param::Int(value)
    }
}

impl From<&Vec<String>> for Param {
    fn from(values: &Vec<String>) -> Self {
        Param::Strs(values.clone())
    }
}

impl From<&[i64]> for Param {
    fn from(values: &[i64]) -> Self {
        Param::Ints(values.to_vec())
    }
}

impl From<u64> for Param {
    fn from(value: u64) -> Self {
        Param::UInt(value)
    }
}

/// SQL assembled from fixed fragments, with its parameters beside it.
#[derive(Debug)]
pub(crate) struct Sql {
    pub(crate) text: String,
    params: Vec<(String, Param)>,
    /// The first value too long to bind, named by what it filters.
    too_long: Option<(&'static str, usize)>,
}

impl Sql {
    pub(crate) fn new(text: &str) -> Self {
        Sql {
            text: text.to_owned(),
            params: Vec::new(),
            too_long: None,
        }
    }

    /// Binds `value` under a new name and returns its placeholder
    /// (`{p3:String}`), to be written into the text once or more.
    pub(crate) fn param(&mut self, value: impl Into<Param>) -> String {
        let value = value.into();
        let name = format!("p{}", self.params.len());
        let placeholder = format!("{{{name}:{}}}", value.type_name());
        self.params.push((name, value));
        placeholder
    }

    /// Like [`Sql::param`] for text a caller gave to filter `what` by: a
    /// value longer than [`MAX_FILTER_BYTES`] makes the query an error.
    pub(crate) fn filter_param(&mut self, what: &'static str, value: &str) -> String {
        self.check_len(what, value);
        self.param(value)
    }

    /// Like [`Sql::filter_param`] for a set of values, bound as one array.
    fn filter_set(&mut self, what: &'static str, values: &[String]) -> String {
        for value in values {
            self.check_len(what, value);
        }
        self.param(values)
    }

    fn check_len(&mut self, what: &'static str, value: &str) {
        if value.len() > MAX_FILTER_BYTES && self.too_long.is_none() {
            self.too_long = Some((what, value.len()));
        }
    }

    /// Appends ` AND column = value`, `value` given by a caller to filter
    /// `what` by, if there is one.
    pub(crate) fn push_equal(&mut self, column: &str, what: &'static str, value: Option<&String>) {
        if let Some(value) = value {
            let value = self.filter_param(what, value);
            self.push(&format!(" AND {column} = {value}"));
        }
    }

    /// Appends ` AND column IN values` (`= value` for one), unless there
    /// are none: the values a caller gave to filter `what` by.
    pub(crate) fn push_any_of(&mut self, column: &str, what: &'static str, values: &[String]) {
        match values {
            [] => {}
            [one] => self.push_equal(column, what, Some(one)),
            many => {
                let many = self.filter_set(what, many);
                self.push(&format!(" AND {column} IN {many}"));
            }
        }
    }

    /// Appends our own text: a fragment, or placeholders from [`Sql::param`].
    pub(crate) fn push(&mut self, fragment: &str) {
        self.text.push_str(fragment);
    }

    /// Appends `range` on the column `time` (of nanosecond precision or
    /// coarser). `seconds`, a `DateTime` column of the same time in the
    /// table's primary or partition key (`logs`' `TimestampTime`), gets
    /// each bound too, rounded outward, so that the key prunes.
    pub(crate) fn push_range(&mut self, time: &str, seconds: Option<&str>, range: &TimeRange) {
        for (bound, cmp, seconds_cmp) in [(range.start, ">=", ">="), (range.end, "<", "<=")] {
            let Some(bound) = bound else { continue };
            let ns = self.param(unix_ns(bound));
            if let Some(seconds) = seconds {
                self.push(&format!(
                    " AND {seconds} {seconds_cmp} toDateTime(intDiv({ns}, 1000000000))"
                ));
            }
            self.push(&format!(" AND {time} {cmp} fromUnixTimestamp64Nano({ns})"));
        }
    }

    /// The text and each parameter as `name = value` (to show a query).
    #[cfg(feature = "alerts")]
    pub(crate) fn parts(self) -> (String, Vec<String>) {
        let params = self
            .params
            .iter()
            .map(|(name, value)| format!("{name} = {value:?}"))
            .collect();
        (self.text, params)
    }

    /// The text with the numbers bound written in (to show a query one can
    /// run by hand; strings stay placeholders).
    pub(crate) fn with_numbers_inline(&self) -> String {
        let mut text = self.text.clone();
        for (name, value) in &self.params {
            let number = match value {
                Param::Int(v) => v.to_string(),
                Param::UInt(v) => v.to_string(),
                _ => continue,
            };
            text = text.replace(&format!("{{{name}:{}}}", value.type_name()), &number);
        }
        text
    }

    /// The bound values as `Debug` prints them, in binding order (for tests).
    #[cfg(test)]
    pub(crate) fn bound_values(&self) -> Vec<String> {
        self.params
            .iter()
            .map(|(_, value)| format!("{value:?}"))
            .collect()
    }

    /// The query, ready to run.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuery`] when a filter's text is longer than
    /// [`MAX_FILTER_BYTES`].
    pub(crate) fn build(self, client: &clickhouse::Client) -> Result<clickhouse::query::Query> {
        if let Some((what, len)) = self.too_long {
            return Err(invalid_query(
                what,
                format!(
                    "{len} bytes long; at most {MAX_FILTER_BYTES} bytes fit in a ClickHouse \
                     query parameter"
                ),
            ));
        }
        Ok(self.params.into_iter().fold(
            client.query(&self.text),
            |query, (name, value)| match value {
                Param::Str(v) => query.param(&name, v),
                Param::Strs(v) => query.param(&name, v),
                Param::Int(v) => query.param(&name, v),
                Param::Ints(v) => query.param(&name, v),
                Param::UInt(v) => query.param(&name, v),
            },
        ))
    }
}

/// The one of `all` that `name` calls `text`, for the `FromStr` of a
/// named enum; otherwise an [`Error::InvalidQuery`](crate::Error::InvalidQuery)
/// naming `parameter` and listing the names (`no format "xml": jsonl, csv or
/// parquet`).
pub(crate) fn by_name<T: Copy>(
    all: &[T],
    name: fn(T) -> &'static str,
    parameter: &'static str,
    text: &str,
) -> Result<T> {
    if let Some(&found) = all.iter().find(|&&one| name(one) == text) {
        return Ok(found);
    }
    let names: Vec<&str> = all.iter().map(|&one| name(one)).collect();
    let names = match names.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    Err(invalid_query(
        parameter,
        format!("no {parameter} {text:?}: {names}"),
    ))
}

/// The order of an answer's rows in time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Order {
    /// The newest first (the default).
    #[default]
    NewestFirst,
    /// The oldest first.
    OldestFirst,
}

impl Order {
    /// `DESC` or `ASC`.
    pub(super) fn sql(self) -> &'static str {
        match self {
            Order::NewestFirst => "DESC",
            Order::OldestFirst => "ASC",
        }
    }
}

/// Whether `value` is in `set`, an empty set meaning any value (the
/// "several services or sources at once" filters).
pub(super) fn in_set(set: &[String], value: &str) -> bool {
    set.is_empty() || set.iter().any(|s| s == value)
}

/// The newest `limit` rows, newest first (`ORDER BY time DESC LIMIT n` on
/// rows read back from memory).
pub(super) fn newest_first<T, U: From<T>>(
    mut rows: Vec<T>,
    timestamp_ns: fn(&T) -> i64,
    limit: u64,
) -> Vec<U> {
    rows.sort_by_key(|row| std::cmp::Reverse(timestamp_ns(row)));
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    rows.into_iter().take(limit).map(U::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_not_in_the_list_is_refused_with_the_list() {
        let name = |n: u8| ["one", "two", "three"][usize::from(n)];
        assert_eq!(by_name(&[0, 1, 2], name, "count", "two").unwrap(), 1);
        let error = by_name(&[0, 1, 2], name, "count", "four").unwrap_err();
        assert!(
            error
                .to_string()
                .contains(r#"no count "four": one, two or three"#),
            "{error}"
        );
    }

    #[test]
    fn placeholders_are_numbered_and_typed() {
        let mut sql = Sql::new("SELECT 1 WHERE 1");
        let a = sql.param("x' OR 1=1 --");
        let b = sql.param(7_u64);
        let c = sql.param(&["a".to_owned()][..]);
        assert_eq!((a.as_str(), b.as_str()), ("{p0:String}", "{p1:UInt64}"));
        assert_eq!(c, "{p2:Array(String)}");
        assert!(!sql.text.contains('x'));
    }

    #[test]
    fn a_filter_longer_than_a_parameter_can_be_is_an_error() {
        let client = clickhouse::Client::default();
        let mut sql = Sql::new("SELECT 1 WHERE ");
        let long = "x".repeat(MAX_FILTER_BYTES + 1);
        let p = sql.filter_param("contains", &long);
        sql.push(&format!("Body = {p}"));
        let error = sql.build(&client).err().expect("refused");
        let message = error.to_string();
        assert!(
            message.contains("contains") && message.contains("65537"),
            "{message}"
        );
        let mut sql = Sql::new("SELECT 1");
        sql.filter_param("contains", &"x".repeat(MAX_FILTER_BYTES));
        assert!(sql.build(&client).is_ok());
    }
}
