//! `chlog export`: a table's rows in a time range to a file, streamed,
//! with a manifest.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use tracing_clickhouse::query::{ExportFormat, ExportQuery, ExportTable, parquet_row_count};

use super::manifest::{Manifest, hex};
use crate::conn::Context;
use crate::fail::{Failure, Outcome, bad_option};
use crate::out::Out;
use crate::render::{bytes, count};

pub(crate) const EXAMPLES: &str = "\
Examples:
  chlog export logs --since 2026-11-01 --until 2026-12-01 -o logs-november.parquet
  chlog export spans --since 24h --format csv -o spans.csv
  chlog export events -o events.jsonl             every event until now

The rows go straight from the server to the file (memory stays flat whatever
the size), every column: logs hour by hour, oldest first (within an hour in
the table's order: by service, level, source, then time; no sort), the other
tables oldest first. Beside FILE, FILE.manifest.json records
the query, the time range, the row count, the size and the file's SHA-256.
--until defaults to the moment the export starts, so the manifest's range is
exact. The file is written as FILE.partial and renamed when complete.";

/// `chlog export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// logs, spans, metrics or events
    table: ExportTable,
    /// Rows from this time [default: the oldest]
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Rows before this time [default: now]
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// jsonl, csv or parquet [default: from the file's extension]
    #[arg(long, short = 'F', value_name = "FORMAT")]
    format: Option<ExportFormat>,
    /// The file to write
    #[arg(long, short = 'o', value_name = "FILE")]
    output: PathBuf,
    /// Replace the file if it exists
    #[arg(long)]
    force: bool,
}

pub(crate) async fn run(ctx: &Context, args: ExportArgs) -> Outcome {
    let format = match args.format {
        Some(format) => format,
        None => format_of(&args.output)?,
    };
    let (since, until) = crate::time::range(
        args.since.as_deref(),
        Some(args.until.as_deref().unwrap_or("now")),
        None,
    )?;
    let mut query = ExportQuery::new(args.table, format);
    if let Some(since) = since {
        query = query.since(since);
    }
    if let Some(until) = until {
        query = query.until(until);
    }
    if args.output.exists() && !args.force {
        return Err(bad_option(
            "--output",
            format!("{} exists (--force replaces it)", args.output.display()),
        ));
    }
    let partial = with_suffix(&args.output, ".partial");
    let started = SystemTime::now();
    let written = write(ctx, &query, &partial).await;
    let (rows, size, sha256) = match written {
        Ok(done) => done,
        Err(failure) => {
            let _ = fs::remove_file(&partial);
            return Err(failure);
        }
    };
    fs::rename(&partial, &args.output).map_err(|e| file_failure(&args.output, e))?;
    let manifest = Manifest {
        file: &args.output,
        query: &query,
        since,
        until,
        rows,
        bytes: size,
        sha256: sha256.clone(),
        database: ctx.config.database(),
        server: &ctx.config.url(),
        started,
    };
    let manifest_path = manifest
        .write()
        .map_err(|e| file_failure(&args.output, e))?;
    let mut out = Out::new();
    out.line(&format!(
        "wrote {} rows ({}) of {} to {}",
        count(rows),
        bytes(size),
        args.table,
        args.output.display()
    ))?;
    out.line(&format!(
        "manifest {} (sha256 {sha256})",
        manifest_path.display()
    ))?;
    out.flush()?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// Streams the export into `path`, hashing as it goes: the rows, the bytes
/// and the SHA-256.
async fn write(
    ctx: &Context,
    query: &ExportQuery,
    path: &Path,
) -> Result<(u64, u64, String), Failure> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| file_failure(path, e))?;
    let mut file = BufWriter::with_capacity(1 << 16, file);
    let mut hasher = Sha256::new();
    let mut stream = ctx.client.export(query).map_err(|e| ctx.fail(&e))?;
    let progress = progress_bar();
    loop {
        let chunk = match tokio::time::timeout(ctx.timeout, stream.next_chunk()).await {
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Ok(None)) => break,
            Ok(Err(error)) => return Err(ctx.fail(&error)),
            Err(_) => return Err(ctx.timed_out()),
        };
        hasher.update(&chunk);
        file.write_all(&chunk).map_err(|e| file_failure(path, e))?;
        if let Some(bar) = &progress {
            bar.set_message(match stream.rows() {
                Some(rows) => format!("{} rows, {}", count(rows), bytes(stream.bytes())),
                None => bytes(stream.bytes()),
            });
        }
    }
    let file = file
        .into_inner()
        .map_err(|e| file_failure(path, e.into_error()))?;
    file.sync_all().map_err(|e| file_failure(path, e))?;
    drop(file);
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let rows = match stream.rows() {
        Some(rows) => rows,
        None => parquet_row_count(&mut File::open(path).map_err(|e| file_failure(path, e))?)
            .map_err(|e| Failure::other(format!("the server's Parquet does not read back: {e}")))?,
    };
    Ok((rows, stream.bytes(), hex(hasher)))
}

/// A spinner with the rows and bytes so far, on a terminal only.
fn progress_bar() -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} exporting: {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(bar)
}

fn format_of(path: &Path) -> Result<ExportFormat, Failure> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    extension.parse().map_err(|_| {
        bad_option(
            "--format",
            format!(
                "not given, and {} does not end in .jsonl, .csv or .parquet",
                path.display()
            ),
        )
    })
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn file_failure(path: &Path, error: std::io::Error) -> Failure {
    Failure::other(format!("cannot write {}: {error}", path.display()))
}
