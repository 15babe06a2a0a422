//! The bounded lock-free queue between application threads and the flusher.
//!
//! The queue is a few rings ([`Ring`]), one per group of threads: a thread
//! pushes into the ring of its number, so two threads logging at once do
//! not fight over one tail, and takes the next ring when its own is full.
//! A push touches only what the push itself needs: its ring's tail and the
//! slot it writes the record into. It takes no lock, allocates nothing and
//! makes no system call, and it never reads what the flusher writes (the
//! rings' heads, the flusher's counters), so a flusher draining at the same
//! time costs the application nothing but the slots they share. The count
//! of records accepted is the rings' tails.
//!
//! The flusher, the one consumer (it holds the [`QueueReader`]), takes
//! records oldest first across the rings by their capture time, so rows
//! and console lines keep the order they were captured in.
//!
//! The queue is bounded by records (its slots, 256 bytes each, allocated up
//! front) and by the heap memory of records too large for a slot (their
//! payloads, and the fields of spans and events); concurrent pushes may
//! overshoot the second bound by a few records. When it is full,
//! [`QueuePolicy`] decides: drop the new record and count it (the default;
//! the application never waits), or wait for room.
//!
//! The flusher polls on a short interval; a producer wakes it early every
//! half lap of its ring, when heap memory passes half its bound, or when it
//! has to wait (at most once per drain).
//!
//! The rings' and the queue's atomics are model-checked: `models` (built
//! with `--cfg tracing_clickhouse_loom`, run by `tests/loom.rs` in `make
//! test`) has loom run small scenarios over them in every interleaving
//! within a bound, through `sync`, which is std's types in the ordinary
//! build and loom's in that one.

#[cfg(tracing_clickhouse_loom)]
pub mod models;
mod ring;
mod sharded;
mod sync;

pub(crate) use sharded::{Queue, QueueReader};
