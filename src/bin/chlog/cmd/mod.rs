//! The commands, one file each.

/// The most rows a listing asks for (`--limit`): more are for `chlog export`,
/// which streams them to a file instead of holding them.
pub(crate) const MAX_LIMIT: u64 = 1_000_000;

pub(crate) mod alerts;
pub(crate) mod events;
pub(crate) mod export;
mod filters;
pub(crate) mod health;
pub(crate) mod logs;
mod manifest;
pub(crate) mod metrics;
pub(crate) mod schema;
pub(crate) mod slow;
pub(crate) mod stats;
pub(crate) mod trace;
pub(crate) mod ui;
