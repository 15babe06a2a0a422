//! The host and this process, read with `sysinfo` and set as gauges of the
//! recorder.

use std::collections::HashMap;

use metrics::{Gauge, Key, Label, Level, Metadata, Recorder};
use sysinfo::{Disks, Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use crate::capture::MetricsRecorder;

const META: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

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
pub(super) struct SystemReader {
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
    pub(super) fn new(recorder: MetricsRecorder) -> Self {
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
    pub(super) fn read(&mut self) -> SystemStatus {
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
