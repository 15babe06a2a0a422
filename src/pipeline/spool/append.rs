//! Appending to the spool: a record at the end of the newest segment, a
//! new segment when it is full, and room made by the `when_full` policy
//! (deleting the oldest segments) when the spool is at its `max_bytes` or
//! its disk is full.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};

use super::segment::{MAGIC, Record, encode_record};
use super::store::{Evicted, Segment, Spool};
use crate::batch::Batch;
use crate::config::{SpoolFull, SpoolSync};
use crate::stats::Counters;

/// What [`Spool::append`] did with a batch.
#[derive(Debug)]
pub(crate) enum Appended {
    Written,
    /// Not written: the spool is at its `max_bytes` and its policy keeps
    /// what it holds (`SpoolFull::DropNewest`, or nothing older to delete).
    /// A record of up to `room` bytes would still fit.
    OverCap {
        room: u64,
    },
    /// Not written: the spool's disk is full (or the user's quota is used
    /// up), and with `SpoolFull::DropOldest` nothing older was left to
    /// delete. The disk took `room` bytes of the record before it said so.
    DiskFull {
        room: u64,
        error: io::Error,
    },
}

impl Spool {
    /// Appends a batch, making room by the `when_full` policy (and the same
    /// when the disk is full, but for the segment being written). `sending`
    /// is the token of the batch in flight: if its segment is deleted, its
    /// rows are counted when its insert ends
    /// ([`Spool::acknowledge_evicted`], [`Spool::insert_ended`]).
    pub(crate) fn append(&mut self, batch: &Batch, sending: Option<&str>) -> io::Result<Appended> {
        let record = encode_record(batch);
        let size = record.len();
        let oldest_goes = self.config.when_full == SpoolFull::DropOldest;
        while self.bytes() + size + MAGIC.len() as u64 > self.config.max_bytes {
            if !oldest_goes || self.segments.is_empty() {
                let room = self.config.max_bytes.saturating_sub(self.bytes());
                return Ok(Appended::OverCap {
                    room: room.saturating_sub(MAGIC.len() as u64),
                });
            }
            self.drop_oldest_segment(sending);
        }
        loop {
            match self.write_record(&record) {
                Ok(()) => break,
                Err((error, room)) if is_disk_full(&error) => {
                    // Never the segment being written: that would throw
                    // away all a disk smaller than a segment holds, to
                    // make room for one batch.
                    let closed = self.segments.len() - usize::from(self.writer.is_some());
                    if !oldest_goes || closed == 0 {
                        return Ok(Appended::DiskFull { room, error });
                    }
                    self.drop_oldest_segment(sending);
                }
                Err((error, _)) => return Err(error),
            }
        }
        let Some(segment) = self.segments.back_mut() else {
            return Err(io::Error::other("no spool segment open for writing"));
        };
        segment.end += size;
        segment.rows = segment.rows.saturating_add(batch.rows);
        segment.batches += 1;
        Counters::add(&self.counters.spooled_rows, batch.rows);
        Counters::add(&self.counters.spooled_batches, 1);
        self.update_gauges();
        Ok(Appended::Written)
    }

    /// Writes a record at the end of the newest segment (a new one if it
    /// is full). On failure nothing of it stays in the file, and the error
    /// comes with the bytes the disk took before it failed.
    fn write_record(&mut self, record: &Record<'_>) -> Result<(), (io::Error, u64)> {
        let size = record.len();
        let rotate = match self.segments.back() {
            Some(last) if self.writer.is_some() => {
                last.end > MAGIC.len() as u64 && last.end + size > self.config.segment_bytes
            }
            _ => true,
        };
        if rotate {
            self.start_segment().map_err(|e| (e, 0))?;
        }
        let (Some(file), Some(segment)) = (self.writer.as_mut(), self.segments.back()) else {
            return Err((io::Error::other("no spool segment open for writing"), 0));
        };
        let mut taken = 0;
        let mut result = Ok(());
        'pieces: for piece in record.pieces() {
            let mut at = 0;
            while at < piece.len() {
                match file.write(&piece[at..]) {
                    Ok(0) => {
                        result = Err(io::Error::from(io::ErrorKind::WriteZero));
                        break 'pieces;
                    }
                    Ok(n) => {
                        at += n;
                        taken += n as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        result = Err(e);
                        break 'pieces;
                    }
                }
            }
        }
        if result.is_ok() && self.config.fsync == SpoolSync::EveryBatch {
            result = file.sync_data();
        }
        let Err(error) = result else { return Ok(()) };
        // Cut the partial (or unsynced) record off: the file is opened for
        // appending, so the next record goes right after the last intact
        // one. If even that fails, never append to this file again (its
        // intact part stays readable; the next record starts a segment).
        if file.set_len(segment.end).is_err() {
            self.writer = None;
        }
        Err((error, taken))
    }

    fn start_segment(&mut self) -> io::Result<()> {
        if let Some(file) = self.writer.take()
            && self.config.fsync != SpoolSync::Never
        {
            file.sync_data()?;
        }
        let number = self.next_number;
        let path = self.segment_path(number);
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)?;
        let begun = (&file).write_all(MAGIC).and_then(|()| {
            if self.config.fsync != SpoolSync::Never {
                // The new file's directory entry must survive a crash too.
                file.sync_all()?;
                File::open(&self.dir)?.sync_all()?;
            }
            Ok(())
        });
        if let Err(error) = begun {
            // Not a segment yet: gone, so the next try can make it again.
            let _ = fs::remove_file(&path);
            return Err(error);
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

    /// Deletes the oldest segment to make room, counting its rows as
    /// dropped; but those of the batch in flight (`sending`), if it is the
    /// head, are counted when its insert ends.
    fn drop_oldest_segment(&mut self, sending: Option<&str>) {
        let mut rows = self.segments.front().map_or(0, |s| s.rows);
        if let (Some((head, _)), Some(token)) = (&self.head, sending)
            && head.token == token
        {
            rows -= head.rows;
            self.evicted = Some(Evicted {
                token: head.token.clone(),
                rows: head.rows,
            });
        }
        Counters::add(&self.counters.dropped_spool_full, rows);
        self.remove_front_segment();
    }
}

/// Whether a write failed for want of space: the disk is full, or the
/// user's quota is used up.
fn is_disk_full(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}
