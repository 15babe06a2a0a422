//! The time range every query takes: [`TimeRange`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::record::unix_ns;

/// When the rows a query reads happened: `[start, end)`, either end open.
/// The default is all time.
///
/// Every query takes one ([`LogQuery::range`](super::LogQuery::range),
/// [`SpanQuery::range`](super::SpanQuery::range), ...), and it applies to
/// the table's time column (a span's start, a metric snapshot's time).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tracing_clickhouse::query::TimeRange;
///
/// let hour = TimeRange::last(Duration::from_secs(3600));
/// let now = SystemTime::now();
/// let yesterday = TimeRange::between(now - Duration::from_secs(2 * 86_400), now - Duration::from_secs(86_400));
/// assert!(hour.end.is_none() && yesterday.end.is_some());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TimeRange {
    /// The start (included), if any.
    pub start: Option<SystemTime>,
    /// The end (excluded), if any.
    pub end: Option<SystemTime>,
}

impl TimeRange {
    /// The last `duration` before now, and what arrives after (the end is
    /// open). A duration reaching past the Unix epoch starts there.
    pub fn last(duration: Duration) -> Self {
        let start = SystemTime::now()
            .checked_sub(duration)
            .filter(|start| *start >= UNIX_EPOCH)
            .unwrap_or(UNIX_EPOCH);
        TimeRange::since(start)
    }

    /// From `start` on (at or after it).
    pub fn since(start: SystemTime) -> Self {
        TimeRange {
            start: Some(start),
            end: None,
        }
    }

    /// Before `end`.
    pub fn until(end: SystemTime) -> Self {
        TimeRange {
            start: None,
            end: Some(end),
        }
    }

    /// From `start` (included) to `end` (excluded); empty unless `start`
    /// is before `end`.
    pub fn between(start: SystemTime, end: SystemTime) -> Self {
        TimeRange {
            start: Some(start),
            end: Some(end),
        }
    }

    /// Whether `timestamp_ns` lies in the range: the SQL's test, decided on
    /// a row read back from memory.
    pub(crate) fn contains_ns(&self, timestamp_ns: i64) -> bool {
        self.start
            .is_none_or(|start| timestamp_ns >= unix_ns(start))
            && self.end.is_none_or(|end| timestamp_ns < unix_ns(end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_start_included_end_excluded() {
        let at = |s| UNIX_EPOCH + Duration::from_secs(s);
        let range = TimeRange::between(at(10), at(20));
        assert!(range.contains_ns(10_000_000_000));
        assert!(!range.contains_ns(20_000_000_000));
        assert!(!range.contains_ns(9_999_999_999));
        assert!(TimeRange::default().contains_ns(i64::MIN));
        assert!(TimeRange::until(at(1)).contains_ns(0));
        assert_eq!(TimeRange::last(Duration::MAX).start, Some(UNIX_EPOCH));
    }
}
