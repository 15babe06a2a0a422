//! `/api/metric_names` (the picker) and `/api/metric` (one metric's chart:
//! avg, min and max per minute from the raw rows, per hour from the
//! `metrics_hourly` rollup past [`RAW_UP_TO`], per day from `metrics_daily`
//! past [`HOURLY_UP_TO`]).

use std::time::{Duration, SystemTime};

use axum::extract::{RawQuery, State};
use serde_json::json;
use tracing_clickhouse::query::{Granularity, MetricQuery, TimeRange};

use super::api::{Answer, Shared};
use super::params::{BadParam, Params};
use crate::cmd::filters::pair;

/// Longest range charted from the raw rows (at most 360 minutes).
const RAW_UP_TO: Duration = Duration::from_secs(6 * 3600);
/// Longest range charted from the hourly rollup (at most 1440 hours).
const HOURLY_UP_TO: Duration = Duration::from_secs(60 * 86400);

const MAX_NAMES: u64 = 1000;

pub(crate) async fn names(State(state): State<Shared>, RawQuery(query): RawQuery) -> Answer {
    let range = Params::parse(query.as_deref()).range()?;
    let names = state
        .ask(state.client.metric_names(range, MAX_NAMES))
        .await?;
    let names: Vec<_> = names
        .iter()
        .map(
            |n| json!({ "name": n.name, "kind": n.kind, "series": n.series, "last_ns": n.last_ns }),
        )
        .collect();
    Ok(axum::Json(json!({ "names": names })))
}

/// The granularity for a range: `granularity=minute|hour|day` if given,
/// else by its length (an open range counts as long).
fn granularity(asked: Option<&str>, range: TimeRange) -> Result<Granularity, BadParam> {
    Ok(match asked {
        Some(name) => crate::cmd::metrics::granularity(name)
            .map_err(|reason| BadParam(format!("granularity={name:?}: {reason}")))?,
        None => {
            let length = range.start.map(|since| {
                range
                    .end
                    .unwrap_or_else(SystemTime::now)
                    .duration_since(since)
                    .unwrap_or_default()
            });
            match length {
                Some(length) if length <= RAW_UP_TO => Granularity::Minute,
                Some(length) if length <= HOURLY_UP_TO => Granularity::Hour,
                _ => Granularity::Day,
            }
        }
    })
}

/// `name` (required), `service`, `attr=K=V`, `since`, `until`, `granularity`.
pub(crate) async fn metric(State(state): State<Shared>, RawQuery(query): RawQuery) -> Answer {
    let params = Params::parse(query.as_deref());
    let Some(name) = params.get("name") else {
        return Err(BadParam("name: which metric".into()).into());
    };
    let range = params.range()?;
    let mut query = MetricQuery::new(name).range(range);
    if let Some(service) = params.get("service") {
        query = query.service(service);
    }
    for text in params.all("attr") {
        let (key, value) = pair(text).map_err(|e| BadParam(format!("attr={e}")))?;
        query = query.attribute(key, value);
    }
    let granularity = granularity(params.get("granularity"), range)?;
    let points = state
        .ask(state.client.metric_aggregations(granularity, &query))
        .await?;
    let points: Vec<_> = points
        .iter()
        .map(|p| json!({ "start": p.start, "avg": p.avg, "min": p.min, "max": p.max, "count": p.count }))
        .collect();
    let granularity = granularity.to_string();
    Ok(axum::Json(json!({
        "name": name,
        "granularity": granularity,
        "points": points,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_ranges_read_the_rollups() {
        let now = SystemTime::now();
        let back = |hours: u64| Some(now - Duration::from_secs(hours * 3600));
        assert_eq!(
            granularity(None, crate::time::range_of(back(1), None)).unwrap(),
            Granularity::Minute
        );
        assert_eq!(
            granularity(None, crate::time::range_of(back(6), Some(now))).unwrap(),
            Granularity::Minute
        );
        assert_eq!(
            granularity(None, crate::time::range_of(back(7), Some(now))).unwrap(),
            Granularity::Hour
        );
        assert_eq!(
            granularity(None, crate::time::range_of(back(24 * 90), Some(now))).unwrap(),
            Granularity::Day
        );
        assert_eq!(
            granularity(None, crate::time::range_of(None, None)).unwrap(),
            Granularity::Day
        );
        assert_eq!(
            granularity(Some("minute"), crate::time::range_of(None, None)).unwrap(),
            Granularity::Minute
        );
        assert!(granularity(Some("week"), crate::time::range_of(None, None)).is_err());
    }
}
