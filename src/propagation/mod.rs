//! W3C Trace Context: a trace that crosses services.
//!
//! An incoming request's `traceparent` (and `tracestate`) header says which
//! trace and which span of another service it belongs to. A span that
//! takes it as its parent continues that trace: its row gets the remote
//! trace id, the remote span id as `ParentSpanId`, the `TraceState`, and
//! the caller's sampling decision; the logs and child spans inside it carry
//! the same trace id. An outgoing request carries the current span's
//! context the same way, so the next service continues it.
//!
//! ```
//! use tracing_clickhouse::propagation::{RemoteContext, SpanContext};
//!
//! # fn handle(headers: &http::HeaderMap) {
//! // A server: the request's span continues the caller's trace.
//! let remote = RemoteContext::extract(headers);
//! let span = remote.parent_of(|| tracing::info_span!("handle_order"));
//! let _entered = span.enter();
//!
//! // A client: the call carries this span's context on.
//! let mut outgoing = http::HeaderMap::new();
//! tracing_clickhouse::propagation::inject(&mut outgoing);
//! # }
//! ```
//!
//! The `middleware` feature does both for HTTP servers and clients built
//! on `tower` (axum, hyper, tonic; reqwest through a service), with one
//! span per request named and attributed by OpenTelemetry's HTTP semantic
//! conventions.
//!
//! Bad input starts a new trace, as the W3C spec says, and never fails
//! the request: a `traceparent` of the wrong length or version, with
//! upper-case or non-hex digits, all-zero ids, or sent twice is
//! [rejected](Rejected) (and counted in
//! [`Stats::trace_context_rejected`](crate::Stats::trace_context_rejected)
//! when a span takes it); a `tracestate` that breaks the list syntax, has
//! more than 32 members or repeats a key is dropped; one longer than 512
//! bytes is cut to 512 the way the spec asks (members over 128 bytes
//! first, then from the end). Parsing looks at a bounded prefix of any
//! header and keeps at most 512 bytes.

mod carrier;
#[cfg(test)]
mod tests;
mod traceparent;
mod tracestate;

use std::cell::Cell;

use tracing::span::Id;
use tracing::{Dispatch, Span};

pub use carrier::{Extractor, Injector};
pub(crate) use traceparent::TraceParent;
pub(crate) use tracestate::TraceState;

/// The `traceparent` field name.
pub(crate) const TRACEPARENT: &str = "traceparent";
/// The `tracestate` field name.
pub(crate) const TRACESTATE: &str = "tracestate";

/// Why an incoming trace context was not taken (the span then starts a new
/// trace, or keeps its parent without the `tracestate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Rejected {
    /// A `traceparent` shorter than 55 characters, or a version-00 one of
    /// any other length.
    #[error("traceparent: not 55 characters long")]
    Length,
    /// Version `ff`, which the spec forbids.
    #[error("traceparent: version ff is invalid")]
    Version,
    /// A character that is not lower-case hex, or a separator out of place.
    #[error("traceparent: not lower-case hex fields separated by '-'")]
    Syntax,
    /// An all-zero trace id.
    #[error("traceparent: the trace id is all zeros")]
    ZeroTraceId,
    /// An all-zero parent span id.
    #[error("traceparent: the parent id is all zeros")]
    ZeroParentId,
    /// More than one `traceparent` field.
    #[error("traceparent: sent more than once")]
    Repeated,
    /// A `tracestate` that is not a valid list (the parent was kept).
    #[error("tracestate: not a valid list of key=value members")]
    TraceState,
    /// A `tracestate` with more than 32 members (the parent was kept).
    #[error("tracestate: more than 32 members")]
    TraceStateMembers,
}

/// `value` without the optional white space (spaces and tabs) around it.
fn trim_ows(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    &value[start..end]
}

/// The trace context of an incoming request or message: the parent of the
/// span that handles it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteContext {
    pub(crate) parent: Option<TraceParent>,
    pub(crate) state: TraceState,
    rejected: Option<Rejected>,
}

