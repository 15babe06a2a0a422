//! The formats an export can be written in.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::query::sql::by_name;

/// The file format, written by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExportFormat {
    /// One JSON object per line (`JSONEachRow`).
    JsonLines,
    /// CSV with a header line of column names (`CSVWithNames`).
    Csv,
    /// Apache Parquet (`Parquet`).
    Parquet,
}

impl ExportFormat {
    /// Every format, in this order.
    pub const ALL: [ExportFormat; 3] = [
        ExportFormat::JsonLines,
        ExportFormat::Csv,
        ExportFormat::Parquet,
    ];

    /// The name ClickHouse gives the format.
    pub fn clickhouse_name(self) -> &'static str {
        match self {
            ExportFormat::JsonLines => "JSONEachRow",
            ExportFormat::Csv => "CSVWithNames",
            ExportFormat::Parquet => "Parquet",
        }
    }

    /// The usual file extension, and the name [`FromStr`] reads.
    pub(crate) fn extension(self) -> &'static str {
        match self {
            ExportFormat::JsonLines => "jsonl",
            ExportFormat::Csv => "csv",
            ExportFormat::Parquet => "parquet",
        }
    }
}

impl fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

impl FromStr for ExportFormat {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        by_name(&ExportFormat::ALL, ExportFormat::extension, "format", text)
    }
}
