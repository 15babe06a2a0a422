//! Open spans' state, by span id: the layer's own table, in place of the
//! registry's extensions.
//!
//! An extension is a value boxed into a map behind a lock in the
//! registry's slot for the span, reached through the registry's look-up
//! (which counts a reference in and out): tracking a span cost an
//! allocation, and creating and closing it a look-up and a lock each.
//! Here a span's state lives in one shard of a hash table keyed by the
//! span's id: creating and closing it take one lock each, ask the
//! registry nothing, and allocate nothing once the shard has grown to the
//! spans open at once. Ids are unique among open spans, and the registry
//! reuses one only after the span's close, which removes its state here
//! first.
//!
//! No lock of the table is held while the application's code runs (a field
//! value's `Debug`, an injector): that code may create spans and log,
//! which would take a lock of the table again. A lock is held for a few
//! dozen instructions (a map's insert or removal, copying a span's fields):
//! a spin lock, whose release is a plain store (a scheduler-aware mutex's
//! is an atomic read-modify-write: 10 ns on each of a span's two locks).

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use crossbeam::utils::CachePadded;
use tracing::span::Id;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use super::span_state::{SpanStart, SpanState};

/// Shards of the table: threads creating and closing spans at once rarely
/// meet in one.
const SHARD_BITS: u32 = 6;

/// A shard with room for more spans than this, and less than an eighth of
/// it in use, gives back memory (after a burst of open spans).
const SHRINK_ABOVE: usize = 1024;

/// Odd multipliers for the shard's choice and for the shard's own hash:
/// different ones, so that the entries of one shard still differ in the
/// hash's high bits (which the map compares first).
const SHARD_MIX: u64 = 0x9E37_79B9_7F4A_7C15;
const MAP_MIX: u64 = 0xD6E8_FEB8_6659_FD93;

/// A shard's lock: taken for a few dozen instructions (a map's insert or
/// removal, a copy of a span's fields), so a waiter spins, yielding its
/// time slice each time round (should the holder have been preempted).
type Mutex<T> = spin::mutex::SpinMutex<T, spin::relax::Yield>;

/// One shard: the states of its spans, and where each span's is.
///
/// The states stay where they are while their spans are open (a span's
/// is read, changed and emptied in place: a state is a few hundred bytes,
/// and a map moves its values on insert and removal), and a closed span's
/// place is taken by the next span, its state rewritten in place.
#[derive(Default)]
struct Shard {
    /// Each tracked span's place in `states`, by id.
    places: HashMap<u64, u32, BuildHasherDefault<IdHasher>>,
    /// The open spans' states, and closed ones' (at the places in `free`),
    /// which nothing reads.
    states: Vec<SpanState>,
    /// Places in `states` free for the next span.
    free: Vec<u32>,
}

impl Shard {
    #[inline]
    fn get(&mut self, id: &Id) -> Option<&mut SpanState> {
        let at = *self.places.get(&id.into_u64())?;
        Some(&mut self.states[at as usize])
    }

    /// Frees `id`'s place, after `take` had its state (in place; what it
    /// leaves there is dropped when the place is next used).
    #[inline]
    fn remove<R>(&mut self, id: &Id, take: impl FnOnce(&mut SpanState) -> R) -> Option<R> {
        let at = self.places.remove(&id.into_u64())?;
        let taken = take(&mut self.states[at as usize]);
        self.free.push(at);
        if self.states.len() > SHRINK_ABOVE && self.places.len() < self.states.len() / 8 {
            self.compact();
        }
        Some(taken)
    }

    /// Moves the states of open spans to the front, and gives back the
    /// memory of the rest (after a burst of open spans).
    #[cold]
    fn compact(&mut self) {
        let mut states: Vec<Option<SpanState>> = std::mem::take(&mut self.states)
            .into_iter()
            .map(Some)
            .collect();
        let mut kept = Vec::with_capacity(2 * self.places.len());
        for at in self.places.values_mut() {
            kept.extend(states[*at as usize].take());
            *at = (kept.len() - 1) as u32;
        }
        self.states = kept;
        self.free = Vec::new();
        self.places.shrink_to(2 * self.places.len());
    }
}

/// The state of every open span the layer tracks.
pub(super) struct SpanTable {
    shards: Box<[CachePadded<Mutex<Shard>>]>,
}

impl SpanTable {
    pub(super) fn new() -> Self {
        SpanTable {
            shards: (0..1 << SHARD_BITS)
                .map(|_| CachePadded::default())
                .collect(),
        }
    }

    #[inline]
    fn shard(&self, id: &Id) -> &Mutex<Shard> {
        let at = id.into_u64().wrapping_mul(SHARD_MIX) >> (64 - SHARD_BITS);
        &self.shards[at as usize]
    }

    /// Tracks span `id` from now on, its state made of `start` and its
    /// `fields` (copied in under the shard's lock).
    #[inline]
    pub(super) fn insert(&self, id: &Id, start: SpanStart, fields: &[u8]) {
        let mut shard = self.shard(id).lock();
        let shard = &mut *shard;
        let at = match shard.free.pop() {
            Some(at) => {
                shard.states[at as usize].restart(start, fields);
                at
            }
            None => {
                shard.states.push(SpanState::new(start, fields));
                // A shard's places stay below the registry's 2^32 spans.
                (shard.states.len() - 1) as u32
            }
        };
        // An id still here is a span whose close we did not see (the
        // registry reuses ids only after a close): its place is freed.
        if let Some(stale) = shard.places.insert(id.into_u64(), at) {
            shard.free.push(stale);
        }
    }

