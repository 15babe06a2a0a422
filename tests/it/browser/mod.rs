//! What tests/it/ui.rs drives: a `chlog ui` process, and headless chromium
//! through chromium-driver (WebDriver), both stopped when dropped.
//!
//! `make test` installs Debian's `chromium` and `chromium-driver` (`make
//! browser`); without them these tests fail and say so.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// A `chlog ui` serving one database on a free loopback port.
pub struct Ui {
    child: Child,
    /// Its stdout, kept open: it writes more than the first line.
    _stdout: BufReader<std::process::ChildStdout>,
    /// The address it printed (with `?token=` when it has one).
    pub url: String,
    /// `127.0.0.1:PORT` (or the address it was told to listen on).
    pub address: String,
    /// What it printed first.
    pub banner: String,
}

impl Ui {
    pub fn start(clickhouse_url: &str, database: &str, extra: &[&str]) -> Ui {
        Ui::start_on("127.0.0.1:0", clickhouse_url, database, extra)
    }

    /// A `chlog ui` listening on `listen`.
    pub fn start_on(listen: &str, clickhouse_url: &str, database: &str, extra: &[&str]) -> Ui {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chlog"))
            .args(["ui", "--listen", listen])
            .args(extra)
            .env_clear()
            .env("CLICKHOUSE_URL", clickhouse_url)
            .env("CLICKHOUSE_DATABASE", database)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start chlog ui");
        let mut banner = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout
            .read_line(&mut banner)
            .expect("read chlog ui's first line");
        // "chlog ui: serving DB on http://127.0.0.1:PORT/[?token=...]"
        let url = banner
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("chlog ui did not start: {banner:?}"))
            .to_owned();
        let address = url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        Ui {
            child,
            _stdout: stdout,
            url,
            address,
            banner,
        }
    }

    /// `GET path` with `headers`, as raw HTTP/1.1: the status and the body.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.address).expect("connect to chlog ui");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut request = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n");
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            request.push_str(&format!("Host: {}\r\n", self.address));
        }
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
        let body = answer
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_owned();
        (status, body)
    }

    /// `GET path` answered 200 with JSON: the JSON (chunked bodies
    /// are not expected: axum sends a length for JSON).
    pub fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path, &[]);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Headless chromium, driven through a chromium-driver of its own.
pub struct Browser {
    driver: Child,
    pub client: Client,
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.exists())
    })
}

impl Browser {
    pub async fn start() -> Browser {
        let driver_path = which("chromedriver").expect(
            "no chromedriver on PATH: `make browser` installs Debian's chromium and chromium-driver",
        );
        let port = crate::common::free_port();
        // A process group of its own, so that dropping the browser ends
        // chromium and its helpers too, even when a test panicked before
        // the session was closed.
        let driver = Command::new(driver_path)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({ "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--window-size=1400,1000",
                             "--lang=en-US"] }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a chromium session");
        Browser { driver, client }
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("{script}: {e}"))
    }

    /// Waits (at most 20 s) until `script` returns something truthy, and
    /// returns it.
    pub async fn until(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let value = self.js(script, vec![]).await;
            let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                && value != json!(0)
                && value != json!("");
            if truthy {
                return value;
            }
            if Instant::now() > deadline {
                let error = self
                    .js(
                        "return document.getElementById('error').textContent",
                        vec![],
                    )
                    .await;
                panic!("waited 20 s for {what}; the page's error: {error}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the page has drawn more views than `before`.
    pub async fn loaded_after(&self, before: u64) -> u64 {
        let script = format!(
            "const n = Number(document.body.dataset.loads || 0); return n > {before} ? n : 0;"
        );
        self.until("the page to draw", &script)
            .await
            .as_u64()
            .unwrap()
    }

    /// How many views the page has drawn.
    pub async fn loads(&self) -> u64 {
        self.js("return Number(document.body.dataset.loads || 0)", vec![])
            .await
            .as_u64()
            .unwrap()
    }

    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let input = self.client.find(Locator::Css(css)).await.unwrap();
        input.clear().await.unwrap();
        input.send_keys(text).await.unwrap();
    }

    /// Saves a screenshot as `target/ui-screenshots/NAME.png`; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/ui-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
    }
}
