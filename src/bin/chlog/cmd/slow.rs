//! `chlog slow`: the slowest operations.

use std::time::Duration;

use clap::Args;
use serde_json::json;
use tracing_clickhouse::query::{OperationStats, SpanQuery};

use crate::conn::Context;
use crate::fail::Outcome;
use crate::out;
use crate::render::{Align, Palette, Table, YELLOW, bar, count, duration, escape};

pub(crate) const EXAMPLES: &str = "\
Examples:
  chlog slow                        the last hour's slowest operations
  chlog slow --since 7d -s checkout one service, a week
  chlog slow --name charge --json   one operation's numbers";

/// `chlog slow`.
#[derive(Debug, Args)]
pub(crate) struct SlowArgs {
    /// Only this service; repeat for several
    #[arg(long, short = 's', value_name = "NAME")]
    service: Vec<String>,
    /// Only this operation (SpanName); repeat for several
    #[arg(long, value_name = "SPAN_NAME")]
    name: Vec<String>,
    /// Spans started from this time [default: 1h]
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Spans started before this time
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// How many operations (1 to 1000000)
    #[arg(long, short = 'n', default_value_t = 10, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=crate::cmd::MAX_LIMIT))]
    limit: u64,
    /// One JSON object per operation
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(ctx: &Context, args: SlowArgs) -> Outcome {
    let range = crate::time::range(
        args.since.as_deref(),
        args.until.as_deref(),
        Some(Duration::from_secs(3600)),
    )?;
    let mut query = SpanQuery::new().range(range);
    for service in &args.service {
        query = query.service(service);
    }
    for name in &args.name {
        query = query.name(name);
    }
    let operations = ctx
        .ask(ctx.client.slowest_operations(&query, args.limit))
        .await?
        .entries;
    out::list(
        &operations,
        args.json,
        operation_json,
        |all| table(all, ctx.palette),
        "no spans in the range",
    )
}

/// Operations, the highest p95 first, with p95 drawn against the highest.
pub(crate) fn table(operations: &[OperationStats], palette: Palette) -> Vec<String> {
    if operations.is_empty() {
        return Vec::new();
    }
    let highest = operations
        .iter()
        .map(|o| o.p95_ns)
        .max()
        .unwrap_or(0)
        .max(1);
    let ns = |n: u64| duration(Duration::from_nanos(n));
    let mut table = Table::new(&[
        ("service", Align::Left),
        ("operation", Align::Left),
        ("spans", Align::Right),
        ("p50", Align::Right),
        ("p95", Align::Right),
        ("p99", Align::Right),
        ("max", Align::Right),
        ("p95", Align::Left),
    ]);
    for o in operations {
        table.styled_row(vec![
            (escape(&o.service), Default::default()),
            (escape(&o.name), Default::default()),
            (count(o.count), Default::default()),
            (ns(o.p50_ns), Default::default()),
            (ns(o.p95_ns), Default::default()),
            (ns(o.p99_ns), Default::default()),
            (ns(o.max_ns), Default::default()),
            (bar(o.p95_ns as f64 / highest as f64, 20), YELLOW),
        ]);
    }
    table.render(palette)
}

fn operation_json(o: &OperationStats) -> serde_json::Value {
    json!({
        "service": o.service, "operation": o.name, "spans": o.count,
        "p50_ns": o.p50_ns, "p95_ns": o.p95_ns, "p99_ns": o.p99_ns, "max_ns": o.max_ns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_line_up_with_their_bars() {
        let op = |name: &str, p95: u64| -> OperationStats {
            serde_json::from_value(json!({
                "service": "checkout", "name": name, "count": 12, "p50_ns": p95 / 2,
                "p95_ns": p95, "p99_ns": p95, "max_ns": p95 * 2,
            }))
            .unwrap()
        };
        let lines = table(
            &[op("charge", 1_200_000_000), op("db.query", 300_000_000)],
            Palette::new(false),
        );
        assert_eq!(
            lines,
            [
                "service   operation  spans     p50     p95     p99     max  p95",
                "checkout  charge        12  600 ms   1.2 s   1.2 s   2.4 s  ████████████████████",
                "checkout  db.query      12  150 ms  300 ms  300 ms  600 ms  █████",
            ]
        );
    }
}
