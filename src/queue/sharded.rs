//! The queue over its rings: which ring a thread pushes into, the bounds
//! and the policy, the exact counts, and the one reader.

use std::cell::Cell;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ops::ControlFlow;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crossbeam::utils::CachePadded;

use super::ring::Ring;
use super::sync::{
    self, AtomicBool, AtomicU64, AtomicUsize, Backoff, Ordering, Thread, last_ring, set_last_ring,
};
use crate::config::QueuePolicy;
use crate::record::Record;
use crate::stats::{Counters, QueueCounts, Stats};

/// How long a blocked producer sleeps between looks once spinning is over.
const BLOCKED_SLEEP: Duration = Duration::from_micros(50);

/// Memory of one queue slot (derived from the slot's own layout).
pub(crate) const SLOT_BYTES: usize = Ring::<Record>::SLOT_BYTES;

/// Rings per queue: enough that the threads of a busy program rarely share
/// one, few enough that the flusher's merge across them stays cheap.
fn ring_count(capacity: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(4, usize::from);
    (2 * cores).clamp(4, MAX_RINGS).min(capacity.max(1))
}

const MAX_RINGS: usize = 16;

/// What producers read on every push and nobody writes while they run.
#[derive(Debug)]
struct Limits {
    max_heap_bytes: usize,
    policy: QueuePolicy,
    /// Set once, at shutdown.
    closed: AtomicBool,
}

#[derive(Debug)]
pub(crate) struct Queue {
    rings: Box<[Ring<Record>]>,
    limits: CachePadded<Limits>,
    /// Heap memory of the records in the queue; only large records touch it.
    heap_bytes: CachePadded<AtomicUsize>,
    /// Written by the flusher at every drain.
    wake_pending: CachePadded<AtomicBool>,
    /// Set when the reader is dropped (the flusher stopped, or died): what
    /// is still queued then, or pushed by a producer that passed the
    /// `closed` check just before it was set, will never be taken.
    reader_gone: AtomicBool,
    /// Odd while every ring is full: a push then gives up at once, instead
    /// of looking at every ring's head (which the flusher keeps moving) to
    /// find no room. A producer that found every ring full makes it odd,
    /// from the even value it read before it looked; the reader makes it
    /// the next even value each time it has freed slots. So a producer that
    /// looked while the reader freed slots finds the value moved on and
    /// leaves it: the flag never outlives the room the reader made.
    all_full: CachePadded<AtomicU64>,
    flusher: OnceLock<Thread>,
    /// Records refused because the queue was full, counted by the refused
    /// thread's home ring: one counter per line, so threads dropping at once
    /// (an overload) do not fight over one.
    refused: Box<[CachePadded<AtomicU64>]>,
    pub(crate) counters: Arc<Counters>,
}

impl Queue {
    /// A queue of `capacity` records, and the one reader that may take them.
    pub(crate) fn new(
        capacity: usize,
        max_heap_bytes: usize,
        policy: QueuePolicy,
        counters: Arc<Counters>,
    ) -> (Arc<Queue>, QueueReader) {
        let capacity = capacity.max(1);
        let count = ring_count(capacity);
        // The capacity, shared out exactly.
        let rings = (0..count)
            .map(|i| Ring::new(capacity / count + usize::from(i < capacity % count)))
            .collect();
        let queue = Arc::new(Queue {
            rings,
            limits: CachePadded::new(Limits {
                max_heap_bytes,
                policy,
                closed: AtomicBool::new(false),
            }),
            heap_bytes: CachePadded::new(AtomicUsize::new(0)),
            wake_pending: CachePadded::new(AtomicBool::new(false)),
            reader_gone: AtomicBool::new(false),
            all_full: CachePadded::new(AtomicU64::new(0)),
            flusher: OnceLock::new(),
            refused: (0..count).map(|_| CachePadded::default()).collect(),
            counters,
        });
        let reader = QueueReader {
            queue: Arc::clone(&queue),
            not_shared: PhantomData,
        };
        (queue, reader)
    }

    /// Queues a record, waits for room (`Block`), or counts it as dropped.
    #[inline]
    pub(crate) fn push(&self, record: Record) {
        let heap = record.heap_bytes();
        // SAFETY: the closure writes the record.
        unsafe {
            self.push_with(heap, move |slot| {
                slot.write(record);
            });
        }
    }

