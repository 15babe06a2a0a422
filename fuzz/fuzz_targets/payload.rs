//! A capture payload read from arbitrary bytes, and its fields copied into
//! another: it must never panic, and an entry takes at least two bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracing_clickhouse::fuzzing::read_payload;

fuzz_target!(|bytes: &[u8]| {
    let (entries, _copied) = read_payload(bytes);
    assert!(entries <= bytes.len() / 2);
});
