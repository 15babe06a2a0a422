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

mod logs;

pub use logs::{DEFAULT_LIMIT, LogEntry, LogQuery, LogStats};

use crate::config::Config;
use crate::error::Result;
use crate::sink::clickhouse::client;

/// Runs read queries against the configured database.
///
/// Cheap to clone. Its connections belong to the tokio runtime that first
/// uses them.
#[derive(Clone, Debug)]
pub struct QueryClient {
    client: clickhouse::Client,
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
        })
    }

    /// The underlying `clickhouse` client, already pointed at the server and
    /// database, for queries this module does not offer. Bind values with
    /// `.param()`, as this module does.
    pub fn client(&self) -> &clickhouse::Client {
        &self.client
    }
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
