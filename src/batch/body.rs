//! A batch's rows as memory holds them: RowBinary compressed with LZ4 in
//! chunks, each compressed as soon as it fills and ending at a row
//! boundary (so a batch splits there without compressing anything again).
//!
//! Log rows compress about six-fold at 2 GB/s on one core, so what a busy
//! service keeps for ClickHouse (the open batches, the one being sent, the
//! ones waiting) takes a sixth of the rows' size, for about half a
//! microsecond per kilobyte of rows. Each chunk is kept as a block of
//! ClickHouse's native compression framing (checksum, method, sizes, then
//! the LZ4 block), so an insert sends the blocks as they are
//! (`decompress=1`) and nothing is compressed twice. Readers get the plain
//! bytes back a chunk at a time.

use std::sync::Arc;

use bytes::Bytes;

/// Plain bytes gathered before they are compressed into a chunk: LZ4's
/// window, so a larger chunk would compress no better.
pub(crate) const CHUNK_BYTES: usize = 64 << 10;

/// ClickHouse's native compression framing: a CityHash128 checksum of the
/// rest, then the method, the framed size and the plain size.
const CHECKSUM: usize = 16;
const HEADER: usize = 9;
/// The method byte of LZ4.
const LZ4: u8 = 0x82;

/// One compressed chunk.
#[derive(Clone, Debug)]
struct Chunk {
    /// The chunk in ClickHouse's framing.
    block: Bytes,
    /// Its plain length.
    len: usize,
    /// Rows it holds, when it ends at a row boundary (a body compressed
    /// from plain bytes, [`Body::from_plain`], does not know).
    rows: Option<u64>,
}

/// Rows in RowBinary, LZ4-compressed in chunks.
#[derive(Clone, Debug, Default)]
pub(crate) struct Body {
    chunks: Arc<[Chunk]>,
    /// The plain length.
    len: usize,
}

impl Body {
    /// The plain bytes, compressed in chunks of [`CHUNK_BYTES`] (which may
    /// cut rows: such a body is never split).
    pub(crate) fn from_plain(plain: &[u8]) -> Body {
        let mut scratch = Vec::new();
        let chunks: Arc<[Chunk]> = plain
            .chunks(CHUNK_BYTES)
            .map(|part| Chunk {
                block: compress(part, &mut scratch),
                len: part.len(),
                rows: None,
            })
            .collect();
        Body {
            chunks,
            len: plain.len(),
        }
    }

    /// Its plain length (what ClickHouse receives).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// What it takes in memory.
    pub(crate) fn memory(&self) -> usize {
        self.chunks.iter().map(|c| c.block.len()).sum()
    }

    /// Its chunks in ClickHouse's compression framing, in order: a body
    /// to send with `decompress=1`.
    pub(crate) fn blocks(&self) -> impl Iterator<Item = Bytes> + '_ {
        self.chunks.iter().map(|chunk| chunk.block.clone())
    }

    /// The plain bytes, at least `at_least` at a time (but for the last
    /// piece), in order.
    pub(crate) fn plain(&self, at_least: usize) -> impl Iterator<Item = Bytes> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            let mut piece = Vec::new();
            while piece.len() < at_least.max(1) {
                let Some(chunk) = self.chunks.get(at) else {
                    break;
                };
                at += 1;
                let start = piece.len();
                piece.resize(start + chunk.len, 0);
                // Our own compression, of exactly this length.
                let lz4 = &chunk.block[CHECKSUM + HEADER..];
                let n = lz4_flex::block::decompress_into(lz4, &mut piece[start..])
                    .expect("a chunk decompresses to the length it was compressed from");
                debug_assert_eq!(n, chunk.len);
            }
            (!piece.is_empty()).then(|| Bytes::from(piece))
        })
        .fuse()
    }

    /// All the plain bytes at once.
    pub(crate) fn to_plain(&self) -> Vec<u8> {
        let mut plain = Vec::with_capacity(self.len);
        for piece in self.plain(self.len) {
            plain.extend_from_slice(&piece);
        }
        plain
    }

    /// The body in two at the last chunk boundary whose first part is at
    /// most `max_len` plain bytes and holds rows of its own, with the rows
    /// of each part; `None` without such a boundary (or one it does not
    /// know the rows at).
    pub(crate) fn split(&self, max_len: usize) -> Option<((Body, u64), (Body, u64))> {
        let mut len = 0;
        let mut rows = 0;
        let mut at = None;
        for (index, chunk) in self
            .chunks
            .iter()
            .enumerate()
            .take(self.chunks.len().saturating_sub(1))
        {
            len += chunk.len;
            rows += chunk.rows?;
            if len > max_len {
                break;
            }
            at = Some((index + 1, len, rows));
        }
        let (index, len, rows) = at?;
        let rest_rows: u64 = self.chunks[index..]
            .iter()
            .map(|c| c.rows)
            .sum::<Option<u64>>()?;
        let part = |chunks: &[Chunk], len| Body {
            chunks: chunks.into(),
            len,
        };
        Some((
            (part(&self.chunks[..index], len), rows),
            (part(&self.chunks[index..], self.len - len), rest_rows),
        ))
    }
}

