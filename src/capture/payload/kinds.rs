//! The entry kinds and the limits of the format.

/// Appended to every string that was cut at its limit.
pub(crate) const TRUNCATION_MARKER: &str = "…[truncated]";
/// Longest field name kept, in bytes (longer names are cut).
pub(super) const MAX_NAME_BYTES: usize = u8::MAX as usize;

pub(super) const KIND_MESSAGE: u8 = 1;
pub(super) const KIND_SCOPE: u8 = 2;
pub(super) const KIND_STR: u8 = 3;
pub(super) const KIND_I64: u8 = 4;
pub(super) const KIND_U64: u8 = 5;
pub(super) const KIND_I128: u8 = 6;
pub(super) const KIND_U128: u8 = 7;
pub(super) const KIND_F64: u8 = 8;
pub(super) const KIND_BOOL: u8 = 9;
/// Text from formatting (`Debug`, `Display`, errors), not a `&str` value.
pub(super) const KIND_FMT: u8 = 10;
/// A span around the event: its name, then its own entries.
pub(super) const KIND_SPAN: u8 = 11;
