//! Records to RowBinary rows of `logs`, `spans` and `events`.
//!
//! Encoding happens on the flusher thread as records are drained, so a batch
//! is ready to send the moment it is sealed and its bytes can be kept as they
//! are for a retry. Numbers captured as numbers are rendered to text here.

use std::collections::HashMap;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use tracing::Metadata;

use crate::capture::payload::{Entry, Raw, entries};
use crate::clock::{Anchor, Clock};
use crate::record::{EventRecord, LogRecord, Record, SpanRecord, TraceContext};
use crate::rowbinary::{put_bytes, put_i64, put_str, put_u8, put_u64, put_uvarint};
use crate::threads;

/// Fields that `tracing-log` adds to a bridged `log` record: they say where
/// the record came from and replace the bridge's own callsite.
const LOG_TARGET: &[u8] = b"log.target";
const LOG_MODULE: &[u8] = b"log.module_path";
const LOG_FILE: &[u8] = b"log.file";
const LOG_LINE: &[u8] = b"log.line";

fn is_log_bridge_field(name: &[u8]) -> bool {
    matches!(name, LOG_TARGET | LOG_MODULE | LOG_FILE | LOG_LINE)
}

/// Where a row came from: code location and thread, written after the fields.
#[derive(Debug, Default)]
struct Origin<'a> {
    module: Option<&'a [u8]>,
    file: Option<&'a [u8]>,
    line: Option<u64>,
    thread_id: u32,
}

impl Origin<'_> {
    fn count(&self, thread_name: Option<&str>) -> usize {
        usize::from(self.module.is_some())
            + usize::from(self.file.is_some())
            + usize::from(self.line.is_some())
            + 1
            + usize::from(thread_name.is_some())
    }
}

/// Callsite-and-thread pairs whose origin stays encoded; past this many the
/// cache starts over (a program with that many hot callsites per thread pays
/// a little more per row, nothing else).
const MAX_CACHED_ORIGINS: usize = 4096;

/// The `code.*` and `thread.*` pairs of a row, encoded: the same for every
/// row from one callsite on one thread, so encoded once and copied.
#[derive(Debug)]
struct EncodedOrigin {
    pairs: usize,
    bytes: Box<[u8]>,
}

/// Which origin a row uses: one from the cache, or the one just encoded
/// into the scratch (rows bridged from `log`, which bring their own).
#[derive(Clone, Copy, Debug)]
enum OriginRef {
    Cached(usize),
    Fresh(usize),
}

/// Encodes rows of every table.
#[derive(Debug)]
pub(crate) struct Encoder {
    clock: Clock,
    /// Turns capture ticks into time; renewed before every drain.
    anchor: Anchor,
    thread_names: HashMap<u32, Option<Arc<str>>>,
    /// (callsite address, thread) → index into `origins`.
    origin_index: FxHashMap<(usize, u32), usize>,
    origins: Vec<EncodedOrigin>,
    /// An origin encoded for one row only.
    fresh_origin: Vec<u8>,
    /// Scratch space for rendering values, reused across rows.
    text: Vec<u8>,
}

impl Encoder {
    pub(crate) fn new(clock: Clock) -> Self {
        Encoder {
            anchor: clock.anchor(),
            clock,
            thread_names: HashMap::new(),
            origin_index: FxHashMap::default(),
            origins: Vec::new(),
            fresh_origin: Vec::new(),
            text: Vec::new(),
        }
    }

