//! Several endpoints: a batch goes to a healthy one, a failing one is set
//! aside and probed back with `/ping`, and a batch whose outcome is unknown
//! goes on with the same deduplication token.
//!
//! Three independent devservers stand for the replicas of a cluster; they
//! share no Keeper, so a batch one of them stored before its answer was lost
//! and that another then took is stored on both: those duplicates are
//! counted, and are exactly that batch (on `Replicated` tables the token is
//! checked cluster-wide, and it would be stored once). One devserver behind
//! two URLs shows the other side: the same token reaches the same table,
//! and nothing is duplicated.

use crate::common;

use std::time::{Duration, Instant};

use crate::common::{DevServer, Options, arm_fault, scalar};
use tracing::{Dispatch, dispatcher};
use tracing_clickhouse::{Config, Telemetry, schema};

const DB: &str = "endpoints_test";
const WAVE: u64 = 100;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

fn client(url: &str) -> clickhouse::Client {
    clickhouse::Client::default()
        .with_url(url)
        .with_database(DB)
}

/// `WAVE` log lines, `wave-N i`, flushed.
fn wave(dispatch: &Dispatch, telemetry: &Telemetry, n: u64) {
    dispatcher::with_default(dispatch, || {
        for i in 0..WAVE {
            tracing::info!("wave-{n} {i}");
        }
    });
    telemetry.flush(Duration::from_secs(60)).unwrap();
}

fn count(rt: &tokio::runtime::Runtime, url: &str, sql: &str) -> u64 {
    rt.block_on(scalar(&client(url), sql))
}

fn config(urls: &[&str]) -> Config {
    common::builder_for(urls[0], DB)
        .endpoints(urls)
        .unwrap()
        .create_schema(false)
        .build_config()
        .unwrap()
}

