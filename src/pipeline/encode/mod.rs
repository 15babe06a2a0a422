//! Records to RowBinary rows, one encoder per table.
//!
//! Encoding happens on the flusher thread as records are drained, so a batch
//! is ready to send the moment it is sealed and its bytes can be kept as they
//! are for a retry. Numbers captured as numbers are rendered to text here.
//! Each table's rows follow the `input()` columns of its insert
//! (`schema::insert_sql`); `query::memory` reads them back.

mod encoder;
mod event;
mod log;
#[cfg(feature = "metrics")]
mod metric;
mod origin;
mod span;

pub(crate) use encoder::Encoder;
#[cfg(feature = "metrics")]
pub(crate) use metric::encode_metric;
pub(crate) use span::add_trace_state;
