//! One SQL query per rule, evaluated in the engine: for each evaluation
//! time in a bound array and each group, the value (and for anomaly rules
//! the baseline's centre and spread, computed in SQL). One time is a normal
//! evaluation; many are a backtest over history, in the same query.
//!
//! Every query has the shape
//!
//! ```text
//! SELECT at, grp, service, value, center, spread, points, has_value
//! FROM (SELECT arrayJoin({times}) AS at, <window end> AS end_ns) AS w
//! CROSS JOIN (<the rows of the source in [lo, hi)>) AS d
//! WHERE d.t_ns >= w.end_ns - span AND d.t_ns < w.end_ns
//! GROUP BY at, grp, service
//! ```
//!
//! where `[lo, hi)` covers every window, so the source is read once, by its
//! sort key, and the join only assigns rows to windows. Windows on a rollup
//! end at the start of the evaluation time's minute, hour or day, so they
//! hold whole rollup rows.

use std::time::Duration;

use serde::Deserialize;

use super::rule::{Kind, Rule};
use super::settings::{AbsenceSource, Method};
use super::signal::{Aggregation, LogSignal, MetricSignal, Signal};
use crate::query::sql::Sql;

/// One group's value at one evaluation time.
#[derive(Clone, Debug, PartialEq, Deserialize, clickhouse::Row)]
pub(crate) struct ValueRow {
    /// The evaluation time, nanoseconds since the Unix epoch.
    pub(crate) at: i64,
    /// `k=v,k=v`, empty for a rule without groups.
    pub(crate) grp: String,
    /// The group's `ServiceName`, empty when the group has none.
    pub(crate) service: String,
    pub(crate) value: f64,
    /// Anomaly rules: the baseline's mean or median.
    pub(crate) center: f64,
    /// Anomaly rules: the baseline's standard deviation or 1.4826 × MAD.
    pub(crate) spread: f64,
    /// Rows (or, for anomaly rules, baseline buckets) behind the value.
    pub(crate) points: u64,
    /// Anomaly rules on a metric: whether the current bucket has data.
    pub(crate) has_value: u8,
}

const NS: i64 = 1_000_000_000;

fn ns(duration: Duration) -> i64 {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}

/// Where a metric is read from: the raw rows or a rollup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Raw,
    Hourly,
    Daily,
}

impl Source {
    /// The coarsest rollup whose rows fit whole in `span` (a window or a
    /// bucket): days for two days or more of whole days, hours for whole
    /// hours, else the raw rows; `increase` needs the raw deltas.
    pub(crate) fn for_metric(span: Duration, aggregation: Aggregation) -> Source {
        let secs = span.as_secs();
        let whole = span.subsec_nanos() == 0;
        match () {
            _ if aggregation == Aggregation::Increase || !whole => Source::Raw,
            _ if secs >= 2 * 86_400 && secs.is_multiple_of(86_400) => Source::Daily,
            _ if secs >= 3_600 && secs.is_multiple_of(3_600) => Source::Hourly,
            _ => Source::Raw,
        }
    }

    /// The end of the window of an evaluation at `at`.
    fn window_end(self) -> &'static str {
        match self {
            Source::Raw => "at",
            Source::Hourly => {
                "toUnixTimestamp64Nano(toDateTime64(toStartOfHour(fromUnixTimestamp64Nano(at)), 9))"
            }
            Source::Daily => {
                "toUnixTimestamp64Nano(toDateTime64(toStartOfDay(fromUnixTimestamp64Nano(at)), 9))"
            }
        }
    }

    /// How much earlier than `at` a window may end.
    fn slack(self) -> i64 {
        match self {
            Source::Raw => 0,
            Source::Hourly => 3_600 * NS,
            Source::Daily => 86_400 * NS,
        }
    }
}

const MINUTE_END: &str =
    "toUnixTimestamp64Nano(toDateTime64(toStartOfMinute(fromUnixTimestamp64Nano(at)), 9))";

