//! The storage's health and the schema's status, on known data.

use crate::common;
use crate::known;

use std::time::Duration;

use crate::known::{SECOND, minutes_ago};
use tracing_clickhouse::health::{self, Thresholds, Urgency};
use tracing_clickhouse::{Limit, schema};

#[tokio::test(flavor = "multi_thread")]
async fn status_tells_what_apply_would_change_and_changes_nothing() {
    let config = common::builder("status")
        .limit(Limit::LogsTtlDays(7))
        .unwrap()
        .build_config()
        .unwrap();
    let status = schema::status(&config).await.unwrap();
    assert_eq!(status.installed, None);
    assert!(!status.is_current());
    assert_eq!(status.missing().count(), status.tables.len());
    assert_eq!(
        schema::status(&config).await.unwrap().installed,
        None,
        "status created nothing"
    );

    schema::apply(&config).await.unwrap();
    let status = schema::status(&config).await.unwrap();
    assert!(status.is_current(), "{status:?}");
    assert_eq!(status.installed, Some(schema::SCHEMA_VERSION));
    assert!(status.pending.is_empty());
    let table = |name: &str| {
        status
            .tables
            .iter()
            .find(|t| t.name == name)
            .unwrap()
            .clone()
    };
    assert_eq!(table("logs").ttl_days, Some(7));
    assert_eq!(table("logs").configured_ttl_days, Some(7));
    assert_eq!(table("spans").ttl_days, Some(180));
    assert_eq!(table("logs").engine, "MergeTree");
    assert_eq!(table("logs_by_level_mv").engine, "MaterializedView");

    let client = common::raw_client(&config);
    client
        .clone()
        .query("DROP TABLE events")
        .execute()
        .await
        .unwrap();
    let status = schema::status(&config).await.unwrap();
    let missing: Vec<&str> = status.missing().map(|t| t.name.as_str()).collect();
    assert_eq!(missing, ["events"]);
    assert!(!status.is_current());
}

#[tokio::test(flavor = "multi_thread")]
async fn health_counts_what_the_tables_hold_and_finds_what_needs_attention() {
    let config = common::config("health");
    schema::apply(&config).await.unwrap();
    let client = common::raw_client(&config);
    let base = minutes_ago(30);
    let logs = known::logs(base, 120);
    // Two inserts: two parts in one partition (unless they merged already).
    known::insert(&client, "logs", &logs[..60]).await;
    known::insert(&client, "logs", &logs[60..]).await;
    known::insert(&client, "events", &known::events(base)).await;

    let health = health::check(&config, Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(!health.server_version.is_empty());
    assert_eq!(health.schema_version, Some(schema::SCHEMA_VERSION));
    let table = |name: &str| health.tables.iter().find(|t| t.name == name).unwrap();
    let logs_health = table("logs");
    assert_eq!(logs_health.rows, 120);
    assert_eq!(logs_health.recent_rows, Some(120));
    assert_eq!(logs_health.oldest_ns, Some(base));
    assert_eq!(logs_health.newest_ns, Some(base + 119 * 10 * SECOND));
    assert!((1..=2).contains(&logs_health.parts), "{logs_health:?}");
    assert_eq!(logs_health.partitions, 1);
    assert!(logs_health.bytes_on_disk > 0 && logs_health.compression_ratio().unwrap() > 0.0);
    assert_eq!(logs_health.ttl_days, Some(180));
    assert_eq!(table("events").rows, 5);
    assert_eq!(table("spans").recent_rows, Some(0));
    assert_eq!(
        table("spans").oldest_ns,
        None,
        "an empty table has no oldest row"
    );
    assert!(!health.disks.is_empty());
    assert!(
        health.parts_to_delay_insert > 0
            && health.parts_to_throw_insert > health.parts_to_delay_insert
    );
    let mut no_disk_check = Thresholds::default();
    no_disk_check.min_free_disk = 0.0;
    assert_eq!(health.problems(&no_disk_check), [], "a healthy storage");
    let mut all_disk = Thresholds::default();
    all_disk.min_free_disk = 1.0;
    assert!(
        health
            .problems(&all_disk)
            .iter()
            .any(|p| p.subject.starts_with("disk "))
    );

    client
        .clone()
        .query("DROP TABLE spans")
        .execute()
        .await
        .unwrap();
    let health = health::check(&config, Duration::from_secs(60))
        .await
        .unwrap();
    let problems = health.problems(&no_disk_check);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(
        (problems[0].urgency, problems[0].subject.as_str()),
        (Urgency::Critical, "spans")
    );
    assert_eq!(
        health
            .tables
            .iter()
            .find(|t| t.name == "logs")
            .unwrap()
            .recent_rows,
        Some(0),
        "none in the last minute"
    );
}
