//! Configuration: where ClickHouse is, who is writing, how long data lives,
//! how the pipeline batches, what the console shows.
//!
//! What the [`Builder`](crate::Builder) resolves to ([`Config`]), the plain
//! section structs it takes, and what reads and checks settings: the
//! `CLICKHOUSE_*` variables, values, bounds. Every bad value is an error that
//! names the variable, the builder method or the section field, and the
//! value; the password never appears in an error or a `Debug` print.

pub(crate) mod bounds;
pub(crate) mod cluster;
pub(crate) mod env;
pub(crate) mod monitoring;
pub(crate) mod ratio;
mod resolved;
pub(crate) mod sections;
pub(crate) mod values;

pub use cluster::{ClusterConfig, ClusterInsert};
pub use monitoring::{
    CheckTarget, Colors, ConsoleConfig, MetricsConfig, MonitorConfig, ServiceCheck,
};
pub use resolved::Config;

/// Where console lines go instead of stderr.
pub(crate) type ConsoleWriter = Box<dyn std::io::Write + Send>;

pub use sections::{
    CaptureConfig, CaptureLimits, PipelineConfig, QueuePolicy, Retention, SpoolConfig, SpoolFull,
    SpoolSync,
};
// Used by the CA file's reader (feature `rustls`) and alert files (`alerts`).
#[cfg_attr(
    not(any(feature = "rustls", feature = "alerts")),
    allow(unused_imports)
)]
pub(crate) use values::read_setting_file;
