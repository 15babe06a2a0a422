//! How `propagation` reaches our spans: setting a remote parent on a span
//! already created, and reading the context a span passes on.

use tracing::span::Id;
use tracing::{Dispatch, Subscriber};
use tracing_subscriber::registry::LookupSpan;

use super::CaptureShared;
use super::span_state::{Parent, SpanState};
use super::span_table::SpanTable;
use crate::propagation::{ContextHook, RemoteContext, SpanContext};
use crate::threads;

/// The hook for a layer added to a subscriber of type `S`.
pub(super) fn hook<S>() -> ContextHook
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    ContextHook {
        set_parent,
        context: context::<S>,
    }
}

/// Sets span `id`'s remote parent (in our table alone: the subscriber's
/// type does not matter).
fn set_parent(dispatch: &Dispatch, id: &Id, remote: &RemoteContext) {
    let (Some(shared), Some(spans)) = (
        dispatch.downcast_ref::<CaptureShared>(),
        dispatch.downcast_ref::<SpanTable>(),
    ) else {
        return;
    };
    shared.count_rejection(remote);
    let Some(parent) = Parent::remote(remote) else {
        return;
    };
    let (ticks, thread_id) = (shared.clock.ticks(), threads::current_id());
    spans.update(id, |state| {
        let was_sampled = state.start.sampled;
        state.adopt(parent);
        if state.start.sampled && !was_sampled {
            // Recorded from now on.
            state.start.start_ticks = ticks;
            state.start.thread_id = thread_id;
        }
    });
}

/// The context span `id` passes on: its own, or, for a span we do not
/// track, the innermost tracked one around it.
fn context<S>(dispatch: &Dispatch, id: &Id) -> Option<SpanContext>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let spans = dispatch.downcast_ref::<SpanTable>()?;
    spans.read(id, SpanState::span_context).or_else(|| {
        let span = dispatch.downcast_ref::<S>()?.span(id)?;
        spans.innermost(&span, SpanState::span_context)
    })
}

/// Takes span `id`'s ids from its OpenTelemetry span, the first time it is
/// entered (see `otel`): its trace and span id, and its local parent's
/// span id as the parent's OpenTelemetry span has it.
#[cfg(feature = "opentelemetry")]
pub(super) fn take_opentelemetry_ids<S>(
    spans: &SpanTable,
    id: &Id,
    ctx: &tracing_subscriber::layer::Context<'_, S>,
) where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let remote_parent = match spans.read(id, |state| (state.otel_synced, state.start.remote_parent))
    {
        Some((false, remote_parent)) => remote_parent,
        _ => return,
    };
    // Read without holding a lock of ours: OpenTelemetry's layer locks the
    // span's extensions, and may log.
    let ids = crate::otel::ids(id);
    let local_parent = match remote_parent {
        true => None,
        false => ctx
            .span(id)
            .and_then(|span| span.parent())
            .and_then(|parent| {
                parent
                    .scope()
                    .find(|s| spans.read(&s.id(), |_| ()).is_some())
                    .map(|s| s.id())
            }),
    };
    let parent_ids = local_parent.and_then(|parent| crate::otel::ids(&parent));
    spans.update(id, |state| {
        state.otel_synced = true;
        if let Some((trace_id, Some(span_id))) = ids.map(|(t, s)| (t, std::num::NonZeroU64::new(s)))
        {
            state.start.context = crate::record::TraceContext::new(trace_id, span_id);
            if let Some((_, parent_span_id)) = parent_ids {
                state.start.parent_span_id = parent_span_id;
            }
        }
    });
}
