//! No feedback loop: with our layer as the global subscriber and no filter,
//! everything the flusher's transport emits while inserting (hyper,
//! the clickhouse crate, rustls, tokio) stays out of the tables.

#[path = "it/common/mod.rs"]
mod common;

use std::time::Duration;

use common::scalar;
use tracing_subscriber::prelude::*;

#[tokio::test(flavor = "multi_thread")]
async fn the_flusher_never_captures_its_own_work() {
    let (layer, telemetry) = common::builder("feedback").build().unwrap();
    // Global, so the flusher thread (and the query client's tasks) see it too;
    // every level, so nothing is filtered before our layer.
    tracing_subscriber::registry().with(layer).init();

    for round in 0..5 {
        tracing::info!(round, "application event");
        let flushed = tokio::task::block_in_place(|| telemetry.flush(Duration::from_secs(30)));
        flushed.unwrap();
        // Reads go through hyper and the clickhouse crate on this runtime too.
        let _ = telemetry
            .query()
            .log_stats(&Default::default())
            .await
            .unwrap();
    }
    tokio::task::block_in_place(|| telemetry.flush(Duration::from_secs(30))).unwrap();

    let config = telemetry.config();
    let client = &clickhouse::Client::default()
        .with_url(config.url())
        .with_database(config.database());
    assert_eq!(scalar(client, "SELECT count() FROM logs").await, 5);
    assert_eq!(
        scalar(
            client,
            "SELECT count() FROM logs WHERE Body != 'application event'"
        )
        .await,
        0
    );
    assert_eq!(
        scalar(client, "SELECT count() FROM spans").await,
        0,
        "no transport spans either"
    );
}
