//! The commands, one file each.

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
