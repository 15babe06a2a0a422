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
use crate::capture::thread;
use crate::clock::{Anchor, Clock};
use crate::config::Config;
use crate::record::{EventRecord, LogRecord, Record, SpanRecord, TraceContext};
use crate::rowbinary::{put_bytes, put_i64, put_str, put_u8, put_u64, put_uvarint};

/// A table the pipeline writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Table {
    Logs,
    Spans,
    Events,
    /// Written by metric snapshots, not by queued records.
    Metrics,
}

impl Table {
    pub(crate) const ALL: [Table; 4] = [Table::Logs, Table::Spans, Table::Events, Table::Metrics];

    pub(crate) fn of(record: &Record) -> Table {
        match record {
            Record::Log(_) => Table::Logs,
            Record::Span(_) => Table::Spans,
            Record::Event(_) => Table::Events,
        }
    }

    /// The table with [`code`](Self::code) `code`, as stored in the spool.
    pub(crate) fn from_code(code: u8) -> Option<Table> {
        Table::ALL.get(usize::from(code)).copied()
    }

    /// A stable one-byte name, for the spool.
    pub(crate) fn code(self) -> u8 {
        self as u8
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Table::Logs => "logs",
            Table::Spans => "spans",
            Table::Events => "events",
            Table::Metrics => "metrics",
        }
    }

    /// The insert for a batch of this table. Rows carry the `input()`
    /// columns in this order; the values every row shares come once per
    /// batch as the parameters of [`BatchConstants`]; the other columns take
    /// their defaults.
    pub(crate) fn insert_sql(self) -> &'static str {
        match self {
            Table::Logs => {
                "INSERT INTO logs (Timestamp, TraceId, SpanId, TraceFlags, SeverityText, \
                 SeverityNumber, ServiceName, Body, ResourceAttributes, ScopeName, LogAttributes) \
                 SELECT Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, \
                 {service:String}, Body, \
                 mapFromArrays({resource_keys:Array(String)}, {resource_values:Array(String)}), \
                 ScopeName, LogAttributes \
                 FROM input('Timestamp DateTime64(9), TraceId String, SpanId String, \
                 TraceFlags UInt8, SeverityText String, SeverityNumber UInt8, Body String, \
                 ScopeName String, LogAttributes Map(String, String)') \
                 FORMAT RowBinary"
            }
            Table::Spans => {
                "INSERT INTO spans (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, \
                 ServiceName, ResourceAttributes, ScopeName, SpanAttributes, Duration, StatusCode, \
                 StatusMessage) \
                 SELECT Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, \
                 {service:String}, \
                 mapFromArrays({resource_keys:Array(String)}, {resource_values:Array(String)}), \
                 ScopeName, SpanAttributes, Duration, StatusCode, StatusMessage \
                 FROM input('Timestamp DateTime64(9), TraceId String, SpanId String, \
                 ParentSpanId String, SpanName String, SpanKind String, ScopeName String, \
                 SpanAttributes Map(String, String), Duration UInt64, StatusCode String, \
                 StatusMessage String') \
                 FORMAT RowBinary"
            }
            Table::Events => {
                "INSERT INTO events (Timestamp, EventType, Source, ServiceName, Details, TraceId, \
                 SpanId) \
                 SELECT Timestamp, EventType, Source, {service:String}, Details, TraceId, SpanId \
                 FROM input('Timestamp DateTime64(9), EventType String, Source String, \
                 Details Map(String, String), TraceId String, SpanId String') \
                 FORMAT RowBinary"
            }
            Table::Metrics => {
                "INSERT INTO metrics (TimeUnix, MetricName, MetricKind, MetricDescription, \
                 MetricUnit, ServiceName, ResourceAttributes, Attributes, Value, Delta, Count, \
                 Sum, Min, Max, Quantiles, QuantileValues, BucketBounds, BucketCounts) \
                 SELECT TimeUnix, MetricName, MetricKind, MetricDescription, MetricUnit, \
                 {service:String}, \
                 mapFromArrays({resource_keys:Array(String)}, {resource_values:Array(String)}), \
                 Attributes, Value, Delta, Count, Sum, Min, Max, Quantiles, QuantileValues, \
                 BucketBounds, BucketCounts \
                 FROM input('TimeUnix DateTime64(9), MetricName String, MetricKind String, \
                 MetricDescription String, MetricUnit String, Attributes Map(String, String), \
                 Value Float64, Delta Float64, Count UInt64, Sum Float64, Min Float64, \
                 Max Float64, Quantiles Array(Float64), QuantileValues Array(Float64), \
                 BucketBounds Array(Float64), BucketCounts Array(UInt64)') \
                 FORMAT RowBinary"
            }
        }
    }
}

/// The values every row of a process shares (`ServiceName`,
/// `ResourceAttributes`), as the query parameters of [`Table::insert_sql`].
/// They travel with each batch, so a batch sent later (a retry) still
/// carries the identity of the process that captured it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BatchConstants {
    /// `(param_name, value)` pairs, values in ClickHouse's parameter text format.
    /// Owned, because batches replayed from the spool bring their own.
    pub(crate) params: Vec<(String, String)>,
}

impl BatchConstants {
    pub(crate) fn new(config: &Config) -> Self {
        let resource = resource_attributes(config);
        BatchConstants {
            params: vec![
                (
                    "param_service".to_owned(),
                    escape_param(&config.service_name),
                ),
                (
                    "param_resource_keys".to_owned(),
                    array_param(resource.iter().map(|(k, _)| *k)),
                ),
                (
                    "param_resource_values".to_owned(),
                    array_param(resource.iter().map(|(_, v)| v.as_str())),
                ),
            ],
        }
    }
}

impl BatchConstants {
    /// The service name the rows of the batch get (for reading them back
    /// from memory).
    pub(crate) fn service(&self) -> String {
        self.params
            .iter()
            .find(|(name, _)| name == "param_service")
            .map(|(_, value)| unescape_param(value))
            .unwrap_or_default()
    }
}

/// The inverse of [`escape_param`].
fn unescape_param(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some(escaped) => out.push(escaped),
            None => {}
        }
    }
    out
}

/// A parameter value as ClickHouse reads it: `\`, `'`, `` ` ``, tab and
/// newline are escaped with a backslash.
fn escape_param(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' | '\'' | '`' => {
                out.push('\\');
                out.push(c);
            }
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out
}

/// An `Array(String)` parameter: `['a','b']`, each element quoted and escaped.
fn array_param<'a>(values: impl Iterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = values.map(|v| format!("'{}'", escape_param(v))).collect();
    format!("[{}]", quoted.join(","))
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
            .or_insert_with(|| thread::name_of(id))
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
    fn parameters_unescape_to_what_was_escaped() {
        for text in [
            "plain",
            "a\\b",
            "it's",
            "`x`",
            "tab\there",
            "two\nlines",
            "trailing\\",
        ] {
            assert_eq!(unescape_param(&escape_param(text)), text);
        }
    }

    #[test]
    fn parameters_are_escaped() {
        assert_eq!(escape_param("plain"), "plain");
        assert_eq!(escape_param("it's a\\b\tc\nd`"), "it\\'s a\\\\b\\tc\\nd\\`");
        let array = array_param(["a", "it's"].into_iter());
        assert_eq!(array, "['a','it\\'s']");
        assert_eq!(array_param(std::iter::empty()), "[]");
    }

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
