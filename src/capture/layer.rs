//! The `tracing` Layer: events become `logs` rows.

use std::borrow::Cow;
use std::sync::Arc;

use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use super::fields::FieldVisitor;
use super::{capture_suppressed, is_internal_target, thread};
use crate::pipeline::queue::Queue;
use crate::record::{LogRecord, Record, Severity, now_ns};

/// A [`Layer`] that sends every event to ClickHouse's `logs` table.
///
/// Get one from [`Builder::build`](crate::Builder::build) and add it to your
/// own subscriber; [`init`](crate::init) installs it for you.
///
/// ```no_run
/// use tracing_subscriber::prelude::*;
///
/// # fn main() -> tracing_clickhouse::Result<()> {
/// let (layer, _telemetry) = tracing_clickhouse::builder().build()?;
/// tracing_subscriber::registry()
///     .with(layer.with_filter(tracing_subscriber::filter::LevelFilter::INFO))
///     .init();
/// tracing::info!(user = "ada", "signed in");
/// # Ok(()) }
/// ```
///
/// Events of this crate and of its transport (`clickhouse`, `hyper`, `rustls`,
/// `tokio`, ...) are never captured, nor anything emitted on the flusher thread.
#[derive(Clone, Debug)]
pub struct ClickHouseLayer {
    queue: Arc<Queue>,
}

impl ClickHouseLayer {
    pub(crate) fn new(queue: Arc<Queue>) -> Self {
        ClickHouseLayer { queue }
    }
}

impl<S: Subscriber> Layer<S> for ClickHouseLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let metadata = event.metadata();
        if capture_suppressed() || is_internal_target(metadata.target()) {
            return;
        }
        let mut visitor = FieldVisitor::with_capacity(metadata.fields().len());
        event.record(&mut visitor);
        self.queue.push(Record::Log(LogRecord {
            timestamp_ns: now_ns(),
            severity: Severity::from_tracing(metadata.level()),
            source: Cow::Borrowed(metadata.target()),
            message: visitor.message,
            fields: visitor.fields,
            module_path: metadata.module_path(),
            file: metadata.file(),
            line: metadata.line(),
            thread_id: thread::current_id(),
        }));
    }
}
