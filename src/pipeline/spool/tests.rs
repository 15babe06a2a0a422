//! The spool across segments, restarts, full disks and damage; the record
//! codec and the segment reader under property tests.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use proptest::prelude::*;

use super::append::Appended;
use super::segment::*;
use super::store::*;
use crate::batch::{Batch, BatchConstants, Body, Table};
use crate::config::{SpoolConfig, SpoolFull, SpoolSync};
use crate::error::SpoolError;
use crate::stats::Counters;

fn batch(n: u64, body_len: usize) -> Batch {
    Batch {
        table: Table::ALL[(n % 3) as usize],
        rows: n + 1,
        body: Body::from_plain(&vec![n as u8; body_len]),
        constants: Arc::new(BatchConstants {
            params: vec![("param_service".into(), format!("svc-{n}"))],
        }),
        token: format!("tc-test-{n}"),
    }
}

fn config(max_bytes: u64, segment_bytes: u64, when_full: SpoolFull) -> SpoolConfig {
    SpoolConfig {
        dir: None,
        max_bytes,
        segment_bytes,
        fsync: SpoolSync::EveryBatch,
        when_full,
        write_after: std::time::Duration::from_secs(5),
    }
}

fn open(dir: &Path, config: &SpoolConfig) -> (Spool, Arc<Counters>) {
    let counters = Arc::new(Counters::default());
    let spool = Spool::open(dir, config, Arc::clone(&counters)).expect("open the spool");
    (spool, counters)
}

fn get(counter: &std::sync::atomic::AtomicU64) -> u64 {
    counter.load(std::sync::atomic::Ordering::Relaxed)
}

/// Acknowledges every batch in order and returns their tokens.
pub(super) fn drain(spool: &mut Spool) -> Vec<String> {
    let mut tokens = Vec::new();
    while let Some(head) = spool.head() {
        let token = head.token.clone();
        assert!(spool.acknowledge(&token));
        tokens.push(token);
    }
    tokens
}

fn same(a: &Batch, b: &Batch) -> bool {
    a.table == b.table
        && a.rows == b.rows
        && a.body.to_plain() == b.body.to_plain()
        && a.token == b.token
        && a.constants.params == b.constants.params
}

#[test]
fn batches_come_back_in_order_across_segments_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(1 << 20, 300, SpoolFull::DropOldest);
    let written: Vec<Batch> = (0..10).map(|n| batch(n, 100)).collect();
    {
        let (mut spool, counters) = open(dir.path(), &config);
        for b in &written {
            assert!(matches!(spool.append(b, None).unwrap(), Appended::Written));
        }
        assert_eq!(spool.rows(), (1..=10).sum::<u64>());
        assert_eq!(get(&counters.spooled_batches), 10);
        // Several segments were written.
        assert!(spool.segment_count() > 2, "{}", spool.segment_count());
        // Three acknowledged, then the process ends.
        for b in &written[..3] {
            assert!(same(spool.head().unwrap(), b));
            assert!(spool.acknowledge(&b.token));
        }
        // A token that is not the head's acknowledges nothing.
        assert!(!spool.acknowledge("tc-test-9"));
    }
    let (mut spool, counters) = open(dir.path(), &config);
    assert_eq!(spool.rows(), (4..=10).sum::<u64>());
    let expected: Vec<String> = written[3..].iter().map(|b| b.token.clone()).collect();
    let first = spool.head().unwrap().clone();
    assert!(same(&first, &written[3]));
    assert_eq!(drain(&mut spool), expected);
    assert_eq!(get(&counters.replayed_batches), 7);
    assert!(spool.is_empty());
    drop(spool);
    // Nothing is left to replay, and the segment files are gone.
    let (spool, _) = open(dir.path(), &config);
    assert!(spool.is_empty());
    let segments = fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "seg")
        })
        .count();
    assert_eq!(segments, 0);
}

#[test]
fn a_second_user_of_the_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(1 << 20, 1 << 16, SpoolFull::DropOldest);
    let (_spool, _) = open(dir.path(), &config);
    let again = Spool::open(dir.path(), &config, Arc::default());
    assert!(matches!(again, Err(SpoolError::Locked { .. })), "{again:?}");
}

