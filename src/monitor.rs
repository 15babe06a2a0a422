//! The system monitor (the seed's MonitoringAgent): the host's CPU, memory,
//! swap, disks, load and uptime and this process's CPU, memory and threads
//! as gauges of the [`MetricsRecorder`], every interval; and service checks
//! whose changes of status are written to `events` as `service_status`.
//!
//! It runs on a thread of its own, so a slow `sysinfo` refresh or a service
//! check waiting for its timeout never delays the flusher.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam::channel::{Receiver, RecvTimeoutError, Sender, bounded};
use metrics::{Gauge, Key, Label, Level, Metadata, Recorder};
use parking_lot::Mutex;
use sysinfo::{Disks, Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use crate::capture::payload::Value;
use crate::capture::{Collector, MetricsRecorder};
use crate::config::{CheckTarget, MonitorConfig, ServiceCheck};
use crate::error::{ConfigError, Error, Result};

const META: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

/// A service's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceState::Up => "up",
            ServiceState::Degraded => "degraded",
            ServiceState::Down => "down",
        }
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

/// The host and this process, as [`Telemetry::system_status`](crate::Telemetry::system_status)
/// reads them (the seed's `get_system_status()`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SystemStatus {
    /// All CPUs, percent busy since the previous reading.
    pub cpu_percent: f64,
    /// Memory in use, bytes.
    pub memory_used_bytes: u64,
    /// Memory in all, bytes.
    pub memory_total_bytes: u64,
    /// `memory_used / memory_total`, percent.
    pub memory_percent: f64,
    /// Swap in use, bytes.
    pub swap_used_bytes: u64,
    /// Swap in all, bytes.
    pub swap_total_bytes: u64,
    /// Each mounted disk.
    pub disks: Vec<DiskStatus>,
    /// Load average over 1, 5 and 15 minutes.
    pub load_average: [f64; 3],
    /// Time since the host booted, seconds.
    pub uptime_seconds: u64,
    /// This process: percent of one CPU since the previous reading.
    pub process_cpu_percent: f64,
    /// This process: resident memory, bytes.
    pub process_rss_bytes: u64,
    /// This process: threads.
    pub process_threads: u64,
}

/// One mounted disk.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct DiskStatus {
    /// Where it is mounted.
    pub mount: String,
    /// Bytes in use.
    pub used_bytes: u64,
    /// Bytes in all.
    pub total_bytes: u64,
    /// `used / total`, percent.
    pub percent: f64,
}

/// Reads the system and keeps the gauges it sets.
struct SystemReader {
    system: System,
    disks: Disks,
    pid: Option<Pid>,
    recorder: MetricsRecorder,
    gauges: HashMap<Key, Gauge>,
}

impl std::fmt::Debug for SystemReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemReader").finish_non_exhaustive()
    }
}

impl SystemReader {
    fn new(recorder: MetricsRecorder) -> Self {
        let mut system = System::new();
        // CPU percentages are differences: the first reading sets the base.
        system.refresh_cpu_usage();
        SystemReader {
            system,
            disks: Disks::new_with_refreshed_list(),
            pid: sysinfo::get_current_pid().ok(),
            recorder,
            gauges: HashMap::new(),
        }
    }

    /// Reads everything and sets the gauges.
    fn read(&mut self) -> SystemStatus {
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        self.disks.refresh(true);
        let (mut process_cpu, mut rss, mut threads) = (0.0, 0, 0);
        if let Some(pid) = self.pid {
            let refresh = ProcessRefreshKind::nothing()
                .with_cpu()
                .with_memory()
                .with_tasks();
            self.system
                .refresh_processes_specifics(ProcessesToUpdate::Some(&[pid]), true, refresh);
            if let Some(process) = self.system.process(pid) {
                process_cpu = f64::from(process.cpu_usage());
                rss = process.memory();
                threads = process.tasks().map_or(1, |tasks| tasks.len().max(1) as u64);
            }
        }
        let load = System::load_average();
        let percent = |used: u64, total: u64| {
            if total == 0 {
                0.0
            } else {
                used as f64 * 100.0 / total as f64
            }
        };
        let (used, total) = (self.system.used_memory(), self.system.total_memory());
        let status = SystemStatus {
            cpu_percent: f64::from(self.system.global_cpu_usage()),
            memory_used_bytes: used,
            memory_total_bytes: total,
            memory_percent: percent(used, total),
            swap_used_bytes: self.system.used_swap(),
            swap_total_bytes: self.system.total_swap(),
            disks: self
                .disks
                .iter()
                .map(|disk| {
                    let total = disk.total_space();
                    let used = total.saturating_sub(disk.available_space());
                    DiskStatus {
                        mount: disk.mount_point().to_string_lossy().into_owned(),
                        used_bytes: used,
                        total_bytes: total,
                        percent: percent(used, total),
                    }
                })
                .collect(),
            load_average: [load.one, load.five, load.fifteen],
            uptime_seconds: System::uptime(),
            process_cpu_percent: process_cpu,
            process_rss_bytes: rss,
            process_threads: threads,
        };
        self.record(&status);
        status
    }

    fn set(&mut self, name: &'static str, labels: Vec<Label>, value: f64) {
        let key = Key::from_parts(name, labels);
        let recorder = &self.recorder;
        self.gauges
            .entry(key)
            .or_insert_with_key(|key| recorder.register_gauge(key, &META))
            .set(value);
    }

