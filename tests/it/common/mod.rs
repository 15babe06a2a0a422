//! The ClickHouse the integration tests run against.
//!
//! `CLICKHOUSE_URL` when it is set (`make test` sets it to the devserver it
//! started; it may be a real server), otherwise a devserver started here for
//! this test binary. Tests that need a devserver of their own (auth, TLS,
//! restarts, faults) start one with [`DevServer::start`]. Nothing is skipped:
//! without a Python venv for the devserver, the tests fail and say how to
//! make one.
//!
//! Every test works in a database of its own ([`unique_database`]).

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tempfile::TempDir;
use tracing::Dispatch;
use tracing_clickhouse::{Builder, Config, Telemetry, Timing};
use tracing_subscriber::prelude::*;

/// The Python that runs `devserver/chdevserver.py`.
pub fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("DEVSERVER_PYTHON") {
        return python.into();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no devserver venv at {}: run `make venv` (or `make test`), or set DEVSERVER_PYTHON",
        venv.display()
    );
    venv
}

/// Options for a devserver of a test's own.
#[derive(Default, Clone)]
pub struct Options {
    pub data_dir: Option<PathBuf>,
    pub user: Option<(String, String)>,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub faults: bool,
    /// A fixed port (to come back where a client expects the server); 0 picks a free one.
    pub port: u16,
}

/// A devserver process; killed when dropped, and it exits by itself if the
/// test process dies (it watches its stdin).
pub struct DevServer {
    child: Child,
    _stdin: ChildStdin,
    pub url: String,
    pub data_dir: PathBuf,
    temp: Option<TempDir>,
}

