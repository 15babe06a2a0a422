//! `chlog export`: each format written, its manifest true to the file, and
//! the file read back by the engine.

use sha2::{Digest, Sha256};

use crate::Db;
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
    }
}
