//! The server side: a span per request that continues the caller's trace.

use tower_layer::Layer;

use super::traced::{Side, Traced};

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
