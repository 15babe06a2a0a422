//! `chlog stats`: counts by level and source, volume per level, top errors.

use std::time::{Duration, SystemTime};

use clap::Args;
use serde_json::json;
use tracing_clickhouse::Severity;
use tracing_clickhouse::query::{Answer, LogPattern, LogStats, VolumeBucket};

use super::filters::LogFilter;
use crate::conn::Context;
use crate::fail::Outcome;
use crate::out::Out;
use crate::render::{
    Align, BOLD, DIM, Palette, Table, count, escape, level_style, percent, short_time, sparkline,
    time,
};

pub(crate) const EXAMPLES: &str = "\
Examples:
  chlog stats                          the last hour
  chlog stats --since 24h -s checkout  a day of one service
  chlog stats --since 7d --top 20      a week, twenty error patterns
  chlog stats --json";

/// Columns of a volume sparkline.
const COLUMNS: u64 = 60;

/// `chlog stats`.
#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    #[command(flatten)]
    filter: LogFilter,
    /// How many error patterns to show (1 to 1000)
    #[arg(long, default_value_t = 5, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
    top: u64,
    /// As one JSON object
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(ctx: &Context, args: StatsArgs) -> Outcome {
    let range = args.filter.range(Some(Duration::from_secs(3600)))?;
    let query = args.filter.query_in(range)?;
    let since = range.start.unwrap_or(SystemTime::UNIX_EPOCH);
    let until = range.end.unwrap_or_else(SystemTime::now);
    let width = bucket_width(until.duration_since(since).unwrap_or_default());
    let stats = ctx.ask(ctx.client.log_stats(&query)).await?;
    let volume = ctx.ask(ctx.client.log_volume(&query, width)).await?;
    let errors = query.clone().min_level(Severity::Error);
    let patterns = ctx.ask(ctx.client.top_patterns(&errors, args.top)).await?;
    let mut out = Out::new();
    let view = View {
        since: ns(since),
        until: ns(until),
        width,
        stats: &stats,
        volume: &volume,
        patterns: &patterns,
    };
    let lines = match args.json {
        true => vec![view.json().to_string()],
        false => view.text(ctx.palette),
    };
    out.all(lines)?;
    Ok(std::process::ExitCode::SUCCESS)
}

fn ns(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The width of a sparkline's column for a range: the smallest round
/// width that draws it in at most [`COLUMNS`] columns.
pub(crate) fn bucket_width(range: Duration) -> Duration {
    const ROUND: [u64; 18] = [
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200,
        86_400,
    ];
    let needed = range.as_secs().div_ceil(COLUMNS).max(1);
    let secs = ROUND
        .into_iter()
        .find(|&w| w >= needed)
        .unwrap_or_else(|| needed.div_ceil(86_400) * 86_400);
    Duration::from_secs(secs)
}

/// What `stats` prints, from the three answers.
pub(crate) struct View<'a> {
    pub(crate) since: i64,
    pub(crate) until: i64,
    pub(crate) width: Duration,
    pub(crate) stats: &'a LogStats,
    pub(crate) volume: &'a Answer<VolumeBucket>,
    pub(crate) patterns: &'a Answer<LogPattern>,
}

