//! Logs: which ones ([`LogQuery`]), reading them a page at a time, counting
//! them, and their most frequent patterns.

mod cursor;
mod filter;
mod newest;
mod patterns;
mod read;
mod rollup;
mod stats;
mod tail;
mod volume;

pub use cursor::LogCursor;
pub use filter::LogQuery;
pub use patterns::{LogPattern, message_pattern};
pub use read::{LogEntry, Logs};
pub use stats::LogStats;
pub use tail::LogTail;
pub use volume::VolumeBucket;
