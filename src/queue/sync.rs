//! What the queue synchronizes with: std's atomics, cell, threads and
//! waits, or, in the `--cfg tracing_clickhouse_loom` build that model-checks the queue
//! (`tests/loom.rs`), loom's, so that the checker sees every access and
//! tries every order of them it allows.
//!
//! In the ordinary build these are std's types themselves, or wrappers of
//! a line that the compiler inlines: the queue costs what it did without
//! them.

#[cfg(tracing_clickhouse_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
pub(crate) use std::sync::atomic::Ordering;
#[cfg(not(tracing_clickhouse_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
#[cfg(not(tracing_clickhouse_loom))]
pub(crate) use std::thread::Thread;

/// The flusher's thread, which a producer wakes: a model's thread under
/// loom, or the pipeline's own (which that build compiles but never runs).
#[cfg(tracing_clickhouse_loom)]
#[derive(Debug)]
pub(crate) enum Thread {
    Model(loom::thread::Thread),
    Std(std::thread::Thread),
}

#[cfg(tracing_clickhouse_loom)]
impl Thread {
    pub(crate) fn unpark(&self) {
        match self {
            Thread::Model(thread) => thread.unpark(),
            Thread::Std(thread) => thread.unpark(),
        }
    }
}

#[cfg(tracing_clickhouse_loom)]
impl From<loom::thread::Thread> for Thread {
    fn from(thread: loom::thread::Thread) -> Self {
        Thread::Model(thread)
    }
}

#[cfg(tracing_clickhouse_loom)]
impl From<std::thread::Thread> for Thread {
    fn from(thread: std::thread::Thread) -> Self {
        Thread::Std(thread)
    }
}

/// A cell whose contents are reached through a closure, as loom's
/// `UnsafeCell` requires (so the checker knows when an access starts and
/// ends).
#[cfg(not(tracing_clickhouse_loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(tracing_clickhouse_loom))]
impl<T> UnsafeCell<T> {
    #[inline]
    pub(crate) fn new(value: T) -> Self {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Calls `f` with a pointer to the contents, to read them.
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Calls `f` with a pointer to the contents, to write them.
    #[inline]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(tracing_clickhouse_loom)]
pub(crate) use loom::cell::UnsafeCell;

/// Waits a little in a retry loop: spins, then yields (crossbeam's
/// `Backoff`). Under loom every wait yields, as the checker needs of a loop
/// that waits for another thread.
#[cfg(not(tracing_clickhouse_loom))]
pub(crate) use crossbeam::utils::Backoff;

#[cfg(tracing_clickhouse_loom)]
#[derive(Debug, Default)]
pub(crate) struct Backoff;

#[cfg(tracing_clickhouse_loom)]
impl Backoff {
    pub(crate) fn new() -> Self {
        Backoff
    }

    pub(crate) fn spin(&self) {
        loom::thread::yield_now();
    }

    pub(crate) fn snooze(&self) {
        loom::thread::yield_now();
    }

    /// Loom's waits are all yields: there is no spinning to finish.
    pub(crate) fn is_completed(&self) -> bool {
        true
    }
}

/// Sleeps (yields, under loom).
#[inline]
pub(crate) fn sleep(duration: std::time::Duration) {
    #[cfg(not(tracing_clickhouse_loom))]
    std::thread::sleep(duration);
    #[cfg(tracing_clickhouse_loom)]
    {
        let _ = duration;
        loom::thread::yield_now();
    }
}

/// The calling thread's number, which picks the ring it pushes into.
#[cfg(not(tracing_clickhouse_loom))]
#[inline]
pub(crate) fn thread_number() -> usize {
    crate::threads::current_id() as usize
}

/// The calling thread's number: 0, 1, ... in the order the model's threads
/// first ask, anew in every execution (the process-wide numbers of
/// `threads` would differ from one execution to the next, and loom needs
/// each execution to replay the same way).
#[cfg(tracing_clickhouse_loom)]
pub(crate) fn thread_number() -> usize {
    use std::sync::atomic::AtomicUsize as StdCounter;
    loom::lazy_static! {
        static ref NEXT: StdCounter = StdCounter::new(0);
    }
    loom::thread_local! {
        static NUMBER: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    NUMBER.with(|number| *number)
}

#[cfg(not(tracing_clickhouse_loom))]
thread_local! {
    static LAST_RING: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

#[cfg(tracing_clickhouse_loom)]
loom::thread_local! {
    static LAST_RING: std::cell::Cell<usize> = std::cell::Cell::new(usize::MAX);
}

/// The ring this thread pushed into last (`usize::MAX` before its first
/// push, or while its thread-locals are being destroyed): a hint, any ring
/// is correct.
#[inline]
pub(crate) fn last_ring() -> usize {
    LAST_RING
        .try_with(std::cell::Cell::get)
        .unwrap_or(usize::MAX)
}

/// Remembers the ring this thread pushed into.
#[inline]
pub(crate) fn set_last_ring(at: usize) {
    let _ = LAST_RING.try_with(|last| last.set(at));
}
