//! The table of medians, with our modes set against fmt's at the same levels.

use std::fmt::Write;
use std::time::Duration;

use crate::driver::{Options, Sample, Setup, setup_name};
use crate::service::{Levels, Mode};

/// The median of what `f` reads from each sample.
fn median<T: PartialOrd + Copy>(samples: &[Sample], f: impl Fn(&Sample) -> T) -> T {
    let mut values: Vec<T> = samples.iter().map(f).collect();
    values.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    values[values.len() / 2]
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Markdown: one row per configuration (medians of the rounds), and for
/// our modes the ratios the targets are stated in.
pub(crate) fn table(
    setup: Setup,
    configs: &[(Mode, Levels)],
    samples: &[Vec<Sample>],
    options: &Options,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({} rounds of wrk -t1 -c{} -d{}s after a {}s warm-up, order rotated; medians)\n",
        setup_name(setup),
        options.rounds,
        options.connections,
        options.duration.as_secs(),
        options.warmup.as_secs(),
    );
    out += "| mode | TraceLayer | req/s | p50 ms | p99 ms | app CPU µs/req | server CPU µs/req \
            | RSS MiB (peak) | rows stored / expected | dropped | vs fmt: req/s, CPU, p99, RSS |\n";
    out += "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
    let row_of = |mode: Mode, levels: Levels| {
        configs
            .iter()
            .position(|&c| c == (mode, levels))
            .map(|at| &samples[at][..])
    };
    for (at, &(mode, levels)) in configs.iter().enumerate() {
        let runs = &samples[at];
        let rps = median(runs, |s| s.load.per_second);
        let p50 = median(runs, |s| s.load.p50);
        let p99 = median(runs, |s| s.load.p99);
        let cpu = median(runs, |s| s.app_cpu);
        let rss = median(runs, |s| s.rss);
        let peak = median(runs, |s| s.rss_peak);
        let server = match setup {
            Setup::Dry => "–".to_owned(),
            Setup::Devserver => format!(
                "{:.1}",
                us(median(runs, |s| s.server_cpu.unwrap_or_default()))
            ),
        };
        let rows = match runs.iter().map(|s| s.rows).collect::<Option<Vec<_>>>() {
            Some(rows) => rows
                .iter()
                .map(|(stored, expected)| format!("{stored}/{expected}"))
                .collect::<Vec<_>>()
                .join(", "),
            None => "–".to_owned(),
        };
        let dropped: Vec<String> = runs.iter().map(|s| s.dropped.to_string()).collect();
        let versus = match (mode.is_ours(), row_of(Mode::Fmt, levels)) {
            (true, Some(fmt)) => format!(
                "{:.2}×, {:.2}×, {:.2}×, {:+.1} MiB",
                rps / median(fmt, |s| s.load.per_second),
                us(cpu) / us(median(fmt, |s| s.app_cpu)),
                ms(p99) / ms(median(fmt, |s| s.load.p99)),
                mib(rss) - mib(median(fmt, |s| s.rss)),
            ),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.1} | {server} | {:.1} ({:.1}) | {rows} | {} | {versus} |",
            mode.name(),
            levels.name(),
            rps,
            ms(p50),
            ms(p99),
            us(cpu),
            mib(rss),
            mib(peak),
            dropped.join(", "),
        );
    }
    out
}
