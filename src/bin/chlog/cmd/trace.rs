//! `chlog trace ID`: the span tree, durations as bars on the trace's
//! timeline, and the logs of each span.

use std::time::Duration;

use clap::Args;
use serde_json::json;
use tracing_clickhouse::query::{LogEntry, SpanEntry, SpanNode, Trace};

use super::logs::{LineStyle, line};
use crate::conn::Context;
use crate::fail::{Failure, Outcome};
use crate::out::Out;
use crate::render::{BOLD, CYAN, DIM, Palette, RED, YELLOW, duration, escape, time, timeline};

pub(crate) const EXAMPLES: &str = "\
Examples:
  chlog trace 4bf92f3577b34da6a3ce929d0e0e4736
  chlog trace 4bf92f3577b34da6a3ce929d0e0e4736 --no-logs
  chlog trace 4bf92f3577b34da6a3ce929d0e0e4736 --json | jq '.spans[] | select(.status == \"Error\")'

Trace ids are on the logs (`chlog logs` prints trace=...) and on the spans.";

/// Cells of the timeline.
const WIDTH: usize = 40;

/// `chlog trace`.
#[derive(Debug, Args)]
pub(crate) struct TraceArgs {
    /// The trace id (32 hex digits)
    trace_id: String,
    /// Leave out the logs
    #[arg(long)]
    no_logs: bool,
    /// As one JSON object: the spans depth first, and the logs
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(ctx: &Context, args: TraceArgs) -> Outcome {
    let trace = ctx.ask(ctx.client.trace(&args.trace_id)).await?;
    if trace.is_empty() {
        return Err(Failure::other(format!(
            "no span or log of trace {:?} (a trace id is 32 hex digits, as `chlog logs` prints it)",
            escape(&args.trace_id)
        )));
    }
    let mut out = Out::new();
    let lines = match args.json {
        true => vec![trace_json(&trace).to_string()],
        false => tree(
            &trace.trace_id,
            &walk(&trace),
            &trace.unattached_logs,
            trace.truncated,
            !args.no_logs,
            ctx.palette,
        ),
    };
    out.all(lines)?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// A span in the drawing: the tree's lines before its name and before
/// what hangs below it.
pub(crate) struct Row<'a> {
    connector: String,
    below: String,
    span: &'a SpanEntry,
    logs: &'a [LogEntry],
    has_children: bool,
    /// A root whose parent has no row: drawn under a line that says so.
    parent_missing: bool,
}

/// Every span of the trace, depth first, with the prefix that draws the tree.
fn walk(trace: &Trace) -> Vec<Row<'_>> {
    let mut rows = Vec::new();
    // (the node, its own connector, the prefix of its children)
    // A root whose parent is missing hangs under the line that says so.
    let mut stack: Vec<(&SpanNode, String, String)> = trace
        .roots
        .iter()
        .rev()
        .map(|n| match n.parent_missing {
            true => (n, "└─ ".to_owned(), "   ".to_owned()),
            false => (n, String::new(), String::new()),
        })
        .collect();
    while let Some((node, connector, below)) = stack.pop() {
        let count = node.children.len();
        for (i, child) in node.children.iter().enumerate().rev() {
            let last = i + 1 == count;
            let connector = format!("{below}{}", if last { "└─ " } else { "├─ " });
            let under = format!("{below}{}", if last { "   " } else { "│  " });
            stack.push((child, connector, under));
        }
        rows.push(Row {
            connector,
            below,
            span: &node.span,
            logs: &node.logs,
            has_children: count > 0,
            parent_missing: node.parent_missing,
        });
    }
    rows
}