/// The query for `rule` at the evaluation times `times` (not empty).
pub(crate) fn rule_query(rule: &Rule, times: &[i64]) -> Sql {
    let first = times.iter().copied().min().unwrap_or(0);
    let last = times.iter().copied().max().unwrap_or(0);
    let mut sql = Sql::new("");
    match &rule.kind {
        Kind::Threshold { signal, window, .. } => {
            let rows = signal_rows(&mut sql, signal, *window, ns(*window), (first, last));
            windowed(
                &mut sql,
                times,
                rows.end,
                &rows.data,
                ns(*window),
                rows.value,
            );
        }
        Kind::Anomaly {
            signal,
            method,
            bucket,
            baseline,
            season,
            ..
        } => {
            let step = season.period().map_or(1, |p| ns(p) / ns(*bucket).max(1));
            let span = (i64::from(*baseline) * step + 1).saturating_mul(ns(*bucket));
            let rows = signal_rows(&mut sql, signal, *bucket, span, (first, last));
            let shape = AnomalyShape {
                bucket: ns(*bucket),
                span,
                step,
                baseline: *baseline,
                method: *method,
                // A bucket without logs counted 0; without a metric, nothing.
                zero_fill: matches!(signal, Signal::Logs(_)),
            };
            anomaly(&mut sql, times, rows.end, &rows.data, rows.value, &shape);
        }
        Kind::Absence {
            source,
            service,
            per_service,
            lookback,
            ..
        } => {
            let lo = first.saturating_sub(ns(*lookback) + 60 * NS);
            let (data, resolution) =
                absence_rows(&mut sql, source, service.as_deref(), *per_service, lo, last);
            let times = sql.param(times);
            let lookback = sql.param(ns(*lookback));
            sql.push(&format!(
                "SELECT w.at AS at, d.grp AS grp, d.service AS service, \
                 greatest(0, w.at - max(d.t_ns) - {resolution}) / 1e9 AS value, \
                 0. AS center, 0. AS spread, toUInt64(count()) AS points, toUInt8(1) AS has_value \
                 FROM (SELECT arrayJoin({times}) AS at) AS w CROSS JOIN ({data}) AS d \
                 WHERE d.t_ns >= w.at - {lookback} AND d.t_ns < w.at \
                 GROUP BY at, grp, service ORDER BY at, grp"
            ));
        }
        Kind::ServiceStatus {
            services,
            states,
            lookback,
            ..
        } => {
            let lo = first.saturating_sub(ns(*lookback));
            let lo = sql.param(lo);
            let hi = sql.param(last);
            let mut filter = String::new();
            if !services.is_empty() {
                filter = format!(" AND Details['service'] IN {}", sql.param(services));
            }
            let states = sql.param(states);
            let times = sql.param(times);
            let lookback = sql.param(ns(*lookback));
            sql.push(&format!(
                "SELECT w.at AS at, d.grp AS grp, d.service AS service, \
                 if(argMax(d.status, d.t_ns) IN {states}, (w.at - max(d.t_ns)) / 1e9, 0.) AS value, \
                 0. AS center, 0. AS spread, toUInt64(count()) AS points, toUInt8(1) AS has_value \
                 FROM (SELECT arrayJoin({times}) AS at) AS w CROSS JOIN \
                 (SELECT toUnixTimestamp64Nano(Timestamp) AS t_ns, \
                 concat('service=', Details['service']) AS grp, Details['service'] AS service, \
                 Details['status'] AS status FROM events WHERE EventType = 'service_status'{filter} \
                 AND Timestamp >= fromUnixTimestamp64Nano({lo}) \
                 AND Timestamp < fromUnixTimestamp64Nano({hi})) AS d \
                 WHERE d.t_ns >= w.at - {lookback} AND d.t_ns < w.at \
                 GROUP BY at, grp, service ORDER BY at, grp"
            ));
        }
    }
    sql
}

