//! Properties of the segment format over generated batches and bytes:
//! batches read back as they were written, a segment damaged anywhere gives
//! exactly the records before the damage, and any bytes scan to a prefix of
//! intact records, never a panic.

use std::sync::Arc;

use proptest::prelude::*;

use super::segment::{
    MAGIC, RECORD_HEADER, decode_record, encode_record, read_segment_image, record_len,
    scan_segment,
};
use crate::batch::{Batch, BatchConstants, Body, Table};

fn batch() -> impl Strategy<Value = Batch> {
    (
        proptest::sample::select(Table::ALL.to_vec()),
        any::<u64>(),
        proptest::collection::vec(any::<u8>(), 0..200),
        proptest::collection::vec((".{0,12}", ".{0,12}"), 0..4),
        ".{0,40}",
    )
        .prop_map(|(table, rows, body, params, token)| Batch {
            table,
            rows,
            body: Body::from_plain(&body),
            constants: Arc::new(BatchConstants { params }),
            token,
        })
}

/// A segment file of these batches, and where each record ends.
fn segment(batches: &[Batch]) -> (Vec<u8>, Vec<u64>) {
    let mut file = MAGIC.to_vec();
    let mut ends = Vec::new();
    for batch in batches {
        file.extend_from_slice(&encode_record(batch).to_vec());
        ends.push(file.len() as u64);
    }
    (file, ends)
}

fn same(a: &Batch, b: &Batch) -> bool {
    (
        a.table,
        a.rows,
        a.body.to_plain(),
        &a.constants.params,
        &a.token,
    ) == (
        b.table,
        b.rows,
        b.body.to_plain(),
        &b.constants.params,
        &b.token,
    )
}

/// The rows of the first `n` batches, as the scan adds them.
fn rows(batches: &[Batch], n: usize) -> u64 {
    batches[..n]
        .iter()
        .fold(0u64, |sum, b| sum.saturating_add(b.rows))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every batch reads back as written, the scan finds each record where
    /// it was appended, and `record_len` is the record's length.
    #[test]
    fn batches_read_back_as_written(batches in proptest::collection::vec(batch(), 0..6)) {
        let (file, ends) = segment(&batches);
        let scan = scan_segment(&mut &file[..], file.len() as u64);
        prop_assert_eq!(scan.start, MAGIC.len() as u64);
        prop_assert_eq!(scan.end, file.len() as u64);
        prop_assert!(scan.damage.is_none());
        let starts = std::iter::once(MAGIC.len() as u64).chain(ends.iter().copied());
        let expected: Vec<(u64, u64)> = starts.zip(batches.iter().map(|b| b.rows)).collect();
        prop_assert_eq!(&scan.records, &expected);
        for (batch, &(at, _)) in batches.iter().zip(&scan.records) {
            let record = encode_record(batch);
            prop_assert_eq!(record_len(batch), record.len());
            let back = decode_record(&file[at as usize..(at + record.len()) as usize]);
            prop_assert!(back.is_some_and(|back| same(&back, batch)));
        }
        prop_assert_eq!(read_segment_image(&file), (rows(&batches, batches.len()), 0));
    }

    /// A segment cut anywhere (a crash mid-write) gives exactly the records
    /// that end before the cut, and counts the rest as skipped.
    #[test]
    fn a_cut_segment_gives_the_records_before_the_cut(
        batches in proptest::collection::vec(batch(), 1..5),
        cut in any::<proptest::sample::Index>(),
    ) {
        let (file, ends) = segment(&batches);
        let cut = cut.index(file.len() + 1);
        let whole = ends.iter().filter(|&&end| end <= cut as u64).count();
        let (rows_read, skipped) = read_segment_image(&file[..cut]);
        if cut < MAGIC.len() {
            prop_assert_eq!((rows_read, skipped), (0, cut as u64), "no magic");
        } else {
            let end = if whole == 0 { MAGIC.len() as u64 } else { ends[whole - 1] };
            prop_assert_eq!((rows_read, skipped), (rows(&batches, whole), cut as u64 - end));
        }
    }

    /// One byte changed anywhere: the records before it are intact, the one
    /// it falls in is not taken (CRC-32 sees every change of one byte), and
    /// nothing after it is.
    #[test]
    fn a_changed_byte_ends_the_segment_at_its_record(
        batches in proptest::collection::vec(batch(), 1..5),
        at in any::<proptest::sample::Index>(),
        change in 1u8..=255,
    ) {
        let (mut file, ends) = segment(&batches);
        let at = at.index(file.len());
        file[at] ^= change;
        let scan = scan_segment(&mut &file[..], file.len() as u64);
        if at < MAGIC.len() {
            prop_assert!(scan.records.is_empty() && scan.damage.is_some());
        } else {
            let before = ends.iter().filter(|&&end| end <= at as u64).count();
            prop_assert_eq!(scan.records.len(), before, "damage at {}", at);
            prop_assert!(scan.damage.is_some());
        }
    }

    /// Any bytes after the magic (a file that is not what we wrote): the
    /// scan ends within the file, at the end of its last intact record,
    /// with a reason whenever that is before the end of the file.
    #[test]
    fn any_bytes_scan_to_a_prefix_of_records(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut file = MAGIC.to_vec();
        file.extend_from_slice(&tail);
        let len = file.len() as u64;
        let scan = scan_segment(&mut &file[..], len);
        prop_assert!(scan.end <= len);
        prop_assert_eq!(scan.damage.is_some(), scan.end < len);
        let mut at = MAGIC.len() as u64;
        for &(offset, _) in &scan.records {
            prop_assert!(offset == at && offset + RECORD_HEADER <= scan.end);
            at = offset + RECORD_HEADER;
        }
        let (_, skipped) = read_segment_image(&file);
        prop_assert_eq!(skipped, len - scan.end);
    }

    /// A record header that claims any length, up to `u32::MAX`, with few
    /// bytes behind it: an error, and no buffer of the claimed size.
    #[test]
    fn a_length_past_the_file_is_an_error(claimed in any::<u32>(), tail in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut file = MAGIC.to_vec();
        file.extend_from_slice(&claimed.to_le_bytes());
        file.extend_from_slice(&[0; 4]);
        file.extend_from_slice(&tail);
        let scan = scan_segment(&mut &file[..], file.len() as u64);
        if u64::from(claimed) > tail.len() as u64 {
            prop_assert!(scan.records.is_empty());
            prop_assert_eq!(scan.end, MAGIC.len() as u64);
            prop_assert!(scan.damage.is_some());
        }
    }
}
