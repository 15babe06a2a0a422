//! Interop with `tracing-opentelemetry` (feature `opentelemetry`):
//! tracing-opentelemetry 0.34, on opentelemetry 0.33.
//!
//! With its layer in the same subscriber as ours, a span's rows take the
//! trace and span ids of its OpenTelemetry span, so the logs we store
//! join the traces exported elsewhere. OpenTelemetry starts a span (and
//! gives it its ids) when it is first entered; our layer reads them then,
//! and keeps its own ids for a span never entered. A remote parent given
//! through [`propagation`](crate::propagation) is given to OpenTelemetry
//! too, so both continue the same trace. A remote parent set only through
//! OpenTelemetry (its own propagator and `set_parent`) gives our row its
//! trace id, but not its `ParentSpanId`, which OpenTelemetry does not
//! expose: use [`propagation`](crate::propagation) for incoming requests.
//! The sampling decisions stay each one's own.

use opentelemetry::trace::{
    SpanContext as OtelSpanContext, SpanId, TraceContextExt, TraceFlags, TraceId,
    TraceState as OtelTraceState,
};
use tracing::Span;
use tracing::span::Id;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The trace and span id of span `id`'s OpenTelemetry span, if an
/// OpenTelemetry layer in the current subscriber has one (starting it if
/// it was not yet). Must not be called holding the span's extensions.
pub(crate) fn ids(id: &Id) -> Option<(u128, u64)> {
    tracing::dispatcher::get_default(|dispatch| {
        let context = tracing_opentelemetry::get_otel_context(id, dispatch)?;
        let span = context.span();
        let span_context = span.span_context();
        span_context.is_valid().then(|| {
            (
                u128::from_be_bytes(span_context.trace_id().to_bytes()),
                u64::from_be_bytes(span_context.span_id().to_bytes()),
            )
        })
    })
}

/// Gives `span`'s OpenTelemetry span this remote parent (nothing without
/// an OpenTelemetry layer, or once it has started).
pub(crate) fn set_remote_parent(
    span: &Span,
    trace_id: u128,
    parent_id: u64,
    sampled: bool,
    trace_state: &str,
) {
    let flags = match sampled {
        true => TraceFlags::SAMPLED,
        false => TraceFlags::default(),
    };
    let parent = OtelSpanContext::new(
        TraceId::from_bytes(trace_id.to_be_bytes()),
        SpanId::from_bytes(parent_id.to_be_bytes()),
        flags,
        true,
        trace_state
            .parse()
            .unwrap_or_else(|_| OtelTraceState::default()),
    );
    let context = opentelemetry::Context::new().with_remote_span_context(parent);
    // No OpenTelemetry layer, or a span already started: ours alone.
    let _ = span.set_parent(context);
}