impl RemoteContext {
    /// The context in `carrier`'s `traceparent` and `tracestate`: an HTTP
    /// request's `http::HeaderMap`, a message's header pairs, a map. None (no
    /// parent) when there is no `traceparent`, or when it is invalid or
    /// repeated ([`rejected`](Self::rejected) says why); the `tracestate`
    /// only with a valid `traceparent`, as the spec says.
    pub fn extract<E: Extractor + ?Sized>(carrier: &E) -> Self {
        let mut parents = carrier.values(TRACEPARENT);
        let parent = match (parents.next(), parents.next()) {
            (None, _) => return RemoteContext::default(),
            (Some(_), Some(_)) => Err(Rejected::Repeated),
            (Some(value), None) => TraceParent::parse(value),
        };
        let parent = match parent {
            Ok(parent) => parent,
            Err(rejected) => {
                return RemoteContext {
                    rejected: Some(rejected),
                    ..RemoteContext::default()
                };
            }
        };
        let (state, rejected) = match TraceState::parse(carrier.values(TRACESTATE)) {
            Ok(state) => (state, None),
            Err(rejected) => (TraceState::default(), Some(rejected)),
        };
        RemoteContext {
            parent: Some(parent),
            state,
            rejected,
        }
    }

    /// The caller's span, if a valid `traceparent` named one: its trace,
    /// its id (the `ParentSpanId` of the span that continues it), its
    /// sampling decision and the `tracestate` that came with it.
    pub fn parent(&self) -> Option<SpanContext> {
        self.parent.map(|parent| SpanContext {
            trace_id: parent.trace_id(),
            span_id: parent.parent_id(),
            sampled: parent.is_sampled(),
            state: self.state.clone(),
        })
    }

    /// Why the `traceparent` (or the `tracestate`) was not taken.
    pub fn rejected(&self) -> Option<Rejected> {
        self.rejected
    }

    /// Creates a span with `make` (a `tracing` span macro) as the child of
    /// this remote parent, whatever span is current: it gets the remote
    /// trace id, the remote span as `ParentSpanId`, the `tracestate`, and
    /// the caller's sampling decision. Without a parent (none was sent, or
    /// it was rejected) the span is made as usual, a new trace's root
    /// unless a span is current.
    ///
    /// Only the first span `make` creates takes the parent.
    pub fn parent_of(&self, make: impl FnOnce() -> Span) -> Span {
        if self.parent.is_none() && self.rejected.is_none() {
            return make();
        }
        let previous = PENDING.replace(Some(self.clone()));
        HAS_PENDING.set(true);
        // Restored even if `make` panics.
        struct Restore(Option<RemoteContext>);
        impl Drop for Restore {
            fn drop(&mut self) {
                HAS_PENDING.set(self.0.is_some());
                PENDING.set(self.0.take());
            }
        }
        let restore = Restore(previous);
        let span = make();
        drop(restore);
        #[cfg(feature = "opentelemetry")]
        self.give_to_opentelemetry(&span);
        span
    }

    /// Makes the parent OpenTelemetry's too, so both continue one trace.
    #[cfg(feature = "opentelemetry")]
    fn give_to_opentelemetry(&self, span: &Span) {
        if let Some(parent) = self.parent {
            crate::otel::set_remote_parent(
                span,
                parent.trace_id(),
                parent.parent_id(),
                parent.is_sampled(),
                self.state.as_str(),
            );
        }
    }
}

thread_local! {
    /// The context [`RemoteContext::parent_of`] gives the span it creates.
    static PENDING: Cell<Option<RemoteContext>> = const { Cell::new(None) };
    /// Whether `PENDING` may hold one: read by every new span, and cheaper
    /// to reach (no destructor to register or check).
    static HAS_PENDING: Cell<bool> = const { Cell::new(false) };
}

