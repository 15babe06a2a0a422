//! Capture on the application's threads: the tracing Layer, the explicit
//! `collect_log`/`record_event` API, and their helpers.
//!
//! Capture formats the message once, copies `&'static` metadata by
//! reference, keeps field values binary, and writes one record into its
//! slot of the queue (see [`payload`]): an event allocates nothing unless it
//! is too large for a slot.

mod collect;
mod fields;
mod layer;
pub(crate) mod payload;
#[cfg(feature = "metrics")]
pub(crate) mod recorder;
mod remote;
pub(crate) mod sampler;
#[cfg(feature = "metrics")]
pub(crate) mod series;
mod shared;
mod skip;
mod span_state;
mod span_table;

pub use collect::DirectRecorder;
pub use layer::ClickHouseLayer;
#[cfg(feature = "metrics")]
pub use recorder::MetricsRecorder;
pub(crate) use shared::CaptureShared;
use shared::LogHead;
pub(crate) use skip::suppress_capture_on_this_thread;
use skip::{is_internal_target, skipped};
