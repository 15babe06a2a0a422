//! The command line: the commands (the options every command takes are
//! `conn::Global`).

use clap::{Parser, Subcommand};

use crate::cmd;
use crate::conn::Global;

const ABOUT: &str = "Search, follow and summarize what a service stored with tracing-clickhouse: \
logs, spans, metrics and events; export them; manage the schema; check the storage's health.";

const EXAMPLES: &str = "\
Examples:
  chlog logs --since 1h --min-level warn          the last hour's warnings and errors
  chlog logs -f --service checkout                follow one service's logs live
  chlog logs --attr user.id=42 --grep timeout --json
  chlog stats --since 24h                         counts, volume per level, top errors
  chlog metrics http.latency --since 6h           a histogram's quantiles and points
  chlog trace 4bf92f3577b34da6a3ce929d0e0e4736    a trace as a tree, with its logs
  chlog slow --since 1d                           the slowest operations
  chlog export logs --since 2026-11-01T00:00:00Z --until 2026-12-01T00:00:00Z \\
        --format parquet -o logs-november.parquet
  chlog health || page-someone                    non-zero exit when storage needs attention
  chlog ui                                        a web page on http://127.0.0.1:8080/

Configuration comes from the environment, as for the library: CLICKHOUSE_URL (or
CLICKHOUSE_HOST, CLICKHOUSE_PORT, CLICKHOUSE_SECURE), CLICKHOUSE_USER, CLICKHOUSE_PASSWORD,
CLICKHOUSE_DATABASE, CLICKHOUSE_CA_CERT, CLICKHOUSE_*_TTL_DAYS; the options above override it.

Times: a duration back from now (30s, 15m, 1h, 2d, 1h30m) or RFC 3339
(2026-12-01T10:00:00Z; without a zone, UTC); --until also takes `now`.

Exit status:
  0  done (for health and schema status: nothing needs attention)
  1  failed otherwise (ClickHouse refused the query, a file could not be written, ...)
  2  bad command line
  3  something needs attention (health found a problem; schema status: apply would change something)
  4  ClickHouse cannot be reached (or did not answer in --timeout)
  5  ClickHouse refused the login
  6  the database or its tables are missing (run `chlog schema apply`), or its schema is too new";

/// The `chlog` command line.
#[derive(Debug, Parser)]
#[command(name = "chlog", version, about = ABOUT, after_help = EXAMPLES, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Search logs, or follow them live (-f)
    #[command(after_help = cmd::logs::EXAMPLES)]
    Logs(cmd::logs::LogsArgs),
    /// Counts by level and source, volume per level, top error patterns
    #[command(after_help = cmd::stats::EXAMPLES)]
    Stats(cmd::stats::StatsArgs),
    /// One metric: points, counter rates, histogram quantiles, aggregations
    #[command(after_help = cmd::metrics::EXAMPLES)]
    Metrics(cmd::metrics::MetricsArgs),
    /// Events (deploys, service status changes, record_event)
    #[command(after_help = cmd::events::EXAMPLES)]
    Events(cmd::events::EventsArgs),
    /// One trace: its spans as a tree with durations drawn as bars, and its logs
    #[command(after_help = cmd::trace::EXAMPLES)]
    Trace(cmd::trace::TraceArgs),
    /// The slowest operations (span names per service), by p95
    #[command(after_help = cmd::slow::EXAMPLES)]
    Slow(cmd::slow::SlowArgs),
    /// Write a table's rows in a time range to a file, with a manifest
    #[command(after_help = cmd::export::EXAMPLES)]
    Export(cmd::export::ExportArgs),
    /// Apply the schema, see its status, run its migrations
    #[command(subcommand)]
    Schema(cmd::schema::SchemaCommand),
    /// The storage's health; exit status 3 when something needs attention
    #[command(after_help = cmd::health::EXAMPLES)]
    Health(cmd::health::HealthArgs),
    /// A local web page: logs, their volume, metrics, traces, statuses, alerts
    #[command(after_help = cmd::ui::EXAMPLES)]
    Ui(cmd::ui::UiArgs),
    /// Alert rules from a TOML file: check, run on an interval; what fires now
    #[command(subcommand, after_help = cmd::alerts::EXAMPLES)]
    Alerts(cmd::alerts::AlertsCommand),
}
