//! An event's message and fields, packed into one allocation.
//!
//! Capture writes entries into a reusable per-thread scratch buffer and then
//! copies the result into one exact-size `Box<[u8]>`: an event costs one
//! allocation however many fields it has, and numbers stay binary until the
//! flusher renders them.
//!
//! An entry is `kind: u8`, `name_len: u8`, the name, then the value:
//! 8 bytes (i64, u64, f64), 16 bytes (i128, u128), 1 byte (bool) or
//! `len: u32` and UTF-8 bytes (strings, the message, the scope). Everything
//! is little-endian. The reader hands text back as bytes (RowBinary strings
//! are bytes, so nothing needs re-validating) and stops at the first
//! malformed entry instead of panicking.
//!
//! Limits are applied while writing: a string longer than its limit is cut
//! at a character boundary and ends with [`TRUNCATION_MARKER`]; fields past
//! the field limit are dropped and counted in one final
//! `capture.dropped_fields` entry.

use std::fmt::{self, Write};

use crate::config::CaptureLimits;

/// Appended to every string that was cut at its limit.
pub(crate) const TRUNCATION_MARKER: &str = "…[truncated]";
/// Longest field name kept, in bytes (longer names are cut).
const MAX_NAME_BYTES: usize = u8::MAX as usize;

const KIND_MESSAGE: u8 = 1;
const KIND_SCOPE: u8 = 2;
const KIND_STR: u8 = 3;
const KIND_I64: u8 = 4;
const KIND_U64: u8 = 5;
const KIND_I128: u8 = 6;
const KIND_U128: u8 = 7;
const KIND_F64: u8 = 8;
const KIND_BOOL: u8 = 9;

/// A value of a `collect_log` context or a `record_event` detail (and of a
/// captured field). Numbers stay numbers until the flusher writes them.
///
/// ```
/// use tracing_clickhouse::Value;
/// let context = [("cpu_percent", Value::from(95)), ("host", Value::from("web-1"))];
/// assert_eq!(context[0].1, Value::I64(95));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// Text.
    Str(&'a str),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A wide signed integer.
    I128(i128),
    /// A wide unsigned integer.
    U128(u128),
    /// A floating-point number.
    F64(f64),
    /// A boolean.
    Bool(bool),
}

macro_rules! value_from {
    ($($from:ty => $variant:ident as $to:ty),* $(,)?) => {
        $(impl From<$from> for Value<'_> {
            fn from(v: $from) -> Self {
                Value::$variant(<$to>::from(v))
            }
        })*
    };
}

value_from!(
    i8 => I64 as i64, i16 => I64 as i64, i32 => I64 as i64, i64 => I64 as i64,
    u8 => U64 as u64, u16 => U64 as u64, u32 => U64 as u64, u64 => U64 as u64,
    i128 => I128 as i128, u128 => U128 as u128,
    f32 => F64 as f64, f64 => F64 as f64, bool => Bool as bool,
);

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Str(v)
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Str(v)
    }
}

/// `fmt::Write` into a byte vector.
struct VecWriter<'a>(&'a mut Vec<u8>);

impl Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// A field value as read back from a payload: text stays bytes (it was
/// UTF-8 when written, and RowBinary strings are bytes), so reading needs no
/// validation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Raw<'a> {
    Text(&'a [u8]),
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(f64),
    Bool(bool),
}

impl Raw<'_> {
    /// Appends the value as the text stored in a `Map(String, String)`.
    /// Floats are written as `Display` writes them: the shortest text that
    /// reads back as the same number, without exponent (`12.5`, `95`).
    #[inline]
    pub(crate) fn write_text(&self, out: &mut Vec<u8>) {
        let mut ints = itoa::Buffer::new();
        match *self {
            Raw::Text(v) => out.extend_from_slice(v),
            Raw::I64(v) => out.extend_from_slice(ints.format(v).as_bytes()),
            Raw::U64(v) => out.extend_from_slice(ints.format(v).as_bytes()),
            Raw::I128(v) => out.extend_from_slice(ints.format(v).as_bytes()),
            Raw::U128(v) => out.extend_from_slice(ints.format(v).as_bytes()),
            Raw::F64(v) => write_f64(v, out),
            Raw::Bool(v) => out.extend_from_slice(if v { b"true" } else { b"false" }),
        }
    }
}

