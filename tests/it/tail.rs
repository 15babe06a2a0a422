//! Following logs: the backlog, then each new matching row once, identical
//! rows of the same nanosecond included, more than a page at once, and
//! nothing lost or repeated across failed polls.

use crate::common;
use crate::known;

use crate::known::{SECOND, log, minutes_ago};
use tracing_clickhouse::query::{LogEntry, LogQuery, LogTail, QueryClient};
use tracing_clickhouse::{ErrorKind, schema};

fn bodies(entries: &[LogEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.message.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tail_hands_out_the_backlog_then_each_new_row_once() {
    let config = common::config("tail");
    schema::apply(&config).await.unwrap();
    let client = QueryClient::new(&config).unwrap();
    let base = minutes_ago(10);
    let row =
        |i: i64, service: &str, body: &str| log(base + i * SECOND, "INFO", 9, service, "app", body);
    known::insert(
        &common::raw_client(&config),
        "logs",
        &[
            row(0, "a", "a0"),
            row(1, "a", "a1"),
            row(2, "b", "b2"),
            row(3, "a", "a3"),
        ],
    )
    .await;

    let mut tail = client.tail(&LogQuery::new().service("a").limit(1), 2);
    assert_eq!(
        bodies(&tail.poll().await.unwrap()),
        ["a1", "a3"],
        "the last two, oldest first"
    );
    assert!(tail.poll().await.unwrap().is_empty());

    // Two identical rows of one nanosecond, another service's, and a row
    // older than the cursor (a late batch: behind the tail, not handed out).
    let twin = row(5, "a", "twin");
    known::insert(
        &common::raw_client(&config),
        "logs",
        &[
            row(4, "a", "a4"),
            twin.clone(),
            twin,
            row(6, "b", "b6"),
            row(-5, "a", "late"),
        ],
    )
    .await;
    assert_eq!(bodies(&tail.poll().await.unwrap()), ["a4", "twin", "twin"]);
    assert!(tail.poll().await.unwrap().is_empty());
    // A third twin arrives: it is new, the two before are not.
    known::insert(&common::raw_client(&config), "logs", &[row(5, "a", "twin")]).await;
    assert_eq!(bodies(&tail.poll().await.unwrap()), ["twin"]);

    // Where the tail stands can be kept and resumed by a page query: after
    // its cursor come only the rows it has not handed out yet.
    let cursor = tail.cursor().expect("the tail has handed rows out");
    known::insert(&common::raw_client(&config), "logs", &[row(7, "a", "a7")]).await;
    let resumed = client
        .query_logs(&LogQuery::new().service("a").after(cursor))
        .await
        .unwrap();
    assert_eq!(bodies(&resumed.entries), ["a7"]);
    assert_eq!(bodies(&tail.poll().await.unwrap()), ["a7"]);

    // More than a page: the first poll says so by being full.
    let many: Vec<_> = (0..LogTail::PAGE + 5)
        .map(|i| row(100 + i as i64, "a", &format!("m{i}")))
        .collect();
    known::insert(&common::raw_client(&config), "logs", &many).await;
    let first = tail.poll().await.unwrap();
    assert_eq!(first.len() as u64, LogTail::PAGE);
    let second = tail.poll().await.unwrap();
    let page = LogTail::PAGE;
    let rest: Vec<String> = (page..page + 5).map(|i| format!("m{i}")).collect();
    assert_eq!(bodies(&second), rest);
    assert_eq!(first[0].message, "m0");

    // Without a backlog: only what comes after the newest row now, which
    // is followed by two identical rows (neither is new).
    let last = 100 + LogTail::PAGE as i64 + 1000;
    let twin = row(last, "a", "last twin");
    known::insert(&common::raw_client(&config), "logs", &[twin.clone(), twin]).await;
    let mut fresh = client.tail(&LogQuery::new().service("a"), 0);
    assert!(fresh.poll().await.unwrap().is_empty());
    assert!(
        fresh.poll().await.unwrap().is_empty(),
        "the newest rows are not new"
    );
    known::insert(
        &common::raw_client(&config),
        "logs",
        &[row(last + 1, "a", "after")],
    )
    .await;
    assert_eq!(bodies(&fresh.poll().await.unwrap()), ["after"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_poll_loses_nothing_and_repeats_nothing() {
    let mut server = common::DevServer::start(common::Options {
        port: common::free_port(),
        ..common::Options::default()
    });
    let port = server.port();
    let config = common::config_for(&server.url, &common::unique_database("tail_restart"));
    schema::apply(&config).await.unwrap();
    let client = QueryClient::new(&config).unwrap();
    let base = minutes_ago(10);
    let row = |i: i64| log(base + i * SECOND, "INFO", 9, "a", "app", &format!("r{i}"));
    known::insert(&common::raw_client(&config), "logs", &[row(0), row(1)]).await;
    let mut tail = client.tail(&LogQuery::new(), 1);
    assert_eq!(bodies(&tail.poll().await.unwrap()), ["r1"]);

    let data = server.keep_data();
    server.kill();
    let error = tail.poll().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unreachable, "{error}");
    let _server = common::DevServer::start(common::Options {
        port,
        data_dir: Some(server.data_dir.clone()),
        ..common::Options::default()
    });
    let client = common::raw_client(&config);
    known::insert(&client, "logs", &[row(2), row(3)]).await;
    assert_eq!(bodies(&tail.poll().await.unwrap()), ["r2", "r3"]);
    assert!(tail.poll().await.unwrap().is_empty());
    drop(data);
}
