//! One trace across three services: three processes of
//! `examples/traces_across_services.rs` on loopback (axum servers behind
//! our `ServerLayer`, calling the next with reqwest behind our
//! `ClientLayer`), each with its own service name, writing into one
//! database. What they stored must be one trace with the right
//! `ParentSpanId` links across the services, their logs carrying it;
//! `chlog trace ID` (a process) prints the three-service tree, and the web
//! view's waterfall (in chromium) shows it. A trace whose caller is not
//! stored shows its root marked; an unsampled caller's trace stores no
//! span anywhere but every log.

use crate::browser;
use crate::common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

const EXAMPLE: &str = "traces_across_services";

/// The example's binary, built (or found fresh) with the features it needs.
fn example_binary() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--features",
            "axum",
            "--example",
            EXAMPLE,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build for the example");
    assert!(status.success(), "the example did not build");
    // target/debug/deps/traces-HASH -> target/debug/examples/EXAMPLE
    let deps = std::env::current_exe().unwrap();
    let profile = deps.parent().unwrap().parent().unwrap();
    let binary = profile.join("examples").join(EXAMPLE);
    assert!(binary.exists(), "no {}", binary.display());
    binary
}

/// One service process; stopped with SIGINT (it flushes) by [`Service::stop`].
struct Service {
    child: Child,
    url: String,
}

impl Service {
    fn start(binary: &PathBuf, url: &str, database: &str, name: &str, next: Option<&str>) -> Self {
        let mut child = Command::new(binary)
            .args([name, "0"])
            .args(next)
            .env_clear()
            .env("CLICKHOUSE_URL", url)
            .env("CLICKHOUSE_DATABASE", database)
            .env("CLICKHOUSE_MONITOR", "false")
            .env("CLICKHOUSE_FLUSH_INTERVAL_MS", "200")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a service");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // "NAME listening on http://127.0.0.1:PORT"
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("{name} did not start: {line:?}"))
            .to_owned();
        Service { child, url }
    }

    /// SIGINT, and the exit (after its flush).
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "the service exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "the service did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct SpanRow {
    span_id: String,
    parent_span_id: String,
    name: String,
    kind: String,
    service: String,
    status: String,
    attributes: Vec<(String, String)>,
}