/// `plain` compressed, framed for ClickHouse, in an allocation of its
/// framed size (it is compressed into `scratch` first: lz4_flex's own
/// `compress` returns a vector with room for the largest output, which
/// would hold several times the chunk).
fn compress(plain: &[u8], scratch: &mut Vec<u8>) -> Bytes {
    let room = CHECKSUM + HEADER + lz4_flex::block::get_maximum_output_size(plain.len());
    if scratch.len() < room {
        scratch.resize(room, 0);
    }
    let lz4_len = lz4_flex::block::compress_into(plain, &mut scratch[CHECKSUM + HEADER..])
        .expect("the output has room for the largest compressed size");
    let framed = &mut scratch[CHECKSUM..CHECKSUM + HEADER + lz4_len];
    framed[0] = LZ4;
    // Chunks are 64 KiB and a row is at most a few MiB: both sizes fit.
    framed[1..5].copy_from_slice(&((HEADER + lz4_len) as u32).to_le_bytes());
    framed[5..9].copy_from_slice(&(plain.len() as u32).to_le_bytes());
    // As the clickhouse crate writes it (`native_framing::write_meta`).
    let checksum = cityhash_rs::cityhash_102_128(framed).rotate_right(64);
    scratch[..CHECKSUM].copy_from_slice(&checksum.to_le_bytes());
    Bytes::copy_from_slice(&scratch[..CHECKSUM + HEADER + lz4_len])
}

/// A body being written: rows go into a plain chunk, compressed when it fills.
#[derive(Debug, Default)]
pub(crate) struct BodyBuilder {
    chunks: Vec<Chunk>,
    /// Plain length of the compressed chunks.
    len: usize,
    /// The chunk being written, and its rows so far.
    plain: Vec<u8>,
    plain_rows: u64,
    /// Where a chunk is compressed before it is copied out at its size.
    scratch: Vec<u8>,
}

impl BodyBuilder {
    /// Where the next rows are written (then [`BodyBuilder::added`]).
    #[inline]
    pub(crate) fn plain(&mut self) -> &mut Vec<u8> {
        &mut self.plain
    }

    /// `rows` whole rows were written; a full chunk is compressed.
    #[inline]
    pub(crate) fn added(&mut self, rows: u64) {
        self.plain_rows += rows;
        if self.plain.len() >= CHUNK_BYTES {
            self.compress();
        }
    }

    /// The plain length so far.
    pub(crate) fn len(&self) -> usize {
        self.len + self.plain.len()
    }

    fn compress(&mut self) {
        if self.plain.is_empty() {
            return;
        }
        self.chunks.push(Chunk {
            block: compress(&self.plain, &mut self.scratch),
            len: self.plain.len(),
            rows: Some(self.plain_rows),
        });
        self.len += self.plain.len();
        // The plain buffer is kept for the next chunk.
        self.plain.clear();
        self.plain_rows = 0;
    }

