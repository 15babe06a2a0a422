//! Allocations on the application thread, counted by a counting global
//! allocator (per thread, so the flusher's own work is not counted).
//!
//! One `info!` with a message and three fields (u64, &str, f64) needs two
//! owned strings (the message and the `&str` value); capture makes none: the
//! whole event is written into its slot of the queue. An event too large
//! for a slot makes one allocation, its payload. A span cycle makes none
//! either: its state lives in the layer's table, its fields inside it, and
//! its record is written into its slot; a span whose fields do not fit
//! there makes one, its fields.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use tracing::{Dispatch, dispatcher};
use tracing_clickhouse::{Builder, Telemetry};
use tracing_subscriber::prelude::*;

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is a const-initialized thread-local that never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: our caller's promises are the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: our caller's promises are the system allocator's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: our caller's promises are the system allocator's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: our caller's promises are the system allocator's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

fn dry_run() -> (Dispatch, Telemetry) {
    let (layer, telemetry) = Builder::from_env_vars::<&str, &str>([])
        .url("http://127.0.0.1:9")
        .and_then(|b| b.limit(tracing_clickhouse::Limit::QueueCapacity(65_536)))
        .unwrap()
        // Only the events measured: no system gauges, no pipeline metrics.
        .system_monitor(false)
        .pipeline_metrics(false)
        .dry_run(true)
        .build()
        .unwrap();
    (
        Dispatch::new(tracing_subscriber::registry().with(layer)),
        telemetry,
    )
}

fn event(i: u64) {
    tracing::info!(
        request_id = i,
        user = "ada",
        latency_ms = 12.5,
        "request handled"
    );
}

const EVENTS: u64 = 1_000;

fn large_event(i: u64) {
    tracing::info!(
        request_id = i,
        query = "SELECT name, value FROM settings WHERE changed ORDER BY name, value",
        plan = "ReadFromMergeTree -> Filter -> Sorting -> Expression -> Limit -> Output",
        "query planned and sent to the server for execution"
    );
}

#[test]
fn an_event_costs_no_allocation() {
    let (dispatch, telemetry) = dry_run();
    dispatcher::with_default(&dispatch, || {
        // The first events set up this thread's scratch buffer and number.
        (0..10).for_each(event);
        let n = allocations_during(|| (0..EVENTS).for_each(event));
        assert_eq!(n, 0, "{n} allocations for {EVENTS} events");
    });
    telemetry.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(telemetry.stats().sent_rows, EVENTS + 10);
}

#[test]
fn an_event_inside_a_span_costs_no_allocation_either() {
    let (dispatch, _telemetry) = dry_run();
    dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("request", route = "/items");
        let _entered = span.enter();
        (0..10).for_each(event);
        let n = allocations_during(|| (0..EVENTS).for_each(event));
        assert_eq!(n, 0, "{n} allocations for {EVENTS} events");
    });
}

#[test]
fn an_event_too_large_for_its_slot_costs_one_allocation() {
    let (dispatch, telemetry) = dry_run();
    dispatcher::with_default(&dispatch, || {
        (0..10).for_each(large_event);
        let n = allocations_during(|| (0..EVENTS).for_each(large_event));
        assert_eq!(n, EVENTS, "{n} allocations for {EVENTS} events");
    });
    telemetry.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(telemetry.stats().sent_rows, EVENTS + 10);
}

/// Span cycles before the ones counted: enough that every shard of the
/// layer's span table has had a span (and so room for the next).
const WARM_UP: u64 = 1_000;

fn span_cycle(i: u64) {
    let span = tracing::info_span!("handle", request_id = i);
    drop(span.enter());
}

fn large_span_cycle(i: u64) {
    let span = tracing::info_span!(
        "handle",
        request_id = i,
        route = "/api/v1/organizations/{organization}/projects/{project}/settings",
        user_agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)",
    );
    drop(span.enter());
}

#[test]
fn a_span_cycle_costs_no_allocation() {
    let (dispatch, telemetry) = dry_run();
    dispatcher::with_default(&dispatch, || {
        // The first spans give the table's shards room (a span's id picks
        // one of 64), and this thread its scratch buffer.
        (0..WARM_UP).for_each(span_cycle);
        let n = allocations_during(|| (0..EVENTS).for_each(span_cycle));
        assert_eq!(n, 0, "{n} allocations for {EVENTS} span cycles");
    });
    telemetry.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(telemetry.stats().sent_rows, EVENTS + WARM_UP);
}

#[test]
fn a_child_span_and_an_event_inside_it_cost_no_allocation() {
    let (dispatch, telemetry) = dry_run();
    dispatcher::with_default(&dispatch, || {
        let request = tracing::info_span!("request", route = "/items");
        let _entered = request.enter();
        let cycle = |i: u64| {
            let child = tracing::info_span!("step", step = i);
            let _inside = child.enter();
            event(i);
        };
        (0..WARM_UP).for_each(cycle);
        let n = allocations_during(|| (0..EVENTS).for_each(cycle));
        assert_eq!(
            n, 0,
            "{n} allocations for {EVENTS} child spans with an event"
        );
    });
    telemetry.flush(Duration::from_secs(10)).unwrap();
    // The children, their events, and the request (closed at the end).
    assert_eq!(telemetry.stats().sent_rows, 2 * (EVENTS + WARM_UP) + 1);
}

#[test]
fn a_span_with_fields_too_large_for_its_state_costs_one_allocation() {
    let (dispatch, telemetry) = dry_run();
    dispatcher::with_default(&dispatch, || {
        (0..WARM_UP).for_each(large_span_cycle);
        let n = allocations_during(|| (0..EVENTS).for_each(large_span_cycle));
        assert_eq!(n, EVENTS, "{n} allocations for {EVENTS} span cycles");
    });
    telemetry.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(telemetry.stats().sent_rows, EVENTS + WARM_UP);
}

#[test]
fn an_unsampled_span_cycle_costs_no_allocation() {
    let (layer, _telemetry) = Builder::from_env_vars::<&str, &str>([])
        .url("http://127.0.0.1:9")
        .and_then(|b| b.trace_sample_ratio(0.0))
        .unwrap()
        .system_monitor(false)
        .pipeline_metrics(false)
        .dry_run(true)
        .build()
        .unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    dispatcher::with_default(&dispatch, || {
        (0..WARM_UP).for_each(span_cycle);
        let n = allocations_during(|| (0..EVENTS).for_each(span_cycle));
        assert_eq!(n, 0, "{n} allocations for {EVENTS} unsampled span cycles");
    });
}
