//! A traced service, server or client side: a span per request, and the
//! response's future polled inside it, which records the response's status
//! and closes once it is ready.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tower_service::Service;
use tracing::Span;

/// A service traced by [`ServerLayer`](super::ServerLayer) (a span per
/// request, continuing the caller's trace) or
/// [`ClientLayer`](super::ClientLayer) (a span per call, its context sent
/// on with the request).
#[derive(Clone, Debug)]
pub struct Traced<S> {
    inner: S,
    side: Side,
}

impl<S> Traced<S> {
    pub(super) fn new(inner: S, side: Side) -> Self {
        Traced { inner, side }
    }
}

impl<S, B, R> Service<http::Request<B>> for Traced<S>
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
        let span = match self.side {
            Side::Server => super::spans::request_span(&request),
            Side::Client => super::spans::call_span(&mut request),
        };
        let future = span.in_scope(|| self.inner.call(request));
        ResponseFuture {
            inner: future,
            span,
            side: self.side,
        }
    }
}

/// Which side of the call a span is: what counts as a failed response.
#[derive(Clone, Copy, Debug)]
pub(super) enum Side {
    /// 5xx is an error (a 4xx is the client's).
    Server,
    /// 4xx and 5xx are errors.
    Client,
}

pin_project! {
    /// The response future of a [`Traced`] service.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: Span,
        side: Side,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let result = ready!(this.inner.poll(cx));
        match &result {
            Ok(response) => {
                let status = response.status();
                this.span
                    .record("http.response.status_code", status.as_u16());
                let failed = match this.side {
                    Side::Server => status.is_server_error(),
                    Side::Client => status.is_client_error() || status.is_server_error(),
                };
                if failed {
                    this.span.record("otel.status_code", "error");
                    this.span.record("error.type", status.as_str());
                }
            }
            Err(_) => {
                this.span.record("otel.status_code", "error");
                this.span.record("error.type", std::any::type_name::<E>());
            }
        }
        Poll::Ready(result)
    }
}