/// A signal's rows for a rule, and how its windows end and aggregate.
struct SignalRows {
    /// The subquery (`t_ns`, `grp`, `service` and the value columns).
    data: String,
    /// The end of the window of an evaluation at `at`.
    end: &'static str,
    /// The aggregate of the rows in a window or bucket.
    value: &'static str,
}

/// The rows of `signal` in windows or buckets of `granularity` (which picks
/// a metric's rollup) reaching `span` nanoseconds back from the evaluation
/// `times` (first, last).
fn signal_rows(
    sql: &mut Sql,
    signal: &Signal,
    granularity: Duration,
    span: i64,
    (first, last): (i64, i64),
) -> SignalRows {
    match signal {
        Signal::Metric(metric) => {
            let source = Source::for_metric(granularity, metric.aggregation);
            let lo = first.saturating_sub(span.saturating_add(source.slack()));
            SignalRows {
                data: metric_rows(sql, metric, source, lo, last),
                end: source.window_end(),
                value: metric_value(metric.aggregation),
            }
        }
        Signal::Logs(logs) => {
            // A log minute's row starts up to a minute before its window.
            let lo = first.saturating_sub(span.saturating_add(60 * NS));
            SignalRows {
                data: log_rows(sql, logs, lo, last),
                end: MINUTE_END,
                value: "toFloat64(sum(c))",
            }
        }
    }
}

/// The aggregate of a metric's rows (columns `s`, `c`, `mn`, `mx`, `dl`).
fn metric_value(aggregation: Aggregation) -> &'static str {
    match aggregation {
        Aggregation::Avg => "sum(s) / sum(c)",
        Aggregation::Min => "min(mn)",
        Aggregation::Max => "max(mx)",
        Aggregation::Sum => "sum(s)",
        Aggregation::Count => "toFloat64(sum(c))",
        Aggregation::Increase => "sum(dl)",
    }
}

/// `grp` and `service` of a metric's groups.
fn metric_groups(sql: &mut Sql, signal: &MetricSignal) -> (String, String) {
    let parts: Vec<String> = signal
        .group_by
        .iter()
        .map(|key| match key.as_str() {
            "service" => "concat('service=', ServiceName)".to_owned(),
            _ => {
                let key = sql.param(key);
                format!("concat({key}, '=', Attributes[{key}])")
            }
        })
        .collect();
    let grp = match parts.is_empty() {
        true => "''".to_owned(),
        false => format!("arrayStringConcat([{}], ',')", parts.join(", ")),
    };
    let service = match (
        signal.group_by.iter().any(|k| k == "service"),
        &signal.service,
    ) {
        (true, _) => "toString(ServiceName)".to_owned(),
        (false, Some(service)) => sql.param(service),
        (false, None) => "''".to_owned(),
    };
    (grp, service)
}

/// The rows of a metric in `[lo, hi)` from `source`, as `t_ns, grp,
/// service, s, c, mn, mx, dl`.
fn metric_rows(sql: &mut Sql, signal: &MetricSignal, source: Source, lo: i64, hi: i64) -> String {
    let (grp, service) = metric_groups(sql, signal);
    let name = sql.param(&signal.name);
    let mut filter = format!("MetricName = {name}");
    if let Some(service) = &signal.service {
        filter.push_str(&format!(" AND ServiceName = {}", sql.param(service)));
    }
    for (key, value) in &signal.attributes {
        let (key, value) = (sql.param(key), sql.param(value));
        filter.push_str(&format!(" AND Attributes[{key}] = {value}"));
    }
    let (lo, hi) = (sql.param(lo), sql.param(hi));
    match source {
        Source::Raw => format!(
            "SELECT toUnixTimestamp64Nano(TimeUnix) AS t_ns, {grp} AS grp, {service} AS service, \
             Value AS s, toUInt64(1) AS c, Value AS mn, Value AS mx, Delta AS dl FROM metrics \
             WHERE {filter} AND TimeUnix >= fromUnixTimestamp64Nano({lo}) \
             AND TimeUnix < fromUnixTimestamp64Nano({hi})"
        ),
        Source::Hourly => format!(
            "SELECT toUnixTimestamp64Nano(toDateTime64(Hour, 9)) AS t_ns, {grp} AS grp, \
             {service} AS service, ValueSum AS s, ValueCount AS c, ValueMin AS mn, \
             ValueMax AS mx, 0. AS dl FROM metrics_hourly \
             WHERE {filter} AND Hour >= fromUnixTimestamp64Nano({lo}) \
             AND Hour < fromUnixTimestamp64Nano({hi})"
        ),
        Source::Daily => format!(
            "SELECT toUnixTimestamp64Nano(toDateTime64(toDateTime(Day), 9)) AS t_ns, {grp} AS grp, \
             {service} AS service, ValueSum AS s, ValueCount AS c, ValueMin AS mn, \
             ValueMax AS mx, 0. AS dl FROM metrics_daily \
             WHERE {filter} AND Day >= toDate(fromUnixTimestamp64Nano({lo})) \
             AND Day <= toDate(fromUnixTimestamp64Nano({hi}))"
        ),
    }
}

