//! Where batches go: ClickHouse, or nowhere (a dry run).

pub(crate) mod clickhouse;

use std::time::Duration;

use crate::error::chain;
use clickhouse::{Batch, ClickHouseSink};

/// The flusher's destination.
#[derive(Debug)]
pub(crate) enum Sink {
    ClickHouse(Box<ClickHouseSink>),
    /// Accepts every batch at once: the pipeline measured without a server.
    Discard,
}

impl Sink {
    pub(crate) async fn insert(&self, batch: &Batch, timeout: Duration) -> Result<(), String> {
        match self {
            Sink::ClickHouse(sink) => sink
                .insert(batch, timeout)
                .await
                .map_err(|e| format!("insert into {} failed: {}", batch.table.name(), chain(&e))),
            Sink::Discard => Ok(()),
        }
    }
}
