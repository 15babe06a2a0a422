//! An event's message and fields, packed into bytes.
//!
//! Capture writes entries into a reusable per-thread scratch buffer and then
//! copies the result into the record (into its queue slot when it fits, else
//! one exact-size allocation), and numbers stay binary until the flusher
//! renders them.
//!
//! An entry is `kind: u8`, `name_len: u8`, the name, then the value:
//! 8 bytes (i64, u64, f64), 16 bytes (i128, u128), 1 byte (bool) or
//! `len: u32` and bytes: UTF-8 for strings (`&str` values apart from
//! formatted ones, which the console shows differently), the message and the
//! scope; a span's own entries for a span of the event's context (written
//! only for the console). Everything is little-endian. The reader hands text back as bytes (RowBinary strings
//! are bytes, so nothing needs re-validating) and stops at the first
//! malformed entry instead of panicking.
//!
//! Limits are applied while writing: a string longer than its limit is cut
//! at a character boundary and ends with [`TRUNCATION_MARKER`]; fields past
//! the field limit are dropped and counted in one final
//! `capture.dropped_fields` entry.

mod kinds;
mod reader;
mod value;
mod writer;

pub(crate) use reader::{Entry, entries};
pub(crate) use value::Raw;
pub use value::Value;
pub(crate) use writer::{PayloadWriter, cut_at_char_boundary};

/// Reads `bytes` as a payload: its entries, and the fields copied into a
/// payload of their own (as a span's fields are copied into its events),
/// read back; returns how many entries each gave. For the fuzz target
/// (`fuzz/`) and tests of hostile input: never panics, whatever the bytes.
#[doc(hidden)]
pub fn read_payload(bytes: &[u8]) -> (usize, usize) {
    let read = entries(bytes).count();
    let mut copy = Vec::new();
    let mut writer = PayloadWriter::resume(&mut copy, Default::default(), 0);
    writer.copy_fields(bytes);
    writer.finish();
    (read, entries(&copy).count())
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