    /// Takes a fresh reading of the clock for the records drained next.
    pub(crate) fn set_anchor(&mut self) {
        self.anchor = self.clock.anchor();
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
        let mut message: &[u8] = b"";
        let mut scope = metadata.map(|m| m.target().as_bytes());
        let mut origin = Origin {
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
                    match (name, value) {
                        (LOG_TARGET, Raw::Text(text)) => scope = Some(text),
                        (LOG_MODULE, Raw::Text(text)) => origin.module = Some(text),
                        (LOG_FILE, Raw::Text(text)) => origin.file = Some(text),
                        (LOG_LINE, Raw::U64(line)) => origin.line = Some(line),
                        (LOG_LINE, Raw::I64(line)) => origin.line = u64::try_from(line).ok(),
                        _ => {}
                    }
                }
                Entry::Field(..) => fields += 1,
            }
        }
        let callsite = metadata.filter(|_| !bridged);
        let origin = self.origin(callsite, origin);

        put_i64(out, self.anchor.unix_ns(record.ticks));
        put_trace(out, record.trace);
        put_str(out, record.severity.as_str());
        put_u8(out, record.severity.number());
        put_bytes(out, message);
        put_bytes(out, scope.unwrap_or_default());
        put_uvarint(out, (fields + self.origin_pairs(origin)) as u64);
        for entry in entries(&record.payload) {
            if let Entry::Field(name, value) = entry
                && !is_log_bridge_field(name)
            {
                self.put_pair(name, value, out);
            }
        }
        out.extend_from_slice(self.origin_bytes(origin));
    }

    fn span(&mut self, record: &SpanRecord, out: &mut Vec<u8>) {
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
        let origin = self.origin(Some(metadata), origin);

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
        put_uvarint(out, (fields + self.origin_pairs(origin)) as u64);
        let mut status_message = None;
        for (at, (name, value)) in field_entries(&record.payload).enumerate() {
            if is_last(at, name) {
                self.put_pair(name, value, out);
                if record.error_field.map(str::as_bytes) == Some(name) {
                    status_message = Some(value);
                }
            }
        }
        out.extend_from_slice(self.origin_bytes(origin));
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

    fn event(&mut self, record: &EventRecord, out: &mut Vec<u8>) {
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

    #[inline]
    fn put_pair(&mut self, name: &[u8], value: Raw<'_>, out: &mut Vec<u8>) {
        put_bytes(out, name);
        self.put_value(value, out);
    }

    #[inline]
    fn put_value(&mut self, value: Raw<'_>, out: &mut Vec<u8>) {
        if let Raw::Text(text) = value {
            put_bytes(out, text);
        } else {
            self.text.clear();
            value.write_text(&mut self.text);
            put_bytes(out, &self.text);
        }
    }

    /// The row's origin, encoded: from the cache when it is the callsite's
    /// own (`callsite` given), else freshly for this row.
    fn origin(
        &mut self,
        callsite: Option<&'static Metadata<'static>>,
        origin: Origin<'_>,
    ) -> OriginRef {
        let Some(callsite) = callsite else {
            let mut bytes = std::mem::take(&mut self.fresh_origin);
            bytes.clear();
            let pairs = self.put_origin(&origin, &mut bytes);
            self.fresh_origin = bytes;
            return OriginRef::Fresh(pairs);
        };
        let key = (std::ptr::from_ref(callsite) as usize, origin.thread_id);
        if let Some(&index) = self.origin_index.get(&key) {
            return OriginRef::Cached(index);
        }
        if self.origins.len() >= MAX_CACHED_ORIGINS {
            self.origins.clear();
            self.origin_index.clear();
        }
        let mut bytes = Vec::new();
        let pairs = self.put_origin(&origin, &mut bytes);
        self.origins.push(EncodedOrigin {
            pairs,
            bytes: bytes.into_boxed_slice(),
        });
        self.origin_index.insert(key, self.origins.len() - 1);
        OriginRef::Cached(self.origins.len() - 1)
    }

    fn origin_pairs(&self, origin: OriginRef) -> usize {
        match origin {
            OriginRef::Cached(index) => self.origins[index].pairs,
            OriginRef::Fresh(pairs) => pairs,
        }
    }

    fn origin_bytes(&self, origin: OriginRef) -> &[u8] {
        match origin {
            OriginRef::Cached(index) => &self.origins[index].bytes,
            OriginRef::Fresh(_) => &self.fresh_origin,
        }
    }

    /// Writes the origin's pairs and returns how many.
    fn put_origin(&mut self, origin: &Origin<'_>, out: &mut Vec<u8>) -> usize {
        let thread_name = self.thread_name(origin.thread_id);
        if let Some(module) = origin.module {
            put_str(out, "code.namespace");
            put_bytes(out, module);
        }
        if let Some(file) = origin.file {
            put_str(out, "code.file.path");
            put_bytes(out, file);
        }
        if let Some(line) = origin.line {
            self.put_pair(b"code.line.number", Raw::U64(line), out);
        }
        self.put_pair(b"thread.id", Raw::U64(origin.thread_id.into()), out);
        if let Some(name) = &thread_name {
            put_str(out, "thread.name");
            put_str(out, name);
        }
        origin.count(thread_name.as_deref())
    }

    fn thread_name(&mut self, id: u32) -> Option<Arc<str>> {
        self.thread_names
            .entry(id)
            .or_insert_with(|| threads::name_of(id))
            .clone()
    }
}

/// The fields of a payload (not its message or scope).
#[inline]
fn field_entries(payload: &[u8]) -> impl Iterator<Item = (&[u8], Raw<'_>)> {
    entries(payload).filter_map(|entry| match entry {
        Entry::Field(name, value) => Some((name, value)),
        _ => None,
    })
}

/// `TraceId`, `SpanId` and `TraceFlags` (sampled inside a span) of a log row.
#[inline]
fn put_trace(out: &mut Vec<u8>, trace: Option<TraceContext>) {
    match trace {
        Some(trace) => {
            put_hex(out, trace.trace_id(), 32);
            put_hex(out, u128::from(trace.span_id()), 16);
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
#[inline]
fn put_hex(out: &mut Vec<u8>, value: u128, digits: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    put_uvarint(out, digits as u64);
    for i in (0..digits).rev() {
        out.push(HEX[((value >> (i * 4)) & 0xf) as usize]);
    }
}

/// A metric snapshot row, in the `input()` column order of [`Table::insert_sql`].
#[cfg(feature = "metrics")]
pub(crate) fn encode_metric(row: &crate::capture::recorder::MetricRow, out: &mut Vec<u8>) {
    use crate::capture::recorder::QUANTILES;
    use crate::rowbinary::put_f64;

    put_i64(out, row.timestamp_ns);
    put_str(out, &row.name);
    put_str(out, row.kind.as_str());
    put_str(out, &row.description);
    put_str(out, &row.unit);
    put_uvarint(out, row.attributes.len() as u64);
    for (key, value) in &row.attributes {
        put_str(out, key);
        put_str(out, value);
    }
    put_f64(out, row.value);
    put_f64(out, row.delta);
    match &row.histogram {
        Some(h) => {
            put_u64(out, h.count);
            put_f64(out, h.sum);
            put_f64(out, h.min);
            put_f64(out, h.max);
            put_uvarint(out, QUANTILES.len() as u64);
            for q in QUANTILES {
                put_f64(out, q);
            }
            put_uvarint(out, QUANTILES.len() as u64);
            for q in QUANTILES {
                put_f64(out, h.quantile(q));
            }
            put_uvarint(out, h.buckets.len() as u64);
            for &(bound, _) in &h.buckets {
                put_f64(out, bound);
            }
            put_uvarint(out, h.buckets.len() as u64);
            for &(_, count) in &h.buckets {
                put_u64(out, count);
            }
        }
        None => {
            put_u64(out, 0);
            for _ in 0..3 {
                put_f64(out, 0.0);
            }
            for _ in 0..4 {
                put_uvarint(out, 0); // empty arrays
            }
        }
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
