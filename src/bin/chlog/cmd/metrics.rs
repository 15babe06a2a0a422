//! `chlog metrics NAME`: points, counter rates, histogram quantiles,
//! aggregations, with sparklines.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Args;
use serde_json::json;
use tracing_clickhouse::query::{Aggregate, Granularity, MetricPoint, MetricQuery, Quantiles};

use super::filters::pair;
use crate::conn::Context;
use crate::fail::Outcome;
use crate::out::Out;
use crate::render::{
    Align, BOLD, DIM, Palette, Table, count, number, pairs, rate, sparkline, time,
};

pub(crate) const EXAMPLES: &str = "\
Examples:
  chlog metrics http.requests --since 6h            a counter: rates per series
  chlog metrics http.latency -a route=/checkout     a histogram: quantiles over the range
  chlog metrics system.cpu_percent --agg hour --since 7d
  chlog metrics queue.depth --json";

/// The quantiles shown for a histogram.
const QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];

/// `chlog metrics`.
#[derive(Debug, Args)]
pub(crate) struct MetricsArgs {
    /// The metric (MetricName)
    name: String,
    /// Only series with this label; repeat: all must hold
    #[arg(long = "attr", short = 'a', value_name = "KEY=VALUE", value_parser = pair)]
    attributes: Vec<(String, String)>,
    /// Only this service
    #[arg(long, short = 's', value_name = "NAME")]
    service: Option<String>,
    /// From this time [default: 1h]
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Before this time
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// avg, min, max and count per minute, hour (metrics_hourly) or day (metrics_daily)
    #[arg(long, value_name = "WIDTH", value_parser = granularity)]
    agg: Option<Granularity>,
    /// How many of the latest points to list (1 to 1000000)
    #[arg(long, short = 'n', default_value_t = 20, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=crate::cmd::MAX_LIMIT))]
    limit: usize,
    /// One JSON object per point (or per bucket with --agg)
    #[arg(long)]
    json: bool,
}

/// A granularity by name, or what the names are (for `--agg` and the web
/// view's `granularity=`).
pub(crate) fn granularity(name: &str) -> Result<Granularity, String> {
    name.parse().map_err(|error| match error {
        tracing_clickhouse::Error::InvalidQuery { reason, .. } => reason,
        other => other.to_string(),
    })
}

pub(crate) async fn run(ctx: &Context, args: MetricsArgs) -> Outcome {
    let range = crate::time::range(
        args.since.as_deref(),
        args.until.as_deref(),
        Some(Duration::from_secs(3600)),
    )?;
    let mut query = MetricQuery::new(&args.name).range(range);
    for (key, value) in &args.attributes {
        query = query.attribute(key, value);
    }
    if let Some(service) = &args.service {
        query = query.service(service);
    }
    let mut out = Out::new();
    let lines = match args.agg {
        Some(granularity) => {
            let buckets = ctx
                .ask(ctx.client.metric_aggregations(granularity, &query))
                .await?;
            match args.json {
                true => buckets
                    .iter()
                    .map(|b| aggregate_json(b).to_string())
                    .collect(),
                false => aggregates(&args.name, &buckets, ctx.palette),
            }
        }
        None => {
            let points = ctx.ask(ctx.client.query_metrics(&query)).await?.entries;
            let kind = points.last().map_or("", |p| p.kind.as_str());
            let quantiles = match kind {
                "histogram" => Some(
                    ctx.ask(ctx.client.histogram_quantiles(&query, &QUANTILES))
                        .await?,
                ),
                _ => None,
            };
            match args.json {
                true => points.iter().map(|p| point_json(p).to_string()).collect(),
                false => summary(
                    &args.name,
                    &points,
                    quantiles.as_ref(),
                    args.limit,
                    ctx.palette,
                ),
            }
        }
    };
    out.all(lines)?;
    Ok(std::process::ExitCode::SUCCESS)
}