/// Appends `value` as the shortest text that reads back as the same number,
/// without exponent, as `Display` writes it (`12.5`, `95`, `0.00001`): through
/// `zmij`, four times faster, except where it would write an exponent. (Of
/// two shortest texts that both read back right, `zmij` sometimes picks the
/// other last digit: `938390421418346.2` where `Display` says `.3`.)
#[inline]
fn write_f64(value: f64, out: &mut Vec<u8>) {
    if value.is_finite() {
        let mut buffer = zmij::Buffer::new();
        let text = buffer.format_finite(value);
        if !text.contains('e') {
            let text = text.strip_suffix(".0").unwrap_or(text);
            out.extend_from_slice(text.as_bytes());
            return;
        }
    }
    // Writing to a Vec cannot fail.
    let _ = write!(VecWriter(out), "{value}");
}

impl<'a> From<Value<'a>> for Raw<'a> {
    fn from(value: Value<'a>) -> Self {
        match value {
            Value::Str(v) => Raw::Text(v.as_bytes()),
            Value::I64(v) => Raw::I64(v),
            Value::U64(v) => Raw::U64(v),
            Value::I128(v) => Raw::I128(v),
            Value::U128(v) => Raw::U128(v),
            Value::F64(v) => Raw::F64(v),
            Value::Bool(v) => Raw::Bool(v),
        }
    }
}

/// One entry of a payload.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Entry<'a> {
    Message(&'a [u8]),
    /// The source of a `collect_log` row.
    Scope(&'a [u8]),
    Field(&'a [u8], Raw<'a>),
}

/// What writing a payload had to cut, for the pipeline's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cuts {
    pub(crate) truncated: u64,
    pub(crate) dropped_fields: u64,
    /// Fields in the payload so far (to resume writing it later).
    pub(crate) fields: usize,
}

/// Writes entries into a buffer, within [`CaptureLimits`].
#[derive(Debug)]
pub(crate) struct PayloadWriter<'a> {
    buf: &'a mut Vec<u8>,
    limits: CaptureLimits,
    fields: usize,
    /// End of the last complete entry: what survives a panic mid-entry.
    complete: usize,
    cuts: Cuts,
}

impl<'a> PayloadWriter<'a> {
    #[cfg(test)]
    pub(crate) fn new(buf: &'a mut Vec<u8>, limits: CaptureLimits) -> Self {
        Self::resume(buf, limits, 0)
    }

    /// Appends to a payload that already holds `fields` fields.
    #[inline]
    pub(crate) fn resume(buf: &'a mut Vec<u8>, limits: CaptureLimits, fields: usize) -> Self {
        let complete = buf.len();
        PayloadWriter {
            buf,
            limits,
            fields,
            complete,
            cuts: Cuts::default(),
        }
    }

    /// Fields written, counting those before a resume.
    pub(crate) fn fields(&self) -> usize {
        self.fields
    }

    #[inline]
    pub(crate) fn message_fmt(&mut self, message: &dyn fmt::Debug) {
        let limit = self.limits.max_message_bytes;
        self.text_entry(KIND_MESSAGE, b"", limit, |w| write!(w, "{message:?}"));
    }

    #[inline]
    pub(crate) fn message_str(&mut self, message: &str) {
        let limit = self.limits.max_message_bytes;
        self.str_entry(KIND_MESSAGE, b"", message, limit);
    }

    pub(crate) fn scope(&mut self, scope: &str) {
        let limit = self.limits.max_value_bytes;
        self.str_entry(KIND_SCOPE, b"", scope, limit);
    }

    #[inline]
    pub(crate) fn str_field(&mut self, name: &str, value: &str) {
        if self.admit_field() {
            let limit = self.limits.max_value_bytes;
            self.str_entry(KIND_STR, name.as_bytes(), value, limit);
        }
    }

    /// A field whose text comes from formatting (`Debug`, `Display`, errors).
    #[inline]
    pub(crate) fn fmt_field(
        &mut self,
        name: &str,
        write: impl FnOnce(&mut dyn Write) -> fmt::Result,
    ) {
        if self.admit_field() {
            let limit = self.limits.max_value_bytes;
            self.text_entry(KIND_STR, name.as_bytes(), limit, write);
        }
    }

    #[inline]
    pub(crate) fn value_field(&mut self, name: &str, value: Value<'_>) {
        self.raw_field(name.as_bytes(), value.into());
    }

