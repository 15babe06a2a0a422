//! W3C trace context on the request path: extracting `traceparent` (and
//! `tracestate`) from an `http::HeaderMap`, and injecting it into one,
//! beside OpenTelemetry's own `TraceContextPropagator` (opentelemetry_sdk
//! 0.33) doing the same on the same headers, in the same run.
//!
//!   cargo bench --features axum --bench propagation
//!
//! Subjects:
//! - extract: `RemoteContext::extract` vs the propagator's `extract`
//!   (through a `HeaderMap` extractor, as opentelemetry-http's);
//! - inject: `SpanContext::inject` of a context at hand vs the
//!   propagator's `inject_context`; and ours from the current span
//!   (`propagation::inject`: look the span up, then write), under our layer.
//!   Into headers with room for a few (as a request being built has), so
//!   the map's first allocation is not what is measured.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::dispatcher;
use tracing_clickhouse::propagation::{self, RemoteContext};
use tracing_subscriber::prelude::*;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The headers of a request from a traced caller: its context and the
/// usual others.
fn request_headers() -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert("host", "checkout.internal:8080".parse().unwrap());
    headers.insert("user-agent", "reqwest/0.13".parse().unwrap());
    headers.insert("accept", "*/*".parse().unwrap());
    headers.insert("traceparent", TRACEPARENT.parse().unwrap());
    headers
}

/// OpenTelemetry's view of a `HeaderMap` (as opentelemetry-http's).
struct PeerExtractor<'a>(&'a http::HeaderMap);

impl Extractor for PeerExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct PeerInjector<'a>(&'a mut http::HeaderMap);

impl Injector for PeerInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

fn extract(c: &mut Criterion) {
    let headers = request_headers();
    let peer = TraceContextPropagator::new();
    let mut group = c.benchmark_group("extract traceparent");
    group.bench_function("ours: RemoteContext::extract", |b| {
        b.iter(|| black_box(RemoteContext::extract(black_box(&headers))))
    });
    group.bench_function("TraceContextPropagator::extract", |b| {
        b.iter(|| black_box(peer.extract(&PeerExtractor(black_box(&headers)))))
    });
    group.finish();
}

fn inject(c: &mut Criterion) {
    let peer = TraceContextPropagator::new();
    let span_context = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    );
    let context = opentelemetry::Context::new().with_remote_span_context(span_context);
    let ours = RemoteContext::extract(&request_headers());

    let (layer, _telemetry) = tracing_clickhouse::Builder::from_env_vars::<&str, &str>([])
        .url("http://127.0.0.1:9")
        .unwrap()
        .dry_run(true)
        .system_monitor(false)
        .pipeline_metrics(false)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));

    let mut group = c.benchmark_group("inject traceparent");
    dispatcher::with_default(&dispatch, || {
        let span = ours.parent_of(|| tracing::info_span!("call"));
        let _entered = span.enter();
        let at_hand = propagation::SpanContext::current().unwrap();
        group.bench_function("ours: SpanContext::inject", |b| {
            b.iter_batched_ref(
                || http::HeaderMap::with_capacity(8),
                |headers| black_box(&at_hand).inject(headers),
                criterion::BatchSize::SmallInput,
            )
        });
        group.bench_function("ours: SpanContext::current (the lookup alone)", |b| {
            b.iter(|| black_box(propagation::SpanContext::current()))
        });
        group.bench_function("ours: propagation::inject (current span)", |b| {
            b.iter_batched_ref(
                || http::HeaderMap::with_capacity(8),
                propagation::inject,
                criterion::BatchSize::SmallInput,
            )
        });
    });
    group.bench_function("TraceContextPropagator::inject_context", |b| {
        b.iter_batched_ref(
            || http::HeaderMap::with_capacity(8),
            |headers| peer.inject_context(black_box(&context), &mut PeerInjector(headers)),
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, extract, inject);
criterion_main!(benches);