#[test]
fn when_full_the_oldest_segment_goes_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    // Each record is ~150 bytes; segments hold one or two; the spool ~5.
    let config = config(800, 300, SpoolFull::DropOldest);
    let (mut spool, counters) = open(dir.path(), &config);
    for n in 0..20 {
        spool.append(&batch(n, 100), None).unwrap();
    }
    assert!(spool.bytes() <= 800, "{}", spool.bytes());
    let kept = spool.rows();
    let dropped = get(&counters.dropped_spool_full);
    // Every row is either still there or counted as dropped.
    assert_eq!(kept + dropped, (1..=20).sum::<u64>());
    assert!(dropped > 0);
    // The newest survived.
    let tokens = drain(&mut spool);
    assert_eq!(tokens.last().unwrap(), "tc-test-19");
}

#[test]
fn drop_newest_refuses_what_does_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(800, 300, SpoolFull::DropNewest);
    let (mut spool, counters) = open(dir.path(), &config);
    let mut refused = 0;
    for n in 0..20 {
        if let Appended::OverCap { .. } = spool.append(&batch(n, 100), None).unwrap() {
            refused += n + 1;
        }
    }
    // Refused, not dropped: the caller decides (and counts).
    assert_eq!(get(&counters.dropped_spool_full), 0);
    assert_eq!(spool.rows() + refused, (1..=20).sum::<u64>());
    // The oldest survived.
    assert_eq!(drain(&mut spool)[0], "tc-test-0");
}

/// Writes `n` batches into a fresh spool and returns the segment files.
fn written_segments(dir: &Path, n: u64, segment_bytes: u64) -> Vec<PathBuf> {
    let config = config(1 << 20, segment_bytes, SpoolFull::DropOldest);
    let (mut spool, _) = open(dir, &config);
    for i in 0..n {
        spool.append(&batch(i, 100), None).unwrap();
    }
    segment_files(dir)
}

/// The spool's segment files in `dir`, oldest first.
pub(crate) fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    files.sort();
    files
}

#[test]
fn a_corrupt_record_ends_its_segment_and_replay_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    // Two segments of three records each.
    let files = written_segments(dir.path(), 6, 3 * 160);
    assert_eq!(files.len(), 2, "{files:?}");
    // Flip a byte in the second record of the first segment.
    let mut bytes = fs::read(&files[0]).unwrap();
    let second = 8 + (bytes.len() - 8) / 3 + 20;
    bytes[second] ^= 0xff;
    fs::write(&files[0], bytes).unwrap();

    let config = config(1 << 20, 3 * 160, SpoolFull::DropOldest);
    let (mut spool, counters) = open(dir.path(), &config);
    assert!(get(&counters.spool_corrupt_bytes) > 0);
    // The damaged record's rows (its count is intact) and the next one's.
    assert_eq!(get(&counters.dropped_spool_corrupt), 2 + 3);
    let tokens = drain(&mut spool);
    assert_eq!(tokens, ["tc-test-0", "tc-test-3", "tc-test-4", "tc-test-5"]);
}

#[test]
fn a_truncated_segment_gives_back_its_intact_records() {
    let dir = tempfile::tempdir().unwrap();
    let files = written_segments(dir.path(), 3, 1 << 20);
    assert_eq!(files.len(), 1);
    let len = fs::metadata(&files[0]).unwrap().len();
    // Cut the last record in half, as a crash mid-write would.
    OpenOptions::new()
        .write(true)
        .open(&files[0])
        .unwrap()
        .set_len(len - 50)
        .unwrap();
    let config = config(1 << 20, 1 << 20, SpoolFull::DropOldest);
    let (mut spool, counters) = open(dir.path(), &config);
    assert_eq!(spool.rows(), 1 + 2);
    assert!(get(&counters.spool_corrupt_bytes) > 0);
    // The cut record's rows, read from what is left of it.
    assert_eq!(get(&counters.dropped_spool_corrupt), 3);
    // New batches go to a new segment, never after the damage.
    spool.append(&batch(7, 10), None).unwrap();
    assert_eq!(drain(&mut spool), ["tc-test-0", "tc-test-1", "tc-test-7"]);
}

