//! What is never captured: anything emitted on the pipeline's own threads,
//! and events of our own crate and of our transport's, so an insert cannot
//! feed back into the queue.

use std::cell::Cell;

thread_local! {
    static SKIPPING: Cell<Skipping> = const { Cell::new(Skipping::NONE) };
}

/// What a thread knows about what not to capture: whether it captures
/// nothing (the pipeline's own threads), and the verdict on the callsite it
/// looked at last (a loop logs from one callsite, and its target then needs
/// no second look).
#[derive(Clone, Copy)]
struct Skipping {
    suppressed: bool,
    last_callsite: usize,
    last_internal: bool,
}

impl Skipping {
    const NONE: Skipping = Skipping {
        suppressed: false,
        last_callsite: 0,
        last_internal: false,
    };
}

/// Nothing emitted on this thread is captured from now on (the flusher's).
pub(crate) fn suppress_capture_on_this_thread() {
    SKIPPING.with(|s| {
        s.set(Skipping {
            suppressed: true,
            ..s.get()
        })
    });
}

/// Whether an event or span from `callsite` is not captured: it comes from
/// one of our own threads, or from one of [`INTERNAL_CRATES`].
#[inline]
pub(crate) fn skipped(callsite: &'static tracing::Metadata<'static>) -> bool {
    let key = std::ptr::from_ref(callsite) as usize;
    SKIPPING
        .try_with(|cell| {
            let mut skipping = cell.get();
            if skipping.suppressed {
                return true;
            }
            if skipping.last_callsite != key {
                skipping.last_callsite = key;
                skipping.last_internal = is_internal_target(callsite.target());
                cell.set(skipping);
            }
            skipping.last_internal
        })
        // During thread teardown.
        .unwrap_or(true)
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
#[inline]
pub(crate) fn is_internal_target(target: &str) -> bool {
    // Most targets start with a letter none of these crates starts with.
    if !matches!(
        target.as_bytes().first(),
        Some(b'c' | b'h' | b'm' | b'r' | b't' | b'w')
    ) {
        return false;
    }
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
    fn the_first_letter_shortcut_covers_every_internal_crate() {
        for krate in INTERNAL_CRATES {
            assert!(is_internal_target(krate), "{krate}");
        }
    }

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
