//! The disk spool: batches ClickHouse has not taken yet, kept in files so
//! that they outlast an outage longer than memory allows, and a restart.
//!
//! A spool directory holds:
//! - `LOCK`, locked exclusively while a process uses the spool, so two
//!   processes never interleave their batches;
//! - `cursor`, where replay stands (a segment number and an offset), so
//!   acknowledged batches are not sent again after a restart;
//! - segment files `<number>.seg`: an 8-byte magic, then records
//!   `len: u32 LE | crc32: u32 LE | payload[len]`, the CRC over the payload.
//!
//! Records are only appended. A segment is closed when it reaches
//! `segment_bytes` and deleted once all its batches were acknowledged.
//! Opening the spool scans every segment, so the rows waiting are known
//! exactly (and so are the rows dropped when the spool is full). A bad
//! checksum, a length past the end of the file or a payload that does not
//! decode ends the segment there: the rest is skipped and reported, never
//! appended to, and never crashes the replay.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::batch::{Batch, BatchConstants, Table};
use crate::config::{SpoolConfig, SpoolFull, SpoolSync};
use crate::error::SpoolError;
use crate::report::report;
use crate::rowbinary::{RowReader, put_str, put_u8, put_u64, put_uvarint};
use crate::stats::Counters;

/// The first bytes of every segment file; the last byte is the format version.
const MAGIC: &[u8; 8] = b"TCSPOOL\x01";
const RECORD_HEADER: u64 = 8;
/// No batch is this large; a longer length means a corrupt record.
const MAX_RECORD: u32 = 1 << 30;
const PAYLOAD_VERSION: u8 = 1;

/// What [`Spool::append`] did with a batch.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Appended {
    Written,
    /// The spool was full and refused it (`SpoolFull::DropNewest`, or a
    /// batch larger than the whole spool); its rows were counted as dropped.
    Dropped,
}

/// One segment file and how much of it is still owed to ClickHouse.
#[derive(Debug)]
struct Segment {
    number: u64,
    /// Where the first unacknowledged record starts.
    read_at: u64,
    /// The end of the last intact record.
    end: u64,
    /// Rows and batches not yet acknowledged.
    rows: u64,
    batches: u64,
}

/// The open spool directory. Used by the flusher thread only.
#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    config: SpoolConfig,
    /// Held for the lock; released when the spool is dropped.
    _lock: File,
    /// Oldest first; the last one is appended to when `writer` is set.
    segments: VecDeque<Segment>,
    /// The newest segment's file, while it may still grow.
    writer: Option<File>,
    next_number: u64,
    /// The oldest unacknowledged batch and where the record after it starts.
    head: Option<(Batch, u64)>,
    counters: Arc<Counters>,
}

impl Spool {
    /// Opens (creating if needed) and locks the spool in `config.dir`, and
    /// scans what a previous run left.
    pub(crate) fn open(
        dir: &Path,
        config: &SpoolConfig,
        counters: Arc<Counters>,
    ) -> Result<Spool, SpoolError> {
        let io_error = |path: &Path| {
            let path = path.to_owned();
            move |source| SpoolError::Io { path, source }
        };
        fs::create_dir_all(dir).map_err(io_error(dir))?;
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_error(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(SpoolError::Locked {
                    path: dir.to_owned(),
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_error(&lock_path)(e)),
        }

        let mut numbers = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_error(dir))? {
            let entry = entry.map_err(io_error(dir))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(number) = name.strip_suffix(".seg").and_then(|n| n.parse().ok()) {
                numbers.push(number);
            }
        }
        numbers.sort_unstable();

        let cursor = read_cursor(&dir.join("cursor"));
        let mut spool = Spool {
            dir: dir.to_owned(),
            config: config.clone(),
            _lock: lock,
            segments: VecDeque::new(),
            writer: None,
            next_number: numbers.last().map_or(1, |n| n + 1),
            head: None,
            counters,
        };
        for number in numbers {
            let path = spool.segment_path(number);
            let resume_at = match cursor {
                Some((at, _)) if number < at => {
                    // Acknowledged before the last run ended; only its deletion was lost.
                    fs::remove_file(&path).map_err(io_error(&path))?;
                    continue;
                }
                Some((at, offset)) if number == at => offset,
                _ => 0,
            };
            let segment = spool.scan(number, resume_at).map_err(io_error(&path))?;
            if segment.batches == 0 {
                fs::remove_file(&path).map_err(io_error(&path))?;
            } else {
                spool.segments.push_back(segment);
            }
        }
        spool.update_gauges();
        Ok(spool)
    }

