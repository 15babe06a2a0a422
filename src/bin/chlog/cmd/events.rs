//! `chlog events`.

use std::collections::BTreeMap;

use clap::Args;
use serde_json::json;
use tracing_clickhouse::query::{EventEntry, EventQuery};

use crate::conn::Context;
use crate::fail::Outcome;
use crate::out;
use crate::render::{Align, CYAN, Palette, Table, escape, pairs, time};

pub(crate) const EXAMPLES: &str = "\
Examples:
  chlog events --since 1d                    a day of events
  chlog events --type service_status         services going down and up
  chlog events --type deploy --json";

/// `chlog events`.
#[derive(Debug, Args)]
pub(crate) struct EventsArgs {
    /// Only this EventType (deploy, service_status, ...)
    #[arg(long = "type", short = 't', value_name = "TYPE")]
    event_type: Option<String>,
    /// Only this Source
    #[arg(long, value_name = "SOURCE")]
    source: Option<String>,
    /// From this time [default: everything]
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Before this time
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// At most this many, the newest (1 to 1000000)
    #[arg(long, short = 'n', default_value_t = 50, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=crate::cmd::MAX_LIMIT))]
    limit: u64,
    /// One JSON object per line
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(ctx: &Context, args: EventsArgs) -> Outcome {
    let range = crate::time::range(args.since.as_deref(), args.until.as_deref(), None)?;
    let mut query = EventQuery::new().limit(args.limit).range(range);
    if let Some(t) = &args.event_type {
        query = query.event_type(t);
    }
    if let Some(source) = &args.source {
        query = query.source(source);
    }
    let mut events = ctx.ask(ctx.client.query_events(&query)).await?.entries;
    events.reverse();
    out::list(
        &events,
        args.json,
        event_json,
        |all| table(all, ctx.palette),
        "no events match",
    )
}

/// Events, oldest first, as a table.
pub(crate) fn table(events: &[EventEntry], palette: Palette) -> Vec<String> {
    if events.is_empty() {
        return Vec::new();
    }
    let mut table = Table::new(&[
        ("time", Align::Left),
        ("type", Align::Left),
        ("source", Align::Left),
        ("service", Align::Left),
        ("details", Align::Left),
    ]);
    for e in events {
        table.styled_row(vec![
            (time(e.timestamp_ns), Default::default()),
            (escape(&e.event_type), CYAN),
            (escape(&e.source), Default::default()),
            (escape(&e.service), Default::default()),
            (
                pairs(e.details.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                Default::default(),
            ),
        ]);
    }
    table.render(palette)
}

fn event_json(e: &EventEntry) -> serde_json::Value {
    json!({
        "time": time(e.timestamp_ns),
        "type": e.event_type,
        "source": e.source,
        "service": e.service,
        "details": e.details.iter().cloned().collect::<BTreeMap<_, _>>(),
        "trace_id": e.trace_id,
    })
}
