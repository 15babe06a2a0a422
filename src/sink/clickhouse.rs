//! Inserting batches: into ClickHouse, or nowhere (a dry run).

use std::time::Duration;

use clickhouse::{Client, Compression};

use super::endpoints::EndpointSet;
use super::failure::{Failure, FailureKind, is_missing_schema, never_stored};
use crate::batch::{Batch, Table};
use crate::config::{ClusterInsert, Config};
use crate::connect::endpoint_clients;
use crate::error::{ConfigError, chain};
use crate::schema::insert_sql_for;

/// The flusher's destination.
#[derive(Debug)]
pub(crate) enum Sink {
    ClickHouse(Box<ClickHouseSink>),
    /// Accepts every batch at once: the pipeline measured without a server.
    Discard,
}

impl Sink {
    pub(crate) async fn insert(&self, batch: &Batch, timeout: Duration) -> Result<(), Failure> {
        match self {
            Sink::ClickHouse(sink) => {
                sink.insert(batch, timeout)
                    .await
                    .map_err(|(at, e, maybe_stored)| Failure {
                        kind: FailureKind::of(&e),
                        missing_table: is_missing_schema(&e),
                        maybe_stored,
                        message: format!(
                            "insert into {} failed{at}: {}",
                            batch.table.name(),
                            chain(&e)
                        ),
                    })
            }
            Sink::Discard => Ok(()),
        }
    }
}

/// Writes batches, to the healthy one of its endpoints.
#[derive(Debug)]
pub(crate) struct ClickHouseSink {
    endpoints: EndpointSet,
    /// Into the `_local` tables of a shard, not the `Distributed` ones.
    local_tables: bool,
    /// `async_insert=1, wait_for_async_insert=1` (spans and events).
    async_insert: bool,
}

impl ClickHouseSink {
    /// A sink for `config`'s endpoints (the flusher's, in its database).
    pub(crate) fn new(config: &Config) -> Result<Self, ConfigError> {
        // The batches are compressed already, in ClickHouse's framing: the
        // client sends them as they are, with `decompress=1`.
        let mut clients = endpoint_clients(config, true)?;
        for endpoint in &mut clients {
            endpoint.client = endpoint.client.clone().with_compression(Compression::None);
        }
        Ok(ClickHouseSink {
            endpoints: EndpointSet::new(clients),
            local_tables: config
                .cluster
                .as_ref()
                .is_some_and(|c| c.insert == ClusterInsert::Local),
            async_insert: config.async_insert,
        })
    }

    /// Inserts the batch as one `INSERT ... FORMAT RowBinary`, into the
    /// first endpoint that takes it; a transient failure moves on to the
    /// next at once, with the same token. The error is the last endpoint's,
    /// with ` at URL` when there are several, and whether any endpoint may
    /// have stored the batch.
    pub(crate) async fn insert(
        &self,
        batch: &Batch,
        timeout: Duration,
    ) -> Result<(), (String, clickhouse::error::Error, bool)> {
        let mut last = None;
        let mut maybe_stored = false;
        for member in self.endpoints.candidates().await {
            match self.insert_into(&member.client, batch, timeout).await {
                Ok(()) => {
                    self.endpoints.worked(member);
                    return Ok(());
                }
                Err(error) => {
                    maybe_stored |= !never_stored(&error);
                    let at = match self.endpoints.several() {
                        true => format!(" at {}", member.url),
                        false => String::new(),
                    };
                    if FailureKind::of(&error) != FailureKind::Transient {
                        // Refused rows or credentials: another endpoint of
                        // the same cluster would say the same.
                        return Err((at, error, maybe_stored));
                    }
                    self.endpoints.failed(member);
                    last = Some((at, error));
                }
            }
        }
        let (at, error) = last.expect("there is always a candidate");
        Err((at, error, maybe_stored))
    }

    async fn insert_into(
        &self,
        client: &Client,
        batch: &Batch,
        timeout: Duration,
    ) -> Result<(), clickhouse::error::Error> {
        let mut insert = client
            .insert_formatted_with(insert_sql_for(batch.table, self.local_tables))
            .with_setting("decompress", "1")
            .with_setting("insert_deduplication_token", batch.token.clone())
            .with_timeouts(Some(timeout), Some(timeout));
        // Server-side batching only for the tables no view depends on: an
        // `INSERT ... SELECT` (ours, from `input()`) into a table with
        // dependent views is always synchronous (ClickHouse 26.10+ takes
        // the others async; older servers none), and the rollups keep their
        // deduplication, which ClickHouse refuses for async inserts.
        let async_table = self.async_insert && matches!(batch.table, Table::Spans | Table::Events);
        insert = match async_table {
            // Without it a retried batch would be counted twice in the rollups.
            false => insert.with_setting("deduplicate_blocks_in_dependent_materialized_views", "1"),
            // The server gathers many processes' small inserts into one part
            // and answers once it is written; the token deduplicates a
            // retried batch on replicated tables (`async_insert_deduplicate`).
            true => insert
                .with_setting("async_insert", "1")
                .with_setting("wait_for_async_insert", "1")
                .with_setting("async_insert_deduplicate", "1"),
        };
        for (name, value) in &batch.constants.params {
            insert = insert.with_setting(name.clone(), value.clone());
        }
        for block in batch.body.blocks() {
            insert.send(block).await?;
        }
        insert.end().await
    }
}