/// The trace as lines: a header, a row per span (tree, service, duration,
/// its stretch of the trace's time, status), each followed by its logs.
pub(crate) fn tree(
    trace_id: &str,
    rows: &[Row<'_>],
    unattached: &[LogEntry],
    truncated: bool,
    with_logs: bool,
    palette: Palette,
) -> Vec<String> {
    let start = rows.iter().map(|r| r.span.timestamp_ns).min().unwrap_or(0);
    let end = rows
        .iter()
        .map(|r| {
            r.span
                .timestamp_ns
                .saturating_add(i64::try_from(r.span.duration_ns).unwrap_or(i64::MAX))
        })
        .max()
        .unwrap_or(start);
    let total = (end - start).max(1) as f64;
    let logs: usize = rows.iter().map(|r| r.logs.len()).sum::<usize>() + unattached.len();
    let services = services(rows.iter().map(|row| row.span));
    let mut lines = vec![format!(
        "trace {}: {} spans in {} service{}, {} logs, {}, from {}",
        palette.paint(BOLD, &escape(trace_id)),
        rows.len(),
        services.len(),
        if services.len() == 1 { "" } else { "s" },
        logs,
        duration(Duration::from_nanos(
            u64::try_from(end - start).unwrap_or(0)
        )),
        time(start)
    )];
    if truncated {
        lines.push(palette.paint(
            YELLOW,
            "(more spans or logs than chlog reads: only the first are here)",
        ));
    }
    let name_width = rows
        .iter()
        .map(|r| r.connector.chars().count() + escape(&r.span.name).chars().count())
        .max()
        .unwrap_or(0);
    let service_width = rows
        .iter()
        .map(|r| escape(&r.span.service).chars().count())
        .max()
        .unwrap_or(0);
    let style = LineStyle {
        palette,
        json: false,
        all_attributes: false,
        trace_id: false,
    };
    for row in rows {
        let span = row.span;
        if row.parent_missing {
            lines.push(palette.paint(
                YELLOW,
                &format!(
                    "⋯ parent {} not stored (not sampled there, not arrived yet, or not a service stored here)",
                    escape(&span.parent_span_id)
                ),
            ));
        }
        let name = format!("{}{}", row.connector, escape(&span.name));
        let from = (span.timestamp_ns - start) as f64 / total;
        let to = from + span.duration_ns as f64 / total;
        let failed = span.status == "Error";
        let mut text = format!(
            "{}{}  {}{}  {:>8}  {}",
            name,
            " ".repeat(name_width - name.chars().count()),
            palette.paint(CYAN, &escape(&span.service)),
            " ".repeat(service_width - escape(&span.service).chars().count()),
            duration(Duration::from_nanos(span.duration_ns)),
            palette.paint(
                if failed { RED } else { YELLOW },
                &format!("{:<WIDTH$}", timeline(from, to, WIDTH))
            ),
        );
        if failed {
            text.push_str(&format!(
                "  {}",
                palette.paint(RED, &format!("ERROR {}", escape(&span.status_message)))
            ));
        }
        lines.push(text.trim_end().to_owned());
        if with_logs {
            let gutter = if row.has_children { "│  " } else { "   " };
            for log in row.logs {
                let lead = format!("{}{gutter}· ", row.below);
                lines.push(format!("{}{}", palette.paint(DIM, &lead), line(log, style)));
            }
        }
    }
    if with_logs && !unattached.is_empty() {
        lines.push(palette.paint(DIM, "logs of spans that have no row (yet):"));
        for log in unattached {
            lines.push(format!("· {}", line(log, style)));
        }
    }
    lines
}

fn trace_json(trace: &Trace) -> serde_json::Value {
    let spans: Vec<serde_json::Value> = trace
        .spans()
        .into_iter()
        .map(|(depth, s)| {
            json!({
                "depth": depth, "span_id": s.span_id, "parent_span_id": s.parent_span_id,
                "parent_missing": depth == 0 && !s.parent_span_id.is_empty(),
                "name": s.name, "service": s.service, "kind": s.kind, "start": time(s.timestamp_ns),
                "duration_ns": s.duration_ns, "status": s.status, "status_message": s.status_message,
                "attributes": s.attributes.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            })
        })
        .collect();
    let style = LineStyle {
        palette: Palette::new(false),
        json: true,
        all_attributes: true,
        trace_id: true,
    };
    let mut logs: Vec<&LogEntry> = walk(trace).iter().flat_map(|r| r.logs.iter()).collect();
    logs.extend(&trace.unattached_logs);
    logs.sort_by_key(|l| l.timestamp_ns);
    let logs: Vec<serde_json::Value> = logs
        .into_iter()
        .filter_map(|l| serde_json::from_str(&line(l, style)).ok())
        .collect();
    json!({ "trace_id": trace.trace_id, "truncated": trace.truncated, "services": services(trace.spans().into_iter().map(|(_, span)| span)),
            "spans": spans, "logs": logs })
}

/// The services of `spans`, each once, in their order.
pub(crate) fn services<'a>(spans: impl IntoIterator<Item = &'a SpanEntry>) -> Vec<&'a str> {
    let mut services: Vec<&str> = Vec::new();
    for span in spans {
        if !services.contains(&span.service.as_str()) {
            services.push(&span.service);
        }
    }
    services
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: &str, name: &str, start_ms: i64, ms: u64, status: &str) -> SpanEntry {
        serde_json::from_value(json!({
            "timestamp_ns": start_ms * 1_000_000, "trace_id": "t", "span_id": id,
            "parent_span_id": "", "name": name, "service": "checkout", "source": "app",
            "duration_ns": ms * 1_000_000, "status": status, "status_message": "card declined",
            "attributes": [], "kind": "Internal", "trace_state": "",
        }))
        .unwrap()
    }

    #[test]
    fn spans_draw_a_tree_on_the_traces_timeline() {
        let (root, db, charge) = (
            span("1", "handle", 0, 1000, "Unset"),
            span("2", "db.query", 100, 100, "Unset"),
            span("3", "charge", 500, 500, "Error"),
        );
        let log: LogEntry = serde_json::from_value(json!({
            "timestamp_ns": 600_000_000, "level": "WARN", "source": "app", "message": "retry",
            "service": "checkout", "trace_id": "", "span_id": "3", "attributes": [],
        }))
        .unwrap();
        let logs = [log];
        let row =
            |connector: &str, below: &str, span, logs: &'static [LogEntry], has_children| Row {
                connector: connector.into(),
                below: below.into(),
                span,
                logs,
                has_children,
                parent_missing: false,
            };
        let logs: &'static [LogEntry] = Box::leak(Box::new(logs));
        let rows = [
            row("", "", &root, &[], true),
            row("├─ ", "│  ", &db, &[], false),
            row("└─ ", "   ", &charge, logs, false),
        ];
        let lines = tree("t", &rows, &[], false, true, Palette::new(false));
        let bar = |from: usize, len: usize| format!("{}{}", " ".repeat(from), "█".repeat(len));
        assert_eq!(
            lines[0],
            "trace t: 3 spans in 1 service, 1 logs, 1 s, from 1970-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            lines[1],
            format!("handle       checkout       1 s  {}", bar(0, 40))
        );
        assert_eq!(
            lines[2],
            format!("├─ db.query  checkout    100 ms  {}", bar(4, 4))
        );
        assert_eq!(
            lines[3],
            format!(
                "└─ charge    checkout    500 ms  {}  ERROR card declined",
                bar(20, 20)
            )
        );
        assert_eq!(
            lines[4],
            "      · 1970-01-01T00:00:00.600000Z  WARN checkout app: retry"
        );
        assert_eq!(lines.len(), 5);
    }
}
