//! Records to RowBinary rows of `logs`, `spans` and `events`.
//!
//! Encoding happens on the flusher thread as records are drained, so a batch
//! is ready to send the moment it is sealed and its bytes can be kept as they
//! are for a retry. Numbers captured as numbers are rendered to text here.

use std::collections::HashMap;
use std::sync::Arc;

use crate::capture::payload::{Entry, Value, entries};
use crate::capture::thread;
use crate::config::Config;
use crate::record::{EventRecord, LogRecord, Record, SpanRecord, TraceContext};
use crate::rowbinary::{put_i64, put_str, put_string_map, put_u8, put_u64, put_uvarint};

/// A table the pipeline writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Table {
    Logs,
    Spans,
    Events,
}

impl Table {
    pub(crate) const ALL: [Table; 3] = [Table::Logs, Table::Spans, Table::Events];

    pub(crate) fn of(record: &Record) -> Table {
        match record {
            Record::Log(_) => Table::Logs,
            Record::Span(_) => Table::Spans,
            Record::Event(_) => Table::Events,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Table::Logs => "logs",
            Table::Spans => "spans",
            Table::Events => "events",
        }
    }

    /// The columns a batch carries, in encoding order; the others take their defaults.
    pub(crate) fn columns(self) -> &'static str {
        match self {
            Table::Logs => {
                "Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, \
                 ServiceName, Body, ResourceAttributes, ScopeName, LogAttributes"
            }
            Table::Spans => {
                "Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, \
                 ResourceAttributes, ScopeName, SpanAttributes, Duration, StatusCode, StatusMessage"
            }
            Table::Events => "Timestamp, EventType, Source, ServiceName, Details, TraceId, SpanId",
        }
    }
}

/// Resource attributes (OpenTelemetry semantic conventions), set once per process.
pub(crate) fn resource_attributes(config: &Config) -> Vec<(&'static str, String)> {
    let mut attributes = vec![("service.name", config.service_name.clone())];
    if let Some(version) = &config.service_version {
        attributes.push(("service.version", version.clone()));
    }
    attributes.extend([
        (
            "host.name",
            gethostname::gethostname().to_string_lossy().into_owned(),
        ),
        ("process.pid", std::process::id().to_string()),
        ("telemetry.sdk.name", env!("CARGO_PKG_NAME").to_owned()),
        (
            "telemetry.sdk.version",
            env!("CARGO_PKG_VERSION").to_owned(),
        ),
        ("telemetry.sdk.language", "rust".to_owned()),
    ]);
    attributes
}

/// Fields that `tracing-log` adds to a bridged `log` record: they say where
/// the record came from and replace the bridge's own callsite.
const LOG_TARGET: &str = "log.target";
const LOG_MODULE: &str = "log.module_path";
const LOG_FILE: &str = "log.file";
const LOG_LINE: &str = "log.line";

fn is_log_bridge_field(name: &str) -> bool {
    matches!(name, LOG_TARGET | LOG_MODULE | LOG_FILE | LOG_LINE)
}

/// Where a row came from: code location and thread, written after the fields.
#[derive(Debug, Default)]
struct Origin<'a> {
    module: Option<&'a str>,
    file: Option<&'a str>,
    line: Option<u64>,
    thread_id: u64,
    thread_name: Option<Arc<str>>,
}

impl Origin<'_> {
    fn count(&self) -> usize {
        usize::from(self.module.is_some())
            + usize::from(self.file.is_some())
            + usize::from(self.line.is_some())
            + 1
            + usize::from(self.thread_name.is_some())
    }
}

/// Encodes rows of every table.
#[derive(Debug)]
pub(crate) struct Encoder {
    service_name: String,
    /// `ResourceAttributes`, encoded once and copied into every row.
    resource: Vec<u8>,
    thread_names: HashMap<u64, Option<Arc<str>>>,
    /// Scratch space for rendering values, reused across rows.
    text: String,
}

