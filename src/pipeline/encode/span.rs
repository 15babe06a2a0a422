//! `spans` rows.
//!
//! Fields named as `tracing-opentelemetry` names them set the row's
//! columns instead of becoming attributes: `otel.name` (`SpanName`, for a
//! name known only at run time, such as `GET /items/{id}`), `otel.kind`
//! (`SpanKind`: `server`, `client`, `producer`, `consumer`, `internal`),
//! `otel.status_code` (`ok` or `error`) and `otel.status_message`.

use super::encoder::{Encoder, field_entries, put_hex};
use super::origin::CodeAndThread;
use crate::capture::payload::Raw;
use crate::record::SpanRecord;
use crate::rowbinary::{RowReader, put_bytes, put_i64, put_str, put_u64, put_uvarint};

const NAME: &[u8] = b"otel.name";
const KIND: &[u8] = b"otel.kind";
const STATUS_CODE: &[u8] = b"otel.status_code";
const STATUS_MESSAGE: &[u8] = b"otel.status_message";

fn is_column_field(name: &[u8]) -> bool {
    matches!(name, NAME | KIND | STATUS_CODE | STATUS_MESSAGE)
}

/// The stored `SpanKind` (as the OpenTelemetry collector's exporter writes it).
fn kind(text: &[u8]) -> &'static str {
    const KINDS: [&str; 5] = ["Server", "Client", "Producer", "Consumer", "Internal"];
    KINDS
        .into_iter()
        .find(|kind| kind.as_bytes().eq_ignore_ascii_case(text))
        .unwrap_or("Internal")
}

/// The `otel.*` fields of a span, their last values.
#[derive(Default)]
struct Columns<'a> {
    name: Option<&'a [u8]>,
    kind: Option<&'a [u8]>,
    status_code: Option<&'a [u8]>,
    status_message: Option<Raw<'a>>,
}

impl Encoder {
    pub(super) fn span(&mut self, record: &SpanRecord, out: &mut Vec<u8>) {
        let metadata = record.metadata;
        // A field recorded again later replaces the earlier value.
        let is_last = |at: usize, name: &[u8]| {
            !field_entries(&record.payload)
                .skip(at + 1)
                .any(|(later, _)| later == name)
        };
        let origin = CodeAndThread {
            module: metadata.module_path().map(str::as_bytes),
            file: metadata.file().map(str::as_bytes),
            line: metadata.line().map(u64::from),
            thread_id: record.thread_id,
        };
        let mut columns = Columns::default();
        let mut fields = 0;
        for (at, (name, value)) in field_entries(&record.payload).enumerate() {
            match name {
                NAME => columns.name = value.text(),
                KIND => columns.kind = value.text(),
                STATUS_CODE => columns.status_code = value.text(),
                STATUS_MESSAGE => columns.status_message = Some(value),
                _ if is_last(at, name) => fields += 1,
                _ => {}
            }
        }
        let origin = self.origins.get(Some(metadata), origin);

        put_i64(out, self.anchor.unix_ns(record.start_ticks));
        put_hex(out, record.context.trace_id(), 32);
        put_hex(out, u128::from(record.context.span_id()), 16);
        if record.parent_span_id == 0 {
            put_str(out, "");
        } else {
            put_hex(out, u128::from(record.parent_span_id), 16);
        }
        match columns.name.filter(|name| !name.is_empty()) {
            Some(name) => put_bytes(out, name),
            None => put_str(out, metadata.name()),
        }
        put_str(out, columns.kind.map_or("Internal", kind));
        put_str(out, metadata.target());
        put_uvarint(out, (fields + self.origins.pairs(origin)) as u64);
        let mut error_value = None;
        for (at, (name, value)) in field_entries(&record.payload).enumerate() {
            if !is_column_field(name) && is_last(at, name) {
                self.put_pair(name, value, out);
                if record.error_field.map(str::as_bytes) == Some(name) {
                    error_value = Some(value);
                }
            }
        }
        out.extend_from_slice(self.origins.bytes(origin));
        put_u64(
            out,
            self.clock
                .nanos_between(record.start_ticks, record.end_ticks),
        );
        // An explicit `otel.status_code` wins over an error field.
        let code = match columns.status_code {
            Some(code) if code.eq_ignore_ascii_case(b"error") => "Error",
            Some(code) if code.eq_ignore_ascii_case(b"ok") => "Ok",
            _ if record.error_field.is_some() => "Error",
            _ => "Unset",
        };
        put_str(out, code);
        match (code, columns.status_message.or(error_value)) {
            ("Error", Some(message)) => self.put_value(message, out),
            _ => put_str(out, ""),
        }
        put_str(out, record.trace_state.as_str());
    }
}

/// `spans` rows as this crate wrote them before rows had a `TraceState`
/// (spool records of payload version 1), with an empty one added to each;
/// `None` if they do not read as such rows.
pub(crate) fn add_trace_state(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 64);
    let mut reader = RowReader::new(body);
    while !reader.is_empty() {
        let start = body.len() - reader.remaining();
        reader.i64()?;
        for _ in 0..6 {
            reader.string()?; // ids, name, kind, scope
        }
        reader.string_map()?;
        reader.u64()?;
        reader.string()?;
        reader.string()?;
        out.extend_from_slice(&body[start..body.len() - reader.remaining()]);
        put_str(&mut out, "");
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_the_spool_before_trace_state_get_an_empty_one() {
        let mut row = Vec::new();
        put_i64(&mut row, 7);
        for text in ["t", "s", "", "name", "Internal", "scope"] {
            put_str(&mut row, text);
        }
        put_uvarint(&mut row, 1);
        put_str(&mut row, "k");
        put_str(&mut row, "v");
        put_u64(&mut row, 9);
        put_str(&mut row, "Unset");
        put_str(&mut row, "");
        let two = [row.clone(), row.clone()].concat();
        let upgraded = add_trace_state(&two).unwrap();
        assert_eq!(
            upgraded,
            [row.clone(), vec![0], row.clone(), vec![0]].concat()
        );
        assert_eq!(add_trace_state(&two[..two.len() - 1]), None);
    }

    #[test]
    fn kinds_are_stored_as_the_exporter_stores_them() {
        assert_eq!(kind(b"server"), "Server");
        assert_eq!(kind(b"CLIENT"), "Client");
        assert_eq!(kind(b"consumer"), "Consumer");
        assert_eq!(kind(b"sideways"), "Internal");
    }
}