    /// Like [`Queue::push`], with the record written by `init` straight
    /// into its slot; `heap` is the heap memory the record will hold.
    ///
    /// # Safety
    ///
    /// If `init` returns, it has written the record (see [`Ring::push_with`]).
    /// It must not panic: the process would abort.
    #[inline]
    pub(crate) unsafe fn push_with<F>(&self, heap: usize, mut init: F)
    where
        F: FnOnce(&mut MaybeUninit<Record>),
    {
        let backoff = Backoff::new();
        loop {
            if self.limits.closed.load(Ordering::Relaxed) {
                Counters::add(&self.counters.dropped_closed, 1);
                return;
            }
            if heap == 0 || self.reserve_heap(heap) {
                match self.push_from_last(init) {
                    Ok(()) => return,
                    Err(rejected) => init = rejected,
                }
                if heap > 0 {
                    self.heap_bytes.fetch_sub(heap, Ordering::Relaxed);
                }
            }
            match self.limits.policy {
                QueuePolicy::DropNewest => {
                    self.refused[self.home()].fetch_add(1, Ordering::Relaxed);
                    return;
                }
                QueuePolicy::Block => {
                    self.wake_flusher();
                    if backoff.is_completed() {
                        sync::sleep(BLOCKED_SLEEP);
                    } else {
                        backoff.snooze();
                    }
                }
            }
        }
    }

    /// The ring of this thread's number (computed when needed only: it
    /// takes a division).
    fn home(&self) -> usize {
        sync::thread_number() % self.rings.len()
    }

    /// Pushes into the ring this thread used last, else the first one with
    /// room from its home ring on (so a thread that filled its own ring
    /// goes on in the next, and comes back home once its own has room
    /// again).
    #[inline]
    fn push_from_last<F>(&self, mut init: F) -> Result<(), F>
    where
        F: FnOnce(&mut MaybeUninit<Record>),
    {
        // Acquire: if the reader freed slots and moved this on, the heads
        // read below are the ones it published before.
        let seen = self.all_full.load(Ordering::Acquire);
        if seen % 2 == 1 {
            return Err(init);
        }
        let count = self.rings.len();
        let last = last_ring();
        let first = if last < count { last } else { self.home() };
        let rest = (0..count).map(|offset| (self.home() + offset) % count);
        for at in std::iter::once(first).chain(rest.filter(|&at| at != first)) {
            let ring = &self.rings[at];
            // SAFETY: `init` writes the record, as our caller promised.
            match unsafe { ring.push_with(init) } {
                Ok(index) => {
                    if at != last {
                        set_last_ring(at);
                    }
                    if ring.is_half_lap(index) {
                        self.wake_flusher();
                    }
                    return Ok(());
                }
                Err(rejected) => init = rejected,
            }
        }
        // Unless the reader freed slots since `seen` was read (it then moved
        // the value on, and this fails): all full, until it next does.
        let _ =
            self.all_full
                .compare_exchange(seen, seen + 1, Ordering::Relaxed, Ordering::Relaxed);
        // Let it be now.
        self.wake_flusher();
        Err(init)
    }

    /// Reserves heap memory for a large record, before the push: the flusher
    /// may pop the record and give its bytes back at once, and the count must
    /// never go below what is really queued. A record larger than the whole
    /// budget still goes in when no other large record is queued.
    #[cold]
    fn reserve_heap(&self, bytes: usize) -> bool {
        let max = self.limits.max_heap_bytes;
        let queued = self.heap_bytes.fetch_add(bytes, Ordering::Relaxed);
        if queued == 0 || queued.saturating_add(bytes) <= max {
            if queued.saturating_add(bytes) > max / 2 {
                self.wake_flusher();
            }
            return true;
        }
        self.heap_bytes.fetch_sub(bytes, Ordering::Relaxed);
        false
    }

    pub(crate) fn len(&self) -> usize {
        self.rings.iter().map(Ring::len).sum()
    }

    /// Memory the queued records hold: their slots and their heap bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.len() * SLOT_BYTES + self.heap_bytes.load(Ordering::Relaxed)
    }

    /// Records ever accepted into the queue.
    pub(crate) fn accepted(&self) -> u64 {
        self.rings.iter().map(Ring::pushed).sum()
    }

    /// Records refused because the queue was full.
    pub(crate) fn refused(&self) -> u64 {
        self.refused.iter().map(|n| n.load(Ordering::Relaxed)).sum()
    }

    /// The pipeline's counters with the queue's own.
    pub(crate) fn stats(&self) -> Stats {
        let len = self.len();
        let queue = QueueCounts {
            accepted: self.accepted(),
            refused: self.refused(),
            len,
            bytes: self.bytes(),
            stranded: match self.reader_gone.load(Ordering::Acquire) {
                true => len,
                false => 0,
            },
        };
        self.counters.snapshot(queue)
    }

    /// Registers the thread that [`Queue::wake_flusher`] unparks.
    pub(crate) fn set_flusher(&self, thread: impl Into<Thread>) {
        let _ = self.flusher.set(thread.into());
    }

    /// Wakes the flusher now (once until it next calls [`QueueReader::drained`]).
    pub(crate) fn wake_flusher(&self) {
        // Looked at before the swap: a swap takes the line from the flusher
        // even when the flag is already set, and producers that find the
        // queue full call this on every push.
        if !self.wake_pending.load(Ordering::Relaxed)
            && !self.wake_pending.swap(true, Ordering::AcqRel)
            && let Some(thread) = self.flusher.get()
        {
            thread.unpark();
        }
    }

    /// From now on records are dropped (and counted) instead of queued, and
    /// blocked producers give up.
    pub(crate) fn close(&self) {
        self.limits.closed.store(true, Ordering::Relaxed);
    }
}

