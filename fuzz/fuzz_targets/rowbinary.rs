//! RowBinary read back from arbitrary bytes, with every reader: it must
//! never panic, and it reads at most one value per byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracing_clickhouse::fuzzing::read_values;

fuzz_target!(|bytes: &[u8]| {
    assert!(read_values(bytes) <= bytes.len());
});