    /// Rows waiting in the spool.
    pub(crate) fn rows(&self) -> u64 {
        self.segments.iter().map(|s| s.rows).sum()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Disk space the segments take.
    fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.end).sum()
    }

    /// Appends a batch, making room by the `when_full` policy.
    pub(crate) fn append(&mut self, batch: &Batch) -> io::Result<Appended> {
        let record = encode_record(batch);
        let size = record.len() as u64;
        while self.bytes() + size + MAGIC.len() as u64 > self.config.max_bytes {
            let oldest_goes = self.config.when_full == SpoolFull::DropOldest;
            if !oldest_goes || self.segments.is_empty() {
                Counters::add(&self.counters.dropped_spool_full, batch.rows);
                return Ok(Appended::Dropped);
            }
            self.drop_oldest_segment()?;
        }
        let rotate = match self.segments.back() {
            Some(last) if self.writer.is_some() => {
                last.end > MAGIC.len() as u64 && last.end + size > self.config.segment_bytes
            }
            _ => true,
        };
        if rotate {
            self.start_segment()?;
        }
        let (Some(file), Some(segment)) = (self.writer.as_mut(), self.segments.back_mut()) else {
            return Err(io::Error::other("no spool segment open for writing"));
        };
        if let Err(error) = file.write_all(&record) {
            // Cut the partial record off; if even that fails, never append
            // to this file again (its intact part stays readable).
            if file.set_len(segment.end).is_err() {
                self.writer = None;
            }
            return Err(error);
        }
        if self.config.fsync == SpoolSync::EveryBatch {
            file.sync_data()?;
        }
        segment.end += size;
        segment.rows = segment.rows.saturating_add(batch.rows);
        segment.batches += 1;
        Counters::add(&self.counters.spooled_rows, batch.rows);
        Counters::add(&self.counters.spooled_batches, 1);
        self.update_gauges();
        Ok(Appended::Written)
    }

    /// The oldest batch not yet acknowledged, read from disk once.
    pub(crate) fn head(&mut self) -> Option<&Batch> {
        while self.head.is_none() {
            let segment = self.segments.front()?;
            let (number, at, end) = (segment.number, segment.read_at, segment.end);
            if at >= end {
                // Everything in it was acknowledged.
                self.remove_front_segment();
                continue;
            }
            match self.read_record(number, at, end) {
                Ok(next) => self.head = Some(next),
                Err(reason) => {
                    // The file changed since the scan: give up on the rest of it.
                    let segment = &self.segments[0];
                    self.report_corrupt(number, at, end - at, &reason);
                    Counters::add(&self.counters.dropped_spool_corrupt, segment.rows);
                    self.remove_front_segment();
                }
            }
        }
        self.head.as_ref().map(|(batch, _)| batch)
    }

    /// Marks the head batch acknowledged, if its token is `token` (it may
    /// have been dropped to make room while it was being sent).
    pub(crate) fn acknowledge(&mut self, token: &str) -> bool {
        if self
            .head
            .as_ref()
            .is_none_or(|(head, _)| head.token != token)
        {
            return false;
        }
        let Some((batch, next)) = self.head.take() else {
            return false;
        };
        let segment = &mut self.segments[0];
        segment.read_at = next;
        segment.rows = segment.rows.saturating_sub(batch.rows);
        segment.batches -= 1;
        let (number, read_at, end) = (segment.number, segment.read_at, segment.end);
        Counters::add(&self.counters.replayed_rows, batch.rows);
        Counters::add(&self.counters.replayed_batches, 1);
        if read_at >= end {
            self.remove_front_segment();
        } else {
            // Losing this write costs a re-send, which the token makes harmless.
            let _ = write_cursor(&self.dir, number, read_at);
        }
        self.update_gauges();
        true
    }

    /// Forces what was written to the disk (at shutdown).
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        match (&self.writer, self.config.fsync) {
            (Some(file), SpoolSync::EveryBatch | SpoolSync::SegmentClose) => file.sync_data(),
            _ => Ok(()),
        }
    }

    fn segment_path(&self, number: u64) -> PathBuf {
        self.dir.join(format!("{number:020}.seg"))
    }

    fn start_segment(&mut self) -> io::Result<()> {
        if let Some(file) = self.writer.take()
            && self.config.fsync != SpoolSync::Never
        {
            file.sync_data()?;
        }
        let number = self.next_number;
        let mut file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(self.segment_path(number))?;
        file.write_all(MAGIC)?;
        if self.config.fsync != SpoolSync::Never {
            // The new file's directory entry must survive a crash too.
            file.sync_all()?;
            File::open(&self.dir)?.sync_all()?;
        }
        self.next_number += 1;
        self.segments.push_back(Segment {
            number,
            read_at: MAGIC.len() as u64,
            end: MAGIC.len() as u64,
            rows: 0,
            batches: 0,
        });
        self.writer = Some(file);
        Ok(())
    }

    /// Deletes the oldest segment to make room, counting its rows as dropped.
    fn drop_oldest_segment(&mut self) -> io::Result<()> {
        let rows = self.segments.front().map_or(0, |s| s.rows);
        Counters::add(&self.counters.dropped_spool_full, rows);
        self.remove_front_segment();
        Ok(())
    }

    fn remove_front_segment(&mut self) {
        let Some(segment) = self.segments.pop_front() else {
            return;
        };
        self.head = None;
        if self.segments.is_empty() {
            // It was the one being written.
            self.writer = None;
        }
        if let Err(error) = fs::remove_file(self.segment_path(segment.number)) {
            report(format_args!(
                "cannot delete spool segment {:?}: {error}",
                self.segment_path(segment.number)
            ));
        }
        // Replay resumes at the next segment's start.
        let _ = match self.segments.front() {
            Some(next) => write_cursor(&self.dir, next.number, next.read_at),
            None => write_cursor(&self.dir, self.next_number, 0),
        };
        self.update_gauges();
    }

    /// Reads the record at `at` of segment `number`.
    fn read_record(&self, number: u64, at: u64, end: u64) -> Result<(Batch, u64), String> {
        let mut file = File::open(self.segment_path(number)).map_err(|e| e.to_string())?;
        file.seek(SeekFrom::Start(at)).map_err(|e| e.to_string())?;
        let payload = read_payload(&mut file, end - at)?;
        let batch = decode_payload(&payload).ok_or("the record does not decode")?;
        Ok((batch, at + RECORD_HEADER + payload.len() as u64))
    }

    /// Counts the intact records of a segment from `resume_at` (the cursor;
    /// 0 for the whole segment) and reports what follows the last one.
    fn scan(&self, number: u64, resume_at: u64) -> io::Result<Segment> {
        let path = self.segment_path(number);
        let file = File::open(&path)?;
        let len = file.metadata()?.len();
        let scan = scan_segment(&mut BufReader::with_capacity(1 << 16, file), len);
        if let Some((at, reason)) = &scan.damage {
            self.report_corrupt(number, *at, len - at, reason);
        }
        let resume_at = if resume_at == 0 || resume_at >= scan.end {
            resume_at.min(scan.end)
        } else if scan.records.iter().any(|&(at, _)| at == resume_at) {
            resume_at
        } else {
            report(format_args!(
                "spool cursor {resume_at} of {path:?} is not a record \
                 boundary; replaying the whole segment (deduplication keeps it once)"
            ));
            0
        };
        let owed = scan.records.iter().filter(|&&(at, _)| at >= resume_at);
        Ok(Segment {
            number,
            read_at: resume_at.max(scan.start),
            end: scan.end,
            rows: owed
                .clone()
                .fold(0, |sum, &(_, rows)| sum.saturating_add(rows)),
            batches: owed.count() as u64,
        })
    }

    fn report_corrupt(&self, number: u64, at: u64, bytes: u64, reason: &str) {
        report(format_args!(
            "spool segment {:?} is damaged at byte {at} ({reason}); \
             skipping its last {bytes} bytes",
            self.segment_path(number)
        ));
        Counters::add(&self.counters.spool_corrupt_bytes, bytes);
    }

    fn update_gauges(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        self.counters.spool_rows.store(self.rows(), Relaxed);
        self.counters.spool_bytes.store(self.bytes(), Relaxed);
    }
}