#[test]
fn every_event_is_stored_across_a_killed_and_a_failing_server() {
    let rt = runtime();
    let mut a = DevServer::start(Options::default());
    let b = DevServer::start(Options {
        faults: true,
        ..Options::default()
    });
    let c = DevServer::start(Options::default());
    let urls = [a.url.clone(), b.url.clone(), c.url.clone()];
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    for url in &urls {
        rt.block_on(schema::apply(&common::config_for(url, DB)))
            .unwrap();
    }
    let config = config(&urls);
    assert_eq!(config.endpoints(), urls);
    let (dispatch, telemetry) = common::start(config);

    // 1: the first endpoint takes it.
    wave(&dispatch, &telemetry, 1);
    assert_eq!(count(&rt, &a.url, "SELECT count() FROM logs"), WAVE);

    // 2: the first is SIGKILLed; the second stores the batch but its answer
    // is lost (the connection dropped after the insert), so the batch, with
    // its token, goes on to the third. Then the second fails for a while.
    // Kept until the end: the restarted server reads it.
    let _a_data = a.keep_data();
    let (a_port, a_dir) = (a.port(), a.data_dir.clone());
    a.kill();
    let drop_after =
        r#"{"action": "drop", "phase": "after", "match": "INSERT INTO logs", "count": 1}"#;
    arm_fault(&b.url, drop_after);
    let failing = r#"{"action": "error", "code": 210, "status": 500, "match": "INSERT INTO logs", "count": 3}"#;
    arm_fault(&b.url, failing);
    wave(&dispatch, &telemetry, 2);

    // 3, 4: after their pauses, the dead first endpoint fails its /ping
    // and the second (whose /ping answers) takes batches again but fails
    // them: the third stores them.
    for n in [3, 4] {
        std::thread::sleep(Duration::from_millis(1_200));
        wave(&dispatch, &telemetry, n);
    }

    // 5: the first comes back (same port, same data); once its pause is
    // over its /ping answers and it is preferred again.
    let a = DevServer::start(Options {
        data_dir: Some(a_dir),
        port: a_port,
        ..Options::default()
    });
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut n = 5;
    loop {
        std::thread::sleep(Duration::from_millis(500));
        wave(&dispatch, &telemetry, n);
        if count(
            &rt,
            &a.url,
            &format!("SELECT count() FROM logs WHERE Body LIKE 'wave-{n} %'"),
        ) > 0
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first endpoint never came back"
        );
        n += 1;
    }
    let waves = n;
    let stats = telemetry.stats();
    drop(telemetry);

    // Every event is stored, somewhere.
    let emitted = waves * WAVE;
    assert_eq!(stats.sent_rows, emitted);
    let bodies = |url: &str| -> Vec<String> {
        rt.block_on(
            client(url)
                .query("SELECT Body FROM logs")
                .fetch_all::<String>(),
        )
        .unwrap()
    };
    let all: Vec<String> = urls.iter().flat_map(|u| bodies(u)).collect();
    let mut distinct = all.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len() as u64, emitted, "an event is missing");

    // The only duplicates: the batch the second endpoint stored when its
    // answer was lost, also stored by the third. Nothing else reached it.
    let on_b = count(&rt, &b.url, "SELECT count() FROM logs");
    let duplicates = all.len() as u64 - emitted;
    eprintln!(
        "endpoints: {emitted} events in {waves} waves, {} rows stored on three independent \
         servers, {duplicates} duplicates (the batch whose answer was lost)",
        all.len()
    );
    assert!(on_b > 0 && on_b <= WAVE, "{on_b}");
    assert_eq!(duplicates, on_b);
    let on_c = bodies(&c.url);
    assert!(
        bodies(&b.url).iter().all(|body| on_c.contains(body)),
        "the second's rows are the third's duplicates"
    );
    // The first has its own waves: the first and the last.
    assert_eq!(
        count(
            &rt,
            &a.url,
            "SELECT count() FROM logs WHERE Body LIKE 'wave-1 %'"
        ),
        WAVE
    );
    assert_eq!(
        count(
            &rt,
            &a.url,
            &format!("SELECT count() FROM logs WHERE Body LIKE 'wave-{waves} %'")
        ),
        WAVE
    );
    // The third took waves 2-4 whole (the failing second had none of them).
    for n in 2..=4 {
        let sql = format!("SELECT count() FROM logs WHERE Body LIKE 'wave-{n} %'");
        assert_eq!(count(&rt, &c.url, &sql), WAVE, "wave {n}");
    }
}

#[test]
fn one_server_behind_two_urls_stores_nothing_twice() {
    let rt = runtime();
    let server = DevServer::start(Options {
        faults: true,
        ..Options::default()
    });
    let other_name = format!("http://localhost:{}", server.port());
    rt.block_on(schema::apply(&common::config_for(&server.url, DB)))
        .unwrap();
    let (dispatch, telemetry) = common::start(config(&[&server.url, &other_name]));

    // Stored, then the answer lost: the same batch goes on by the other URL
    // with the same token, and the server takes it as the repeat it is.
    for n in 0..3 {
        let drop_after =
            r#"{"action": "drop", "phase": "after", "match": "INSERT INTO logs", "count": 1}"#;
        arm_fault(&server.url, drop_after);
        wave(&dispatch, &telemetry, n);
        std::thread::sleep(Duration::from_millis(1_100));
    }
    // Errors for a while (nothing stored): the other URL takes the batch.
    let failing = r#"{"action": "error", "code": 210, "status": 500, "match": "INSERT INTO logs", "count": 2}"#;
    arm_fault(&server.url, failing);
    wave(&dispatch, &telemetry, 3);
    let stats = telemetry.stats();
    drop(telemetry);

    assert_eq!(stats.sent_rows, 4 * WAVE);
    let url = &server.url;
    assert_eq!(count(&rt, url, "SELECT count() FROM logs"), 4 * WAVE);
    assert_eq!(
        count(&rt, url, "SELECT uniqExact(Body) FROM logs"),
        4 * WAVE
    );
    // The rollup is not counted twice either.
    assert_eq!(
        count(&rt, url, "SELECT sum(Count) FROM logs_by_level"),
        4 * WAVE
    );
}
