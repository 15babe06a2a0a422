//! ClickHouse as the long-term home of a Rust service's logs, spans, metrics
//! and events.
//!
//! One line sets it up: configuration from the `CLICKHOUSE_*` environment,
//! the tables created if missing, a `tracing` subscriber whose
//! [`ClickHouseLayer`] queues every event and span without blocking, a
//! `metrics` recorder, a system monitor, and a background flusher that
//! batches rows into ClickHouse as RowBinary, keeps what it cannot send yet
//! (in memory, then on disk) and renders the console.
//!
//! # Start
//!
//! ```toml
//! [dependencies]
//! tracing-clickhouse = "0.1"
//! tracing = "0.1"
//! ```
//!
//! ```no_run
//! fn main() -> tracing_clickhouse::Result<()> {
//!     let _telemetry = tracing_clickhouse::init()?; // reads CLICKHOUSE_*; flushes on drop
//!     let span = tracing::info_span!("checkout", order_id = 42).entered();
//!     tracing::warn!(cpu_percent = 95, threshold = 90, "High CPU usage detected");
//!     drop(span); // the span's row and the log inside it share a trace id
//!     Ok(())
//! }
//! ```
//!
//! Point it at ClickHouse with `CLICKHOUSE_URL` (for example
//! `http://127.0.0.1:8123`; the default is `https://localhost:8443`),
//! `CLICKHOUSE_USER`, `CLICKHOUSE_PASSWORD` and `CLICKHOUSE_DATABASE`, and
//! name the service with `OTEL_SERVICE_NAME`. [`init`] installs a subscriber
//! with an `EnvFilter` (`RUST_LOG`, default `info`), the layer, the `log`
//! bridge, the `metrics` recorder and the system monitor, prints every log on
//! stderr as `tracing_subscriber::fmt` does, and returns the [`Telemetry`]
//! guard. Keep the guard alive (`let _telemetry`, not `let _`): dropping it
//! flushes what is queued. A server that is down at start is not an error:
//! rows wait and are sent when it answers.
//!
//! # The builder and its exits
//!
//! Every option is a setter of [`Builder`], which starts from the
//! environment ([`builder`] is [`Builder::from_env`]); a setter whose value
//! can be wrong returns `Result<Builder, ConfigError>` and checks the value
//! where it is given, and an error names the variable or setter it came from.
//! The exits, from most to least global:
//!
//! | exit | starts the pipeline | installs |
//! | --- | --- | --- |
//! | [`Builder::install`] (and [`init`]) | yes | the subscriber (filter, layer, console), the `log` bridge, the `metrics` recorder |
//! | [`Builder::build_subscriber`] | yes | nothing: returns the subscriber `install` would set, and the guard |
//! | [`Builder::build`] | yes | nothing: returns the [`ClickHouseLayer`] for a subscriber of your own, and the guard |
//! | [`Builder::build_config`] | no | nothing: the checked [`Config`] |
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//!
//! # fn main() -> tracing_clickhouse::Result<()> {
//! let (layer, _telemetry) = tracing_clickhouse::builder()
//!     .service_name("checkout")
//!     .spool_dir("/var/lib/checkout/spool") // survive an outage and a restart on disk
//!     .build()?;
//! tracing_subscriber::registry()
//!     .with(layer.with_filter(tracing_subscriber::EnvFilter::new("info")))
//!     .with(tracing_subscriber::fmt::layer())
//!     .init();
//! # Ok(()) }
//! ```
//!
//! No exit touches the network: the flusher connects, and creates the tables,
//! on its own thread.
//!
//! # What it promises
//!
//! Capture never blocks and never does I/O on the application's thread: when
//! the queue is full the newest record is dropped (or, with
//! [`QueuePolicy::Block`], the application waits), and every drop is counted
//! in [`Stats`] and said on stderr. Every batch is kept until ClickHouse
//! acknowledged it and re-sent with the same deduplication token, so it is
//! stored once. While ClickHouse is unreachable, batches wait in memory
//! (bounded) and, with a spool directory, on disk, and are replayed oldest
//! first, also after a restart.
//!
//! # Reading it back
//!
//! [`query::QueryClient`] (also at [`Telemetry::query`]) reads logs, traces,
//! metrics and events with typed filters, every value a bound parameter;
//! while ClickHouse is down it answers from the batches this process still
//! holds. [`schema`] applies and migrates the tables, [`health`] reads the
//! storage's health. The `chlog` command-line tool (feature `cli`) and its
//! web view are built on the same calls.
//!
//! # Features
//!
//! | feature | default | adds |
//! | --- | --- | --- |
//! | `rustls` | yes | HTTPS to ClickHouse (ClickHouse Cloud, port 8443) with rustls and the webpki roots, plus the CA in `CLICKHOUSE_CA_CERT` |
//! | `metrics` | yes | `MetricsRecorder`: the `metrics` crate's macros written as periodic snapshots into the `metrics` table |
//! | `monitor` | yes | the `monitor` module: the system's gauges (CPU, memory, disk, load, uptime, the process) and service checks |
//! | `alerts` | | the `alert` module: rules evaluated in ClickHouse, their transitions written to `events` and posted to a webhook |
//! | `middleware` | | the `middleware` module: tower layers for HTTP servers and clients, W3C trace context in and out |
//! | `axum` | | `middleware`, plus axum's matched route as `http.route` |
//! | `opentelemetry` | | with `tracing-opentelemetry` 0.34 in the same subscriber, rows take its spans' trace and span ids |
//! | `cli` | | the `chlog` binary and its web view (with `alerts`) |
//!
//! Items that need a feature are marked with it on docs.rs.
//!
//! # Where to go next
//!
//! The repository's guides go further than this reference, one task each:
//! `docs/configuration.md` (every setting, its variable and bounds),
//! `docs/capture-and-spans.md` (what a row holds, traces across services,
//! sampling, the middleware, OpenTelemetry), `docs/metrics-and-monitor.md`,
//! `docs/reading-history.md`, `docs/chlog.md`, `docs/web-view.md`,
//! `docs/alerting-and-grafana.md`, `docs/operations.md` (the tables,
//! migrations, supported ClickHouse versions, clusters, ClickHouse Cloud),
//! `docs/reliability.md` (what can be lost, and the tests behind each
//! promise), `docs/storage.md`, `docs/performance.md` and
//! `docs/architecture.md`. The crate's package carries them too.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

