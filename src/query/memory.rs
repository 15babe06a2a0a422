//! The rows waiting in memory for ClickHouse, read back from their batches
//! for the queries' fallback while ClickHouse cannot answer.

use super::metrics::MetricPoint;
use crate::batch::{Table, UnsentBatches};
use crate::rowbinary::RowReader;

/// A `logs` row read back from a batch, with what filters need beside it.
#[derive(Debug)]
pub(super) struct MemoryLog {
    pub(super) timestamp_ns: i64,
    pub(super) trace_id: String,
    pub(super) span_id: String,
    pub(super) level: String,
    pub(super) severity_number: u8,
    pub(super) message: String,
    pub(super) source: String,
    pub(super) service: String,
    pub(super) attributes: Vec<(String, String)>,
}

/// An `events` row read back from a batch.
#[derive(Debug)]
pub(super) struct MemoryEvent {
    pub(super) timestamp_ns: i64,
    pub(super) event_type: String,
    pub(super) source: String,
    pub(super) service: String,
    pub(super) details: Vec<(String, String)>,
    pub(super) trace_id: String,
    pub(super) span_id: String,
}

/// A `spans` row read back from a batch.
#[derive(Debug)]
pub(super) struct MemorySpan {
    pub(super) timestamp_ns: i64,
    pub(super) trace_id: String,
    pub(super) span_id: String,
    pub(super) parent_span_id: String,
    pub(super) name: String,
    pub(super) source: String,
    pub(super) attributes: Vec<(String, String)>,
    pub(super) duration_ns: u64,
    pub(super) status: String,
    pub(super) status_message: String,
    pub(super) service: String,
    pub(super) kind: String,
    pub(super) trace_state: String,
}

/// A `metrics` row read back from a batch.
#[derive(Debug)]
pub(super) struct MemoryMetric {
    pub(super) service: String,
    pub(super) point: MetricPoint,
}

/// Every `logs` row waiting in memory, oldest first.
pub(super) fn logs(unsent: &UnsentBatches) -> Vec<MemoryLog> {
    rows(unsent, Table::Logs, read_log)
}

/// Every `events` row waiting in memory, oldest first.
pub(super) fn events(unsent: &UnsentBatches) -> Vec<MemoryEvent> {
    rows(unsent, Table::Events, read_event)
}

/// Every `spans` row waiting in memory, oldest first.
pub(super) fn spans(unsent: &UnsentBatches) -> Vec<MemorySpan> {
    rows(unsent, Table::Spans, read_span)
}

/// Every `metrics` row waiting in memory, oldest first.
pub(super) fn metrics(unsent: &UnsentBatches) -> Vec<MemoryMetric> {
    rows(unsent, Table::Metrics, read_metric)
}

fn rows<T>(
    unsent: &UnsentBatches,
    table: Table,
    read: fn(&mut RowReader<'_>, &str) -> Option<T>,
) -> Vec<T> {
    let mut rows = Vec::new();
    for batch in unsent.of(table) {
        let service = batch.constants.service();
        let plain = batch.body.to_plain();
        let mut reader = RowReader::new(&plain);
        while !reader.is_empty() {
            match read(&mut reader, &service) {
                Some(row) => rows.push(row),
                // Cannot happen with batches we encoded; a damaged one is
                // read as far as it goes.
                None => break,
            }
        }
    }
    rows
}

/// One row in the `input()` column order of `schema::insert_sql`.
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

/// One row in the `input()` column order of `schema::insert_sql`.
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

/// One row in the `input()` column order of `schema::insert_sql`.
fn read_span(reader: &mut RowReader<'_>, service: &str) -> Option<MemorySpan> {
    let timestamp_ns = reader.i64()?;
    let trace_id = reader.string()?;
    let span_id = reader.string()?;
    let parent_span_id = reader.string()?;
    let name = reader.string()?;
    let kind = reader.string()?;
    Some(MemorySpan {
        timestamp_ns,
        trace_id,
        span_id,
        parent_span_id,
        name,
        source: reader.string()?,
        attributes: reader.string_map()?,
        duration_ns: reader.u64()?,
        status: reader.string()?,
        status_message: reader.string()?,
        trace_state: reader.string()?,
        service: service.to_owned(),
        kind,
    })
}

/// One row in the `input()` column order of `schema::insert_sql`.
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
