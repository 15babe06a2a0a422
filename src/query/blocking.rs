//! The queries for programs without async code: [`BlockingQueryClient`].

use std::future::Future;
use std::sync::Arc;

use super::client::QueryClient;
use crate::error::{Error, Result};

/// [`QueryClient`]'s queries for a program without async code (a script,
/// a CLI): [`block_on`](Self::block_on) runs any of them and waits for the
/// answer.
///
/// Each call runs on a thread of the client's own (a one-worker tokio
/// runtime), so it can be made from any thread, also from inside another
/// runtime (where it blocks that runtime's thread until the answer comes:
/// use [`QueryClient`] there). Cheap to clone; the thread stops when the
/// last clone is dropped.
///
/// ```no_run
/// use std::time::Duration;
/// use tracing_clickhouse::{Config, Severity};
/// use tracing_clickhouse::query::{LogQuery, QueryClient, TimeRange};
///
/// # fn main() -> tracing_clickhouse::Result<()> {
/// let client = QueryClient::new(&Config::from_env()?)?.blocking()?;
/// let query = LogQuery::new()
///     .level(Severity::Error)
///     .range(TimeRange::last(Duration::from_secs(3600)));
/// let errors = client.block_on(|client| async move { client.query_logs(&query).await })?;
/// let stats = client.block_on(|client| async move { client.log_stats(&LogQuery::new()).await })?;
/// println!("{} errors in the last hour, {} logs in all", errors.len(), stats.total);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct BlockingQueryClient {
    client: QueryClient,
    runtime: Arc<QueryRuntime>,
}

/// The runtime, shut down without waiting when the last client goes (a
/// runtime dropped the usual way inside async code panics).
#[derive(Debug)]
struct QueryRuntime(Option<tokio::runtime::Runtime>);

impl Drop for QueryRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl QueryClient {
    /// The same queries without async code, with the same memory fallback
    /// (see [`BlockingQueryClient`]).
    ///
    /// # Errors
    ///
    /// The query thread cannot be started.
    pub fn blocking(&self) -> Result<BlockingQueryClient> {
        BlockingQueryClient::on_own_runtime(self.reconnected()?)
    }
}

impl BlockingQueryClient {
    /// `client` on a runtime of its own (the client must have been made
    /// for it: its connections belong to the runtime that opens them).
    pub(super) fn on_own_runtime(client: QueryClient) -> Result<BlockingQueryClient> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tracing-clickhouse-query")
            .enable_all()
            .build()
            .map_err(Error::Thread)?;
        Ok(BlockingQueryClient {
            client,
            runtime: Arc::new(QueryRuntime(Some(runtime))),
        })
    }

    /// Runs `query` with the async client (a clone of it, on this client's
    /// runtime) and waits for its answer: any of [`QueryClient`]'s queries.
    ///
    /// # Errors
    ///
    /// The query's, or [`Error::Thread`] if the query thread is gone.
    pub fn block_on<T, F>(&self, query: impl FnOnce(QueryClient) -> F) -> Result<T>
    where
        F: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let runtime = self.runtime.0.as_ref().expect("until dropped");
        let (answer, wait) = std::sync::mpsc::sync_channel(1);
        let future = query(self.client.clone());
        runtime.spawn(async move {
            let _ = answer.send(future.await);
        });
        wait.recv()
            .map_err(|_| Error::Thread(std::io::Error::other("the query thread stopped")))?
    }
}
