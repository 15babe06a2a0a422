//! Delivery of transitions to a webhook: a JSON POST each, in order, retried
//! with exponential backoff until the receiver answers 2xx. Every attempt
//! at one transition carries the same `Idempotency-Key` (its
//! [`id`](super::Transition::id)), so a receiver that took one whose answer
//! was lost can tell the retry apart.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc;

use super::transition::Transition;
use crate::config::bounds::{WEBHOOK_ATTEMPTS, WEBHOOK_WAIT};
use crate::error::{ConfigError, invalid};

/// Transitions waiting for the webhook, at most; more are dropped and
/// counted (a receiver down for hours must not grow memory without bound).
const QUEUE: usize = 1024;
/// One attempt's limit unless told.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how to post transitions.
#[derive(Clone)]
pub struct Webhook {
    url: url::Url,
    pub(crate) attempts: u32,
    pub(crate) first_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) timeout: Duration,
}

impl fmt::Debug for Webhook {
    /// Without the path and query, which often hold a token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &redacted(&self.url))
            .field("attempts", &self.attempts)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// `scheme://host:port/…`: what can be shown of a webhook's URL.
pub(crate) fn redacted(url: &url::Url) -> String {
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "{}://{}{port}/…",
        url.scheme(),
        url.host_str().unwrap_or("")
    )
}

impl Webhook {
    /// Posts to `url` (`http` or `https`), 8 attempts of at most 10 s each,
    /// backoff from 250 ms doubling to at most 30 s.
    ///
    /// # Errors
    ///
    /// Not an http(s) URL with a host (the error shows no more of it than
    /// scheme and host: its path often holds a token).
    pub fn new(url: &str) -> Result<Webhook, ConfigError> {
        Webhook::parse("Alerts::webhook", url)
    }

    /// [`Webhook::new`], its errors naming `setting`.
    pub(crate) fn parse(setting: &'static str, url: &str) -> Result<Webhook, ConfigError> {
        const HTTP_URL: &str = "an http:// or https:// URL with a host";
        let bad = |shown: String| ConfigError::Invalid {
            setting,
            value: shown,
            reason: HTTP_URL.to_owned(),
        };
        let parsed = url::Url::parse(url).map_err(|_| bad("(not shown)".to_owned()))?;
        match parsed.scheme() {
            "http" => {}
            "https" if cfg!(feature = "rustls") => {}
            "https" => return Err(ConfigError::TlsUnavailable { setting }),
            _ => return Err(bad(redacted(&parsed))),
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(bad(redacted(&parsed)));
        }
        Ok(Webhook {
            url: parsed,
            attempts: 8,
            first_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            timeout: ATTEMPT_TIMEOUT,
        })
    }

    /// How long one attempt may wait for the receiver's answer (10 s
    /// unless told; from 1 ms to 365 days, or the builder or
    /// [`Runner::new`](super::Runner::new) refuses the alerts, naming
    /// `Webhook::timeout`). A receiver that does not answer in time fails
    /// the attempt, which alerting counts as an error
    /// ([`AlertStats::errors`](super::AlertStats::errors)).
    #[must_use]
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = limit;
        self
    }

    /// At most this many attempts per transition (8 unless told; from 1 to
    /// 1000, or the alerts are refused, naming `Webhook::attempts`).
    #[must_use]
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }

    /// The wait after the first failure, doubling after each, up to `max`
    /// (250 ms and 30 s unless told; each from 1 ms to 365 days and `max`
    /// at least `first`, or the alerts are refused, naming
    /// `Webhook::backoff`).
    #[must_use]
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.first_backoff = first;
        self.max_backoff = max;
        self
    }

    /// Checks the settings against the bounds their setters document.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        WEBHOOK_WAIT.check("Webhook::timeout", self.timeout)?;
        WEBHOOK_ATTEMPTS.check("Webhook::attempts", u64::from(self.attempts))?;
        WEBHOOK_WAIT.check("Webhook::backoff", self.first_backoff)?;
        WEBHOOK_WAIT.check("Webhook::backoff", self.max_backoff)?;
        if self.max_backoff < self.first_backoff {
            return Err(invalid(
                "Webhook::backoff",
                &format!("{:?} after {:?}", self.max_backoff, self.first_backoff),
                "a longest wait at least the first",
            ));
        }
        Ok(())
    }

    /// The wait after the one of `backoff`: twice as long, up to the most.
    fn next_backoff(&self, backoff: Duration) -> Duration {
        backoff.saturating_mul(2).min(self.max_backoff)
    }
}

