//! The queries for programs without async code: [`BlockingQueryClient`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::client::QueryClient;
use super::events::{EventQuery, Events};
use super::logs::{LogPatterns, LogQuery, LogStats, LogVolume, Logs};
use super::metrics::{Aggregate, Granularity, MetricPoints, MetricQuery, Quantiles, Rate};
use super::traces::{Operations, SpanQuery, Spans, Trace};
use crate::config::Config;
use crate::error::{Error, Result};

/// [`QueryClient`]'s queries as plain functions that wait for the answer,
/// as the seed's API is: for a synchronous program, a script, a CLI.
///
/// Each call runs on a thread of the client's own (a one-worker tokio
/// runtime), so it can be made from any thread, also from inside another
/// runtime (where it blocks that runtime's thread until the answer comes:
/// use [`QueryClient`] there). Cheap to clone; the thread stops when the
/// last clone is dropped.
///
/// ```no_run
/// use std::time::{Duration, SystemTime};
/// use tracing_clickhouse::{Config, Severity, query::{BlockingQueryClient, LogQuery}};
///
/// # fn main() -> tracing_clickhouse::Result<()> {
/// let client = BlockingQueryClient::new(&Config::from_env()?)?;
/// let hour_ago = SystemTime::now() - Duration::from_secs(3600);
/// let errors = client.query_logs(&LogQuery::new().level(Severity::Error).since(hour_ago))?;
/// println!("{} errors in the last hour", errors.len());
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
    /// A client for `config`'s server and database. Touches no network.
    ///
    /// # Errors
    ///
    /// An invalid TLS setup, or the query thread cannot be started.
    pub fn new(config: &Config) -> Result<BlockingQueryClient> {
        BlockingQueryClient::on_own_runtime(QueryClient::new(config)?)
    }

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

    /// The async client underneath.
    pub fn client(&self) -> &QueryClient {
        &self.client
    }

    /// Runs `query` on the client's runtime and waits for its answer.
    fn run<T, F>(&self, query: impl FnOnce(QueryClient) -> F) -> Result<T>
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
            .map_err(|_| Error::Query("the query thread stopped".into()))?
    }

    /// [`QueryClient::query_logs`], waiting for the answer.
    ///
    /// # Errors
    ///
    /// As [`QueryClient::query_logs`].
    pub fn query_logs(&self, query: &LogQuery) -> Result<Logs> {
        let query = query.clone();
        self.run(|c| async move { c.query_logs(&query).await })
    }

    /// [`QueryClient::log_stats`], waiting for the answer.
    ///
    /// # Errors
    ///
    /// As [`QueryClient::log_stats`].
    pub fn log_stats(&self, query: &LogQuery) -> Result<LogStats> {
        let query = query.clone();
        self.run(|c| async move { c.log_stats(&query).await })
    }

    /// [`QueryClient::log_volume`], waiting for the answer.
    ///
    /// # Errors
    ///
    /// As [`QueryClient::log_volume`].
    pub fn log_volume(&self, query: &LogQuery, interval: Duration) -> Result<LogVolume> {
        let query = query.clone();
        self.run(move |c| async move { c.log_volume(&query, interval).await })
    }

    /// [`QueryClient::top_patterns`], waiting for the answer.
    ///
    /// # Errors
    ///
    /// As [`QueryClient::top_patterns`].
    pub fn top_patterns(&self, query: &LogQuery, limit: u64) -> Result<LogPatterns> {
        let query = query.clone();
        self.run(move |c| async move { c.top_patterns(&query, limit).await })
    }

    /// [`QueryClient::query_events`], waiting for the answer.
    ///
    /// # Errors
    ///
    /// As [`QueryClient::query_events`].
    pub fn query_events(&self, query: &EventQuery) -> Result<Events> {
        let query = query.clone();
        self.run(|c| async move { c.query_events(&query).await })
    }

    /// [`QueryClient::query_metrics`], waiting for the answer.
    ///
    /// # Errors
    ///
    /// As [`QueryClient::query_metrics`].
    pub fn query_metrics(&self, query: &MetricQuery) -> Result<MetricPoints> {
        let query = query.clone();
        self.run(|c| async move { c.query_metrics(&query).await })
    }

    /// [`QueryClient::counter_rates`], waiting for the answer.
    ///
    /// # Errors
    ///
    /// As [`QueryClient::counter_rates`].
    pub fn counter_rates(&self, query: &MetricQuery) -> Result<Vec<Rate>> {
        let query = query.clone();
        self.run(|c| async move { c.counter_rates(&query).await })
    }

    /// [`QueryClient::histogram_quantiles`], waiting for the answer.
    ///
    /// # Errors
    ///
    /// As [`QueryClient::histogram_quantiles`].
    pub fn histogram_quantiles(&self, query: &MetricQuery, qs: &[f64]) -> Result<Quantiles> {
        let (query, qs) = (query.clone(), qs.to_vec());
        self.run(|c| async move { c.histogram_quantiles(&query, &qs).await })
    }

    /// [`QueryClient::metric_aggregations`], waiting for the answer.
    ///
    /// # Errors
    ///
    /// As [`QueryClient::metric_aggregations`].
    pub fn metric_aggregations(
        &self,
        granularity: Granularity,
        query: &MetricQuery,
    ) -> Result<Vec<Aggregate>> {
        let query = query.clone();
        self.run(move |c| async move { c.metric_aggregations(granularity, &query).await })
    }

    /// [`QueryClient::query_spans`], waiting for the answer.
    ///
    /// # Errors
    ///
    /// As [`QueryClient::query_spans`].
    pub fn query_spans(&self, query: &SpanQuery) -> Result<Spans> {
        let query = query.clone();
        self.run(|c| async move { c.query_spans(&query).await })
    }

    /// [`QueryClient::trace`], waiting for the answer.
    ///
    /// # Errors
    ///
    /// As [`QueryClient::trace`].
    pub fn trace(&self, trace_id: &str) -> Result<Trace> {
        let trace_id = trace_id.to_owned();
        self.run(|c| async move { c.trace(&trace_id).await })
    }

    /// [`QueryClient::slowest_operations`], waiting for the answer.
    ///
    /// # Errors
    ///
    /// As [`QueryClient::slowest_operations`].
    pub fn slowest_operations(&self, query: &SpanQuery, limit: u64) -> Result<Operations> {
        let query = query.clone();
        self.run(move |c| async move { c.slowest_operations(&query, limit).await })
    }
}
