//! `chlog schema` twice over, and `chlog health` on a healthy storage and
//! on one that needs attention.

use super::Db;
use crate::common::scalar;

/// The version this chlog applies.
const V: u32 = tracing_clickhouse::schema::SCHEMA_VERSION;

#[tokio::test(flavor = "multi_thread")]
async fn schema_apply_twice_status_and_migrate() {
    let db = Db::empty("cli_schema");
    let before = db.run(&["schema", "status"]);
    let lines = before.expect(3);
    assert!(
        lines[0].contains(&format!(": no schema (this chlog applies version {V})")),
        "{lines:?}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("missing: apply creates it"))
            .count(),
        11
    );

    // (An older ClickHouse adds `note:` lines on what it does without:
    // tests/it/server_version.rs.)
    let said = |lines: Vec<&str>| -> Vec<String> {
        let kept = lines.into_iter().filter(|l| !l.starts_with("note: "));
        kept.map(str::to_owned).collect()
    };
    let first = db.run(&["schema", "apply"]);
    assert_eq!(
        said(first.expect(0)),
        [format!(
            "created the schema (version {V}) in database {}: 11 tables and views",
            db.database
        )]
    );
    db.client
        .query(
            "INSERT INTO events (Timestamp, EventType, Source) VALUES (now64(9), 'deploy', 'ci')",
        )
        .execute()
        .await
        .unwrap();
    let second = db.run(&["schema", "apply"]);
    assert_eq!(
        said(second.expect(0)),
        [format!(
            "database {} is at version {V}: nothing to do",
            db.database
        )]
    );
    assert_eq!(
        scalar(&db.client, "SELECT count() FROM events").await,
        1,
        "apply kept the data"
    );

    let status = db.run(&["schema", "status"]);
    let lines = status.expect(0);
    assert!(
        lines[0].ends_with(&format!(
            "version {V} (this chlog applies version {V}); up to date"
        )),
        "{lines:?}"
    );
    let logs = lines.iter().find(|l| l.starts_with("logs ")).unwrap();
    assert!(
        logs.contains("MergeTree") && logs.ends_with("180 days"),
        "{logs}"
    );
    assert!(db.run(&["schema", "migrate"]).expect(0)[0].ends_with("no migration to run"));
    let json: serde_json::Value =
        serde_json::from_str(db.run(&["schema", "status", "--json"]).expect(0)[0]).unwrap();
    assert_eq!(
        (json["installed"].as_u64(), json["current"].as_bool()),
        (Some(u64::from(V)), Some(true))
    );

    db.client.query("DROP TABLE spans").execute().await.unwrap();
    let status = db.run(&["schema", "status"]);
    let lines = status.expect(3);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("spans ") && l.contains("missing")),
        "{lines:?}"
    );
    let repaired = db.run(&["schema", "apply"]);
    assert_eq!(
        said(repaired.expect(0)),
        ["created what was missing: spans"]
    );
    db.run(&["schema", "status"]).expect(0);

    // A TTL configured differently from the table's is pointed out.
    let run = super::Run::of(
        db.command(&["schema", "status"])
            .env("CLICKHOUSE_LOGS_TTL_DAYS", "7")
            .output()
            .unwrap(),
    );
    let logs = run
        .stdout
        .lines()
        .find(|l| l.starts_with("logs "))
        .unwrap()
        .to_owned();
    assert!(
        logs.contains("180 days (configured 7: apply keeps the table's"),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn health_on_a_healthy_storage_and_on_one_that_needs_attention() {
    let (db, _) = Db::loaded("cli_health").await;
    let healthy = db.run(&["health", "--window", "1h", "--min-free-disk", "0"]);
    let lines = healthy.expect(0);
    assert!(
        lines[0].starts_with("ClickHouse ")
            && lines[0].contains(&format!(" at {}: answered in ", db.url)),
        "{lines:?}"
    );
    assert_eq!(
        lines[1],
        format!(
            "database {}: schema version {V} (this chlog applies {V})",
            db.database
        )
    );
    let row = |name: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(&format!("{name} ")))
            .copied()
            .unwrap_or_else(|| panic!("{name}: {lines:?}"))
    };
    assert!(row("logs").contains(" 120 "), "{}", row("logs"));
    assert!(row("logs").ends_with("120 (0.03333/s)"), "{}", row("logs"));
    assert!(row("logs").contains(" 180 days "), "{}", row("logs"));
    assert!(
        row("events").ends_with("5 (0.001389/s)"),
        "{}",
        row("events")
    );
    assert!(lines.iter().any(|l| l.starts_with("disk ")));
    assert_eq!(lines.last().unwrap(), &"healthy: nothing needs attention");

    let json = db.run(&["health", "--json", "--min-free-disk", "0"]);
    let value: serde_json::Value = serde_json::from_str(json.expect(0)[0]).unwrap();
    assert_eq!(value["healthy"], true);
    let logs = value["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "logs")
        .unwrap();
    assert_eq!(
        (logs["rows"].as_u64(), logs["ttl_days"].as_u64()),
        (Some(120), Some(180))
    );

    let all_disk = db.run(&["health", "--min-free-disk", "100"]);
    let lines = all_disk.expect(3);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("  warning disk ") || l.starts_with("  critical disk ")),
        "{lines:?}"
    );
    db.client
        .query("DROP TABLE metrics")
        .execute()
        .await
        .unwrap();
    let broken = db.run(&["health", "--min-free-disk", "0"]);
    let lines = broken.expect(3);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("metrics ") && l.ends_with(" missing")),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"  critical metrics: missing: apply the schema to create it"),
        "{lines:?}"
    );
    let value: serde_json::Value = serde_json::from_str(
        db.run(&["health", "--json", "--min-free-disk", "0"])
            .expect(3)[0],
    )
    .unwrap();
    assert_eq!(value["problems"][0]["subject"], "metrics");
}

