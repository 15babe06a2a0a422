//! A bounded lock-free ring of slots that values are written into and read
//! from in place: many producers, one consumer.
//!
//! crossbeam's `ArrayQueue` moves a value into its slot and out again: for
//! our 248-byte records that is two copies of the whole record per event,
//! most of it unused payload space. Here a producer reserves a slot and
//! initializes it where it lies, and the consumer reads it by reference and
//! drops it there, so an event's bytes are written once and read once.
//!
//! Producers race for the tail with a compare-and-swap, write the value, and
//! stamp the slot with its position, which tells the consumer the value is
//! there. The consumer never writes a slot: it publishes how far it got (the
//! head), which producers read only when the ring looks full by the head
//! they saw last. A slot the consumer wrote (a stamp, say) would be in its
//! cache, modified, when the producer next needs it, and a push would wait
//! on the other core for it; this way a push loads nothing the consumer
//! writes, and its stores go out without waiting. Positions are
//! `lap * one_lap + index`, as in crossbeam's bounded queue.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam::utils::{Backoff, CachePadded};

#[repr(align(64))]
struct Slot<T> {
    /// One more than the position of the value it holds, once written
    /// (0 before the first); the consumer takes the value at position `p`
    /// when it reads `p + 1` here.
    stamp: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// What producers share: the tail, and the head as last read from the
/// consumer, on one cache line.
struct Producers {
    tail: AtomicUsize,
    seen_head: AtomicUsize,
}

/// A bounded multi-producer, single-consumer ring.
///
/// The consumer's methods are `unsafe`: their caller guarantees that no two
/// threads run them at the same time (`queue::sharded` gives them to one
/// owner).
pub(crate) struct Ring<T> {
    producers: CachePadded<Producers>,
    /// The consumer's position: every position before it is free.
    head: CachePadded<AtomicUsize>,
    slots: Box<[Slot<T>]>,
    /// The smallest power of two above the capacity.
    one_lap: usize,
}

// SAFETY: a value is written by exactly one producer (the one whose CAS won
// its position), read and dropped by the one consumer, and written again
// only after the consumer published a head past it; the stamp's and the
// head's release/acquire pairs order those accesses. Values cross threads,
// hence `T: Send`.
unsafe impl<T: Send> Send for Ring<T> {}
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    /// A ring of `capacity` slots (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let slots = (0..capacity)
            .map(|_| Slot {
                stamp: AtomicUsize::new(0),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Ring {
            producers: CachePadded::new(Producers {
                tail: AtomicUsize::new(0),
                seen_head: AtomicUsize::new(0),
            }),
            head: CachePadded::new(AtomicUsize::new(0)),
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

    /// Values pushed before `position`.
    #[inline]
    fn count(&self, position: usize) -> u64 {
        let laps = (position / self.one_lap) as u64;
        laps * self.slots.len() as u64 + self.index(position) as u64
    }

    /// Whether a push at `tail` would overwrite a value the consumer has
    /// not taken, by the consumer's position `head`.
    #[inline]
    fn full(&self, tail: usize, head: usize) -> bool {
        self.count(tail).saturating_sub(self.count(head)) >= self.slots.len() as u64
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
        let producers = &*self.producers;
        let mut tail = producers.tail.load(Ordering::Relaxed);
        loop {
            if self.full(tail, producers.seen_head.load(Ordering::Acquire)) {
                // Full by the head seen last: ask the consumer (rarely).
                let head = self.head.load(Ordering::Acquire);
                if head != producers.seen_head.load(Ordering::Relaxed) {
                    producers.seen_head.fetch_max(head, Ordering::AcqRel);
                }
                if self.full(tail, head) {
                    let current = producers.tail.load(Ordering::Relaxed);
                    if current == tail {
                        return Err(init);
                    }
                    tail = current;
                    continue;
                }
            }
            match producers.tail.compare_exchange_weak(
                tail,
                self.next(tail),
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(current) => {
                    tail = current;
                    backoff.spin();
                }
            }
        }
        let index = self.index(tail);
        let slot = &self.slots[index];
        // SAFETY: winning the CAS made this position ours, and the head says
        // the consumer is done with the slot's previous value.
        init(unsafe { &mut *slot.value.get() });
        slot.stamp.store(tail + 1, Ordering::Release);
        Ok(index)
    }

    /// The oldest value's slot, if a producer has finished writing it.
    #[inline]
    fn ready_slot(&self) -> Option<(usize, &Slot<T>)> {
        // Only the consumer writes the head.
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
    /// dropped there (also if `read` panics) and the slot freed. `None` when
    /// the ring is empty (or its oldest value is still being written).
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
            head: &self.head,
            next: self.next(head),
        };
        Some(read(&mut *free.value))
    }

    /// Values pushed into the ring since it was made (reserved ones count).
    pub(crate) fn pushed(&self) -> u64 {
        self.count(self.producers.tail.load(Ordering::Relaxed))
    }

    /// Values in the ring (a moment's view while others push and pop).
    pub(crate) fn len(&self) -> usize {
        let head = self.head.load(Ordering::Acquire);
        let tail = self.producers.tail.load(Ordering::Acquire);
        self.count(tail).saturating_sub(self.count(head)) as usize
    }
}

/// Drops a popped value and frees its slot (publishes the head past it),
/// also when the reader panics.
struct FreeSlot<'a, T> {
    value: &'a mut T,
    head: &'a AtomicUsize,
    next: usize,
}

impl<T> Drop for FreeSlot<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the value was initialized and is ours; after this it is
        // never touched again until a producer writes a new one, which it
        // does only once it sees the head below.
        unsafe { std::ptr::drop_in_place(self.value as *mut T) };
        self.head.store(self.next, Ordering::Release);
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
