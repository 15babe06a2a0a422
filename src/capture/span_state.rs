//! What the layer keeps for an open span (in its `SpanTable`), and the
//! trace context a span hands to the spans and logs inside it.

use std::num::NonZeroU64;

use tracing::Metadata;

use crate::propagation::{RemoteContext, SpanContext, TraceState};
use crate::record::{SpanPayload, TraceContext};

/// An open span we track: how it started, and, when its trace is sampled,
/// the fields its row needs.
#[derive(Debug)]
pub(super) struct SpanState {
    pub(super) start: SpanStart,
    /// Whether the ids were taken from the span's OpenTelemetry span.
    #[cfg(feature = "opentelemetry")]
    pub(super) otel_synced: bool,
    /// The recorded fields (empty for an unsampled span): inside the state
    /// when they fit, so tracking a span allocates nothing.
    pub(super) fields: SpanPayload,
}

/// A span's place in its trace and what its row needs besides its fields:
/// as it started, then kept up to date while it is open (its field count and
/// error field as fields are recorded, its trace when a remote parent is set
/// after creation).
#[derive(Debug)]
pub(super) struct SpanStart {
    pub(super) metadata: &'static Metadata<'static>,
    pub(super) context: TraceContext,
    /// 0 for a root.
    pub(super) parent_span_id: u64,
    /// Whether the parent is another process's (its id came with the request).
    pub(super) remote_parent: bool,
    /// Whether the span is recorded (a `spans` row at close).
    pub(super) sampled: bool,
    pub(super) trace_state: TraceState,
    pub(super) start_ticks: u64,
    pub(super) thread_id: u32,
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
        let parent = remote.parent?;
        Some(Parent {
            trace_id: parent.trace_id(),
            span_id: parent.parent_id(),
            sampled: parent.is_sampled(),
            trace_state: remote.state.clone(),
            remote: true,
        })
    }
}

impl SpanState {
    /// A new span's state, with its `fields` (as written by a payload writer).
    pub(super) fn new(start: SpanStart, fields: &[u8]) -> SpanState {
        let mut state = SpanState {
            start,
            #[cfg(feature = "opentelemetry")]
            otel_synced: false,
            fields: SpanPayload::EMPTY,
        };
        state.fields.replace_with(fields);
        state
    }

    /// Makes this state (a closed span's) the new span's, in place: a state
    /// is a few hundred bytes, most of them room for fields, which a new
    /// value would be copied in with.
    pub(super) fn restart(&mut self, start: SpanStart, fields: &[u8]) {
        self.start = start;
        #[cfg(feature = "opentelemetry")]
        {
            self.otel_synced = false;
        }
        self.fields.replace_with(fields);
    }

    /// What the span passes on to its children.
    pub(super) fn as_parent(&self) -> Parent {
        Parent {
            trace_id: self.start.context.trace_id(),
            span_id: self.start.context.span_id(),
            sampled: self.start.sampled,
            trace_state: self.start.trace_state.clone(),
            remote: false,
        }
    }

    /// What the span passes on to another service.
    pub(super) fn span_context(&self) -> SpanContext {
        SpanContext {
            trace_id: self.start.context.trace_id(),
            span_id: self.start.context.span_id(),
            sampled: self.start.sampled,
            state: self.start.trace_state.clone(),
        }
    }

    /// Adds fields recorded after creation: `added` of them, written as
    /// `bytes` against the count this state had before. When another
    /// thread recorded into the span meanwhile and the whole would pass
    /// `max_fields`, they are dropped instead; returns how many were.
    pub(super) fn append_fields(&mut self, bytes: &[u8], added: usize, max_fields: usize) -> u64 {
        if added > 0 && self.start.field_count + added > max_fields {
            return added as u64;
        }
        self.fields.extend(bytes);
        self.start.field_count += added;
        0
    }

    /// Moves the span into `parent`'s trace (a remote parent set after creation).
    pub(super) fn adopt(&mut self, parent: Parent) {
        let span_id = NonZeroU64::new(self.start.context.span_id()).unwrap_or(NonZeroU64::MIN);
        self.start.context = TraceContext::new(parent.trace_id, span_id);
        self.start.parent_span_id = parent.span_id;
        self.start.remote_parent = parent.remote;
        self.start.sampled = parent.sampled;
        self.start.trace_state = parent.trace_state;
        if !self.start.sampled {
            self.fields = SpanPayload::EMPTY;
            self.start.field_count = 0;
            self.start.error_field = None;
        }
    }
}
