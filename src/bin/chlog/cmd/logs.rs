//! `chlog logs`: search, page, follow.

use std::time::Duration;

use clap::Args;
use serde_json::json;
use tracing_clickhouse::ErrorKind;
use tracing_clickhouse::query::{LogCursor, LogEntry, LogTail, Order};

use super::filters::LogFilter;
use crate::conn::Context;
use crate::fail::Outcome;
use crate::out::Out;
use crate::render::{CYAN, DIM, Palette, escape, pairs, rfc3339_nanos, time};

pub(crate) const EXAMPLES: &str = "\
Examples:
  chlog logs --since 1h --min-level warn        the last hour's warnings and errors
  chlog logs -f -s checkout                     follow the checkout service
  chlog logs --attr user.id=42 -w timeout       a user's logs with the word timeout
  chlog logs --trace 4bf92f3577b34da6a3ce929d0e0e4736 --oldest-first
  chlog logs --json --since 15m | jq -r .message
  chlog logs -n 50 --after n.1733040000123456789.9f86d081884c7d65.1   the next 50

Logs print oldest at the top. Without --oldest-first they are the newest --limit;
when there are more, the command that prints the page before is said on stderr.
--follow shows the last --limit (10) and then every new log once, as it arrives;
it keeps going while ClickHouse restarts or is away, and says so on stderr.";

/// `chlog logs`.
#[derive(Debug, Args)]
pub(crate) struct LogsArgs {
    #[command(flatten)]
    filter: LogFilter,
    /// At most this many logs, 1 to 1000000 (more: chlog export) [default: 100; with --follow, 10 before following]
    #[arg(long, short = 'n', value_name = "N", value_parser = clap::value_parser!(u64).range(1..=crate::cmd::MAX_LIMIT))]
    limit: Option<u64>,
    /// The oldest first from --since, instead of the newest
    #[arg(long)]
    oldest_first: bool,
    /// The page after the one whose cursor this is (said on stderr)
    #[arg(long, value_name = "CURSOR")]
    after: Option<LogCursor>,
    /// Follow: print new logs as they arrive, until interrupted
    #[arg(long, short = 'f', conflicts_with_all = ["after", "oldest_first"])]
    follow: bool,
    /// How often --follow asks for new logs (100ms to 365d)
    #[arg(long, default_value = "1s", value_name = "DURATION",
          value_parser = crate::time::duration_within(Duration::from_millis(100), crate::time::YEAR))]
    interval: Duration,
    /// One JSON object per line
    #[arg(long)]
    json: bool,
    /// Show the code.* and thread.* attributes too
    #[arg(long, short = 'A')]
    all_attributes: bool,
}

/// How a log is printed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LineStyle {
    pub(crate) palette: Palette,
    pub(crate) json: bool,
    pub(crate) all_attributes: bool,
    /// Whether to end the line with the trace id (not where the trace is
    /// the subject).
    pub(crate) trace_id: bool,
}

