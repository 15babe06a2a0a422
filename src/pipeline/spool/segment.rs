//! The segment file format: a magic, then records `len | crc32 | payload`,
//! each payload one batch in RowBinary; and reading a segment front to back
//! up to the first damage.

use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;

use crate::batch::{Batch, BatchConstants, Table};
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
        let record = read_payload(reader, len - at).and_then(|payload| {
            // Decoded whole, so that what the scan accepts, replay can send.
            let batch = decode_payload(&payload).ok_or("the record does not decode")?;
            let rows = batch.rows;
            Ok((rows, payload.len() as u64))
        });
        match record {
            Ok((rows, payload_len)) => {
                scan.records.push((at, rows));
                scan.end = at + RECORD_HEADER + payload_len;
            }
            Err(reason) => {
                scan.damage = Some((at, reason));
                break;
            }
        }
    }
    scan
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
    let mut header = [0; RECORD_HEADER as usize];
    reader
        .read_exact(&mut header)
        .map_err(|_| "truncated record header".to_owned())?;
    let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
    if len > MAX_RECORD || u64::from(len) + RECORD_HEADER > available {
        return Err(format!("record length {len} runs past the end"));
    }
    let mut payload = vec![0; len as usize];
    reader
        .read_exact(&mut payload)
        .map_err(|_| "truncated record".to_owned())?;
    if crc32fast::hash(&payload) != crc {
        return Err("checksum mismatch".to_owned());
    }
    Ok(payload)
}

/// A batch as a spool record (header included).
pub(crate) fn encode_record(batch: &Batch) -> Vec<u8> {
    // The payload's fields in RowBinary, read back by the same `RowReader`
    // as rows are; the body, already RowBinary, is the rest.
    let params = &batch.constants.params;
    let mut payload = Vec::with_capacity(64 + batch.token.len() + batch.body.len());
    put_u8(&mut payload, PAYLOAD_VERSION);
    put_u8(&mut payload, batch.table.code());
    put_u64(&mut payload, batch.rows);
    put_str(&mut payload, &batch.token);
    put_uvarint(&mut payload, params.len() as u64);
    for (name, value) in params {
        put_str(&mut payload, name);
        put_str(&mut payload, value);
    }
    payload.extend_from_slice(&batch.body);

    let mut record = Vec::with_capacity(RECORD_HEADER as usize + payload.len());
    record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    record.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    record.extend_from_slice(&payload);
    record
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
        (1, Table::Spans) => Bytes::from(crate::pipeline::encode::add_trace_state(reader.rest())?),
        _ => Bytes::copy_from_slice(reader.rest()),
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
