//! The bench's tables, in Markdown: each read at each size, and the slope
//! between the sizes, from which a reader projects larger fleets.

use std::fmt::Write as _;

use super::reads::Measured;
use super::streams::{Exported, Followed};

/// The reads measured at one size.
pub struct AtSize {
    /// Rows in the last 24 hours when the reads ran.
    pub rows: u64,
    pub reads: Vec<Measured>,
    pub exports: Vec<Exported>,
}

fn ms(m: &Measured) -> f64 {
    m.median.as_secs_f64() * 1000.0
}

/// Millions, as `100 M`.
fn millions(rows: u64) -> String {
    format!("{:.0} M", rows as f64 / 1e6)
}

/// The reads table: per size the median ms and rows read; the slope
/// between the first and the last size per 100 M rows a day; and the
/// projection to 1 B and 10 B rows a day on the same machine.
pub fn reads_table(sizes: &[AtSize]) -> String {
    if sizes.iter().any(|s| s.reads.is_empty()) {
        return String::new();
    }
    let mut out = String::from("| read | target |");
    let mut rule = String::from("| --- | ---: |");
    for size in sizes {
        let m = millions(size.rows);
        write!(out, " {m}: ms | {m}: rows read |").unwrap();
        rule.push_str(" ---: | ---: |");
    }
    let sloped = sizes.len() > 1;
    if sloped {
        out.push_str(" ms per 100 M/day | rows read per 100 M/day | 1 B/day: ms, rows | 10 B/day: ms, rows |");
        rule.push_str(" ---: | ---: | ---: | ---: |");
    }
    out.push('\n');
    out.push_str(&rule);
    out.push('\n');
    for (i, first) in sizes[0].reads.iter().enumerate() {
        let target = first.target_ms;
        write!(out, "| {} | ≤ {target} ms |", first.name).unwrap();
        for size in sizes {
            let m = &size.reads[i];
            let flag = if ms(m) <= target as f64 { "" } else { " ✗" };
            write!(out, " {:.0}{flag} | {} |", ms(m), m.rows_read).unwrap();
        }
        if sloped {
            let (a, b) = (&sizes[0], &sizes[sizes.len() - 1]);
            let per = (b.rows as f64 - a.rows as f64) / 1e8;
            let (ma, mb) = (&a.reads[i], &b.reads[i]);
            let slope_ms = (ms(mb) - ms(ma)) / per;
            let slope_rows = (mb.rows_read as f64 - ma.rows_read as f64) / per;
            let at = |day: f64| {
                let hundreds = (day - b.rows as f64) / 1e8;
                (
                    ms(mb) + slope_ms * hundreds,
                    mb.rows_read as f64 + slope_rows * hundreds,
                )
            };
            let (t1, r1) = at(1e9);
            let (t10, r10) = at(1e10);
            write!(
                out,
                " {slope_ms:.1} | {slope_rows:.0} | {t1:.0}, {} | {t10:.0}, {} |",
                short(r1),
                short(r10)
            )
            .unwrap();
        }
        out.push('\n');
    }
    out
}

/// A count of rows, short (`1.2 M`).
fn short(rows: f64) -> String {
    match rows {
        r if r >= 1e9 => format!("{:.1} G", r / 1e9),
        r if r >= 1e6 => format!("{:.1} M", r / 1e6),
        r if r >= 1e3 => format!("{:.0} k", r / 1e3),
        r => format!("{r:.0}"),
    }
}

/// The exports table.
pub fn exports_table(sizes: &[AtSize]) -> String {
    let mut out = String::from(
        "| database | export of one hour | rows | bytes | seconds | rows/s | peak RSS |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for size in sizes {
        for e in &size.exports {
            let rss = e
                .peak_rss_kb
                .map_or("-".to_owned(), |kb| format!("{:.1} MB", kb as f64 / 1024.0));
            writeln!(
                out,
                "| {} | {} | {} | {} | {:.2} | {} | {rss} |",
                millions(size.rows),
                e.how,
                e.rows,
                short(e.bytes as f64),
                e.seconds,
                short(e.rows_per_second()),
            )
            .unwrap();
        }
    }
    out
}

/// The follow line.
pub fn follow_line(f: &Followed) -> String {
    format!(
        "`chlog logs -f` behind a writer of {} rows/s for {} s: {} written, {} printed, \
         the slowest second printed {} rows, the last row printed {:.2} s after the writer's \
         last was stored",
        f.rate,
        f.seconds,
        f.written,
        f.printed,
        f.slowest_second,
        f.behind_at_end.as_secs_f64()
    )
}
