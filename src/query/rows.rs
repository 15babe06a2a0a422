//! The rows the queries read, as ClickHouse sends them and as they are read
//! back from the batches waiting in memory (the queries' fallback while
//! ClickHouse cannot answer). They stay private: the public answers are
//! made from them, so no public type implements a `clickhouse` trait.

use serde::Deserialize;

use crate::batch::{Table, UnsentBatches};
use crate::rowbinary::RowReader;

/// A `logs` row, with what filters and pages need beside it.
#[derive(Debug, Deserialize, clickhouse::Row)]
pub(super) struct LogRow {
    pub(super) timestamp_ns: i64,
    /// Its place among rows of the same nanosecond (see the cursor's
    /// module); 0 for a row read back from memory, which has no pages.
    pub(super) row_hash: u64,
    pub(super) trace_id: String,
    pub(super) span_id: String,
    pub(super) level: String,
    pub(super) severity_number: u8,
    pub(super) message: String,
    pub(super) source: String,
    pub(super) service: String,
    pub(super) attributes: Vec<(String, String)>,
}

impl LogRow {
    /// Its place in the order of pages.
    pub(super) fn key(&self) -> (i64, u64) {
        (self.timestamp_ns, self.row_hash)
    }
}

/// An `events` row.
#[derive(Debug, Deserialize, clickhouse::Row)]
pub(super) struct EventRow {
    pub(super) timestamp_ns: i64,
    pub(super) event_type: String,
    pub(super) source: String,
    pub(super) service: String,
    pub(super) details: Vec<(String, String)>,
    pub(super) trace_id: String,
    pub(super) span_id: String,
}

/// A `spans` row.
#[derive(Debug, Deserialize, clickhouse::Row)]
pub(super) struct SpanRow {
    pub(super) timestamp_ns: i64,
    pub(super) trace_id: String,
    pub(super) span_id: String,
    pub(super) parent_span_id: String,
    pub(super) name: String,
    pub(super) service: String,
    pub(super) source: String,
    pub(super) duration_ns: u64,
    pub(super) status: String,
    pub(super) status_message: String,
    pub(super) attributes: Vec<(String, String)>,
    pub(super) kind: String,
    pub(super) trace_state: String,
}

/// A `metrics` row: one snapshot of one series.
#[derive(Debug, Deserialize, clickhouse::Row)]
pub(super) struct MetricRow {
    pub(super) timestamp_ns: i64,
    pub(super) name: String,
    pub(super) kind: String,
    pub(super) attributes: Vec<(String, String)>,
    pub(super) value: f64,
    pub(super) delta: f64,
    pub(super) count: u64,
    pub(super) sum: f64,
    pub(super) min: f64,
    pub(super) max: f64,
    pub(super) quantiles: Vec<f64>,
    pub(super) quantile_values: Vec<f64>,
    pub(super) service: String,
}

/// Every `logs` row waiting in memory, oldest first.
pub(super) fn logs(unsent: &UnsentBatches) -> Vec<LogRow> {
    rows(unsent, Table::Logs, read_log)
}

/// Every `events` row waiting in memory, oldest first.
pub(super) fn events(unsent: &UnsentBatches) -> Vec<EventRow> {
    rows(unsent, Table::Events, read_event)
}

/// Every `spans` row waiting in memory, oldest first.
pub(super) fn spans(unsent: &UnsentBatches) -> Vec<SpanRow> {
    rows(unsent, Table::Spans, read_span)
}

/// Every `metrics` row waiting in memory, oldest first.
pub(super) fn metrics(unsent: &UnsentBatches) -> Vec<MetricRow> {
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
fn read_log(reader: &mut RowReader<'_>, service: &str) -> Option<LogRow> {
    let timestamp_ns = reader.i64()?;
    let trace_id = reader.string()?;
    let span_id = reader.string()?;
    let _trace_flags = reader.u8()?;
    let level = reader.string()?;
    let severity_number = reader.u8()?;
    let message = reader.string()?;
    let source = reader.string()?;
    let attributes = reader.string_map()?;
    Some(LogRow {
        timestamp_ns,
        row_hash: 0,
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
fn read_event(reader: &mut RowReader<'_>, service: &str) -> Option<EventRow> {
    Some(EventRow {
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
fn read_span(reader: &mut RowReader<'_>, service: &str) -> Option<SpanRow> {
    let timestamp_ns = reader.i64()?;
    let trace_id = reader.string()?;
    let span_id = reader.string()?;
    let parent_span_id = reader.string()?;
    let name = reader.string()?;
    let kind = reader.string()?;
    Some(SpanRow {
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
fn read_metric(reader: &mut RowReader<'_>, service: &str) -> Option<MetricRow> {
    let timestamp_ns = reader.i64()?;
    let name = reader.string()?;
    let kind = reader.string()?;
    let _description = reader.string()?;
    let _unit = reader.string()?;
    let attributes = reader.string_map()?;
    let row = MetricRow {
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
        service: service.to_owned(),
    };
    let _bounds = reader.array(RowReader::f64)?;
    let _counts = reader.array(RowReader::u64)?;
    Some(row)
}
