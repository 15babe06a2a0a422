//! Records to RowBinary rows, one encoder per table.
//!
//! Encoding happens on the flusher thread as records are drained, so a batch
//! is ready to send the moment it is sealed and the bytes can be kept as they
//! are for a retry.

use std::collections::HashMap;
use std::sync::Arc;

use crate::capture::thread;
use crate::config::Config;
use crate::record::{FieldValue, LogRecord};
use crate::rowbinary::{put_i64, put_str, put_string_map, put_u8, put_uvarint};

/// A table the pipeline writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Table {
    Logs,
}

impl Table {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Table::Logs => "logs",
        }
    }

    /// The columns a batch carries, in encoding order; the others take their defaults.
    pub(crate) fn columns(self) -> &'static str {
        match self {
            Table::Logs => {
                "Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, \
                 ServiceName, Body, ResourceAttributes, ScopeName, LogAttributes"
            }
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

/// Encodes `logs` rows.
#[derive(Debug)]
pub(crate) struct LogEncoder {
    service_name: String,
    /// `ResourceAttributes`, encoded once and copied into every row.
    resource: Vec<u8>,
    thread_names: HashMap<u64, Option<Arc<str>>>,
    /// Scratch space for rendering values, reused across rows.
    text: String,
}

impl LogEncoder {
    pub(crate) fn new(config: &Config) -> Self {
        let resource_pairs = resource_attributes(config);
        let mut resource = Vec::new();
        put_string_map(
            &mut resource,
            resource_pairs.iter().map(|(k, v)| (*k, v.as_str())),
        );
        LogEncoder {
            service_name: config.service_name.clone(),
            resource,
            thread_names: HashMap::new(),
            text: String::new(),
        }
    }

    pub(crate) fn encode(&mut self, record: &LogRecord, out: &mut Vec<u8>) {
        put_i64(out, record.timestamp_ns);
        put_str(out, ""); // TraceId
        put_str(out, ""); // SpanId
        put_u8(out, 0); // TraceFlags
        put_str(out, record.severity.as_str());
        put_u8(out, record.severity.number());
        put_str(out, &self.service_name);
        put_str(out, &record.message);
        out.extend_from_slice(&self.resource);
        put_str(out, &record.source);
        self.encode_attributes(record, out);
    }

    /// `LogAttributes`: the event's fields first, then where it came from.
    fn encode_attributes(&mut self, record: &LogRecord, out: &mut Vec<u8>) {
        let thread_name = self.thread_name(record.thread_id);
        let count = record.fields.len()
            + usize::from(record.module_path.is_some())
            + usize::from(record.file.is_some())
            + usize::from(record.line.is_some())
            + 1 // thread.id
            + usize::from(thread_name.is_some());
        put_uvarint(out, count as u64);
        for (name, value) in &record.fields {
            put_str(out, name);
            self.text.clear();
            value.write_text(&mut self.text);
            put_str(out, &self.text);
        }
        if let Some(module) = record.module_path {
            put_str(out, "code.namespace");
            put_str(out, module);
        }
        if let Some(file) = record.file {
            put_str(out, "code.file.path");
            put_str(out, file);
        }
        if let Some(line) = record.line {
            put_str(out, "code.line.number");
            self.put_number(u64::from(line), out);
        }
        put_str(out, "thread.id");
        self.put_number(record.thread_id, out);
        if let Some(name) = thread_name {
            put_str(out, "thread.name");
            put_str(out, &name);
        }
    }

    fn put_number(&mut self, n: u64, out: &mut Vec<u8>) {
        self.text.clear();
        FieldValue::U64(n).write_text(&mut self.text);
        put_str(out, &self.text);
    }

    fn thread_name(&mut self, id: u64) -> Option<Arc<str>> {
        self.thread_names
            .entry(id)
            .or_insert_with(|| thread::name_of(id))
            .clone()
    }
}
