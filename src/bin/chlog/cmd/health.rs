//! `chlog health`: the storage's health, with an exit status for probes.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use serde_json::json;
use tracing_clickhouse::ErrorKind;
use tracing_clickhouse::health::{self, Problem, StorageHealth, Thresholds, Urgency};

use crate::conn::Context;
use crate::fail::{Outcome, status};
use crate::out::Out;
use crate::render::{
    Align, BOLD, GREEN, Palette, RED, Table, YELLOW, bytes, count, duration, escape, number,
    percent, rate,
};

pub(crate) const EXAMPLES: &str = "\
Examples:
  chlog health                         everything, and problems at the end
  chlog health --window 15m            rates over the last quarter hour
  chlog health --json | jq .problems
  */5 * * * * chlog health >/dev/null || notify   from cron: exit status 3 means attention

Problems: a missing schema or table, pending migrations, a partition nearing
ClickHouse's \"too many parts\" limits (its own parts_to_delay_insert and
parts_to_throw_insert: a warning at half the first), a disk under --min-free-disk,
a data table without TTL, inserts that failed in the window.
Exit status: 0 healthy, 3 something needs attention, 4 unreachable, 5 login refused.";

/// `chlog health`.
#[derive(Debug, Args)]
pub(crate) struct HealthArgs {
    /// Count the rows and queries of this last stretch of time (1s to 365d)
    #[arg(long, default_value = "5m", value_name = "DURATION",
          value_parser = crate::time::duration_within(Duration::from_secs(1), crate::time::YEAR))]
    window: Duration,
    /// A disk with less free space than this (percent) needs attention
    #[arg(long, default_value_t = 10.0, value_name = "PERCENT")]
    min_free_disk: f64,
    /// As one JSON object
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(ctx: &Context, args: HealthArgs) -> Outcome {
    if !(0.0..=100.0).contains(&args.min_free_disk) {
        return Err(crate::fail::bad_option(
            "--min-free-disk",
            "a percentage, 0 to 100",
        ));
    }
    let mut thresholds = Thresholds::default();
    thresholds.min_free_disk = args.min_free_disk / 100.0;
    let mut out = Out::new();
    let found = tokio::time::timeout(ctx.timeout, health::check(&ctx.config, args.window)).await;
    let health = match found {
        Ok(Ok(health)) => health,
        Ok(Err(error)) => {
            let failure = ctx.fail(&error);
            if args.json && matches!(error.kind(), ErrorKind::Unreachable | ErrorKind::Auth) {
                let answer = json!({"url": ctx.config.url(), "reachable": false, "healthy": false,
                    "error": failure.message});
                out.line(&answer.to_string())?;
                out.flush()?;
            }
            return Err(failure);
        }
        Err(_) => return Err(ctx.timed_out()),
    };
    let problems = health.problems(&thresholds);
    let lines = match args.json {
        true => vec![health_json(&health, &problems).to_string()],
        false => lines(&health, &problems, ctx.palette),
    };
    out.all(lines)?;
    Ok(match problems.is_empty() {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(status::ATTENTION),
    })
}

fn seconds(ns: Option<i64>) -> String {
    ns.map_or("-".into(), |ns| {
        let at = UNIX_EPOCH + Duration::from_nanos(u64::try_from(ns).unwrap_or(0));
        humantime::format_rfc3339_seconds(at).to_string()
    })
}

