//! Capture on the application's threads: the tracing Layer and its helpers.
//!
//! Capture formats the message once, copies `&'static` metadata by
//! reference, keeps field values typed, and pushes one record.

mod fields;
mod layer;
pub(crate) mod thread;

use std::cell::Cell;

pub use layer::ClickHouseLayer;

thread_local! {
    static CAPTURE_SUPPRESSED: Cell<bool> = const { Cell::new(false) };
}

/// Nothing emitted on this thread is captured from now on (the flusher's).
pub(crate) fn suppress_capture_on_this_thread() {
    CAPTURE_SUPPRESSED.with(|s| s.set(true));
}

pub(crate) fn capture_suppressed() -> bool {
    CAPTURE_SUPPRESSED.try_with(Cell::get).unwrap_or(true)
}

/// Crates whose events are never captured: ours, and our transport's. An event
/// they emit while we insert must not come back into the queue.
const INTERNAL_CRATES: &[&str] = &[
    "tracing_clickhouse",
    "clickhouse",
    "hyper",
    "hyper_util",
    "hyper_rustls",
    "h2",
    "rustls",
    "tokio",
    "tokio_util",
    "mio",
    "want",
    "tower",
];

/// Whether a target belongs to one of [`INTERNAL_CRATES`] (the crate itself
/// or one of its modules, not a crate whose name merely starts the same).
pub(crate) fn is_internal_target(target: &str) -> bool {
    INTERNAL_CRATES.iter().any(|krate| {
        target
            .strip_prefix(krate)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_targets_are_whole_crates() {
        assert!(is_internal_target("hyper"));
        assert!(is_internal_target("hyper_util::client::legacy"));
        assert!(is_internal_target("tracing_clickhouse::pipeline"));
        assert!(is_internal_target("clickhouse::insert"));
        assert!(!is_internal_target("hyperloop"));
        assert!(!is_internal_target("my_app::clickhouse"));
        assert!(!is_internal_target("tracing_clickhouse_demo"));
    }
}
