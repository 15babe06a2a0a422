//! The readable console, rendered on the flusher thread from the records it
//! drains, so printing costs the application's threads nothing; and written
//! by a thread of its own, so a slow or stuck terminal never holds up
//! delivery.
//!
//! A line looks like `tracing_subscriber::fmt`'s default format:
//!
//! ```text
//! 2026-12-01T07:29:16.123456Z  WARN outer{tenant="acme"}:inner: checkout::cart: cart is full items=12
//! ```
//!
//! the time (UTC, microseconds), the level (colored on a terminal), the spans
//! around the event from the outermost, the target, the message and the
//! fields (`&str` values quoted, as `fmt` quotes them). Control characters
//! in text are escaped (tabs and newlines aside), so a log line cannot
//! drive the terminal. Lines come in capture order and are handed to the
//! writer once per drain.

mod lines;
mod output;

pub(crate) use lines::Console;