/// The per-minute log counts in `[lo, hi)` from `logs_by_level`, as `t_ns,
/// grp, service, c`.
fn log_rows(sql: &mut Sql, signal: &LogSignal, lo: i64, hi: i64) -> String {
    let levels: Vec<String> = signal
        .levels
        .iter()
        .map(|l| l.as_str().to_owned())
        .collect();
    let mut filter = format!("SeverityText IN {}", sql.param(&levels));
    let (grp, service) = match (signal.per_service, &signal.service) {
        (true, _) => (
            "concat('service=', ServiceName)".to_owned(),
            "toString(ServiceName)".to_owned(),
        ),
        (false, Some(service)) => ("''".to_owned(), sql.param(service)),
        (false, None) => ("''".to_owned(), "''".to_owned()),
    };
    if let Some(service) = &signal.service {
        filter.push_str(&format!(" AND ServiceName = {}", sql.param(service)));
    }
    let (lo, hi) = (sql.param(lo), sql.param(hi));
    format!(
        "SELECT toUnixTimestamp64Nano(toDateTime64(Minute, 9)) AS t_ns, {grp} AS grp, \
         {service} AS service, Count AS c FROM logs_by_level WHERE {filter} \
         AND Minute >= fromUnixTimestamp64Nano({lo}) AND Minute < fromUnixTimestamp64Nano({hi})"
    )
}

/// The rows an absence rule looks at, as `t_ns, grp, service`, and how
/// coarse their times are: log rows come from the per-minute rollup, so a
/// row at minute `m` says only that there were logs before `m` + 1 min.
fn absence_rows(
    sql: &mut Sql,
    source: &AbsenceSource,
    service: Option<&str>,
    per_service: bool,
    lo: i64,
    hi: i64,
) -> (String, i64) {
    let (grp, service_col) = match (per_service, service) {
        (true, _) => (
            "concat('service=', ServiceName)".to_owned(),
            "toString(ServiceName)".to_owned(),
        ),
        (false, Some(service)) => ("''".to_owned(), sql.param(service)),
        (false, None) => ("''".to_owned(), "''".to_owned()),
    };
    let mut filter = String::from("1");
    if let Some(service) = service {
        filter = format!("ServiceName = {}", sql.param(service));
    }
    let (table, time, ns_expr, resolution) = match source {
        AbsenceSource::Logs => (
            "logs_by_level",
            "Minute",
            "toUnixTimestamp64Nano(toDateTime64(Minute, 9))",
            60 * NS,
        ),
        AbsenceSource::Metrics(name) => {
            if let Some(name) = name {
                filter.push_str(&format!(" AND MetricName = {}", sql.param(name)));
            }
            ("metrics", "TimeUnix", "toUnixTimestamp64Nano(TimeUnix)", 0)
        }
        AbsenceSource::Spans => ("spans", "Timestamp", "toUnixTimestamp64Nano(Timestamp)", 0),
    };
    let (lo, hi) = (sql.param(lo), sql.param(hi));
    let rows = format!(
        "SELECT {ns_expr} AS t_ns, {grp} AS grp, {service_col} AS service FROM {table} \
         WHERE {filter} AND {time} >= fromUnixTimestamp64Nano({lo}) \
         AND {time} < fromUnixTimestamp64Nano({hi})"
    );
    (rows, resolution)
}

