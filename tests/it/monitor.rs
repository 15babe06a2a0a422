//! The system monitor: the system's gauges are stored with sane values, and
//! a service that goes down and comes back gives two `service_status` events.

use crate::common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use tracing_clickhouse::monitor::ServiceState;
use tracing_clickhouse::query::{EventQuery, MetricQuery};
use tracing_clickhouse::{Builder, CheckTarget, Config, ServiceCheck, Telemetry, Timing};

/// With the pipeline's own metrics, as by default, the system gauges if
/// `system`, and these service checks.
fn config(prefix: &str, system: bool, checks: Vec<ServiceCheck>) -> Config {
    let builder = common::builder(prefix)
        .service_name("tc-monitor")
        .pipeline_metrics(true)
        .system_monitor(system)
        .timing(Timing::MetricsInterval(Duration::from_secs(3600)));
    checks
        .into_iter()
        .try_fold(builder.unwrap(), Builder::service_check)
        .and_then(Builder::build_config)
        .unwrap()
}

fn start(config: Config) -> Telemetry {
    config.into_builder().build().unwrap().1
}

#[tokio::test(flavor = "multi_thread")]
async fn system_gauges_are_stored_with_sane_values() {
    let telemetry = start(config("monitor_system", true, Vec::new()));
    std::thread::sleep(Duration::from_millis(300));
    let status = telemetry.system_status();
    assert!((0.0..=100.0).contains(&status.cpu_percent), "{status:?}");
    assert!(status.memory_total_bytes > 0 && status.memory_used_bytes <= status.memory_total_bytes);
    assert!((0.0..=100.0).contains(&status.memory_percent));
    assert!(status.swap_used_bytes <= status.swap_total_bytes);
    assert!(!status.disks.is_empty(), "{status:?}");
    for disk in &status.disks {
        assert!(disk.used_bytes <= disk.total_bytes && (0.0..=100.0).contains(&disk.percent));
    }
    assert!(status.load_average.iter().all(|l| *l >= 0.0));
    assert!(status.uptime_seconds > 0);
    assert!(status.process_rss_bytes > 1 << 20, "{status:?}");
    assert!(status.process_threads >= 2, "{status:?}");
    telemetry.flush(Duration::from_secs(30)).unwrap();

    let query = telemetry.query();
    let total = query
        .query_metrics(&MetricQuery::new("system.memory_total_bytes"))
        .await
        .unwrap();
    assert_eq!(
        total.entries.last().unwrap().value,
        status.memory_total_bytes as f64
    );
    for name in [
        "system.cpu_percent",
        "system.memory_used_bytes",
        "system.memory_percent",
        "system.swap_total_bytes",
        "system.load_1m",
        "system.uptime_seconds",
        "process.cpu_percent",
        "process.memory_rss_bytes",
        "process.threads",
    ] {
        let points = query.query_metrics(&MetricQuery::new(name)).await.unwrap();
        assert_eq!(points.entries.len(), 1, "{name}");
        assert_eq!(points.entries[0].kind, "gauge");
    }
    let mount = &status.disks[0].mount;
    let disk = query
        .query_metrics(&MetricQuery::new("system.disk_percent").attribute("mount", mount))
        .await
        .unwrap();
    assert_eq!(disk.entries.len(), 1, "{mount}");
}

fn wait_for_state(telemetry: &tracing_clickhouse::Telemetry, state: ServiceState) {
    let start = Instant::now();
    loop {
        let statuses = telemetry.service_statuses();
        if statuses.first().is_some_and(|s| s.state == state) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{statuses:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_going_down_and_up_gives_two_events() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let check = ServiceCheck::new("db", CheckTarget::Tcp(address.to_string()))
        .interval(Duration::from_millis(50))
        .timeout(Duration::from_millis(500));
    let telemetry = start(config("monitor_services", false, vec![check]));
    wait_for_state(&telemetry, ServiceState::Up);
    drop(listener);
    wait_for_state(&telemetry, ServiceState::Down);
    let listener = TcpListener::bind(address).unwrap();
    wait_for_state(&telemetry, ServiceState::Up);
    // A few more checks while up: no more events.
    std::thread::sleep(Duration::from_millis(200));
    telemetry.flush(Duration::from_secs(30)).unwrap();
    drop(listener);

    let events = telemetry
        .query()
        .query_events(&EventQuery::new().event_type("service_status"))
        .await
        .unwrap()
        .entries;
    assert_eq!(events.len(), 2, "{events:?}");
    // Newest first.
    let (up, down) = (&events[0], &events[1]);
    assert_eq!(
        (
            down.detail("service"),
            down.detail("status"),
            down.detail("previous")
        ),
        (Some("db"), Some("down"), Some("up"))
    );
    assert!(down.detail("error").unwrap().contains("cannot connect"));
    assert_eq!(
        (up.detail("status"), up.detail("previous")),
        (Some("up"), Some("down"))
    );
    assert!(up.detail("latency_ms").is_some());
    assert_eq!(up.source, "monitor");
}
