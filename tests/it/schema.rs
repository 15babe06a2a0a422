//! `schema.sql` applied to a real engine: idempotent, retention honoured,
//! and the rollups fill as logs arrive.

use crate::common;

use std::time::Duration;

use crate::common::scalar;
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

/// A version-1 database (the fixture) with rows in every table, the
/// rollups fed by their views as the rows went in.
async fn version_1_with_rows(prefix: &str) -> (tracing_clickhouse::Config, clickhouse::Client) {
    let config = common::config(prefix);
    let client = QueryClient::new(&config).unwrap().client().clone();
    let admin = client.clone().with_database("default");
    for statement in statements_of(include_str!("schemas/v1.sql"), config.database()) {
        admin.query(&statement).execute().await.unwrap();
    }
    // Times in the last hours (within the fixture's 30-day TTL), some rows
    // in traces, and two identical rows, which must stay two.
    let now = "toUnixTimestamp64Nano(now64(9))";
    for sql in [
        format!(
            "INSERT INTO logs (Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, \
             ServiceName, Body, ResourceAttributes, ScopeName, LogAttributes) \
             SELECT fromUnixTimestamp64Nano({now} - number * 4999999937), \
             if(number % 3 = 0, concat(lower(hex(cityHash64(number))), lower(hex(cityHash64(number, 2)))), ''), \
             if(number % 3 = 0, lower(hex(cityHash64(number, 1))), ''), toUInt8(number % 3 = 0), \
             ['INFO', 'WARN', 'ERROR'][1 + number % 3], [9, 13, 17][1 + number % 3], \
             concat('svc', toString(number % 4)), concat('order ', toString(number), ' created'), \
             map('service.name', concat('svc', toString(number % 4)), 'process.pid', '42'), \
             concat('app::m', toString(number % 5)), \
             map('n', toString(number), 'code.line.number', toString(number % 90)) \
             FROM numbers(3000)"
        ),
        "INSERT INTO logs (Timestamp, SeverityText, SeverityNumber, ServiceName, Body) VALUES \
         (now64(9), 'INFO', 9, 'twin', 'same'), (now64(9), 'INFO', 9, 'twin', 'same')"
            .to_owned(),
        "INSERT INTO spans (Timestamp, TraceId, SpanId, SpanName, ServiceName, Duration) \
         SELECT now64(9) - toIntervalSecond(number), hex(number), hex(number * 7), 'op', 'svc', number \
         FROM numbers(50)"
            .to_owned(),
        "INSERT INTO metrics (TimeUnix, MetricName, MetricKind, ServiceName, Value) \
         SELECT now64(9) - toIntervalSecond(number * 60), 'm', 'gauge', 'svc', number / 3 \
         FROM numbers(50)"
            .to_owned(),
        "INSERT INTO events (Timestamp, EventType, Source, Details) \
         SELECT now64(9) - toIntervalSecond(number), 'deploy', 'ci', map('n', toString(number)) \
         FROM numbers(20)"
            .to_owned(),
    ] {
        client.query(&sql).execute().await.unwrap();
    }
    (config, client)
}

/// Rows and a content digest of every table, over the columns both
/// versions have (`TimestampTime` included: stored in 1, an ALIAS in 2);
/// the rollups re-aggregated, as their readers do.
async fn digests(client: &clickhouse::Client) -> Vec<(String, u64, u64)> {
    let logs = "Timestamp, TimestampTime, TraceId, SpanId, TraceFlags, SeverityText, \
                SeverityNumber, ServiceName, Body, ResourceSchemaUrl, ResourceAttributes, \
                ScopeSchemaUrl, ScopeName, ScopeVersion, ScopeAttributes, LogAttributes";
    let sources = [
        ("logs", format!("SELECT {logs} FROM logs")),
        ("spans", "SELECT * FROM spans".to_owned()),
        ("metrics", "SELECT * FROM metrics".to_owned()),
        ("events", "SELECT * FROM events".to_owned()),
        (
            "logs_by_level",
            "SELECT Minute, ServiceName, SeverityText, sum(Count) FROM logs_by_level \
             GROUP BY ALL"
                .to_owned(),
        ),
        (
            "metrics_hourly",
            "SELECT Hour, ServiceName, MetricName, Attributes, sum(ValueSum), sum(ValueCount), \
             min(ValueMin), max(ValueMax) FROM metrics_hourly GROUP BY ALL"
                .to_owned(),
        ),
    ];
    let mut out = Vec::new();
    for (table, select) in sources {
        #[derive(Deserialize, clickhouse::Row)]
        struct Digest {
            rows: u64,
            digest: u64,
        }
        let d: Digest = client
            .query(&format!(
                "SELECT count() AS rows, sum(cityHash64(*)) AS digest FROM ({select})"
            ))
            .fetch_one()
            .await
            .unwrap_or_else(|e| panic!("{table}: {e}"));
        out.push((table.to_owned(), d.rows, d.digest));
    }
    out
}

async fn sorting_key(client: &clickhouse::Client, table: &str) -> String {
    client
        .query(
            "SELECT sorting_key FROM system.tables \
             WHERE database = currentDatabase() AND name = ?",
        )
        .bind(table)
        .fetch_one::<String>()
        .await
        .unwrap()
}

const NEW_KEY: &str = "toStartOfHour(Timestamp), ServiceName, SeverityText, ScopeName, Timestamp";

#[tokio::test(flavor = "multi_thread")]
async fn a_version_1_database_migrates_to_2_with_every_row() {
    let (config, client) = version_1_with_rows("migrate").await;
    let before = digests(&client).await;
    assert_eq!(before[0].1, 3002, "{before:?}");
    assert!(before[4].1 > 0, "the rollup was fed: {before:?}");

    let applied = schema::apply(&config).await.unwrap();
    assert_eq!((applied.from, applied.migrated.clone()), (Some(1), vec![2]));
    assert_eq!(
        digests(&client).await,
        before,
        "the same rows in every table"
    );
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
    assert_eq!(status.installed, Some(2));
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
    assert_eq!((again.from, again.migrated), (Some(2), vec![]));
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
        let (config, client) = version_1_with_rows("interrupted").await;
        let before = digests(&client).await;
        let admin = client.clone().with_database("default");
        // As `schema::apply` would run them on this server (an older ClickHouse).
        let version = common::server_version(&admin).await;
        for statement in &schema::fit_to(version, migration_2(config.database()))[..cut] {
            admin.query(statement).execute().await.unwrap();
        }
        let applied = schema::apply(&config).await.unwrap();
        assert_eq!(applied.migrated, [2], "cut after {cut}");
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