fn series_name(attributes: &[(String, String)]) -> String {
    match attributes.is_empty() {
        true => "(no labels)".into(),
        false => pairs(attributes.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
    }
}

/// The points' summary: per series a sparkline and its numbers, the
/// histogram's quantiles, then the latest `limit` points.
pub(crate) fn summary(
    name: &str,
    points: &[MetricPoint],
    quantiles: Option<&Quantiles>,
    limit: usize,
    palette: Palette,
) -> Vec<String> {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return vec![format!(
            "no points of {} in the range",
            crate::render::escape(name)
        )];
    };
    let mut series: BTreeMap<&[(String, String)], Vec<&MetricPoint>> = BTreeMap::new();
    for point in points {
        series.entry(&point.attributes).or_default().push(point);
    }
    let kind = last.kind.as_str();
    let mut lines = vec![format!(
        "{} ({}): {} points in {} series, {} to {}",
        palette.paint(BOLD, &crate::render::escape(name)),
        crate::render::escape(kind),
        count(points.len() as u64),
        series.len(),
        time(first.timestamp_ns),
        time(last.timestamp_ns)
    )];
    if let Some(q) = quantiles {
        let values: Vec<String> = q
            .values
            .iter()
            .map(|(level, value)| format!("p{} {}", number(level * 100.0), number(*value)))
            .collect();
        lines.push(format!(
            "{} samples: min {}, {}, max {}, mean {}",
            count(q.count),
            number(q.min),
            values.join(", "),
            number(q.max),
            number(if q.count > 0 {
                q.sum / q.count as f64
            } else {
                f64::NAN
            })
        ));
    }
    let mut table = Table::new(&[
        ("series", Align::Left),
        ("", Align::Left),
        ("", Align::Left),
    ]);
    for (attributes, points) in &series {
        let last = points[points.len() - 1];
        let (spark, numbers) = match kind {
            "counter" => {
                let rates = per_second(points);
                // Each snapshot's delta is what was added in the interval it ends.
                let added: f64 = points.iter().map(|p| p.delta).sum();
                let now = rates.last().map_or("-".into(), |r| rate(*r));
                (
                    sparkline(&rates, false),
                    format!(
                        "total {}, +{} in range, now {now}",
                        number(last.value),
                        number(added)
                    ),
                )
            }
            "histogram" => {
                let means: Vec<f64> = points.iter().map(|p| p.value).collect();
                let samples: u64 = points.iter().map(|p| p.count).sum();
                (
                    sparkline(&means, true),
                    format!("{} samples, mean per snapshot", count(samples)),
                )
            }
            _ => {
                let values: Vec<f64> = points.iter().map(|p| p.value).collect();
                let min = values.iter().copied().fold(f64::INFINITY, f64::min);
                let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                (
                    sparkline(&values, true),
                    format!(
                        "last {}, min {}, max {}",
                        number(last.value),
                        number(min),
                        number(max)
                    ),
                )
            }
        };
        table.styled_row(vec![
            (series_name(attributes), Default::default()),
            (spark, crate::render::CYAN),
            (numbers, DIM),
        ]);
    }
    lines.extend(table.render(palette).into_iter().skip(1));
    lines.push(String::new());
    let value_columns: &[(&str, Align)] = match kind {
        "counter" => &[("total", Align::Right), ("delta", Align::Right)],
        "histogram" => &[
            ("count", Align::Right),
            ("mean", Align::Right),
            ("p99", Align::Right),
        ],
        _ => &[("value", Align::Right)],
    };
    let mut columns = vec![("time", Align::Left), ("series", Align::Left)];
    columns.extend_from_slice(value_columns);
    let mut table = Table::new(&columns);
    for point in &points[points.len().saturating_sub(limit)..] {
        let mut row = vec![time(point.timestamp_ns), series_name(&point.attributes)];
        match kind {
            "counter" => row.extend([number(point.value), number(point.delta)]),
            "histogram" => row.extend([
                count(point.count),
                number(point.value),
                point
                    .quantile_values
                    .last()
                    .map_or("-".into(), |v| number(*v)),
            ]),
            _ => row.push(number(point.value)),
        }
        table.row(row);
    }
    lines.extend(table.render(palette));
    lines
}

/// A counter's rates: the increase per second between each two
/// consecutive snapshots of one series (oldest first).
fn per_second(series: &[&MetricPoint]) -> Vec<f64> {
    series
        .windows(2)
        .filter_map(|pair| {
            let seconds = (pair[1].timestamp_ns - pair[0].timestamp_ns) as f64 / 1e9;
            (seconds > 0.0).then(|| pair[1].delta / seconds)
        })
        .collect()
}

