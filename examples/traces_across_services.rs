//! Traces across services: one request through three axum services that
//! call each other with reqwest, stored as one trace.
//!
//! Each service is this program with a name, a port and the next service's
//! URL (none for the last); each traces its requests with [`ServerLayer`]
//! and its calls with [`ClientLayer`], so the trace id travels in
//! `traceparent` from one to the next:
//!
//! ```text
//! export CLICKHOUSE_URL=http://127.0.0.1:8123
//! cargo run --features axum --example traces_across_services -- ledger 3002 &
//! cargo run --features axum --example traces_across_services -- payments 3001 http://127.0.0.1:3002 &
//! cargo run --features axum --example traces_across_services -- checkout 3000 http://127.0.0.1:3001 &
//! curl http://127.0.0.1:3000/hop/0        # answers with the trace id
//! chlog trace TRACE_ID                    # the three services' spans as one tree
//! ```
//!
//! A service stops, flushing what it captured, on Ctrl-C (SIGINT).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use http_body_util::BodyExt;
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt};
use tracing_clickhouse::middleware::{ClientLayer, ServerLayer};
use tracing_clickhouse::propagation::SpanContext;

/// An HTTP client whose calls are traced: reqwest behind `ClientLayer`.
type Client = BoxCloneSyncService<
    http::Request<reqwest::Body>,
    http::Response<reqwest::Body>,
    reqwest::Error,
>;

#[derive(Clone)]
struct Next {
    url: Option<String>,
    client: Client,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(name), Some(port)) = (args.next(), args.next()) else {
        eprintln!("usage: traces_across_services NAME PORT [NEXT_URL]");
        std::process::exit(2);
    };
    let telemetry = tracing_clickhouse::builder()
        .service_name(&name)
        .install()?;

    let reqwest = reqwest::Client::new();
    let client = ServiceBuilder::new().layer(ClientLayer::new()).service_fn(
        move |request: http::Request<reqwest::Body>| {
            let reqwest = reqwest.clone();
            async move {
                let response = reqwest.execute(request.try_into()?).await?;
                Ok::<_, reqwest::Error>(http::Response::from(response))
            }
        },
    );
    let next = Next {
        url: args.next(),
        client: BoxCloneSyncService::new(client),
    };
    let app = Router::new()
        .route("/hop/{n}", get(hop))
        .with_state(next)
        .layer(ServerLayer::new());

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port.parse::<u16>()?)).await?;
    println!("{name} listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    drop(telemetry); // flushes what is queued
    Ok(())
}

/// Hop `n`: logs, calls the next service (if any) with hop `n + 1`, and
/// answers with the trace id and what the next one answered.
async fn hop(State(next): State<Next>, Path(n): Path<u32>) -> Result<String, StatusCode> {
    tracing::info!(hop = n, "handling the hop");
    let trace = SpanContext::current().map_or(String::new(), |c| format!("{:032x}", c.trace_id()));
    let Some(url) = next.url else {
        return Ok(format!("trace {trace}: hop {n} is the last"));
    };
    let request = http::Request::get(format!("{url}/hop/{}", n + 1))
        .body(reqwest::Body::from(""))
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let response = next.client.oneshot(request).await.map_err(|error| {
        tracing::error!(%error, "the next service did not answer");
        StatusCode::BAD_GATEWAY
    })?;
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|_| StatusCode::BAD_GATEWAY)?
        .to_bytes();
    Ok(format!(
        "trace {trace}: hop {n}, then {}",
        String::from_utf8_lossy(&body)
    ))
}
