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

/// Reads `bytes` as RowBinary values, each reader in turn (a length, a
/// byte, the 8-byte numbers, a string, a string map, arrays of numbers and
/// of strings) until one finds no value; returns how many were read. For
/// the fuzz target (`fuzz/`) and tests of hostile input: never panics, and
/// allocates no more than a small multiple of the input, whatever the
/// bytes.
#[doc(hidden)]
pub fn read_values(bytes: &[u8]) -> usize {
    let mut reader = RowReader::new(bytes);
    let mut read = 0;
    for turn in 0.. {
        let found = match turn % 9 {
            0 => reader.uvarint().is_some(),
            1 => reader.u8().is_some(),
            2 => reader.i64().is_some(),
            3 => reader.u64().is_some(),
            4 => reader.f64().is_some(),
            5 => reader.string().is_some(),
            6 => reader.string_map().is_some(),
            7 => reader.array(RowReader::f64).is_some(),
            _ => reader.array(RowReader::string).is_some(),
        };
        if !found {
            break;
        }
        read += 1;
    }
    read
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

    /// A value of each kind the writer writes, and how the reader reads it.
    #[derive(Clone, Debug)]
    enum Column {
        Uvarint(u64),
        U8(u8),
        I64(i64),
        U64(u64),
        F64(u64),
        Str(String),
        Bytes(Vec<u8>),
        Map(Vec<(String, String)>),
        Floats(Vec<u64>),
        Strings(Vec<String>),
    }

    fn column() -> impl Strategy<Value = Column> {
        prop_oneof![
            any::<u64>().prop_map(Column::Uvarint),
            any::<u8>().prop_map(Column::U8),
            any::<i64>().prop_map(Column::I64),
            any::<u64>().prop_map(Column::U64),
            any::<u64>().prop_map(Column::F64),
            ".*".prop_map(Column::Str),
            proptest::collection::vec(any::<u8>(), 0..300).prop_map(Column::Bytes),
            proptest::collection::vec((".*", ".*"), 0..5).prop_map(Column::Map),
            proptest::collection::vec(any::<u64>(), 0..5).prop_map(Column::Floats),
            proptest::collection::vec(".*", 0..5).prop_map(Column::Strings),
        ]
    }

    fn put(out: &mut Vec<u8>, column: &Column) {
        match column {
            Column::Uvarint(n) => put_uvarint(out, *n),
            Column::U8(v) => put_u8(out, *v),
            Column::I64(v) => put_i64(out, *v),
            Column::U64(v) => put_u64(out, *v),
            Column::F64(bits) => put_f64(out, f64::from_bits(*bits)),
            Column::Str(s) => put_str(out, s),
            Column::Bytes(b) => put_bytes(out, b),
            Column::Map(pairs) => {
                put_uvarint(out, pairs.len() as u64);
                for (k, v) in pairs {
                    put_str(out, k);
                    put_str(out, v);
                }
            }
            Column::Floats(all) => {
                put_uvarint(out, all.len() as u64);
                all.iter()
                    .for_each(|bits| put_f64(out, f64::from_bits(*bits)));
            }
            Column::Strings(all) => {
                put_uvarint(out, all.len() as u64);
                all.iter().for_each(|s| put_str(out, s));
            }
        }
    }

    /// Reads `column`'s kind back, and whether it is the same value.
    fn read_back(reader: &mut RowReader<'_>, column: &Column) -> bool {
        let bits = |all: Vec<f64>| all.into_iter().map(f64::to_bits).collect::<Vec<_>>();
        match column {
            Column::Uvarint(n) => reader.uvarint() == Some(*n),
            Column::U8(v) => reader.u8() == Some(*v),
            Column::I64(v) => reader.i64() == Some(*v),
            Column::U64(v) => reader.u64() == Some(*v),
            Column::F64(b) => reader.f64().map(f64::to_bits) == Some(*b),
            Column::Str(s) => reader.string().as_ref() == Some(s),
            Column::Bytes(b) => reader.string() == Some(String::from_utf8_lossy(b).into_owned()),
            Column::Map(pairs) => reader.string_map().as_ref() == Some(pairs),
            Column::Floats(all) => reader.array(RowReader::f64).map(bits).as_ref() == Some(all),
            Column::Strings(all) => reader.array(RowReader::string).as_ref() == Some(all),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// A row of any columns reads back as written, to the last byte.
        #[test]
        fn rows_read_back_what_was_written(row in proptest::collection::vec(column(), 0..12)) {
            let mut out = Vec::new();
            row.iter().for_each(|column| put(&mut out, column));
            let mut reader = RowReader::new(&out);
            for column in &row {
                prop_assert!(read_back(&mut reader, column), "{:?}", column);
            }
            prop_assert!(reader.is_empty());
        }

        /// A row cut short reads its whole columns and then nothing: no
        /// value is made up from part of one.
        #[test]
        fn a_row_cut_short_gives_its_whole_columns_then_none(
            row in proptest::collection::vec(column(), 1..8),
            cut in any::<proptest::sample::Index>(),
        ) {
            let mut out = Vec::new();
            let mut ends = Vec::new();
            for column in &row {
                put(&mut out, column);
                ends.push(out.len());
            }
            let cut = cut.index(out.len());
            let whole = ends.iter().filter(|&&end| end <= cut).count();
            let mut reader = RowReader::new(&out[..cut]);
            for column in &row[..whole] {
                prop_assert!(read_back(&mut reader, column));
            }
            prop_assert!(!read_back(&mut reader, &row[whole]), "a value from a cut column");
        }

        /// Any bytes, read with every reader in turn: values or the end,
        /// never a panic.
        #[test]
        fn any_bytes_are_read_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let read = read_values(&bytes);
            prop_assert!(read <= bytes.len());
        }

        /// A length, count or varint that claims more than the input holds
        /// (up to 2^64 - 1) is no value, and allocates nothing near it.
        #[test]
        fn lengths_past_the_input_are_no_value(claimed in 0u64..=u64::MAX, tail in proptest::collection::vec(any::<u8>(), 0..64)) {
            let claimed = claimed.max(tail.len() as u64 + 1);
            let mut out = Vec::new();
            put_uvarint(&mut out, claimed);
            out.extend_from_slice(&tail);
            prop_assert_eq!(RowReader::new(&out).string(), None);
            let map = RowReader::new(&out).string_map();
            prop_assert!(map.is_none_or(|pairs| pairs.len() as u64 == claimed));
            let floats = RowReader::new(&out).array(RowReader::f64);
            prop_assert!(floats.is_none_or(|all| all.len() as u64 == claimed));
        }
    }

    #[test]
    fn a_varint_longer_than_ten_bytes_is_no_value() {
        assert_eq!(RowReader::new(&[0x80; 11]).uvarint(), None);
        assert_eq!(RowReader::new(&[0xff; 10]).uvarint(), None, "past 64 bits");
    }

    #[test]
    fn strings_are_length_prefixed_bytes() {
        let mut out = Vec::new();
        put_str(&mut out, "hé");
        assert_eq!(out, [3, b'h', 0xc3, 0xa9]);
    }
}
