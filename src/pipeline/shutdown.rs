//! What shutting the pipeline down left behind, and telling a person.

use crate::report::report;
use crate::stats::Stats;

/// What shutting the pipeline down left behind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Rows that were captured but are neither acknowledged by ClickHouse
    /// nor kept in the spool: they are lost (and counted as dropped).
    pub unsent_rows: u64,
    /// Rows left in the disk spool; the next run with the same spool
    /// directory sends them.
    pub spooled_rows: u64,
    /// The spool directory, if there is one.
    pub spool_dir: Option<std::path::PathBuf>,
    /// The last delivery error, if rows were left unsent.
    pub error: Option<String>,
    /// The pipeline's counters at the end.
    pub stats: Stats,
}

/// Says on stderr what a shutdown could not deliver, and where it went.
pub(crate) fn report_unsent(shutdown: &ShutdownReport) {
    let error = shutdown.error.as_deref().unwrap_or("unknown error");
    if shutdown.unsent_rows > 0 {
        report(format_args!(
            "{} rows could not be delivered before shutdown and are lost: {error}",
            shutdown.unsent_rows,
        ));
    }
    if let (true, Some(dir)) = (shutdown.spooled_rows > 0, &shutdown.spool_dir) {
        report(format_args!(
            "{} rows wait in the spool {dir:?} for the next run ({error})",
            shutdown.spooled_rows,
        ));
    }
}
