//! What the JSON endpoints share: what they read with, how their failures
//! reach the page, and how their answers are shaped.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tracing_clickhouse::ErrorKind;
use tracing_clickhouse::query::QueryClient;

use super::params::BadParam;
use crate::conn::Context;
use crate::fail::Failure;

/// What every endpoint reads with.
pub(crate) struct State {
    pub(crate) client: QueryClient,
    timeout: Duration,
    url: String,
    database: String,
}

pub(crate) type Shared = Arc<State>;

impl State {
    pub(crate) fn new(ctx: &Context) -> State {
        State {
            client: ctx.client.clone(),
            timeout: ctx.timeout,
            url: ctx.config.url(),
            database: ctx.config.database().to_owned(),
        }
    }

    /// Waits for `answer`, at most chlog's `--timeout`.
    pub(crate) async fn ask<T>(
        &self,
        answer: impl Future<Output = tracing_clickhouse::Result<T>>,
    ) -> Result<T, Reply> {
        match tokio::time::timeout(self.timeout, answer).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                let status = match error.kind() {
                    ErrorKind::InvalidQuery | ErrorKind::Config => StatusCode::BAD_REQUEST,
                    ErrorKind::Unreachable | ErrorKind::Auth => StatusCode::BAD_GATEWAY,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                let failure = Failure::from_error(&error, &self.url, &self.database);
                Err(Reply(status, failure.message))
            }
            Err(_) => Err(Reply(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "ClickHouse did not answer within {} (chlog's --timeout)",
                    humantime::format_duration(self.timeout)
                ),
            )),
        }
    }
}

/// A failed request: its status and what to tell the page.
#[derive(Debug)]
pub(crate) struct Reply(pub(crate) StatusCode, pub(crate) String);

impl From<BadParam> for Reply {
    fn from(bad: BadParam) -> Self {
        Reply(StatusCode::BAD_REQUEST, bad.0)
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({ "error": self.1 }))).into_response()
    }
}

/// An endpoint's answer.
pub(crate) type Answer = Result<axum::Json<Value>, Reply>;

/// Key-value pairs as `[[k, v], ...]` (keys may repeat, order kept).
pub(crate) fn pairs(pairs: &[(String, String)]) -> Value {
    Value::Array(pairs.iter().map(|(k, v)| json!([k, v])).collect())
}