/// The remote context for the span being created on this thread, if
/// [`RemoteContext::parent_of`] is creating one (taken: only one span gets it).
#[inline]
pub(crate) fn take_pending() -> Option<RemoteContext> {
    if !HAS_PENDING.get() {
        return None;
    }
    HAS_PENDING.set(false);
    PENDING.try_with(Cell::take).ok().flatten()
}

/// Makes `remote` the parent of a span created already, as
/// [`RemoteContext::parent_of`] does at creation. Call it before the span
/// is entered or has children: those created earlier keep the trace they
/// started in. A span that was not sampled at creation and is sampled now
/// keeps the fields recorded from now on only.
pub fn set_parent(span: &Span, remote: &RemoteContext) {
    span.with_subscriber(|(id, dispatch)| {
        if let Some(hook) = dispatch.downcast_ref::<ContextHook>() {
            (hook.set_parent)(dispatch, id, remote);
        }
    });
    #[cfg(feature = "opentelemetry")]
    remote.give_to_opentelemetry(span);
}

/// A span's place in a trace, as W3C Trace Context passes it on: its trace,
/// its own id, whether it is sampled, and the `tracestate` it received. A
/// span of ours ([`SpanContext::current`], [`SpanContext::of`]) or the
/// caller's ([`RemoteContext::parent`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanContext {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    pub(crate) sampled: bool,
    pub(crate) state: TraceState,
}

impl SpanContext {
    /// The context of `span`, if our layer records it (or a span around it).
    pub fn of(span: &Span) -> Option<SpanContext> {
        span.with_subscriber(|(id, dispatch)| context_of(dispatch, id))
            .flatten()
    }

    /// The context of the current span, if our layer records it (or a span
    /// around it).
    pub fn current() -> Option<SpanContext> {
        tracing::dispatcher::get_default(|dispatch| {
            let current = dispatch.current_span();
            context_of(dispatch, current.id()?)
        })
    }

    /// The trace id.
    pub fn trace_id(&self) -> u128 {
        self.trace_id
    }

    /// The span's id (the next service's parent id).
    pub fn span_id(&self) -> u64 {
        self.span_id
    }

    /// Whether the trace is recorded here (and so downstream).
    pub fn is_sampled(&self) -> bool {
        self.sampled
    }

    /// The `tracestate` passed on (empty when there is none).
    pub fn trace_state(&self) -> &str {
        self.state.as_str()
    }

    /// The `traceparent` to send (`None` only for zero ids, which this
    /// crate does not make).
    pub(crate) fn traceparent(&self) -> Option<TraceParent> {
        TraceParent::new(self.trace_id, self.span_id, self.sampled)
    }

    /// Writes `traceparent` (and `tracestate`, when there is one) into `carrier`.
    pub fn inject<I: Injector + ?Sized>(&self, carrier: &mut I) {
        if let Some(parent) = self.traceparent() {
            let bytes = parent.to_bytes();
            carrier.set(TRACEPARENT, std::str::from_utf8(&bytes).unwrap_or_default());
            if !self.state.is_empty() {
                carrier.set(TRACESTATE, self.state.as_str());
            }
        }
    }
}

/// Writes the current span's context into `carrier` (an outgoing
/// request's headers, a message's headers); nothing outside a span we
/// record.
pub fn inject<I: Injector + ?Sized>(carrier: &mut I) {
    if let Some(context) = SpanContext::current() {
        context.inject(carrier);
    }
}

fn context_of(dispatch: &Dispatch, id: &Id) -> Option<SpanContext> {
    let hook = dispatch.downcast_ref::<ContextHook>()?;
    (hook.context)(dispatch, id)
}

/// How [`set_parent`] and [`SpanContext::of`] reach the layer's spans: the
/// layer hands these out through `Layer::downcast_raw`, made for the
/// subscriber it was added to.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ContextHook {
    pub(crate) set_parent: fn(&Dispatch, &Id, &RemoteContext),
    pub(crate) context: fn(&Dispatch, &Id) -> Option<SpanContext>,
}
