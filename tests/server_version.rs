//! The schema fitted to the server it goes to (issue 24): on whichever
//! ClickHouse the tests run against (`make test`: 26.9; `make compat`: the
//! older ones too), `apply` says what the server does without, the tables
//! take rows, and a `logs` table an earlier apply left with codecs the
//! server cannot write is repaired.

mod common;

use std::time::Duration;

use tracing::dispatcher;
use tracing_clickhouse::query::QueryClient;
use tracing_clickhouse::schema::{self, ServerVersion};

const DELTA_T64: ServerVersion = ServerVersion {
    major: 26,
    minor: 9,
};

async fn version(client: &clickhouse::Client) -> ServerVersion {
    let text = client
        .query("SELECT version()")
        .fetch_one::<String>()
        .await
        .unwrap();
    ServerVersion::parse(&text).unwrap()
}

async fn timestamp_codecs(client: &clickhouse::Client, database: &str) -> String {
    client
        .query(
            "SELECT compression_codec FROM system.columns \
             WHERE database = {db:String} AND table = 'logs' AND name = 'Timestamp'",
        )
        .param("db", database)
        .fetch_one()
        .await
        .unwrap()
}

/// Emits `n` logs through the pipeline and waits until they are stored.
fn emit_logs(config: tracing_clickhouse::Config, n: u32) {
    let (dispatch, telemetry) = common::start(config);
    dispatcher::with_default(&dispatch, || {
        for i in 0..n {
            tracing::info!(i, "fitted");
        }
    });
    telemetry.flush(Duration::from_secs(30)).unwrap();
    telemetry.shutdown(Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_schema_fits_the_server_and_says_what_it_left_out() {
    let config = common::config("fit");
    let applied = schema::apply(&config).await.unwrap();
    let client = QueryClient::new(&config).unwrap();
    let version = version(client.client()).await;
    let codecs = timestamp_codecs(client.client(), config.database()).await;
    let t64_note = applied.notes.iter().any(|n| n.contains("T64"));
    if version >= DELTA_T64 {
        assert!(codecs.contains("T64"), "{version}: {codecs}");
        assert!(!t64_note, "{:?}", applied.notes);
    } else {
        assert_eq!(codecs, "CODEC(Delta(8), ZSTD(1))", "{version}");
        assert!(t64_note, "{version}: {:?}", applied.notes);
        assert!(applied.notes[0].contains(&version.to_string()));
    }
    emit_logs(config.clone(), 500);
    assert_eq!(
        common::scalar(client.client(), "SELECT count() FROM logs").await,
        500
    );
    assert_eq!(
        common::scalar(client.client(), "SELECT sum(Count) FROM logs_by_level").await,
        500
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_logs_table_with_codecs_the_server_cannot_write_is_repaired() {
    let config = common::config("fit_repair");
    let client = QueryClient::new(&config).unwrap();
    let admin = client.client().clone().with_database("default");
    let version = version(&admin).await;
    // What an apply that did not fit the schema made: schema.sql as it is.
    for statement in schema::statements(&config) {
        admin.query(&statement).execute().await.unwrap();
    }
    assert!(
        timestamp_codecs(client.client(), config.database())
            .await
            .contains("T64")
    );
    schema::apply(&config).await.unwrap();
    let codecs = timestamp_codecs(client.client(), config.database()).await;
    assert_eq!(
        codecs.contains("T64"),
        version >= DELTA_T64,
        "{version}: {codecs}"
    );
    emit_logs(config.clone(), 300);
    assert_eq!(
        common::scalar(client.client(), "SELECT count() FROM logs").await,
        300
    );
}
