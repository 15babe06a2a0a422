//! Pages of logs that stay right while rows arrive: the page after a
//! cursor starts strictly after the last row of the page before, in a total
//! order of the rows, so no row is shown twice or passed over.
//!
//! Rows are ordered by `(Timestamp, RowHash)`, where `RowHash` is a hash of
//! the row's content (rows of the same nanosecond are rare, but happen); rows
//! equal in both are identical, and the cursor counts how many of them the
//! pages so far have shown.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, invalid_query};
use crate::query::sql::{Order, Sql};

/// The content hash that breaks ties between rows of the same nanosecond.
pub(super) const ROW_HASH: &str =
    "cityHash64(ServiceName, ScopeName, SeverityNumber, TraceId, SpanId, Body, LogAttributes)";

/// Where the next page of a log query starts. Opaque; it prints as text
/// and parses back (`"n.1733040000123456789.9f86d081884c7d65.1"`), for a
/// command line or a web page to carry.
///
/// ```
/// use tracing_clickhouse::query::LogCursor;
/// let cursor: LogCursor = "n.1733040000123456789.9f86d081884c7d65.1".parse().unwrap();
/// assert_eq!(cursor.to_string().parse::<LogCursor>().unwrap(), cursor);
/// assert!("garbage".parse::<LogCursor>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LogCursor {
    pub(super) order: Order,
    pub(super) timestamp_ns: i64,
    pub(super) row_hash: u64,
    /// Rows with exactly this `(timestamp, hash)` already shown.
    pub(super) shown: u32,
}

/// A row's place in the order of pages.
pub(super) type RowKey = (i64, u64);

impl LogCursor {
    /// The cursor after a page whose rows have `keys`, in page order, on top
    /// of the cursor the page started from.
    pub(super) fn after_page(
        order: Order,
        keys: &[RowKey],
        previous: Option<&LogCursor>,
    ) -> Option<LogCursor> {
        let &last = keys.last()?;
        let mut shown = keys.iter().rev().take_while(|&&key| key == last).count() as u32;
        if let Some(previous) = previous
            && previous.key() == last
        {
            shown += previous.shown;
        }
        Some(LogCursor {
            order,
            timestamp_ns: last.0,
            row_hash: last.1,
            shown,
        })
    }

    pub(super) fn key(&self) -> RowKey {
        (self.timestamp_ns, self.row_hash)
    }

    /// Appends the bound: rows at the cursor's key or past it, in the
    /// query's order (the rows at the key that were shown are dropped after
    /// reading, see [`LogCursor::skip`]). The bound is also given on
    /// `TimestampTime`, where it prunes.
    pub(super) fn filter(&self, sql: &mut Sql) {
        let ts = sql.param(self.timestamp_ns);
        let hash = sql.param(self.row_hash);
        let (cmp, time_cmp) = match self.order {
            Order::NewestFirst => ("<=", "<="),
            Order::OldestFirst => (">=", ">="),
        };
        sql.push(&format!(
            " AND TimestampTime {time_cmp} toDateTime(intDiv({ts}, 1000000000)) \
             AND (Timestamp, {ROW_HASH}) {cmp} (fromUnixTimestamp64Nano({ts}), {hash})"
        ));
    }

    /// How many rows at the start of a page read from this cursor were
    /// already shown: those with the cursor's key, up to `shown` of them.
    pub(super) fn skip(&self, keys: &[RowKey]) -> usize {
        keys.iter()
            .take(self.shown as usize)
            .take_while(|&&key| key == self.key())
            .count()
    }
}

impl fmt::Display for LogCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let order = match self.order {
            Order::NewestFirst => 'n',
            Order::OldestFirst => 'o',
        };
        write!(
            f,
            "{order}.{}.{:016x}.{}",
            self.timestamp_ns, self.row_hash, self.shown
        )
    }
}

impl FromStr for LogCursor {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = || invalid_query("after", format!("not a log cursor: {text:?}"));
        let mut parts = text.split('.');
        let order = match parts.next() {
            Some("n") => Order::NewestFirst,
            Some("o") => Order::OldestFirst,
            _ => return Err(bad()),
        };
        let timestamp_ns = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let row_hash = parts
            .next()
            .and_then(|p| u64::from_str_radix(p, 16).ok())
            .ok_or_else(bad)?;
        let shown = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        if parts.next().is_some() || shown == 0 {
            return Err(bad());
        }
        Ok(LogCursor {
            order,
            timestamp_ns,
            row_hash,
            shown,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_cursor_counts_the_rows_of_its_key() {
        let keys = [(5, 1), (4, 9), (4, 9)];
        let cursor = LogCursor::after_page(Order::NewestFirst, &keys, None).unwrap();
        assert_eq!((cursor.key(), cursor.shown), ((4, 9), 2));
        // A page of nothing but the same key adds to what was shown.
        let again = LogCursor::after_page(Order::NewestFirst, &[(4, 9)], Some(&cursor)).unwrap();
        assert_eq!(again.shown, 3);
        assert_eq!(again.skip(&[(4, 9), (4, 9), (4, 9), (4, 9), (3, 0)]), 3);
        assert_eq!(cursor.skip(&[(4, 9), (3, 0)]), 1, "a row gone since");
        assert!(LogCursor::after_page(Order::NewestFirst, &[], None).is_none());
    }

    #[test]
    fn cursors_print_and_parse_back_and_garbage_is_refused() {
        let cursor = LogCursor {
            order: Order::OldestFirst,
            timestamp_ns: -5,
            row_hash: u64::MAX,
            shown: 3,
        };
        assert_eq!(cursor.to_string().parse::<LogCursor>().unwrap(), cursor);
        for bad in [
            "",
            "x.1.2.3",
            "n.1.2",
            "n.1.zz.1",
            "n.1.2.0",
            "n.1.2.3.4",
            "n.a.2.1",
        ] {
            assert!(bad.parse::<LogCursor>().is_err(), "{bad:?}");
        }
    }
}
