//! The `tracing` Layer: events become `logs` rows, closed spans of sampled
//! traces `spans` rows.

use std::any::TypeId;
use std::sync::Arc;

use tracing::span::{Attributes, Id, Record as SpanValues};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::fields::FieldVisitor;
use super::span_state::{Parent, SpanState, innermost, tracked_context};
use super::{CaptureShared, LogHead, remote, skipped};
use crate::ids::{new_span_id, new_trace_id};
use crate::propagation::{self, ContextHook, TraceState};
use crate::record::{Record, Severity, SpanRecord, TraceContext};
use crate::stats::Counters;
use crate::threads;

/// A [`Layer`] that sends every event to ClickHouse's `logs` table and every
/// closed span to `spans`.
///
/// Get one from [`Builder::build`](crate::Builder::build) and add it to your
/// own subscriber (built on `tracing_subscriber::registry()`, which keeps the
/// spans); [`init`](crate::init) installs it for you.
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
/// A span's row carries its wall-clock duration from creation to close, however
/// often it was entered (an async task's span is entered at every poll). Logs
/// emitted inside a span carry its `TraceId` and `SpanId`. A span continues
/// another service's trace when it takes a remote parent
/// ([`propagation`](crate::propagation)); traces are recorded by the
/// [sampling ratio](crate::Builder::trace_sample_ratio).
///
/// Events and spans of this crate and of its transport (`clickhouse`,
/// `hyper`, `rustls`, `tokio`, ...) are never captured, nor anything emitted
/// on the flusher thread.
#[derive(Clone, Debug)]
pub struct ClickHouseLayer {
    shared: Arc<CaptureShared>,
    /// How `propagation` reaches the spans of the subscriber this layer
    /// was added to.
    hook: Option<ContextHook>,
}

impl ClickHouseLayer {
    pub(crate) fn new(shared: Arc<CaptureShared>) -> Self {
        ClickHouseLayer { shared, hook: None }
    }

    fn counters(&self) -> &Counters {
        &self.shared.queue.counters
    }

    /// The pipeline's counters, as [`Telemetry::stats`](crate::Telemetry::stats)
    /// gives them, and still after the guard is gone: events emitted after
    /// shutdown show up in `dropped_after_shutdown`.
    pub fn stats(&self) -> crate::Stats {
        self.shared.stats()
    }
}

impl<S> Layer<S> for ClickHouseLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_layer(&mut self, _subscriber: &mut S) {
        self.hook = Some(remote::hook::<S>());
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let metadata = attrs.metadata();
        if skipped(metadata) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        // A remote parent given at creation wins over the current span.
        let remote = propagation::take_pending().and_then(|remote| {
            self.shared.count_rejection(&remote);
            Parent::remote(&remote)
        });
        let parent = remote
            .or_else(|| {
                span.parent()
                    .and_then(|p| innermost(&p, SpanState::as_parent))
            })
            .unwrap_or_else(|| {
                let trace_id = new_trace_id();
                Parent {
                    trace_id,
                    span_id: 0,
                    sampled: self.shared.sampler.sample_root(trace_id),
                    trace_state: TraceState::default(),
                    remote: false,
                }
            });
        let context = TraceContext::new(parent.trace_id, new_span_id());
        let mut state = SpanState {
            context,
            parent_span_id: parent.span_id,
            remote_parent: parent.remote,
            #[cfg(feature = "opentelemetry")]
            otel_synced: false,
            sampled: parent.sampled,
            trace_state: parent.trace_state,
            start_ticks: 0,
            thread_id: 0,
            fields: Vec::new(),
            field_count: 0,
            error_field: None,
        };
        if state.sampled {
            // Written through the scratch buffer into one exact-size
            // allocation, which `on_record` may grow and `on_close` hands on
            // without copying.
            let (fields, (error_field, replaced_utf8, field_count)) =
                self.shared.capture_boxed(|writer| {
                    let mut visitor = FieldVisitor::new(writer);
                    attrs.record(&mut visitor);
                    (visitor.error_field, visitor.replaced_utf8, visitor.fields())
                });
            Counters::add(&self.counters().replaced_utf8, replaced_utf8);
            state.fields = fields.into_vec();
            state.field_count = field_count;
            state.error_field = error_field;
            state.start_ticks = self.shared.clock.ticks();
            state.thread_id = threads::current_id();
        }
        span.extensions_mut().insert(state);
    }

    #[cfg(feature = "opentelemetry")]
    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        remote::take_opentelemetry_ids(id, &ctx);
    }

    fn on_record(&self, id: &Id, values: &SpanValues<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        let Some(state) = extensions.get_mut::<SpanState>().filter(|s| s.sampled) else {
            return;
        };
        let ((error_field, replaced_utf8), field_count) =
            self.shared
                .write_payload(&mut state.fields, state.field_count, |writer| {
                    let mut visitor = FieldVisitor::new(writer);
                    values.record(&mut visitor);
                    (visitor.error_field, visitor.replaced_utf8)
                });
        state.field_count = field_count;
        state.error_field = state.error_field.or(error_field);
        Counters::add(&self.counters().replaced_utf8, replaced_utf8);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let metadata = event.metadata();
        if skipped(metadata) {
            return;
        }
        let span = ctx.event_span(event);
        let trace = span.as_ref().and_then(tracked_context);
        let head = LogHead {
            severity: Severity::from_tracing(metadata.level()),
            metadata: Some(metadata),
            trace: trace.map(|(context, _)| context),
            sampled: trace.is_some_and(|(_, sampled)| sampled),
        };
        let (span_fields, console_spans) =
            (self.shared.span_fields_in_logs, self.shared.console_spans);
        let (_internal, replaced_utf8) = self.shared.capture_log(
            head,
            |writer| {
                let mut visitor = FieldVisitor::new(writer);
                event.record(&mut visitor);
                let flags = (visitor.internal_log_target, visitor.replaced_utf8);
                if let (true, Some(span)) = (span_fields || console_spans, &span) {
                    for span in span.scope() {
                        if let Some(state) = span.extensions().get::<SpanState>() {
                            if span_fields {
                                writer.copy_fields(&state.fields);
                            }
                            if console_spans {
                                writer.span_context(span.name(), &state.fields);
                            }
                        }
                    }
                }
                flags
            },
            // A `log` record from one of our own crates.
            |&(internal, _)| internal,
        );
        Counters::add(&self.counters().replaced_utf8, replaced_utf8);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(state) = span.extensions_mut().remove::<SpanState>() else {
            return;
        };
        if !state.sampled {
            self.counters().spans_sampled_out.add_one();
            return;
        }
        self.shared.queue.push(Record::Span(SpanRecord {
            start_ticks: state.start_ticks,
            end_ticks: self.shared.clock.ticks(),
            metadata: span.metadata(),
            context: state.context,
            parent_span_id: state.parent_span_id,
            thread_id: state.thread_id,
            payload: state.fields.into_boxed_slice(),
            error_field: state.error_field,
            trace_state: state.trace_state,
        }));
    }

    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            Some(std::ptr::from_ref(self).cast())
        } else if id == TypeId::of::<CaptureShared>() {
            // How `remote` reaches what the layer shares, without naming the layer.
            Some(std::ptr::from_ref(&*self.shared).cast())
        } else if id == TypeId::of::<ContextHook>() {
            self.hook
                .as_ref()
                .map(|hook| std::ptr::from_ref(hook).cast())
        } else {
            None
        }
    }
}
