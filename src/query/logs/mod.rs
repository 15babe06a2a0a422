//! Logs: which ones ([`LogQuery`]), reading them a page at a time, counting
//! them, and their most frequent patterns.

mod cursor;
mod filter;
mod patterns;
mod read;
mod stats;
mod tail;

pub use cursor::LogCursor;
pub use filter::{DEFAULT_LIMIT, LogQuery, MAX_ATTRIBUTE_FILTERS};
pub use patterns::{LogPattern, LogPatterns, message_pattern};
pub use read::{LogEntry, Logs};
pub use stats::{LogStats, LogVolume, VolumeBucket};
pub use tail::LogTail;
