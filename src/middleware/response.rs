//! The future of a traced request: polled inside its span, which records
//! the response's status and closes once it is ready.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tracing::Span;

/// Which side of the call a span is: what counts as a failed response.
#[derive(Clone, Copy, Debug)]
pub(super) enum Side {
    /// 5xx is an error (a 4xx is the client's).
    Server,
    /// 4xx and 5xx are errors.
    Client,
}

pin_project! {
    /// The response future of [`Server`](super::Server) and
    /// [`Client`](super::Client).
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: Span,
        side: Side,
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, span: Span, side: Side) -> Self {
        ResponseFuture { inner, span, side }
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
