//! Export for compliance and analysis elsewhere: a whole table's rows in a
//! time range, as the server writes them in JSON lines, CSV or Parquet,
//! streamed chunk by chunk so the reader's memory stays flat whatever the
//! size ([`QueryClient::export`](crate::query::QueryClient::export)).
//!
//! ```no_run
//! use std::io::Write;
//! use std::time::Duration;
//! use tracing_clickhouse::query::{ExportFormat, ExportQuery, ExportTable, QueryClient, TimeRange};
//!
//! # async fn run(client: QueryClient) -> Result<(), Box<dyn std::error::Error>> {
//! let day = TimeRange::last(Duration::from_secs(86_400));
//! let query = ExportQuery::new(ExportTable::Logs, ExportFormat::JsonLines).range(day);
//! let mut stream = client.export(&query)?;
//! let mut file = std::fs::File::create("logs.jsonl")?;
//! let mut bytes = 0;
//! while let Some(chunk) = stream.next_chunk().await? {
//!     file.write_all(&chunk)?;
//!     bytes += chunk.len();
//! }
//! println!("{bytes} bytes");
//! # Ok(()) }
//! ```

mod format;
mod stream;

pub use format::ExportFormat;
pub use stream::{ExportQuery, ExportStream, ExportTable};