impl DevServer {
    pub fn start(options: Options) -> DevServer {
        let temp = options.data_dir.is_none().then(|| temp_dir("devserver"));
        let data_dir = options
            .data_dir
            .clone()
            .unwrap_or_else(|| temp.as_ref().unwrap().path().to_owned());
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("devserver/chdevserver.py");
        // Below the ephemeral range even when any port will do: tests restart
        // servers on the port they had (see `free_port`).
        let port = match options.port {
            0 => free_port(),
            port => port,
        };
        let mut command = Command::new(python());
        command
            .arg(script)
            .arg("--port")
            .arg(port.to_string())
            .args(["--stdin-watch", "--data"])
            .arg(&data_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some((user, password)) = &options.user {
            command
                .args(["--user", user])
                .env("DEVSERVER_PASSWORD", password);
        }
        if let Some((cert, key)) = &options.tls {
            command
                .arg("--tls-cert")
                .arg(cert)
                .arg("--tls-key")
                .arg(key);
        }
        if options.faults {
            command.arg("--faults");
        }
        let mut child = command.spawn().expect("start the devserver");
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read the devserver's first line");
        // "devserver listening on http://127.0.0.1:PORT (chDB ..., data ...)"
        let url = line
            .split_whitespace()
            .find(|word| word.starts_with("http"))
            .unwrap_or_else(|| panic!("the devserver did not start: {line:?}"))
            .to_owned();
        DevServer {
            child,
            _stdin: stdin,
            url,
            data_dir,
            temp,
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait, as an orderly stop.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }

    /// Keeps the data directory after this server is gone (for a restart).
    pub fn keep_data(&mut self) -> Option<TempDir> {
        self.temp.take()
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nothing listens on right now, below the kernel's ephemeral range.
///
/// Tests stop a server and start it again on this port while the pipeline
/// keeps connecting to it. A port in the ephemeral range can be taken in
/// between: a connect to a port nobody listens on may be given that very
/// port as its local one and connect to itself (TCP simultaneous open),
/// and the restarted server then fails with "address already in use".
pub fn free_port() -> u16 {
    let range =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let ephemeral_start: u16 = range
        .split_whitespace()
        .next()
        .and_then(|low| low.parse().ok())
        .unwrap_or(32768);
    // A system whose ephemeral range starts low leaves nothing below it:
    // any port then, and the race comes back there.
    let (low, high) = match ephemeral_start {
        start if start > 11_000 => (10_000u16, start),
        _ => (10_000u16, u16::MAX),
    };
    let (nanos, n) = unique_parts();
    let seed = u64::from(std::process::id() ^ nanos ^ n.wrapping_mul(40_503));
    for attempt in 0..1_000u64 {
        let offset = seed
            .wrapping_mul(2_654_435_761)
            .wrapping_add(attempt * 7_919)
            % u64::from(high - low);
        let port = low + offset as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {low} and {high}");
}

/// A number no other call in this process shares (`n`, counted), with the
/// time's nanoseconds to tell runs and processes apart.
fn unique_parts() -> (u32, u32) {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    (nanos, n)
}

/// Arms a failure on a devserver started with `faults: true` (see
/// `devserver/chdevserver.py`, class `Faults`): `rule` is its JSON.
pub fn arm_fault(server_url: &str, rule: &str) {
    use std::io::{Read, Write};
    let address = server_url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect to the devserver");
    write!(
        stream,
        "POST /_faults HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{rule}",
        rule.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"),
        "{answer}"
    );
}

/// The shared server's URL.
pub fn url() -> String {
    static SHARED: LazyLock<Shared> = LazyLock::new(|| match std::env::var("CLICKHOUSE_URL") {
        Ok(url) if !url.is_empty() => Shared::External(url),
        _ => Shared::Dev(DevServer::start(Options::default())),
    });
    match &*SHARED {
        Shared::External(url) => url.clone(),
        Shared::Dev(server) => server.url.clone(),
    }
}

enum Shared {
    External(String),
    Dev(DevServer),
}

/// A database name no other test (or test run) uses.
pub fn unique_database(prefix: &str) -> String {
    let (nanos, n) = unique_parts();
    format!("tc_{prefix}_{}_{nanos}_{n}", std::process::id())
}

/// A builder for the shared server and a fresh database, from no
/// environment but the server's URL: fast flushes, a generous shutdown, and
/// only the test's own rows (no system gauges, no pipeline metrics), so
/// counts of sent and spooled rows are the test's events.
pub fn builder(prefix: &str) -> Builder {
    builder_for(&url(), &unique_database(prefix))
}

pub fn builder_for(url: &str, database: &str) -> Builder {
    Builder::from_env_vars::<&str, &str>([])
        .url(url)
        .and_then(|b| b.database(database))
        .and_then(|b| b.timing(Timing::FlushInterval(Duration::from_millis(200))))
        .and_then(|b| b.timing(Timing::ShutdownTimeout(Duration::from_secs(30))))
        .expect("test configuration")
        .service_name("tc-test")
        .system_monitor(false)
        .pipeline_metrics(false)
}

/// [`builder`]'s configuration.
pub fn config(prefix: &str) -> Config {
    builder(prefix).build_config().expect("test configuration")
}

pub fn config_for(url: &str, database: &str) -> Config {
    builder_for(url, database)
        .build_config()
        .expect("test configuration")
}

/// Starts a pipeline for `config`, and a subscriber (the registry and our
/// layer) to emit into with `dispatcher::with_default`.
pub fn start(config: Config) -> (Dispatch, Telemetry) {
    let (layer, telemetry) = config.into_builder().build().expect("start the pipeline");
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    (dispatch, telemetry)
}

/// A temporary directory (removed when dropped) whose name says which test made it.
pub fn temp_dir(prefix: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("tc_{prefix}_"))
        .tempdir()
        .expect("a temporary directory")
}

/// One number from a query such as `SELECT count() FROM logs`.
pub async fn scalar(client: &clickhouse::Client, sql: &str) -> u64 {
    client
        .query(sql)
        .fetch_one::<u64>()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The version of the server `client` talks to (`SELECT version()`).
pub async fn server_version(
    client: &clickhouse::Client,
) -> tracing_clickhouse::schema::ServerVersion {
    let text = client
        .query("SELECT version()")
        .fetch_one::<String>()
        .await
        .expect("SELECT version()");
    tracing_clickhouse::schema::ServerVersion::parse(&text).expect("a version")
}

/// The name the test harness knows `test` by, in the module at
/// `module_path` (the caller's `module_path!()`): what `--exact` takes when a
/// test runs this binary again as a child.
pub fn test_name(module_path: &str, test: &str) -> String {
    // "it::console" -> "console::test": the harness leaves out the crate.
    match module_path.split_once("::") {
        Some((_, path)) => format!("{path}::{test}"),
        None => test.to_owned(),
    }
}

/// A `clickhouse` client for `config`'s server and database (as its user,
/// without a password: the devserver's default), for what the crate's API
/// does not do: inserting known rows, counting them, DDL by hand.
pub fn raw_client(config: &Config) -> clickhouse::Client {
    clickhouse::Client::default()
        .with_url(config.url())
        .with_user(config.user())
        .with_database(config.database())
}
