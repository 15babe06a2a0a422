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
//!
//! Positions (and stamps) are `u64` on every target. With `usize` a 32-bit
//! target would run out of positions after 2^31 or so pushes into one ring,
//! and a wrapped tail looks far behind the head, so a full ring would look
//! empty and a producer would overwrite a value the consumer is reading. A
//! position is at most about twice the number of pushes, so running out
//! takes over 2^63 pushes into one ring: more than a century at a billion
//! pushes a second. On 64-bit targets this costs nothing.

use std::mem::{ManuallyDrop, MaybeUninit};

use crossbeam::utils::CachePadded;

use super::sync::{AtomicU64, Backoff, Ordering, UnsafeCell};

#[repr(align(64))]
struct Slot<T> {
    /// One more than the position of the value it holds, once written
    /// (0 before the first); the consumer takes the value at position `p`
    /// when it reads `p + 1` here.
    stamp: AtomicU64,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// What producers share: the tail, and the head as last read from the
/// consumer, on one cache line.
struct Producers {
    tail: AtomicU64,
    seen_head: AtomicU64,
}

/// A bounded multi-producer, single-consumer ring.
///
/// The consumer's methods are `unsafe`: their caller guarantees that no two
/// threads run them at the same time (`queue::sharded` gives them to one
/// owner). [`Ring::push_with`] is `unsafe` too: its caller guarantees that
/// the value is written.
pub(crate) struct Ring<T> {
    producers: CachePadded<Producers>,
    /// The consumer's position: every position before it is free.
    head: CachePadded<AtomicU64>,
    slots: Box<[Slot<T>]>,
    /// The smallest power of two above the capacity.
    one_lap: u64,
    /// `one_lap`'s power of two: a position's lap is a shift away (a
    /// division is tens of cycles, on every push).
    lap_shift: u32,
    /// The index of the slot half a lap from the first: see
    /// [`Ring::is_half_lap`].
    half_lap: usize,
}

// SAFETY: a value is written by exactly one producer (the one whose CAS won
// its position), read and dropped by the one consumer, and written again
// only after the consumer published a head past it; the stamp's and the
// head's release/acquire pairs order those accesses. Values cross threads,
// hence `T: Send`.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as for `Send`: shared, the ring hands each value from the one
// producer that wrote it to the one consumer, never to two threads at once.
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    /// Memory of one slot: the value, its stamp and the padding that keeps
    /// slots on cache lines of their own.
    pub(crate) const SLOT_BYTES: usize = std::mem::size_of::<Slot<T>>();

