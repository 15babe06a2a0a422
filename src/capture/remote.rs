//! How `propagation` reaches our spans: setting a remote parent on a span
//! already created, and reading the context a span passes on.

use tracing::span::Id;
use tracing::{Dispatch, Subscriber};
use tracing_subscriber::registry::LookupSpan;

use super::CaptureShared;
use super::span_state::{Parent, SpanState, innermost};
use crate::propagation::{ContextHook, RemoteContext, SpanContext};
use crate::threads;

/// The hook for a layer added to a subscriber of type `S`.
pub(super) fn hook<S>() -> ContextHook
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    ContextHook {
        set_parent: set_parent::<S>,
        context: context::<S>,
    }
}

fn set_parent<S>(dispatch: &Dispatch, id: &Id, remote: &RemoteContext)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(shared) = dispatch.downcast_ref::<CaptureShared>() else {
        return;
    };
    shared.count_rejection(remote);
    let (Some(parent), Some(subscriber)) = (Parent::remote(remote), dispatch.downcast_ref::<S>())
    else {
        return;
    };
    let Some(span) = subscriber.span(id) else {
        return;
    };
    let mut extensions = span.extensions_mut();
    let Some(state) = extensions.get_mut::<SpanState>() else {
        return;
    };
    let was_sampled = state.sampled;
    state.adopt(parent);
    if state.sampled && !was_sampled {
        // Recorded from now on.
        state.start_ticks = shared.clock.ticks();
        state.thread_id = threads::current_id();
    }
}

fn context<S>(dispatch: &Dispatch, id: &Id) -> Option<SpanContext>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let span = dispatch.downcast_ref::<S>()?.span(id)?;
    innermost(&span, SpanState::span_context)
}

/// Takes span `id`'s ids from its OpenTelemetry span, the first time it is
/// entered (see `otel`): its trace and span id, and its local parent's
/// span id as the parent's OpenTelemetry span has it.
#[cfg(feature = "opentelemetry")]
pub(super) fn take_opentelemetry_ids<S>(id: &Id, ctx: &tracing_subscriber::layer::Context<'_, S>)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(span) = ctx.span(id) else { return };
    let remote_parent = match span.extensions().get::<SpanState>() {
        Some(state) if !state.otel_synced => state.remote_parent,
        _ => return,
    };
    // Read without holding the extensions: OpenTelemetry's layer locks them.
    let ids = crate::otel::ids(id);
    let local_parent = match remote_parent {
        true => None,
        false => span.parent().and_then(|parent| {
            parent
                .scope()
                .find(|s| s.extensions().get::<SpanState>().is_some())
                .map(|s| s.id())
        }),
    };
    let parent_ids = local_parent.and_then(|parent| crate::otel::ids(&parent));
    let mut extensions = span.extensions_mut();
    let Some(state) = extensions.get_mut::<SpanState>() else {
        return;
    };
    state.otel_synced = true;
    if let Some((trace_id, Some(span_id))) = ids.map(|(t, s)| (t, std::num::NonZeroU64::new(s))) {
        state.context = crate::record::TraceContext::new(trace_id, span_id);
        if let Some((_, parent_span_id)) = parent_ids {
            state.parent_span_id = parent_span_id;
        }
    }
}