/// The webhook's counters.
#[derive(Debug, Default)]
pub(crate) struct WebhookStats {
    /// Transitions handed to the webhook (dropped ones included).
    pub queued: AtomicU64,
    /// Transitions the receiver took (answered 2xx).
    pub delivered: AtomicU64,
    /// Attempts that failed (an error, a timeout or a non-2xx answer).
    pub failed_attempts: AtomicU64,
    /// Transitions given up after every attempt failed.
    pub given_up: AtomicU64,
    /// Transitions dropped because the queue was full.
    pub dropped: AtomicU64,
}

/// The sending side of a running delivery task.
#[derive(Debug, Clone)]
pub(crate) struct Deliveries {
    queue: mpsc::Sender<Transition>,
    pub(crate) stats: Arc<WebhookStats>,
    /// Why the last failed attempt failed, for the cycle that reports it.
    pub(crate) last_failure: Arc<parking_lot::Mutex<Option<String>>>,
    /// How many attempts each transition gets.
    pub(crate) attempts: u32,
}

impl Deliveries {
    /// Starts the delivery task on the current tokio runtime.
    pub(crate) fn start(webhook: Webhook) -> (Deliveries, tokio::task::JoinHandle<()>) {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let deliveries = Deliveries {
            queue,
            stats: Arc::default(),
            last_failure: Arc::default(),
            attempts: webhook.attempts,
        };
        let task = tokio::spawn(deliver_all(webhook, receiver, deliveries.clone()));
        (deliveries, task)
    }

    /// Queues `transition`; counts it dropped when the queue is full.
    pub(crate) fn send(&self, transition: &Transition) {
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        if self.queue.try_send(transition.clone()).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

type HttpClient = Client<Connector, Full<Bytes>>;

#[cfg(feature = "rustls")]
type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
#[cfg(not(feature = "rustls"))]
type Connector = HttpConnector;

/// The client the deliveries post with; `None` if TLS cannot be set up.
fn http_client() -> Option<HttpClient> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    #[cfg(feature = "rustls")]
    let connector = {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let tls = rustls::ClientConfig::builder_with_provider(crate::connect::tls::provider())
            .with_safe_default_protocol_versions()
            .ok()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http)
    };
    #[cfg(not(feature = "rustls"))]
    let connector = http;
    Some(Client::builder(TokioExecutor::new()).build(connector))
}

async fn deliver_all(
    webhook: Webhook,
    mut queue: mpsc::Receiver<Transition>,
    deliveries: Deliveries,
) {
    let stats = &deliveries.stats;
    let Some(client) = http_client() else {
        *deliveries.last_failure.lock() = Some("no TLS client could be set up".to_owned());
        // Counted, as every transition the receiver never gets is.
        while queue.recv().await.is_some() {
            stats.given_up.fetch_add(1, Ordering::Relaxed);
        }
        return;
    };
    while let Some(transition) = queue.recv().await {
        deliver(&client, &webhook, &transition, &deliveries).await;
    }
}

