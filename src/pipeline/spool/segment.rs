//! The segment file format: a magic, then records `len | crc32 | payload`,
//! each payload one batch in RowBinary; and reading a segment front to back
//! up to the first damage.

use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;

use crate::batch::{Batch, BatchConstants, Body, Table};
use crate::rowbinary::{RowReader, put_str, put_u8, put_u64, put_uvarint};

/// The first bytes of every segment file; the last byte is the format version.
pub(super) const MAGIC: &[u8; 8] = b"TCSPOOL\x01";
pub(super) const RECORD_HEADER: u64 = 8;
/// No batch is this large; a longer length means a corrupt record.
const MAX_RECORD: u32 = 1 << 30;
/// 2: `spans` rows end with `TraceState`; version 1's are read too.
const PAYLOAD_VERSION: u8 = 2;

/// What a segment holds: where its records start, their rows, and where
/// the intact part ends.
#[derive(Debug, Default)]
pub(super) struct SegmentScan {
    /// Where records begin (after the magic), or 0 if the magic is wrong.
    pub(super) start: u64,
    /// `(offset, rows)` of each intact record, in order.
    pub(super) records: Vec<(u64, u64)>,
    /// The end of the last intact record.
    pub(super) end: u64,
    /// Where and why reading stopped before the end of the file.
    pub(super) damage: Option<(u64, String)>,
    /// Rows lost with the damage: those the damaged record says it holds
    /// (when its header and row count are there to read), and those of the
    /// intact records after it.
    pub(super) lost_rows: u64,
}

/// Reads a segment of `len` bytes front to back, stopping at the first
/// record that is truncated, fails its checksum or does not decode.
pub(super) fn scan_segment(reader: &mut impl Read, len: u64) -> SegmentScan {
    let mut magic = [0; 8];
    if reader.read_exact(&mut magic).is_err() || &magic != MAGIC {
        return SegmentScan {
            damage: Some((0, "not a spool segment".to_owned())),
            ..SegmentScan::default()
        };
    }
    let start = MAGIC.len() as u64;
    let mut scan = SegmentScan {
        start,
        end: start,
        ..SegmentScan::default()
    };
    while scan.end < len {
        let at = scan.end;
        match read_batch(reader, len - at) {
            Ok((rows, record_len)) => {
                scan.records.push((at, rows));
                scan.end = at + record_len;
            }
            Err(damage) => {
                scan.lost_rows = damage.claimed_rows.unwrap_or(0);
                if let Some(record_len) = damage.whole {
                    scan.lost_rows = scan
                        .lost_rows
                        .saturating_add(rows_after_damage(reader, len - at - record_len));
                }
                scan.damage = Some((at, damage.reason));
                break;
            }
        }
    }
    scan
}

/// Reads one record and decodes it whole (so that what the scan accepts,
/// replay can send): its rows and its length, header included.
fn read_batch(reader: &mut impl Read, available: u64) -> Result<(u64, u64), Damage> {
    let payload = read_record(reader, available)?;
    let Some(batch) = decode_payload(&payload) else {
        return Err(Damage {
            reason: "the record does not decode".to_owned(),
            claimed_rows: claimed_rows(&payload, payload.len() as u64),
            whole: Some(RECORD_HEADER + payload.len() as u64),
        });
    };
    Ok((batch.rows, RECORD_HEADER + payload.len() as u64))
}

/// The rows of the records after a damaged one that was whole (so the
/// next one starts where its length says), `available` bytes in all: the
/// intact records' rows, and the rows a damaged one says it holds. Stops
/// at the first record that cannot be followed (cut short, or a length
/// past the end). A bad length that happens to land on bytes passing a
/// checksum is as unlikely as any CRC-32 collision.
fn rows_after_damage(reader: &mut impl Read, mut available: u64) -> u64 {
    let mut rows = 0u64;
    while available > 0 {
        let (found, record_len) = match read_batch(reader, available) {
            Ok(intact) => intact,
            Err(damage) => match damage.whole {
                Some(record_len) => (damage.claimed_rows.unwrap_or(0), record_len),
                None => return rows.saturating_add(damage.claimed_rows.unwrap_or(0)),
            },
        };
        rows = rows.saturating_add(found);
        available -= record_len;
    }
    rows
}

/// Why a record could not be read, and what can still be learned from it.
#[derive(Debug)]
struct Damage {
    reason: String,
    /// The row count its payload gives, if that much of it is there and the
    /// count is possible (no more rows than its length has bytes):
    /// unchecked, as the checksum failed or could not be computed.
    claimed_rows: Option<u64>,
    /// Its whole length (header included), when all of it was read: the
    /// next record starts after it.
    whole: Option<u64>,
}

/// The row count a payload of `len` bytes starts with (after its version
/// and table bytes), from the part of it that is there.
fn claimed_rows(payload: &[u8], len: u64) -> Option<u64> {
    let rows = u64::from_le_bytes(payload.get(2..10)?.try_into().ok()?);
    (payload.first() == Some(&PAYLOAD_VERSION) && rows <= len).then_some(rows)
}