    #[inline]
    fn raw_field(&mut self, name: &[u8], value: Raw<'_>) {
        if !self.admit_field() {
            return;
        }
        match value {
            Raw::Text(text) => {
                // Text read back from a payload is valid UTF-8 already cut
                // to a limit; cut it again at a boundary if this limit is lower.
                let text = std::str::from_utf8(text).unwrap_or("");
                self.str_entry(KIND_STR, name, text, self.limits.max_value_bytes);
            }
            Raw::I64(v) => self.fixed(KIND_I64, name, &v.to_le_bytes()),
            Raw::U64(v) => self.fixed(KIND_U64, name, &v.to_le_bytes()),
            Raw::F64(v) => self.fixed(KIND_F64, name, &v.to_le_bytes()),
            Raw::I128(v) => self.fixed(KIND_I128, name, &v.to_le_bytes()),
            Raw::U128(v) => self.fixed(KIND_U128, name, &v.to_le_bytes()),
            Raw::Bool(v) => self.fixed(KIND_BOOL, name, &[u8::from(v)]),
        }
    }

    #[inline]
    fn fixed(&mut self, kind: u8, name: &[u8], bytes: &[u8]) {
        self.header(kind, name);
        self.buf.extend_from_slice(bytes);
        self.complete = self.buf.len();
    }

    /// Copies complete entries written elsewhere (a span's fields), within
    /// this writer's field limit.
    pub(crate) fn copy_fields(&mut self, payload: &[u8]) {
        for entry in entries(payload) {
            if let Entry::Field(name, value) = entry {
                self.raw_field(name, value);
            }
        }
    }

    /// Drops whatever a panic left half-written and notes the panic.
    pub(crate) fn recover_from_panic(&mut self) {
        self.buf.truncate(self.complete);
        self.cuts.truncated += 1;
        // The marker is written even past the field limit: it must be seen.
        self.header(KIND_STR, b"capture.error");
        let note = "a Debug or Display implementation panicked while this was recorded";
        self.buf
            .extend_from_slice(&(note.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(note.as_bytes());
        self.complete = self.buf.len();
    }

    /// Writes the dropped-fields note, if any, and returns what was cut.
    #[inline]
    pub(crate) fn finish(mut self) -> Cuts {
        if self.cuts.dropped_fields > 0 {
            self.header(KIND_U64, b"capture.dropped_fields");
            self.buf
                .extend_from_slice(&self.cuts.dropped_fields.to_le_bytes());
        }
        Cuts {
            fields: self.fields,
            ..self.cuts
        }
    }

    #[inline]
    fn admit_field(&mut self) -> bool {
        if self.fields < self.limits.max_fields {
            self.fields += 1;
            true
        } else {
            self.cuts.dropped_fields += 1;
            false
        }
    }

    /// Kind and name. Names longer than [`MAX_NAME_BYTES`] are cut (at a
    /// character boundary, since names are text).
    #[inline]
    fn header(&mut self, kind: u8, name: &[u8]) {
        let name = if name.len() <= MAX_NAME_BYTES {
            name
        } else {
            let text = std::str::from_utf8(name).unwrap_or("");
            cut_at_char_boundary(text, MAX_NAME_BYTES).as_bytes()
        };
        self.buf.reserve(2 + name.len());
        self.buf.push(kind);
        self.buf.push(name.len() as u8);
        self.buf.extend_from_slice(name);
    }

    /// A text entry from a string: copied directly when it fits the limit.
    #[inline]
    fn str_entry(&mut self, kind: u8, name: &[u8], text: &str, limit: usize) {
        if text.len() > limit {
            return self.text_entry(kind, name, limit, |w| w.write_str(text));
        }
        self.header(kind, name);
        self.buf
            .extend_from_slice(&(text.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(text.as_bytes());
        self.complete = self.buf.len();
    }

    #[inline]
    fn text_entry(
        &mut self,
        kind: u8,
        name: &[u8],
        limit: usize,
        write: impl FnOnce(&mut dyn Write) -> fmt::Result,
    ) {
        self.header(kind, name);
        let len_at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        let start = self.buf.len();
        let mut bounded = Bounded {
            buf: self.buf,
            room: limit,
            cut: false,
        };
        // An error is either our limit (cut) or the formatter's own failure;
        // either way what was written so far is kept.
        let _ = write(&mut bounded);
        if bounded.cut {
            self.buf.extend_from_slice(TRUNCATION_MARKER.as_bytes());
            self.cuts.truncated += 1;
        }
        let len = (self.buf.len() - start) as u32;
        self.buf[len_at..start].copy_from_slice(&len.to_le_bytes());
        self.complete = self.buf.len();
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
pub(crate) fn cut_at_char_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A `fmt::Write` that stops (with an error, so formatting ends early) once
/// `room` bytes are used.
struct Bounded<'a> {
    buf: &'a mut Vec<u8>,
    room: usize,
    cut: bool,
}

impl Write for Bounded<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if s.len() <= self.room {
            self.buf.extend_from_slice(s.as_bytes());
            self.room -= s.len();
            Ok(())
        } else {
            let kept = cut_at_char_boundary(s, self.room);
            self.buf.extend_from_slice(kept.as_bytes());
            self.room = 0;
            self.cut = true;
            Err(fmt::Error)
        }
    }
}

/// The entries of a payload, in the order they were written.
pub(crate) fn entries(payload: &[u8]) -> Entries<'_> {
    Entries { rest: payload }
}

#[derive(Debug)]
pub(crate) struct Entries<'a> {
    rest: &'a [u8],
}

impl<'a> Entries<'a> {
    #[inline]
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.rest.len() < n {
            return None;
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Some(head)
    }

