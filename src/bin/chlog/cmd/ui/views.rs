//! `/api/trace` (a trace's spans, depth first, for the waterfall),
//! `/api/status` (service statuses and firing alerts) and `/api/events`.

use axum::extract::{RawQuery, State};
use serde_json::json;
use tracing_clickhouse::query::EventQuery;

use super::api::{Answer, Shared, pairs};
use super::logs::entry;
use super::params::{BadParam, Params};
use super::status;
use crate::cmd::trace::services;

/// Transitions of each kind read to fold the statuses and alerts from: the
/// newest this many (a service or an alert whose last change is older
/// than the newest 10 000 of its kind is not shown).
const TRANSITIONS: u64 = 10_000;

/// `id`: the trace's spans depth first, each with its depth, its logs, and
/// its start relative to the trace's.
pub(crate) async fn trace(State(state): State<Shared>, RawQuery(query): RawQuery) -> Answer {
    let params = Params::parse(query.as_deref());
    let Some(id) = params.get("id") else {
        return Err(BadParam("id: which trace".into()).into());
    };
    let trace = state.ask(state.client.trace(id)).await?;
    let mut logs_of = std::collections::HashMap::new();
    let mut stack: Vec<_> = trace.roots.iter().collect();
    while let Some(node) = stack.pop() {
        logs_of.insert(node.span.span_id.as_str(), &node.logs);
        stack.extend(node.children.iter());
    }
    let spans = trace.spans();
    let services = services(spans.iter().map(|(_, span)| *span));
    let start = spans.iter().map(|(_, s)| s.timestamp_ns).min().unwrap_or(0);
    let end = spans
        .iter()
        .map(|(_, s)| s.timestamp_ns.saturating_add_unsigned(s.duration_ns))
        .max()
        .unwrap_or(0);
    let spans: Vec<_> = spans
        .iter()
        .map(|(depth, span)| {
            let logs = logs_of.get(span.span_id.as_str()).map_or(&[][..], |l| l);
            json!({
                "depth": depth,
                "span_id": span.span_id,
                "parent_span_id": span.parent_span_id,
                // A root that names a parent without a row (another
                // service's, unsampled, not arrived yet): shown, marked.
                "parent_missing": *depth == 0 && !span.parent_span_id.is_empty(),
                "name": span.name,
                "service": span.service,
                "kind": span.kind,
                "offset_ns": span.timestamp_ns.saturating_sub(start),
                "duration_ns": span.duration_ns,
                "status": span.status,
                "status_message": span.status_message,
                "attributes": pairs(&span.attributes),
                "logs": logs.iter().map(entry).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(axum::Json(json!({
        "trace_id": trace.trace_id,
        "services": services,
        "start_ns": start.to_string(),
        "duration_ns": end.saturating_sub(start),
        "spans": spans,
        "unattached_logs": trace.unattached_logs.iter().map(entry).collect::<Vec<_>>(),
        "truncated": trace.truncated,
    })))
}

pub(crate) async fn status(State(state): State<Shared>) -> Answer {
    let newest = |event_type: &str| EventQuery::new().event_type(event_type).limit(TRANSITIONS);
    let alert = |event_type| newest(event_type).source("alert");
    let (services, fired, resolved) = (
        newest("service_status"),
        alert("alert_firing"),
        alert("alert_resolved"),
    );
    // The three at once: the panel waits for the slowest, not for the sum.
    let (services, fired, resolved) = tokio::try_join!(
        state.ask(state.client.query_events(&services)),
        state.ask(state.client.query_events(&fired)),
        state.ask(state.client.query_events(&resolved)),
    )?;
    let transitions: Vec<_> = fired.entries.into_iter().chain(resolved.entries).collect();
    Ok(axum::Json(json!({
        "services": status::services(&services.entries),
        "alerts": status::firing(&transitions),
    })))
}

/// `type`, `source`, `since`, `until`, `limit`: events, newest first.
pub(crate) async fn events(State(state): State<Shared>, RawQuery(query): RawQuery) -> Answer {
    let params = Params::parse(query.as_deref());
    let mut query = EventQuery::new().limit(params.limit(50, 1000)?);
    if let Some(event_type) = params.get("type") {
        query = query.event_type(event_type);
    }
    if let Some(source) = params.get("source") {
        query = query.source(source);
    }
    query = query.range(params.range()?);
    let entries = state.ask(state.client.query_events(&query)).await?.entries;
    let entries: Vec<_> = entries
        .iter()
        .map(|e| {
            json!({
                "timestamp_ns": e.timestamp_ns.to_string(),
                "event_type": e.event_type,
                "source": e.source,
                "service": e.service,
                "details": pairs(&e.details),
            })
        })
        .collect();
    Ok(axum::Json(json!({ "entries": entries })))
}
