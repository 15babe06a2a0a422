//! Configuration: where ClickHouse is, who is writing, how long data lives,
//! how the pipeline batches, what the console shows.
//!
//! What the [`Builder`](crate::Builder) resolves to ([`Config`]), its
//! sections (the crate's own: the builder's setters fill them), the values
//! its setters take ([`Limit`], [`Timing`], the enums), and what reads and
//! checks settings: the `CLICKHOUSE_*` variables, values, bounds. Every bad value is an error that
//! names the variable, the builder method or the section field, and the
//! value; the password never appears in an error or a `Debug` print.

pub(crate) mod bounds;
pub(crate) mod cluster;
pub(crate) mod env;
pub(crate) mod monitoring;
pub(crate) mod ratio;
mod resolved;
pub(crate) mod sections;
mod tuning;
pub(crate) mod values;

pub use cluster::{ClusterConfig, ClusterInsert};
pub use monitoring::{CheckTarget, Colors, ServiceCheck};
pub use resolved::Config;
pub use tuning::{Limit, Timing};

/// Where console lines go instead of stderr.
pub(crate) type ConsoleWriter = Box<dyn std::io::Write + Send>;

pub(crate) use monitoring::ConsoleConfig;
pub(crate) use sections::{CaptureLimits, SpoolConfig};
pub use sections::{QueuePolicy, SpoolFull, SpoolSync};
// Used by the CA file's reader (feature `rustls`) and alert files (`alerts`).
#[cfg_attr(
    not(any(feature = "rustls", feature = "alerts")),
    allow(unused_imports)
)]
pub(crate) use values::read_setting_file;