    /// The body written so far; the builder starts again empty.
    pub(crate) fn finish(&mut self) -> Body {
        self.compress();
        let body = Body {
            chunks: std::mem::take(&mut self.chunks).into(),
            len: self.len,
        };
        self.len = 0;
        body
    }
}

/// Bytes that do not compress (a xorshift stream from `seed`), so a body
/// of them takes about its length in memory (for tests).
#[cfg(test)]
pub(crate) fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A body of `rows` rows of `row_len` bytes of [`noise`], chunked as the
/// batcher chunks (for tests).
#[cfg(test)]
pub(crate) fn noise_body(seed: u64, rows: u64, row_len: usize) -> Body {
    let mut builder = BodyBuilder::default();
    for n in 0..rows {
        builder.plain().extend(noise(seed ^ n, row_len));
        builder.added(1);
    }
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body of `rows` rows of `row_len` bytes, row `n` all `n as u8`.
    fn body(rows: u64, row_len: usize) -> Body {
        let mut builder = BodyBuilder::default();
        for n in 0..rows {
            builder
                .plain()
                .extend(std::iter::repeat_n(n as u8, row_len));
            builder.added(1);
        }
        builder.finish()
    }

    fn plain(rows: u64, row_len: usize) -> Vec<u8> {
        (0..rows)
            .flat_map(|n| std::iter::repeat_n(n as u8, row_len))
            .collect()
    }

    #[test]
    fn the_plain_bytes_come_back_in_pieces_or_whole() {
        let body = body(1_000, 300);
        assert_eq!(body.len(), 300_000);
        assert!(body.memory() < body.len() / 10, "{}", body.memory());
        assert_eq!(body.to_plain(), plain(1_000, 300));
        let pieces: Vec<Bytes> = body.plain(100 << 10).collect();
        assert!(
            pieces[..pieces.len() - 1]
                .iter()
                .all(|p| p.len() >= 100 << 10)
        );
        assert_eq!(pieces.concat(), plain(1_000, 300));
        assert_eq!(Body::from_plain(&plain(7, 3)).to_plain(), plain(7, 3));
        assert_eq!(Body::default().plain(1).count(), 0);
    }

    #[test]
    fn chunks_are_framed_as_clickhouse_reads_them() {
        let body = body(200, 1_000);
        let blocks: Vec<Bytes> = body.blocks().collect();
        assert_eq!(blocks.len(), 4);
        let mut plain = Vec::new();
        for block in &blocks {
            let header = &block[CHECKSUM..CHECKSUM + HEADER];
            assert_eq!(header[0], LZ4);
            let framed = u32::from_le_bytes(header[1..5].try_into().unwrap()) as usize;
            let len = u32::from_le_bytes(header[5..9].try_into().unwrap()) as usize;
            assert_eq!(CHECKSUM + framed, block.len());
            let checksum = cityhash_rs::cityhash_102_128(&block[CHECKSUM..]).rotate_right(64);
            assert_eq!(block[..CHECKSUM], checksum.to_le_bytes());
            let start = plain.len();
            plain.resize(start + len, 0);
            lz4_flex::block::decompress_into(&block[CHECKSUM + HEADER..], &mut plain[start..])
                .unwrap();
        }
        assert_eq!(plain, super::tests::plain(200, 1_000));
    }

    #[test]
    fn a_body_splits_at_a_chunk_boundary_with_its_rows() {
        // 1,000-byte rows: 66 rows (66,000 bytes) fill a chunk.
        let body = body(200, 1_000);
        let ((first, first_rows), (rest, rest_rows)) = body.split(140_000).unwrap();
        assert_eq!((first_rows, first.len()), (132, 132_000));
        assert_eq!((rest_rows, rest.len()), (68, 68_000));
        assert_eq!(
            [first.to_plain(), rest.to_plain()].concat(),
            plain(200, 1_000)
        );
        // No boundary that fits, or none it knows the rows at.
        assert!(body.split(60_000).is_none());
        assert!(
            Body::from_plain(&plain(200, 1_000))
                .split(140_000)
                .is_none()
        );
    }
}