pub(crate) async fn run(ctx: &Context, args: LogsArgs) -> Outcome {
    let query = args.filter.query(None)?;
    let style = LineStyle {
        palette: ctx.palette,
        json: args.json,
        all_attributes: args.all_attributes,
        trace_id: true,
    };
    let mut out = Out::new();
    if args.follow {
        let mut tail = ctx.client.tail(&query, args.limit.unwrap_or(10));
        return follow(ctx, &mut tail, args.interval, style, &mut out).await;
    }
    let limit = args.limit.unwrap_or(100);
    let mut query = query.limit(limit);
    if args.oldest_first {
        query = query.order(Order::OldestFirst);
    }
    if let Some(cursor) = args.after {
        query = query.after(cursor);
    }
    let page = ctx.ask(ctx.client.query_logs(&query)).await?;
    let mut entries = page.entries;
    // Oldest at the top, whichever end of the range the page came from.
    if entries.first().map(|e| e.timestamp_ns) > entries.last().map(|e| e.timestamp_ns) {
        entries.reverse();
    }
    for entry in &entries {
        out.line(&line(entry, style))?;
    }
    out.flush()?;
    match (&page.next, entries.is_empty()) {
        (Some(next), _) => {
            eprintln!("chlog: more logs; the next {limit}: the same command with --after {next}")
        }
        (None, true) => eprintln!("chlog: no logs match"),
        (None, false) => {}
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Prints what the tail hands out, forever: through a server that goes
/// away and comes back (the tail's cursor only moves past rows printed).
async fn follow(
    ctx: &Context,
    tail: &mut LogTail,
    interval: Duration,
    style: LineStyle,
    out: &mut Out,
) -> Outcome {
    let mut first = true;
    let mut away = false;
    loop {
        let error = match tokio::time::timeout(ctx.timeout, tail.poll()).await {
            Ok(Ok(entries)) => {
                if away {
                    eprintln!("chlog: ClickHouse answers again; following");
                    away = false;
                }
                first = false;
                for entry in &entries {
                    out.line(&line(entry, style))?;
                }
                out.flush()?;
                if entries.len() as u64 >= LogTail::PAGE {
                    continue;
                }
                None
            }
            Ok(Err(error)) => Some(error),
            Err(_) if first => return Err(ctx.timed_out()),
            Err(_) => {
                if !away {
                    eprintln!(
                        "chlog: ClickHouse did not answer within {}; trying again",
                        humantime::format_duration(ctx.timeout)
                    );
                    away = true;
                }
                None
            }
        };
        if let Some(error) = error {
            let passing = matches!(error.kind(), ErrorKind::Unreachable | ErrorKind::Other);
            if first || !passing {
                return Err(ctx.fail(&error));
            }
            if !away {
                eprintln!(
                    "chlog: lost ClickHouse at {} ({error}); trying again every {}",
                    ctx.config.url(),
                    humantime::format_duration(interval)
                );
                away = true;
            }
        }
        tokio::time::sleep(interval).await;
    }
}

/// One log on one line: time, level, service, source, message, attributes
/// (`key=value`), trace id; or one JSON object.
pub(crate) fn line(entry: &LogEntry, style: LineStyle) -> String {
    if style.json {
        return json_line(entry);
    }
    let palette = style.palette;
    let mut text = format!(
        "{} {} {} {}: {}",
        palette.paint(DIM, &time(entry.timestamp_ns)),
        palette.level(&escape(&entry.level)),
        palette.paint(CYAN, &escape(&entry.service)),
        palette.paint(DIM, &escape(&entry.source)),
        escape(&entry.message)
    );
    let shown: Vec<(&str, &str)> = entry
        .attributes
        .iter()
        .filter(|(key, _)| {
            style.all_attributes || !(key.starts_with("code.") || key.starts_with("thread."))
        })
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if !shown.is_empty() {
        text.push(' ');
        text.push_str(&pairs(shown));
    }
    if style.trace_id && !entry.trace_id.is_empty() {
        text.push(' ');
        text.push_str(&palette.paint(DIM, &format!("trace={}", escape(&entry.trace_id))));
    }
    text
}

fn json_line(entry: &LogEntry) -> String {
    let attributes: serde_json::Map<String, serde_json::Value> = entry
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let mut line = log_json(entry);
    line.insert("time".into(), json!(rfc3339_nanos(entry.timestamp_ns)));
    line.insert("timestamp_ns".into(), json!(entry.timestamp_ns));
    line.insert("attributes".into(), attributes.into());
    serde_json::Value::Object(line).to_string()
}

/// The fields of a log that the command line's JSON lines and the web
/// view's answers write alike (each adds its time and attributes).
pub(crate) fn log_json(entry: &LogEntry) -> serde_json::Map<String, serde_json::Value> {
    let fields = [
        ("level", &entry.level),
        ("service", &entry.service),
        ("source", &entry.source),
        ("message", &entry.message),
        ("trace_id", &entry.trace_id),
        ("span_id", &entry.span_id),
    ];
    fields
        .into_iter()
        .map(|(name, value)| (name.to_owned(), json!(value)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> LogEntry {
        // LogEntry is non-exhaustive: made from JSON as a row would be.
        serde_json::from_value(json!({
            "timestamp_ns": 1_796_119_200_123_456_789_i64,
            "level": "WARN",
            "source": "app::http",
            "message": "slow \x1b[2Jrequest\nsecond line",
            "service": "checkout",
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "span_id": "00f067aa0ba902b7",
            "attributes": [["user", "ada"], ["path", "/a b"], ["code.line.number", "12"]],
        }))
        .unwrap()
    }

    fn style(json: bool, all_attributes: bool) -> LineStyle {
        LineStyle {
            palette: Palette::new(false),
            json,
            all_attributes,
            trace_id: true,
        }
    }

    #[test]
    fn a_log_is_one_safe_line_with_its_attributes() {
        assert_eq!(
            line(&entry(), style(false, false)),
            "2026-12-01T10:00:00.123456Z  WARN checkout app::http: slow \\x1b[2Jrequest\\nsecond \
             line user=ada path=\"/a b\" trace=4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(line(&entry(), style(false, true)).contains(" code.line.number=12 "));
        let colored = line(
            &entry(),
            LineStyle {
                palette: Palette::new(true),
                ..style(false, false)
            },
        );
        assert!(colored.contains("\x1b[33m WARN\x1b[0m"), "{colored:?}");
        assert!(!colored.contains("\x1b[2J"));
    }

    #[test]
    fn json_lines_carry_everything() {
        let text = line(&entry(), style(true, false));
        assert!(!text.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["time"], "2026-12-01T10:00:00.123456789Z");
        assert_eq!(value["message"], "slow \x1b[2Jrequest\nsecond line");
        assert_eq!(value["attributes"]["code.line.number"], "12");
        assert_eq!(value["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    }
}
