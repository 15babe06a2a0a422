//! The `async_insert` option end to end: every row stored once, a batch
//! whose answer was lost retried with its token and not stored twice, and
//! the rollups exact (`logs` and `metrics` stay synchronous: views depend
//! on them). What it changes on the server is measured by
//! `make bench-async-insert` (see docs/operations.md, "Server-side batching").

use crate::common;

use std::time::Duration;

use crate::common::{DevServer, Options, arm_fault, scalar};
use tracing::dispatcher;
use tracing_clickhouse::schema;

#[tokio::test(flavor = "multi_thread")]
async fn async_inserts_store_every_row_once() {
    let server = DevServer::start(Options {
        faults: true,
        ..Options::default()
    });
    let db = "async_insert_test";
    schema::apply(&common::config_for(&server.url, db))
        .await
        .unwrap();
    let config = common::builder_for(&server.url, db)
        .async_insert(true)
        .create_schema(false)
        .build_config()
        .unwrap();
    assert!(format!("{config:?}").contains("async_insert: true"));
    // Stored, then the answer lost: once for spans, once for logs.
    for table in ["spans", "logs"] {
        let rule = format!(
            r#"{{"action": "drop", "phase": "after", "match": "INSERT INTO {table} ", "count": 1}}"#
        );
        arm_fault(&server.url, &rule);
    }
    let (dispatch, telemetry) = common::start(config);
    dispatcher::with_default(&dispatch, || {
        for i in 0..300 {
            let _span = tracing::info_span!("request", i).entered();
            tracing::warn!(i, "in a request");
        }
    });
    let telemetry = tokio::task::spawn_blocking(move || {
        telemetry.flush(Duration::from_secs(60)).unwrap();
        telemetry
    })
    .await
    .unwrap();
    let stats = telemetry.stats();
    assert_eq!(stats.sent_rows, 600);
    assert!(stats.retries >= 2, "{stats:?}");
    let client = clickhouse::Client::default()
        .with_url(&server.url)
        .with_database(db);
    assert_eq!(scalar(&client, "SELECT count() FROM spans").await, 300);
    assert_eq!(
        scalar(&client, "SELECT uniqExact(SpanId) FROM spans").await,
        300
    );
    assert_eq!(scalar(&client, "SELECT count() FROM logs").await, 300);
    assert_eq!(
        scalar(&client, "SELECT sum(Count) FROM logs_by_level").await,
        300
    );
}