impl Encoder {
    pub(crate) fn new(config: &Config) -> Self {
        let resource_pairs = resource_attributes(config);
        let mut resource = Vec::new();
        put_string_map(
            &mut resource,
            resource_pairs.iter().map(|(k, v)| (*k, v.as_str())),
        );
        Encoder {
            service_name: config.service_name.clone(),
            resource,
            thread_names: HashMap::new(),
            text: String::new(),
        }
    }

    /// Appends the record's row to `out` (a batch of `Table::of(record)`).
    pub(crate) fn encode(&mut self, record: &Record, out: &mut Vec<u8>) {
        match record {
            Record::Log(log) => self.log(log, out),
            Record::Span(span) => self.span(span, out),
            Record::Event(event) => self.event(event, out),
        }
    }

    fn log(&mut self, record: &LogRecord, out: &mut Vec<u8>) {
        let metadata = record.metadata;
        let mut message = "";
        let mut scope = metadata.map(|m| m.target());
        let mut origin = Origin {
            module: metadata.and_then(|m| m.module_path()),
            file: metadata.and_then(|m| m.file()),
            line: metadata.and_then(|m| m.line()).map(u64::from),
            thread_id: record.thread_id,
            thread_name: self.thread_name(record.thread_id),
        };
        let mut fields = 0;
        for entry in entries(&record.payload) {
            match entry {
                Entry::Message(text) => message = text,
                Entry::Scope(text) => scope = Some(text),
                Entry::Field(LOG_TARGET, Value::Str(text)) => scope = Some(text),
                Entry::Field(LOG_MODULE, Value::Str(text)) => origin.module = Some(text),
                Entry::Field(LOG_FILE, Value::Str(text)) => origin.file = Some(text),
                Entry::Field(LOG_LINE, Value::U64(line)) => origin.line = Some(line),
                Entry::Field(LOG_LINE, Value::I64(line)) => origin.line = u64::try_from(line).ok(),
                Entry::Field(..) => fields += 1,
            }
        }

        put_i64(out, record.timestamp_ns);
        put_trace(out, record.trace);
        put_str(out, record.severity.as_str());
        put_u8(out, record.severity.number());
        put_str(out, &self.service_name);
        put_str(out, message);
        out.extend_from_slice(&self.resource);
        put_str(out, scope.unwrap_or_default());
        put_uvarint(out, (fields + origin.count()) as u64);
        for entry in entries(&record.payload) {
            if let Entry::Field(name, value) = entry {
                if !is_log_bridge_field(name) {
                    self.put_pair(name, value, out);
                }
            }
        }
        self.put_origin(&origin, out);
    }

    fn span(&mut self, record: &SpanRecord, out: &mut Vec<u8>) {
        let metadata = record.metadata;
        // A field recorded again later replaces the earlier value.
        let is_last = |at: usize, name: &str| {
            !field_entries(&record.payload)
                .skip(at + 1)
                .any(|(later, _)| later == name)
        };
        let origin = Origin {
            module: metadata.module_path(),
            file: metadata.file(),
            line: metadata.line().map(u64::from),
            thread_id: record.thread_id,
            thread_name: self.thread_name(record.thread_id),
        };
        let fields = field_entries(&record.payload)
            .enumerate()
            .filter(|(at, (name, _))| is_last(*at, name))
            .count();

        put_i64(out, record.start_ns);
        put_hex(out, record.trace_id, 32);
        put_hex(out, u128::from(record.span_id), 16);
        if record.parent_span_id == 0 {
            put_str(out, "");
        } else {
            put_hex(out, u128::from(record.parent_span_id), 16);
        }
        put_str(out, metadata.name());
        put_str(out, "Internal");
        put_str(out, &self.service_name);
        out.extend_from_slice(&self.resource);
        put_str(out, metadata.target());
        put_uvarint(out, (fields + origin.count()) as u64);
        let mut status_message = None;
        for (at, (name, value)) in field_entries(&record.payload).enumerate() {
            if is_last(at, name) {
                self.put_pair(name, value, out);
                if record.error_field == Some(name) {
                    status_message = Some(value);
                }
            }
        }
        self.put_origin(&origin, out);
        put_u64(out, record.duration_ns);
        match (record.error_field, status_message) {
            (Some(_), Some(value)) => {
                put_str(out, "Error");
                self.put_value(value, out);
            }
            (Some(_), None) => {
                put_str(out, "Error");
                put_str(out, "");
            }
            (None, _) => {
                put_str(out, "Unset");
                put_str(out, "");
            }
        }
    }

