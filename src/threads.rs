//! Numbers for threads, and their names, without a lock on the hot path.
//!
//! Each thread gets a small number the first time it emits; its name (if it
//! has one) is registered once in a shared table that only the flusher reads.
//! Records carry the number, so capture copies a `u64` instead of a string.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock};

use parking_lot::RwLock;

/// Names kept at most; threads beyond this keep their number but no name,
/// so a program that names every short-lived thread cannot grow the table
/// without bound.
const MAX_NAMED_THREADS: usize = 10_000;

static NEXT_ID: AtomicU32 = AtomicU32::new(1);
static NAMES: LazyLock<RwLock<HashMap<u32, Arc<str>>>> = LazyLock::new(Default::default);

thread_local! {
    static THREAD_ID: u32 = register_current();
}

fn register_current() -> u32 {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    if let Some(name) = std::thread::current().name() {
        let mut names = NAMES.write();
        if names.len() < MAX_NAMED_THREADS {
            names.insert(id, Arc::from(name));
        }
    }
    id
}

/// The calling thread's number.
#[inline]
pub(crate) fn current_id() -> u32 {
    // During thread-local destruction the number is gone; 0 means "unknown".
    THREAD_ID.try_with(|id| *id).unwrap_or(0)
}

/// The name registered for a thread number.
pub(crate) fn name_of(id: u32) -> Option<Arc<str>> {
    NAMES.read().get(&id).cloned()
}

/// Marks the calling thread as the crate's background work (the flusher,
/// delivery's worker, the console's writer): on Linux, `SCHED_BATCH`, so
/// that waking it never preempts the application's threads, which run
/// first and for their whole slice; it still gets its fair share of the
/// CPU (the same weight), so it keeps up. Elsewhere, or where the system
/// refuses, nothing changes.
pub(crate) fn run_in_background() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: with pid 0, sched_setscheduler changes the calling thread
        // only; `param` is a valid sched_param (SCHED_BATCH takes priority
        // 0) that outlives the call. An error leaves the thread as it was.
        let _ = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_get_distinct_numbers_and_their_names() {
        let here = current_id();
        assert_eq!(here, current_id(), "stable within a thread");
        let (id, name) = std::thread::Builder::new()
            .name("worker-7".into())
            .spawn(|| (current_id(), name_of(current_id())))
            .unwrap()
            .join()
            .unwrap();
        assert_ne!(id, here);
        assert_eq!(name.as_deref(), Some("worker-7"));
        assert_eq!(name_of(id).as_deref(), Some("worker-7"));
    }
}
