//! A bounded lock-free ring of slots that values are written into and read
//! from in place: many producers, one consumer.
//!
//! crossbeam's `ArrayQueue` moves a value into its slot and out again: for
//! our 248-byte records that is two copies of the whole record per event,
//! most of it unused payload space. Here a producer reserves a slot and
//! initializes it where it lies, and the consumer reads it by reference and
//! drops it there, so an event's bytes are written once and read once.
//!
//! Producers use the algorithm of `ArrayQueue` (Dmitry Vyukov's bounded
//! queue): every slot has a stamp saying which lap of the ring may use it
//! next, and producers race for the tail with a compare-and-swap; a push
//! reads nothing the consumer writes but the stamp of its own slot, which
//! also says when the ring is full. There is one consumer, so taking a value
//! needs no compare-and-swap, and the consumer may look at the oldest value
//! before taking it.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam::utils::{Backoff, CachePadded};

struct Slot<T> {
    /// `lap | index`: equal to the tail when the slot is free for that push;
    /// one more than the head when it holds the value for that pop.
    stamp: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// A bounded multi-producer, single-consumer ring.
///
/// The consumer's methods are `unsafe`: their caller guarantees that no two
/// threads run them at the same time (`pipeline::queue` gives them to one
/// owner).
pub(crate) struct Ring<T> {
    head: CachePadded<AtomicUsize>,
    tail: CachePadded<AtomicUsize>,
    slots: Box<[Slot<T>]>,
    /// The smallest power of two above the capacity: positions are
    /// `lap * one_lap + index`.
    one_lap: usize,
}

// SAFETY: a value is written by exactly one producer (the one whose CAS won
// its slot) and read and dropped by the one consumer; the stamps'
// release/acquire pairs order those accesses. Values cross threads, hence
// `T: Send`.
unsafe impl<T: Send> Send for Ring<T> {}
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    /// A ring of `capacity` slots (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let slots = (0..capacity)
            .map(|index| Slot {
                stamp: AtomicUsize::new(index),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Ring {
            head: CachePadded::new(AtomicUsize::new(0)),
            tail: CachePadded::new(AtomicUsize::new(0)),
            slots,
            one_lap: (capacity + 1).next_power_of_two(),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    #[inline]
    fn index(&self, position: usize) -> usize {
        position & (self.one_lap - 1)
    }

    /// The position after `position`.
    #[inline]
    fn next(&self, position: usize) -> usize {
        if self.index(position) + 1 < self.slots.len() {
            position + 1
        } else {
            (position & !(self.one_lap - 1)).wrapping_add(self.one_lap)
        }
    }

    /// Values pushed so far, from a position (`lap * capacity + index`).
    fn count(&self, position: usize) -> u64 {
        let laps = (position / self.one_lap) as u64;
        laps * self.slots.len() as u64 + self.index(position) as u64
    }

    /// Reserves a free slot and lets `init` write the value into it,
    /// returning the value's index in the ring. When the ring is full,
    /// `init` is not called and comes back as the error.
    ///
    /// `init` must write a value and must not panic: the slot is reserved
    /// while it runs, and a panic would leave it to be waited for forever.
    #[inline]
    pub(crate) fn push_with<F>(&self, init: F) -> Result<usize, F>
    where
        F: FnOnce(&mut MaybeUninit<T>),
    {
        let backoff = Backoff::new();
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            let index = self.index(tail);
            let slot = &self.slots[index];
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == tail {
                let next = self.next(tail);
                match self.tail.compare_exchange_weak(
                    tail,
                    next,
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: winning the CAS makes this slot ours until
                        // the stamp below hands it to the consumer.
                        init(unsafe { &mut *slot.value.get() });
                        slot.stamp.store(tail + 1, Ordering::Release);
                        return Ok(index);
                    }
                    Err(current) => {
                        tail = current;
                        backoff.spin();
                    }
                }
            } else if stamp.wrapping_add(self.one_lap) == tail + 1 {
                // The slot still holds the value of the previous lap: the
                // ring is full (the consumer frees slots in order, and this
                // is the oldest).
                return Err(init);
            } else {
                // Another producer took this position first and our tail
                // is stale.
                backoff.snooze();
                tail = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// The oldest value's slot, if a producer has finished writing it.
    #[inline]
    fn ready_slot(&self) -> Option<(usize, &Slot<T>)> {
        let head = self.head.load(Ordering::Relaxed);
        let slot = &self.slots[self.index(head)];
        (slot.stamp.load(Ordering::Acquire) == head + 1).then_some((head, slot))
    }

    /// Lets `look` see the oldest value without taking it. `None` when the
    /// ring is empty (or its oldest value is still being written).
    ///
    /// # Safety
    ///
    /// No other thread may run a consumer method at the same time.
    #[inline]
    pub(crate) unsafe fn peek_with<R>(&self, look: impl FnOnce(&T) -> R) -> Option<R> {
        let (_, slot) = self.ready_slot()?;
        // SAFETY: the stamp says the value is written; only the consumer
        // (the caller, alone) takes it away.
        Some(look(unsafe { (*slot.value.get()).assume_init_ref() }))
    }

    /// Takes the oldest value: `read` sees it in its slot, then it is
    /// dropped there (also if `read` panics). `None` when the ring is empty
    /// (or its oldest value is still being written).
    ///
    /// # Safety
    ///
    /// No other thread may run a consumer method at the same time.
    #[inline]
    pub(crate) unsafe fn pop_with<R>(&self, read: impl FnOnce(&mut T) -> R) -> Option<R> {
        let (head, slot) = self.ready_slot()?;
        // SAFETY: as in `peek_with`; and the value is ours to drop.
        let value = unsafe { (*slot.value.get()).assume_init_mut() };
        let free = FreeSlot {
            value,
            stamp: &slot.stamp,
            next_lap: head.wrapping_add(self.one_lap),
        };
        self.head.store(self.next(head), Ordering::Release);
        Some(read(&mut *free.value))
    }

    /// Values pushed into the ring since it was made (reserved ones count).
    pub(crate) fn pushed(&self) -> u64 {
        self.count(self.tail.load(Ordering::Relaxed))
    }

    /// Values in the ring (a moment's view while others push and pop).
    pub(crate) fn len(&self) -> usize {
        loop {
            let tail = self.tail.load(Ordering::SeqCst);
            let head = self.head.load(Ordering::SeqCst);
            if self.tail.load(Ordering::SeqCst) != tail {
                continue;
            }
            let index = |position: usize| position & (self.one_lap - 1);
            let lap = |position: usize| position & !(self.one_lap - 1);
            return if index(head) < index(tail) {
                index(tail) - index(head)
            } else if index(head) > index(tail) {
                self.slots.len() - index(head) + index(tail)
            } else if lap(head) == lap(tail) {
                0
            } else {
                self.slots.len()
            };
        }
    }
}

/// Drops a popped value and frees its slot for the next lap, also when the
/// reader panics.
struct FreeSlot<'a, T> {
    value: &'a mut T,
    stamp: &'a AtomicUsize,
    next_lap: usize,
}

impl<T> Drop for FreeSlot<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the value was initialized and is ours; after this it is
        // never touched again until a producer writes a new one.
        unsafe { std::ptr::drop_in_place(self.value as *mut T) };
        self.stamp.store(self.next_lap, Ordering::Release);
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no one else uses the ring any more.
        while unsafe { self.pop_with(|_| ()) }.is_some() {}
    }
}

impl<T> std::fmt::Debug for Ring<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;

