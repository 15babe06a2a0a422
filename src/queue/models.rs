//! Models of the queue for loom's checker, built only with `--cfg tracing_clickhouse_loom`
//! and run by `tests/loom.rs` (`make test` runs them; see docs/reliability.md,
//! "The queue, model-checked"). Each runs a small scenario of threads over a real ring or
//! queue, and loom runs it once for every interleaving of their atomic
//! accesses it can tell apart (with at most [`PREEMPTIONS`] preemptions
//! each, the bound that keeps the whole set to seconds), checking the
//! scenario's assertions in every one, and that no thread waits forever.
//!
//! Not part of the API.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize as StdCounter;

use loom::sync::atomic::AtomicBool;
use loom::thread;

use super::ring::Ring;
use super::sharded::{Queue, QueueReader};
use super::sync::Ordering;
use crate::config::QueuePolicy;
use crate::record::Record;

/// Preemptions loom tries per execution unless `LOOM_MAX_PREEMPTIONS`
/// says: bugs in code like this show with two or three (loom's docs), and
/// each one more multiplies the run time.
pub const PREEMPTIONS: usize = 3;

/// Runs `scenario` under loom for every interleaving within the bound, and
/// returns how many executions that took (a model whose threads never
/// interleave would run once and check nothing).
fn check(scenario: impl Fn() + Send + Sync + 'static) -> usize {
    let executions = Arc::new(StdCounter::new(0));
    let counted = Arc::clone(&executions);
    let mut model = loom::model::Builder::new();
    model.preemption_bound = model.preemption_bound.or(Some(PREEMPTIONS));
    model.check(move || {
        counted.fetch_add(1, Ordering::Relaxed);
        scenario();
    });
    let executions = executions.load(Ordering::Relaxed);
    assert!(executions > 1, "one execution: nothing interleaved");
    executions
}

/// Pushes `value` into `ring`, as every push must (the value written).
fn push<T>(ring: &Ring<T>, value: T) -> bool {
    // SAFETY: `init` writes the value.
    unsafe { ring.push_with(|slot| _ = slot.write(value)) }.is_ok()
}

/// Takes the oldest value of `ring`.
///
/// # Safety
///
/// The caller is the ring's one consumer.
unsafe fn pop<T: Copy>(ring: &Ring<(T, Live)>) -> Option<T> {
    // SAFETY: the caller's promise.
    unsafe { ring.pop_with(|value| value.0) }
}

/// Counts the values alive, to see each dropped exactly once.
struct Live(Arc<StdCounter>);

impl Live {
    fn new(count: &Arc<StdCounter>) -> Live {
        count.fetch_add(1, Ordering::Relaxed);
        Live(Arc::clone(count))
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Two producers push into a ring of two slots whose positions are about
/// to wrap into their second lap (position 1, then 4), one of them twice
/// (so that the ring is full at times), while the consumer takes values
/// out: every value is taken or refused, once; each producer's values come
/// out in its order; every value is dropped once, the ones left in the ring
/// by the ring's drop.
pub fn ring_push_and_pop_race_across_a_wrap() -> usize {
    check(|| {
        let live = Arc::new(StdCounter::new(0));
        let ring = Arc::new(Ring::new(2));
        assert!(push(&ring, (0, Live::new(&live))));
        // SAFETY: this thread is the consumer.
        assert_eq!(unsafe { pop(&ring) }, Some(0));
        let producers: Vec<_> = [vec![1, 2], vec![3]]
            .into_iter()
            .map(|values| {
                let (ring, live) = (Arc::clone(&ring), Arc::clone(&live));
                thread::spawn(move || {
                    values
                        .into_iter()
                        .filter(|&v| !push(&ring, (v, Live::new(&live))))
                        .count()
                })
            })
            .collect();
        let mut taken = Vec::new();
        for _ in 0..2 {
            // SAFETY: this thread is the consumer.
            taken.extend(unsafe { pop(&ring) });
        }
        let refused: usize = producers.into_iter().map(|p| p.join().unwrap()).sum();
        // SAFETY: this thread is the consumer.
        while let Some(value) = unsafe { pop(&ring) } {
            taken.push(value);
        }
        assert_eq!(taken.len() + refused, 3, "taken {taken:?}");
        let first = |v| taken.iter().position(|&t| t == v);
        if let (Some(one), Some(two)) = (first(1), first(2)) {
            assert!(one < two, "a producer's values in its order: {taken:?}");
        }
        let mut sorted = taken.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), taken.len(), "taken once: {taken:?}");
        assert_eq!(live.load(Ordering::Relaxed), 0, "all dropped, once");
        for value in [4, 5] {
            assert!(push(&ring, (value, Live::new(&live))));
        }
        drop(ring);
        assert_eq!(
            live.load(Ordering::Relaxed),
            0,
            "left ones dropped with the ring"
        );
    })
}

/// A log record captured at `ticks`.
fn record(ticks: u64) -> Record {
    Record::test_log(ticks, 0)
}

fn queue(capacity: usize, policy: QueuePolicy) -> (Arc<Queue>, QueueReader) {
    Queue::new(capacity, usize::MAX, policy, Arc::default())
}

/// Drains everything captured so far, returning the records' times in the
/// order they came out.
fn drain(reader: &mut QueueReader) -> Vec<u64> {
    let mut ticks = Vec::new();
    reader.drain(usize::MAX, u64::MAX, |record| {
        ticks.push(record.ticks());
        ControlFlow::Continue(())
    });
    ticks
}

fn closed_drops(queue: &Queue) -> u64 {
    queue.counters.dropped_closed.load(Ordering::Relaxed)
}

