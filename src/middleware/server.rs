//! The server side: a span per request that continues the caller's trace.

use tower_layer::Layer;
use tracing::field::Empty;

use super::traced::{Side, Traced};
use crate::propagation::RemoteContext;

/// A [`tower`](tower_layer::Layer) layer that traces the requests of an
/// HTTP server (see [the module](super)).
#[derive(Clone, Copy, Debug, Default)]
pub struct ServerLayer {
    _private: (),
}

impl ServerLayer {
    /// The layer.
    pub fn new() -> Self {
        ServerLayer::default()
    }
}

impl<S> Layer<S> for ServerLayer {
    type Service = Traced<S>;

    fn layer(&self, inner: S) -> Traced<S> {
        Traced::new(inner, Side::Server)
    }
}

/// The request's span: a child of the caller's, by the semantic conventions.
pub(super) fn request_span<B>(request: &http::Request<B>) -> tracing::Span {
    let remote = RemoteContext::extract(request.headers());
    let method = request.method().as_str();
    let route = route(request);
    let name = match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    };
    let header = |name: http::header::HeaderName| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
    };
    let host = header(http::header::HOST).or_else(|| request.uri().host());
    let span = remote.parent_of(|| {
        tracing::info_span!(
            target: "http_server",
            "HTTP request",
            otel.name = name,
            otel.kind = "server",
            http.request.method = method,
            url.path = request.uri().path(),
            url.scheme = Empty,
            http.route = Empty,
            server.address = Empty,
            user_agent.original = Empty,
            http.response.status_code = Empty,
            otel.status_code = Empty,
            error.type = Empty,
        )
    });
    if let Some(scheme) = request.uri().scheme_str() {
        span.record("url.scheme", scheme);
    }
    if let Some(route) = route {
        span.record("http.route", route);
    }
    if let Some(host) = host {
        // `host[:port]`: the address is the host.
        let address = host.rsplit_once(':').map_or(host, |(address, port)| {
            match port.bytes().all(|b| b.is_ascii_digit()) && !address.ends_with(':') {
                true => address,
                false => host,
            }
        });
        span.record("server.address", address);
    }
    if let Some(agent) = header(http::header::USER_AGENT) {
        span.record("user_agent.original", agent);
    }
    span
}

/// The route the router matched (`/items/{id}`), if it says.
#[cfg(feature = "axum")]
fn route<B>(request: &http::Request<B>) -> Option<&str> {
    request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(axum::extract::MatchedPath::as_str)
}

#[cfg(not(feature = "axum"))]
fn route<B>(_request: &http::Request<B>) -> Option<&str> {
    None
}
