//! Configuration: where ClickHouse is, who is writing, how long data lives,
//! how the pipeline batches, what the console shows.
//!
//! One [`Builder`] carries every option, starting from the seed's
//! `CLICKHOUSE_*` environment variables (its documentation has the table);
//! the sections it takes are plain structs. Every bad value is an error that
//! names the variable, the builder method or the section field, and the
//! value; the password never appears in an error or a `Debug` print.

mod bounds;
mod builder;
mod cluster;
mod env;
mod monitoring;
mod options;
mod ratio;
mod resolved;
mod sampling;
mod scale;
mod sections;
mod values;

pub use builder::Builder;
pub(crate) use builder::ConsoleWriter;
pub use cluster::{ClusterConfig, ClusterInsert};
pub use monitoring::{
    CheckTarget, Colors, ConsoleConfig, MetricsConfig, MonitorConfig, ServiceCheck,
};
pub use resolved::Config;
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

#[cfg(test)]
mod settings_tests;
#[cfg(test)]
mod tests;
