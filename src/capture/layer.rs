//! The `tracing` Layer: events become `logs` rows, closed spans of sampled
//! traces `spans` rows.

use std::any::TypeId;
use std::mem::MaybeUninit;
use std::sync::Arc;

use tracing::span::{Attributes, Id, Record as SpanValues};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::fields::FieldVisitor;
use super::span_state::{Parent, SpanStart, SpanState};
use super::span_table::SpanTable;
use super::{CaptureShared, LogHead, remote, skipped};
use crate::ids::{new_span_id, new_trace_id};
use crate::propagation::{self, ContextHook, TraceState};
use crate::record::{Record, Severity, SpanPayload, SpanRecord, TraceContext};
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
///
/// A clone shares the pipeline and tracks spans of its own: add it to
/// another subscriber (span ids are unique within one subscriber only).
#[derive(Debug)]
pub struct ClickHouseLayer {
    shared: Arc<CaptureShared>,
    /// The state of the open spans we track (in this subscriber).
    spans: Arc<SpanTable>,
    /// How `propagation` reaches the spans of the subscriber this layer
    /// was added to.
    hook: Option<ContextHook>,
}

impl ClickHouseLayer {
    pub(crate) fn new(shared: Arc<CaptureShared>) -> Self {
        ClickHouseLayer {
            shared,
            spans: Arc::new(SpanTable::new()),
            hook: None,
        }
    }

    fn counters(&self) -> &Counters {
        &self.shared.queue.counters
    }

    /// The parent in this process of the new span `id`, as the registry
    /// has it: the innermost span of its scope that we track.
    fn local_parent<S>(
        &self,
        attrs: &Attributes<'_>,
        id: &Id,
        ctx: &Context<'_, S>,
    ) -> Option<Parent>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let parent = if attrs.is_root() {
            return None;
        } else if attrs.is_contextual() {
            ctx.current_span().id()?.clone()
        } else {
            attrs.parent()?.clone()
        };
        self.spans.read(&parent, SpanState::as_parent).or_else(|| {
            // Not ours (internal, or filtered out for this layer): the
            // innermost of its ancestors that is.
            let parent = ctx.span(id)?.parent()?;
            self.spans.innermost(&parent, SpanState::as_parent)
        })
    }

    /// The pipeline's counters, as [`Telemetry::stats`](crate::Telemetry::stats)
    /// gives them, and still after the guard is gone: events emitted after
    /// shutdown show up in `dropped_after_shutdown`.
    pub fn stats(&self) -> crate::Stats {
        self.shared.stats()
    }
}

impl Clone for ClickHouseLayer {
    /// The same pipeline, and a table of its own for the spans of the
    /// subscriber the clone is added to (another subscriber's span ids
    /// would collide with this one's).
    fn clone(&self) -> Self {
        ClickHouseLayer::new(Arc::clone(&self.shared))
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
        // A remote parent given at creation wins over the current span.
        let remote = propagation::take_pending().and_then(|remote| {
            self.shared.count_rejection(&remote);
            Parent::remote(&remote)
        });
        let parent = remote
            .or_else(|| self.local_parent(attrs, id, &ctx))
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
        let start = SpanStart {
            metadata,
            context: TraceContext::new(parent.trace_id, new_span_id()),
            parent_span_id: parent.span_id,
            remote_parent: parent.remote,
            sampled: parent.sampled,
            trace_state: parent.trace_state,
            start_ticks: 0,
            thread_id: 0,
            field_count: 0,
            error_field: None,
        };
        if !start.sampled {
            return self.spans.insert(id, start, &[]);
        }
        // Written through the scratch buffer (no lock held while the
        // values format), then copied into the span's state in the table.
        self.shared.capture_with(
            0,
            |writer| {
                let mut visitor = FieldVisitor::new(writer);
                attrs.record(&mut visitor);
                (visitor.error_field, visitor.replaced_utf8)
            },
            |fields, (error_field, replaced_utf8), field_count| {
                Counters::add(&self.counters().replaced_utf8, replaced_utf8);
                let start = SpanStart {
                    start_ticks: self.shared.clock.ticks(),
                    thread_id: threads::current_id(),
                    field_count,
                    error_field,
                    ..start
                };
                self.spans.insert(id, start, fields);
            },
        );
    }

