//! The spool when it is full: on a disk that fills up (a small tmpfs,
//! mounted here: these tests need root, as CI's `make test` has), and by
//! `SpoolFull::DropOldest` while a batch is in flight.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard};

use super::append::Appended;
use super::store::*;
use super::tests::drain;
use crate::batch::{Batch, BatchConstants, Body, Table};
use crate::config::{SpoolConfig, SpoolFull, SpoolSync};
use crate::stats::Counters;

/// A tmpfs of `size` (as `mount -o size=` takes it), unmounted when
/// dropped. One at a time: no other test of these forks a process (mount)
/// while one writes or deletes a file, since a forked child holds the
/// parent's descriptors until its `exec` (and with them the space of a
/// deleted file, and the spool's lock).
struct SmallDisk {
    dir: tempfile::TempDir,
    _one_at_a_time: MutexGuard<'static, ()>,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        static ONE: Mutex<()> = Mutex::new(());
        let guard = ONE.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "cannot mount a {size} tmpfs at {:?} (this test needs root, as CI has): {}",
            dir.path(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        SmallDisk {
            dir,
            _one_at_a_time: guard,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A file taking all the space but `leave` bytes (to the page).
    fn fill(&self, leave: u64) -> PathBuf {
        let path = self.path().join("filler");
        let mut filler = fs::File::create(&path).unwrap();
        let chunk = [0u8; 4096];
        while filler.write_all(&chunk).is_ok() {}
        let len = filler.metadata().unwrap().len();
        filler.set_len(len.saturating_sub(leave)).unwrap();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn batch(n: u64, body_len: usize) -> Batch {
    Batch {
        table: Table::Logs,
        rows: 10,
        body: Body::from_plain(&vec![n as u8; body_len]),
        constants: Arc::new(BatchConstants { params: vec![] }),
        token: format!("tc-full-{n}"),
    }
}

fn config(dir: &Path, max_bytes: u64, segment_bytes: u64, when_full: SpoolFull) -> SpoolConfig {
    SpoolConfig {
        dir: Some(dir.to_owned()),
        max_bytes,
        segment_bytes,
        fsync: SpoolSync::EveryBatch,
        when_full,
        write_after: std::time::Duration::from_secs(5),
    }
}

fn open(config: &SpoolConfig) -> (Spool, Arc<Counters>) {
    let counters = Arc::new(Counters::default());
    let dir = config.dir.as_ref().unwrap();
    let spool = Spool::open(dir, config, Arc::clone(&counters)).unwrap();
    (spool, counters)
}

#[test]
fn a_write_the_disk_refuses_leaves_nothing_behind_and_the_next_follows_the_last_record() {
    let disk = SmallDisk::mount("256k");
    let config = config(
        &disk.path().join("spool"),
        1 << 30,
        1 << 30,
        SpoolFull::DropNewest,
    );
    let (mut spool, counters) = open(&config);
    let filler = disk.fill(40 << 10);
    let mut written = Vec::new();
    let room = loop {
        let n = written.len() as u64;
        match spool.append(&batch(n, 6_000), None).unwrap() {
            Appended::Written => written.push(format!("tc-full-{n}")),
            Appended::DiskFull { room, error } => {
                assert_eq!(error.kind(), std::io::ErrorKind::StorageFull);
                break room;
            }
            Appended::OverCap { .. } => panic!("not at max_bytes"),
        }
    };
    assert!(written.len() >= 4, "{written:?}");
    // The disk took part of the record, and said how much.
    assert!(room < 6_000 + 100, "{room}");
    assert_eq!(spool.rows(), 10 * written.len() as u64);
    assert_eq!(
        counters.dropped_spool_full.load(Relaxed),
        0,
        "the caller counts"
    );
    // Room again: the next records go right after the intact ones.
    fs::remove_file(filler).unwrap();
    for n in 100..103 {
        assert!(matches!(
            spool.append(&batch(n, 6_000), None).unwrap(),
            Appended::Written
        ));
        written.push(format!("tc-full-{n}"));
    }
    drop(spool);
    let (mut spool, counters) = open(&config);
    assert_eq!(counters.spool_corrupt_bytes.load(Relaxed), 0);
    assert_eq!(drain(&mut spool), written);
}

#[test]
fn a_segment_the_disk_cannot_begin_is_not_left_behind() {
    let disk = SmallDisk::mount("128k");
    let dir = disk.path().join("spool");
    // Every record begins a segment of its own.
    let config = config(&dir, 1 << 30, 1, SpoolFull::DropNewest);
    let (mut spool, _) = open(&config);
    assert!(matches!(
        spool.append(&batch(0, 1_000), None).unwrap(),
        Appended::Written
    ));
    let filler = disk.fill(0);
    // Full to the last page: the new segment's file cannot take its magic.
    assert!(matches!(
        spool.append(&batch(1, 1_000), None).unwrap(),
        Appended::DiskFull { room: 0, .. }
    ));
    let segments = |dir: &Path| {
        let names = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name());
        names
            .filter(|n| n.to_string_lossy().ends_with(".seg"))
            .count()
    };
    assert_eq!(segments(&dir), 1, "no empty segment left");
    fs::remove_file(filler).unwrap();
    assert!(matches!(
        spool.append(&batch(2, 1_000), None).unwrap(),
        Appended::Written
    ));
    assert_eq!(drain(&mut spool), ["tc-full-0", "tc-full-2"]);
}

#[test]
fn on_a_full_disk_drop_oldest_deletes_older_segments_but_not_the_one_written() {
    let disk = SmallDisk::mount("128k");
    let dir = disk.path().join("spool");
    let segmented = config(&dir, 1 << 30, 20_000, SpoolFull::DropOldest);
    let (mut spool, counters) = open(&segmented);
    let _filler = disk.fill(64 << 10);
    // Batches of 10 rows fill the disk; the oldest segments go.
    for n in 0..40 {
        let appended = spool.append(&batch(n, 6_000), None).unwrap();
        assert!(matches!(appended, Appended::Written), "{n}: {appended:?}");
    }
    let dropped = counters.dropped_spool_full.load(Relaxed);
    assert!(dropped > 0);
    assert_eq!(spool.rows() + dropped, 400);
    let tokens = drain(&mut spool);
    assert_eq!(tokens.last().unwrap(), "tc-full-39", "the newest kept");

    // A disk smaller than one segment: the segment being written stays.
    let one_segment = config(&dir, 1 << 30, 1 << 30, SpoolFull::DropOldest);
    drop(spool);
    let (mut spool, counters) = open(&one_segment);
    let mut written = 0;
    while let Appended::Written = spool.append(&batch(written, 6_000), None).unwrap() {
        written += 1;
    }
    assert!(written > 0);
    assert_eq!(spool.rows(), 10 * written);
    assert_eq!(counters.dropped_spool_full.load(Relaxed), 0);
}

#[test]
fn drop_oldest_counts_the_batch_in_flight_once_sent_or_dropped() {
    let dir = tempfile::tempdir().unwrap();
    // Two records per segment, four in the spool.
    let config = config(dir.path(), 4 * 1_100, 2 * 1_050, SpoolFull::DropOldest);
    for acknowledged in [true, false] {
        let (mut spool, counters) = open(&config);
        for n in 0..4 {
            spool.append(&batch(n, 1_000), None).unwrap();
        }
        // Batch 0 is sent; meanwhile a new batch makes room.
        let sending = spool.head().unwrap().token.clone();
        spool.append(&batch(4, 1_000), Some(&sending)).unwrap();
        // Its segment is gone: batch 1 is counted now, batch 0 when its
        // insert ends.
        assert_eq!(counters.dropped_spool_full.load(Relaxed), 10);
        assert_eq!(spool.evicted_rows(), 10);
        if acknowledged {
            assert!(spool.acknowledge_evicted(&sending));
            assert_eq!(counters.dropped_spool_full.load(Relaxed), 10);
        } else {
            spool.insert_ended();
            assert_eq!(counters.dropped_spool_full.load(Relaxed), 20);
        }
        assert_eq!(spool.evicted_rows(), 0);
        assert_eq!(drain(&mut spool), ["tc-full-2", "tc-full-3", "tc-full-4"]);
    }
}
