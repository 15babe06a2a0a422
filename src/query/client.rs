//! The query client: where reads go, and the in-memory fallback when
//! ClickHouse cannot answer.

use std::sync::Arc;

use super::sql::Sql;
use crate::batch::UnsentBatches;
use crate::config::Config;
use crate::connect::client;
use crate::error::{Result, chain};
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
    pub(super) client: clickhouse::Client,
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
    pub(super) async fn fetch_or_memory<T>(
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