    fn push(ring: &Ring<String>, value: &str) -> bool {
        ring.push_with(|slot| {
            slot.write(value.to_owned());
        })
        .is_ok()
    }

    fn pop(ring: &Ring<String>) -> Option<String> {
        // SAFETY: each test has one consumer.
        unsafe { ring.pop_with(std::mem::take) }
    }

    #[test]
    fn values_come_out_in_order_and_a_full_ring_refuses() {
        let ring = Ring::new(3);
        assert!(push(&ring, "a") && push(&ring, "b") && push(&ring, "c"));
        assert!(!push(&ring, "d"), "full");
        assert_eq!((ring.len(), ring.pushed()), (3, 3));
        assert_eq!(
            unsafe { ring.peek_with(|v| v.clone()) }.as_deref(),
            Some("a")
        );
        assert_eq!(pop(&ring).as_deref(), Some("a"));
        assert!(push(&ring, "d"));
        for expected in ["b", "c", "d"] {
            assert_eq!(pop(&ring).as_deref(), Some(expected));
        }
        assert_eq!((pop(&ring), ring.len(), ring.pushed()), (None, 0, 4));
        assert_eq!(unsafe { ring.peek_with(|v| v.clone()) }, None);
        // Many laps around a ring of one.
        let one = Ring::new(1);
        for i in 0..1000 {
            assert!(push(&one, &i.to_string()));
            assert!(!push(&one, "x"));
            assert_eq!(pop(&one), Some(i.to_string()));
        }
    }