    #[inline]
    fn take_array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    #[inline]
    fn next_entry(&mut self) -> Option<Entry<'a>> {
        let [kind, name_len] = self.take_array::<2>()?;
        let name = self.take(name_len as usize)?;
        let value = match kind {
            KIND_MESSAGE | KIND_SCOPE | KIND_STR => {
                let len = u32::from_le_bytes(self.take_array()?) as usize;
                let text = self.take(len)?;
                match kind {
                    KIND_MESSAGE => return Some(Entry::Message(text)),
                    KIND_SCOPE => return Some(Entry::Scope(text)),
                    _ => Raw::Text(text),
                }
            }
            KIND_I64 => Raw::I64(i64::from_le_bytes(self.take_array()?)),
            KIND_U64 => Raw::U64(u64::from_le_bytes(self.take_array()?)),
            KIND_F64 => Raw::F64(f64::from_le_bytes(self.take_array()?)),
            KIND_I128 => Raw::I128(i128::from_le_bytes(self.take_array()?)),
            KIND_U128 => Raw::U128(u128::from_le_bytes(self.take_array()?)),
            KIND_BOOL => Raw::Bool(self.take_array::<1>()?[0] != 0),
            _ => return None,
        };
        Some(Entry::Field(name, value))
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Entry<'a>;

    #[inline]
    fn next(&mut self) -> Option<Entry<'a>> {
        let entry = self.next_entry();
        if entry.is_none() {
            self.rest = &[];
        }
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(limits: CaptureLimits, f: impl FnOnce(&mut PayloadWriter<'_>)) -> (Vec<u8>, Cuts) {
        let mut buf = Vec::new();
        let mut writer = PayloadWriter::new(&mut buf, limits);
        f(&mut writer);
        let cuts = writer.finish();
        (buf, cuts)
    }

    #[test]
    fn every_kind_round_trips() {
        let (buf, cuts) = written(CaptureLimits::default(), |w| {
            w.message_fmt(&format_args!("hello {}", 42));
            w.scope("app::db");
            w.str_field("s", "text");
            w.value_field("i", Value::I64(-1));
            w.value_field("u", Value::U64(u64::MAX));
            w.value_field("big", Value::I128(i128::MIN));
            w.value_field("ubig", Value::U128(u128::MAX));
            w.value_field("f", Value::F64(2.5));
            w.value_field("b", Value::Bool(true));
            w.fmt_field("d", |out| write!(out, "{:?}", Some("x")));
        });
        assert_eq!(
            cuts,
            Cuts {
                fields: 8,
                ..Cuts::default()
            }
        );
        let got: Vec<_> = entries(&buf).collect();
        assert_eq!(
            got,
            [
                Entry::Message(b"hello 42"),
                Entry::Scope(b"app::db"),
                Entry::Field(b"s", Raw::Text(b"text")),
                Entry::Field(b"i", Raw::I64(-1)),
                Entry::Field(b"u", Raw::U64(u64::MAX)),
                Entry::Field(b"big", Raw::I128(i128::MIN)),
                Entry::Field(b"ubig", Raw::U128(u128::MAX)),
                Entry::Field(b"f", Raw::F64(2.5)),
                Entry::Field(b"b", Raw::Bool(true)),
                Entry::Field(b"d", Raw::Text(b"Some(\"x\")")),
            ]
        );
    }

    #[test]
    fn long_strings_are_cut_at_a_char_boundary_with_a_marker() {
        let limits = CaptureLimits {
            max_message_bytes: 5,
            max_value_bytes: 4,
            ..CaptureLimits::default()
        };
        let (buf, cuts) = written(limits, |w| {
            w.message_str("héllo world");
            w.str_field("v", "ééé");
            w.fmt_field("d", |out| write!(out, "{:?}", vec![1; 1000]));
            w.str_field("short", "ok");
        });
        let got: Vec<_> = entries(&buf).collect();
        assert_eq!(
            got,
            [
                Entry::Message("héll…[truncated]".as_bytes()),
                Entry::Field(b"v", Raw::Text("éé…[truncated]".as_bytes())),
                Entry::Field(b"d", Raw::Text("[1, …[truncated]".as_bytes())),
                Entry::Field(b"short", Raw::Text(b"ok")),
            ]
        );
        assert_eq!(cuts.truncated, 3);
    }

    #[test]
    fn fields_past_the_limit_are_counted_in_a_note() {
        let limits = CaptureLimits {
            max_fields: 2,
            ..CaptureLimits::default()
        };
        let (buf, cuts) = written(limits, |w| {
            w.message_str("m");
            for i in 0..5u64 {
                w.value_field("n", Value::U64(i));
            }
        });
        assert_eq!(cuts.dropped_fields, 3);
        let got: Vec<_> = entries(&buf).collect();
        assert_eq!(got.len(), 4);
        assert_eq!(got[3], Entry::Field(b"capture.dropped_fields", Raw::U64(3)));
    }

    #[test]
    fn a_panic_mid_entry_leaves_the_complete_entries_and_a_note() {
        let mut buf = Vec::new();
        let mut writer = PayloadWriter::new(&mut buf, CaptureLimits::default());
        writer.str_field("before", "kept");
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            writer.fmt_field("bad", |out| {
                out.write_str("half")?;
                panic!("Debug impl failed")
            });
        }));
        assert!(result.is_err());
        writer.recover_from_panic();
        writer.finish();
        let got: Vec<_> = entries(&buf).collect();
        assert_eq!(got[0], Entry::Field(b"before", Raw::Text(b"kept")));
        let note = |text: &[u8]| text.windows(8).any(|w| w == b"panicked");
        assert!(matches!(got[1], Entry::Field(b"capture.error", Raw::Text(text)) if note(text)));
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn malformed_input_ends_the_entries_without_panicking() {
        let (buf, _) = written(CaptureLimits::default(), |w| {
            w.str_field("a", "x");
            w.value_field("b", Value::U64(1));
        });
        for cut in 0..buf.len() {
            let got: Vec<_> = entries(&buf[..cut]).collect();
            assert!(got.len() < 2);
        }
        assert!(entries(&[200, 0, 0]).next().is_none(), "unknown kind");
        assert!(
            entries(&[KIND_STR, 1, b'a', 9, 0, 0, 0]).next().is_none(),
            "length past the end"
        );
    }

