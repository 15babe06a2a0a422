//! The devserver, seen through the `clickhouse` crate and through our own
//! pipeline: deduplication tokens reach the engine, errors carry their
//! ClickHouse code, authentication is enforced, data survives a restart, and
//! HTTPS works with a CA of our own.

use crate::common;

use std::time::Duration;

use crate::common::{DevServer, Options, scalar};
use tracing::dispatcher;

fn raw_client(url: &str) -> clickhouse::Client {
    clickhouse::Client::default().with_url(url)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_insert_repeated_with_its_dedup_token_is_stored_once() {
    let client = raw_client(&common::url());
    let db = common::unique_database("dedup");
    client
        .query(&format!("CREATE DATABASE {db}"))
        .execute()
        .await
        .unwrap();
    let client = client.with_database(&db);
    client
        .query(
            "CREATE TABLE t (n UInt32, s String) ENGINE = MergeTree ORDER BY n \
             SETTINGS non_replicated_deduplication_window = 100",
        )
        .execute()
        .await
        .unwrap();
    let rows = bytes::Bytes::from_static(b"{\"n\":1,\"s\":\"a\"}\n{\"n\":2,\"s\":\"b\"}\n");
    for token in ["batch-1", "batch-1", "batch-2"] {
        let mut insert = client
            .insert_formatted_with("INSERT INTO t FORMAT JSONEachRow")
            .with_setting("insert_deduplication_token", token);
        insert.send(rows.clone()).await.unwrap();
        insert.end().await.unwrap();
    }
    // batch-1 twice stores once; batch-2 is another batch with the same rows.
    assert_eq!(scalar(&client, "SELECT count() FROM t").await, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_carry_their_clickhouse_code() {
    let client = raw_client(&common::url());
    let cases = [
        ("SELECT * FROM system.no_such_table", "Code: 60."),
        ("SELEC 1", "Code: 62."),
        ("SELECT * FROM no_such_database.t", "Code: 81."),
    ];
    for (sql, code) in cases {
        let err = client.query(sql).fetch_all::<u8>().await.unwrap_err();
        match &err {
            clickhouse::error::Error::BadResponse(text) => {
                assert!(text.starts_with(code), "{sql}: {text}");
                assert!(text.contains("DB::Exception"), "{sql}: {text}");
            }
            other => panic!("{sql}: expected a server error, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn authentication_is_enforced_when_configured() {
    let server = DevServer::start(Options {
        user: Some(("writer".into(), "s3cret-pw".into())),
        ..Options::default()
    });
    let anonymous = raw_client(&server.url);
    let wrong = raw_client(&server.url)
        .with_user("writer")
        .with_password("nope");
    for client in [anonymous, wrong] {
        let err = client
            .query("SELECT 1")
            .fetch_one::<u8>()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("Code: 516."), "{err}");
    }
    let right = raw_client(&server.url)
        .with_user("writer")
        .with_password("s3cret-pw");
    assert_eq!(right.query("SELECT 7").fetch_one::<u8>().await.unwrap(), 7);

    // Our pipeline with a wrong password: a clear error, without the password.
    // (The flush retries until its deadline; a few seconds leave room for a
    // loaded machine.)
    let config = common::builder_for(&server.url, "auth_test")
        .user("writer")
        .password("wrong-pw-1234");
    let (dispatch, telemetry) = common::start(config.build_config().unwrap());
    dispatcher::with_default(&dispatch, || tracing::info!("not stored"));
    let err = tokio::task::spawn_blocking(move || {
        let err = telemetry
            .flush(Duration::from_secs(3))
            .unwrap_err()
            .to_string();
        (err, telemetry.shutdown(Duration::from_millis(100)))
    })
    .await
    .unwrap();
    assert!(err.0.contains("516"), "{}", err.0);
    assert!(!err.0.contains("wrong-pw-1234"), "{}", err.0);
    assert_eq!(err.1.unsent_rows, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn data_survives_a_restart() {
    let data = common::temp_dir("restart");
    let options = Options {
        data_dir: Some(data.path().to_owned()),
        ..Options::default()
    };
    let mut first = DevServer::start(options.clone());
    let (dispatch, telemetry) = common::start(common::config_for(&first.url, "restart_test"));
    dispatcher::with_default(&dispatch, || {
        for i in 0..250 {
            tracing::info!(i, "kept across restarts");
        }
    });
    tokio::task::spawn_blocking(move || telemetry.flush(Duration::from_secs(30)))
        .await
        .unwrap()
        .unwrap();
    first.stop();

    let second = DevServer::start(options);
    let client = raw_client(&second.url).with_database("restart_test");
    assert_eq!(scalar(&client, "SELECT count() FROM logs").await, 250);
    assert_eq!(
        scalar(&client, "SELECT sum(Count) FROM logs_by_level").await,
        250
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn https_with_a_custom_ca() {
    let dir = common::temp_dir("tls");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    let (ca_pem, cert_pem, key_pem) = (
        dir.path().join("ca.pem"),
        dir.path().join("cert.pem"),
        dir.path().join("key.pem"),
    );
    std::fs::write(&ca_pem, ca.pem()).unwrap();
    std::fs::write(&cert_pem, server_cert.pem()).unwrap();
    std::fs::write(&key_pem, server_key.serialize_pem()).unwrap();

    let server = DevServer::start(Options {
        tls: Some((cert_pem, key_pem)),
        ..Options::default()
    });
    assert!(server.url.starts_with("https://"), "{}", server.url);

    let trusting = common::builder_for(&server.url, "tls_test")
        .ca_cert(&ca_pem)
        .and_then(|b| b.build_config())
        .unwrap();
    assert!(trusting.url().starts_with("https://"));
    let (dispatch, telemetry) = common::start(trusting);
    dispatcher::with_default(&dispatch, || tracing::info!("over TLS"));
    let telemetry = tokio::task::spawn_blocking(move || {
        telemetry.flush(Duration::from_secs(30)).unwrap();
        telemetry
    })
    .await
    .unwrap();
    let logs = telemetry
        .query()
        .log_stats(&Default::default())
        .await
        .unwrap();
    assert_eq!(logs.total, 1);

    // Without our CA the server is not trusted.
    let untrusting = common::config_for(&server.url, "tls_test");
    let client = tracing_clickhouse::query::QueryClient::new(&untrusting).unwrap();
    let err = client.log_stats(&Default::default()).await.unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
}
