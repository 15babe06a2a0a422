//! The capture benchmark's work, one subject per process, for counting
//! instructions with callgrind (`scripts/instructions.sh` runs it): unlike
//! time, an instruction count does not depend on what else the machine does.
//!
//!   capture_instructions <clickhouse_layer|fmt_json|fmt_text|registry> <event|span>
//!
//! Only `emit` is counted (callgrind's `--toggle-collect`): the application
//! thread's side, not our flusher's nor the appender's worker.

use std::hint::black_box;
use std::time::Duration;

use tracing::{Dispatch, dispatcher};
use tracing_clickhouse::{Builder, Telemetry};
use tracing_subscriber::prelude::*;

/// Events per round, and rounds; between rounds the subject catches up.
const CHUNK: u64 = 4_096;
const ROUNDS: u64 = 25;

#[inline(never)]
fn emit(kind: &str, round: u64) {
    for i in round * CHUNK..(round + 1) * CHUNK {
        if kind == "span" {
            let span = tracing::info_span!("handle", request_id = i);
            let entered = span.enter();
            black_box(&entered);
        } else {
            tracing::info!(
                request_id = i,
                user = "ada",
                latency_ms = 12.5,
                "request handled"
            );
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (subject, kind) = (
        args.next().unwrap_or_default(),
        args.next().unwrap_or_default(),
    );
    let mut telemetry: Option<Telemetry> = None;
    let mut appender = None;
    let dispatch = match subject.as_str() {
        "clickhouse_layer" => {
            let built = Builder::from_env_vars::<&str, &str>([])
                .url("http://127.0.0.1:9")
                .and_then(|b| b.limit(tracing_clickhouse::Limit::QueueCapacity(65_536)))
                .expect("configuration")
                // Only the events measured: no system gauges, no pipeline metrics.
                .system_monitor(false)
                .pipeline_metrics(false)
                .dry_run(true)
                .build();
            let (layer, guard) = built.expect("dry-run pipeline");
            telemetry = Some(guard);
            Dispatch::new(tracing_subscriber::registry().with(layer))
        }
        "fmt_json" | "fmt_text" => {
            let (writer, guard) = tracing_appender::non_blocking(std::io::sink());
            appender = Some(guard);
            let layer = tracing_subscriber::fmt::layer().with_writer(writer);
            match subject.as_str() {
                "fmt_json" => Dispatch::new(tracing_subscriber::registry().with(layer.json())),
                _ => Dispatch::new(tracing_subscriber::registry().with(layer)),
            }
        }
        "registry" => Dispatch::new(tracing_subscriber::registry()),
        other => {
            eprintln!(
                "unknown subject {other:?}: clickhouse_layer, fmt_json, fmt_text or registry"
            );
            std::process::exit(2);
        }
    };
    dispatcher::with_default(&dispatch, || {
        for round in 0..ROUNDS {
            emit(&kind, round);
            match &telemetry {
                Some(telemetry) => telemetry.flush(Duration::from_secs(30)).expect("flush"),
                None => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    });
    drop(appender);
    println!("calls {}", CHUNK * ROUNDS);
}
