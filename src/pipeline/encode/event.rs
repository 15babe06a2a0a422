//! `events` rows.

use super::encoder::{Encoder, field_entries, put_hex};
use crate::record::EventRecord;
use crate::rowbinary::{put_i64, put_str, put_uvarint};

impl Encoder {
    pub(super) fn event(&mut self, record: &EventRecord, out: &mut Vec<u8>) {
        put_i64(out, self.anchor.unix_ns(record.ticks));
        put_str(out, &record.event_type);
        put_str(out, &record.source);
        put_uvarint(out, field_entries(&record.payload).count() as u64);
        for (name, value) in field_entries(&record.payload) {
            self.put_pair(name, value, out);
        }
        match record.trace {
            Some(trace) => {
                put_hex(out, trace.trace_id(), 32);
                put_hex(out, u128::from(trace.span_id()), 16);
            }
            None => {
                put_str(out, "");
                put_str(out, "");
            }
        }
    }
}