    /// Stops tracking span `id`, once `take` took what it needs from its
    /// state (in place, under the shard's lock: no application code).
    #[inline]
    pub(super) fn remove<R>(&self, id: &Id, take: impl FnOnce(&mut SpanState) -> R) -> Option<R> {
        self.shard(id).lock().remove(id, take)
    }

    /// Reads span `id`'s state with `read`, which runs under the shard's
    /// lock: no application code.
    #[inline]
    pub(super) fn read<R>(&self, id: &Id, read: impl FnOnce(&SpanState) -> R) -> Option<R> {
        self.shard(id).lock().get(id).map(|state| read(state))
    }

    /// Changes span `id`'s state with `update`, which runs under the
    /// shard's lock: no application code.
    #[inline]
    pub(super) fn update<R>(&self, id: &Id, update: impl FnOnce(&mut SpanState) -> R) -> Option<R> {
        self.shard(id).lock().get(id).map(update)
    }

    /// The innermost span of `span`'s scope that is tracked, read with
    /// `read` (a span may be left out: one of our own, or one a per-layer
    /// filter keeps from this layer).
    pub(super) fn innermost<S, T>(
        &self,
        span: &SpanRef<'_, S>,
        read: impl Fn(&SpanState) -> T,
    ) -> Option<T>
    where
        S: for<'a> LookupSpan<'a>,
    {
        span.scope().find_map(|span| self.read(&span.id(), &read))
    }

    /// Spans tracked now.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().places.len())
            .sum()
    }
}

impl fmt::Debug for SpanTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanTable")
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

/// A span id's hash: one multiplication (ids are the registry's slot
/// numbers, not chosen by anyone who could aim at one shard).
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(MAP_MIX);
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::TraceContext;
    use std::num::NonZeroU64;

    fn metadata() -> &'static tracing::Metadata<'static> {
        let registry = tracing::Dispatch::new(tracing_subscriber::registry());
        tracing::dispatcher::with_default(&registry, || {
            tracing::info_span!("table").metadata().unwrap()
        })
    }

    fn start(span_id: u64) -> SpanStart {
        SpanStart {
            metadata: metadata(),
            context: TraceContext::new(7, NonZeroU64::new(span_id).unwrap()),
            parent_span_id: 0,
            remote_parent: false,
            sampled: true,
            trace_state: Default::default(),
            start_ticks: 0,
            thread_id: 0,
            field_count: 0,
            error_field: None,
        }
    }

    fn span_id(table: &SpanTable, id: u64) -> Option<u64> {
        table.read(&Id::from_u64(id), |state| state.start.context.span_id())
    }

    #[test]
    fn spans_are_found_by_id_changed_in_place_and_removed() {
        let table = SpanTable::new();
        for id in 1..=100 {
            table.insert(&Id::from_u64(id), start(1000 + id), b"fields");
        }
        assert_eq!(table.len(), 100);
        assert_eq!(span_id(&table, 42), Some(1042));
        assert_eq!(span_id(&table, 101), None);
        table.update(&Id::from_u64(42), |state| state.fields.extend(b"+more"));
        let fields = table.read(&Id::from_u64(42), |state| state.fields.to_vec());
        assert_eq!(fields.as_deref(), Some(&b"fields+more"[..]));
        let taken = table.remove(&Id::from_u64(42), |state| state.fields.to_vec());
        assert_eq!(taken.as_deref(), Some(&b"fields+more"[..]));
        assert_eq!((span_id(&table, 42), table.len()), (None, 99));
        assert_eq!(
            table.remove(&Id::from_u64(42), |_| ()),
            None,
            "removed once"
        );
        // A new span takes the place of the closed one, and starts afresh.
        table.insert(&Id::from_u64(500), start(5), b"");
        let fields = table.read(&Id::from_u64(500), |state| state.fields.len());
        assert_eq!((span_id(&table, 500), fields), (Some(5), Some(0)));
    }

    #[test]
    fn an_id_seen_again_replaces_the_state_it_had() {
        let table = SpanTable::new();
        table.insert(&Id::from_u64(9), start(1), b"old");
        table.insert(&Id::from_u64(9), start(2), b"new");
        assert_eq!((span_id(&table, 9), table.len()), (Some(2), 1));
        table.remove(&Id::from_u64(9), |_| ());
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn a_shard_gives_back_its_room_after_a_burst_and_keeps_its_open_spans() {
        let table = SpanTable::new();
        let ids = 1..=(64 * 2 * SHRINK_ABOVE as u64);
        for id in ids.clone() {
            table.insert(&Id::from_u64(id), start(id), &id.to_le_bytes());
        }
        // Close all but every 100th.
        for id in ids.clone().filter(|id| id % 100 != 0) {
            assert_eq!(
                table.remove(&Id::from_u64(id), |s| s.start.context.span_id()),
                Some(id)
            );
        }
        let room: usize = table.shards.iter().map(|s| s.lock().states.len()).sum();
        assert!(room < ids.clone().count() / 8, "{room} places kept");
        for id in ids.filter(|id| id % 100 == 0) {
            let fields = table.read(&Id::from_u64(id), |state| state.fields.to_vec());
            assert_eq!(fields.as_deref(), Some(&id.to_le_bytes()[..]));
        }
    }
}
