//! What the layer keeps for an open span (in the registry's extensions),
//! and the trace context a span hands to the spans and logs inside it.

use std::num::NonZeroU64;

use tracing_subscriber::registry::{LookupSpan, SpanRef};

use crate::propagation::{RemoteContext, SpanContext, TraceState};
use crate::record::TraceContext;

/// An open span we track: its place in its trace, and, when its trace is
/// sampled, what its row needs.
#[derive(Debug)]
pub(super) struct SpanState {
    pub(super) context: TraceContext,
    /// 0 for a root.
    pub(super) parent_span_id: u64,
    /// Whether the parent is another process's (its id came with the request).
    pub(super) remote_parent: bool,
    /// Whether the ids were taken from the span's OpenTelemetry span.
    #[cfg(feature = "opentelemetry")]
    pub(super) otel_synced: bool,
    /// Whether the span is recorded (a `spans` row at close).
    pub(super) sampled: bool,
    pub(super) trace_state: TraceState,
    pub(super) start_ticks: u64,
    pub(super) thread_id: u32,
    /// The recorded fields (empty for an unsampled span).
    pub(super) fields: Vec<u8>,
    pub(super) field_count: usize,
    pub(super) error_field: Option<&'static str>,
}

/// What a span hands to the spans started inside it.
#[derive(Debug)]
pub(super) struct Parent {
    pub(super) trace_id: u128,
    /// 0: none (a new trace's root).
    pub(super) span_id: u64,
    pub(super) sampled: bool,
    pub(super) trace_state: TraceState,
    /// Another process's span.
    pub(super) remote: bool,
}

impl Parent {
    /// The parent a remote context names, if it names one.
    pub(super) fn remote(remote: &RemoteContext) -> Option<Parent> {
        let parent = remote.parent()?;
        Some(Parent {
            trace_id: parent.trace_id(),
            span_id: parent.parent_id(),
            sampled: parent.is_sampled(),
            trace_state: remote.trace_state().clone(),
            remote: true,
        })
    }
}

impl SpanState {
    /// What the span passes on to its children.
    pub(super) fn as_parent(&self) -> Parent {
        Parent {
            trace_id: self.context.trace_id(),
            span_id: self.context.span_id(),
            sampled: self.sampled,
            trace_state: self.trace_state.clone(),
            remote: false,
        }
    }

    /// What the span passes on to another service.
    pub(super) fn span_context(&self) -> SpanContext {
        SpanContext {
            trace_id: self.context.trace_id(),
            span_id: self.context.span_id(),
            sampled: self.sampled,
            state: self.trace_state.clone(),
        }
    }

    /// Moves the span into `parent`'s trace (a remote parent set after creation).
    pub(super) fn adopt(&mut self, parent: Parent) {
        let span_id = NonZeroU64::new(self.context.span_id()).unwrap_or(NonZeroU64::MIN);
        self.context = TraceContext::new(parent.trace_id, span_id);
        self.parent_span_id = parent.span_id;
        self.remote_parent = parent.remote;
        self.sampled = parent.sampled;
        self.trace_state = parent.trace_state;
        if !self.sampled {
            self.fields = Vec::new();
            self.field_count = 0;
            self.error_field = None;
        }
    }
}

/// The innermost span of `span`'s scope that we track (internal spans are
/// not), read with `read`.
#[inline]
pub(super) fn innermost<S, T>(span: &SpanRef<'_, S>, read: impl Fn(&SpanState) -> T) -> Option<T>
where
    S: for<'a> LookupSpan<'a>,
{
    span.scope()
        .find_map(|span| span.extensions().get::<SpanState>().map(&read))
}

/// The trace of the innermost tracked span of `span`'s scope, and whether
/// it is sampled: what a log emitted there carries.
#[inline]
pub(super) fn tracked_context<S>(span: &SpanRef<'_, S>) -> Option<(TraceContext, bool)>
where
    S: for<'a> LookupSpan<'a>,
{
    innermost(span, |state| (state.context, state.sampled))
}
