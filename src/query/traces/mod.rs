//! Traces: spans by service, name, duration and status; one trace as a
//! tree with its logs; the slowest operations.

mod filter;
mod operations;
mod read;
mod tree;

pub use filter::{SpanQuery, SpanStatus};
pub use operations::OperationStats;
pub use read::SpanEntry;
pub use tree::{SpanNode, Trace};
