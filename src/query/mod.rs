//! Reading history back, in the seed's vocabulary (level, source, message,
//! context).
//!
//! Every value goes to ClickHouse as a bound query parameter
//! (`{name:Type}`); the SQL text is built only from fixed fragments.
//!
//! ```no_run
//! use std::time::{Duration, SystemTime};
//! use tracing_clickhouse::{Config, Severity, query::{LogQuery, QueryClient}};
//!
//! # async fn run() -> tracing_clickhouse::Result<()> {
//! let client = QueryClient::new(&Config::from_env()?)?;
//! let hour_ago = SystemTime::now() - Duration::from_secs(3600);
//! let errors = client
//!     .query_logs(&LogQuery::new().level(Severity::Error).since(hour_ago))
//!     .await?;
//! let stats = client.log_stats(&LogQuery::new()).await?;
//! println!("{} errors in the last hour, {} logs in all", errors.len(), stats.total);
//! # Ok(()) }
//! ```

mod blocking;
mod client;
mod events;
mod export;
mod logs;
mod memory;
mod metrics;
mod sql;
mod traces;

pub use blocking::BlockingQueryClient;
pub use client::{Origin, QueryClient};
pub use events::{DEFAULT_EVENT_LIMIT, EventEntry, EventQuery, Events};
pub use export::{ExportFormat, ExportQuery, ExportStream, ExportTable, parquet_row_count};
pub use logs::{
    DEFAULT_LIMIT, LogCursor, LogEntry, LogPattern, LogPatterns, LogQuery, LogStats, LogTail,
    LogVolume, Logs, MAX_ATTRIBUTE_FILTERS, VolumeBucket, message_pattern,
};
pub use metrics::{
    Aggregate, Granularity, MetricName, MetricPoint, MetricPoints, MetricQuery, Quantiles, Rate,
};
pub use sql::{MAX_FILTER_BYTES, Order};
pub use traces::{
    DEFAULT_SPAN_LIMIT, MAX_TRACE_ROWS, OperationStats, Operations, SpanEntry, SpanNode, SpanQuery,
    SpanStatus, Spans, Trace,
};
