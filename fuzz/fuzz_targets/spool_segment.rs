//! The spool reader on arbitrary segment files: it must never panic, and
//! what it skips is never more than the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracing_clickhouse::fuzzing::read_segment_image;

fuzz_target!(|bytes: &[u8]| {
    let (_rows, skipped) = read_segment_image(bytes);
    assert!(skipped <= bytes.len() as u64);
});
