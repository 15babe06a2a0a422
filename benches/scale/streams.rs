//! The two streaming reads: an export of an hour (the library's stream and
//! `chlog export` to a file, rows per second and the peak memory of the
//! process), and `chlog logs -f` following a writer of 50 000 rows a
//! second (whether it keeps up: the rows printed, and how far behind it is
//! when the writer stops).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tracing_clickhouse::Config;
use tracing_clickhouse::query::{ExportFormat, ExportQuery, ExportTable, QueryClient, TimeRange};

use super::fill::{Db, Writer, now_secs};

/// One export measured.
pub struct Exported {
    pub how: String,
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
    /// Peak resident memory of the exporting process, when it is `chlog`.
    pub peak_rss_kb: Option<u64>,
}

impl Exported {
    pub fn rows_per_second(&self) -> f64 {
        self.rows as f64 / self.seconds
    }
}

/// The hour ending 30 minutes ago (whole seconds), as `chlog` takes it.
fn hour() -> (String, String, i64, i64) {
    let until = now_secs() - 1800;
    let since = until - 3600;
    let rfc = |s: i64| {
        humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(s as u64))
            .to_string()
    };
    (rfc(since), rfc(until), since, until)
}

/// Exports of the hour ending 30 minutes ago: through the library into
/// nothing (JSON lines, Parquet), and with `chlog export` into a file in
/// `dir` (Parquet, which is kept small enough; and JSON lines when
/// `jsonl_file` says so).
pub fn exports(
    db: &Db,
    client: &QueryClient,
    chlog: &Path,
    url: &str,
    dir: &Path,
    jsonl_file: bool,
) -> Vec<Exported> {
    let (since_text, until_text, since, until) = hour();
    let at = |s: i64| std::time::UNIX_EPOCH + Duration::from_secs(s as u64);
    let rows = db.number(&format!(
        "SELECT count() FROM logs WHERE Timestamp >= fromUnixTimestamp64Nano({}) \
         AND Timestamp < fromUnixTimestamp64Nano({})",
        since as i128 * 1_000_000_000,
        until as i128 * 1_000_000_000
    ));
    let mut out = Vec::new();
    for format in [ExportFormat::JsonLines, ExportFormat::Parquet] {
        let query = ExportQuery::new(ExportTable::Logs, format)
            .range(TimeRange::between(at(since), at(until)));
        let began = Instant::now();
        let (streamed, bytes) = db.runtime.block_on(async {
            let mut stream = client.export(&query).unwrap();
            let (mut lines, mut bytes) = (0, 0);
            while let Some(chunk) = stream.next_chunk().await.unwrap() {
                bytes += chunk.len() as u64;
                lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
            }
            // JSON lines: a row a line (Parquet keeps its count in its footer).
            ((format == ExportFormat::JsonLines).then_some(lines), bytes)
        });
        if let Some(streamed) = streamed {
            assert_eq!(streamed, rows, "every row of the hour");
        }
        out.push(Exported {
            how: format!("library, {format}, into nothing"),
            rows,
            bytes,
            seconds: began.elapsed().as_secs_f64(),
            peak_rss_kb: None,
        });
    }
    std::fs::create_dir_all(dir).unwrap();
    let mut formats = vec!["parquet"];
    if jsonl_file {
        formats.push("jsonl");
    }
    for format in formats {
        let file = dir.join(format!("hour.{format}"));
        let _ = std::fs::remove_file(&file);
        let _ = std::fs::remove_file(dir.join(format!("hour.{format}.manifest.json")));
        let began = Instant::now();
        let mut child = Command::new(chlog)
            .args([
                "--url",
                url,
                "--database",
                &db.name,
                "--timeout",
                "600s",
                "export",
                "logs",
            ])
            .args(["--since", &since_text, "--until", &until_text, "-o"])
            .arg(&file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chlog export");
        let peak = peak_rss(&mut child);
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let seconds = began.elapsed().as_secs_f64();
        let bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        let said = String::from_utf8_lossy(&output.stdout);
        assert!(
            said.contains(&format!("wrote {} rows", group(rows))),
            "{said}"
        );
        let _ = std::fs::remove_file(&file);
        out.push(Exported {
            how: format!("`chlog export logs`, {format}, to a file"),
            rows,
            bytes,
            seconds,
            peak_rss_kb: Some(peak),
        });
    }
    out
}

/// `n` with commas, as chlog prints counts.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The peak resident memory (`VmHWM`) of a running child, read until it
/// exits.
fn peak_rss(child: &mut std::process::Child) -> u64 {
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        if let Ok(text) = std::fs::read_to_string(&status)
            && let Some(line) = text.lines().find(|l| l.starts_with("VmHWM:"))
        {
            let kb = line
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            peak = peak.max(kb);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    peak
}

/// What `chlog logs -f` did while a writer wrote.
pub struct Followed {
    pub rate: u64,
    pub seconds: u64,
    pub written: u64,
    pub printed: u64,
    /// From the writer's last row delivered to the last row printed.
    pub behind_at_end: Duration,
    /// The fewest rows printed in a whole second of the run.
    pub slowest_second: u64,
}

/// Follows service `follow` with `chlog logs -f` while our pipeline writes
/// `rate` rows a second as that service for `seconds` seconds.
pub fn follow(
    config: &Config,
    chlog: &Path,
    url: &str,
    database: &str,
    rate: u64,
    seconds: u64,
) -> Followed {
    let mut child = Command::new(chlog)
        .args([
            "--url",
            url,
            "--database",
            database,
            "--timeout",
            "600s",
            "logs",
            "-f",
        ])
        .args(["-s", "follow", "-n", "1", "--json", "--interval", "200ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chlog logs -f");
    let printed = Arc::new(AtomicU64::new(0));
    let counter = printed.clone();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if line.is_err() {
                break;
            }
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    // The tail's first poll (nothing of `follow` yet, or an earlier run's).
    std::thread::sleep(Duration::from_secs(2));
    let before = printed.load(Ordering::Relaxed);
    let writer = Writer::start(config.clone(), "follow", rate);
    let mut per_second = Vec::new();
    let mut last = before;
    for _ in 0..seconds {
        std::thread::sleep(Duration::from_secs(1));
        let now = printed.load(Ordering::Relaxed);
        per_second.push(now - last);
        last = now;
    }
    let written = writer.stop();
    let stopped = Instant::now();
    while printed.load(Ordering::Relaxed) - before < written
        && stopped.elapsed() < Duration::from_secs(120)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let behind_at_end = stopped.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    Followed {
        rate,
        seconds,
        written,
        printed: printed.load(Ordering::Relaxed) - before,
        behind_at_end,
        slowest_second: per_second.iter().skip(2).copied().min().unwrap_or(0),
    }
}
