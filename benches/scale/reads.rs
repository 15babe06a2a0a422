//! The reads timed: every `chlog` read of issue 23's table, as a process
//! (the release build), and every endpoint of `chlog ui` in the form the
//! page asks for it on a 24-hour range. For each, the median wall time and
//! what the server did for it: the queries it ran and the rows they read
//! (`read_rows` of `system.query_log`, summed).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::fill::{Db, now_secs};

/// How a read is made.
pub enum How {
    /// `chlog` with these arguments (after the connection options).
    Chlog(Vec<String>),
    /// A `GET` of this path and query string from `chlog ui`.
    Web(String),
}

pub struct Read {
    pub name: String,
    pub how: How,
    /// What ISSUE 23 targets for it, in ms.
    pub target_ms: u64,
}

/// One read measured.
pub struct Measured {
    pub name: String,
    pub median: Duration,
    pub queries: u64,
    pub rows_read: u64,
    /// Bytes of the answer (the output of chlog, the body of a response).
    pub answer_bytes: usize,
    pub target_ms: u64,
}

/// The reads, with a service, a trace id, an attribute and a metric of the
/// corpus.
pub fn reads(service: &str, trace: &str, attribute: &str, metric: &str) -> Vec<Read> {
    let chlog = |name: &str, args: &[&str], target_ms| Read {
        name: name.to_owned(),
        how: How::Chlog(args.iter().map(|a| (*a).to_owned()).collect()),
        target_ms,
    };
    let now = now_secs() as u128 * 1_000_000_000;
    let day = format!("since={}&until={now}", now - 86_400 * 1_000_000_000);
    let web = |name: &str, path: String, target_ms| Read {
        name: name.to_owned(),
        how: How::Web(path),
        target_ms,
    };
    vec![
        chlog(
            "chlog logs --since 10m -n 100",
            &["logs", "--since", "10m", "-n", "100"],
            1000,
        ),
        chlog(
            "chlog logs --since 1h --min-level error",
            &["logs", "--since", "1h", "--min-level", "error"],
            1000,
        ),
        chlog(
            "chlog logs --since 24h --service S --min-level warn",
            &[
                "logs",
                "--since",
                "24h",
                "--service",
                service,
                "--min-level",
                "warn",
            ],
            1000,
        ),
        chlog(
            "chlog logs --since 24h --grep \"reset by peer\"",
            &["logs", "--since", "24h", "--grep", "reset by peer"],
            1000,
        ),
        chlog(
            "chlog logs --since 24h --attr user_id=U",
            &["logs", "--since", "24h", "--attr", attribute],
            1000,
        ),
        chlog("chlog trace ID", &["trace", trace], 1000),
        chlog("chlog stats --since 1h", &["stats", "--since", "1h"], 1000),
        chlog("chlog stats --since 24h", &["stats", "--since", "24h"], 500),
        web(
            "web /api/logs (first page, 24 h)",
            format!("/api/logs?{day}"),
            1000,
        ),
        web("web /api/stats (24 h)", format!("/api/stats?{day}"), 500),
        web("web /api/volume (24 h)", format!("/api/volume?{day}"), 1000),
        web("web /api/trace", format!("/api/trace?id={trace}"), 1000),
        web("web /api/events", "/api/events".to_owned(), 1000),
        web(
            "web /api/metric_names",
            "/api/metric_names".to_owned(),
            1000,
        ),
        web(
            "web /api/metric (24 h)",
            format!("/api/metric?name={metric}&{day}"),
            1000,
        ),
        web("web /api/status", "/api/status".to_owned(), 1000),
    ]
}

/// `chlog ui` on a free port, stopped when dropped.
pub struct Ui {
    child: Child,
    pub port: u16,
}

impl Ui {
    pub fn start(chlog: &Path, url: &str, database: &str) -> Ui {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(chlog)
            .args([
                "--url",
                url,
                "--database",
                database,
                "--timeout",
                "600s",
                "ui",
            ])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chlog ui");
        let began = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                began.elapsed() < Duration::from_secs(30),
                "chlog ui did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ui { child, port }
    }

    /// The body of `GET path`; panics on a status other than 200.
    fn get(&self, path: &str) -> Vec<u8> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAccept: application/json\r\n\
             Connection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let head_end = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("an HTTP response");
        let head = String::from_utf8_lossy(&response[..head_end]);
        assert!(
            head.starts_with("HTTP/1.1 200"),
            "{path}: {head}\n{}",
            String::from_utf8_lossy(&response[head_end..])
        );
        response[head_end + 4..].to_vec()
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `read` `runs` times: the median time, and the queries and rows
/// read of the last run.
pub fn measure(db: &Db, chlog: &Path, url: &str, ui: &Ui, read: &Read, runs: usize) -> Measured {
    let mut times = Vec::new();
    let mut answer_bytes = 0;
    let mut marker = String::new();
    for _ in 0..runs {
        marker = db.marker();
        let began = Instant::now();
        answer_bytes = match &read.how {
            How::Chlog(args) => {
                let output = Command::new(chlog)
                    .args(["--url", url, "--database", &db.name, "--timeout", "600s"])
                    .args(args)
                    .stdin(Stdio::null())
                    .output()
                    .expect("chlog");
                assert!(
                    output.status.success(),
                    "{}: {}",
                    read.name,
                    String::from_utf8_lossy(&output.stderr)
                );
                output.stdout.len()
            }
            How::Web(path) => ui.get(path).len(),
        };
        times.push(began.elapsed());
    }
    times.sort();
    db.exec("SYSTEM FLUSH LOGS");
    let done = db.text(&format!(
        "SELECT count(), sum(read_rows) FROM system.query_log WHERE type = 'QueryFinish' \
         AND current_database = '{}' AND query_kind = 'Select' \
         AND event_time_microseconds >= toDateTime64('{marker}', 6)",
        db.name
    ));
    let mut fields = done.split('\t').map(|f| f.parse::<u64>().unwrap_or(0));
    Measured {
        name: read.name.clone(),
        median: times[times.len() / 2],
        queries: fields.next().unwrap_or(0),
        rows_read: fields.next().unwrap_or(0),
        answer_bytes,
        target_ms: read.target_ms,
    }
}