#[test]
fn a_file_that_is_not_a_segment_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("00000000000000000001.seg"), b"garbage").unwrap();
    let config = config(1 << 20, 1 << 20, SpoolFull::DropOldest);
    let (mut spool, counters) = open(dir.path(), &config);
    assert!(spool.is_empty());
    assert_eq!(get(&counters.spool_corrupt_bytes), 7);
    spool.append(&batch(1, 10), None).unwrap();
    assert_eq!(drain(&mut spool), ["tc-test-1"]);
}

fn arb_batch() -> impl Strategy<Value = Batch> {
    (
        0u8..3,
        any::<u64>(),
        "[ -~]{0,40}",
        proptest::collection::vec(("[a-z_]{1,20}", any::<String>()), 0..4),
        proptest::collection::vec(any::<u8>(), 0..512),
    )
        .prop_map(|(table, rows, token, params, body)| Batch {
            table: Table::from_code(table).unwrap(),
            rows,
            body: Body::from_plain(&body),
            constants: Arc::new(BatchConstants { params }),
            token,
        })
}

proptest! {
    #[test]
    fn records_round_trip(batch in arb_batch()) {
        let record = encode_record(&batch).to_vec();
        let back = decode_record(&record).expect("decodes");
        prop_assert!(same(&back, &batch));
        prop_assert_eq!(record_len(&batch), record.len() as u64);
    }

    #[test]
    fn a_damaged_record_is_refused_not_misread(
        batch in arb_batch(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let mut record = encode_record(&batch).to_vec();
        let at = at.index(record.len());
        record[at] ^= flip;
        // Either the damage is caught, or (a flipped length that still
        // fits) what decodes is not silently a different batch.
        if let Some(back) = decode_record(&record) {
            prop_assert!(same(&back, &batch));
        }
    }

    #[test]
    fn segment_images_give_back_the_rows_of_their_intact_records(
        batches in proptest::collection::vec(arb_batch(), 0..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut image = MAGIC.to_vec();
        let mut ends = Vec::new();
        for batch in &batches {
            image.extend_from_slice(&encode_record(batch).to_vec());
            ends.push(image.len());
        }
        let total = batches.iter().fold(0u64, |s, b| s.saturating_add(b.rows));
        prop_assert_eq!(read_segment_image(&image), (total, 0));
        // Cut anywhere: the records before the cut, and the rest skipped.
        let cut = cut.index(image.len() + 1);
        let whole = ends.iter().take_while(|&&end| end <= cut).count();
        let rows = batches[..whole].iter().fold(0u64, |s, b| s.saturating_add(b.rows));
        let kept = if whole == 0 { MAGIC.len().min(cut) } else { ends[whole - 1] };
        let skipped = if cut < MAGIC.len() { cut } else { cut - kept };
        prop_assert_eq!(read_segment_image(&image[..cut]), (rows, skipped as u64));
    }

    #[test]
    fn rows_cut_off_are_counted_lost_when_their_count_is_there(
        batches in proptest::collection::vec(arb_batch(), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        // Possible batches: no more rows than their body has bytes.
        let batches: Vec<Batch> = batches
            .into_iter()
            .map(|b| Batch { rows: b.rows % (b.body.len() as u64 + 1), ..b })
            .collect();
        let mut image = MAGIC.to_vec();
        let mut starts = Vec::new();
        for batch in &batches {
            starts.push(image.len());
            image.extend_from_slice(&encode_record(batch).to_vec());
        }
        let cut = MAGIC.len() + cut.index(image.len() - MAGIC.len() + 1);
        let scan = scan_segment(&mut &image[..cut], cut as u64);
        let kept: u64 = scan.records.iter().map(|&(_, rows)| rows).sum();
        // A record's count is its payload's bytes 2..10, after the header.
        let readable: u64 = batches
            .iter()
            .zip(&starts)
            .filter(|&(_, &start)| start + RECORD_HEADER as usize + 10 <= cut)
            .map(|(b, _)| b.rows)
            .sum();
        prop_assert_eq!(kept + scan.lost_rows, readable);
    }

    #[test]
    fn any_segment_bytes_are_read_without_panicking(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        magic in any::<bool>(),
    ) {
        let mut image = if magic { MAGIC.to_vec() } else { Vec::new() };
        image.extend_from_slice(&bytes);
        let (_, skipped) = read_segment_image(&image);
        prop_assert!(skipped <= image.len() as u64);
    }

    #[test]
    fn any_bytes_are_read_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_record(&bytes);
        let _ = decode_payload(&bytes);
    }
}