/// Posts one transition until it is taken or the attempts run out.
async fn deliver(
    client: &HttpClient,
    webhook: &Webhook,
    transition: &Transition,
    deliveries: &Deliveries,
) {
    let stats = &deliveries.stats;
    let body = Bytes::from(transition.to_json().to_string());
    let id = transition.id();
    let mut backoff = webhook.first_backoff;
    for attempt in 1..=webhook.attempts {
        let failure = match post(client, webhook, &id, body.clone()).await {
            Ok(()) => {
                stats.delivered.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(failure) => failure,
        };
        // The reason first: a cycle that sees the count finds it.
        *deliveries.last_failure.lock() = Some(failure);
        stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
        if attempt < webhook.attempts {
            tokio::time::sleep(backoff).await;
            backoff = webhook.next_backoff(backoff);
        }
    }
    stats.given_up.fetch_add(1, Ordering::Relaxed);
}

/// One attempt: the receiver answered 2xx in time, or why not.
async fn post(client: &HttpClient, webhook: &Webhook, id: &str, body: Bytes) -> Result<(), String> {
    let request = http::Request::post(webhook.url.as_str())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("Idempotency-Key", id)
        .header(
            http::header::USER_AGENT,
            concat!("tracing-clickhouse/", env!("CARGO_PKG_VERSION")),
        )
        .body(Full::new(body))
        .map_err(|e| format!("cannot make the request: {e}"))?;
    let to = redacted(&webhook.url);
    match tokio::time::timeout(webhook.timeout, client.request(request)).await {
        Ok(Ok(response)) if response.status().is_success() => Ok(()),
        Ok(Ok(response)) => Err(format!("{to} answered {}", response.status())),
        Ok(Err(error)) => Err(format!("{to}: {}", crate::error::chain(&error))),
        Err(_) => Err(format!("{to} did not answer within {:?}", webhook.timeout)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_out_of_bounds_are_refused_by_name() {
        let hook = || Webhook::new("http://x/").unwrap();
        assert!(hook().validate().is_ok(), "the defaults");
        let longest = crate::config::bounds::MAX_DURATION;
        let fine = hook()
            .timeout(Duration::from_millis(1))
            .attempts(1000)
            .backoff(Duration::from_millis(1), longest);
        assert!(fine.validate().is_ok());
        let refused = [
            (hook().timeout(Duration::ZERO), "Webhook::timeout"),
            (
                hook().timeout(longest + Duration::from_secs(1)),
                "Webhook::timeout",
            ),
            (hook().attempts(0), "Webhook::attempts"),
            (hook().attempts(1001), "Webhook::attempts"),
            (hook().backoff(Duration::ZERO, longest), "Webhook::backoff"),
            (
                hook().backoff(Duration::MAX, Duration::MAX),
                "Webhook::backoff",
            ),
            (
                hook().backoff(Duration::from_secs(2), Duration::from_secs(1)),
                "Webhook::backoff",
            ),
        ];
        for (webhook, setting) in refused {
            let error = webhook.validate().unwrap_err();
            assert_eq!(error.setting(), setting, "{error}");
        }
    }

    #[test]
    fn doubling_the_longest_wait_saturates() {
        let longest = crate::config::bounds::MAX_DURATION;
        let hook = Webhook::new("http://x/").unwrap().backoff(longest, longest);
        assert_eq!(hook.next_backoff(hook.first_backoff), longest);
        assert_eq!(hook.next_backoff(Duration::MAX), longest);
    }

    #[test]
    fn urls_are_checked_and_never_shown_whole() {
        let error = Webhook::new("ftp://x/SECRET").unwrap_err().to_string();
        assert!(
            error.starts_with("Alerts::webhook: ") && !error.contains("SECRET"),
            "{error}"
        );
        let error = Webhook::new("not a url with a SECRET")
            .unwrap_err()
            .to_string();
        assert!(!error.contains("SECRET"), "{error}");
        let hook = Webhook::new("http://hooks.example:8080/services/T0/SECRET?token=abc").unwrap();
        let debug = format!("{hook:?}");
        assert!(debug.contains("http://hooks.example:8080/"), "{debug}");
        assert!(
            !debug.contains("SECRET") && !debug.contains("abc"),
            "{debug}"
        );
    }
}
