//! The queue's models, run by loom's checker over every interleaving of
//! their threads' atomic accesses (within a bound of preemptions; the
//! models are in `src/queue/models.rs`, which says what each checks).
//!
//! Only in the `--cfg tracing_clickhouse_loom` build (not `--cfg loom`,
//! which tokio answers by leaving out its `net` module), in a target
//! directory of its own (the flag changes every crate's build), as `make
//! test` runs it:
//!
//! ```sh
//! RUSTFLAGS="--cfg tracing_clickhouse_loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test --release --no-default-features --test loom
//! ```
#![cfg(tracing_clickhouse_loom)]

use tracing_clickhouse::queue_models as models;

#[test]
fn ring_push_and_pop_race_across_a_wrap() {
    let executions = models::ring_push_and_pop_race_across_a_wrap();
    eprintln!("{executions} executions");
}

#[test]
fn all_full_never_outlives_the_room_the_reader_made() {
    let executions = models::all_full_never_outlives_the_room_the_reader_made();
    eprintln!("{executions} executions");
}

#[test]
fn the_reader_merges_the_rings_oldest_first() {
    let executions = models::the_reader_merges_the_rings_oldest_first();
    eprintln!("{executions} executions");
}

#[test]
fn a_blocked_producer_wakes_the_flusher() {
    let executions = models::a_blocked_producer_wakes_the_flusher();
    eprintln!("{executions} executions");
}

#[test]
fn a_blocked_producer_is_released_at_shutdown() {
    let executions = models::a_blocked_producer_is_released_at_shutdown();
    eprintln!("{executions} executions");
}

#[test]
fn shutdown_while_producers_push() {
    let executions = models::shutdown_while_producers_push();
    eprintln!("{executions} executions");
}
