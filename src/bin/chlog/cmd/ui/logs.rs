//! `/api/logs` (a page, with the cursor of the next), `/api/stats` (counts)
//! and `/api/volume` (counts per interval and level: the chart).
//!
//! Times in nanoseconds travel as strings: a browser's JSON numbers hold
//! 53 bits, and a nanosecond timestamp needs 61.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{RawQuery, State};
use serde_json::{Value, json};
use tracing_clickhouse::query::{LogEntry, TimeRange};

use super::api::{Answer, Shared, pairs};
use super::params::{BadParam, Params};
use crate::cmd::logs::log_json;

/// Rows of a page unless `limit` says otherwise, and the most it may say.
const PAGE: u64 = 100;
const MAX_PAGE: u64 = 1000;

/// Bars the chart asks for unless `buckets` says otherwise, and the most.
const BARS: u64 = 60;
const MAX_BARS: u64 = 500;

/// Interval widths the chart uses, in seconds: whole minutes from a minute
/// up, so that the `logs_by_level` rollup can answer.
const WIDTHS: [u64; 17] = [
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400,
];

pub(crate) fn entry(entry: &LogEntry) -> Value {
    let mut entry_json = log_json(entry);
    entry_json.insert("timestamp_ns".into(), json!(entry.timestamp_ns.to_string()));
    entry_json.insert("attributes".into(), pairs(&entry.attributes));
    Value::Object(entry_json)
}

pub(crate) async fn logs(State(state): State<Shared>, RawQuery(query): RawQuery) -> Answer {
    let params = Params::parse(query.as_deref());
    let query = params.log_page(PAGE, MAX_PAGE)?;
    let page = state.ask(state.client.query_logs(&query)).await?;
    Ok(axum::Json(json!({
        "entries": page.entries.iter().map(entry).collect::<Vec<_>>(),
        "next": page.next.map(|cursor| cursor.to_string()),
    })))
}

pub(crate) async fn stats(State(state): State<Shared>, RawQuery(query): RawQuery) -> Answer {
    let query = Params::parse(query.as_deref()).log_query()?;
    let stats = state.ask(state.client.log_stats(&query)).await?;
    Ok(axum::Json(json!({
        "total": stats.total,
        "by_level": stats.by_level,
        "by_source": stats.by_source,
        "first_ns": stats.first_ns.map(|ns| ns.to_string()),
        "last_ns": stats.last_ns.map(|ns| ns.to_string()),
    })))
}

/// The volume over `[since, until)` (both required) in about `buckets`
/// intervals: the width is the smallest of [`WIDTHS`] that needs no more,
/// and the range widens to whole intervals (the answer says which range).
pub(crate) async fn volume(State(state): State<Shared>, RawQuery(query): RawQuery) -> Answer {
    let params = Params::parse(query.as_deref());
    let range = params.range()?;
    let (Some(since), Some(until)) = (range.start, range.end) else {
        return Err(BadParam("the volume needs since and until".into()).into());
    };
    let bars = match params.parsed::<u64>("buckets")? {
        Some(n) if (1..=MAX_BARS).contains(&n) => n,
        Some(_) => return Err(BadParam(format!("buckets: 1 to {MAX_BARS}")).into()),
        None => BARS,
    };
    let (width, since, until) = intervals(since, until, bars);
    let query = params.log_query()?.range(TimeRange::between(since, until));
    let volume = state
        .ask(state.client.log_volume(&query, Duration::from_secs(width)))
        .await?;
    let buckets: Vec<Value> = volume
        .entries
        .iter()
        .map(|b| json!({ "start_ns": b.start_ns.to_string(), "by_level": b.by_level }))
        .collect();
    Ok(axum::Json(json!({
        "interval_s": width,
        "since_ns": ns(since).to_string(),
        "until_ns": ns(until).to_string(),
        "buckets": buckets,
    })))
}

fn ns(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The interval width for at most `bars` intervals over the range (the
/// widest of [`WIDTHS`] past that, for a range of years), and the range
/// widened to whole intervals.
fn intervals(since: SystemTime, until: SystemTime, bars: u64) -> (u64, SystemTime, SystemTime) {
    let seconds = until
        .duration_since(since)
        .unwrap_or_default()
        .as_secs_f64();
    let bars = bars.max(1);
    let width = WIDTHS
        .into_iter()
        .find(|&w| seconds / w as f64 <= bars as f64)
        .unwrap_or_else(|| {
            // Whole days (the float-to-int cast saturates).
            let days = ((seconds / bars as f64).ceil() as u64 / 86400).saturating_add(1);
            days.saturating_mul(86400)
        });
    // In u128: a range near the end of time, widened to whole intervals,
    // ends past what u64 nanoseconds hold; such an end is cut there.
    let step = u128::from(width) * 1_000_000_000;
    let start = u128::from(ns(since)) / step * step;
    let end = u128::from(ns(until)).div_ceil(step) * step;
    let at = |ns: u128| UNIX_EPOCH + Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX));
    (width, at(start), at(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(seconds * 1000 + 300)
    }

    #[test]
    fn the_width_fits_the_bars_and_the_range_widens_to_whole_intervals() {
        let (width, since, until) = intervals(at(1_000_000), at(1_003_600), 60);
        assert_eq!(width, 60);
        assert_eq!(ns(since), 999_960 * 1_000_000_000);
        assert_eq!(ns(until), 1_003_620 * 1_000_000_000);
        assert_eq!(intervals(at(0), at(30), 60).0, 1);
        assert_eq!(intervals(at(0), at(86400 * 7), 60).0, 21600);
        let years = intervals(at(0), at(86400 * 365 * 3), 60).0;
        assert_eq!(years % 86400, 0);
        assert!(86400 * 365 * 3 / years <= 60, "{years}");
    }

    proptest::proptest! {
        /// Any range and count of bars, to the end of time: a width, and
        /// the range widened to whole intervals of it (it panicked on an
        /// overflow near `u64::MAX`, before).
        #[test]
        fn any_range_gets_intervals(a in proptest::num::u64::ANY, b in proptest::num::u64::ANY, bars in 1u64..=MAX_BARS) {
            let (since, until) = (a.min(b), a.max(b));
            let t = |ns: u64| UNIX_EPOCH + Duration::from_nanos(ns);
            let (width, start, end) = intervals(t(since), t(until), bars);
            proptest::prop_assert!(width >= 1);
            proptest::prop_assert!(ns(start) <= since && ns(end) >= until.min(ns(end)));
            let step = u128::from(width) * 1_000_000_000;
            proptest::prop_assert_eq!(u128::from(ns(start)) % step, 0);
        }
    }
}