    #[cfg(feature = "opentelemetry")]
    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        remote::take_opentelemetry_ids(&self.spans, id, &ctx);
    }

    fn on_record(&self, id: &Id, values: &SpanValues<'_>, _ctx: Context<'_, S>) {
        let Some(Some(before)) = self.spans.read(id, |state| {
            state.start.sampled.then_some(state.start.field_count)
        }) else {
            return;
        };
        let max_fields = self.shared.limits.max_fields;
        // Formatted without a lock, then appended.
        self.shared.capture_with(
            before,
            |writer| {
                let mut visitor = FieldVisitor::new(writer);
                values.record(&mut visitor);
                (visitor.error_field, visitor.replaced_utf8)
            },
            |fields, (error_field, replaced_utf8), field_count| {
                Counters::add(&self.counters().replaced_utf8, replaced_utf8);
                let dropped = self.spans.update(id, |state| {
                    state.start.error_field = state.start.error_field.or(error_field);
                    state.append_fields(fields, field_count - before, max_fields)
                });
                Counters::add(&self.counters().dropped_fields, dropped.unwrap_or(0));
            },
        );
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let metadata = event.metadata();
        if skipped(metadata) {
            return;
        }
        let span = event_span_id(event, &ctx);
        let trace = span.as_ref().and_then(|id| {
            self.spans
                .read(id, |state| (state.start.context, state.start.sampled))
                // Not ours (internal, or filtered out): an ancestor may be.
                .or_else(|| {
                    let span = ctx.event_span(event)?;
                    self.spans
                        .innermost(&span, |state| (state.start.context, state.start.sampled))
                })
        });
        let head = LogHead {
            severity: Severity::from_tracing(metadata.level()),
            metadata: Some(metadata),
            trace: trace.map(|(context, _)| context),
            sampled: trace.is_some_and(|(_, sampled)| sampled),
        };
        let (span_fields, console_spans) =
            (self.shared.span_fields_in_logs, self.shared.console_spans);
        let with_spans = span.is_some() && (span_fields || console_spans);
        let (_internal, replaced_utf8) = self.shared.capture_log(
            head,
            |writer| {
                let mut visitor = FieldVisitor::new(writer);
                event.record(&mut visitor);
                let flags = (visitor.internal_log_target, visitor.replaced_utf8);
                if let Some(span) = with_spans.then(|| ctx.event_span(event)).flatten() {
                    for span in span.scope() {
                        // Our own code only, under the table's lock.
                        self.spans.read(&span.id(), |state| {
                            if span_fields {
                                writer.copy_fields(&state.fields);
                            }
                            if console_spans {
                                writer.span_context(span.name(), &state.fields);
                            }
                        });
                    }
                }
                flags
            },
            // A `log` record from one of our own crates.
            |&(internal, _)| internal,
        );
        Counters::add(&self.counters().replaced_utf8, replaced_utf8);
    }

    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        // The fields are copied out of the table (only the bytes in use),
        // and the rest of the state taken.
        let mut fields = SpanPayload::EMPTY;
        let Some(state) = self.spans.remove(&id, |state| {
            state.fields.move_into(&mut fields);
            // The trace state is taken; the rest is copied.
            let start = &mut state.start;
            SpanStart {
                trace_state: std::mem::take(&mut start.trace_state),
                ..*start
            }
        }) else {
            return;
        };
        if !state.sampled {
            self.counters().spans_sampled_out.add_one();
            return;
        }
        let end_ticks = self.shared.clock.ticks();
        let heap = fields.heap_bytes();
        // Written into the slot, the fields last, copied again only as far
        // as they go. Nothing here can panic.
        let init = |slot: &mut MaybeUninit<Record>| {
            let record = slot.write(Record::Span(SpanRecord {
                start_ticks: state.start_ticks,
                end_ticks,
                metadata: state.metadata,
                context: state.context,
                parent_span_id: state.parent_span_id,
                thread_id: state.thread_id,
                payload: SpanPayload::EMPTY,
                error_field: state.error_field,
                trace_state: state.trace_state,
            }));
            if let Record::Span(span) = record {
                fields.move_into(&mut span.payload);
            }
        };
        // SAFETY: `init` writes the record (above).
        unsafe { self.shared.queue.push_with(heap, init) };
    }

    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            Some(std::ptr::from_ref(self).cast())
        } else if id == TypeId::of::<CaptureShared>() {
            // How `remote` reaches what the layer shares, without naming the layer.
            Some(std::ptr::from_ref(&*self.shared).cast())
        } else if id == TypeId::of::<SpanTable>() {
            // How `remote` reaches the spans, without naming the layer.
            Some(std::ptr::from_ref(&*self.spans).cast())
        } else if id == TypeId::of::<ContextHook>() {
            self.hook
                .as_ref()
                .map(|hook| std::ptr::from_ref(hook).cast())
        } else {
            None
        }
    }
}

/// The span an event belongs to, as the registry has it (the innermost
/// one we track may be further out).
#[inline]
fn event_span_id<S>(event: &Event<'_>, ctx: &Context<'_, S>) -> Option<Id>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if event.is_root() {
        None
    } else if event.is_contextual() {
        ctx.current_span().id().cloned()
    } else {
        event.parent().cloned()
    }
}
