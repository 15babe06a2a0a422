//! The monitor's thread: the system every interval, each service on its
//! own interval, and the guard's way to stop it.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, RecvTimeoutError, Sender, bounded};
use parking_lot::Mutex;

use super::services::{ServiceState, ServiceStatus, check, record_change};
use super::system::{SystemReader, SystemStatus};
use crate::capture::{DirectRecorder, MetricsRecorder};
use crate::config::monitoring::MonitorConfig;
use crate::error::{Error, Result};

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
        collector: DirectRecorder,
    ) -> Result<Monitor> {
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
    collector: &DirectRecorder,
    stop: &Receiver<()>,
) {
    crate::capture::suppress_capture_on_this_thread();
    crate::threads::run_in_background();
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
