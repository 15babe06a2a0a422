//! `logs` rows.

use super::encoder::{Encoder, put_trace};
use super::origin::CodeAndThread;
use crate::capture::payload::{Entry, Raw, entries};
use crate::record::LogRecord;
use crate::rowbinary::{put_bytes, put_i64, put_str, put_u8, put_uvarint};

/// Fields that `tracing-log` adds to a bridged `log` record: they say where
/// the record came from and replace the bridge's own callsite.
const LOG_TARGET: &[u8] = b"log.target";
const LOG_MODULE: &[u8] = b"log.module_path";
const LOG_FILE: &[u8] = b"log.file";
const LOG_LINE: &[u8] = b"log.line";

fn is_log_bridge_field(name: &[u8]) -> bool {
    matches!(name, LOG_TARGET | LOG_MODULE | LOG_FILE | LOG_LINE)
}

impl Encoder {
    pub(super) fn log(&mut self, record: &LogRecord, out: &mut Vec<u8>) {
        let metadata = record.metadata;
        let mut message: &[u8] = b"";
        let mut scope = metadata.map(|m| m.target().as_bytes());
        let mut origin = CodeAndThread {
            module: metadata.and_then(|m| m.module_path()).map(str::as_bytes),
            file: metadata.and_then(|m| m.file()).map(str::as_bytes),
            line: metadata.and_then(|m| m.line()).map(u64::from),
            thread_id: record.thread_id,
        };
        let mut fields = 0;
        let mut bridged = false;
        for entry in entries(&record.payload) {
            match entry {
                Entry::Message(text) => message = text,
                Entry::Scope(text) => scope = Some(text),
                Entry::Field(name, value) if is_log_bridge_field(name) => {
                    bridged = true;
                    match (name, value.text(), value) {
                        (LOG_TARGET, Some(text), _) => scope = Some(text),
                        (LOG_MODULE, Some(text), _) => origin.module = Some(text),
                        (LOG_FILE, Some(text), _) => origin.file = Some(text),
                        (LOG_LINE, _, Raw::U64(line)) => origin.line = Some(line),
                        (LOG_LINE, _, Raw::I64(line)) => origin.line = u64::try_from(line).ok(),
                        _ => {}
                    }
                }
                Entry::Field(..) => fields += 1,
                // The console's; rows have their trace ids.
                Entry::Span(..) => {}
            }
        }
        let callsite = metadata.filter(|_| !bridged);
        let origin = self.origins.get(callsite, origin);

        put_i64(out, self.anchor.unix_ns(record.ticks));
        put_trace(out, record.trace, record.trace_flags);
        put_str(out, record.severity.as_str());
        put_u8(out, record.severity.number());
        put_bytes(out, message);
        put_bytes(out, scope.unwrap_or_default());
        put_uvarint(out, (fields + self.origins.pairs(origin)) as u64);
        for entry in entries(&record.payload) {
            if let Entry::Field(name, value) = entry
                && !is_log_bridge_field(name)
            {
                self.put_pair(name, value, out);
            }
        }
        out.extend_from_slice(self.origins.bytes(origin));
    }
}