/// Every ring full (a queue of two rings of one slot), a producer pushing
/// while the reader takes both records: once both are done, a push is
/// taken. The flag that makes pushes into a full queue give up at once must
/// not be left set by a producer that found every ring full just before
/// the reader freed them (it was, once: the queue then refused every push
/// until the reader's next drain, while it was empty).
pub fn all_full_never_outlives_the_room_the_reader_made() -> usize {
    check(|| {
        let (queue, mut reader) = queue(2, QueuePolicy::DropNewest);
        queue.push(record(1));
        queue.push(record(2));
        assert_eq!((queue.accepted(), queue.refused()), (2, 0), "full");
        let producer = {
            let queue = Arc::clone(&queue);
            thread::spawn(move || queue.push(record(3)))
        };
        let mut taken = drain(&mut reader).len();
        producer.join().unwrap();
        let accepted = queue.accepted();
        queue.push(record(4));
        assert_eq!(queue.accepted(), accepted + 1, "room, and the push refused");
        taken += drain(&mut reader).len();
        assert_eq!(taken as u64, queue.accepted());
        assert_eq!(queue.accepted() + queue.refused(), 4);
    })
}

/// Two producers, each in a ring of its own (a queue of four rings of two
/// slots), push records with rising capture times, interleaved across the
/// rings (1 and 3; 2 and 4), while the reader drains: each drain gives its
/// records oldest first, and every record comes out once. (Oldest first
/// across rings whose own records are in time order: a thread descheduled
/// between taking a record's time and pushing it puts it behind later
/// ones, in its ring or, spilled from a full ring, in another.)
pub fn the_reader_merges_the_rings_oldest_first() -> usize {
    check(|| {
        let (queue, mut reader) = queue(8, QueuePolicy::DropNewest);
        let producers: Vec<_> = [[1, 3], [2, 4]]
            .into_iter()
            .map(|times| {
                let queue = Arc::clone(&queue);
                thread::spawn(move || times.into_iter().for_each(|t| queue.push(record(t))))
            })
            .collect();
        let mut taken = Vec::new();
        let mut check_drain = |reader: &mut QueueReader| {
            let ticks = drain(reader);
            assert!(ticks.is_sorted(), "oldest first: {ticks:?}");
            taken.extend(ticks);
        };
        check_drain(&mut reader);
        for producer in producers {
            producer.join().unwrap();
        }
        check_drain(&mut reader);
        taken.sort_unstable();
        assert_eq!(taken, [1, 2, 3, 4]);
        assert_eq!(queue.refused(), 0);
    })
}

/// `Block` on a full queue (two rings of one slot, three records pushed):
/// the producer waits for the flusher, which sleeps until a producer wakes
/// it (no poll interval here, unlike the real flusher: a wake-up lost
/// would leave both waiting forever, which loom reports). Every record gets
/// through.
pub fn a_blocked_producer_wakes_the_flusher() -> usize {
    check(|| {
        let (queue, mut reader) = queue(2, QueuePolicy::Block);
        let done = Arc::new(AtomicBool::new(false));
        let flusher = {
            let done = Arc::clone(&done);
            thread::spawn(move || {
                let mut taken = 0;
                loop {
                    // As the real flusher does after every wake-up.
                    reader.drained();
                    taken += drain(&mut reader).len();
                    if done.load(Ordering::Acquire) {
                        return taken + drain(&mut reader).len();
                    }
                    thread::park();
                }
            })
        };
        queue.set_flusher(flusher.thread().clone());
        let producer = {
            let queue = Arc::clone(&queue);
            thread::spawn(move || (1..=3).for_each(|t| queue.push(record(t))))
        };
        producer.join().unwrap();
        done.store(true, Ordering::Release);
        flusher.thread().unpark();
        assert_eq!(flusher.join().unwrap(), 3);
        assert_eq!((queue.accepted(), queue.refused()), (3, 0));
    })
}

/// `Block` on a full queue that nobody drains: closing it (shutdown)
/// releases the waiting producer, whose record is counted as dropped after
/// shutdown.
pub fn a_blocked_producer_is_released_at_shutdown() -> usize {
    check(|| {
        let (queue, _reader) = queue(2, QueuePolicy::Block);
        let producer = {
            let queue = Arc::clone(&queue);
            thread::spawn(move || (1..=3).for_each(|t| queue.push(record(t))))
        };
        queue.close();
        producer.join().unwrap();
        assert_eq!(queue.accepted() + closed_drops(&queue), 3);
        assert_eq!(queue.refused(), 0, "waited, not refused");
        assert!(queue.accepted() <= 2);
    })
}

/// Two producers push (three records into two slots) while the queue is
/// closed and the reader takes what arrives, then stops (the flusher's
/// shutdown): every record is taken, refused (full), dropped after
/// shutdown, or left stranded, counted, once.
pub fn shutdown_while_producers_push() -> usize {
    check(|| {
        let (queue, mut reader) = queue(2, QueuePolicy::DropNewest);
        let producers: Vec<_> = [vec![1, 3], vec![2]]
            .into_iter()
            .map(|times| {
                let queue = Arc::clone(&queue);
                thread::spawn(move || times.into_iter().for_each(|t| queue.push(record(t))))
            })
            .collect();
        let mut taken = drain(&mut reader).len();
        queue.close();
        taken += drain(&mut reader).len();
        drop(reader);
        for producer in producers {
            producer.join().unwrap();
        }
        let stats = queue.stats();
        let stranded = queue.len();
        assert_eq!(queue.accepted(), (taken + stranded) as u64);
        assert_eq!(
            queue.accepted() + queue.refused() + closed_drops(&queue),
            3,
            "each record counted once"
        );
        assert_eq!(stats.dropped_after_shutdown, closed_drops(&queue));
        assert_eq!(
            stats.dropped_unsent, stranded as u64,
            "stranded ones counted"
        );
    })
}