/// What a segment holds: where its records start, their rows, and where
/// the intact part ends.
#[derive(Debug, Default)]
struct SegmentScan {
    /// Where records begin (after the magic), or 0 if the magic is wrong.
    start: u64,
    /// `(offset, rows)` of each intact record, in order.
    records: Vec<(u64, u64)>,
    /// The end of the last intact record.
    end: u64,
    /// Where and why reading stopped before the end of the file.
    damage: Option<(u64, String)>,
}

/// Reads a segment of `len` bytes front to back, stopping at the first
/// record that is truncated, fails its checksum or does not decode.
fn scan_segment(reader: &mut impl Read, len: u64) -> SegmentScan {
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
fn read_payload(reader: &mut impl Read, available: u64) -> Result<Vec<u8>, String> {
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

/// The batch a payload holds.
pub(crate) fn decode_payload(payload: &[u8]) -> Option<Batch> {
    let mut reader = RowReader::new(payload);
    if reader.u8()? != PAYLOAD_VERSION {
        return None;
    }
    let table = Table::from_code(reader.u8()?)?;
    let rows = reader.u64()?;
    let token = reader.string()?;
    let params = reader.string_map()?;
    Some(Batch {
        table,
        rows,
        body: Bytes::copy_from_slice(reader.rest()),
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

fn read_cursor(path: &Path) -> Option<(u64, u64)> {
    let text = fs::read_to_string(path).ok()?;
    let (number, offset) = text.trim().split_once(' ')?;
    Some((number.parse().ok()?, offset.parse().ok()?))
}

/// Replaces the cursor file in one rename, so it is never half written.
fn write_cursor(dir: &Path, number: u64, offset: u64) -> io::Result<()> {
    let tmp = dir.join("cursor.tmp");
    fs::write(&tmp, format!("{number} {offset}\n"))?;
    fs::rename(tmp, dir.join("cursor"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn batch(n: u64, body_len: usize) -> Batch {
        Batch {
            table: Table::ALL[(n % 3) as usize],
            rows: n + 1,
            body: Bytes::from(vec![n as u8; body_len]),
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
    fn drain(spool: &mut Spool) -> Vec<String> {
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
            && a.body == b.body
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
                assert_eq!(spool.append(b).unwrap(), Appended::Written);
            }
            assert_eq!(spool.rows(), (1..=10).sum::<u64>());
            assert_eq!(get(&counters.spooled_batches), 10);
            // Several segments were written.
            assert!(spool.segments.len() > 2, "{}", spool.segments.len());
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
            spool.append(&batch(n, 100)).unwrap();
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
            if spool.append(&batch(n, 100)).unwrap() == Appended::Dropped {
                refused += n + 1;
            }
        }
        assert_eq!(get(&counters.dropped_spool_full), refused);
        assert_eq!(spool.rows() + refused, (1..=20).sum::<u64>());
        // The oldest survived.
        assert_eq!(drain(&mut spool)[0], "tc-test-0");
    }

    /// Writes `n` batches into a fresh spool and returns the segment files.
    fn written_segments(dir: &Path, n: u64, segment_bytes: u64) -> Vec<PathBuf> {
        let config = config(1 << 20, segment_bytes, SpoolFull::DropOldest);
        let (mut spool, _) = open(dir, &config);
        for i in 0..n {
            spool.append(&batch(i, 100)).unwrap();
        }
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
        // New batches go to a new segment, never after the damage.
        spool.append(&batch(7, 10)).unwrap();
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
        spool.append(&batch(1, 10)).unwrap();
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
                body: Bytes::from(body),
                constants: Arc::new(BatchConstants { params }),
                token,
            })
    }

    proptest! {
        #[test]
        fn records_round_trip(batch in arb_batch()) {
            let record = encode_record(&batch);
            let back = decode_record(&record).expect("decodes");
            prop_assert!(same(&back, &batch));
        }

        #[test]
        fn a_damaged_record_is_refused_not_misread(
            batch in arb_batch(),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let mut record = encode_record(&batch);
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
                image.extend_from_slice(&encode_record(batch));
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
}
