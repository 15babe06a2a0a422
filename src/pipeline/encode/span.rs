//! `spans` rows.

use super::encoder::{Encoder, field_entries, put_hex};
use super::origin::Origin;
use crate::record::SpanRecord;
use crate::rowbinary::{put_i64, put_str, put_u64, put_uvarint};

impl Encoder {
    pub(super) fn span(&mut self, record: &SpanRecord, out: &mut Vec<u8>) {
        let metadata = record.metadata;
        // A field recorded again later replaces the earlier value.
        let is_last = |at: usize, name: &[u8]| {
            !field_entries(&record.payload)
                .skip(at + 1)
                .any(|(later, _)| later == name)
        };
        let origin = Origin {
            module: metadata.module_path().map(str::as_bytes),
            file: metadata.file().map(str::as_bytes),
            line: metadata.line().map(u64::from),
            thread_id: record.thread_id,
        };
        let fields = field_entries(&record.payload)
            .enumerate()
            .filter(|(at, (name, _))| is_last(*at, name))
            .count();
        let origin = self.origins.get(Some(metadata), origin);

        put_i64(out, self.anchor.unix_ns(record.start_ticks));
        put_hex(out, record.context.trace_id(), 32);
        put_hex(out, u128::from(record.context.span_id()), 16);
        if record.parent_span_id == 0 {
            put_str(out, "");
        } else {
            put_hex(out, u128::from(record.parent_span_id), 16);
        }
        put_str(out, metadata.name());
        put_str(out, "Internal");
        put_str(out, metadata.target());
        put_uvarint(out, (fields + self.origins.pairs(origin)) as u64);
        let mut status_message = None;
        for (at, (name, value)) in field_entries(&record.payload).enumerate() {
            if is_last(at, name) {
                self.put_pair(name, value, out);
                if record.error_field.map(str::as_bytes) == Some(name) {
                    status_message = Some(value);
                }
            }
        }
        out.extend_from_slice(self.origins.bytes(origin));
        put_u64(
            out,
            self.clock
                .nanos_between(record.start_ticks, record.end_ticks),
        );
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
}
