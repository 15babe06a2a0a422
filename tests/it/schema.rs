//! `schema.sql` applied to a real engine: idempotent, retention honoured,
//! and the rollups fill as logs arrive.

use crate::common;
use crate::schemas::{
    V1, digests, migrated_keeping_rows, sorting_key, statements_of, tables, with_rows,
};

use std::time::Duration;

use crate::common::scalar;
use serde::Deserialize;
use tracing::{Level, dispatcher};
use tracing_clickhouse::{Limit, schema};

#[tokio::test(flavor = "multi_thread")]
async fn apply_is_idempotent_and_creates_every_table() {
    let config = common::config("schema");
    let client = common::raw_client(&config);
    schema::apply(&config).await.unwrap();
    let first = tables(&client, config.database()).await;
    let names: Vec<_> = first.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "events",
            "logs",
            "logs_by_level",
            "logs_by_level_mv",
            "logs_patterns",
            "logs_patterns_mv",
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
        .clone()
        .query(
            "INSERT INTO events (Timestamp, EventType, Source) VALUES (now64(9), 'deploy', 'ci')",
        )
        .execute()
        .await
        .unwrap();
    schema::apply(&config).await.unwrap();
    assert_eq!(
        tables(&client, config.database()).await,
        first,
        "a second apply changed the DDL"
    );
    assert_eq!(
        scalar(&client, "SELECT count() FROM events").await,
        1,
        "a second apply touched data"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_is_configurable() {
    let retention = [
        Limit::LogsTtlDays(7),
        Limit::SpansTtlDays(3),
        Limit::MetricsTtlDays(400),
        Limit::EventsTtlDays(30),
    ];
    let config = retention
        .into_iter()
        .try_fold(common::builder("ttl"), tracing_clickhouse::Builder::limit)
        .and_then(tracing_clickhouse::Builder::build_config)
        .unwrap();
    schema::apply(&config).await.unwrap();
    let client = common::raw_client(&config);
    let ddl = tables(&client, config.database()).await;
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

    let client = &common::raw_client(telemetry.config());
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

#[tokio::test(flavor = "multi_thread")]
async fn versions_are_recorded_once_and_a_newer_database_is_refused() {
    let config = common::config("versions");
    let client = common::raw_client(&config);
    let applied = schema::apply(&config).await.unwrap();
    assert_eq!((applied.from, applied.to), (None, schema::SCHEMA_VERSION));
    let again = schema::apply(&config).await.unwrap();
    assert_eq!(again.from, Some(schema::SCHEMA_VERSION));
    assert!(again.migrated.is_empty());
    let versions = "SELECT count() FROM schema_version";
    assert_eq!(scalar(&client, versions).await, 1, "recorded once");
    assert_eq!(
        schema::status(&config).await.unwrap().installed,
        Some(schema::SCHEMA_VERSION)
    );

    // A newer crate migrated it since: this one refuses, and changes nothing.
    client
        .clone()
        .query("INSERT INTO schema_version (Version, AppliedBy) VALUES (99, 'the future')")
        .execute()
        .await
        .unwrap();
    let before = tables(&client, config.database()).await;
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
    assert_eq!(tables(&client, config.database()).await, before);
    // A pipeline says so once and goes on inserting: the columns are there.
    let (dispatch, telemetry) = common::start(config.clone());
    dispatcher::with_default(&dispatch, || {
        for i in 0..10 {
            tracing::info!(i, "into a newer schema");
        }
    });
    telemetry.flush(Duration::from_secs(30)).unwrap();
    assert_eq!(scalar(&client, "SELECT count() FROM logs").await, 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_from_before_versions_is_version_1_and_keeps_its_rows() {
    let config = common::config("legacy");
    let client = common::raw_client(&config);
    let admin = client.clone().with_database("default");
    for statement in statements_of(V1, config.database()) {
        admin.query(&statement).execute().await.unwrap();
    }
    client
        .clone()
        .query(
            "INSERT INTO logs (Timestamp, SeverityText, SeverityNumber, ServiceName, Body) \
             VALUES (now64(9), 'INFO', 9, 'old', 'from version 1')",
        )
        .execute()
        .await
        .unwrap();
    assert_eq!(schema::status(&config).await.unwrap().installed, Some(1));
    let applied = schema::apply(&config).await.unwrap();
    assert_eq!(applied.from, Some(1));
    let expected: Vec<u32> = (2..).take_while(|v| *v <= schema::SCHEMA_VERSION).collect();
    assert_eq!(applied.migrated, expected);
    assert_eq!(
        schema::status(&config).await.unwrap().installed,
        Some(schema::SCHEMA_VERSION)
    );
    let body = client
        .clone()
        .query("SELECT Body FROM logs")
        .fetch_all::<String>()
        .await
        .unwrap();
    assert_eq!(body, ["from version 1"]);
    assert_eq!(
        scalar(&client, "SELECT sum(Count) FROM logs_by_level").await,
        1
    );
}

const NEW_KEY: &str = "toStartOfHour(Timestamp), ServiceName, SeverityText, ScopeName, Timestamp";

#[tokio::test(flavor = "multi_thread")]
async fn a_version_1_database_migrates_to_2_with_every_row() {
    let (config, client) = migrated_keeping_rows("migrate", V1, None).await;
    assert_eq!(sorting_key(&client, "logs").await, NEW_KEY);
    assert_eq!(
        scalar(&client, "SELECT count() FROM logs_before_v2").await,
        3002,
        "the old table is kept"
    );
    // Strings in one stream where the server offers the choice, the
    // copied rows included.
    let offers = scalar(
        &client,
        "SELECT count() FROM system.merge_tree_settings \
         WHERE name = 'string_serialization_version'",
    )
    .await;
    let single = scalar(
        &client,
        "SELECT count() FROM system.tables WHERE database = currentDatabase() \
         AND name = 'logs' AND create_table_query LIKE '%string_serialization_version = \\'single_stream\\'%'",
    )
    .await;
    assert_eq!(single, offers);
    let status = schema::status(&config).await.unwrap();
    assert_eq!(status.installed, Some(schema::SCHEMA_VERSION));
    assert!(status.pending.is_empty(), "{:?}", status.pending);

    // The rollup is fed by the new table, through the pipeline's insert.
    let (dispatch, telemetry) = common::start(config.clone());
    dispatcher::with_default(&dispatch, || {
        for i in 0..25 {
            tracing::error!(i, "after the migration");
        }
    });
    telemetry.flush(Duration::from_secs(30)).unwrap();
    let rolled = "SELECT sum(Count) FROM logs_by_level WHERE ServiceName = 'tc-test'";
    assert_eq!(scalar(&client, rolled).await, 25);
    assert_eq!(scalar(&client, "SELECT count() FROM logs").await, 3027);

    // Applying again changes nothing.
    let after = digests(&client).await;
    let ddl = tables(&client, config.database()).await;
    let again = schema::apply(&config).await.unwrap();
    assert_eq!(
        (again.from, again.migrated),
        (Some(schema::SCHEMA_VERSION), vec![])
    );
    assert_eq!(digests(&client).await, after);
    assert_eq!(tables(&client, config.database()).await, ddl);
    assert_eq!(
        scalar(
            &client,
            "SELECT count() FROM schema_version WHERE Version = 2"
        )
        .await,
        1
    );
}

/// The migration's statements, filled in as `statements_of` does.
fn migration_2(database: &str) -> Vec<String> {
    statements_of(
        include_str!("../../migrations/002_logs_layout.sql"),
        database,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_migration_runs_again_without_losing_a_row() {
    let statements = migration_2("x").len();
    // Cut after: the new table made, the copy, the exchange, the rename,
    // the view dropped.
    for cut in [2, 4, 5, 7, 8] {
        assert!(cut < statements);
        let (config, client) = with_rows("interrupted", V1, None).await;
        let before = digests(&client).await;
        let admin = client.clone().with_database("default");
        // As `schema::apply` would run them on this server (an older ClickHouse).
        let version = common::server_version(&admin).await;
        for statement in &schema::fit_to(version, migration_2(config.database()))[..cut] {
            admin.query(statement).execute().await.unwrap();
        }
        let applied = schema::apply(&config).await.unwrap();
        assert_eq!(
            applied.migrated,
            (2..=schema::SCHEMA_VERSION).collect::<Vec<u32>>(),
            "cut after {cut}"
        );
        assert_eq!(digests(&client).await, before, "cut after {cut}");
        assert_eq!(
            sorting_key(&client, "logs").await,
            NEW_KEY,
            "cut after {cut}"
        );
        assert_eq!(
            scalar(
                &client,
                "SELECT count() FROM system.tables \
                 WHERE database = currentDatabase() AND name = 'logs_v2'"
            )
            .await,
            0,
            "cut after {cut}"
        );
    }
}
