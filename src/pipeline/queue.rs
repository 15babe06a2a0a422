//! The bounded lock-free queue between application threads and the flusher.
//!
//! A push is one `ArrayQueue::push` and two atomic adds on one cache line
//! (bytes and records accepted): no lock, no allocation, no system call. The queue is bounded by records
//! and by bytes (the records' own memory, approximately: concurrent pushes may
//! overshoot by a few records). When it is full, [`QueuePolicy`] decides:
//! drop the new record and count it (the default; the application never
//! waits), or wait for room.
//!
//! The flusher polls on a short interval; a producer that sees the queue half
//! full, or that has to wait, wakes it early (at most once per drain).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use crossbeam::queue::ArrayQueue;
use crossbeam::utils::Backoff;

use super::stats::{Counters, Stats};
use crate::record::Record;

/// What to do with a record when the queue is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QueuePolicy {
    /// Drop the new record and count it: the application never waits.
    #[default]
    DropNewest,
    /// Wait until the flusher makes room: nothing is dropped while the
    /// pipeline runs, at the price of stalling the application when
    /// ClickHouse (or the flusher) cannot keep up.
    Block,
}

/// How long a blocked producer sleeps between looks once spinning is over.
const BLOCKED_SLEEP: Duration = Duration::from_micros(50);

/// What producers add to on every push, on one cache line so the second
/// add finds the line already owned.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Accounting {
    /// Memory of the records in the queue.
    bytes: AtomicUsize,
    /// Records ever accepted: exact, unlike a count derived from the
    /// flusher's progress, which misses records it is holding.
    accepted: AtomicU64,
}

#[derive(Debug)]
pub(crate) struct Queue {
    records: ArrayQueue<Record>,
    accounting: Accounting,
    max_bytes: usize,
    policy: QueuePolicy,
    /// Length at which a producer wakes the flusher before its interval ends.
    wake_len: usize,
    flusher: OnceLock<Thread>,
    wake_pending: AtomicBool,
    closed: AtomicBool,
    pub(crate) counters: Arc<Counters>,
}

impl Queue {
    pub(crate) fn new(
        capacity: usize,
        max_bytes: usize,
        policy: QueuePolicy,
        counters: Arc<Counters>,
    ) -> Self {
        Queue {
            records: ArrayQueue::new(capacity),
            accounting: Accounting::default(),
            max_bytes,
            policy,
            wake_len: (capacity / 2).max(1),
            flusher: OnceLock::new(),
            wake_pending: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            counters,
        }
    }

    /// Queues a record, waits for room (`Block`), or counts it as dropped.
    #[inline]
    pub(crate) fn push(&self, mut record: Record) {
        let size = record.size_bytes();
        let backoff = Backoff::new();
        loop {
            if self.closed.load(Ordering::Relaxed) {
                Counters::add(&self.counters.dropped_closed, 1);
                return;
            }
            // Reserve the bytes before the push: the flusher may pop the
            // record and give its bytes back at once, and the count must
            // never go below what is really queued. A record larger than the
            // whole budget still goes into an empty queue.
            let queued = self.accounting.bytes.fetch_add(size, Ordering::Relaxed);
            if queued == 0 || queued.saturating_add(size) <= self.max_bytes {
                match self.records.push(record) {
                    Ok(()) => {
                        self.accounting.accepted.fetch_add(1, Ordering::Relaxed);
                        if self.records.len() >= self.wake_len {
                            self.wake_flusher();
                        }
                        return;
                    }
                    Err(rejected) => record = rejected,
                }
            }
            self.accounting.bytes.fetch_sub(size, Ordering::Relaxed);
            match self.policy {
                QueuePolicy::DropNewest => {
                    Counters::add(&self.counters.dropped_queue_full, 1);
                    return;
                }
                QueuePolicy::Block => {
                    self.wake_flusher();
                    if backoff.is_completed() {
                        std::thread::sleep(BLOCKED_SLEEP);
                    } else {
                        backoff.snooze();
                    }
                }
            }
        }
    }

    /// Takes the oldest record; its bytes stay counted until [`Queue::release`].
    pub(crate) fn pop(&self) -> Option<Record> {
        self.records.pop()
    }

    /// Gives back the bytes of records taken with [`Queue::pop`].
    pub(crate) fn release(&self, bytes: usize) {
        self.accounting.bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.accounting.bytes.load(Ordering::Relaxed)
    }

