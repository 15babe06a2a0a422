//! The schema fitted to the server it goes to (issue 24). Each test asks
//! the server's version and checks what the crate must do on it, so that
//! the same tests run on every ClickHouse: `make test` runs them on 26.9
//! and 24.8, `make compat` on 23.10, 25.8 and, for the refusal, on 23.6
//! (older than the oldest supported).
//!
//! - Older than `MIN_SERVER_VERSION`: `apply` is refused by name before
//!   anything changes, and the pipeline reports it and sends nothing.
//! - Older than what a part of the schema needs: `apply` leaves it out and
//!   says so in one line; the tables take rows; a table an earlier apply
//!   left with codecs the server cannot write is repaired.

use crate::common;

use std::time::Duration;

use tracing::dispatcher;
use tracing_clickhouse::schema::{self, MIN_SERVER_VERSION, ServerVersion};
use tracing_clickhouse::{Config, Error};

const DELTA_T64: ServerVersion = ServerVersion {
    major: 26,
    minor: 9,
};

/// The server's version, asked without a database of ours.
async fn version(config: &Config) -> ServerVersion {
    common::server_version(&admin(config)).await
}

fn admin(config: &Config) -> clickhouse::Client {
    let client = common::raw_client(config);
    client.clone().with_database("default")
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
fn emit_logs(config: Config, n: u32) {
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
async fn an_older_server_is_refused_by_name_and_nothing_changes() {
    let config = common::config("too_old");
    let version = version(&config).await;
    let databases = format!(
        "SELECT count() FROM system.databases WHERE name = '{}'",
        config.database()
    );
    match schema::apply(&config).await {
        Err(Error::ServerTooOld { found, minimum }) => {
            assert!(version < MIN_SERVER_VERSION, "{version}");
            assert_eq!(
                (found, minimum),
                (version.to_string(), MIN_SERVER_VERSION.to_string())
            );
            assert_eq!(common::scalar(&admin(&config), &databases).await, 0);
        }
        Ok(_) => assert!(version >= MIN_SERVER_VERSION, "{version}"),
        Err(other) => panic!("{version}: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pipeline_says_an_older_server_is_refused_and_sends_nothing() {
    let config = common::config("too_old_pipeline");
    let version = version(&config).await;
    let (dispatch, telemetry) = common::start(config.clone());
    dispatcher::with_default(&dispatch, || tracing::info!("to an old server"));
    // Refused: a few seconds show whether it is tried in a loop. Supported:
    // long enough for an older engine to create the schema on a loaded
    // machine (the insert's time is bounded by what is left of the flush's).
    let refused = version < MIN_SERVER_VERSION;
    let flushed = telemetry.flush(Duration::from_secs(if refused { 5 } else { 60 }));
    let stats = telemetry.stats();
    if refused {
        let error = flushed.unwrap_err().to_string();
        assert!(
            error.contains(&format!(
                "ClickHouse {version} is older than {MIN_SERVER_VERSION}"
            )),
            "{error}"
        );
        // The schema was refused before any insert, and not tried in a loop.
        assert_eq!((stats.sent_rows, stats.pending_rows), (0, 1), "{stats:?}");
        assert!(stats.failed_schema <= 2, "{stats:?}");
    } else {
        flushed.unwrap();
        assert_eq!(stats.sent_rows, 1, "{stats:?}");
    }
    telemetry.shutdown(Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_schema_fits_the_server_and_says_what_it_left_out() {
    let config = common::config("fit");
    let version = version(&config).await;
    if version < MIN_SERVER_VERSION {
        return; // refused: the tests above
    }
    let applied = schema::apply(&config).await.unwrap();
    let client = common::raw_client(&config);
    let codecs = timestamp_codecs(&client, config.database()).await;
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
        common::scalar(&client, "SELECT count() FROM logs").await,
        500
    );
    assert_eq!(
        common::scalar(&client, "SELECT sum(Count) FROM logs_by_level").await,
        500
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_logs_table_with_codecs_the_server_cannot_write_is_repaired() {
    let config = common::config("fit_repair");
    let version = version(&config).await;
    if version < MIN_SERVER_VERSION {
        return; // refused: the tests above
    }
    // What an apply that did not fit the schema made: schema.sql as it is.
    let admin = admin(&config);
    for statement in schema::statements(&config) {
        admin.query(&statement).execute().await.unwrap();
    }
    assert!(
        timestamp_codecs(&admin, config.database())
            .await
            .contains("T64")
    );
    schema::apply(&config).await.unwrap();
    let codecs = timestamp_codecs(&admin, config.database()).await;
    assert_eq!(
        codecs.contains("T64"),
        version >= DELTA_T64,
        "{version}: {codecs}"
    );
    emit_logs(config.clone(), 300);
    let client = common::raw_client(&config);
    assert_eq!(
        common::scalar(&client, "SELECT count() FROM logs").await,
        300
    );
}