    fn event(&mut self, record: &EventRecord, out: &mut Vec<u8>) {
        put_i64(out, record.timestamp_ns);
        put_str(out, &record.event_type);
        put_str(out, &record.source);
        put_str(out, &self.service_name);
        put_uvarint(out, field_entries(&record.payload).count() as u64);
        for (name, value) in field_entries(&record.payload) {
            self.put_pair(name, value, out);
        }
        match record.trace {
            Some(trace) => {
                put_hex(out, trace.trace_id, 32);
                put_hex(out, u128::from(trace.span_id), 16);
            }
            None => {
                put_str(out, "");
                put_str(out, "");
            }
        }
    }

    fn put_pair(&mut self, name: &str, value: Value<'_>, out: &mut Vec<u8>) {
        put_str(out, name);
        self.put_value(value, out);
    }

    fn put_value(&mut self, value: Value<'_>, out: &mut Vec<u8>) {
        if let Value::Str(text) = value {
            put_str(out, text);
        } else {
            self.text.clear();
            value.write_text(&mut self.text);
            put_str(out, &self.text);
        }
    }

    fn put_origin(&mut self, origin: &Origin<'_>, out: &mut Vec<u8>) {
        if let Some(module) = origin.module {
            put_str(out, "code.namespace");
            put_str(out, module);
        }
        if let Some(file) = origin.file {
            put_str(out, "code.file.path");
            put_str(out, file);
        }
        if let Some(line) = origin.line {
            self.put_pair("code.line.number", Value::U64(line), out);
        }
        self.put_pair("thread.id", Value::U64(origin.thread_id), out);
        if let Some(name) = &origin.thread_name {
            put_str(out, "thread.name");
            put_str(out, name);
        }
    }

    fn thread_name(&mut self, id: u64) -> Option<Arc<str>> {
        self.thread_names
            .entry(id)
            .or_insert_with(|| thread::name_of(id))
            .clone()
    }
}

/// The fields of a payload (not its message or scope).
fn field_entries(payload: &[u8]) -> impl Iterator<Item = (&str, Value<'_>)> {
    entries(payload).filter_map(|entry| match entry {
        Entry::Field(name, value) => Some((name, value)),
        _ => None,
    })
}

/// `TraceId`, `SpanId` and `TraceFlags` (sampled inside a span) of a log row.
fn put_trace(out: &mut Vec<u8>, trace: Option<TraceContext>) {
    match trace {
        Some(trace) => {
            put_hex(out, trace.trace_id, 32);
            put_hex(out, u128::from(trace.span_id), 16);
            put_u8(out, 1);
        }
        None => {
            put_str(out, "");
            put_str(out, "");
            put_u8(out, 0);
        }
    }
}

/// `value` as a string of `digits` lowercase hex digits (W3C trace ids are 32,
/// span ids 16).
fn put_hex(out: &mut Vec<u8>, value: u128, digits: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    put_uvarint(out, digits as u64);
    for i in (0..digits).rev() {
        out.push(HEX[((value >> (i * 4)) & 0xf) as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids_are_fixed_width() {
        let mut out = Vec::new();
        put_hex(&mut out, 0xab, 16);
        assert_eq!(out[0], 16);
        assert_eq!(&out[1..], b"00000000000000ab");
        out.clear();
        put_hex(&mut out, u128::MAX, 32);
        assert_eq!(&out[1..], "f".repeat(32).as_bytes());
    }
}
