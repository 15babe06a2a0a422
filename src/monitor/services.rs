//! Service checks: a TCP connection or an HTTP `GET` within a timeout, and
//! the `service_status` events of their changes.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant, SystemTime};

use crate::capture::DirectRecorder;
use crate::capture::payload::Value;
use crate::config::{CheckTarget, ServiceCheck};

/// A service's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceState {
    /// It answered in time.
    Up,
    /// It answered, slowly or with a server error.
    Degraded,
    /// It did not answer.
    Down,
}

impl ServiceState {
    /// `up`, `degraded` or `down`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ServiceState::Up => "up",
            ServiceState::Degraded => "degraded",
            ServiceState::Down => "down",
        }
    }
}

impl std::fmt::Display for ServiceState {
    /// `up`, `degraded` or `down`: the `status` of its `service_status` event.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The last check of a service.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ServiceStatus {
    /// The service's name.
    pub name: String,
    /// What the check found.
    pub state: ServiceState,
    /// How long the check took, if it got an answer.
    pub latency: Option<Duration>,
    /// Why it is not up.
    pub error: Option<String>,
    /// When it was checked.
    pub checked_at: SystemTime,
}

/// Checks one service once.
pub(super) fn check(service: &ServiceCheck) -> ServiceStatus {
    let started = Instant::now();
    let result = match &service.target {
        CheckTarget::Tcp(address) => connect(address, service.timeout).map(|_| None),
        CheckTarget::Http(url) => http_get(url, service.timeout),
    };
    let latency = started.elapsed();
    let (state, latency, error) = match result {
        Ok(None) if latency > service.degraded_after => (
            ServiceState::Degraded,
            Some(latency),
            Some(format!("slow: {latency:?}")),
        ),
        Ok(None) => (ServiceState::Up, Some(latency), None),
        Ok(Some(problem)) => (ServiceState::Degraded, Some(latency), Some(problem)),
        Err(error) => (ServiceState::Down, None, Some(error)),
    };
    ServiceStatus {
        name: service.name.clone(),
        state,
        latency,
        error,
        checked_at: SystemTime::now(),
    }
}

fn connect(address: &str, timeout: Duration) -> Result<TcpStream, String> {
    let addresses = address
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {address}: {e}"))?;
    let mut last = format!("{address} resolves to no address");
    for candidate in addresses {
        match TcpStream::connect_timeout(&candidate, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = format!("cannot connect to {candidate}: {e}"),
        }
    }
    Err(last)
}

/// `GET url`: `Ok(None)` below 500, `Ok(Some(problem))` for 5xx.
fn http_get(url: &str, timeout: Duration) -> Result<Option<String>, String> {
    // Not the URL itself: it may carry a password or a token.
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    let host = parsed.host_str().ok_or("the URL has no host")?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    let mut stream = connect(&format!("{host}:{port}"), timeout)?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    let path = match parsed.query() {
        Some(query) => format!("{}?{query}", parsed.path()),
        None => parsed.path().to_owned(),
    };
    // One write: `write!` on the socket would send each piece of the format
    // as a packet of its own.
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: tracing-clickhouse-monitor\r\n\
         Connection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("cannot send the request: {e}"))?;
    let mut head = [0u8; 64];
    let n = stream
        .read(&mut head)
        .map_err(|e| format!("no answer: {e}"))?;
    let line = String::from_utf8_lossy(&head[..n]);
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {line:?}"))?;
    Ok((status >= 500).then(|| format!("HTTP {status}")))
}

/// Writes a change of a service's state to `events` (`service_status`).
pub(super) fn record_change(
    collector: &DirectRecorder,
    status: &ServiceStatus,
    previous: Option<ServiceState>,
) {
    let latency_ms = status.latency.map(|l| l.as_secs_f64() * 1000.0);
    let previous = previous.map_or("unknown", ServiceState::as_str);
    let mut details = vec![
        ("service", Value::from(status.name.as_str())),
        ("status", Value::from(status.state.as_str())),
        ("previous", Value::from(previous)),
    ];
    if let Some(ms) = latency_ms {
        details.push(("latency_ms", Value::from(ms)));
    }
    if let Some(error) = &status.error {
        details.push(("error", Value::from(error.as_str())));
    }
    collector.record_event("service_status", "monitor", details);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_port_is_down_and_an_open_one_up() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap().to_string();
        let up = check(&ServiceCheck::new("open", CheckTarget::Tcp(open)));
        assert_eq!(up.state, ServiceState::Up, "{up:?}");
        assert!(up.latency.is_some());
        drop(listener);
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .to_string();
        let down = check(&ServiceCheck::new("closed", CheckTarget::Tcp(closed)));
        assert_eq!(down.state, ServiceState::Down);
        assert!(down.error.unwrap().contains("cannot connect"));
    }

    #[test]
    fn http_5xx_is_degraded_and_2xx_up() {
        for (answer, expected) in [
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                ServiceState::Up,
            ),
            (
                "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n",
                ServiceState::Degraded,
            ),
        ] {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("http://{}/health", listener.local_addr().unwrap());
            let server = std::thread::spawn(move || {
                let (mut stream, _) = listener.accept().unwrap();
                // Read the whole head, however it arrives.
                let mut request = Vec::new();
                let mut chunk = [0u8; 512];
                while !request.ends_with(b"\r\n\r\n") {
                    let n = stream.read(&mut chunk).unwrap();
                    assert!(n > 0, "the request ended early: {request:?}");
                    request.extend_from_slice(&chunk[..n]);
                }
                stream.write_all(answer.as_bytes()).unwrap();
                String::from_utf8_lossy(&request).into_owned()
            });
            let status = check(&ServiceCheck::new("web", CheckTarget::Http(url)));
            let request = server.join().unwrap();
            assert!(request.starts_with("GET /health HTTP/1.1\r\n"), "{request}");
            assert_eq!(status.state, expected, "{status:?}");
        }
    }
}
