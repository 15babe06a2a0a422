//! `chlog logs --follow` through a server that is killed and restarted:
//! every log printed once, none lost.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use super::{Db, Run};
use crate::common::{DevServer, Options, free_port};
use crate::known::{self, SECOND};

/// Lines of a running `chlog`, as they come.
struct Lines {
    child: Child,
    lines: Receiver<String>,
}

impl Lines {
    fn spawn(mut command: std::process::Command) -> Lines {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (send, lines) = channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if send.send(line.unwrap()).is_err() {
                    break;
                }
            }
        });
        Lines { child, lines }
    }

    /// The next `n` lines, waiting up to 20 s for them.
    fn take(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut got = Vec::new();
        while got.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => got.push(line),
                Err(_) => panic!("{} of {n} lines in 20 s: {got:?}", got.len()),
            }
        }
        got
    }

    /// Whatever else comes within `wait`.
    fn more(&self, wait: Duration) -> Vec<String> {
        std::thread::sleep(wait);
        self.lines.try_iter().collect()
    }

    fn stop(mut self) -> Run {
        let _ = self.child.kill();
        Run::of(self.child.wait_with_output().unwrap())
    }
}

fn body(line: &str) -> &str {
    line.split(": ").nth(1).unwrap_or(line)
}

#[tokio::test(flavor = "multi_thread")]
async fn follow_prints_each_new_log_once_through_a_restart() {
    let port = free_port();
    let mut server = DevServer::start(Options {
        port,
        ..Options::default()
    });
    let db = Db::on(&server.url, "cli_follow");
    tracing_clickhouse::schema::apply(&db.config).await.unwrap();
    let base = known::minutes_ago(5);
    let row =
        |i: i64, body: &str| known::log(base + i * SECOND, "INFO", 9, "checkout", "app", body);
    known::insert(
        &db.client,
        "logs",
        &[row(0, "one"), row(1, "two"), row(2, "three")],
    )
    .await;

    let tail = Lines::spawn(db.command(&[
        "logs",
        "-f",
        "-n",
        "2",
        "--interval",
        "200ms",
        "--timeout",
        "3s",
    ]));
    assert_eq!(
        tail.take(2).iter().map(|l| body(l)).collect::<Vec<_>>(),
        ["two", "three"]
    );
    let twin = row(4, "twin");
    known::insert(&db.client, "logs", &[row(3, "four"), twin.clone(), twin]).await;
    assert_eq!(
        tail.take(3).iter().map(|l| body(l)).collect::<Vec<_>>(),
        ["four", "twin", "twin"]
    );

    let data = server.keep_data();
    server.kill();
    std::thread::sleep(Duration::from_millis(1500));
    let _server = DevServer::start(Options {
        port,
        data_dir: Some(server.data_dir.clone()),
        ..Options::default()
    });
    let client = crate::common::raw_client(&db.config);
    known::insert(&client, "logs", &[row(5, "five"), row(6, "six")]).await;
    assert_eq!(
        tail.take(2).iter().map(|l| body(l)).collect::<Vec<_>>(),
        ["five", "six"]
    );
    assert_eq!(
        tail.more(Duration::from_millis(1500)),
        Vec::<String>::new(),
        "nothing twice"
    );
    let run = tail.stop();
    assert!(run.stderr.contains("lost ClickHouse"), "{}", run.stderr);
    assert!(run.stderr.contains("answers again"), "{}", run.stderr);
    drop(data);
}
