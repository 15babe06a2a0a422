//! The health of the storage: is ClickHouse there, how fast rows arrive,
//! how much room the tables take and how they are kept, and what needs a
//! person's attention ([`StorageHealth::problems`]).
//!
//! Everything comes from the server itself: the data (rows per table in the
//! last minutes, the oldest and newest row), `system.parts` (rows, bytes,
//! parts per partition), `system.tables` (TTLs, through
//! [`schema::status`](crate::schema::status)), `system.disks`,
//! `system.merge_tree_settings` and `system.query_log`; and what the
//! services' pipelines say of themselves (the records they dropped, from
//! their `tracing_clickhouse.*` metrics).
//!
//! ```no_run
//! # async fn run() -> tracing_clickhouse::Result<()> {
//! use tracing_clickhouse::health::{self, Thresholds};
//! let config = tracing_clickhouse::Config::from_env()?;
//! // The rows of the last five minutes count for the arrival rates.
//! let health = health::check(&config, std::time::Duration::from_secs(300)).await?;
//! for problem in health.problems(&Thresholds::default()) {
//!     eprintln!("{problem}");
//! }
//! # Ok(()) }
//! ```

mod problems;
mod read;

use std::time::Duration;

use crate::query::ExportTable;

pub use problems::{Problem, Thresholds, Urgency};
pub use read::check;

/// The table that holds data called `name`, if it is one.
fn data_table(name: &str) -> Option<ExportTable> {
    ExportTable::ALL
        .into_iter()
        .find(|table| table.as_str() == name)
}

/// What [`check`] found.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct StorageHealth {
    /// The server's URL (no credentials).
    pub url: String,
    /// The database.
    pub database: String,
    /// `version()`.
    pub server_version: String,
    /// How long `SELECT version()` took, there and back.
    pub round_trip: Duration,
    /// The database's schema version (`None`: none of our tables).
    pub schema_version: Option<u32>,
    /// The version this crate applies.
    pub known_schema_version: u32,
    /// The span of time the recent counts cover.
    pub window: Duration,
    /// Every table and view of the schema, in `schema.sql`'s order.
    pub tables: Vec<TableHealth>,
    /// The server's disks.
    pub disks: Vec<DiskHealth>,
    /// The server's `parts_to_delay_insert`: with this many active parts in
    /// a partition, ClickHouse slows inserts down.
    pub parts_to_delay_insert: u64,
    /// The server's `parts_to_throw_insert`: with this many, it refuses them
    /// ("Too many parts").
    pub parts_to_throw_insert: u64,
    /// Queries on the database that finished or failed in the window, by
    /// kind (`Select`, `Insert`, ...); empty if the server keeps no
    /// `system.query_log`.
    pub queries: Vec<QueryStats>,
    /// Records the services' own pipelines dropped in the window, by
    /// service and reason (their `tracing_clickhouse.dropped_rows` metric).
    pub dropped: Vec<DroppedRecords>,
}

/// Records one service's pipeline dropped for one reason, in the window.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DroppedRecords {
    /// `ServiceName`.
    pub service: String,
    /// `queue_full`, `unsent`, `spool_full`, `spool_corrupt`, `after_shutdown`.
    pub reason: String,
    /// How many.
    pub records: u64,
}

/// One table or view.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct TableHealth {
    /// Its name.
    pub name: String,
    /// Whether the database has it.
    pub exists: bool,
    /// `MergeTree`, `SummingMergeTree`, `MaterializedView`, ...
    pub engine: String,
    /// Rows in its active parts.
    pub rows: u64,
    /// Bytes its active parts take on disk.
    pub bytes_on_disk: u64,
    /// Compressed bytes of its columns.
    pub compressed_bytes: u64,
    /// The same, uncompressed.
    pub uncompressed_bytes: u64,
    /// Active parts.
    pub parts: u64,
    /// Partitions with active parts.
    pub partitions: u64,
    /// Active parts of its fullest partition.
    pub max_parts_per_partition: u64,
    /// Its TTL expression, if it has one.
    pub ttl: Option<String>,
    /// The days of that TTL (`toIntervalDay(N)`).
    pub ttl_days: Option<u32>,
    /// The time of its oldest row (ns since the epoch), for the data tables.
    pub oldest_ns: Option<i64>,
    /// The time of its newest row.
    pub newest_ns: Option<i64>,
    /// Rows whose time falls in the window, for the data tables.
    pub recent_rows: Option<u64>,
}

impl TableHealth {
    /// Uncompressed over compressed bytes (`None` while empty).
    pub fn compression_ratio(&self) -> Option<f64> {
        (self.compressed_bytes > 0)
            .then(|| self.uncompressed_bytes as f64 / self.compressed_bytes as f64)
    }

    /// Rows per second over `window`, from [`recent_rows`](Self::recent_rows).
    pub fn rows_per_second(&self, window: Duration) -> Option<f64> {
        let seconds = window.as_secs_f64();
        self.recent_rows
            .filter(|_| seconds > 0.0)
            .map(|rows| rows as f64 / seconds)
    }

    /// Whether it holds data (logs, spans, metrics or events).
    pub fn is_data(&self) -> bool {
        data_table(&self.name).is_some()
    }
}

/// One of the server's disks.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiskHealth {
    /// Its name (`default`, ...).
    pub name: String,
    /// Where it is.
    pub path: String,
    /// Bytes free.
    pub free_bytes: u64,
    /// Bytes in all.
    pub total_bytes: u64,
}

impl DiskHealth {
    /// The share of the disk that is free, 0 to 1 (`None` for a disk of
    /// unknown size).
    pub fn free_share(&self) -> Option<f64> {
        (self.total_bytes > 0).then(|| self.free_bytes as f64 / self.total_bytes as f64)
    }
}

/// Queries of one kind on the database in the window.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueryStats {
    /// `Select`, `Insert`, `Create`, ...
    pub kind: String,
    /// How many finished.
    pub finished: u64,
    /// How many failed.
    pub failed: u64,
    /// The median duration of those that finished, in ms.
    pub p50_ms: u64,
    /// Their 95th percentile.
    pub p95_ms: u64,
    /// The longest.
    pub max_ms: u64,
}
