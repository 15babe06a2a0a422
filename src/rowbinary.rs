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

#[inline]
pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
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
    fn strings_are_length_prefixed_bytes() {
        let mut out = Vec::new();
        put_str(&mut out, "hé");
        assert_eq!(out, [3, b'h', 0xc3, 0xa9]);
    }
}
