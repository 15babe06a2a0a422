//! What the pipeline has to tell a person: one line on stderr each, named
//! after the crate. Never through `tracing`, which would feed it back into
//! the queue it is about.

use std::fmt::Display;

/// Prints `message` on stderr as `tracing-clickhouse: message`.
pub(crate) fn report(message: impl Display) {
    eprintln!("tracing-clickhouse: {message}");
}