impl View<'_> {
    /// Levels present, the most severe first (levels not of this crate last).
    fn levels(&self) -> Vec<&str> {
        let rank = |level: &str| {
            Severity::ALL
                .iter()
                .position(|s| s.as_str() == level)
                .map_or(-1, |i| i as i64)
        };
        let mut levels: Vec<&str> = self.stats.by_level.keys().map(String::as_str).collect();
        levels.sort_by_key(|l| std::cmp::Reverse(rank(l)));
        levels
    }

    /// A level's counts per column, from `since` to `until`.
    fn series(&self, level: &str) -> Vec<f64> {
        let width = i64::try_from(self.width.as_nanos())
            .unwrap_or(i64::MAX)
            .max(1);
        let first = self.since.div_euclid(width);
        let columns = (self.until.div_euclid(width) - first + 1).clamp(1, 400) as usize;
        let mut values = vec![0.0; columns];
        for bucket in &self.volume.entries {
            let column = bucket.start_ns.div_euclid(width) - first;
            if let (Ok(column), Some(n)) = (usize::try_from(column), bucket.by_level.get(level))
                && column < columns
            {
                values[column] += *n as f64;
            }
        }
        values
    }

    pub(crate) fn text(&self, palette: Palette) -> Vec<String> {
        let stats = self.stats;
        let mut lines = vec![format!(
            "{} logs from {} to {}",
            palette.paint(BOLD, &count(stats.total)),
            time(self.since),
            time(self.until)
        )];
        if let (Some(first), Some(last)) = (stats.first_ns, stats.last_ns) {
            lines.push(format!("first {}, last {}", time(first), time(last)));
        }
        if stats.total == 0 {
            return lines;
        }
        lines.push(String::new());
        let per = format!("per {}", humantime::format_duration(self.width));
        let mut table = Table::new(&[
            ("level", Align::Left),
            ("logs", Align::Right),
            ("share", Align::Right),
            (&per, Align::Left),
        ]);
        for level in self.levels() {
            let n = stats.by_level[level];
            table.styled_row(vec![
                (escape(level), level_style(level)),
                (count(n), Default::default()),
                (percent(n as f64 / stats.total as f64), DIM),
                (sparkline(&self.series(level), false), level_style(level)),
            ]);
        }
        lines.extend(table.render(palette));
        lines.push(String::new());
        let mut sources: Vec<(&String, &u64)> = stats.by_source.iter().collect();
        sources.sort_by_key(|(name, n)| (std::cmp::Reverse(**n), (*name).clone()));
        let mut table = Table::new(&[
            ("source", Align::Left),
            ("logs", Align::Right),
            ("share", Align::Right),
        ]);
        for (source, n) in sources {
            let shown = if source.is_empty() {
                "(none)".into()
            } else {
                escape(source)
            };
            table.row(vec![
                shown,
                count(*n),
                percent(*n as f64 / stats.total as f64),
            ]);
        }
        lines.extend(table.render(palette));
        lines.push(String::new());
        if self.patterns.entries.is_empty() {
            lines.push("no errors".into());
            return lines;
        }
        lines.push(palette.paint(BOLD, "top error patterns"));
        let mut table = Table::new(&[
            ("logs", Align::Right),
            ("last", Align::Left),
            ("pattern", Align::Left),
        ]);
        for pattern in &self.patterns.entries {
            table.row(vec![
                count(pattern.count),
                short_time(pattern.last_ns),
                escape(&pattern.pattern),
            ]);
        }
        lines.extend(table.render(palette));
        lines
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        let stats = self.stats;
        json!({
            "since": time(self.since),
            "until": time(self.until),
            "total": stats.total,
            "first": stats.first_ns.map(time),
            "last": stats.last_ns.map(time),
            "by_level": stats.by_level,
            "by_source": stats.by_source,
            "volume_interval_seconds": self.width.as_secs(),
            "volume": self.volume.entries.iter().map(|b| json!({
                "start": time(b.start_ns),
                "by_level": b.by_level,
            })).collect::<Vec<_>>(),
            "top_errors": self.patterns.entries.iter().map(|p| json!({
                "pattern": p.pattern,
                "count": p.count,
                "example": p.example,
                "first": time(p.first_ns),
                "last": time(p.last_ns),
            })).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_clickhouse::query::VolumeBucket;

    fn view_lines(total_errors: u64) -> Vec<String> {
        let mut stats = LogStats::default();
        stats.total = 10 + total_errors;
        stats.by_level.insert("INFO".into(), 10);
        stats
            .by_source
            .insert("app::http".into(), 10 + total_errors);
        if total_errors > 0 {
            stats.by_level.insert("ERROR".into(), total_errors);
        }
        stats.first_ns = Some(0);
        stats.last_ns = Some(240_000_000_000);
        let mut volume = Answer::default();
        for (minute, n) in [(0, 4), (2, 6)] {
            let mut bucket = VolumeBucket::default();
            bucket.start_ns = minute * 60_000_000_000;
            bucket.by_level.insert("INFO".into(), n);
            volume.entries.push(bucket);
        }
        let mut patterns = Answer::default();
        if total_errors > 0 {
            patterns.entries.push(
                serde_json::from_value(json!({
                    "pattern": "request <hex> failed", "count": total_errors,
                    "example": "request 9f86d081 failed", "first_ns": 0, "last_ns": 60_000_000_000_i64,
                }))
                .unwrap(),
            );
        }
        let view = View {
            since: 0,
            until: 240_000_000_000,
            width: Duration::from_secs(60),
            stats: &stats,
            volume: &volume,
            patterns: &patterns,
        };
        view.text(Palette::new(false))
    }

    #[test]
    fn stats_read_as_counts_shares_a_sparkline_and_patterns() {
        let lines = view_lines(3);
        assert_eq!(
            lines,
            [
                "13 logs from 1970-01-01T00:00:00.000000Z to 1970-01-01T00:04:00.000000Z",
                "first 1970-01-01T00:00:00.000000Z, last 1970-01-01T00:04:00.000000Z",
                "",
                "level  logs   share  per 1m",
                "ERROR     3  23.1 %",
                "INFO     10  76.9 %  ▆ █",
                "",
                "source     logs    share",
                "app::http    13  100.0 %",
                "",
                "top error patterns",
                "logs  last      pattern",
                "   3  00:01:00  request <hex> failed",
            ]
        );
        assert_eq!(view_lines(0).last().unwrap(), "no errors");
    }

    #[test]
    fn widths_are_round_and_fit_the_columns() {
        let w = |secs| bucket_width(Duration::from_secs(secs)).as_secs();
        assert_eq!(w(0), 1);
        assert_eq!(w(60), 1);
        assert_eq!(w(3600), 60);
        assert_eq!(w(3601), 120);
        assert_eq!(w(86_400), 1800);
        assert_eq!(w(7 * 86_400), 10_800);
        assert_eq!(w(365 * 86_400), 7 * 86_400);
    }
}
