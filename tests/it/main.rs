//! The integration tests, in one binary (built and linked once): each module
//! is the tests of one part of the crate, against a real ClickHouse engine
//! (`common`: `CLICKHOUSE_URL`, or a devserver started for this process).
//!
//! Run one part with a filter: `cargo test --features cli --test it -- schema::`.
//! The tests that must be alone in their process have binaries of their own:
//! `loom` (a build of its own), `allocations` and `hostile_bytes` (counting
//! allocators), `metrics_memory` (the process's memory), `feedback` (a global
//! subscriber) and `log_bridge` (a global `log` logger, which would turn the
//! `log` records of every other test's HTTP clients into their rows).

mod common;
mod known;
mod schemas;

#[cfg(feature = "cli")]
mod alerts;
mod async_insert;
mod body_search;
#[cfg(feature = "cli")]
mod browser;
mod capture;
#[cfg(feature = "cli")]
mod cli;
mod cluster_ddl;
mod console;
mod devserver;
mod endpoints;
mod export;
mod grafana;
mod health;
mod history;
#[cfg(feature = "opentelemetry")]
mod interop;
mod logs;
#[cfg(feature = "metrics")]
mod metrics;
mod migration_3;
#[cfg(feature = "monitor")]
mod monitor;
mod notices;
mod pipeline;
#[cfg(feature = "axum")]
mod propagation;
mod query;
mod reliability;
mod rollups;
mod schema;
mod server_version;
mod spans;
mod spool_disk;
mod tail;
mod tls;
#[cfg(all(feature = "axum", feature = "cli"))]
mod traces;
#[cfg(feature = "cli")]
mod ui;