/// The consumer's side of a [`Queue`]: there is one, and it is not shared
/// between threads (it is `Send`, not `Sync`, and not `Clone`), which is
/// what makes taking records from the rings sound.
#[derive(Debug)]
pub(crate) struct QueueReader {
    queue: Arc<Queue>,
    not_shared: PhantomData<Cell<()>>,
}

impl Drop for QueueReader {
    fn drop(&mut self) {
        self.queue.reader_gone.store(true, Ordering::Release);
    }
}

impl QueueReader {
    pub(crate) fn queue(&self) -> &Arc<Queue> {
        &self.queue
    }

    /// Takes up to `limit` records captured up to `until` (ticks), oldest
    /// first across the rings by capture time, handing each to `read` in
    /// its slot; stops early after a record `read` answers `Break` to, and
    /// returns how many it took.
    ///
    /// A ring found empty is not looked at again during the call, so the
    /// flusher does not keep reading the slot a producer is about to write.
    /// That is why records captured after `until` wait for the next call:
    /// taking them could pass over an earlier record that arrived meanwhile
    /// in a ring already found empty.
    pub(crate) fn drain(
        &mut self,
        limit: usize,
        until: u64,
        mut read: impl FnMut(&mut Record) -> ControlFlow<()>,
    ) -> usize {
        let rings = &self.queue.rings;
        let head = |ring: &Ring<Record>| {
            // SAFETY: this reader is the rings' one consumer, and `&mut
            // self` keeps its calls from overlapping.
            unsafe { ring.peek_with(Record::ticks) }.filter(|&ticks| ticks <= until)
        };
        // The capture time of each ring's oldest record; `None` once empty.
        let mut heads = [None; MAX_RINGS];
        for (at, ring) in heads.iter_mut().zip(rings.iter()) {
            *at = head(ring);
        }
        let mut taken = 0;
        while taken < limit {
            let oldest = heads
                .iter()
                .enumerate()
                .filter_map(|(i, ticks)| ticks.map(|t| (t, i)))
                .min();
            let Some((_, i)) = oldest else { break };
            // SAFETY: as for `head`.
            let flow = unsafe { rings[i].pop_with(&mut read) };
            taken += 1;
            if taken % 64 == 0 {
                self.made_room();
            }
            heads[i] = head(&rings[i]);
            if flow == Some(ControlFlow::Break(())) {
                break;
            }
        }
        if taken % 64 != 0 {
            self.made_room();
        }
        taken
    }

    /// Slots were freed: producers that found every ring full before may
    /// look again, and one looking now will not say they are all full.
    fn made_room(&self) {
        // The next even value, in one atomic step: a producer's change from
        // the value before (to odd) either comes first and is undone, or
        // comes after and fails. Release: a producer that reads the new
        // value sees the heads published before it.
        let _ = self
            .queue
            .all_full
            .fetch_update(Ordering::Release, Ordering::Relaxed, |seen| {
                Some((seen | 1) + 1)
            });
    }

    /// Gives back the heap bytes of records taken with [`QueueReader::drain`].
    pub(crate) fn release(&self, heap_bytes: usize) {
        if heap_bytes > 0 {
            self.queue
                .heap_bytes
                .fetch_sub(heap_bytes, Ordering::Relaxed);
        }
    }

