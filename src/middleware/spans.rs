//! The span of a request, by OpenTelemetry's HTTP semantic conventions: a
//! server's, continuing the caller's trace, and a client's, whose context
//! goes out with the request.

use tracing::field::Empty;

use crate::propagation::{RemoteContext, SpanContext};

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

/// The call's span, its context injected into the request's headers.
pub(super) fn call_span<B>(request: &mut http::Request<B>) -> tracing::Span {
    let span = described_call_span(request);
    // The call's span, or (if a filter left it out) the one around it.
    if let Some(context) = SpanContext::of(&span).or_else(SpanContext::current) {
        context.inject(request.headers_mut());
    }
    span
}

fn described_call_span<B>(request: &http::Request<B>) -> tracing::Span {
    let uri = request.uri();
    let span = tracing::info_span!(
        target: "http_client",
        "HTTP request",
        otel.name = request.method().as_str(),
        otel.kind = "client",
        http.request.method = request.method().as_str(),
        url.full = Empty,
        server.address = Empty,
        server.port = Empty,
        http.response.status_code = Empty,
        otel.status_code = Empty,
        error.type = Empty,
    );
    if let Some(host) = uri.host() {
        span.record("server.address", host);
        // Without credentials (`user:password@`) or the query.
        let scheme = uri.scheme_str().unwrap_or("http");
        let port = uri.port().map(|p| format!(":{p}")).unwrap_or_default();
        span.record(
            "url.full",
            format!("{scheme}://{host}{port}{}", uri.path()).as_str(),
        );
    }
    if let Some(port) = uri.port_u16() {
        span.record("server.port", port);
    }
    span
}
