//! From captured records to ClickHouse rows and console lines: the flusher
//! thread and what it drives (the encoders, the console, delivery with its
//! retries, the waiting batches and the spool), and the handle the guard
//! holds.

mod batcher;
mod console;
mod delivery;
mod encode;
mod flusher;
mod handle;
mod notices;
mod pending;
mod retry;
mod shutdown;
mod snapshots;
pub(crate) mod spool;

pub(crate) use handle::Pipeline;
pub use shutdown::ShutdownReport;
pub(crate) use shutdown::report_unsent;
