//! The query client: where reads go, and the in-memory fallback when
//! ClickHouse cannot answer.

use std::sync::Arc;

use super::sql::Sql;
use crate::batch::UnsentBatches;
use crate::config::Config;
use crate::connect::client;
use crate::error::{Error, Result, chain};
use crate::sink::FailureKind;

/// Runs read queries against the configured database.
///
/// The client of a running pipeline ([`Telemetry::query`](crate::Telemetry::query))
/// answers from the rows waiting in memory when ClickHouse cannot be
/// reached, and says so in the answer's [`AnswerOrigin`].
///
/// Cheap to clone. Its connections belong to the tokio runtime that first
/// uses them.
#[derive(Clone, Debug)]
pub struct QueryClient {
    pub(crate) client: clickhouse::Client,
    memory: Option<Arc<UnsentBatches>>,
    /// To connect again, for a client on another runtime.
    config: Arc<Config>,
}

/// Where an answer came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnswerOrigin {
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

/// A list answer: its entries, in the order its query method says, and
/// where they came from. Derefs to the slice of entries.
///
/// ```no_run
/// # async fn run(client: tracing_clickhouse::query::QueryClient) -> tracing_clickhouse::Result<()> {
/// use tracing_clickhouse::query::EventQuery;
/// let events = client.query_events(&EventQuery::new()).await?;
/// if events.origin.is_memory() {
///     eprintln!("ClickHouse is away: only what waits in memory");
/// }
/// for event in &events {
///     println!("{} {}", event.event_type, event.source);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Answer<T> {
    /// The rows.
    pub entries: Vec<T>,
    /// ClickHouse, or the in-memory fallback.
    pub origin: AnswerOrigin,
}

impl<T> Answer<T> {
    pub(super) fn new(entries: Vec<T>, origin: AnswerOrigin) -> Self {
        Answer { entries, origin }
    }
}

impl<T> Default for Answer<T> {
    fn default() -> Self {
        Answer::new(Vec::new(), AnswerOrigin::ClickHouse)
    }
}

impl<T> std::ops::Deref for Answer<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.entries
    }
}

impl<T> IntoIterator for Answer<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a, T> IntoIterator for &'a Answer<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

/// Rows from ClickHouse, or the fallback's rows from memory.
pub(super) enum Fetched<T, M> {
    ClickHouse(Vec<T>),
    Memory(Vec<M>, AnswerOrigin),
}

impl<T, M> Fetched<T, M> {
    /// The rows as answers, `decode` making one of each row from
    /// ClickHouse, and where they came from.
    pub(super) fn answer(self, decode: impl FnMut(T) -> M) -> (Vec<M>, AnswerOrigin) {
        match self {
            Fetched::ClickHouse(rows) => (
                rows.into_iter().map(decode).collect(),
                AnswerOrigin::ClickHouse,
            ),
            Fetched::Memory(answers, origin) => (answers, origin),
        }
    }
}

impl AnswerOrigin {
    /// Whether the answer came from the in-memory fallback.
    pub fn is_memory(&self) -> bool {
        matches!(self, AnswerOrigin::Memory { .. })
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
            config: Arc::new(config.clone()),
        })
    }

    /// A client of its own for the same server and database, with the same
    /// memory fallback: its connections will belong to the runtime that
    /// first uses them.
    pub(super) fn reconnected(&self) -> Result<QueryClient> {
        let mut client = QueryClient::new(&self.config)?;
        client.memory = self.memory.clone();
        Ok(client)
    }

    /// Falls back on `memory` when ClickHouse cannot be reached.
    pub(crate) fn with_memory(mut self, memory: Arc<UnsentBatches>) -> Self {
        self.memory = Some(memory);
        self
    }

    /// Runs `sql`; when ClickHouse cannot be reached and this client has
    /// the memory fallback, reads the rows from `from_memory` instead. A
    /// bad query or a refused login is an error, never hidden behind a
    /// partial answer. Each row is made into an answer.
    pub(super) async fn fetch_or_memory<T, A: From<T>>(
        &self,
        sql: Sql,
        from_memory: impl FnOnce(&UnsentBatches) -> Vec<T>,
    ) -> Result<Answer<A>>
    where
        T: clickhouse::RowOwned + clickhouse::RowRead,
    {
        let (rows, origin) = self
            .fetch_or_else(sql, "this query", Some(from_memory))
            .await?
            .answer(|row| row);
        Ok(Answer::new(rows.into_iter().map(A::from).collect(), origin))
    }

    /// Runs `sql`, which the memory fallback cannot answer: when ClickHouse
    /// cannot be reached and this client has the fallback, the error says
    /// that `what` needs ClickHouse.
    pub(super) async fn fetch<T>(&self, sql: Sql, what: &'static str) -> Result<Vec<T>>
    where
        T: clickhouse::RowOwned + clickhouse::RowRead,
    {
        let none: Option<fn(&UnsentBatches) -> Vec<T>> = None;
        match self.fetch_or_else(sql, what, none).await? {
            Fetched::ClickHouse(rows) | Fetched::Memory(rows, _) => Ok(rows),
        }
    }

    /// Runs `sql`. When ClickHouse cannot be reached and this client has
    /// the memory fallback, answers with `from_memory`, or, without one,
    /// fails with [`Error::ClickHouseNeeded`] naming `what`.
    pub(super) async fn fetch_or_else<T, M>(
        &self,
        sql: Sql,
        what: &'static str,
        from_memory: Option<impl FnOnce(&UnsentBatches) -> Vec<M>>,
    ) -> Result<Fetched<T, M>>
    where
        T: clickhouse::RowOwned + clickhouse::RowRead,
    {
        let error = match sql.build(&self.client)?.fetch_all().await {
            Ok(rows) => return Ok(Fetched::ClickHouse(rows)),
            Err(error) => error,
        };
        match self.memory.as_deref() {
            Some(memory) if FailureKind::of(&error) == FailureKind::Transient => {
                let reason = chain(&error);
                match from_memory {
                    Some(answer) => Ok(Fetched::Memory(
                        answer(memory),
                        AnswerOrigin::Memory { reason },
                    )),
                    None => Err(Error::ClickHouseNeeded { what, reason }),
                }
            }
            _ => Err(error.into()),
        }
    }
}
