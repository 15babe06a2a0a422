//! Connections to ClickHouse.
//!
//! Every connection is the official `clickhouse` crate over our own hyper
//! client, so HTTPS trusts the webpki roots plus the configured CA file
//! (`CLICKHOUSE_CA_CERT` or `Builder::ca_cert`). The
//! flusher and the query module each build their own client: a client's pooled
//! connections belong to the tokio runtime that opened them.
//!
//! With several endpoints ([`Config::endpoints`]), the sink holds a client
//! per endpoint ([`endpoint_clients`]) and its endpoint set chooses among
//! them; the other clients ([`client`]) take the first endpoint this process
//! has not seen fail lately ([`endpoint_state`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use clickhouse::Client;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::rt::TokioExecutor;

use crate::config::Config;
use crate::error::ConfigError;

pub(crate) mod endpoint_state;
#[cfg(feature = "rustls")]
pub(crate) mod tls;

/// Idle pooled connections are closed after this; below ClickHouse's own
/// keep-alive timeout (3 s before 23.11, 10 s since), so the server never
/// closes a connection we are about to reuse.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_millis(2_500);
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// A client for `config`'s server (with several endpoints, the first this
/// process has not seen fail lately). With `database`, statements run in
/// the configured database; without, they must name it (schema creation).
pub(crate) fn client(config: &Config, database: bool) -> Result<Client, ConfigError> {
    let urls = config.endpoints();
    let url = endpoint_state::first_healthy(&urls);
    Ok(connect(config, url, database)?.client)
}

/// One endpoint's client, and its `/ping` probe.
pub(crate) struct EndpointClient {
    pub(crate) url: String,
    pub(crate) client: Client,
    pub(crate) ping: Ping,
}

impl std::fmt::Debug for EndpointClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointClient")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// `GET /ping` of one endpoint: whether it answered `200 Ok.` in time.
pub(crate) type Ping =
    Arc<dyn Fn(Duration) -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// A client for each of `config`'s endpoints, in order of preference.
pub(crate) fn endpoint_clients(
    config: &Config,
    database: bool,
) -> Result<Vec<EndpointClient>, ConfigError> {
    config
        .endpoints()
        .iter()
        .map(|url| connect(config, url, database))
        .collect()
}

fn connect(config: &Config, url: &str, database: bool) -> Result<EndpointClient, ConfigError> {
    let mut connector = HttpConnector::new();
    connector.set_keepalive(Some(TCP_KEEPALIVE));
    connector.enforce_http(false);

    #[cfg(feature = "rustls")]
    let (client, ping) = {
        let tls = tls::client_config(config)?;
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        (
            Client::with_http_client(hyper_builder().build(https.clone())),
            pinger(https, url),
        )
    };
    #[cfg(not(feature = "rustls"))]
    let (client, ping) = (
        Client::with_http_client(hyper_builder().build(connector.clone())),
        pinger(connector, url),
    );

    let mut client = client
        .with_url(url)
        .with_user(config.user.clone())
        .with_password(config.password.expose())
        .with_product_info(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"));
    if database {
        client = client.with_database(config.database.clone());
    }
    Ok(EndpointClient {
        url: url.to_owned(),
        client,
        ping,
    })
}

fn hyper_builder() -> hyper_util::client::legacy::Builder {
    let mut builder = HyperClient::builder(TokioExecutor::new());
    builder.pool_idle_timeout(POOL_IDLE_TIMEOUT);
    builder
}

/// The `/ping` probe of `url` (ClickHouse answers `Ok.` without running a
/// query or checking credentials), over its own pool on the same connector.
fn pinger<C>(connector: C, url: &str) -> Ping
where
    C: Connect + Clone + Send + Sync + 'static,
{
    type Body = http_body_util::Empty<bytes::Bytes>;
    let http: HyperClient<C, Body> = hyper_builder().build(connector);
    let uri = format!("{url}/ping").parse::<http::Uri>().ok();
    Arc::new(move |timeout| {
        let (http, uri) = (http.clone(), uri.clone());
        Box::pin(async move {
            let Some(uri) = uri else { return false };
            matches!(
                tokio::time::timeout(timeout, http.get(uri)).await,
                Ok(Ok(response)) if response.status().is_success()
            )
        })
    })
}
