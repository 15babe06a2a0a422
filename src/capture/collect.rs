//! Recording without tracing ([`DirectRecorder`]), in the seed's terms: `collect_log` and
//! `record_event`.

use std::sync::Arc;

use super::payload::Value;
use super::{CaptureShared, LogHead};
use crate::record::{EventRecord, Record, Severity, TraceContext};

/// Records logs and events directly, for callers that do not use `tracing`
/// (the seed's `LogCollectorAgent.collect_log` and event recording).
///
/// Cheap to clone and to share between threads; get one from
/// [`Telemetry::direct_recorder`](crate::Telemetry::direct_recorder). Like the layer, it
/// never blocks (unless the `Block` policy was chosen) and never fails: what
/// cannot be queued is counted in [`Stats`](crate::Stats).
///
/// ```no_run
/// use tracing_clickhouse::{Severity, Value};
///
/// # fn main() -> tracing_clickhouse::Result<()> {
/// let telemetry = tracing_clickhouse::init()?;
/// let recorder = telemetry.direct_recorder();
/// recorder.collect_log(
///     "system_monitor",
///     Severity::Warn,
///     "High CPU usage detected",
///     [("cpu_percent", Value::from(95)), ("threshold", Value::from(90))],
/// );
/// recorder.record_event("deploy", "ci", [("version", Value::from("1.4.2"))]);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct DirectRecorder {
    shared: Arc<CaptureShared>,
}

impl DirectRecorder {
    pub(crate) fn new(shared: Arc<CaptureShared>) -> Self {
        DirectRecorder { shared }
    }

    /// The pipeline's counters, also after the guard is gone (see
    /// [`ClickHouseLayer::stats`](crate::ClickHouseLayer::stats)).
    pub fn stats(&self) -> crate::Stats {
        self.shared.stats()
    }

    /// Stores a log row: `source` becomes `ScopeName`, `context` the
    /// `LogAttributes`. Inside a tracing span, the row carries its trace id.
    pub fn collect_log<'a>(
        &self,
        source: &str,
        level: Severity,
        message: &str,
        context: impl IntoIterator<Item = (&'a str, Value<'a>)>,
    ) {
        let trace = current_trace();
        let head = LogHead {
            severity: level,
            metadata: None,
            trace: trace.map(|(context, _)| context),
            sampled: trace.is_some_and(|(_, sampled)| sampled),
        };
        self.shared.capture_log(
            head,
            |writer| {
                writer.message_str(message);
                writer.scope(source);
                for (key, value) in context {
                    writer.value_field(key, value);
                }
            },
            |()| false,
        );
    }

    /// Stores an `events` row: a discrete happening of `event_type` (for
    /// example `service_status` or `deploy`) from `source`, with `details`.
    pub fn record_event<'a>(
        &self,
        event_type: &str,
        source: &str,
        details: impl IntoIterator<Item = (&'a str, Value<'a>)>,
    ) {
        let (payload, ()) = self.shared.capture_boxed(|writer| {
            for (key, value) in details {
                writer.value_field(key, value);
            }
        });
        let limit = self.shared.limits.max_value_bytes;
        self.shared.queue.push(Record::Event(EventRecord {
            ticks: self.shared.clock.ticks(),
            event_type: super::payload::cut_at_char_boundary(event_type, limit).to_owned(),
            source: super::payload::cut_at_char_boundary(source, limit).to_owned(),
            trace: current_trace().map(|(context, _)| context),
            payload,
        }));
    }
}

/// The trace context of the current tracing span and whether it is
/// sampled, if our layer in the current subscriber tracks that span (or
/// one around it).
fn current_trace() -> Option<(TraceContext, bool)> {
    let current = crate::propagation::SpanContext::current()?;
    let span_id = std::num::NonZeroU64::new(current.span_id())?;
    Some((
        TraceContext::new(current.trace_id(), span_id),
        current.is_sampled(),
    ))
}
