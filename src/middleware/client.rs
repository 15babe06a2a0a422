//! The client side: a span per call whose context goes out with the request.

use tower_layer::Layer;

use super::traced::{Side, Traced};

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