/// Reads one record's payload, checking its length (at most `available`
/// bytes in all, header included) and checksum.
fn read_record(reader: &mut impl Read, available: u64) -> Result<Vec<u8>, Damage> {
    let damage = |reason: String, payload: &[u8], len: u32, whole| Damage {
        reason,
        claimed_rows: claimed_rows(payload, u64::from(len)),
        whole,
    };
    let mut header = [0; RECORD_HEADER as usize];
    if reader.read_exact(&mut header).is_err() {
        return Err(damage("truncated record header".to_owned(), &[], 0, None));
    }
    let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
    if len > MAX_RECORD {
        return Err(damage(
            format!("record length {len} is impossible"),
            &[],
            len,
            None,
        ));
    }
    // What the file has of it: all of it, or up to the end (a record cut
    // short by a crash), bounded by the file either way.
    let present = u64::from(len).min(available.saturating_sub(RECORD_HEADER));
    let mut payload = Vec::with_capacity(present as usize);
    if reader.take(present).read_to_end(&mut payload).is_err() || payload.len() as u64 != present {
        return Err(damage("truncated record".to_owned(), &payload, len, None));
    }
    if present < u64::from(len) {
        let reason = format!("record length {len} runs past the end");
        return Err(damage(reason, &payload, len, None));
    }
    if crc32fast::hash(&payload) != crc {
        let whole = Some(RECORD_HEADER + payload.len() as u64);
        return Err(damage("checksum mismatch".to_owned(), &payload, len, whole));
    }
    Ok(payload)
}

/// Reads a segment file's bytes as opening the spool does: the rows of its
/// intact records, and how many bytes after them are skipped. For the fuzz
/// target (`fuzz/`) and tests; never panics, whatever the bytes.
#[doc(hidden)]
pub fn read_segment_image(bytes: &[u8]) -> (u64, u64) {
    let scan = scan_segment(&mut &bytes[..], bytes.len() as u64);
    let rows = scan
        .records
        .iter()
        .fold(0u64, |sum, &(_, rows)| sum.saturating_add(rows));
    (rows, bytes.len() as u64 - scan.end)
}

/// Reads one record's payload, checking its length (at most `available`
/// bytes in all) and checksum.
pub(super) fn read_payload(reader: &mut impl Read, available: u64) -> Result<Vec<u8>, String> {
    read_record(reader, available).map_err(|damage| damage.reason)
}

/// How much of a batch's body a record is written (and checked) in at a time.
const PIECE: usize = 256 << 10;

/// A batch as a spool record: `len | crc32 | payload`, the payload being
/// the batch's fields in RowBinary (read back by the same `RowReader` as
/// rows are) and then its body's plain bytes. Its bytes come a piece at a
/// time ([`Record::pieces`]), so a batch is never held plain whole.
pub(crate) struct Record<'a> {
    /// The header and the fields.
    head: Vec<u8>,
    body: &'a Body,
}

impl Record<'_> {
    /// Its length, header included.
    pub(crate) fn len(&self) -> u64 {
        (self.head.len() + self.body.len()) as u64
    }

    /// Its bytes, in order.
    pub(crate) fn pieces(&self) -> impl Iterator<Item = Bytes> + '_ {
        std::iter::once(Bytes::copy_from_slice(&self.head)).chain(self.body.plain(PIECE))
    }

    /// Its bytes at once (for tests of the codec).
    #[cfg(test)]
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        self.pieces().flat_map(|piece| piece.to_vec()).collect()
    }
}

/// `batch` as a spool record.
pub(crate) fn encode_record(batch: &Batch) -> Record<'_> {
    let params = &batch.constants.params;
    let mut fields = Vec::with_capacity(64 + batch.token.len());
    put_u8(&mut fields, PAYLOAD_VERSION);
    put_u8(&mut fields, batch.table.code());
    put_u64(&mut fields, batch.rows);
    put_str(&mut fields, &batch.token);
    put_uvarint(&mut fields, params.len() as u64);
    for (name, value) in params {
        put_str(&mut fields, name);
        put_str(&mut fields, value);
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(&fields);
    for piece in batch.body.plain(PIECE) {
        crc.update(&piece);
    }
    let payload_len = (fields.len() + batch.body.len()) as u32;
    let mut head = Vec::with_capacity(RECORD_HEADER as usize + fields.len());
    head.extend_from_slice(&payload_len.to_le_bytes());
    head.extend_from_slice(&crc.finalize().to_le_bytes());
    head.extend_from_slice(&fields);
    Record {
        head,
        body: &batch.body,
    }
}

/// The length of [`encode_record`]'s output for `batch`, without encoding
/// it: for a batch this process appended, where the record after it starts.
pub(crate) fn record_len(batch: &Batch) -> u64 {
    fn uvarint_len(mut n: u64) -> u64 {
        let mut len = 1;
        while n >= 0x80 {
            n >>= 7;
            len += 1;
        }
        len
    }
    let str_len = |s: &str| uvarint_len(s.len() as u64) + s.len() as u64;
    let params = &batch.constants.params;
    let fixed = 1 + 1 + 8 + str_len(&batch.token) + uvarint_len(params.len() as u64);
    let params_len: u64 = params.iter().map(|(n, v)| str_len(n) + str_len(v)).sum();
    RECORD_HEADER + fixed + params_len + batch.body.len() as u64
}

/// The batch a payload holds.
pub(crate) fn decode_payload(payload: &[u8]) -> Option<Batch> {
    let mut reader = RowReader::new(payload);
    let version = reader.u8()?;
    if version != PAYLOAD_VERSION && version != 1 {
        return None;
    }
    let table = Table::from_code(reader.u8()?)?;
    let rows = reader.u64()?;
    let token = reader.string()?;
    let params = reader.string_map()?;
    let body = match (version, table) {
        // Spans rows from before `TraceState`.
        (1, Table::Spans) => {
            Body::from_plain(&crate::pipeline::encode::add_trace_state(reader.rest())?)
        }
        _ => Body::from_plain(reader.rest()),
    };
    Some(Batch {
        table,
        rows,
        body,
        constants: Arc::new(BatchConstants { params }),
        token,
    })
}

/// The record after the header, if the header and checksum are right
/// (for tests of the codec).
#[cfg(test)]
pub(crate) fn decode_record(record: &[u8]) -> Option<Batch> {
    let payload = read_payload(&mut &record[..], record.len() as u64).ok()?;
    decode_payload(&payload)
}
