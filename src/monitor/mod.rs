//! The system monitor (the seed's MonitoringAgent): the host's CPU, memory,
//! swap, disks, load and uptime and this process's CPU, memory and threads
//! as gauges of the [`MetricsRecorder`](crate::MetricsRecorder), every interval; and service checks
//! whose changes of status are written to `events` as `service_status`.
//!
//! It runs on a thread of its own, so a slow `sysinfo` refresh or a service
//! check waiting for its timeout never delays the flusher.

mod runner;
mod services;
mod system;

pub(crate) use runner::Monitor;
pub use services::{ServiceState, ServiceStatus};
pub use system::{DiskStatus, SystemStatus};
