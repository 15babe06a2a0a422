//! Which metric rows a query is about: [`MetricQuery`], as SQL and as a
//! test on a row read back from memory.

use crate::error::Result;
use crate::query::range::TimeRange;
use crate::query::rows::MetricRow;
use crate::query::sql::{Sql, check_attribute_count};

/// Which metric rows to read: one metric name, and optionally a service,
/// attributes that must all match, and a time range.
///
/// ```
/// use std::time::Duration;
/// use tracing_clickhouse::query::{MetricQuery, TimeRange};
///
/// let query = MetricQuery::new("http.requests")
///     .attribute("route", "/checkout")
///     .range(TimeRange::last(Duration::from_secs(3600)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct MetricQuery {
    name: String,
    service: Option<String>,
    attributes: Vec<(String, String)>,
    range: TimeRange,
}

impl MetricQuery {
    /// Rows of the metric `name`.
    pub fn new(name: impl Into<String>) -> Self {
        MetricQuery {
            name: name.into(),
            service: None,
            attributes: Vec::new(),
            range: TimeRange::default(),
        }
    }

    /// Only rows whose attribute `key` is `value` (may be given several times).
    pub fn attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.push((key.into(), value.into()));
        self
    }

    /// Only this service (`ServiceName`).
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// Only rows in this time range (all time by default; for
    /// aggregations: the buckets starting in it).
    pub fn range(mut self, range: TimeRange) -> Self {
        self.range = range;
        self
    }

    /// Appends the WHERE clause; `time` is the expression the range applies to.
    pub(super) fn filter(&self, sql: &mut Sql, time: &str) {
        let name = sql.filter_param("metric name", &self.name);
        sql.push(&format!(" WHERE MetricName = {name}"));
        sql.push_equal("ServiceName", "service", self.service.as_ref());
        for (key, value) in &self.attributes {
            let key = sql.filter_param("attribute", key);
            let value = sql.filter_param("attribute", value);
            sql.push(&format!(
                " AND arrayExists((k, v) -> k = {key} AND v = {value}, \
                 mapKeys(Attributes), mapValues(Attributes))"
            ));
        }
        sql.push_range(time, None, &self.range);
    }

    pub(super) fn check(&self) -> Result<()> {
        check_attribute_count(&self.attributes)?;
        Ok(())
    }

    pub(super) fn matches(&self, row: &MetricRow) -> bool {
        row.name == self.name
            && self.service.as_ref().is_none_or(|s| &row.service == s)
            && self
                .attributes
                .iter()
                .all(|(k, v)| row.attributes.iter().any(|(rk, rv)| rk == k && rv == v))
            && self.range.contains_ns(row.timestamp_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_binds_every_value() {
        let hostile = "x' OR 1=1 --";
        let mut sql = Sql::new("SELECT 1 FROM metrics");
        MetricQuery::new(hostile)
            .service(hostile)
            .attribute(hostile, hostile)
            .attribute("b", "c")
            .range(TimeRange::since(std::time::SystemTime::UNIX_EPOCH))
            .filter(&mut sql, "TimeUnix");
        assert!(!sql.text.contains(hostile), "{}", sql.text);
        let bound = sql.bound_values();
        assert_eq!(bound.len(), 7, "{bound:?}");
        assert_eq!(bound.iter().filter(|v| v.contains("OR 1=1")).count(), 4);
    }

    #[test]
    fn too_many_attribute_filters_are_an_error() {
        let mut query = MetricQuery::new("m");
        for i in 0..=crate::query::sql::MAX_ATTRIBUTE_FILTERS {
            query = query.attribute(format!("k{i}"), "v");
        }
        assert!(query.check().is_err());
    }
}
