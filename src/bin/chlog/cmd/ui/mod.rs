//! `chlog ui`: a local web view of the stored history. One page (embedded
//! in the binary: nothing from a CDN) and JSON endpoints that map one to one
//! onto the library's `query` calls; no endpoint takes SQL text, and every
//! filter reaches ClickHouse as a bound parameter.
//!
//! It listens on loopback unless told otherwise; on any other address, or
//! with `--require-token`, every request must carry the token printed at
//! start (see [`access`]).

mod access;
mod api;
mod assets;
mod logs;
mod params;
mod series;
mod status;
mod views;

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use crate::conn::Context;
use crate::fail::{Failure, Outcome};

pub(crate) const EXAMPLES: &str = "\
Examples:
  chlog ui                                  http://127.0.0.1:8080/ on this machine
  chlog ui --listen 127.0.0.1:0             any free port (printed)
  chlog ui --listen 0.0.0.0:8080            other machines too: only with the token printed

The page reads through the same queries as the other commands: logs with every
filter, their volume by level (drag across the chart to zoom), live mode, any
metric (the hourly rollup past 6 hours), a log's trace as a waterfall, service
statuses and firing alerts. It stops with Ctrl-C.";

/// `chlog ui`.
#[derive(Debug, Args)]
pub(crate) struct UiArgs {
    /// Address to listen on; anything but loopback needs the token printed at start
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Ask for the token on loopback too
    #[arg(long)]
    require_token: bool,
}

pub(crate) async fn run(ctx: &Context, args: UiArgs) -> Outcome {
    let access = access::Access::for_address(args.listen, args.require_token)
        .map_err(|e| Failure::other(format!("cannot make a token: {e}")))?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| Failure::other(format!("cannot listen on {}: {e}", args.listen)))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Failure::other(format!("cannot listen on {}: {e}", args.listen)))?;
    let access = Arc::new(access.on_port(bound.port()));
    let state = Arc::new(api::State::new(ctx));
    let app = routes(state)
        .merge(assets::routes())
        .layer(axum::middleware::from_fn_with_state(
            access.clone(),
            access::check,
        ));
    let mut banner = format!(
        "chlog ui: serving {} on {}\n",
        ctx.config.database(),
        access.page_url(bound)
    );
    if access.has_token() {
        banner.push_str(
            "chlog ui: every request needs the token in that address (or the cookie it sets)\n",
        );
    }
    banner.push_str("chlog ui: Ctrl-C stops it\n");
    // Said once; a closed stdout does not stop the server.
    let mut stdout = std::io::stdout();
    let _ = stdout
        .write_all(banner.as_bytes())
        .and_then(|()| stdout.flush());
    axum::serve(listener, app)
        .await
        .map_err(|e| Failure::other(format!("the server stopped: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

/// The JSON endpoints, all `GET`, all read-only, each a call into the
/// library's `query` module.
fn routes(state: api::Shared) -> axum::Router {
    use axum::routing::get;
    axum::Router::new()
        .route("/api/logs", get(logs::logs))
        .route("/api/stats", get(logs::stats))
        .route("/api/volume", get(logs::volume))
        .route("/api/metric_names", get(series::names))
        .route("/api/metric", get(series::metric))
        .route("/api/trace", get(views::trace))
        .route("/api/status", get(views::status))
        .route("/api/events", get(views::events))
        .with_state(state)
}
