//! The spool directory: its lock, its segments, its cursor; the head,
//! acknowledgements, and the scan at opening (appending is in `append`).

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::segment::{RECORD_HEADER, decode_payload, read_payload, record_len, scan_segment};
use crate::batch::Batch;
use crate::config::{SpoolConfig, SpoolSync};
use crate::error::SpoolError;
use crate::report::report;
use crate::stats::Counters;

/// How long opening waits for the lock before it calls the spool taken.
/// A lock this process has just released can be held a moment longer by a
/// child it forked meanwhile on another thread (the child's copy of the
/// descriptor keeps the lock until its `exec` closes it).
const LOCK_WAIT: Duration = Duration::from_millis(500);

/// One segment file and how much of it is still owed to ClickHouse.
#[derive(Debug)]
pub(super) struct Segment {
    pub(super) number: u64,
    /// Where the first unacknowledged record starts.
    pub(super) read_at: u64,
    /// The end of the last intact record.
    pub(super) end: u64,
    /// Rows and batches not yet acknowledged.
    pub(super) rows: u64,
    pub(super) batches: u64,
}

/// The batch being sent when the spool deleted its segment to make room
/// (`SpoolFull::DropOldest`): its rows are counted when its insert ends,
/// as sent or as dropped, never both.
#[derive(Debug)]
pub(super) struct Evicted {
    pub(super) token: String,
    pub(super) rows: u64,
}

/// The open spool directory. Used by the flusher thread only.
#[derive(Debug)]
pub(crate) struct Spool {
    pub(super) dir: PathBuf,
    pub(super) config: SpoolConfig,
    /// Held for the lock; released when the spool is dropped.
    _lock: File,
    /// Oldest first; the last one is appended to when `writer` is set.
    pub(super) segments: VecDeque<Segment>,
    /// The newest segment's file, while it may still grow.
    pub(super) writer: Option<File>,
    pub(super) next_number: u64,
    /// The oldest unacknowledged batch and where the record after it starts.
    pub(super) head: Option<(Batch, u64)>,
    /// Whether the head came from memory ([`Spool::know_head`]) rather
    /// than from disk: only a batch read back counts as replayed.
    pub(super) head_from_memory: bool,
    /// The batch in flight whose segment was deleted to make room.
    pub(super) evicted: Option<Evicted>,
    pub(super) counters: Arc<Counters>,
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
        let waited_since = Instant::now();
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if waited_since.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(LOCK_WAIT / 20);
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(SpoolError::Locked {
                        path: dir.to_owned(),
                    });
                }
                Err(fs::TryLockError::Error(e)) => return Err(io_error(&lock_path)(e)),
            }
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
            head_from_memory: false,
            evicted: None,
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

    /// Batches waiting in the spool.
    pub(crate) fn batches(&self) -> u64 {
        self.segments.iter().map(|s| s.batches).sum()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Segment files in use.
    #[cfg(test)]
    pub(super) fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Disk space the segments take.
    pub(super) fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.end).sum()
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
                Ok(next) => {
                    self.head = Some(next);
                    self.head_from_memory = false;
                }
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

    /// Takes `batch` as the oldest batch not yet acknowledged without
    /// reading it from disk. Only for a batch this process appended and
    /// still holds in memory, when the caller knows nothing older waits in
    /// the spool: the record after it is found from its encoded length.
    pub(crate) fn know_head(&mut self, batch: &Batch) {
        while self.head.is_none() {
            let Some(segment) = self.segments.front() else {
                return;
            };
            if segment.read_at >= segment.end {
                self.remove_front_segment();
                continue;
            }
            self.head = Some((batch.clone(), segment.read_at + record_len(batch)));
            self.head_from_memory = true;
        }
    }

    /// Marks the batch in flight whose segment was deleted to make room
    /// acknowledged, if its token is `token`: it counts as sent, not dropped.
    pub(crate) fn acknowledge_evicted(&mut self, token: &str) -> bool {
        let it = self.evicted.as_ref().is_some_and(|e| e.token == token);
        if it {
            self.evicted = None;
        }
        it
    }

    /// The rows of the batch in flight whose segment was deleted.
    pub(crate) fn evicted_rows(&self) -> u64 {
        self.evicted.as_ref().map_or(0, |e| e.rows)
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
        if !self.head_from_memory {
            Counters::add(&self.counters.replayed_rows, batch.rows);
            Counters::add(&self.counters.replayed_batches, 1);
        }
        if read_at >= end {
            self.remove_front_segment();
        } else {
            // Losing this write costs a re-send, which the token makes harmless.
            let _ = write_cursor(&self.dir, number, read_at);
        }
        self.update_gauges();
        true
    }

    /// The insert under way ended without an acknowledgement (it failed,
    /// or delivery closed): if its batch's segment was deleted meanwhile,
    /// its rows are dropped now.
    pub(crate) fn insert_ended(&mut self) {
        if let Some(evicted) = self.evicted.take() {
            Counters::add(&self.counters.dropped_spool_full, evicted.rows);
        }
    }

    /// Forces what was written to the disk (at shutdown).
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        match (&self.writer, self.config.fsync) {
            (Some(file), SpoolSync::EveryBatch | SpoolSync::SegmentClose) => file.sync_data(),
            _ => Ok(()),
        }
    }

    pub(super) fn segment_path(&self, number: u64) -> PathBuf {
        self.dir.join(format!("{number:020}.seg"))
    }

    pub(super) fn remove_front_segment(&mut self) {
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
            Counters::add(&self.counters.dropped_spool_corrupt, scan.lost_rows);
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

    pub(super) fn update_gauges(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        self.counters.spool_rows.store(self.rows(), Relaxed);
        self.counters.spool_bytes.store(self.bytes(), Relaxed);
    }
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
