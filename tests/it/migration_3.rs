//! Schema version 3 (`migrations/003_log_rollups.sql`) on a version-2
//! database with rows: every table keeps its rows, both rollups end up
//! counting exactly what `logs` holds, wherever the migration was
//! interrupted before it ran again, and the views feed them afterwards.

use crate::common;

use std::time::Duration;

use crate::common::scalar;
use crate::schemas::{
    V2, digests, migrated_keeping_rows, rollups_count_the_logs, sorting_key, statements_of, tables,
    with_rows,
};
use tracing::dispatcher;
use tracing_clickhouse::query::TimeRange;
use tracing_clickhouse::{Severity, schema};

const BY_LEVEL_KEY: &str =
    "toStartOfHour(Minute), ServiceName, SeverityText, ScopeName, SeverityNumber, Minute";

fn migration_3(database: &str) -> Vec<String> {
    statements_of(
        include_str!("../../migrations/003_log_rollups.sql"),
        database,
    )
}

/// Tables a run of the migration leaves behind when it stops half way.
async fn leftovers(client: &clickhouse::Client) -> u64 {
    scalar(
        client,
        "SELECT count() FROM system.tables WHERE database = currentDatabase() \
         AND name LIKE '%\\_v3'",
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_version_2_database_migrates_to_3_and_its_rollups_count_every_row() {
    let (config, client) = migrated_keeping_rows("migrate3", V2, Some(2)).await;
    rollups_count_the_logs(&client, "after the migration").await;
    assert_eq!(sorting_key(&client, "logs_by_level").await, BY_LEVEL_KEY);
    assert_eq!(leftovers(&client).await, 0);
    let status = schema::status(&config).await.unwrap();
    assert_eq!(status.installed, Some(schema::SCHEMA_VERSION));
    assert!(status.is_current(), "{status:?}");

    // The views feed both rollups from the pipeline's inserts.
    let (dispatch, telemetry) = common::start(config.clone());
    dispatcher::with_default(&dispatch, || {
        for i in 0..25 {
            tracing::error!(i, "request {i} failed after 0x{i:x} retries");
            tracing::info!(i, "fine");
        }
    });
    telemetry.flush(Duration::from_secs(30)).unwrap();
    let ours = "WHERE ServiceName = 'tc-test'";
    assert_eq!(
        scalar(
            &client,
            &format!("SELECT sum(Count) FROM logs_by_level {ours}")
        )
        .await,
        50
    );
    assert_eq!(
        scalar(
            &client,
            &format!("SELECT sum(Count) FROM logs_patterns {ours}")
        )
        .await,
        25
    );
    rollups_count_the_logs(&client, "after new rows").await;

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
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_migration_3_runs_again_and_counts_every_row_once() {
    let statements = migration_3("x").len();
    // Cut after: the copy made, its backfill, the old view dropped, the
    // exchange, the old rollup dropped, the view made; the patterns'
    // backfill, their exchange.
    for cut in [2, 4, 5, 6, 7, 8, 12, 14] {
        assert!(cut < statements);
        let (config, client) = with_rows("interrupted3", V2, Some(2)).await;
        let before = digests(&client).await;
        let admin = client.clone().with_database("default");
        for statement in &migration_3(config.database())[..cut] {
            admin.query(statement).execute().await.unwrap();
        }
        let applied = schema::apply(&config).await.unwrap();
        assert_eq!(
            applied.migrated,
            (3..=schema::SCHEMA_VERSION).collect::<Vec<u32>>(),
            "cut after {cut}"
        );
        assert_eq!(digests(&client).await, before, "cut after {cut}");
        rollups_count_the_logs(&client, &format!("cut after {cut}")).await;
        assert_eq!(leftovers(&client).await, 0, "cut after {cut}");
        assert_eq!(
            sorting_key(&client, "logs_by_level").await,
            BY_LEVEL_KEY,
            "cut after {cut}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_not_migrated_yet_is_answered_from_its_logs() {
    let (config, client) = with_rows("unmigrated", V2, Some(2)).await;
    let reader = tracing_clickhouse::query::QueryClient::new(&config).unwrap();
    let day = tracing_clickhouse::query::LogQuery::new().range(TimeRange::since(
        std::time::SystemTime::now() - Duration::from_secs(86_400),
    ));
    let stats = reader.log_stats(&day).await.unwrap();
    assert_eq!(stats.total, 3002);
    assert_eq!(stats.count(Severity::Warn), 1000);
    let volume = reader
        .log_volume(&day, Duration::from_secs(3600))
        .await
        .unwrap();
    let counted: u64 = volume.iter().flat_map(|b| b.by_level.values()).sum();
    assert_eq!(counted, 3002);
    let errors = day.min_level(Severity::Error);
    let patterns = reader.top_patterns(&errors, 10).await.unwrap().entries;
    let expected = scalar(
        &client,
        "SELECT count() FROM logs WHERE SeverityNumber >= 17",
    )
    .await;
    assert_eq!(patterns.iter().map(|p| p.count).sum::<u64>(), expected);
    assert_eq!(
        scalar(&client, "SELECT toUInt64(max(Version)) FROM schema_version").await,
        2,
        "reading migrated nothing"
    );
}
