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
