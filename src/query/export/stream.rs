//! What to export ([`ExportQuery`]) and the stream of bytes the server
//! writes for it ([`ExportStream`]).

use bytes::Bytes;
use std::fmt;
use std::str::FromStr;

use super::format::ExportFormat;
use crate::error::{Error, Result};
use crate::query::client::QueryClient;
use crate::query::range::TimeRange;
use crate::query::sql::{Sql, by_name};

/// The sorting key of `logs` in `schema.sql` (a unit test holds them to
/// each other).
const LOGS_SORTING_KEY: &str =
    "toStartOfHour(Timestamp), ServiceName, SeverityText, ScopeName, Timestamp";

/// A table that holds data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExportTable {
    /// `logs`.
    Logs,
    /// `spans`.
    Spans,
    /// `metrics`.
    Metrics,
    /// `events`.
    Events,
}

impl ExportTable {
    /// Every table, in this order.
    pub const ALL: [ExportTable; 4] = [
        ExportTable::Logs,
        ExportTable::Spans,
        ExportTable::Metrics,
        ExportTable::Events,
    ];

    /// The table's name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ExportTable::Logs => "logs",
            ExportTable::Spans => "spans",
            ExportTable::Metrics => "metrics",
            ExportTable::Events => "events",
        }
    }

    /// The column that says when a row happened (the range applies to it).
    pub(crate) fn time_column(self) -> &'static str {
        match self {
            ExportTable::Metrics => "TimeUnix",
            _ => "Timestamp",
        }
    }

    /// The order of the rows: `logs` in the table's own order (its sorting
    /// key: hour by hour, oldest first, and within an hour by service,
    /// level, source, then time), which the server reads without sorting;
    /// the others oldest first. A sort of a wide table costs the server
    /// more than the export itself: an hour of 3.9 M logs took 3 to 10
    /// times as long to write ordered by time (docs/scale.md).
    pub(crate) fn order(self) -> &'static str {
        match self {
            ExportTable::Logs => LOGS_SORTING_KEY,
            table => table.time_column(),
        }
    }
}

impl fmt::Display for ExportTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExportTable {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        by_name(&ExportTable::ALL, ExportTable::as_str, "table", text)
    }
}

/// Which rows to export: every column of a table's rows in a time range
/// (of its time column: `TimeUnix` for metrics, `Timestamp` for the
/// others), `logs` in the table's own order (its sorting key), the others
/// oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct ExportQuery {
    table: ExportTable,
    format: ExportFormat,
    range: TimeRange,
}

impl ExportQuery {
    /// Every row of `table`, in `format`.
    pub fn new(table: ExportTable, format: ExportFormat) -> Self {
        ExportQuery {
            table,
            format,
            range: TimeRange::default(),
        }
    }

    /// Only rows in this time range (all time by default).
    pub fn range(mut self, range: TimeRange) -> Self {
        self.range = range;
        self
    }

    /// The query, its time range bound.
    fn sql(&self) -> Sql {
        // Fixed identifiers only: a table of ours and its time columns.
        let mut sql = Sql::new(&format!("SELECT * FROM {} WHERE 1", self.table));
        // `logs`' second-precision column prunes partitions and granules.
        let seconds = (self.table == ExportTable::Logs).then_some("TimestampTime");
        sql.push_range(self.table.time_column(), seconds, &self.range);
        sql.push(&format!(" ORDER BY {}", self.table.order()));
        sql
    }

    /// The query the server runs, with its parameters written in (for a
    /// manifest, or to run it by hand), and the format's `FORMAT` clause.
    pub fn describe(&self) -> String {
        let text = self.sql().with_numbers_inline();
        format!("{text} FORMAT {}", self.format.clickhouse_name())
    }
}

/// The bytes of an export as the server sends them, a chunk at a time.
pub struct ExportStream {
    cursor: clickhouse::query::BytesCursor,
}

impl fmt::Debug for ExportStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportStream").finish_non_exhaustive()
    }
}

impl ExportStream {
    /// The next chunk, or `None` once the server has sent everything.
    ///
    /// # Errors
    ///
    /// The server's error (also one it reports after the first chunks), or
    /// the connection's.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        Ok(self.cursor.next().await?)
    }
}

impl QueryClient {
    /// Starts exporting `query`'s rows: the server writes the format, and
    /// [`ExportStream::next_chunk`] hands over its bytes as they come, so
    /// nothing is held in memory but a chunk. The time range is bound as
    /// query parameters.
    ///
    /// # Errors
    ///
    /// The request cannot be made; the server's errors come from
    /// `next_chunk`.
    pub fn export(&self, query: &ExportQuery) -> Result<ExportStream> {
        let cursor = query
            .sql()
            .build(&self.client)?
            .fetch_bytes(query.format.clickhouse_name())?;
        Ok(ExportStream { cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn names_parse_back_and_others_are_refused() {
        for table in ExportTable::ALL {
            assert_eq!(table.as_str().parse::<ExportTable>().unwrap(), table);
        }
        for format in ExportFormat::ALL {
            assert_eq!(format.to_string().parse::<ExportFormat>().unwrap(), format);
        }
        assert!("logs; DROP TABLE logs".parse::<ExportTable>().is_err());
        assert!("schema_version".parse::<ExportTable>().is_err());
        assert!("xml".parse::<ExportFormat>().is_err());
    }

    #[test]
    fn the_range_is_bound_and_described() {
        let at = |s| UNIX_EPOCH + Duration::from_secs(s);
        let query = ExportQuery::new(ExportTable::Logs, ExportFormat::Csv)
            .range(TimeRange::between(at(10), at(20)));
        let sql = query.sql();
        assert!(!sql.text.contains("10000000000"), "{}", sql.text);
        assert_eq!(sql.bound_values(), ["Int(10000000000)", "Int(20000000000)"]);
        let text = query.describe();
        assert!(
            text.starts_with("SELECT * FROM logs WHERE 1 AND TimestampTime >="),
            "{text}"
        );
        assert!(
            text.contains("Timestamp < fromUnixTimestamp64Nano(20000000000)"),
            "{text}"
        );
        assert!(
            text.ends_with(&format!(" ORDER BY {LOGS_SORTING_KEY} FORMAT CSVWithNames")),
            "{text}"
        );
        let metrics = ExportQuery::new(ExportTable::Metrics, ExportFormat::Parquet).describe();
        assert_eq!(
            metrics,
            "SELECT * FROM metrics WHERE 1 ORDER BY TimeUnix FORMAT Parquet"
        );
    }

    #[test]
    fn logs_are_exported_in_the_order_the_table_keeps_them() {
        let logs = crate::schema::SCHEMA_SQL
            .split(";\n")
            .find(|s| s.contains("CREATE TABLE IF NOT EXISTS {{database}}.logs\n"))
            .unwrap();
        assert!(
            logs.contains(&format!("\nORDER BY ({LOGS_SORTING_KEY})\n")),
            "{logs}"
        );
        assert_eq!(ExportTable::Spans.order(), "Timestamp");
        assert_eq!(ExportTable::Metrics.order(), "TimeUnix");
    }
}
