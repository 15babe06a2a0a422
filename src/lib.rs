//! ClickHouse as the long-term home of a Rust service's logs, spans, metrics
//! and events.
//!
//! One line sets it up: configuration from the `CLICKHOUSE_*` environment
//! (every variable and option is on [`Builder`]), the tables created if
//! missing, a `tracing` subscriber whose [`ClickHouseLayer`] queues every
//! event, and a background flusher that batches rows into ClickHouse as
//! RowBinary and renders the console.
//!
//! ```no_run
//! # fn main() -> tracing_clickhouse::Result<()> {
//! let _telemetry = tracing_clickhouse::builder()
//!     .service_name("checkout")
//!     .spool_dir("/var/lib/checkout/spool")
//!     .install()?;
//! # Ok(()) }
//! ```
//!
//! [`Builder::install`] sets the global subscriber and recorder,
//! [`Builder::build`] returns the layer and the guard and installs nothing,
//! and [`Builder::build_config`] only checks and returns the [`Config`].
//!
//! ```no_run
//! # fn main() -> tracing_clickhouse::Result<()> {
//! let _telemetry = tracing_clickhouse::init()?; // flushes when dropped
//! tracing::warn!(cpu_percent = 95, threshold = 90, "High CPU usage detected");
//! # Ok(()) }
//! ```
//!
//! Capture never blocks and never does I/O on the application's thread: when
//! the queue is full, records are dropped and counted ([`Stats`]). While
//! ClickHouse is unreachable, batches wait in memory (bounded) and are re-sent
//! with the same deduplication token, so a batch is stored once.
//!
//! Read history back with [`query::QueryClient`] (also at
//! [`Telemetry::query`]).

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

#[cfg(feature = "alerts")]
pub mod alert;
mod batch;
mod capture;
mod clock;
mod config;
mod connect;
mod error;
mod error_kind;
pub mod health;
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
mod histogram;
mod ids;
#[cfg(feature = "middleware")]
pub mod middleware;
#[cfg(feature = "monitor")]
pub mod monitor;
#[cfg(feature = "opentelemetry")]
mod otel;
mod pipeline;
pub mod propagation;
pub mod query;
mod queue;
mod record;
mod report;
mod rowbinary;
pub mod schema;
mod sink;
mod stats;
mod telemetry;
mod threads;

#[cfg(feature = "metrics")]
pub use capture::MetricsRecorder;
pub use capture::payload::Value;
pub use capture::{ClickHouseLayer, Collector};
pub use config::{
    Builder, CaptureConfig, CaptureLimits, CheckTarget, Colors, Config, ConsoleConfig,
    MetricsConfig, MonitorConfig, PipelineConfig, QueuePolicy, Retention, ServiceCheck,
    SpoolConfig, SpoolFull, SpoolSync,
};
pub use config::{ClusterConfig, ClusterInsert};
pub use error::{ConfigError, Error, Result, SpoolError};
pub use error_kind::ErrorKind;
pub use pipeline::ShutdownReport;
pub use record::{Severity, UnknownSeverity};
pub use stats::Stats;
pub use telemetry::{Telemetry, builder, init};

/// Entry points for the fuzz targets in `fuzz/`; not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::capture::payload::read_payload;
    pub use crate::pipeline::spool::read_segment_image;
    pub use crate::rowbinary::read_values;
}

/// The queue's models for loom's checker (`tests/loom.rs`, built with
/// `--cfg tracing_clickhouse_loom`); not part of the API.
#[cfg(tracing_clickhouse_loom)]
#[doc(hidden)]
pub use queue::models as queue_models;

/// README's examples, compiled as doctests so they cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
