//! The client side: a span per call whose context goes out with the request.

use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;
use tracing::field::Empty;

use super::response::{ResponseFuture, Side};
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
    type Service = Client<S>;

    fn layer(&self, inner: S) -> Client<S> {
        Client { inner }
    }
}

/// A client's service, traced by [`ClientLayer`].
#[derive(Clone, Debug)]
pub struct Client<S> {
    inner: S,
}

impl<S, B, R> Service<http::Request<B>> for Client<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let span = call_span(&request);
        // The call's span, or (if a filter left it out) the one around it.
        if let Some(context) = SpanContext::of(&span).or_else(SpanContext::current) {
            context.inject(request.headers_mut());
        }
        let future = span.in_scope(|| self.inner.call(request));
        ResponseFuture::new(future, span, Side::Client)
    }
}

fn call_span<B>(request: &http::Request<B>) -> tracing::Span {
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
