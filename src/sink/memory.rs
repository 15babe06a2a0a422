//! The memory ring as queries see it: the batches waiting in memory for
//! ClickHouse, readable by the query module while ClickHouse cannot answer
//! (the seed's in-memory fallback).
//!
//! Delivery owns the batches; after every change it publishes the list here
//! (the batch bodies are shared, not copied), so a query never waits for the
//! flusher and the flusher never waits for a query.

use std::sync::Arc;

use parking_lot::Mutex;

use super::clickhouse::Batch;
use crate::pipeline::encode::Table;
use crate::query::MetricPoint;
use crate::rowbinary::RowReader;

/// The unsent batches, as last published.
#[derive(Debug, Default)]
pub(crate) struct MemoryRing {
    batches: Mutex<Arc<[Batch]>>,
}

/// A `logs` row read back from a batch, with what filters need beside it.
#[derive(Debug)]
pub(crate) struct MemoryLog {
    pub(crate) timestamp_ns: i64,
    pub(crate) trace_id: String,
    pub(crate) span_id: String,
    pub(crate) level: String,
    pub(crate) severity_number: u8,
    pub(crate) message: String,
    pub(crate) source: String,
    pub(crate) service: String,
    pub(crate) attributes: Vec<(String, String)>,
}

/// An `events` row read back from a batch.
#[derive(Debug)]
pub(crate) struct MemoryEvent {
    pub(crate) timestamp_ns: i64,
    pub(crate) event_type: String,
    pub(crate) source: String,
    pub(crate) service: String,
    pub(crate) details: Vec<(String, String)>,
    pub(crate) trace_id: String,
    pub(crate) span_id: String,
}

/// A `metrics` row read back from a batch.
#[derive(Debug)]
pub(crate) struct MemoryMetric {
    pub(crate) service: String,
    pub(crate) point: MetricPoint,
}

impl MemoryRing {
    /// Replaces the published batches.
    pub(crate) fn publish<'a>(&self, batches: impl Iterator<Item = &'a Batch>) {
        let batches: Arc<[Batch]> = batches.cloned().collect();
        *self.batches.lock() = batches;
    }

    /// Every `logs` row waiting in memory, oldest first.
    pub(crate) fn logs(&self) -> Vec<MemoryLog> {
        self.rows(Table::Logs, read_log)
    }

    /// Every `events` row waiting in memory, oldest first.
    pub(crate) fn events(&self) -> Vec<MemoryEvent> {
        self.rows(Table::Events, read_event)
    }

    /// Every `metrics` row waiting in memory, oldest first.
    pub(crate) fn metrics(&self) -> Vec<MemoryMetric> {
        self.rows(Table::Metrics, read_metric)
    }

    fn rows<T>(&self, table: Table, read: fn(&mut RowReader<'_>, &str) -> Option<T>) -> Vec<T> {
        let batches = Arc::clone(&self.batches.lock());
        let mut rows = Vec::new();
        for batch in batches.iter().filter(|b| b.table == table) {
            let service = batch.constants.service();
            let mut reader = RowReader::new(&batch.body);
            while !reader.is_empty() {
                match read(&mut reader, &service) {
                    Some(row) => rows.push(row),
                    // Cannot happen with batches we encoded; a damaged one
                    // is read as far as it goes.
                    None => break,
                }
            }
        }
        rows
    }
}

/// One row in the `input()` column order of [`Table::insert_sql`].
fn read_log(reader: &mut RowReader<'_>, service: &str) -> Option<MemoryLog> {
    let timestamp_ns = reader.i64()?;
    let trace_id = reader.string()?;
    let span_id = reader.string()?;
    let _trace_flags = reader.u8()?;
    let level = reader.string()?;
    let severity_number = reader.u8()?;
    let message = reader.string()?;
    let source = reader.string()?;
    let attributes = reader.string_map()?;
    Some(MemoryLog {
        timestamp_ns,
        trace_id,
        span_id,
        level,
        severity_number,
        message,
        source,
        service: service.to_owned(),
        attributes,
    })
}

/// One row in the `input()` column order of [`Table::insert_sql`].
fn read_event(reader: &mut RowReader<'_>, service: &str) -> Option<MemoryEvent> {
    Some(MemoryEvent {
        timestamp_ns: reader.i64()?,
        event_type: reader.string()?,
        source: reader.string()?,
        details: reader.string_map()?,
        trace_id: reader.string()?,
        span_id: reader.string()?,
        service: service.to_owned(),
    })
}

/// One row in the `input()` column order of [`Table::insert_sql`].
fn read_metric(reader: &mut RowReader<'_>, service: &str) -> Option<MemoryMetric> {
    let timestamp_ns = reader.i64()?;
    let name = reader.string()?;
    let kind = reader.string()?;
    let _description = reader.string()?;
    let _unit = reader.string()?;
    let attributes = reader.string_map()?;
    let point = MetricPoint {
        timestamp_ns,
        name,
        kind,
        attributes,
        value: reader.f64()?,
        delta: reader.f64()?,
        count: reader.u64()?,
        sum: reader.f64()?,
        min: reader.f64()?,
        max: reader.f64()?,
        quantiles: reader.array(RowReader::f64)?,
        quantile_values: reader.array(RowReader::f64)?,
    };
    let _bounds = reader.array(RowReader::f64)?;
    let _counts = reader.array(RowReader::u64)?;
    Some(MemoryMetric {
        service: service.to_owned(),
        point,
    })
}