impl SpanRow {
    fn attribute(&self, key: &str) -> Option<&str> {
        crate::known::attribute(&self.attributes, key)
    }
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct LogRow {
    trace_id: String,
    span_id: String,
    flags: u8,
    service: String,
    body: String,
}

async fn spans(client: &clickhouse::Client, trace_id: &str) -> Vec<SpanRow> {
    client
        .query(
            "SELECT SpanId AS span_id, ParentSpanId AS parent_span_id, \
             SpanName AS name, SpanKind AS kind, ServiceName AS service, StatusCode AS status, \
             SpanAttributes AS attributes FROM spans WHERE TraceId = ? ORDER BY Timestamp",
        )
        .bind(trace_id)
        .fetch_all()
        .await
        .unwrap()
}

async fn logs(client: &clickhouse::Client, trace_id: &str) -> Vec<LogRow> {
    client
        .query(
            "SELECT TraceId AS trace_id, SpanId AS span_id, TraceFlags AS flags, \
             ServiceName AS service, Body AS body FROM logs WHERE TraceId = ? ORDER BY Timestamp",
        )
        .bind(trace_id)
        .fetch_all()
        .await
        .unwrap()
}

/// `GET url` with these headers: the body, which names the trace.
async fn get(url: &str, headers: &[(&str, &str)]) -> String {
    let mut request = reqwest::Client::new().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the first service answers");
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

fn trace_of(body: &str) -> String {
    // "trace ID: hop 0, then trace ID: hop 1, then ..."
    body.split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches(':')
        .to_owned()
}

fn chlog(url: &str, database: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_chlog"))
        .args(args)
        .env_clear()
        .env("CLICKHOUSE_URL", url)
        .env("CLICKHOUSE_DATABASE", database)
        .output()
        .expect("run chlog");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "chlog {args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

const OUTSIDE_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const OUTSIDE_PARENT: &str = "b7ad6b7169203331";
const UNSAMPLED_TRACE: &str = "11111111111111112222222222222222";

#[tokio::test(flavor = "multi_thread")]
async fn one_request_through_three_services_is_one_trace() {
    let url = common::url();
    let database = common::unique_database("traces");
    let config = common::config_for(&url, &database);
    tracing_clickhouse::schema::apply(&config).await.unwrap();
    let binary = example_binary();
    let ledger = Service::start(&binary, &url, &database, "ledger", None);
    let payments = Service::start(&binary, &url, &database, "payments", Some(&ledger.url));
    let checkout = Service::start(&binary, &url, &database, "checkout", Some(&payments.url));

    let body = get(&format!("{}/hop/0", checkout.url), &[]).await;
    let trace_id = trace_of(&body);
    assert_eq!(trace_id.len(), 32, "{body}");
    assert_eq!(
        body.matches(&trace_id).count(),
        3,
        "every service saw the same trace: {body}"
    );
    // A caller we do not store, and an unsampled one.
    let outside = format!("00-{OUTSIDE_TRACE}-{OUTSIDE_PARENT}-01");
    let body = get(
        &format!("{}/hop/0", checkout.url),
        &[
            ("traceparent", &outside),
            ("tracestate", "congo=t61rcWkgMzE"),
        ],
    )
    .await;
    assert_eq!(trace_of(&body), OUTSIDE_TRACE);
    let unsampled = format!("00-{UNSAMPLED_TRACE}-{OUTSIDE_PARENT}-00");
    get(
        &format!("{}/hop/0", checkout.url),
        &[("traceparent", &unsampled)],
    )
    .await;
    for service in [checkout, payments, ledger] {
        service.stop();
    }

    let client = crate::common::raw_client(&config);
    let rows = spans(&client, &trace_id).await;
    let summary: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r.service.as_str(), r.kind.as_str(), r.name.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("checkout", "Server", "GET /hop/{n}"),
            ("checkout", "Client", "GET"),
            ("payments", "Server", "GET /hop/{n}"),
            ("payments", "Client", "GET"),
            ("ledger", "Server", "GET /hop/{n}"),
        ],
        "{rows:#?}"
    );
    assert_eq!(
        rows[0].parent_span_id, "",
        "the first service's span is the root"
    );
    for pair in rows.windows(2) {
        assert_eq!(pair[1].parent_span_id, pair[0].span_id, "{pair:#?}");
    }
    for row in &rows {
        assert_eq!(row.status, "Unset");
        assert_eq!(row.attribute("http.response.status_code"), Some("200"));
    }
    assert_eq!(rows[0].attribute("http.route"), Some("/hop/{n}"));
    assert_eq!(rows[0].attribute("url.path"), Some("/hop/0"));
    assert_eq!(rows[0].attribute("server.address"), Some("127.0.0.1"));
    assert_eq!(rows[4].attribute("url.path"), Some("/hop/2"));
    let next = rows[1].attribute("url.full").unwrap();
    assert!(
        next.starts_with("http://127.0.0.1:") && next.ends_with("/hop/1"),
        "{next}"
    );

    let logged = logs(&client, &trace_id).await;
    let servers: HashMap<&str, &str> = rows
        .iter()
        .filter(|r| r.kind == "Server")
        .map(|r| (r.service.as_str(), r.span_id.as_str()))
        .collect();
    assert_eq!(logged.len(), 3, "{logged:#?}");
    for log in &logged {
        assert_eq!(log.body, "handling the hop");
        assert_eq!((log.trace_id.as_str(), log.flags), (trace_id.as_str(), 1));
        assert_eq!(log.span_id, servers[log.service.as_str()], "{log:?}");
    }

    // The caller that is not stored: the root names it, and is kept.
    let outside_rows = spans(&client, OUTSIDE_TRACE).await;
    assert_eq!(outside_rows.len(), 5);
    assert_eq!(outside_rows[0].parent_span_id, OUTSIDE_PARENT);
    let trace_states: u64 = common::scalar(
        &client,
        &format!(
            "SELECT count() FROM spans WHERE TraceId = '{OUTSIDE_TRACE}' \
             AND TraceState = 'congo=t61rcWkgMzE'"
        ),
    )
    .await;
    assert_eq!(trace_states, 5, "the tracestate travelled with the trace");

    // The unsampled caller: no span anywhere, every log, flagged unsampled.
    assert!(spans(&client, UNSAMPLED_TRACE).await.is_empty());
    let unsampled_logs = logs(&client, UNSAMPLED_TRACE).await;
    let services: Vec<&str> = unsampled_logs.iter().map(|l| l.service.as_str()).collect();
    assert_eq!(services, ["checkout", "payments", "ledger"]);
    assert!(unsampled_logs.iter().all(|l| l.flags == 0));

    // chlog trace ID: the three services as one tree.
    let text = chlog(&url, &database, &["trace", &trace_id]);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with(&format!("trace {trace_id}: 5 spans in 3 services, 3 logs")),
        "{text}"
    );
    let tree: Vec<String> = lines
        .iter()
        .filter(|l| l.contains("GET"))
        .map(|l| {
            let mut words = l.split_whitespace();
            let mut head = Vec::new();
            for word in words.by_ref() {
                head.push(word);
                if ["checkout", "payments", "ledger"].contains(&word) {
                    break;
                }
            }
            head.join(" ")
        })
        .collect();
    assert_eq!(
        tree,
        [
            "GET /hop/{n} checkout",
            "└─ GET checkout",
            "└─ GET /hop/{n} payments",
            "└─ GET payments",
            "└─ GET /hop/{n} ledger",
        ],
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("   └─ GET /hop/{n}")),
        "{text}"
    );
    let json: Value =
        serde_json::from_str(&chlog(&url, &database, &["trace", &trace_id, "--json"])).unwrap();
    assert_eq!(
        json["services"],
        serde_json::json!(["checkout", "payments", "ledger"])
    );
    let depths: Vec<u64> = json["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["depth"].as_u64().unwrap())
        .collect();
    assert_eq!(depths, [0, 1, 2, 3, 4]);

    let outside_text = chlog(&url, &database, &["trace", OUTSIDE_TRACE]);
    let second = outside_text.lines().nth(1).unwrap();
    assert!(
        second.starts_with(&format!("⋯ parent {OUTSIDE_PARENT} not stored")),
        "{outside_text}"
    );
    assert!(
        outside_text
            .lines()
            .nth(2)
            .unwrap()
            .starts_with("└─ GET /hop/{n}"),
        "the root hangs under the missing parent: {outside_text}"
    );

    // The web view's waterfall, in chromium.
    let ui = browser::Ui::start(&url, &database, &[]);
    let b = browser::Browser::start().await;
    b.client
        .goto(&format!("{}#open_trace={trace_id}", ui.url))
        .await
        .unwrap();
    let waterfall = b
        .until(
            "the waterfall",
            "const rows = [...document.querySelectorAll('#waterfall .span-row')]; \
             return rows.length === 5 ? rows.map(r => [r.dataset.service, r.dataset.kind, \
               Number(r.dataset.depth), r.dataset.spanId, r.dataset.parentSpanId, \
               r.querySelector('.span-service').textContent]) : null;",
        )
        .await;
    let waterfall: Vec<(String, String, u64, String, String, String)> =
        serde_json::from_value(waterfall).unwrap();
    for (i, (row, span)) in waterfall.iter().zip(&rows).enumerate() {
        assert_eq!(
            (
                row.0.as_str(),
                row.1.as_str(),
                row.2,
                row.3.as_str(),
                row.4.as_str()
            ),
            (
                span.service.as_str(),
                span.kind.as_str(),
                i as u64,
                span.span_id.as_str(),
                span.parent_span_id.as_str()
            )
        );
        assert_eq!(row.5, span.service, "each span shows its service");
    }
    let info = b
        .js(
            "return document.getElementById('trace-info').textContent",
            vec![],
        )
        .await;
    assert!(info.as_str().unwrap().contains("3 services"), "{info}");
    b.screenshot("trace-across-services").await;

    b.client
        .goto(&format!("{}#open_trace={OUTSIDE_TRACE}", ui.url))
        .await
        .unwrap();
    b.client.refresh().await.unwrap();
    let marked = b
        .until(
            "the marked root",
            "const m = document.querySelector('#waterfall .span-missing'); \
             const r = document.querySelector('#waterfall .span-row.orphan'); \
             return m && r ? [m.dataset.parent, r.dataset.parentMissing, \
               document.querySelectorAll('#waterfall .span-row').length] : null;",
        )
        .await;
    assert_eq!(marked, serde_json::json!([OUTSIDE_PARENT, "true", 5]));
    b.close().await;
}