    /// A ring of `capacity` slots (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let slots = (0..capacity)
            .map(|_| Slot {
                stamp: AtomicU64::new(0),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        let one_lap = (capacity as u64 + 1).next_power_of_two();
        Ring {
            producers: CachePadded::new(Producers {
                tail: AtomicU64::new(0),
                seen_head: AtomicU64::new(0),
            }),
            head: CachePadded::new(AtomicU64::new(0)),
            slots,
            one_lap,
            lap_shift: one_lap.trailing_zeros(),
            half_lap: capacity.div_ceil(2),
        }
    }

    /// An empty ring whose head and tail start at `position` instead of 0,
    /// as if that many positions had been used.
    #[cfg(all(test, not(tracing_clickhouse_loom)))]
    fn starting_at(capacity: usize, position: u64) -> Self {
        let mut ring = Ring::new(capacity);
        assert!(ring.index(position) < ring.capacity(), "not a position");
        // Every stamp is 0, below `position + 1`: no slot looks written.
        *ring.producers.tail.get_mut() = position;
        *ring.producers.seen_head.get_mut() = position;
        *ring.head.get_mut() = position;
        ring
    }

    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Whether a value pushed at `index` starts a half lap of the ring (the
    /// first slot, or the one half the capacity on).
    #[inline]
    pub(crate) fn is_half_lap(&self, index: usize) -> bool {
        index == 0 || index == self.half_lap
    }

    #[inline]
    fn index(&self, position: u64) -> usize {
        // Below `one_lap`, which is at most twice the capacity: no loss.
        (position & (self.one_lap - 1)) as usize
    }

    /// The position after `position`.
    #[inline]
    fn next(&self, position: u64) -> u64 {
        if self.index(position) + 1 < self.slots.len() {
            position + 1
        } else {
            (position & !(self.one_lap - 1)) + self.one_lap
        }
    }

    /// Values pushed before `position`.
    #[inline]
    fn count(&self, position: u64) -> u64 {
        let laps = position >> self.lap_shift;
        laps * self.slots.len() as u64 + self.index(position) as u64
    }

    /// Whether a push at `tail` would overwrite a value the consumer has
    /// not taken, by the consumer's position `head`. (A `head` ahead of
    /// `tail` means `tail` is stale: the CAS on it will fail.)
    #[inline]
    fn full(&self, tail: u64, head: u64) -> bool {
        self.count(tail).saturating_sub(self.count(head)) >= self.slots.len() as u64
    }

    /// Reserves a free slot and lets `init` write the value into it,
    /// returning the value's index in the ring. When the ring is full,
    /// `init` is not called and comes back as the error.
    ///
    /// `init` must not panic: the consumer waits for the slot it was given
    /// (and every value after it, and a flush for all of them), so if it
    /// does, the process aborts rather than hang.
    ///
    /// # Safety
    ///
    /// If `init` returns, it must have initialized the value (with
    /// `MaybeUninit::write`, say): once this returns, the consumer reads the
    /// slot as a `T` and drops it.
    #[inline]
    pub(crate) unsafe fn push_with<F>(&self, init: F) -> Result<usize, F>
    where
        F: FnOnce(&mut MaybeUninit<T>),
    {
        let backoff = Backoff::new();
        let producers = &*self.producers;
        let mut tail = producers.tail.load(Ordering::Relaxed);
        loop {
            // Acquire: the head read here (by us or by the producer whose
            // `fetch_max` stored it) was published by the consumer after it
            // was done with the slots before it; a push into one of those
            // slots must come after that.
            if self.full(tail, producers.seen_head.load(Ordering::Acquire)) {
                // Full by the head seen last: ask the consumer (rarely).
                let head = self.head.load(Ordering::Acquire);
                if head != producers.seen_head.load(Ordering::Relaxed) {
                    // Release passes on what the acquire above saw, to the
                    // producers that read `seen_head` (the max never moves
                    // it back, so a stale head cannot replace a newer one).
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
            // SeqCst is more than needed: only the CAS's atomicity matters
            // (each position is won once, and positions never repeat); the
            // slot's accesses are ordered by the stamp's and the head's
            // release/acquire pairs.
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
        // Aborts if `init` panics.
        let reserved = Reserved {
            stamp: &slot.stamp,
            position: tail,
        };
        slot.value.with_mut(|value| {
            // SAFETY: winning the CAS made this position ours, and the head
            // says the consumer is done with the slot's previous value.
            init(unsafe { &mut *value })
        });
        // Release: the value's bytes reach the consumer with the stamp.
        reserved.written();
        Ok(index)
    }

    /// The oldest value's slot, if a producer has finished writing it.
    ///
    /// # Safety
    ///
    /// As for the consumer's methods.
    #[inline]
    unsafe fn ready_slot(&self) -> Option<(u64, &Slot<T>)> {
        // Only the consumer writes the head.
        let head = self.head.load(Ordering::Relaxed);
        let slot = &self.slots[self.index(head)];
        // Acquire: pairs with the producer's release of the stamp, so the
        // value it wrote is visible.
        let stamp = slot.stamp.load(Ordering::Acquire);
        (stamp == head + 1).then_some((head, slot))
    }

    /// Lets `look` see the oldest value without taking it. `None` when the
    /// ring is empty (or its oldest value is still being written).
    ///
    /// # Safety
    ///
    /// No other thread may run a consumer method at the same time.
    #[inline]
    pub(crate) unsafe fn peek_with<R>(&self, look: impl FnOnce(&T) -> R) -> Option<R> {
        // SAFETY: we are the consumer (the caller's promise).
        let (_, slot) = unsafe { self.ready_slot() }?;
        Some(slot.value.with(|value| {
            // SAFETY: the stamp says the value is written; only the consumer
            // (the caller, alone) takes it away.
            look(unsafe { (*value).assume_init_ref() })
        }))
    }

    /// Takes the oldest value: `read` sees it in its slot, then it is
    /// dropped there (also if `read` panics) and the slot freed (also if
    /// dropping it panics). `None` when the ring is empty (or its oldest
    /// value is still being written).
    ///
    /// # Safety
    ///
    /// No other thread may run a consumer method at the same time.
    #[inline]
    pub(crate) unsafe fn pop_with<R>(&self, read: impl FnOnce(&mut T) -> R) -> Option<R> {
        // SAFETY: we are the consumer (the caller's promise).
        let (head, slot) = unsafe { self.ready_slot() }?;
        Some(slot.value.with_mut(|value| {
            let free = FreeSlot {
                // SAFETY: as in `peek_with`; and the value is ours to drop.
                value: unsafe { (*value).assume_init_mut() },
                head: &self.head,
                next: self.next(head),
            };
            read(&mut *free.value)
        }))
    }

    /// Values pushed into the ring since it was made (reserved ones count).
    pub(crate) fn pushed(&self) -> u64 {
        self.count(self.producers.tail.load(Ordering::Relaxed))
    }

    /// Values in the ring (a moment's view while others push and pop).
    pub(crate) fn len(&self) -> usize {
        let head = self.head.load(Ordering::Acquire);
        let tail = self.producers.tail.load(Ordering::Acquire);
        // The head is read first, so this may overshoot by what moved
        // between the loads: still about the capacity, which fits a usize.
        self.count(tail).saturating_sub(self.count(head)) as usize
    }
}

/// A position won by a producer whose value is not written yet: dropped
/// (when `init` panics) it aborts the process.
struct Reserved<'a> {
    stamp: &'a AtomicU64,
    position: u64,
}

impl Reserved<'_> {
    /// The value is written: tells the consumer.
    #[inline]
    fn written(self) {
        let this = ManuallyDrop::new(self);
        this.stamp.store(this.position + 1, Ordering::Release);
    }
}

impl Drop for Reserved<'_> {
    #[cold]
    fn drop(&mut self) {
        // The slot would never be written, and the consumer would wait for
        // it forever (with every value after it, and every flush).
        eprintln!("tracing-clickhouse: a record's initialization panicked in the queue; aborting");
        std::process::abort();
    }
}

/// Drops a popped value and frees its slot (publishes the head past it),
/// also when the reader panics, and also when dropping the value panics.
struct FreeSlot<'a, T> {
    value: &'a mut T,
    head: &'a AtomicU64,
    next: u64,
}

/// Publishes the head past a slot whose value is gone.
struct AdvanceHead<'a> {
    head: &'a AtomicU64,
    next: u64,
}