/// `--agg`: a sparkline of the averages, and the buckets.
pub(crate) fn aggregates(name: &str, buckets: &[Aggregate], palette: Palette) -> Vec<String> {
    if buckets.is_empty() {
        return vec![format!(
            "no points of {} in the range",
            crate::render::escape(name)
        )];
    }
    let averages: Vec<f64> = buckets.iter().map(|b| b.avg).collect();
    let mut lines = vec![format!(
        "{}: {} buckets, avg {}",
        palette.paint(BOLD, &crate::render::escape(name)),
        buckets.len(),
        palette.paint(crate::render::CYAN, &sparkline(&averages, true))
    )];
    let mut table = Table::new(&[
        ("start", Align::Left),
        ("avg", Align::Right),
        ("min", Align::Right),
        ("max", Align::Right),
        ("count", Align::Right),
    ]);
    for b in buckets {
        table.row(vec![
            time(i64::from(b.start) * 1_000_000_000),
            number(b.avg),
            number(b.min),
            number(b.max),
            count(b.count),
        ]);
    }
    lines.extend(table.render(palette));
    lines
}

fn point_json(p: &MetricPoint) -> serde_json::Value {
    json!({
        "time": time(p.timestamp_ns),
        "name": p.name,
        "kind": p.kind,
        "attributes": p.attributes.iter().cloned().collect::<BTreeMap<_, _>>(),
        "value": p.value,
        "delta": p.delta,
        "count": p.count,
        "sum": p.sum,
        "min": p.min,
        "max": p.max,
        "quantiles": p.quantiles.iter().zip(&p.quantile_values)
            .map(|(q, v)| json!({"q": q, "value": v})).collect::<Vec<_>>(),
    })
}

fn aggregate_json(b: &Aggregate) -> serde_json::Value {
    json!({
        "start": time(i64::from(b.start) * 1_000_000_000),
        "avg": b.avg, "min": b.min, "max": b.max, "count": b.count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(t: i64, kind: &str, value: f64, delta: f64) -> MetricPoint {
        serde_json::from_value(json!({
            "timestamp_ns": t * 60_000_000_000, "name": "orders", "kind": kind,
            "attributes": [["channel", "web"]], "value": value, "delta": delta,
            "count": 0, "sum": 0.0, "min": 0.0, "max": 0.0,
            "quantiles": [], "quantile_values": [],
        }))
        .unwrap()
    }

    #[test]
    fn a_counters_rate_is_its_increase_per_second_between_snapshots() {
        // Snapshots a minute apart: +240 is 4/s, +0 is 0/s; two at the same
        // time give no rate (no time between them), not a division by zero.
        let points = [
            point(0, "counter", 0.0, 0.0),
            point(1, "counter", 240.0, 240.0),
            point(2, "counter", 240.0, 0.0),
            point(2, "counter", 300.0, 60.0),
        ];
        let series: Vec<&MetricPoint> = points.iter().collect();
        assert_eq!(per_second(&series), [4.0, 0.0]);
        assert_eq!(per_second(&series[..1]), [] as [f64; 0]);
    }

    #[test]
    fn a_granularity_is_named_or_the_names_are_said() {
        assert_eq!(granularity("hour"), Ok(Granularity::Hour));
        let error = granularity("week").unwrap_err();
        assert!(
            error.contains("\"week\"") && error.contains("minute, hour or day"),
            "{error}"
        );
    }

    #[test]
    fn a_gauge_has_its_sparkline_and_its_last_points() {
        let points: Vec<MetricPoint> = [1.0, 5.0, 3.0]
            .iter()
            .enumerate()
            .map(|(i, v)| point(i as i64, "gauge", *v, 0.0))
            .collect();
        let lines = summary("orders", &points, None, 2, Palette::new(false));
        assert_eq!(
            lines,
            [
                "orders (gauge): 3 points in 1 series, 1970-01-01T00:00:00.000000Z to \
                 1970-01-01T00:02:00.000000Z",
                "channel=web  ▁█▅  last 3, min 1, max 5",
                "",
                "time                         series       value",
                "1970-01-01T00:01:00.000000Z  channel=web      5",
                "1970-01-01T00:02:00.000000Z  channel=web      3",
            ]
        );
        assert_eq!(
            summary("x", &[], None, 2, Palette::new(false)),
            ["no points of x in the range"]
        );
    }
}