/// What `health` prints.
pub(crate) fn lines(health: &StorageHealth, problems: &[Problem], palette: Palette) -> Vec<String> {
    let window = humantime::format_duration(health.window).to_string();
    let schema = match health.schema_version {
        Some(v) => format!(
            "schema version {v} (this chlog applies {})",
            health.known_schema_version
        ),
        None => "no schema".into(),
    };
    let mut lines = vec![
        format!(
            "ClickHouse {} at {}: answered in {}",
            escape(&health.server_version),
            health.url,
            duration(health.round_trip)
        ),
        format!(
            "database {}: {schema}",
            palette.paint(BOLD, &escape(&health.database))
        ),
        String::new(),
    ];
    let last = format!("last {window}");
    let mut table = Table::new(&[
        ("table", Align::Left),
        ("rows", Align::Right),
        ("on disk", Align::Right),
        ("ratio", Align::Right),
        ("parts", Align::Right),
        ("partitions", Align::Right),
        ("most in one", Align::Right),
        ("TTL", Align::Left),
        ("oldest", Align::Left),
        ("newest", Align::Left),
        (&last, Align::Right),
    ]);
    for t in health
        .tables
        .iter()
        .filter(|t| t.engine != "MaterializedView")
    {
        if !t.exists {
            table.styled_row(vec![(escape(&t.name), RED), ("missing".into(), RED)]);
            continue;
        }
        let ttl = match (t.ttl_days, &t.ttl) {
            (Some(days), _) => format!("{days} days"),
            (None, Some(ttl)) => escape(ttl),
            (None, None) => "none".into(),
        };
        let recent = match (t.recent_rows, t.rows_per_second(health.window)) {
            (Some(n), Some(per)) => format!("{} ({})", count(n), rate(per)),
            _ => "-".into(),
        };
        let crowded = t.max_parts_per_partition as f64 >= health.parts_to_delay_insert as f64 / 2.0;
        table.styled_row(vec![
            (escape(&t.name), Default::default()),
            (count(t.rows), Default::default()),
            (bytes(t.bytes_on_disk), Default::default()),
            (
                t.compression_ratio().map_or("-".into(), |r| {
                    format!("{}x", number((r * 10.0).round() / 10.0))
                }),
                Default::default(),
            ),
            (count(t.parts), Default::default()),
            (count(t.partitions), Default::default()),
            (
                count(t.max_parts_per_partition),
                if crowded { YELLOW } else { Default::default() },
            ),
            (
                ttl,
                if t.ttl.is_none() && t.is_data() {
                    YELLOW
                } else {
                    Default::default()
                },
            ),
            (seconds(t.oldest_ns), Default::default()),
            (seconds(t.newest_ns), Default::default()),
            (recent, Default::default()),
        ]);
    }
    lines.extend(table.render(palette));
    lines.push(format!(
        "too many parts: ClickHouse delays inserts at {} parts in a partition, refuses them at {}",
        count(health.parts_to_delay_insert),
        count(health.parts_to_throw_insert)
    ));
    lines.push(String::new());
    for disk in &health.disks {
        let share = disk.free_share().map_or("?".into(), percent);
        lines.push(format!(
            "disk {} at {}: {} free of {} ({share})",
            escape(&disk.name),
            escape(&disk.path),
            bytes(disk.free_bytes),
            bytes(disk.total_bytes)
        ));
    }
    if !health.queries.is_empty() {
        let queries: Vec<String> = health
            .queries
            .iter()
            .map(|q| {
                let failed = if q.failed > 0 {
                    format!(", {} failed", count(q.failed))
                } else {
                    String::new()
                };
                format!(
                    "{} {} (p50 {} ms, p95 {} ms, max {} ms{failed})",
                    escape(&q.kind),
                    count(q.finished),
                    q.p50_ms,
                    q.p95_ms,
                    q.max_ms
                )
            })
            .collect();
        lines.push(format!(
            "queries in the last {window}: {}",
            queries.join("; ")
        ));
    }
    lines.push(String::new());
    if problems.is_empty() {
        lines.push(palette.paint(GREEN, "healthy: nothing needs attention"));
        return lines;
    }
    lines.push(palette.paint(BOLD, &format!("{} need attention:", problems.len())));
    for p in problems {
        let style = match p.urgency {
            Urgency::Critical => RED,
            _ => YELLOW,
        };
        let word = p.urgency.to_string();
        lines.push(format!(
            "  {} {}: {}",
            palette.paint(style, &word),
            escape(&p.subject),
            escape(&p.message)
        ));
    }
    lines
}

fn health_json(health: &StorageHealth, problems: &[Problem]) -> serde_json::Value {
    let ns = |at: Option<i64>| at.map(crate::render::time);
    json!({
        "url": health.url,
        "reachable": true,
        "healthy": problems.is_empty(),
        "server_version": health.server_version,
        "round_trip_ms": health.round_trip.as_secs_f64() * 1000.0,
        "database": health.database,
        "schema_version": health.schema_version,
        "known_schema_version": health.known_schema_version,
        "window_seconds": health.window.as_secs(),
        "checked_at": crate::render::time(
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)),
        "tables": health.tables.iter().map(|t| json!({
            "name": t.name, "exists": t.exists, "engine": t.engine, "rows": t.rows,
            "bytes_on_disk": t.bytes_on_disk, "compressed_bytes": t.compressed_bytes,
            "uncompressed_bytes": t.uncompressed_bytes, "compression_ratio": t.compression_ratio(),
            "parts": t.parts, "partitions": t.partitions,
            "max_parts_per_partition": t.max_parts_per_partition, "ttl": t.ttl, "ttl_days": t.ttl_days,
            "oldest": ns(t.oldest_ns), "newest": ns(t.newest_ns), "recent_rows": t.recent_rows,
            "rows_per_second": t.rows_per_second(health.window),
        })).collect::<Vec<_>>(),
        "parts_to_delay_insert": health.parts_to_delay_insert,
        "parts_to_throw_insert": health.parts_to_throw_insert,
        "disks": health.disks.iter().map(|d| json!({
            "name": d.name, "path": d.path, "free_bytes": d.free_bytes, "total_bytes": d.total_bytes,
        })).collect::<Vec<_>>(),
        "queries": health.queries.iter().map(|q| json!({
            "kind": q.kind, "finished": q.finished, "failed": q.failed,
            "p50_ms": q.p50_ms, "p95_ms": q.p95_ms, "max_ms": q.max_ms,
        })).collect::<Vec<_>>(),
        "problems": problems.iter().map(|p| json!({
            "urgency": p.urgency.to_string(),
            "subject": p.subject, "message": p.message,
        })).collect::<Vec<_>>(),
    })
}
