//! Reading history back, in the seed's vocabulary (level, source, message,
//! context).
//!
//! Every value goes to ClickHouse as a bound query parameter
//! (`{name:Type}`); the SQL text is built only from fixed fragments.
//!
//! ```no_run
//! use std::time::Duration;
//! use tracing_clickhouse::{Config, Severity, query::{LogQuery, QueryClient, TimeRange}};
//!
//! # async fn run() -> tracing_clickhouse::Result<()> {
//! let client = QueryClient::new(&Config::from_env()?)?;
//! let hour = TimeRange::last(Duration::from_secs(3600));
//! let errors = client
//!     .query_logs(&LogQuery::new().level(Severity::Error).range(hour))
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
mod metrics;
mod range;
mod rows;
pub(crate) mod sql;
mod traces;

pub use blocking::BlockingQueryClient;
pub use client::{Answer, AnswerOrigin, QueryClient};
pub use events::{EventEntry, EventQuery};
pub use export::{ExportFormat, ExportQuery, ExportStream, ExportTable};
pub use logs::{
    LogCursor, LogEntry, LogPattern, LogQuery, LogStats, LogTail, Logs, VolumeBucket,
    message_pattern,
};
pub use metrics::{Aggregate, Granularity, MetricName, MetricPoint, MetricQuery, Quantiles};
pub use range::TimeRange;
pub use sql::Order;
pub use traces::{OperationStats, SpanEntry, SpanNode, SpanQuery, SpanStatus, Trace};