/// The window join: one value per evaluation time and group over
/// `[end - span, end)`.
fn windowed(sql: &mut Sql, times: &[i64], end: &str, data: &str, span: i64, value: &str) {
    let times = sql.param(times);
    let span = sql.param(span);
    sql.push(&format!(
        "SELECT w.at AS at, d.grp AS grp, d.service AS service, {value} AS value, \
         0. AS center, 0. AS spread, toUInt64(count()) AS points, toUInt8(1) AS has_value \
         FROM (SELECT arrayJoin({times}) AS at, {end} AS end_ns) AS w CROSS JOIN ({data}) AS d \
         WHERE d.t_ns >= w.end_ns - {span} AND d.t_ns < w.end_ns \
         GROUP BY at, grp, service ORDER BY at, grp"
    ));
}

/// An anomaly query's buckets: `bucket` long, the current one (k = 0) and
/// `baseline` before it every `step` buckets, within `span`.
struct AnomalyShape {
    bucket: i64,
    span: i64,
    step: i64,
    baseline: u32,
    method: Method,
    /// Log counts: a bucket without rows counts 0 (a metric's is missing).
    zero_fill: bool,
}

/// Per evaluation time and group: the buckets' values as `(k, v)` pairs,
/// then the current value and the baseline's centre and spread.
fn anomaly(sql: &mut Sql, times: &[i64], end: &str, data: &str, value: &str, shape: &AnomalyShape) {
    let times = sql.param(times);
    let bucket = sql.param(shape.bucket);
    let span = sql.param(shape.span);
    let step = sql.param(shape.step);
    let count = sql.param(i64::from(shape.baseline));
    let base = match shape.zero_fill {
        true => "arrayMap(i -> arraySum(arrayMap(x -> if(x.1 = i, x.2, 0.), pairs)), idx)",
        false => "arrayMap(x -> x.2, arrayFilter(x -> x.1 > 0, pairs))",
    };
    let has_value = match shape.zero_fill {
        true => "toUInt8(1)",
        false => "toUInt8(arrayExists(x -> x.1 = 0, pairs))",
    };
    let (center, spread) = match shape.method {
        Method::ZScore => ("arrayAvg(base)", "arrayReduce('stddevSamp', base)"),
        Method::Mad => (
            "arrayReduce('quantileExact(0.5)', base)",
            "1.4826 * arrayReduce('quantileExact(0.5)', arrayMap(x -> abs(x - center), base))",
        ),
    };
    sql.push(&format!(
        "SELECT at, grp, service, value, center, spread, points, has_value FROM (\
         SELECT at, grp, service, \
         arrayMap(j -> toInt64(j * {step}), range(1, {count} + 1)) AS idx, {base} AS base, \
         arraySum(arrayMap(x -> if(x.1 = 0, x.2, 0.), pairs)) AS value, \
         {center} AS center, {spread} AS spread, toUInt64(length(base)) AS points, \
         {has_value} AS has_value FROM (\
         SELECT at, grp, service, groupArray((k, v)) AS pairs FROM (\
         SELECT w.at AS at, d.grp AS grp, d.service AS service, \
         intDiv(w.end_ns - d.t_ns - 1, {bucket}) AS k, {value} AS v \
         FROM (SELECT arrayJoin({times}) AS at, {end} AS end_ns) AS w CROSS JOIN ({data}) AS d \
         WHERE d.t_ns >= w.end_ns - {span} AND d.t_ns < w.end_ns \
         GROUP BY at, grp, service, k HAVING k % {step} = 0) \
         GROUP BY at, grp, service)) ORDER BY at, grp"
    ));
}

#[cfg(test)]
#[path = "sql_tests.rs"]
mod tests;
