//! When batches are written to the spool, on a clock of the tests' own: not
//! while inserts succeed, at once from a failed insert until the spool is
//! empty again, when an insert went `write_after` without an answer (not
//! for a backlog behind inserts that are answered); and written batches
//! kept in memory, sent from there and counted once.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use super::Pending;
use crate::batch::{Batch, BatchConstants, Body, Table, UnsentBatches, noise, noise_body};
use crate::config::{Config, SpoolConfig, SpoolFull};
use crate::pipeline::spool::tests::segment_files;
use crate::stats::Counters;

fn batch(n: u64) -> Batch {
    Batch {
        table: Table::Logs,
        rows: 10,
        body: Body::from_plain(&noise(n, 1_000)),
        constants: Arc::new(BatchConstants {
            params: vec![("param_service".into(), "svc".into())],
        }),
        token: format!("tc-pending-{n}"),
    }
}

fn config(spool: &Path, max_pending_bytes: usize) -> Config {
    let pipeline = crate::config::sections::PipelineConfig {
        max_pending_bytes,
        ..Default::default()
    };
    let mut config = Config {
        pipeline,
        ..Config::defaults()
    };
    config.spool.dir = Some(spool.to_owned());
    config
}

fn pending(spool: &Path, max_pending_bytes: usize) -> (Pending, Arc<Counters>) {
    let counters = Arc::new(Counters::default());
    let unsent = Arc::new(UnsentBatches::default());
    let config = config(spool, max_pending_bytes);
    let pending = Pending::new(&config, true, Arc::clone(&counters), unsent).unwrap();
    (pending, counters)
}

/// A batch of 100 rows of 1,000 bytes: a compressed chunk of 66 rows and
/// one of 34, which it can be split between.
fn cut_batch(n: u64) -> Batch {
    Batch {
        rows: 100,
        body: noise_body(n, 100, 1_000),
        ..batch(n)
    }
}

/// A pending with a spool of `max_bytes` that refuses what does not fit.
fn pending_capped(spool: &Path, max_bytes: u64) -> (Pending, Arc<Counters>) {
    let counters = Arc::new(Counters::default());
    let spool_config = SpoolConfig {
        dir: Some(spool.to_owned()),
        max_bytes,
        when_full: SpoolFull::DropNewest,
        ..Default::default()
    };
    let config = Config {
        spool: spool_config,
        ..Config::defaults()
    };
    let unsent = Arc::new(UnsentBatches::default());
    let pending = Pending::new(&config, true, Arc::clone(&counters), unsent).unwrap();
    (pending, counters)
}

/// Sends and acknowledges the oldest batch; returns its token.
fn deliver_oldest(pending: &mut Pending) -> String {
    let token = pending.oldest().expect("a batch waits").token;
    pending.acknowledge(&token);
    token
}

#[test]
fn nothing_is_written_while_inserts_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut pending, counters) = pending(dir.path(), 64 << 20);
    let t0 = Instant::now();
    // A backlog: five batches, each insert answered in 4 s, so the last
    // waits 20 s; no insert went `write_after` (5 s) without an answer.
    for n in 0..5 {
        pending.push(batch(n), t0);
    }
    for n in 0..5 {
        let started = t0 + Duration::from_secs(4 * n);
        let answered = started + Duration::from_secs(4);
        pending.write_if_hanging(Some(started), answered);
        assert_eq!(deliver_oldest(&mut pending), format!("tc-pending-{n}"));
    }
    assert!(!pending.in_outage());
    assert_eq!(pending.rows(), 0);
    assert_eq!(counters.spooled_batches.load(Relaxed), 0);
    assert!(segment_files(dir.path()).is_empty());
    assert!(!dir.path().join("cursor").exists());
}

#[test]
fn a_failed_insert_writes_what_waits_and_what_follows_until_the_spool_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let (mut pending, counters) = pending(dir.path(), 64 << 20);
    let t0 = Instant::now();
    pending.push(batch(0), t0);
    pending.push(batch(1), t0);
    assert_eq!(counters.spooled_batches.load(Relaxed), 0);
    pending.insert_failed(false);
    assert!(pending.in_outage());
    assert_eq!(counters.spooled_batches.load(Relaxed), 2);
    pending.push(batch(2), t0);
    assert_eq!(counters.spooled_batches.load(Relaxed), 3, "written at once");
    // In memory too (for queries), and counted once.
    assert_eq!(counters.memory_rows.load(Relaxed), 30);
    assert_eq!(pending.rows(), 30);

    // Sent from memory, not read back: with the segment's records gone
    // from the disk, a read would find damage.
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 1);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&files[0])
        .unwrap();
    file.set_len(8).unwrap();
    assert_eq!(deliver_oldest(&mut pending), "tc-pending-0");
    // The outage is over, but the spool still holds batches: a new one
    // queues behind them on disk.
    assert!(pending.in_outage());
    pending.push(batch(3), t0);
    assert_eq!(counters.spooled_batches.load(Relaxed), 4);
    let tokens: Vec<String> = (0..3).map(|_| deliver_oldest(&mut pending)).collect();
    assert_eq!(tokens, ["tc-pending-1", "tc-pending-2", "tc-pending-3"]);
    assert_eq!(counters.dropped_spool_corrupt.load(Relaxed), 0);
    // Sent from memory: none counts as replayed (read back).
    assert_eq!(counters.replayed_batches.load(Relaxed), 0);
    assert_eq!(pending.rows(), 0);
    assert!(
        segment_files(dir.path()).is_empty(),
        "the spool is empty again"
    );

    // Empty: the next batch is not written.
    assert!(!pending.in_outage());
    pending.push(batch(4), t0);
    assert_eq!(counters.spooled_batches.load(Relaxed), 4);
    assert_eq!(deliver_oldest(&mut pending), "tc-pending-4");
}

