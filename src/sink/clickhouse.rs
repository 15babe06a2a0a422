//! Inserting batches: into ClickHouse, or nowhere (a dry run).

use std::time::Duration;

use clickhouse::Client;

use super::failure::{Failure, FailureKind, server_code_of};
use crate::batch::Batch;
use crate::error::chain;
use crate::schema::insert_sql;

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
            Sink::ClickHouse(sink) => sink.insert(batch, timeout).await.map_err(|e| Failure {
                kind: FailureKind::of(&e),
                missing_table: matches!(server_code_of(&e), Some(60 | 81)),
                message: format!("insert into {} failed: {}", batch.table.name(), chain(&e)),
            }),
            Sink::Discard => Ok(()),
        }
    }
}

/// Writes batches.
#[derive(Clone, Debug)]
pub(crate) struct ClickHouseSink {
    client: Client,
}

impl ClickHouseSink {
    pub(crate) fn new(client: Client) -> Self {
        ClickHouseSink { client }
    }

    /// Inserts the batch as one `INSERT ... FORMAT RowBinary`.
    pub(crate) async fn insert(
        &self,
        batch: &Batch,
        timeout: Duration,
    ) -> Result<(), clickhouse::error::Error> {
        let mut insert = self
            .client
            .insert_formatted_with(insert_sql(batch.table))
            .with_setting("insert_deduplication_token", batch.token.clone())
            // Without it a retried batch would be counted twice in the rollups.
            .with_setting("deduplicate_blocks_in_dependent_materialized_views", "1")
            .with_timeouts(Some(timeout), Some(timeout));
        for (name, value) in &batch.constants.params {
            insert = insert.with_setting(name.clone(), value.clone());
        }
        insert.send(batch.body.clone()).await?;
        insert.end().await
    }
}
