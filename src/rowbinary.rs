//! ClickHouse's RowBinary format, as much of it as our rows need.
//!
//! Values are little-endian; strings and arrays carry an unsigned LEB128
//! length; `Map(K, V)` is an array of key/value pairs; `LowCardinality(T)`
//! and `DateTime64(9)` travel as `T` and as an `Int64` of nanoseconds.

/// Unsigned LEB128, the length prefix of strings, arrays and maps.
pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uvarint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

pub(crate) fn put_u8(out: &mut Vec<u8>, v: u8) {
    out.push(v);
}

pub(crate) fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// A `Map(String, String)` from its pairs.
pub(crate) fn put_string_map<'a>(
    out: &mut Vec<u8>,
    pairs: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
) {
    put_uvarint(out, pairs.len() as u64);
    for (key, value) in pairs {
        put_str(out, key);
        put_str(out, value);
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

    #[test]
    fn strings_and_maps() {
        let mut out = Vec::new();
        put_str(&mut out, "hé");
        assert_eq!(out, [3, b'h', 0xc3, 0xa9]);
        out.clear();
        put_string_map(&mut out, [("a", "1"), ("b", "")].into_iter());
        assert_eq!(out, [2, 1, b'a', 1, b'1', 1, b'b', 0]);
    }
}