    #[test]
    fn long_names_are_cut() {
        let name = "n".repeat(300);
        let (buf, _) = written(CaptureLimits::default(), |w| {
            w.value_field(&name, Value::Bool(false))
        });
        let expected = Entry::Field(&name.as_bytes()[..255], Raw::Bool(false));
        assert_eq!(entries(&buf).next(), Some(expected));
    }

    proptest::proptest! {
        #[test]
        fn floats_read_back_as_the_same_number(bits in proptest::num::u64::ANY) {
            let value = f64::from_bits(bits);
            let mut out = Vec::new();
            Raw::F64(value).write_text(&mut out);
            let text = String::from_utf8(out).unwrap();
            let display = value.to_string();
            proptest::prop_assert!(!text.contains('e'), "{}", text);
            proptest::prop_assert_eq!(text.len(), display.len());
            let back: f64 = text.parse().unwrap();
            proptest::prop_assert!(back.to_bits() == bits || (value.is_nan() && back.is_nan()));
        }

        #[test]
        fn short_floats_are_written_as_display_writes_them(
            mantissa in -999_999_999_999i64..999_999_999_999,
            scale in 0u32..12,
        ) {
            let value = mantissa as f64 / 10f64.powi(scale as i32);
            let mut out = Vec::new();
            Raw::F64(value).write_text(&mut out);
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), value.to_string());
        }
    }

    #[test]
    fn values_as_text() {
        let text = |v: Raw<'_>| {
            let mut out = Vec::new();
            v.write_text(&mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(text(Raw::I64(-5)), "-5");
        assert_eq!(text(Raw::U128(u128::MAX)), u128::MAX.to_string());
        assert_eq!(text(Raw::F64(0.1)), "0.1");
        assert_eq!(text(Raw::F64(95.0)), "95");
        assert_eq!(text(Raw::F64(f64::NAN)), "NaN");
        assert_eq!(text(Raw::F64(-0.0)), "-0");
        assert_eq!(text(Raw::F64(1e21)), "1000000000000000000000");
        assert_eq!(text(Raw::F64(1.5e-7)), "0.00000015");
        assert_eq!(text(Raw::F64(f64::NEG_INFINITY)), "-inf");
        assert_eq!(text(Raw::Bool(true)), "true");
        assert_eq!(text(Raw::Text(b"x y")), "x y");
    }
}
