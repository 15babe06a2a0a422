//! The encoder: one per flusher, with what rows share (the clock's anchor,
//! the origin cache, a scratch buffer for rendering values).

use super::origin::OriginCache;
use crate::capture::payload::{Entry, Raw, entries};
use crate::clock::{Anchor, Clock};
use crate::record::{Record, TraceContext};
use crate::rowbinary::{put_bytes, put_str, put_u8, put_uvarint};

/// Encodes rows of every table.
#[derive(Debug)]
pub(crate) struct Encoder {
    pub(super) clock: Clock,
    /// Turns capture ticks into time; renewed before every drain.
    pub(super) anchor: Anchor,
    pub(super) origins: OriginCache,
    /// Scratch space for rendering values, reused across rows.
    text: Vec<u8>,
}

impl Encoder {
    pub(crate) fn new(clock: Clock) -> Self {
        Encoder {
            anchor: clock.anchor(),
            clock,
            origins: OriginCache::default(),
            text: Vec::new(),
        }
    }

    /// Takes a fresh reading of the clock for the records drained next.
    pub(crate) fn set_anchor(&mut self) {
        self.anchor.renew();
    }

    /// The Unix time, in nanoseconds, of a capture-clock reading.
    #[inline]
    pub(crate) fn unix_ns(&self, ticks: u64) -> i64 {
        self.anchor.unix_ns(ticks)
    }

    /// Appends the record's row to `out` (a batch of `Table::of(record)`).
    pub(crate) fn encode(&mut self, record: &Record, out: &mut Vec<u8>) {
        match record {
            Record::Log(log) => self.log(log, out),
            Record::Span(span) => self.span(span, out),
            Record::Event(event) => self.event(event, out),
        }
    }

    #[inline]
    pub(super) fn put_pair(&mut self, name: &[u8], value: Raw<'_>, out: &mut Vec<u8>) {
        put_bytes(out, name);
        self.put_value(value, out);
    }

    #[inline]
    pub(super) fn put_value(&mut self, value: Raw<'_>, out: &mut Vec<u8>) {
        if let Some(text) = value.text() {
            put_bytes(out, text);
        } else {
            self.text.clear();
            value.write_text(&mut self.text);
            put_bytes(out, &self.text);
        }
    }
}

/// The fields of a payload (not its message or scope).
#[inline]
pub(super) fn field_entries(payload: &[u8]) -> impl Iterator<Item = (&[u8], Raw<'_>)> {
    entries(payload).filter_map(|entry| match entry {
        Entry::Field(name, value) => Some((name, value)),
        _ => None,
    })
}

/// `TraceId`, `SpanId` and `TraceFlags` (1 in a sampled trace) of a log row.
#[inline]
pub(super) fn put_trace(out: &mut Vec<u8>, trace: Option<TraceContext>, flags: u8) {
    match trace {
        Some(trace) => {
            put_hex(out, trace.trace_id(), 32);
            put_hex(out, u128::from(trace.span_id()), 16);
            put_u8(out, flags);
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
#[inline]
pub(super) fn put_hex(out: &mut Vec<u8>, value: u128, digits: usize) {
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