    /// The flusher is awake and draining: the next producer may wake it again.
    pub(crate) fn drained(&self) {
        self.queue.wake_pending.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(payload_bytes: usize) -> Record {
        stamped(0, payload_bytes)
    }

    fn stamped(ticks: u64, payload_bytes: usize) -> Record {
        Record::test_log(ticks, payload_bytes)
    }

    fn queue(capacity: usize, max_bytes: usize, policy: QueuePolicy) -> (Arc<Queue>, QueueReader) {
        Queue::new(capacity, max_bytes, policy, Arc::default())
    }

    #[test]
    fn a_full_queue_drops_and_counts_the_newest() {
        let (queue, _reader) = queue(4, usize::MAX, QueuePolicy::DropNewest);
        for _ in 0..10 {
            queue.push(record(10));
        }
        assert_eq!((queue.len(), queue.accepted()), (4, 4));
        assert_eq!(queue.refused(), 6);
        assert_eq!(queue.bytes(), 4 * SLOT_BYTES);
    }

    #[test]
    fn one_thread_can_fill_every_ring() {
        let (queue, mut reader) = queue(1000, usize::MAX, QueuePolicy::DropNewest);
        assert!(queue.rings.len() > 1);
        for ticks in 0..1200 {
            queue.push(stamped(ticks, 10));
        }
        assert_eq!((queue.len(), queue.accepted()), (1000, 1000));
        let mut seen = Vec::new();
        reader.drain(usize::MAX, u64::MAX, |record| {
            seen.push(record.ticks());
            ControlFlow::Continue(())
        });
        assert_eq!(seen, (0..1000).collect::<Vec<_>>(), "oldest first");
    }

    #[test]
    fn records_come_out_in_capture_order_across_rings() {
        let (queue, mut reader) = queue(4096, usize::MAX, QueuePolicy::DropNewest);
        // Three threads (usually in different rings) take turns: a time,
        // then its push, one thread at a time, so each ring holds its
        // records in time order, as capture stamps them just before pushing.
        let clock = std::sync::Mutex::new(0u64);
        std::thread::scope(|scope| {
            for _ in 0..3 {
                let (queue, clock) = (&queue, &clock);
                scope.spawn(move || {
                    for _ in 0..300 {
                        let mut now = clock.lock().unwrap();
                        queue.push(stamped(*now, 0));
                        *now += 1;
                    }
                });
            }
        });
        let mut seen = Vec::new();
        let taken = reader.drain(500, u64::MAX, |record| {
            seen.push(record.ticks());
            ControlFlow::Continue(())
        });
        reader.drain(usize::MAX, u64::MAX, |record| {
            seen.push(record.ticks());
            ControlFlow::Continue(())
        });
        assert_eq!(taken, 500);
        assert_eq!(seen, (0..900).collect::<Vec<_>>());
    }

    #[test]
    fn the_byte_bound_applies_but_an_empty_queue_takes_any_record() {
        let size = record(1000).heap_bytes();
        assert_eq!(size, 1000, "too large for a slot");
        let (queue, _reader) = queue(100, 2 * size, QueuePolicy::DropNewest);
        for _ in 0..5 {
            queue.push(record(1000));
        }
        assert_eq!(queue.accepted(), 2);
        assert_eq!(queue.bytes(), 2 * (SLOT_BYTES + size));

        let (tiny, _reader) = self::queue(100, 10, QueuePolicy::DropNewest);
        tiny.push(record(1_000_000));
        tiny.push(record(500));
        assert_eq!(
            tiny.accepted(),
            1,
            "the oversized record fills the empty queue"
        );
    }

    #[test]
    fn a_closed_queue_counts_what_arrives() {
        let (queue, _reader) = queue(4, usize::MAX, QueuePolicy::Block);
        queue.close();
        queue.push(record(1));
        assert_eq!(queue.len(), 0);
        assert_eq!(queue.counters.dropped_closed.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn concurrent_producers_and_a_draining_consumer_keep_exact_accounts() {
        const PER_PRODUCER: u64 = 300_000;
        let (queue, mut reader) = queue(64, 64 * 300, QueuePolicy::DropNewest);
        let producing = AtomicUsize::new(2);
        let taken = std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    // Some records fit a slot, some go to the heap.
                    for i in 0..PER_PRODUCER as usize {
                        queue.push(record(i % 397));
                    }
                    producing.fetch_sub(1, Ordering::Release);
                });
            }
            let producing = &producing;
            let consumer = scope.spawn(move || {
                let mut taken = 0u64;
                loop {
                    let done = producing.load(Ordering::Acquire) == 0;
                    // Give bytes back at once, so a record can be released
                    // before its producer is done counting it.
                    loop {
                        let mut heap = 0;
                        let took = reader.drain(1, u64::MAX, |record| {
                            heap = record.heap_bytes();
                            ControlFlow::Continue(())
                        });
                        if took == 0 {
                            break;
                        }
                        reader.release(heap);
                        taken += 1;
                        let bytes = reader.queue().bytes();
                        assert!(bytes < 1 << 40, "the byte count went below zero");
                    }
                    if done {
                        return taken;
                    }
                }
            });
            consumer.join().unwrap()
        });
        let dropped = queue.refused();
        assert_eq!(queue.accepted(), taken);
        assert_eq!(taken + dropped, 2 * PER_PRODUCER);
        assert_eq!(queue.bytes(), 0);
    }
}
