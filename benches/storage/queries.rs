//! The reads measured on every layout: the crate's own query API
//! (`QueryClient::query_logs`, `top_patterns`, `tail`) against a database
//! whose `logs` table has the layout, so the SQL measured is exactly what
//! `src/query/logs/` sends. The bench then takes that SQL (with its bound
//! parameters written in) from `system.query_log` to ask `EXPLAIN ESTIMATE`
//! about it and to time it on its own.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing_clickhouse::Severity;
use tracing_clickhouse::query::{LogQuery, QueryClient, TimeRange};

use super::corpus::END_SECS;

/// A read of the study.
pub struct Query {
    pub name: &'static str,
    /// What it asks, for the report.
    pub what: &'static str,
    /// The target on rows read, as a share of the table, if there is one.
    pub target: Target,
    call: Call,
}

#[derive(Clone, Copy, PartialEq)]
pub enum Target {
    None,
    /// At most this share of the table (a fraction).
    AtMost(f64),
    /// No more rows than the exporter's table reads.
    NoWorseThanExporter,
}

/// Which API call makes the query.
enum Call {
    Logs(LogQuery),
    Patterns(LogQuery, u64),
    /// A tail's first poll with this backlog.
    Tail(LogQuery, u64),
}

impl Query {
    /// Runs the query through the crate on `client` (its database holds the
    /// layout as `logs`), returning the rows it answered.
    pub async fn run(&self, client: &QueryClient) -> tracing_clickhouse::Result<usize> {
        Ok(match &self.call {
            Call::Logs(query) => client.query_logs(query).await?.len(),
            Call::Patterns(query, limit) => client.top_patterns(query, *limit).await?.entries.len(),
            Call::Tail(query, backlog) => client.tail(query, *backlog).poll().await?.len(),
        })
    }
}

fn at(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs as u64)
}

/// The last `seconds` of the corpus.
fn last(query: LogQuery, seconds: i64) -> LogQuery {
    query.range(TimeRange::between(at(END_SECS - seconds), at(END_SECS)))
}

/// The reads, for a trace id and a token picked from the corpus.
pub fn queries(trace: &str, token: &str) -> Vec<Query> {
    let q = LogQuery::new;
    vec![
        Query {
            name: "errors_1h",
            what: "level(Error), last hour, newest 100",
            target: Target::AtMost(0.02),
            call: Call::Logs(last(q().level(Severity::Error), 3_600)),
        },
        Query {
            name: "errors_1h_min",
            what: "min_level(Error) (chlog --min-level error), last hour",
            target: Target::AtMost(0.02),
            call: Call::Logs(last(q().min_level(Severity::Error), 3_600)),
        },
        Query {
            name: "svc_level_2h",
            what: "service(payments), level(Warn), last 2 hours",
            target: Target::AtMost(0.02),
            call: Call::Logs(last(q().service("payments").level(Severity::Warn), 7_200)),
        },
        Query {
            name: "tail_10m",
            what: "last 10 minutes, newest 100",
            target: Target::NoWorseThanExporter,
            call: Call::Logs(last(q(), 600).limit(100)),
        },
        Query {
            name: "tail_poll",
            what: "tail(all, backlog 100): first poll, no time bound",
            target: Target::None,
            call: Call::Tail(q(), 100),
        },
        Query {
            name: "trace",
            what: "trace_id(t), no time bound",
            target: Target::AtMost(0.01),
            call: Call::Logs(q().trace_id(trace)),
        },
        Query {
            name: "token_day",
            what: "token(an order id), last day",
            target: Target::None,
            call: Call::Logs(last(q().token(token), 86_400)),
        },
        Query {
            name: "contains_day",
            what: "contains(the same id), last day",
            target: Target::None,
            call: Call::Logs(last(q().contains(token), 86_400)),
        },
        Query {
            name: "patterns_day",
            what: "top_patterns(min_level(Error), last day, 10)",
            target: Target::None,
            call: Call::Patterns(last(q().min_level(Severity::Error), 86_400), 10),
        },
        Query {
            name: "full_scan",
            what: "contains(the id), no time bound",
            target: Target::None,
            call: Call::Logs(q().contains(token)),
        },
    ]
}
