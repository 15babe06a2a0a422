//! Writing entries, within the limits.

use std::fmt::{self, Write};

use super::kinds::*;
use super::reader::{Entry, entries};
use super::value::{Raw, Value};
use crate::config::CaptureLimits;

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
            self.text_entry(KIND_FMT, name.as_bytes(), limit, write);
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
            Raw::Str(text) | Raw::Text(text) => {
                let kind = if matches!(value, Raw::Str(_)) {
                    KIND_STR
                } else {
                    KIND_FMT
                };
                // Text read back from a payload is valid UTF-8 already cut
                // to a limit; cut it again at a boundary if this limit is lower.
                let text = std::str::from_utf8(text).unwrap_or("");
                self.str_entry(kind, name, text, self.limits.max_value_bytes);
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
        append(self.buf, bytes);
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

    /// A span of the event's context, for the console: its name and its own
    /// entries (not a field: it is not counted against the field limit, and
    /// rows do not store it).
    pub(crate) fn span_context(&mut self, name: &str, fields: &[u8]) {
        self.header(KIND_SPAN, name.as_bytes());
        let len = u32::try_from(fields.len()).unwrap_or(u32::MAX);
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(&fields[..len as usize]);
        self.complete = self.buf.len();
    }

    /// Drops whatever a panic left half-written and notes the panic.
    pub(crate) fn recover_from_panic(&mut self) {
        self.buf.truncate(self.complete);
        self.cuts.truncated += 1;
        // The marker is written even past the field limit: it must be seen.
        self.header(KIND_FMT, b"capture.error");
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
        append(self.buf, &[kind, name.len() as u8]);
        append(self.buf, name);
    }

    /// A text entry from a string: copied directly when it fits the limit.
    #[inline]
    fn str_entry(&mut self, kind: u8, name: &[u8], text: &str, limit: usize) {
        if text.len() > limit {
            return self.text_entry(kind, name, limit, |w| w.write_str(text));
        }
        self.header(kind, name);
        append(self.buf, &(text.len() as u32).to_le_bytes());
        append(self.buf, text.as_bytes());
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

/// Appends `bytes`. Entries are mostly a few short pieces (a kind, a name,
/// a number, a short string), each of which `extend_from_slice` would copy
/// with a call to `memcpy`; up to 16 bytes are copied here in two
/// overlapping words instead.
#[inline(always)]
pub(super) fn append(buf: &mut Vec<u8>, bytes: &[u8]) {
    let n = bytes.len();
    if n > 16 {
        return buf.extend_from_slice(bytes);
    }
    buf.reserve(16);
    let at = buf.len();
    let dst = buf.spare_capacity_mut().as_mut_ptr().cast::<u8>();
    // SAFETY: `reserve(16)` made room for 16 bytes at `dst`; every write
    // below stays within the first `n <= 16` of them, and reads within
    // `bytes`; the `n` bytes are then initialized.
    unsafe {
        let src = bytes.as_ptr();
        match n {
            8..=16 => {
                let (head, tail) = (
                    src.cast::<u64>().read_unaligned(),
                    src.add(n - 8).cast::<u64>().read_unaligned(),
                );
                dst.cast::<u64>().write_unaligned(head);
                dst.add(n - 8).cast::<u64>().write_unaligned(tail);
            }
            4..=7 => {
                let (head, tail) = (
                    src.cast::<u32>().read_unaligned(),
                    src.add(n - 4).cast::<u32>().read_unaligned(),
                );
                dst.cast::<u32>().write_unaligned(head);
                dst.add(n - 4).cast::<u32>().write_unaligned(tail);
            }
            _ => {
                for i in 0..n {
                    dst.add(i).write(*src.add(i));
                }
            }
        }
        buf.set_len(at + n);
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
            append(self.buf, s.as_bytes());
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
