//! Reading history back, in the seed's vocabulary (level, source, message,
//! context).
//!
//! Every value goes to ClickHouse as a bound query parameter
//! (`{name:Type}`); the SQL text is built only from fixed fragments.
//!
//! ```no_run
//! use std::time::{Duration, SystemTime};
//! use tracing_clickhouse::{Config, Severity, query::{LogQuery, QueryClient}};
//!
//! # async fn run() -> tracing_clickhouse::Result<()> {
//! let client = QueryClient::new(&Config::from_env()?)?;
//! let hour_ago = SystemTime::now() - Duration::from_secs(3600);
//! let errors = client
//!     .query_logs(&LogQuery::new().level(Severity::Error).since(hour_ago))
//!     .await?;
//! let stats = client.log_stats(&LogQuery::new()).await?;
//! println!("{} errors in the last hour, {} logs in all", errors.len(), stats.total);
//! # Ok(()) }
//! ```

mod events;
mod logs;
mod memory;
mod metrics;

pub use events::{DEFAULT_EVENT_LIMIT, EventEntry, EventQuery, Events};
pub use logs::{DEFAULT_LIMIT, LogEntry, LogQuery, LogStats, Logs};
pub use metrics::{
    Aggregate, Granularity, MetricPoint, MetricPoints, MetricQuery, Quantiles, Rate,
};

use std::sync::Arc;
use std::time::SystemTime;

use crate::batch::UnsentBatches;
use crate::config::Config;
use crate::connect::client;
use crate::error::{Result, chain};
use crate::record::unix_ns;
use crate::sink::FailureKind;

/// Runs read queries against the configured database.
///
/// The client of a running pipeline ([`Telemetry::query`](crate::Telemetry::query))
/// answers from the rows waiting in memory when ClickHouse cannot be
/// reached, and says so in the answer's [`Origin`].
///
/// Cheap to clone. Its connections belong to the tokio runtime that first
/// uses them.
#[derive(Clone, Debug)]
pub struct QueryClient {
    client: clickhouse::Client,
    memory: Option<Arc<UnsentBatches>>,
}

/// Where an answer came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// ClickHouse: everything stored.
    #[default]
    ClickHouse,
    /// ClickHouse could not be reached, so the answer covers only the rows
    /// this process captured that are still waiting in memory to be sent
    /// (not the history, nor rows already spilled to the disk spool).
    Memory {
        /// Why ClickHouse did not answer.
        reason: String,
    },
}

impl Origin {
    /// Whether the answer came from the in-memory fallback.
    pub fn is_memory(&self) -> bool {
        matches!(self, Origin::Memory { .. })
    }
}

impl QueryClient {
    /// A client for `config`'s server and database. Touches no network.
    ///
    /// # Errors
    ///
    /// [`ConfigError`](crate::ConfigError) if the TLS setup is invalid.
    pub fn new(config: &Config) -> Result<QueryClient> {
        Ok(QueryClient {
            client: client(config, true)?,
            memory: None,
        })
    }

    /// Falls back on `memory` when ClickHouse cannot be reached.
    pub(crate) fn with_memory(mut self, memory: Arc<UnsentBatches>) -> Self {
        self.memory = Some(memory);
        self
    }

    /// Runs `sql`; when ClickHouse cannot be reached and this client has
    /// the memory fallback, answers with `from_memory` instead. A bad query
    /// or a refused login is an error, never hidden behind a partial answer.
    async fn fetch_or_memory<T>(
        &self,
        sql: Sql,
        from_memory: impl FnOnce(&UnsentBatches) -> Vec<T>,
    ) -> Result<(Vec<T>, Origin)>
    where
        T: clickhouse::RowOwned + clickhouse::RowRead,
    {
        match sql.build(&self.client).fetch_all().await {
            Ok(rows) => Ok((rows, Origin::ClickHouse)),
            Err(error) => match self.memory.as_deref() {
                Some(memory) if FailureKind::of(&error) == FailureKind::Transient => {
                    let reason = chain(&error);
                    Ok((from_memory(memory), Origin::Memory { reason }))
                }
                _ => Err(error.into()),
            },
        }
    }

    /// The underlying `clickhouse` client, already pointed at the server and
    /// database, for queries this module does not offer. Bind values with
    /// `.param()`, as this module does.
    pub fn client(&self) -> &clickhouse::Client {
        &self.client
    }
}

/// Whether `timestamp_ns` lies in `[since, until)`: the time range of the
/// queries, decided on a row read back from memory.
fn in_range(timestamp_ns: i64, since: Option<SystemTime>, until: Option<SystemTime>) -> bool {
    since.is_none_or(|since| timestamp_ns >= unix_ns(since))
        && until.is_none_or(|until| timestamp_ns < unix_ns(until))
}

/// The newest `limit` rows, newest first (`ORDER BY time DESC LIMIT n` on
/// rows read back from memory).
fn newest_first<T, U: From<T>>(
    mut rows: Vec<T>,
    timestamp_ns: fn(&T) -> i64,
    limit: u64,
) -> Vec<U> {
    rows.sort_by_key(|row| std::cmp::Reverse(timestamp_ns(row)));
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    rows.into_iter().take(limit).map(U::from).collect()
}

/// A bound parameter's value.
#[derive(Debug)]
enum Param {
    Str(String),
    Int(i64),
    UInt(u64),
}

/// SQL assembled from fixed fragments, with its parameters beside it.
#[derive(Debug)]
struct Sql {
    text: String,
    params: Vec<(&'static str, Param)>,
}

impl Sql {
    fn new(text: &str) -> Self {
        Sql {
            text: text.to_owned(),
            params: Vec::new(),
        }
    }

    /// Appends a fragment that mentions `{name:Type}`, and binds `name`.
    fn push(&mut self, fragment: &'static str, name: &'static str, value: Param) {
        self.text.push_str(fragment);
        self.params.push((name, value));
    }

    /// Binds `name`, which a fragment pushed before mentions.
    fn bind(&mut self, name: &'static str, value: Param) {
        self.params.push((name, value));
    }

    /// Appends `AND time >= since AND time < until` for the bounds given
    /// (`time` is a fixed expression of nanosecond precision or coarser),
    /// binding `since` and `until`.
    fn push_time_range(
        &mut self,
        time: &'static str,
        since: Option<SystemTime>,
        until: Option<SystemTime>,
    ) {
        if let Some(since) = since {
            self.push_text(" AND ");
            self.push_text(time);
            let fragment = " >= fromUnixTimestamp64Nano({since:Int64})";
            self.push(fragment, "since", Param::Int(unix_ns(since)));
        }
        if let Some(until) = until {
            self.push_text(" AND ");
            self.push_text(time);
            let fragment = " < fromUnixTimestamp64Nano({until:Int64})";
            self.push(fragment, "until", Param::Int(unix_ns(until)));
        }
    }

    fn push_text(&mut self, fragment: &'static str) {
        self.text.push_str(fragment);
    }

    fn build(self, client: &clickhouse::Client) -> clickhouse::query::Query {
        self.params.into_iter().fold(
            client.query(&self.text),
            |query, (name, value)| match value {
                Param::Str(v) => query.param(name, v),
                Param::Int(v) => query.param(name, v),
                Param::UInt(v) => query.param(name, v),
            },
        )
    }
}