#[test]
fn an_insert_without_an_answer_for_write_after_writes_what_waits() {
    let dir = tempfile::tempdir().unwrap();
    let (mut pending, counters) = pending(dir.path(), 64 << 20);
    let t0 = Instant::now();
    let write_after = Duration::from_secs(5);
    pending.push(batch(0), t0);
    pending.push(batch(1), t0 + Duration::from_secs(1));
    // No insert under way: nothing to wait for.
    assert_eq!(pending.hanging_at(None), None);
    pending.write_if_hanging(None, t0 + 3 * write_after);
    assert_eq!(pending.hanging_at(Some(t0)), Some(t0 + write_after));
    pending.write_if_hanging(Some(t0), t0 + write_after - Duration::from_millis(1));
    assert_eq!(counters.spooled_batches.load(Relaxed), 0);
    pending.write_if_hanging(Some(t0), t0 + write_after);
    assert_eq!(counters.spooled_batches.load(Relaxed), 2);
    assert_eq!(pending.hanging_at(Some(t0)), None, "nothing left to write");
    // The spool now holds batches: a new one queues behind them on disk.
    pending.push(batch(2), t0 + write_after);
    assert_eq!(counters.spooled_batches.load(Relaxed), 3);
    assert_eq!(pending.rows(), 30);
    assert_eq!(deliver_oldest(&mut pending), "tc-pending-0");
    assert_eq!(deliver_oldest(&mut pending), "tc-pending-1");
    assert_eq!(deliver_oldest(&mut pending), "tc-pending-2");
    assert_eq!(pending.rows(), 0);
}

#[test]
fn written_batches_leave_full_memory_without_a_second_write() {
    let dir = tempfile::tempdir().unwrap();
    // Room for two batches (of 1,000 bytes that do not compress).
    let two = 2 * batch(0).body.memory();
    let (mut pending, counters) = pending(dir.path(), two);
    let t0 = Instant::now();
    pending.push(batch(0), t0);
    pending.insert_failed(false);
    for n in 1..5 {
        pending.push(batch(n), t0);
    }
    assert_eq!(counters.spooled_batches.load(Relaxed), 5);
    assert_eq!(counters.memory_bytes.load(Relaxed), two as u64);
    assert_eq!(pending.rows(), 50);
    let tokens: Vec<String> = (0..5).map(|_| deliver_oldest(&mut pending)).collect();
    let expected: Vec<String> = (0..5).map(|n| format!("tc-pending-{n}")).collect();
    assert_eq!(
        tokens, expected,
        "the older ones read back from disk, in order"
    );
    // The three that left memory were read back; the two it kept were not.
    assert_eq!(counters.replayed_batches.load(Relaxed), 3);
    assert_eq!(pending.rows(), 0);
}

#[test]
fn what_fits_of_a_batch_is_spooled_and_the_rest_dropped() {
    let dir = tempfile::tempdir().unwrap();
    // Room for the batch's first chunk.
    let (mut pending, counters) = pending_capped(dir.path(), 80_000);
    pending.push(cut_batch(0), Instant::now());
    pending.insert_failed(false);
    assert_eq!(counters.spooled_rows.load(Relaxed), 66);
    assert_eq!(counters.dropped_spool_full.load(Relaxed), 34);
    assert_eq!(pending.rows(), 66);
    assert_eq!(deliver_oldest(&mut pending), "tc-pending-0.1");
    assert_eq!(pending.rows(), 0);
}

#[test]
fn a_batch_that_may_be_stored_is_never_split() {
    for maybe_stored in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (mut pending, counters) = pending_capped(dir.path(), 80_000);
        pending.push(cut_batch(0), Instant::now());
        assert_eq!(pending.oldest().unwrap().token, "tc-pending-0");
        // The attempt timed out (maybe stored), or was refused (not stored).
        pending.insert_failed(maybe_stored);
        let (spooled, dropped) = match maybe_stored {
            true => (0, 100),
            false => (66, 34),
        };
        assert_eq!(counters.spooled_rows.load(Relaxed), spooled);
        assert_eq!(counters.dropped_spool_full.load(Relaxed), dropped);
        assert_eq!(pending.rows(), spooled);
    }
}

#[test]
fn closing_counts_what_the_spool_cannot_take_once() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let (mut pending, counters) = pending(&spool, 64 << 20);
    for n in 0..3 {
        pending.push(batch(n), Instant::now());
    }
    // The spool's directory is gone: no segment can be made.
    std::fs::remove_dir_all(&spool).unwrap();
    let leftover = pending.close();
    assert_eq!(leftover.unsent_rows, 30);
    assert_eq!(leftover.spooled_rows, 0);
    assert_eq!(counters.dropped_unsent.load(Relaxed), 30);
    let error = leftover.spool_error.unwrap();
    assert!(error.starts_with("cannot write to the spool"), "{error}");
}