    /// Records ever accepted into the queue.
    pub(crate) fn accepted(&self) -> u64 {
        self.accounting.accepted.load(Ordering::Relaxed)
    }

    /// The pipeline's counters with the queue's own.
    pub(crate) fn stats(&self) -> Stats {
        self.counters
            .snapshot(self.accepted(), self.len(), self.bytes())
    }

    /// Registers the thread that [`Queue::wake_flusher`] unparks.
    pub(crate) fn set_flusher(&self, thread: Thread) {
        let _ = self.flusher.set(thread);
    }

    /// Wakes the flusher now (once until it next calls [`Queue::drained`]).
    pub(crate) fn wake_flusher(&self) {
        if !self.wake_pending.swap(true, Ordering::AcqRel)
            && let Some(thread) = self.flusher.get()
        {
            thread.unpark();
        }
    }

    /// The flusher is awake and draining: the next producer may wake it again.
    pub(crate) fn drained(&self) {
        self.wake_pending.store(false, Ordering::Release);
    }

    /// From now on records are dropped (and counted) instead of queued, and
    /// blocked producers give up.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{LogRecord, Severity};

    fn record(payload_bytes: usize) -> Record {
        Record::Log(LogRecord {
            timestamp_ns: 0,
            severity: Severity::Info,
            metadata: None,
            trace: None,
            thread_id: 0,
            payload: vec![0; payload_bytes].into_boxed_slice(),
        })
    }

    fn queue(capacity: usize, max_bytes: usize, policy: QueuePolicy) -> Queue {
        Queue::new(capacity, max_bytes, policy, Arc::default())
    }

    #[test]
    fn a_full_queue_drops_and_counts_the_newest() {
        let queue = queue(4, usize::MAX, QueuePolicy::DropNewest);
        for _ in 0..10 {
            queue.push(record(10));
        }
        assert_eq!((queue.len(), queue.accepted()), (4, 4));
        assert_eq!(queue.counters.dropped_queue_full.load(Ordering::Relaxed), 6);
        assert_eq!(queue.bytes(), 4 * record(10).size_bytes());
    }

    #[test]
    fn the_byte_bound_applies_but_an_empty_queue_takes_any_record() {
        let size = record(1000).size_bytes();
        let queue = queue(100, 2 * size, QueuePolicy::DropNewest);
        for _ in 0..5 {
            queue.push(record(1000));
        }
        assert_eq!(queue.accepted(), 2);
        assert_eq!(queue.bytes(), 2 * size);

        let tiny = self::queue(100, 10, QueuePolicy::DropNewest);
        tiny.push(record(1_000_000));
        tiny.push(record(1));
        assert_eq!(
            tiny.accepted(),
            1,
            "the oversized record fills the empty queue"
        );
    }

    #[test]
    fn a_closed_queue_counts_what_arrives() {
        let queue = queue(4, usize::MAX, QueuePolicy::Block);
        queue.close();
        queue.push(record(1));
        assert_eq!(queue.len(), 0);
        assert_eq!(queue.counters.dropped_closed.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn concurrent_producers_and_a_draining_consumer_keep_exact_accounts() {
        const PER_PRODUCER: u64 = 300_000;
        let queue = queue(64, 64 * 200, QueuePolicy::DropNewest);
        let producing = AtomicUsize::new(2);
        let taken = std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    for i in 0..PER_PRODUCER as usize {
                        queue.push(record(i % 97));
                    }
                    producing.fetch_sub(1, Ordering::Release);
                });
            }
            let consumer = scope.spawn(|| {
                let mut taken = 0u64;
                loop {
                    let done = producing.load(Ordering::Acquire) == 0;
                    // Give bytes back at once, so a record can be released
                    // before its producer is done counting it.
                    while let Some(record) = queue.pop() {
                        queue.release(record.size_bytes());
                        taken += 1;
                        assert!(queue.bytes() < 1 << 40, "the byte count went below zero");
                    }
                    if done {
                        return taken;
                    }
                }
            });
            consumer.join().unwrap()
        });
        let dropped = queue.counters.dropped_queue_full.load(Ordering::Relaxed);
        assert_eq!(queue.accepted(), taken);
        assert_eq!(taken + dropped, 2 * PER_PRODUCER);
        assert_eq!(queue.bytes(), 0);
    }
}
