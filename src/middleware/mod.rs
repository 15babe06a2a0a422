//! Tower middleware for HTTP (feature `middleware`): one span per request,
//! named and attributed by OpenTelemetry's HTTP semantic conventions, that
//! continues the caller's trace (servers) or carries it on (clients).
//!
//! [`ServerLayer`] wraps a server's service (axum, hyper, tonic): the
//! request's span (`SpanKind` `Server`) takes the caller's `traceparent`
//! and `tracestate` as its parent, is named `{method} {route}` (the route
//! as axum matched it, with the `axum` feature; else `{method}`), and
//! records `http.request.method`, `url.path`, `url.scheme` (when the
//! request says it), `http.route`, `server.address`, `user_agent.original`
//! and `http.response.status_code`; a 5xx answer (or an error of the
//! service) makes its status `Error`, with `error.type`.
//!
//! [`ClientLayer`] wraps a client's service (hyper's, tonic's channel,
//! reqwest through a `service_fn`): the call's span (`SpanKind` `Client`,
//! named `{method}`) records `http.request.method`, `url.full` (without
//! credentials or query), `server.address`, `server.port` and the status
//! code, and its context goes out in the request's `traceparent` and
//! `tracestate`; a 4xx or 5xx answer makes its status `Error`.
//!
//! A span ends when the response (its head) is ready.
//!
//! ```
//! # #[cfg(feature = "axum")] {
//! use tracing_clickhouse::middleware::ServerLayer;
//!
//! let app: axum::Router = axum::Router::new()
//!     .route("/items/{id}", axum::routing::get(|| async { "an item" }))
//!     .layer(ServerLayer::new());
//! # }
//! ```
//!
//! The spans' targets are `http_server` and `http_client`, for filters.

mod client;
mod server;
mod spans;
mod traced;

pub use client::ClientLayer;
pub use server::ServerLayer;
pub use traced::{ResponseFuture, Traced};