    fn record(&mut self, s: &SystemStatus) {
        self.set("system.cpu_percent", vec![], s.cpu_percent);
        self.set(
            "system.memory_used_bytes",
            vec![],
            s.memory_used_bytes as f64,
        );
        self.set(
            "system.memory_total_bytes",
            vec![],
            s.memory_total_bytes as f64,
        );
        self.set("system.memory_percent", vec![], s.memory_percent);
        self.set("system.swap_used_bytes", vec![], s.swap_used_bytes as f64);
        self.set("system.swap_total_bytes", vec![], s.swap_total_bytes as f64);
        for disk in &s.disks {
            let mount = || vec![Label::new("mount", disk.mount.clone())];
            self.set("system.disk_used_bytes", mount(), disk.used_bytes as f64);
            self.set("system.disk_total_bytes", mount(), disk.total_bytes as f64);
            self.set("system.disk_percent", mount(), disk.percent);
        }
        self.set("system.load_1m", vec![], s.load_average[0]);
        self.set("system.load_5m", vec![], s.load_average[1]);
        self.set("system.load_15m", vec![], s.load_average[2]);
        self.set("system.uptime_seconds", vec![], s.uptime_seconds as f64);
        self.set("process.cpu_percent", vec![], s.process_cpu_percent);
        self.set(
            "process.memory_rss_bytes",
            vec![],
            s.process_rss_bytes as f64,
        );
        self.set("process.threads", vec![], s.process_threads as f64);
    }
}

/// Checks one service once.
fn check(service: &ServiceCheck) -> ServiceStatus {
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
    let parsed = url::Url::parse(url).map_err(|e| format!("bad URL {url:?}: {e}"))?;
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

/// What the monitor shares with the guard.
#[derive(Debug, Default)]
struct Shared {
    statuses: Mutex<Vec<ServiceStatus>>,
}

/// The running monitor thread.
#[derive(Debug)]
pub(crate) struct Monitor {
    shared: Arc<Shared>,
    reader: Arc<Mutex<SystemReader>>,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Monitor {
    /// Starts the monitor thread.
    pub(crate) fn start(
        config: &MonitorConfig,
        recorder: MetricsRecorder,
        collector: Collector,
    ) -> Result<Monitor> {
        for service in &config.services {
            if service.interval.is_zero() || service.timeout.is_zero() {
                return Err(ConfigError::Invalid {
                    setting: "ServiceCheck::interval / timeout",
                    value: service.name.clone(),
                    reason: "positive durations",
                }
                .into());
            }
            if let CheckTarget::Http(url) = &service.target
                && !url.starts_with("http://")
            {
                return Err(ConfigError::Invalid {
                    setting: "CheckTarget::Http",
                    value: url.clone(),
                    reason: "an http:// URL (for HTTPS, check the port with CheckTarget::Tcp)",
                }
                .into());
            }
        }
        let shared = Arc::new(Shared::default());
        let reader = Arc::new(Mutex::new(SystemReader::new(recorder)));
        let (stop, stopped) = bounded(0);
        let thread = {
            let (config, shared, reader) =
                (config.clone(), Arc::clone(&shared), Arc::clone(&reader));
            std::thread::Builder::new()
                .name("tracing-clickhouse-monitor".into())
                .spawn(move || run(&config, &shared, &reader, &collector, &stopped))
                .map_err(Error::Thread)?
        };
        Ok(Monitor {
            shared,
            reader,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Reads the system now (and records it).
    pub(crate) fn system_status(&self) -> SystemStatus {
        self.reader.lock().read()
    }

    /// The last status of every configured service (checked at least once).
    pub(crate) fn service_statuses(&self) -> Vec<ServiceStatus> {
        self.shared.statuses.lock().clone()
    }
}

impl Monitor {
    /// Stops the thread (and its checks); the system can still be read.
    pub(crate) fn stop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(
    config: &MonitorConfig,
    shared: &Shared,
    reader: &Mutex<SystemReader>,
    collector: &Collector,
    stop: &Receiver<()>,
) {
    crate::capture::suppress_capture_on_this_thread();
    let now = Instant::now();
    let mut next_system = config.system.then_some(now);
    let mut next_check: Vec<Instant> = config.services.iter().map(|_| now).collect();
    let mut last: Vec<Option<ServiceState>> = config.services.iter().map(|_| None).collect();
    loop {
        let now = Instant::now();
        if let Some(at) = next_system
            && now >= at
        {
            reader.lock().read();
            next_system = Some(now + config.interval);
        }
        for (i, service) in config.services.iter().enumerate() {
            if Instant::now() < next_check[i] {
                continue;
            }
            let status = check(service);
            next_check[i] = Instant::now() + service.interval;
            let changed = match last[i] {
                // The first check reports only a service that is not up.
                None => status.state != ServiceState::Up,
                Some(previous) => previous != status.state,
            };
            if changed {
                record_change(collector, &status, last[i]);
            }
            last[i] = Some(status.state);
            let mut statuses = shared.statuses.lock();
            match statuses.iter_mut().find(|s| s.name == status.name) {
                Some(slot) => *slot = status,
                None => statuses.push(status),
            }
        }
        let wake = next_check
            .iter()
            .copied()
            .chain(next_system)
            .min()
            .unwrap_or(now + Duration::from_secs(3600));
        match stop.recv_timeout(wake.saturating_duration_since(Instant::now())) {
            Err(RecvTimeoutError::Timeout) => {}
            // The guard is gone.
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn record_change(collector: &Collector, status: &ServiceStatus, previous: Option<ServiceState>) {
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
