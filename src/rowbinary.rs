//! ClickHouse's RowBinary format, as much of it as our rows need.
//!
//! Values are little-endian; strings and arrays carry an unsigned LEB128
//! length; `Map(K, V)` is that count followed by the key/value pairs;
//! `DateTime64(9)` travels as an `Int64` of nanoseconds.

/// Unsigned LEB128, the length prefix of strings, arrays and maps.
#[inline]
pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

#[inline]
pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

/// A `String` column from bytes (RowBinary strings are bytes; ours are UTF-8).
#[inline]
pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_uvarint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[inline]
pub(crate) fn put_u8(out: &mut Vec<u8>, v: u8) {
    out.push(v);
}

#[inline]
pub(crate) fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_le_bytes());
}

#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
#[inline]
pub(crate) fn put_f64(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_le_bytes());
}

#[inline]
pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Reads rows back (the memory fallback answers queries from encoded
/// batches). Every read is `None` past the end or on a malformed length, so
/// a damaged batch stops decoding instead of panicking.
#[derive(Debug)]
pub(crate) struct RowReader<'a> {
    bytes: &'a [u8],
}

impl<'a> RowReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        RowReader { bytes }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// How many bytes are left unread.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len()
    }

    /// What is left unread.
    pub(crate) fn rest(self) -> &'a [u8] {
        self.bytes
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    pub(crate) fn uvarint(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1)?[0];
            n |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    pub(crate) fn i64(&mut self) -> Option<i64> {
        self.take(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    pub(crate) fn f64(&mut self) -> Option<f64> {
        self.take(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    /// An `Array(T)` column, each element read by `element`.
    pub(crate) fn array<T>(&mut self, element: fn(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let count = usize::try_from(self.uvarint()?).ok()?;
        // Each element takes at least one byte: no allocation beyond the input.
        let mut items = Vec::with_capacity(count.min(self.bytes.len()));
        for _ in 0..count {
            items.push(element(self)?);
        }
        Some(items)
    }

    /// A `String` column (ours are UTF-8; anything else is replaced).
    pub(crate) fn string(&mut self) -> Option<String> {
        let len = usize::try_from(self.uvarint()?).ok()?;
        Some(String::from_utf8_lossy(self.take(len)?).into_owned())
    }

    /// A `Map(String, String)` column.
    pub(crate) fn string_map(&mut self) -> Option<Vec<(String, String)>> {
        let count = usize::try_from(self.uvarint()?).ok()?;
        // Each pair takes at least two bytes: no allocation beyond the input.
        let mut pairs = Vec::with_capacity(count.min(self.bytes.len() / 2));
        for _ in 0..count {
            pairs.push((self.string()?, self.string()?));
        }
        Some(pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvarint_matches_leb128() {
        let encoded = |n| {
            let mut out = Vec::new();
            put_uvarint(&mut out, n);
            out
        };
        assert_eq!(encoded(0), [0]);
        assert_eq!(encoded(127), [127]);
        assert_eq!(encoded(128), [0x80, 1]);
        assert_eq!(encoded(300), [0xac, 0x02]);
        assert_eq!(encoded(u64::MAX).len(), 10);
    }

    proptest::proptest! {
        #[test]
        fn rows_read_back_what_was_written(
            n in proptest::prelude::any::<u64>(),
            t in proptest::prelude::any::<i64>(),
            b in proptest::prelude::any::<u8>(),
            text in ".*",
            map in proptest::collection::vec((".*", ".*"), 0..5),
        ) {
            let mut out = Vec::new();
            put_uvarint(&mut out, n);
            put_i64(&mut out, t);
            put_u8(&mut out, b);
            put_str(&mut out, &text);
            put_uvarint(&mut out, map.len() as u64);
            for (k, v) in &map {
                put_str(&mut out, k);
                put_str(&mut out, v);
            }
            let mut reader = RowReader::new(&out);
            proptest::prop_assert_eq!(reader.uvarint(), Some(n));
            proptest::prop_assert_eq!(reader.i64(), Some(t));
            proptest::prop_assert_eq!(reader.u8(), Some(b));
            proptest::prop_assert_eq!(reader.string(), Some(text));
            proptest::prop_assert_eq!(reader.string_map(), Some(map));
            proptest::prop_assert!(reader.is_empty());
        }

        #[test]
        fn any_bytes_are_read_without_panicking(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let mut reader = RowReader::new(&bytes);
            while !reader.is_empty() {
                if reader.string_map().is_none() {
                    break;
                }
            }
        }
    }

    #[test]
    fn strings_are_length_prefixed_bytes() {
        let mut out = Vec::new();
        put_str(&mut out, "hé");
        assert_eq!(out, [3, b'h', 0xc3, 0xa9]);
    }
}
