//! `chlog export`: each format written, its manifest true to the file, and
//! the file read back by the engine.

use sha2::{Digest, Sha256};

use super::Db;
use crate::common::{scalar, temp_dir};
use crate::known::{self, SECOND};

fn time(ns: i64) -> String {
    humantime::format_rfc3339_nanos(known::at(ns)).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_format_reads_back_and_its_manifest_tells_the_truth() {
    let (db, base) = Db::loaded("cli_export").await;
    let dir = temp_dir("cli_export");
    // Logs 30 to 89 (one every 10 s).
    let (since, until) = (time(base + 300 * SECOND), time(base + 900 * SECOND));
    for format in ["jsonl", "csv", "parquet"] {
        let file = dir.path().join(format!("logs.{format}"));
        let path = file.to_str().unwrap();
        let run = db.run(&[
            "export", "logs", "--since", &since, "--until", &until, "-o", path,
        ]);
        let lines = run.expect(0);
        assert!(lines[0].starts_with("wrote 60 rows ("), "{lines:?}");
        assert!(!dir.path().join(format!("logs.{format}.partial")).exists());

        let bytes = std::fs::read(&file).unwrap();
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(format!("{path}.manifest.json")).unwrap())
                .unwrap();
        assert_eq!(manifest["rows"], 60, "{manifest}");
        assert_eq!(manifest["bytes"], bytes.len());
        assert_eq!(manifest["sha256"], format!("{:x}", Sha256::digest(&bytes)));
        assert_eq!(manifest["table"], "logs");
        assert_eq!(manifest["format"], format);
        assert_eq!(manifest["since"], time(base + 300 * SECOND));
        assert_eq!(manifest["until_ns"], base + 900 * SECOND);
        assert_eq!(manifest["database"], db.database.as_str());
        let query = manifest["query"].as_str().unwrap();
        assert!(
            query.starts_with("SELECT * FROM logs WHERE 1 AND TimestampTime >="),
            "{query}"
        );
        assert!(
            query.contains(&format!("fromUnixTimestamp64Nano({})", base + 300 * SECOND)),
            "{query}"
        );
        assert!(lines[1].contains(manifest["sha256"].as_str().unwrap()));

        let engine_format = manifest["clickhouse_format"].as_str().unwrap().to_owned();
        let copy = format!("copy_{format}");
        db.client
            .query(&format!("CREATE TABLE {copy} AS logs"))
            .execute()
            .await
            .unwrap();
        let mut insert = db
            .client
            .insert_formatted_with(format!("INSERT INTO {copy} FORMAT {engine_format}"));
        insert.send(bytes.into()).await.unwrap();
        insert.end().await.unwrap();
        assert_eq!(
            scalar(&db.client, &format!("SELECT count() FROM {copy}")).await,
            60,
            "{format} read back"
        );
        let first = scalar(
            &db.client,
            &format!("SELECT toUInt64(min(toUnixTimestamp64Nano(Timestamp))) FROM {copy}"),
        )
        .await;
        assert_eq!(first as i64, base + 300 * SECOND);
    }

    let again = db.run(&[
        "export",
        "logs",
        "-o",
        dir.path().join("logs.csv").to_str().unwrap(),
    ]);
    again.expect(2);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    let forced = db.run(&[
        "export",
        "logs",
        "--force",
        "-o",
        dir.path().join("logs.csv").to_str().unwrap(),
    ]);
    assert!(forced.expect(0)[0].starts_with("wrote 120 rows"));
    for (table, rows) in [("spans", 13), ("metrics", 30), ("events", 5)] {
        let path = dir.path().join(format!("{table}.out"));
        let run = db.run(&["export", table, "-F", "jsonl", "-o", path.to_str().unwrap()]);
        assert!(
            run.expect(0)[0].starts_with(&format!("wrote {rows} rows")),
            "{run:?}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().lines().count(),
            rows
        );
        // CSV quotes the map and array columns; the count is of rows, not
        // of lines or commas.
        let csv = dir.path().join(format!("{table}.csv"));
        let run = db.run(&["export", table, "-F", "csv", "-o", csv.to_str().unwrap()]);
        assert!(
            run.expect(0)[0].starts_with(&format!("wrote {rows} rows")),
            "{run:?}"
        );
    }
}

/// `--force` replaced a FIFO (and, run as root, a device node) with a
/// regular file and reported success, before: only regular files are
/// written, anything else is refused by what it is, and left as it was.
#[tokio::test(flavor = "multi_thread")]
async fn only_regular_files_are_written_or_replaced() {
    use std::os::unix::fs::FileTypeExt;

    let (db, _) = Db::loaded("cli_export_targets").await;
    let dir = temp_dir("cli_export_targets");
    let fifo = dir.path().join("fifo.jsonl");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    let socket = dir.path().join("socket.jsonl");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let folder = dir.path().join("folder.jsonl");
    std::fs::create_dir(&folder).unwrap();
    let target = dir.path().join("target.txt");
    std::fs::write(&target, "kept").unwrap();
    let link = dir.path().join("link.jsonl");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let cases = [
        (&fifo, "is a FIFO"),
        (&socket, "is a socket"),
        (&folder, "is a directory"),
        (&link, "is a symbolic link"),
    ];
    for (path, what) in cases {
        let run = db.run(&["export", "logs", "--force", "-o", path.to_str().unwrap()]);
        run.expect(2);
        assert!(
            run.stderr.contains("--output") && run.stderr.contains(what),
            "{what}: {}",
            run.stderr
        );
    }
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "kept");

    // A manifest path that is not a regular file stops the export before
    // anything is written.
    let data = dir.path().join("data.jsonl");
    let made = std::process::Command::new("mkfifo")
        .arg(dir.path().join("data.jsonl.manifest.json"))
        .status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    let run = db.run(&["export", "logs", "-o", data.to_str().unwrap()]);
    run.expect(2);
    assert!(
        run.stderr.contains("manifest.json is a FIFO"),
        "{}",
        run.stderr
    );
    assert!(!data.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn dash_is_stdout_with_the_count_and_hash_on_stderr() {
    let (db, _) = Db::loaded("cli_export_stdout").await;
    let run = db.run(&["export", "events", "-F", "jsonl", "-o", "-"]);
    let lines = run.expect(0);
    assert_eq!(lines.len(), 5, "{}", run.stdout);
    for line in &lines {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(row["EventType"].is_string(), "{row}");
    }
    let sha = format!("{:x}", Sha256::digest(run.stdout.as_bytes()));
    assert!(
        run.stderr.starts_with("chlog: wrote 5 rows, ") && run.stderr.contains(&sha),
        "{}",
        run.stderr
    );
    let without_format = db.run(&["export", "events", "-o", "-"]);
    without_format.expect(2);
    assert!(
        without_format.stderr.contains("--format"),
        "{}",
        without_format.stderr
    );
}
