//! The client side: a span per call whose context goes out with the request.

use tower_layer::Layer;
use tracing::field::Empty;

use super::traced::{Side, Traced};
use crate::propagation::SpanContext;

/// A [`tower`](tower_layer::Layer) layer that traces the calls of an HTTP
/// client and sends their trace context on (see [the module](super)).
///
/// reqwest's client is not a service of `http` requests; wrap it in one:
///
/// ```
/// use tower::{ServiceBuilder, ServiceExt};
/// use tracing_clickhouse::middleware::ClientLayer;
///
/// # async fn call() -> Result<(), reqwest::Error> {
/// let reqwest = reqwest::Client::new();
/// let client = ServiceBuilder::new()
///     .layer(ClientLayer::new())
///     .service_fn(move |request: http::Request<reqwest::Body>| {
///         let reqwest = reqwest.clone();
///         async move {
///             let response = reqwest.execute(request.try_into()?).await?;
///             Ok::<_, reqwest::Error>(http::Response::from(response))
///         }
///     });
/// let request = http::Request::get("http://127.0.0.1:3000/items/7")
///     .body(reqwest::Body::from(""))
///     .unwrap();
/// let response = client.oneshot(request).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientLayer {
    _private: (),
}

impl ClientLayer {
    /// The layer.
    pub fn new() -> Self {
        ClientLayer::default()
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = Traced<S>;

    fn layer(&self, inner: S) -> Traced<S> {
        Traced::new(inner, Side::Client)
    }
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
