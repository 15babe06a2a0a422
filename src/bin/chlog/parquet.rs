//! The row count a Parquet file declares in its footer: the file ends with
//! its metadata (a Thrift struct in the compact protocol), the metadata's
//! length (4 bytes, little endian) and `PAR1`; the metadata's field 3 is
//! `num_rows`. Only that field is read: the rest is skipped by type.

use std::io::{self, Read, Seek, SeekFrom};

/// Metadata larger than this is refused (real footers are kilobytes).
const MAX_FOOTER_BYTES: u64 = 256 << 20;
/// Nesting deeper than this is refused (the metadata nests a few levels).
const MAX_DEPTH: u32 = 64;

/// The number of rows the Parquet file `file` declares in its footer.
///
/// # Errors
///
/// The file cannot be read, or is not Parquet (no `PAR1` at its end, or a
/// footer that does not decode); never a panic, whatever the bytes.
pub(crate) fn parquet_row_count<R: Read + Seek>(file: &mut R) -> io::Result<u64> {
    let size = file.seek(SeekFrom::End(0))?;
    if size < 12 {
        return Err(bad("shorter than a Parquet file"));
    }
    file.seek(SeekFrom::End(-8))?;
    let mut tail = [0u8; 8];
    file.read_exact(&mut tail)?;
    if &tail[4..] != b"PAR1" {
        return Err(bad("no PAR1 at the end"));
    }
    let len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if len > size - 12 || len > MAX_FOOTER_BYTES {
        return Err(bad("footer length out of the file"));
    }
    file.seek(SeekFrom::Start(size - 8 - len))?;
    let mut footer = vec![0u8; len as usize];
    file.read_exact(&mut footer)?;
    num_rows(&footer)
}

fn bad(why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("not a Parquet file: {why}"),
    )
}

/// `FileMetaData.num_rows` (field 3, i64) of the compact-encoded metadata.
fn num_rows(footer: &[u8]) -> io::Result<u64> {
    let mut reader = Compact {
        data: footer,
        pos: 0,
    };
    let mut id: i16 = 0;
    loop {
        let header = reader.byte()?;
        if header == 0 {
            return Err(bad("the footer has no row count"));
        }
        let ty = header & 0x0f;
        id = match header >> 4 {
            0 => i16::try_from(reader.zigzag()?).map_err(|_| bad("field id"))?,
            delta => id.wrapping_add(i16::from(delta)),
        };
        if id == 3 && ty == 6 {
            return u64::try_from(reader.zigzag()?).map_err(|_| bad("negative row count"));
        }
        reader.skip(ty, false, 0)?;
    }
}

struct Compact<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Compact<'_> {
    fn byte(&mut self) -> io::Result<u8> {
        let byte = *self
            .data
            .get(self.pos)
            .ok_or_else(|| bad("truncated footer"))?;
        self.pos += 1;
        Ok(byte)
    }

    fn advance(&mut self, n: u64) -> io::Result<()> {
        let left = (self.data.len() - self.pos) as u64;
        if n > left {
            return Err(bad("truncated footer"));
        }
        self.pos += n as usize;
        Ok(())
    }

    fn varint(&mut self) -> io::Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(bad("varint too long"))
    }

    fn zigzag(&mut self) -> io::Result<i64> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    /// Skips a value of compact type `ty`; in a list, set or map a bool
    /// takes a byte of its own (in a struct it is in the field's header).
    fn skip(&mut self, ty: u8, in_collection: bool, depth: u32) -> io::Result<()> {
        if depth > MAX_DEPTH {
            return Err(bad("nested too deep"));
        }
        match ty {
            1 | 2 if in_collection => self.advance(1),
            1 | 2 => Ok(()),
            3 => self.advance(1),
            4..=6 => self.varint().map(drop),
            7 => self.advance(8),
            8 => {
                let len = self.varint()?;
                self.advance(len)
            }
            9 | 10 => {
                let header = self.byte()?;
                let size = match u64::from(header >> 4) {
                    15 => self.varint()?,
                    size => size,
                };
                self.elements(size, &[header & 0x0f], depth)
            }
            11 => {
                let size = self.varint()?;
                if size == 0 {
                    return Ok(());
                }
                let types = self.byte()?;
                self.elements(size, &[types >> 4, types & 0x0f], depth)
            }
            12 => loop {
                let header = self.byte()?;
                if header == 0 {
                    return Ok(());
                }
                if header >> 4 == 0 {
                    self.zigzag()?;
                }
                self.skip(header & 0x0f, false, depth + 1)?;
            },
            _ => Err(bad("unknown field type")),
        }
    }

    fn elements(&mut self, size: u64, types: &[u8], depth: u32) -> io::Result<()> {
        // Every element takes a byte at least: a size past the end is a lie.
        if size > (self.data.len() - self.pos) as u64 {
            return Err(bad("collection larger than the footer"));
        }
        for _ in 0..size {
            for &ty in types {
                self.skip(ty, true, depth + 1)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn zigzag(v: i64) -> Vec<u8> {
        let mut n = ((v << 1) ^ (v >> 63)) as u64;
        let mut out = Vec::new();
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }

    /// A footer as writers lay it out: version, a schema of two elements
    /// (names, a bool, a map), then num_rows and a list of row groups.
    fn footer(rows: i64) -> Vec<u8> {
        let mut meta = vec![0x15];
        meta.extend(zigzag(2)); // 1: version i32
        meta.extend([0x19, 0x2c]); // 2: list of 2 structs
        for name in ["schema", "Body"] {
            meta.push(0x48); // 4: name binary
            meta.push(name.len() as u8);
            meta.extend(name.as_bytes());
            meta.push(0x11); // 5: a bool true, in the header
            meta.push(0x1b); // 6: map
            meta.extend([0x01, 0x88, 0x01, b'k', 0x01, b'v']);
            meta.push(0x00);
        }
        meta.push(0x16); // 3: num_rows i64
        meta.extend(zigzag(rows));
        meta.extend([0x19, 0x00]); // 4: an empty list
        meta.push(0x00);
        let mut file = b"PAR1 column data ".to_vec();
        let len = meta.len() as u32;
        file.extend(meta);
        file.extend(len.to_le_bytes());
        file.extend(b"PAR1");
        file
    }

    #[test]
    fn the_row_count_is_read_past_the_schema() {
        for rows in [0, 1, 63, 64, 300_000, i64::from(u32::MAX) * 3] {
            let count = parquet_row_count(&mut Cursor::new(footer(rows))).unwrap();
            assert_eq!(count, rows as u64);
        }
    }

    #[test]
    fn anything_else_is_an_error_not_a_panic() {
        assert!(parquet_row_count(&mut Cursor::new(b"{\"a\":1}\n".to_vec())).is_err());
        let good = footer(5);
        for cut in 0..good.len() {
            let mut damaged = good.clone();
            damaged.remove(cut);
            let _ = parquet_row_count(&mut Cursor::new(damaged));
            let mut flipped = good.clone();
            flipped[cut] ^= 0xff;
            let _ = parquet_row_count(&mut Cursor::new(flipped));
        }
        let mut negative = footer(-1);
        assert!(parquet_row_count(&mut Cursor::new(&mut negative)).is_err());
        let deep: Vec<u8> = std::iter::repeat_n(0x1c, 10_000).collect();
        assert!(num_rows(&deep).is_err(), "nesting is bounded");
    }
}