impl Drop for AdvanceHead<'_> {
    #[inline]
    fn drop(&mut self) {
        // Release: the consumer's reads and drop of the value come before a
        // producer's next write into the slot (it acquires the head).
        self.head.store(self.next, Ordering::Release);
    }
}

impl<T> Drop for FreeSlot<'_, T> {
    fn drop(&mut self) {
        // Dropped after the value, also if `T::drop` panics: a panicking
        // drop still counts as done (the value's fields are dropped as it
        // unwinds), and the head must move past it, or the next pop would
        // drop it again.
        let _advance = AdvanceHead {
            head: self.head,
            next: self.next,
        };
        // SAFETY: the value was initialized and is ours; after this it is
        // never touched again until a producer writes a new one, which it
        // does only once it sees the head past it.
        unsafe { std::ptr::drop_in_place(self.value as *mut T) };
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // If a value's drop panics, the ones after it are leaked.
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

#[cfg(all(test, not(tracing_clickhouse_loom)))]
mod tests {
    use super::*;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    /// Pushes `value`, written the way every push must.
    fn push_value<T>(ring: &Ring<T>, value: T) -> bool {
        // SAFETY: the value is written.
        unsafe {
            ring.push_with(|slot| {
                slot.write(value);
            })
        }
        .is_ok()
    }

    fn push(ring: &Ring<String>, value: &str) -> bool {
        push_value(ring, value.to_owned())
    }

    /// `pop_with`, as the ring's one consumer.
    fn take<T, R>(ring: &Ring<T>, read: impl FnOnce(&mut T) -> R) -> Option<R> {
        // SAFETY: each test has one consumer, the thread calling this.
        unsafe { ring.pop_with(read) }
    }

    /// `peek_with`, as the ring's one consumer.
    fn look<T, R>(ring: &Ring<T>, look: impl FnOnce(&T) -> R) -> Option<R> {
        // SAFETY: each test has one consumer, the thread calling this.
        unsafe { ring.peek_with(look) }
    }

    fn pop<T: Default>(ring: &Ring<T>) -> Option<T> {
        take(ring, std::mem::take)
    }

    /// Panics without the panic hook (which would print a message).
    fn fail() -> ! {
        std::panic::resume_unwind(Box::new("failed on purpose"))
    }

    #[test]
    fn values_come_out_in_order_and_a_full_ring_refuses() {
        let ring = Ring::new(3);
        assert!(push(&ring, "a") && push(&ring, "b") && push(&ring, "c"));
        assert!(!push(&ring, "d"), "full");
        assert_eq!((ring.len(), ring.pushed()), (3, 3));
        assert_eq!(look(&ring, |v| v.clone()).as_deref(), Some("a"));
        assert_eq!(pop(&ring).as_deref(), Some("a"));
        assert!(push(&ring, "d"));
        for expected in ["b", "c", "d"] {
            assert_eq!(pop(&ring).as_deref(), Some(expected));
        }
        assert_eq!((pop(&ring), ring.len(), ring.pushed()), (None, 0, 4));
        assert_eq!(look(&ring, |v| v.clone()), None);
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
            assert!(push_value(&ring, Tracked(Arc::clone(&live))));
        }
        for _ in 0..3 {
            take(&ring, |_| ()).unwrap();
        }
        assert_eq!(live.load(Ordering::Relaxed), 5);
        let panicked = catch_unwind(AssertUnwindSafe(|| take(&ring, |_| fail())));
        assert!(panicked.is_err());
        assert_eq!(live.load(Ordering::Relaxed), 4, "dropped despite the panic");
        live.fetch_add(1, Ordering::Relaxed);
        assert!(push_value(&ring, Tracked(Arc::clone(&live))));
        drop(ring);
        assert_eq!(live.load(Ordering::Relaxed), 0);
    }

    /// Where `usize` positions wrapped on 32-bit targets.
    const WRAP_32: u64 = 1 << 32;

    #[test]
    fn a_full_ring_refuses_a_push_across_the_old_32_bit_wrap() {
        for capacity in [1, 3, 4, 5, 100] {
            for wrap in [1 << 31, WRAP_32] {
                let one_lap = (capacity as u64 + 1).next_power_of_two();
                let start = wrap - 2 * one_lap;
                let ring = Ring::starting_at(capacity, start);
                let (mut pushed, mut popped) = (0u64, 0u64);
                for _ in 0..capacity {
                    assert!(push_value(&ring, pushed));
                    pushed += 1;
                }
                // Kept full for four laps, its head and tail on either side
                // of the wrap point for a while.
                let mut straddled = false;
                for _ in 0..4 * capacity {
                    assert!(!push_value(&ring, u64::MAX), "full");
                    assert_eq!(ring.len(), capacity);
                    let head = ring.head.load(Ordering::Relaxed);
                    let tail = ring.producers.tail.load(Ordering::Relaxed);
                    straddled |= head < wrap && tail >= wrap;
                    assert_eq!(pop(&ring), Some(popped));
                    popped += 1;
                    assert!(push_value(&ring, pushed));
                    pushed += 1;
                }
                assert!(straddled);
                while let Some(value) = pop(&ring) {
                    assert_eq!(value, popped);
                    popped += 1;
                }
                assert_eq!(popped, pushed);
                assert_eq!(ring.pushed(), ring.count(start) + pushed);
                assert_eq!(ring.len(), 0);
            }
        }
    }

    /// Counts its drops, and panics in its drop if `panics`.
    struct PanicsOnDrop {
        id: u32,
        drops: Arc<AtomicU64>,
        panics: bool,
    }

    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::Relaxed);
            if self.panics {
                fail();
            }
        }
    }

    #[test]
    fn a_value_whose_drop_panics_is_dropped_once_and_the_ring_goes_on() {
        let drops = Arc::new(AtomicU64::new(0));
        let value = |id, panics| PanicsOnDrop {
            id,
            drops: Arc::clone(&drops),
            panics,
        };
        let ring = Ring::new(2);
        assert!(push_value(&ring, value(1, true)) && push_value(&ring, value(2, false)));
        let popped = catch_unwind(AssertUnwindSafe(|| take(&ring, |v| v.id)));
        assert!(popped.is_err(), "the drop's panic reaches the caller");
        assert_eq!(drops.load(Ordering::Relaxed), 1);
        assert_eq!(ring.len(), 1, "its slot is free");
        assert!(push_value(&ring, value(3, false)));
        assert_eq!(ring.len(), 2);
        for id in [2, 3] {
            assert_eq!(take(&ring, |v| v.id), Some(id));
        }
        assert_eq!(take(&ring, |v| v.id), None);
        assert_eq!(drops.load(Ordering::Relaxed), 3, "each value dropped once");
        drop(ring);
        assert_eq!(drops.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn a_panicking_init_aborts_the_process() {
        const CHILD: &str = "RING_INIT_PANICS";
        if std::env::var_os(CHILD).is_some() {
            let ring = Ring::<u64>::new(2);
            // SAFETY: `init` does not return.
            let _ = catch_unwind(AssertUnwindSafe(|| unsafe { ring.push_with(|_| fail()) }));
            // Not reached: the process is gone.
            std::process::exit(0);
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "queue::ring::tests::a_panicking_init_aborts_the_process",
            ])
            .args(["--test-threads", "1", "--nocapture"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(6), "SIGABRT: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("initialization panicked"), "{stderr}");
    }

    /// Three producers and a consumer on a ring whose positions start at
    /// `start`; a push refused is given up, or tried again if `retry`.
    /// Returns the tail it ended at.
    fn concurrent(start: u64, retry: bool) -> u64 {
        const PER_PRODUCER: u64 = 200_000;
        let ring: Ring<(u64, u64)> = Ring::starting_at(100, start);
        let refused = AtomicU64::new(0);
        let done = AtomicUsize::new(0);
        let mut seen = std::thread::scope(|scope| {
            for producer in 0..3 {
                let (ring, refused, done) = (&ring, &refused, &done);
                scope.spawn(move || {
                    for n in 0..PER_PRODUCER {
                        while !push_value(ring, (producer, n)) {
                            if !retry {
                                refused.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                            std::thread::yield_now();
                        }
                    }
                    done.fetch_add(1, Ordering::Release);
                });
            }
            let mut seen = vec![Vec::new(); 3];
            loop {
                let finished = done.load(Ordering::Acquire) == 3;
                while let Some((producer, n)) = take(&ring, |value| *value) {
                    seen[producer as usize].push(n);
                }
                if finished {
                    return seen;
                }
            }
        });
        let taken: u64 = seen.iter().map(|s| s.len() as u64).sum();
        let refused = refused.into_inner();
        assert_eq!(taken + refused, 3 * PER_PRODUCER);
        assert!(!retry || refused == 0);
        assert_eq!(ring.pushed() - ring.count(start), taken);
        for numbers in &mut seen {
            // Each producer's values arrive in the order it pushed them, once each.
            assert!(numbers.windows(2).all(|w| w[0] < w[1]));
        }
        assert_eq!(ring.len(), 0);
        ring.producers.tail.load(Ordering::Relaxed)
    }

    #[test]
    fn concurrent_producers_and_a_consumer_lose_and_repeat_nothing() {
        concurrent(0, false);
    }

    #[test]
    fn concurrently_across_the_old_32_bit_wrap() {
        // A hundred slots are 128 positions a lap: a thousand laps before
        // the wrap, and 6000 laps of pushes.
        let tail = concurrent(WRAP_32 - 1000 * 128, true);
        assert!(tail > WRAP_32);
    }
}
