//! The manifest written beside an export: what was asked, what came, and
//! the file's SHA-256, for whoever has to show what was handed over.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::json;
use sha2::{Digest, Sha256};
use tracing_clickhouse::query::{ExportFormat, ExportQuery, ExportTable};

use crate::render::time;

/// What the manifest says.
pub(crate) struct Manifest<'a> {
    pub(crate) file: &'a Path,
    pub(crate) query: &'a ExportQuery,
    pub(crate) table: ExportTable,
    pub(crate) format: ExportFormat,
    pub(crate) since: Option<SystemTime>,
    pub(crate) until: Option<SystemTime>,
    pub(crate) rows: u64,
    pub(crate) bytes: u64,
    pub(crate) sha256: String,
    pub(crate) database: &'a str,
    pub(crate) server: &'a str,
    pub(crate) started: SystemTime,
}

/// Where the manifest of `file` goes: `FILE.manifest.json`.
pub(crate) fn manifest_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".manifest.json");
    file.with_file_name(name)
}

/// RFC 3339 to the nanosecond, as the range is bound.
fn nanos(at: SystemTime) -> String {
    humantime::format_rfc3339_nanos(at).to_string()
}

fn ns(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

impl Manifest<'_> {
    pub(crate) fn json(&self) -> serde_json::Value {
        json!({
            "file": self.file.file_name().map(|n| n.to_string_lossy().into_owned()),
            "table": self.table.to_string(),
            "format": self.format.to_string(),
            "clickhouse_format": self.format.clickhouse_name(),
            "query": self.query.describe(),
            "since": self.since.map(nanos),
            "until": self.until.map(nanos),
            "since_ns": self.since.map(ns),
            "until_ns": self.until.map(ns),
            "rows": self.rows,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "database": self.database,
            "server": self.server,
            "started_at": time(ns(self.started)),
            "finished_at": time(ns(SystemTime::now())),
            "exported_by": concat!("chlog ", env!("CARGO_PKG_VERSION")),
        })
    }

    /// Writes it beside the file (through a new temporary file, renamed;
    /// the caller checked that the path is free or a regular file).
    pub(crate) fn write(&self) -> std::io::Result<PathBuf> {
        let path = manifest_path(self.file);
        let mut temporary = path.clone().into_os_string();
        temporary.push(".partial");
        let temporary = PathBuf::from(temporary);
        let mut text = serde_json::to_string_pretty(&self.json()).map_err(std::io::Error::other)?;
        text.push('\n');
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&temporary, &path)?;
        Ok(path)
    }
}

/// Lowercase hex of a finished SHA-256.
pub(crate) fn hex(hasher: Sha256) -> String {
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_sits_beside_the_file_and_hashes_as_sha256_does() {
        assert_eq!(
            manifest_path(Path::new("/x/logs.csv")),
            Path::new("/x/logs.csv.manifest.json")
        );
        let mut hasher = Sha256::new();
        hasher.update(b"ab");
        hasher.update(b"c");
        assert_eq!(
            hex(hasher),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
