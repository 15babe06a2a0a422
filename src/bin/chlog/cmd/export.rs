//! `chlog export`: a table's rows in a time range to a file, streamed,
//! with a manifest.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use tracing_clickhouse::query::{ExportFormat, ExportQuery, ExportTable};

use super::manifest::{Manifest, hex, manifest_path};
use crate::conn::Context;
use crate::fail::{Failure, Outcome, bad_option};
use crate::out::Out;
use crate::parquet::parquet_row_count;
use crate::render::{bytes, count};
use crate::rows::RowCounter;

pub(crate) const EXAMPLES: &str = "\
Examples:
  chlog export logs --since 2026-11-01 --until 2026-12-01 -o logs-november.parquet
  chlog export spans --since 24h --format csv -o spans.csv
  chlog export events -o events.jsonl             every event until now

  chlog export logs --since 1h -F jsonl -o - | jq .Body    to stdout

The rows go straight from the server to the file (memory stays flat whatever
the size), every column: logs hour by hour, oldest first (within an hour in
the table's order: by service, level, source, then time; no sort), the other
tables oldest first. Beside FILE, FILE.manifest.json records
the query, the time range, the row count, the size and the file's SHA-256.
--until defaults to the moment the export starts, so the manifest's range is
exact. The file is written as FILE.partial and renamed when complete; FILE and
its manifest are only ever regular files (chlog refuses to replace a device, a
FIFO, a socket, a directory or a symbolic link, --force or not). With -o -
the rows go to stdout, and the count and SHA-256 to stderr.";

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
    /// The file to write (a regular file), or - for stdout
    #[arg(long, short = 'o', value_name = "FILE")]
    output: PathBuf,
    /// Replace the file (and its manifest) if they exist as regular files
    #[arg(long)]
    force: bool,
}

pub(crate) async fn run(ctx: &Context, args: ExportArgs) -> Outcome {
    let to_stdout = args.output.as_os_str() == "-";
    let format = match args.format {
        Some(format) => format,
        None if to_stdout => {
            return Err(bad_option(
                "--format",
                "needed with -o - (stdout): jsonl, csv or parquet",
            ));
        }
        None => format_of(&args.output)?,
    };
    let range = crate::time::range(
        args.since.as_deref(),
        Some(args.until.as_deref().unwrap_or("now")),
        None,
    )?;
    let query = ExportQuery::new(args.table, format).range(range);
    if to_stdout {
        return to_stdout_with_summary(ctx, &query, format, args.table).await;
    }
    // Checked before anything is written: neither may be anything but a
    // regular file (`rename` would replace a device node or a FIFO).
    check_output(&args.output, args.force)?;
    check_output(&manifest_path(&args.output), args.force)?;
    let partial = with_suffix(&args.output, ".partial");
    let started = SystemTime::now();
    let written = write(ctx, &query, format, &partial).await;
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
        table: args.table,
        format,
        since: range.start,
        until: range.end,
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

/// Refuses `path` unless it is free or, with `force`, a regular file:
/// never a device, a FIFO, a socket, a directory or a symbolic link (which
/// the rename would replace, or the write follow), named as such.
fn check_output(path: &Path, force: bool) -> Result<(), Failure> {
    let kind = match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(file_failure(path, e)),
        Ok(meta) => meta.file_type(),
    };
    let what = match kind {
        kind if kind.is_file() => match force {
            true => return Ok(()),
            false => "exists (--force replaces it)",
        },
        kind if kind.is_symlink() => "is a symbolic link (name the file it points to)",
        kind if kind.is_dir() => "is a directory",
        kind => special_kind(kind),
    };
    let only = match kind.is_file() {
        true => "",
        false => "; chlog writes only regular files, or stdout with -o -",
    };
    Err(bad_option(
        "--output",
        format!("{} {what}{only}", path.display()),
    ))
}

#[cfg(unix)]
fn special_kind(kind: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    match kind {
        kind if kind.is_fifo() => "is a FIFO",
        kind if kind.is_char_device() => "is a character device",
        kind if kind.is_block_device() => "is a block device",
        kind if kind.is_socket() => "is a socket",
        _ => "is not a regular file",
    }
}

#[cfg(not(unix))]
fn special_kind(_: fs::FileType) -> &'static str {
    "is not a regular file"
}

/// `-o -`: the rows to stdout, what was written to stderr.
async fn to_stdout_with_summary(
    ctx: &Context,
    query: &ExportQuery,
    format: ExportFormat,
    table: ExportTable,
) -> Outcome {
    let mut stdout = std::io::stdout().lock();
    let (received, sha256) = stream_into(ctx, query, format, &mut stdout, Failure::write).await?;
    stdout.flush().map_err(Failure::write)?;
    let rows = received
        .rows
        .rows()
        .map_or_else(String::new, |rows| format!("{} rows, ", count(rows)));
    eprintln!(
        "chlog: wrote {rows}{} of {table} to stdout (sha256 {sha256})",
        bytes(received.bytes)
    );
    Ok(std::process::ExitCode::SUCCESS)
}

/// Streams the export into a new file at `path` (never an existing one),
/// hashing as it goes: the rows, the bytes and the SHA-256.
async fn write(
    ctx: &Context,
    query: &ExportQuery,
    format: ExportFormat,
    path: &Path,
) -> Result<(u64, u64, String), Failure> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| file_failure(path, e))?;
    let mut file = BufWriter::with_capacity(1 << 16, file);
    let (received, sha256) =
        stream_into(ctx, query, format, &mut file, |e| file_failure(path, e)).await?;
    let file = file
        .into_inner()
        .map_err(|e| file_failure(path, e.into_error()))?;
    file.sync_all().map_err(|e| file_failure(path, e))?;
    drop(file);
    let rows = match received.rows.rows() {
        Some(rows) => rows,
        None => parquet_row_count(&mut File::open(path).map_err(|e| file_failure(path, e))?)
            .map_err(|e| Failure::other(format!("the server's Parquet does not read back: {e}")))?,
    };
    Ok((rows, received.bytes, sha256))
}

/// What an export sent: its rows (counted as they came, but for Parquet)
/// and bytes.
struct Received {
    rows: RowCounter,
    bytes: u64,
}

/// Copies the export's stream into `out`, hashing and counting as it goes,
/// with a progress line on a terminal; the counts and the SHA-256.
async fn stream_into(
    ctx: &Context,
    query: &ExportQuery,
    format: ExportFormat,
    out: &mut impl Write,
    failed: impl Fn(std::io::Error) -> Failure,
) -> Result<(Received, String), Failure> {
    let mut hasher = Sha256::new();
    let mut received = Received {
        rows: RowCounter::new(format),
        bytes: 0,
    };
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
        received.rows.feed(&chunk);
        received.bytes += chunk.len() as u64;
        out.write_all(&chunk).map_err(&failed)?;
        if let Some(bar) = &progress {
            bar.set_message(match received.rows.rows() {
                Some(rows) => format!("{} rows, {}", count(rows), bytes(received.bytes)),
                None => bytes(received.bytes),
            });
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    Ok((received, hex(hasher)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_is_refused_by_what_it_is_even_with_force() {
        let refused = check_output(Path::new("/dev/null"), true).unwrap_err();
        assert!(
            refused.message.contains("/dev/null is a character device"),
            "{}",
            refused.message
        );
        assert!(check_output(Path::new("/no/such/file"), false).is_ok());
    }
}
