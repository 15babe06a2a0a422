//! Reading entries back: text as bytes, and nothing past the first
//! malformed entry.

use super::kinds::*;
use super::value::Raw;

/// One entry of a payload.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Entry<'a> {
    Message(&'a [u8]),
    /// The source of a `collect_log` row.
    Scope(&'a [u8]),
    /// A span of the event's context, innermost first: its name and its own
    /// entries (written only when the console is on).
    Span(&'a [u8], &'a [u8]),
    Field(&'a [u8], Raw<'a>),
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
            KIND_MESSAGE | KIND_SCOPE | KIND_STR | KIND_FMT | KIND_SPAN => {
                let len = u32::from_le_bytes(self.take_array()?) as usize;
                let text = self.take(len)?;
                match kind {
                    KIND_MESSAGE => return Some(Entry::Message(text)),
                    KIND_SCOPE => return Some(Entry::Scope(text)),
                    KIND_SPAN => return Some(Entry::Span(name, text)),
                    KIND_STR => Raw::Str(text),
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
