//! Every reader of bytes from outside the process (a spool segment on disk,
//! RowBinary batches read back, capture payloads copied between records)
//! given bytes nobody wrote for it: an answer or an error, never a panic,
//! and memory bounded by the input, whatever the lengths inside claim.
//!
//! The memory is measured: a counting allocator records, while a reader
//! runs, its largest allocation and the sum of them all.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use proptest::prelude::*;
use tracing_clickhouse::fuzzing::{read_payload, read_segment_image, read_values};

struct MeasuringAllocator;

thread_local! {
    /// `(largest, total)` bytes asked for on this thread while measuring.
    static ASKED: Cell<Option<(usize, usize)>> = const { Cell::new(None) };
}

fn note(size: usize) {
    let _ = ASKED.try_with(|asked| {
        if let Some((largest, total)) = asked.get() {
            asked.set(Some((largest.max(size), total.saturating_add(size))));
        }
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is a const-initialized thread-local that never allocates.
unsafe impl GlobalAlloc for MeasuringAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: our caller's promises are the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: our caller's promises are the system allocator's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: our caller's promises are the system allocator's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: our caller's promises are the system allocator's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: MeasuringAllocator = MeasuringAllocator;

/// Runs `read`, and returns the largest allocation and the sum of all of
/// them that it made.
fn measured(read: impl FnOnce()) -> (usize, usize) {
    ASKED.with(|asked| asked.set(Some((0, 0))));
    read();
    ASKED.with(|asked| asked.take()).expect("measuring")
}

/// What a reader may ask for, given `len` bytes: a small multiple of them
/// (a string map's pairs are 48 bytes for two of input, a string's invalid
/// bytes become three), and a little more.
fn bound(len: usize) -> (usize, usize) {
    (32 * len + 4096, 256 * len + 64 * 1024)
}

/// Bytes that look like what each reader expects up to a length or count
/// that claims far more than follows: LEB128 (RowBinary), `u32` (payloads,
/// spool records), after a segment's magic or not.
fn claims() -> impl Strategy<Value = Vec<u8>> {
    let tail = proptest::collection::vec(any::<u8>(), 0..64);
    (any::<u64>(), any::<u8>(), any::<bool>(), tail).prop_map(|(claim, kind, magic, tail)| {
        let mut bytes = Vec::new();
        if magic {
            bytes.extend_from_slice(b"TCSPOOL\x01");
        }
        match kind % 3 {
            0 => {
                // RowBinary: a varint length.
                let mut n = claim;
                while n >= 0x80 {
                    bytes.push(n as u8 | 0x80);
                    n >>= 7;
                }
                bytes.push(n as u8);
            }
            1 => {
                // A payload entry: kind, empty name, u32 length.
                bytes.extend_from_slice(&[kind % 12, 0]);
                bytes.extend_from_slice(&(claim as u32).to_le_bytes());
            }
            _ => {
                // A spool record: u32 length, crc.
                bytes.extend_from_slice(&(claim as u32).to_le_bytes());
                bytes.extend_from_slice(&[0; 4]);
            }
        }
        bytes.extend_from_slice(&tail);
        bytes
    })
}

fn inputs() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![proptest::collection::vec(any::<u8>(), 0..2048), claims()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn rowbinary_values_from_any_bytes(bytes in inputs()) {
        let mut read = 0;
        let (largest, total) = measured(|| read = read_values(&bytes));
        prop_assert!(read <= bytes.len());
        let (max_largest, max_total) = bound(bytes.len());
        prop_assert!(largest <= max_largest, "{} bytes asked for at once, for {} of input", largest, bytes.len());
        prop_assert!(total <= max_total, "{} bytes asked for in all, for {} of input", total, bytes.len());
    }

    #[test]
    fn a_payload_from_any_bytes(bytes in inputs()) {
        let mut read = (0, 0);
        let (largest, total) = measured(|| read = read_payload(&bytes));
        prop_assert!(read.0 <= bytes.len() / 2);
        let (max_largest, max_total) = bound(bytes.len());
        prop_assert!(largest <= max_largest, "{} bytes asked for at once, for {} of input", largest, bytes.len());
        prop_assert!(total <= max_total, "{} bytes asked for in all, for {} of input", total, bytes.len());
    }

    #[test]
    fn a_spool_segment_from_any_bytes(bytes in inputs()) {
        let mut read = (0, 0);
        let (largest, total) = measured(|| read = read_segment_image(&bytes));
        prop_assert!(read.1 <= bytes.len() as u64, "skipped more than the file");
        let (max_largest, max_total) = bound(bytes.len());
        prop_assert!(largest <= max_largest, "{} bytes asked for at once, for {} of input", largest, bytes.len());
        prop_assert!(total <= max_total, "{} bytes asked for in all, for {} of input", total, bytes.len());
    }
}

/// The measuring itself: a reader that keeps a copy of its input is seen.
#[test]
fn the_allocator_measures() {
    let input = vec![7u8; 1000];
    let (largest, total) = measured(|| drop(std::hint::black_box(input.clone())));
    assert!(largest >= 1000 && total >= 1000, "{largest} {total}");
    assert_eq!(measured(|| ()), (0, 0));
}
