//! The case-insensitive text search (`LogQuery::contains`, `chlog logs
//! --grep`) on the n-gram index of schema version 4: what it finds (case
//! folded, its wildcards literal), that a text no granule holds is answered
//! without reading the range, and that a version-3 database gets the index
//! by migration, ending with the table a fresh database has.

use std::time::Duration;

use crate::common::{self, scalar};
use crate::schemas::tables;
use tracing_clickhouse::query::{LogQuery, QueryClient, TimeRange};
use tracing_clickhouse::schema;

/// Rows of `request N completed` over the last 50 minutes (more granules
/// than a search should read), and among them the few the tests look for.
const ROWS: u64 = 300_000;
const NEEDLES: [&str; 5] = [
    "upstream said: Connection RESET by peer",
    "disk 50%_full on /var",
    "disk 50x full on /var",
    r"path C:\temp\x.log not found",
    "path C:temp.log not found",
];

/// The database, a client of the crate's and a raw one.
async fn filled(prefix: &str) -> (tracing_clickhouse::Config, QueryClient, clickhouse::Client) {
    let config = common::config(prefix);
    schema::apply(&config).await.unwrap();
    let client = QueryClient::new(&config).unwrap();
    let raw = common::raw_client(&config);
    raw.query(
            "INSERT INTO logs (Timestamp, SeverityText, SeverityNumber, ServiceName, Body) \
             SELECT now64(9) - toIntervalMillisecond(number * 10), 'INFO', 9, 'svc', \
             if(number % 60000 = 7 AND intDiv(number, 60000) < length(?), \
                (?)[intDiv(number, 60000) + 1], concat('request ', toString(number), ' completed')) \
             FROM numbers(?)",
        )
        .bind(NEEDLES.to_vec())
        .bind(NEEDLES.to_vec())
        .bind(ROWS)
        .execute()
        .await
        .unwrap();
    (config, client, raw)
}

async fn found(client: &QueryClient, text: &str) -> Vec<String> {
    let hour = TimeRange::last(Duration::from_secs(3600));
    let logs = client
        .query_logs(&LogQuery::new().range(hour).contains(text).limit(100))
        .await
        .unwrap();
    let mut bodies: Vec<String> = logs.entries.into_iter().map(|e| e.message).collect();
    bodies.sort();
    bodies
}

#[tokio::test(flavor = "multi_thread")]
async fn contains_folds_case_and_takes_its_wildcards_literally() {
    let (_, client, raw) = filled("body_search").await;
    assert_eq!(scalar(&raw, "SELECT count() FROM logs").await, ROWS);
    assert_eq!(found(&client, "reset BY PEER").await, [NEEDLES[0]]);
    // `%` and `_` are not wildcards: `50x full` does not match `50%_full`.
    assert_eq!(found(&client, "50%_FULL").await, [NEEDLES[1]]);
    assert_eq!(found(&client, "disk 50").await, [NEEDLES[1], NEEDLES[2]]);
    // Nor is the backslash an escape of the text.
    assert_eq!(found(&client, r"c:\TEMP").await, [NEEDLES[3]]);
    // Shorter than an n-gram: scanned, still found.
    assert_eq!(found(&client, "%_").await, [NEEDLES[1]]);
    assert_eq!(found(&client, "request 299999 completed").await.len(), 1);
}

/// A text that no row holds: the index skips every granule, so the search
/// reads a small part of the range's rows (all of them without the index).
#[tokio::test(flavor = "multi_thread")]
async fn a_text_no_row_holds_is_answered_without_reading_the_range() {
    let (config, client, raw) = filled("body_search_absent").await;
    let raw = &raw;
    let logged =
        "SELECT count() FROM system.tables WHERE database = 'system' AND name = 'query_log'";
    if scalar(raw, logged).await == 0 {
        // chDB before 26 (the engines `make compat` runs) keeps no query log.
        eprintln!("no system.query_log on this server: rows read not checked");
        return;
    }
    let marker: String = raw
        .query("SELECT toString(now64(6))")
        .fetch_one()
        .await
        .unwrap();
    assert!(
        found(&client, "connection refused by the mainframe")
            .await
            .is_empty()
    );
    raw.query("SYSTEM FLUSH LOGS").execute().await.unwrap();
    // The search's queries (the windows) and the rows they read, in one
    // read of the log.
    let (searches, read): (u64, u64) = raw
        .query(&format!(
            "SELECT count(), sum(read_rows) FROM system.query_log WHERE type = 'QueryFinish' \
             AND current_database = '{}' AND query LIKE '%lowerUTF8(Body) LIKE%' \
             AND query NOT LIKE '%query_log%' AND event_time_microseconds >= toDateTime64('{marker}', 6)",
            config.database()
        ))
        .fetch_one()
        .await
        .unwrap();
    assert!(searches >= 1, "the search is in the query log");
    assert!(read < ROWS / 10, "{read} of {ROWS} rows read");
}

/// A version-3 database (the index dropped, the version recorded 3)
/// migrates to 4: the index is back, the rows are kept, and `logs` is
/// defined as a fresh database defines it.
#[tokio::test(flavor = "multi_thread")]
async fn a_version_3_database_gets_the_index_by_migration() {
    let (config, client, raw) = filled("body_search_migrate").await;
    let raw = &raw;
    let fresh = tables(raw, config.database()).await;
    for statement in [
        "ALTER TABLE logs DROP INDEX idx_body_lower",
        "DELETE FROM schema_version WHERE 1",
        "INSERT INTO schema_version (Version, AppliedBy) VALUES (3, 'a test')",
    ] {
        raw.query(statement).execute().await.unwrap();
    }
    assert_eq!(schema::status(&config).await.unwrap().installed, Some(3));
    assert_ne!(tables(raw, config.database()).await, fresh);

    let applied = schema::apply(&config).await.unwrap();
    assert_eq!((applied.from, applied.migrated), (Some(3), vec![4]));
    assert_eq!(tables(raw, config.database()).await, fresh);
    assert_eq!(scalar(raw, "SELECT count() FROM logs").await, ROWS);
    assert_eq!(found(&client, "reset by peer").await, [NEEDLES[0]]);
    // Again: nothing to do.
    let again = schema::apply(&config).await.unwrap();
    assert_eq!((again.from, again.migrated), (Some(4), vec![]));
}