/// `chlog schema apply --cluster`: the ON CLUSTER statements printed, and
/// run against a server without that cluster, refused by it with nothing
/// created; a name that cannot go into DDL is bad usage.
#[tokio::test(flavor = "multi_thread")]
async fn schema_apply_on_a_cluster() {
    let db = Db::empty("cli_cluster");
    let printed = db.run(&["schema", "apply", "--cluster", "telemetry_2x2", "--print"]);
    let lines = printed.expect(0);
    let text = lines.join("\n");
    // What the library generates for that cluster, every statement once.
    let config =
        tracing_clickhouse::Builder::from_env_vars([("CLICKHOUSE_DATABASE", &db.database)])
            .cluster(tracing_clickhouse::ClusterConfig::new("telemetry_2x2"))
            .and_then(|b| b.build_config())
            .unwrap();
    let expected = tracing_clickhouse::schema::statements(&config);
    assert!(expected.len() >= 19, "{expected:#?}");
    assert_eq!(
        lines.iter().filter(|l| l.ends_with(';')).count(),
        expected.len()
    );
    assert_eq!(text, format!("{};", expected.join(";\n")));
    assert_eq!(
        text.matches("ON CLUSTER 'telemetry_2x2'").count(),
        expected.len()
    );
    assert!(text.matches("ENGINE = Distributed('telemetry_2x2'").count() >= 7);
    assert!(text.contains(&format!(
        "ENGINE = Distributed('telemetry_2x2', {}, spans_local, cityHash64(TraceId));",
        db.database
    )));
    assert!(text.contains("ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', Count)"));

    let refused = db.run(&["schema", "apply", "--cluster", "telemetry_2x2"]);
    refused.expect(1);
    assert!(
        refused.stderr.contains("cluster 'telemetry_2x2' not found"),
        "{}",
        refused.stderr
    );
    let databases = scalar(
        &clickhouse::Client::default().with_url(&db.url),
        &format!(
            "SELECT count() FROM system.databases WHERE name = '{}'",
            db.database
        ),
    )
    .await;
    assert_eq!(databases, 0, "nothing created");

    let bad = db.run(&["schema", "apply", "--cluster", "no spaces"]);
    bad.expect(2);
    assert!(bad.stderr.contains("--cluster"), "{}", bad.stderr);
}
