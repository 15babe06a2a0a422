//! Random numbers: trace and span ids (non-zero, W3C-sized: 16 and 8 bytes),
//! deduplication-token prefixes, retry jitter.
//!
//! A per-thread SplitMix64 generator, seeded from std's OS-seeded hasher,
//! makes one without a lock or a system call.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::num::NonZeroU64;

thread_local! {
    /// 0 until the thread's first number: a constant initializer (and no
    /// destructor) makes every later access a plain load and store.
    static STATE: Cell<u64> = const { Cell::new(0) };
}

fn seed() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_i64(crate::record::now_ns());
    hasher.write_u32(crate::threads::current_id());
    hasher.finish()
}

/// A random number.
#[inline]
pub(crate) fn random_u64() -> u64 {
    let mut state = STATE.get();
    if state == 0 {
        state = seed();
    }
    let next = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    STATE.set(next);
    let mut z = next;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[inline]
pub(crate) fn new_span_id() -> NonZeroU64 {
    loop {
        if let Some(id) = NonZeroU64::new(random_u64()) {
            return id;
        }
    }
}

#[inline]
pub(crate) fn new_trace_id() -> u128 {
    (u128::from(new_span_id().get()) << 64) | u128::from(random_u64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_non_zero_and_distinct() {
        let spans: HashSet<u64> = (0..10_000).map(|_| new_span_id().get()).collect();
        assert_eq!(spans.len(), 10_000);
        let traces: HashSet<u128> = (0..10_000).map(|_| new_trace_id()).collect();
        assert_eq!(traces.len(), 10_000);
        assert!(!spans.contains(&0) && !traces.contains(&0));
        let other = std::thread::spawn(new_span_id).join().unwrap();
        assert!(!spans.contains(&other.get()));
    }
}
