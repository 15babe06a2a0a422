//! `schema.sql` applied to a real engine: idempotent, retention honoured,
//! and the rollups fill as logs arrive.

mod common;

use std::time::Duration;

use common::scalar;
use serde::Deserialize;
use tracing::{Level, dispatcher};
use tracing_clickhouse::query::QueryClient;
use tracing_clickhouse::{Retention, schema};

#[derive(Debug, PartialEq, Deserialize, clickhouse::Row)]
struct TableDdl {
    name: String,
    create_table_query: String,
}

async fn tables(client: &clickhouse::Client, database: &str) -> Vec<TableDdl> {
    client
        .query(
            "SELECT name, create_table_query FROM system.tables \
             WHERE database = {db:String} ORDER BY name",
        )
        .param("db", database)
        .fetch_all()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_is_idempotent_and_creates_every_table() {
    let config = common::config("schema");
    let client = QueryClient::new(&config).unwrap();
    schema::apply(&config).await.unwrap();
    let first = tables(client.client(), config.database()).await;
    let names: Vec<_> = first.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "events",
            "logs",
            "logs_by_level",
            "logs_by_level_mv",
            "metrics",
            "metrics_daily",
            "metrics_daily_mv",
            "metrics_hourly",
            "metrics_hourly_mv",
            "schema_version",
            "spans",
        ]
    );

    client
        .client()
        .query(
            "INSERT INTO events (Timestamp, EventType, Source) VALUES (now64(9), 'deploy', 'ci')",
        )
        .execute()
        .await
        .unwrap();
    schema::apply(&config).await.unwrap();
    assert_eq!(
        tables(client.client(), config.database()).await,
        first,
        "a second apply changed the DDL"
    );
    assert_eq!(
        scalar(client.client(), "SELECT count() FROM events").await,
        1,
        "a second apply touched data"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_is_configurable() {
    let mut retention = Retention::default();
    retention.logs_days = 7;
    retention.spans_days = 3;
    retention.metrics_days = 400;
    retention.events_days = 30;
    let config = common::builder("ttl")
        .retention(retention)
        .and_then(tracing_clickhouse::Builder::build_config)
        .unwrap();
    schema::apply(&config).await.unwrap();
    let client = QueryClient::new(&config).unwrap();
    let ddl = tables(client.client(), config.database()).await;
    let ttl_of = |table: &str| {
        let ddl = &ddl
            .iter()
            .find(|t| t.name == table)
            .unwrap()
            .create_table_query;
        let at = ddl
            .find("toIntervalDay(")
            .unwrap_or_else(|| panic!("no TTL in {ddl}"));
        ddl[at..]
            .split(')')
            .next()
            .unwrap()
            .trim_start_matches("toIntervalDay(")
            .to_owned()
    };
    assert_eq!(ttl_of("logs"), "7");
    assert_eq!(ttl_of("logs_by_level"), "7");
    assert_eq!(ttl_of("spans"), "3");
    assert_eq!(ttl_of("metrics"), "400");
    assert_eq!(ttl_of("metrics_hourly"), "400");
    assert_eq!(ttl_of("events"), "30");
}

#[derive(Debug, PartialEq, Deserialize, clickhouse::Row)]
struct LevelCount {
    minute: u32,
    level: String,
    count: u64,
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_by_level_equals_the_raw_counts() {
    let (dispatch, telemetry) = common::start(common::config("rollup"));
    dispatcher::with_default(&dispatch, || {
        for i in 0..120u32 {
            match i % 4 {
                0 => tracing::event!(Level::ERROR, i, "e"),
                1 | 2 => tracing::event!(Level::WARN, i, "w"),
                _ => tracing::event!(Level::INFO, i, "i"),
            }
            // Several inserts, so the rollup gets several parts to re-aggregate.
            if i % 40 == 39 {
                telemetry.flush(Duration::from_secs(30)).unwrap();
            }
        }
    });
    telemetry.flush(Duration::from_secs(30)).unwrap();

    let client = telemetry.query().client();
    let rollup: Vec<LevelCount> = client
        .query(
            "SELECT toUnixTimestamp(Minute) AS minute, SeverityText AS level, sum(Count) AS count \
             FROM logs_by_level GROUP BY minute, level ORDER BY minute, level",
        )
        .fetch_all()
        .await
        .unwrap();
    let raw: Vec<LevelCount> = client
        .query(
            "SELECT toUnixTimestamp(toStartOfMinute(TimestampTime)) AS minute, \
             SeverityText AS level, count() AS count \
             FROM logs GROUP BY minute, level ORDER BY minute, level",
        )
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(rollup, raw);
    let per_level = |level: &str| {
        rollup
            .iter()
            .filter(|r| r.level == level)
            .map(|r| r.count)
            .sum::<u64>()
    };
    assert_eq!(per_level("ERROR"), 30);
    assert_eq!(per_level("WARN"), 60);
    assert_eq!(per_level("INFO"), 30);
}

/// The statements of a schema file in `schema.sql`'s form, filled in.
fn statements_of(sql: &str, database: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    for line in sql.lines().filter(|l| !l.trim().starts_with("--")) {
        current.push_str(line);
        current.push('\n');
        if line.trim().ends_with(';') {
            let statement = current
                .trim()
                .trim_end_matches(';')
                .replace("{{database}}", database)
                .replace("{{dedup_window}}", "10000");
            let statement = ["logs", "spans", "metrics", "events"]
                .iter()
                .fold(statement, |s, t| {
                    s.replace(&format!("{{{{{t}_ttl_days}}}}"), "30")
                });
            statements.push(statement);
            current.clear();
        }
    }
    statements
}

#[tokio::test(flavor = "multi_thread")]
async fn versions_are_recorded_once_and_a_newer_database_is_refused() {
    let config = common::config("versions");
    let client = QueryClient::new(&config).unwrap();
    let applied = schema::apply(&config).await.unwrap();
    assert_eq!((applied.from, applied.to), (None, schema::SCHEMA_VERSION));
    let again = schema::apply(&config).await.unwrap();
    assert_eq!(again.from, Some(schema::SCHEMA_VERSION));
    assert!(again.migrated.is_empty());
    let versions = "SELECT count() FROM schema_version";
    assert_eq!(scalar(client.client(), versions).await, 1, "recorded once");
    assert_eq!(
        schema::installed_version(&config).await.unwrap(),
        Some(schema::SCHEMA_VERSION)
    );

    // A newer crate migrated it since: this one refuses, and changes nothing.
    client
        .client()
        .query("INSERT INTO schema_version (Version, AppliedBy) VALUES (99, 'the future')")
        .execute()
        .await
        .unwrap();
    let before = tables(client.client(), config.database()).await;
    let error = schema::apply(&config).await.unwrap_err();
    assert!(
        matches!(
            error,
            tracing_clickhouse::Error::SchemaTooNew { found: 99, .. }
        ),
        "{error}"
    );
    assert!(
        error.to_string().contains("upgrade tracing-clickhouse"),
        "{error}"
    );
    assert_eq!(tables(client.client(), config.database()).await, before);
    // A pipeline says so once and goes on inserting: the columns are there.
    let (dispatch, telemetry) = common::start(config.clone());
    dispatcher::with_default(&dispatch, || {
        for i in 0..10 {
            tracing::info!(i, "into a newer schema");
        }
    });
    telemetry.flush(Duration::from_secs(30)).unwrap();
    assert_eq!(
        scalar(client.client(), "SELECT count() FROM logs").await,
        10
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_from_before_versions_is_version_1_and_keeps_its_rows() {
    let config = common::config("legacy");
    let client = QueryClient::new(&config).unwrap();
    let admin = client.client().clone().with_database("default");
    for statement in statements_of(include_str!("schemas/v1.sql"), config.database()) {
        admin.query(&statement).execute().await.unwrap();
    }
    client
        .client()
        .query(
            "INSERT INTO logs (Timestamp, SeverityText, SeverityNumber, ServiceName, Body) \
             VALUES (now64(9), 'INFO', 9, 'old', 'from version 1')",
        )
        .execute()
        .await
        .unwrap();
    assert_eq!(schema::installed_version(&config).await.unwrap(), Some(1));
    let applied = schema::apply(&config).await.unwrap();
    assert_eq!(applied.from, Some(1));
    let expected: Vec<u32> = (2..).take_while(|v| *v <= schema::SCHEMA_VERSION).collect();
    assert_eq!(applied.migrated, expected);
    assert_eq!(
        schema::installed_version(&config).await.unwrap(),
        Some(schema::SCHEMA_VERSION)
    );
    let body = client
        .client()
        .query("SELECT Body FROM logs")
        .fetch_all::<String>()
        .await
        .unwrap();
    assert_eq!(body, ["from version 1"]);
    assert_eq!(
        scalar(client.client(), "SELECT sum(Count) FROM logs_by_level").await,
        1
    );
}