#[cfg(feature = "alerts")]
pub mod alert;
mod batch;
mod builder;
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

pub use builder::{Builder, builder, init};
#[cfg(feature = "metrics")]
pub use capture::MetricsRecorder;
pub use capture::payload::Value;
pub use capture::{ClickHouseLayer, DirectRecorder};
pub use config::{
    CheckTarget, Colors, Config, Limit, QueuePolicy, ServiceCheck, SpoolFull, SpoolSync, Timing,
};
pub use config::{ClusterConfig, ClusterInsert};
pub use error::{ClickHouseError, ConfigError, Error, Result, SpoolError};
pub use error_kind::ErrorKind;
pub use pipeline::ShutdownReport;
pub use record::{Severity, UnknownSeverity};
pub use stats::Stats;
pub use telemetry::Telemetry;

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

/// The examples of README.md and of the guides in docs/, compiled (and the
/// ones that need no server run) as doctests, so that they cannot rot.
#[cfg(doctest)]
mod guides {
    #[doc = include_str!("../README.md")]
    struct Readme;
    #[doc = include_str!("../docs/configuration.md")]
    struct Configuration;
    #[doc = include_str!("../docs/capture-and-spans.md")]
    struct CaptureAndSpans;
    #[doc = include_str!("../docs/metrics-and-monitor.md")]
    struct MetricsAndMonitor;
    #[doc = include_str!("../docs/reading-history.md")]
    struct ReadingHistory;
    #[doc = include_str!("../docs/chlog.md")]
    struct Chlog;
    #[doc = include_str!("../docs/web-view.md")]
    struct WebView;
    #[doc = include_str!("../docs/alerting-and-grafana.md")]
    struct AlertingAndGrafana;
    #[doc = include_str!("../docs/operations.md")]
    struct Operations;
    #[doc = include_str!("../docs/reliability.md")]
    struct Reliability;
    #[doc = include_str!("../docs/storage.md")]
    struct Storage;
    #[doc = include_str!("../docs/performance.md")]
    struct Performance;
    #[doc = include_str!("../docs/devserver.md")]
    struct Devserver;
    #[doc = include_str!("../docs/architecture.md")]
    struct Architecture;

    /// The alert rules file of docs/alerting-and-grafana.md parses, and its
    /// error-count anomaly rule fires on spikes only.
    ///
    /// ```
    /// # #[cfg(feature = "alerts")] {
    /// use std::time::Duration;
    /// use tracing_clickhouse::Severity;
    /// use tracing_clickhouse::alert::{Alerts, Anomaly, Direction, LogSignal, Rule};
    ///
    /// let guide = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/alerting-and-grafana.md");
    /// let guide = std::fs::read_to_string(guide).unwrap();
    /// let fence = "\x60\x60\x60";
    /// let start = guide.find(&format!("{fence}toml\n[settings]")).unwrap() + fence.len() + 5;
    /// let file = &guide[start..][..guide[start..].find(fence).unwrap()];
    /// let alerts: Alerts = file.parse().unwrap();
    /// assert_eq!(alerts.rules().len(), 3);
    /// let anomaly = alerts.rules().iter().find(|r| r.name() == "error_anomaly").unwrap();
    /// let errors = LogSignal::levels([Severity::Error]).per_service();
    /// let spikes = Anomaly {
    ///     bucket: Duration::from_secs(300),
    ///     baseline: 12,
    ///     score: 4.0,
    ///     direction: Direction::Above,
    ///     ..Anomaly::default()
    /// };
    /// let expected = Rule::anomaly("error_anomaly", errors, spikes);
    /// assert_eq!(anomaly, &expected);
    /// # }
    /// ```
    struct AlertRulesFile;
}