    /// Counts live values, to check that each is dropped exactly once.
    struct Tracked(Arc<AtomicU64>);

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn every_value_is_dropped_once_popped_or_left_behind() {
        let live = Arc::new(AtomicU64::new(0));
        let ring = Ring::new(8);
        for _ in 0..8 {
            live.fetch_add(1, Ordering::Relaxed);
            let pushed = ring.push_with(|slot| {
                slot.write(Tracked(Arc::clone(&live)));
            });
            assert!(pushed.is_ok());
        }
        for _ in 0..3 {
            unsafe { ring.pop_with(|_| ()) }.unwrap();
        }
        assert_eq!(live.load(Ordering::Relaxed), 5);
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
            ring.pop_with(|_| panic!("reader failed"))
        }));
        assert!(panicked.is_err());
        assert_eq!(live.load(Ordering::Relaxed), 4, "dropped despite the panic");
        let pushed = ring.push_with(|slot| {
            live.fetch_add(1, Ordering::Relaxed);
            slot.write(Tracked(Arc::clone(&live)));
        });
        assert!(pushed.is_ok());
        drop(ring);
        assert_eq!(live.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn concurrent_producers_and_a_consumer_lose_and_repeat_nothing() {
        const PER_PRODUCER: u64 = 200_000;
        let ring: Ring<(u64, u64)> = Ring::new(100);
        let refused = AtomicU64::new(0);
        let done = AtomicUsize::new(0);
        let mut seen = std::thread::scope(|scope| {
            for producer in 0..3 {
                let (ring, refused, done) = (&ring, &refused, &done);
                scope.spawn(move || {
                    for n in 0..PER_PRODUCER {
                        let pushed = ring.push_with(|slot| {
                            slot.write((producer, n));
                        });
                        if pushed.is_err() {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    done.fetch_add(1, Ordering::Release);
                });
            }
            let mut seen = vec![Vec::new(); 3];
            loop {
                let finished = done.load(Ordering::Acquire) == 3;
                while let Some((producer, n)) = unsafe { ring.pop_with(|value| *value) } {
                    seen[producer as usize].push(n);
                }
                if finished {
                    return seen;
                }
            }
        });
        let taken: u64 = seen.iter().map(|s| s.len() as u64).sum();
        assert_eq!(taken + refused.load(Ordering::Relaxed), 3 * PER_PRODUCER);
        assert_eq!(ring.pushed(), taken);
        for numbers in &mut seen {
            // Each producer's values arrive in the order it pushed them.
            assert!(numbers.windows(2).all(|w| w[0] < w[1]));
            numbers.dedup();
        }
        assert_eq!(ring.len(), 0);
    }
}
