//! `chlog ui` in a real browser: headless chromium, driven through
//! chromium-driver, loads the page from a `chlog ui` process against the
//! devserver with known rows, and the tests check what the page shows
//! (counts, rows, the volume chart's bars, a metric's points, a trace's
//! waterfall, statuses and alerts), exercise the filters, a row's details,
//! paging, zoom and live mode, and feed hostile filter strings through the
//! page. Screenshots go to `target/ui-screenshots/`.
//!
//! The server's guard (loopback `Host` only, or the token) and its answers
//! to bad input are checked over plain HTTP.

use crate::common;
use crate::known;

use std::time::Duration;

use crate::browser::{Browser, Ui};
use fantoccini::Locator;
use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use serde_json::{Value, json};

use crate::known::{MINUTE, SECOND};

/// A database with the schema and the known rows.
struct Fixture {
    url: String,
    database: String,
    client: clickhouse::Client,
    base: i64,
}

/// Rows whose messages are hostile filter strings, two hours back (outside
/// the default hour), service `hostile`.
const HOSTILE: [&str; 9] = [
    "it's a \"quoted\" value",
    "'; DROP TABLE logs; --",
    "100% done",
    "file_name here",
    "nul\0byte",
    "line one\nline two",
    "naïve café 日本語",
    "<img src=x onerror=alert(1)><script>alert(2)</script>",
    "back\\slash",
];

/// Near misses: what each hostile string would also match if it were a
/// LIKE pattern or the quotes were interpreted.
const NEAR_MISSES: [&str; 4] = [
    "1000 done",
    "fileXname here",
    "nul byte",
    "line one line two",
];

impl Fixture {
    async fn load(prefix: &str) -> Fixture {
        let url = common::url();
        let database = common::unique_database(prefix);
        let config = common::config_for(&url, &database);
        tracing_clickhouse::schema::apply(&config).await.unwrap();
        let client = common::raw_client(&config);
        let base = known::minutes_ago(30);
        let mut tables = known::Tables::around(base, 120);
        tables.events.extend(statuses_and_alerts(base));
        tables.insert(&client).await;
        let two_hours_ago = known::minutes_ago(120);
        let hostile: Vec<_> = HOSTILE
            .iter()
            .chain(NEAR_MISSES.iter())
            .enumerate()
            .map(|(i, body)| {
                known::log(
                    two_hours_ago + i as i64 * SECOND,
                    "WARN",
                    13,
                    "hostile",
                    "app::input",
                    body,
                )
            })
            .collect();
        known::insert(&client, "logs", &hostile).await;
        Fixture {
            url,
            database,
            client,
            base,
        }
    }

    fn ui(&self, extra: &[&str]) -> Ui {
        Ui::start(&self.url, &self.database, extra)
    }
}

/// Redis goes down after postgres came back; three alerts, of which
/// `error-rate@checkout` (critical, fired again) and `cpu-high@host1` fire.
fn statuses_and_alerts(base: i64) -> Vec<known::EventRow> {
    let event =
        |minute: i64, event_type: &str, source: &str, details: &[(&str, &str)]| known::EventRow {
            timestamp_ns: base + minute * MINUTE,
            event_type: event_type.into(),
            source: source.into(),
            service: "checkout".into(),
            details: details
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        };
    let alert = |minute, firing: bool, key: &str, rule: &str, severity: &str, value: &str| {
        let event_type = if firing {
            "alert_firing"
        } else {
            "alert_resolved"
        };
        event(
            minute,
            event_type,
            "alert",
            &[
                ("rule", rule),
                ("key", key),
                ("severity", severity),
                ("value", value),
                ("threshold", "90"),
                ("group", "host1"),
                ("kind", "threshold"),
                ("message", &format!("{rule} is {value}")),
            ],
        )
    };
    vec![
        event(
            5,
            "service_status",
            "monitor",
            &[
                ("service", "redis"),
                ("status", "down"),
                ("error", "connection refused"),
            ],
        ),
        alert(1, true, "cpu-high@host1", "cpu high", "warning", "95"),
        alert(2, true, "disk-full@host1", "disk full", "critical", "99"),
        alert(5, false, "disk-full@host1", "disk full", "critical", "80"),
        alert(
            3,
            true,
            "error-rate@checkout",
            "error rate",
            "critical",
            "97",
        ),
        alert(
            4,
            false,
            "error-rate@checkout",
            "error rate",
            "critical",
            "10",
        ),
        alert(
            6,
            true,
            "error-rate@checkout",
            "error rate",
            "critical",
            "98",
        ),
    ]
}

// ---- what the page shows ------------------------------------------------------

/// A waterfall row: name, depth, status, start (ms into the trace), duration
/// (ms), logs, and its bar's left and width (% of the trace).
type WaterfallRow = (String, u64, String, f64, f64, u64, f64, f64);

async fn total(b: &Browser) -> u64 {
    let text = b
        .js(
            "return document.getElementById('count').dataset.total || ''",
            vec![],
        )
        .await;
    text.as_str().unwrap().parse().unwrap()
}

async fn levels(b: &Browser) -> Value {
    b.js(
        "const out = {}; for (const s of document.querySelectorAll('#levels span')) \
         out[s.dataset.level] = Number(s.dataset.count); return out;",
        vec![],
    )
    .await
}

/// The rows shown: [level, service, message], top to bottom.
async fn rows(b: &Browser) -> Vec<(String, String, String)> {
    let rows = b
        .js(
            "return [...document.querySelectorAll('#log-rows tr.log-row')]\
             .map(r => [r.cells[1].textContent, r.cells[2].textContent, r.cells[4].textContent]);",
            vec![],
        )
        .await;
    serde_json::from_value(rows).unwrap()
}

async fn wait_rows(b: &Browser, n: usize) {
    b.until(
        &format!("{n} rows"),
        &format!("return document.querySelectorAll('#log-rows tr.log-row').length === {n};"),
    )
    .await;
}

/// Applies a change to the view and waits for the page to draw it.
async fn redrawn<F: std::future::Future<Output = ()>>(b: &Browser, change: F) {
    let before = b.loads().await;
    change.await;
    b.loaded_after(before).await;
}

async fn go(b: &Browser, ui: &Ui, hash: &str) {
    redrawn(b, async {
        b.client.goto(&format!("{}#{hash}", ui.url)).await.unwrap()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_what_is_stored_and_follows_the_filters() {
    let fx = Fixture::load("ui_page").await;
    let ui = fx.ui(&[]);
    let b = Browser::start().await;
    b.client.goto(&ui.url).await.unwrap();
    b.loaded_after(0).await;

    // Everything the page loaded came from chlog ui itself.
    let origins = b
        .js(
            "return [...new Set(performance.getEntriesByType('resource').map(r => new URL(r.name).origin))];",
            vec![],
        )
        .await;
    assert_eq!(origins, json!([format!("http://{}", ui.address)]));

    // Counts and the newest page, newest first.
    assert_eq!(total(&b).await, 120);
    assert_eq!(
        levels(&b).await,
        json!({"INFO": 48, "WARN": 24, "ERROR": 24, "DEBUG": 24})
    );
    let shown = rows(&b).await;
    assert_eq!(shown.len(), 100);
    assert_eq!(
        shown[0],
        (
            "DEBUG".into(),
            "payments".into(),
            "handled request 119".into()
        )
    );
    assert_eq!(shown[99].2, "handled request 20");
    // The next page through the cursor: the 20 older ones, none twice.
    b.click("#more").await;
    wait_rows(&b, 120).await;
    let shown = rows(&b).await;
    assert_eq!(shown[119].2, "handled request 0");
    let mut messages: Vec<_> = shown.iter().map(|r| r.2.clone()).collect();
    messages.sort();
    messages.dedup();
    assert_eq!(messages.len(), 120);
    assert!(
        b.js("return document.getElementById('more').hidden", vec![])
            .await
            .as_bool()
            .unwrap()
    );

    // The volume: 20 one-minute bars of 6 (a log every 10 s).
    let bars = b
        .js(
            "return [...document.querySelectorAll('#volume g.bucket')].map(g => Number(g.dataset.count));",
            vec![],
        )
        .await;
    assert_eq!(bars, json!(vec![6; 20]));
    let by_level = b
        .js(
            "const out = {}; for (const r of document.querySelectorAll('#volume rect.bar')) \
             out[r.dataset.level] = (out[r.dataset.level] || 0) + Number(r.dataset.count); return out;",
            vec![],
        )
        .await;
    assert_eq!(
        by_level,
        json!({"INFO": 48, "WARN": 24, "ERROR": 24, "DEBUG": 24})
    );

    // Service statuses and firing alerts.
    let services = b
        .js(
            "return [...document.querySelectorAll('#services li')].map(l => [l.dataset.service, l.dataset.status]);",
            vec![],
        )
        .await;
    assert_eq!(services, json!([["postgres", "up"], ["redis", "down"]]));
    let alerts = b
        .js(
            "return [...document.querySelectorAll('#alerts li')].map(l => [l.dataset.key, l.dataset.severity, l.textContent]);",
            vec![],
        )
        .await;
    assert_eq!(alerts[0][0], "error-rate@checkout");
    assert_eq!(alerts[0][1], "critical");
    assert!(
        alerts[0][2].as_str().unwrap().contains("error rate is 98"),
        "{alerts}"
    );
    assert_eq!(alerts[1][0], "cpu-high@host1");
    assert_eq!(alerts.as_array().unwrap().len(), 2, "{alerts}");

    // A metric: the gauge's ten minutes, from the raw rows.
    let names = b
        .js(
            "return [...document.getElementById('metric-name').options].map(o => o.value).filter(v => v);",
            vec![],
        )
        .await;
    assert_eq!(
        names,
        json!(["http.latency", "orders.placed", "queue.depth"])
    );
    b.client
        .find(Locator::Id("metric-name"))
        .await
        .unwrap()
        .select_by_value("queue.depth")
        .await
        .unwrap();
    let points = b
        .until(
            "the metric's points",
            "const p = [...document.querySelectorAll('#metric-chart circle.point')]; \
             return p.length ? p.map(c => Number(c.dataset.avg)) : null;",
        )
        .await;
    let points: Vec<f64> = serde_json::from_value(points).unwrap();
    assert_eq!(points, (1..=10).map(f64::from).collect::<Vec<_>>());
    let granularity = b
        .js(
            "return document.getElementById('metric-info').dataset.granularity",
            vec![],
        )
        .await;
    assert_eq!(granularity, "minute");
    b.screenshot("logs").await;

    // A row expands to its attributes, and opens its trace as a waterfall.
    let first = b
        .client
        .find(Locator::XPath(
            "//tr[contains(@class,'log-row')][td[5][text()='handled request 0']]",
        ))
        .await
        .unwrap();
    first.click().await.unwrap();
    let attributes = b
        .until(
            "the row's attributes",
            "const d = document.querySelector('#log-rows tr.detail'); if (!d) return null; \
             return [...d.querySelectorAll('table.attrs tr')].map(r => [r.cells[0].textContent, r.cells[1].textContent]);",
        )
        .await;
    assert_eq!(
        attributes,
        json!([
            ["user.id", "0"],
            ["region", "eu"],
            ["code.line.number", "42"],
            ["trace id", known::TRACE],
            ["span id", "0000000000000001"]
        ])
    );
    b.click("#log-rows tr.detail .open-trace").await;
    let spans = b
        .until(
            "the waterfall",
            "const s = [...document.querySelectorAll('#waterfall .span-row')]; \
             return s.length ? s.map(r => [r.dataset.name, Number(r.dataset.depth), r.dataset.status, \
               Number(r.dataset.offsetNs) / 1e6, Number(r.dataset.durationNs) / 1e6, Number(r.dataset.logs), \
               parseFloat(r.querySelector('.span-bar').style.left), parseFloat(r.querySelector('.span-bar').style.width)]) : null;",
        )
        .await;
    let spans: Vec<WaterfallRow> = serde_json::from_value(spans).unwrap();
    let expected = [
        ("handle_request", 0, "Unset", 0.0, 1200.0, 3, 0.0, 100.0),
        (
            "db.query",
            1,
            "Unset",
            100.0,
            100.0,
            0,
            100.0 / 12.0,
            100.0 / 12.0,
        ),
        ("charge", 1, "Error", 600.0, 500.0, 2, 50.0, 500.0 / 12.0),
    ];
    assert_eq!(spans.len(), 3, "{spans:?}");
    for (got, want) in spans.iter().zip(expected) {
        assert_eq!(
            (got.0.as_str(), got.1, got.2.as_str()),
            (want.0, want.1, want.2)
        );
        assert_eq!(
            (got.3, got.4, got.5),
            (want.3, want.4, want.5),
            "{}",
            want.0
        );
        assert!(
            (got.6 - want.6).abs() < 0.01 && (got.7 - want.7).abs() < 0.01,
            "{got:?}"
        );
    }
    // The README's screenshot (docs/ui.png): the top of the page, the trace beside.
    b.js("window.scrollTo(0, 0)", vec![]).await;
    let overview = b.screenshot("overview").await;
    assert!(std::fs::metadata(&overview).unwrap().len() > 10_000);

    // Filters: a level from the list, then an attribute and a service typed in.
    redrawn(&b, async {
        b.client
            .find(Locator::Id("min-level"))
            .await
            .unwrap()
            .select_by_value("error")
            .await
            .unwrap();
    })
    .await;
    assert_eq!(total(&b).await, 24);
    let shown = rows(&b).await;
    assert_eq!(shown.len(), 24);
    assert!(shown.iter().all(|r| r.0 == "ERROR"), "{shown:?}");
    b.type_into("#attr", "user.id=3").await;
    b.type_into("#service", "payments").await;
    redrawn(&b, b.click("#search")).await;
    assert_eq!(total(&b).await, 12);
    let shown = rows(&b).await;
    assert_eq!(shown.len(), 12);
    assert!(shown.iter().all(|r| r.0 == "ERROR" && r.1 == "payments"));
    b.screenshot("filtered").await;
    redrawn(&b, b.click("#clear")).await;
    assert_eq!(total(&b).await, 120);

    // A click on a bar zooms into its minute; back to the hour after.
    redrawn(&b, b.click("#volume g.bucket:nth-of-type(1) rect")).await;
    assert_eq!(total(&b).await, 6);
    assert_eq!(rows(&b).await.len(), 6);
    let zoom_out = b
        .js("return document.getElementById('zoom-out').hidden", vec![])
        .await;
    assert_eq!(zoom_out, false);
    redrawn(&b, b.click("#zoom-out")).await;
    assert_eq!(total(&b).await, 120);
    // A drag across the middle half of the chart zooms into that stretch.
    let chart = b.client.find(Locator::Id("volume")).await.unwrap();
    let width = b
        .js(
            "return document.getElementById('volume').getBoundingClientRect().width",
            vec![],
        )
        .await
        .as_f64()
        .unwrap();
    let drag = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement {
            element: chart.clone(),
            duration: None,
            x: -width / 4.0,
            y: 0.0,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::MoveToElement {
            element: chart,
            duration: Some(Duration::from_millis(300)),
            x: width / 4.0,
            y: 0.0,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    redrawn(&b, async { b.client.perform_actions(drag).await.unwrap() }).await;
    let range = b
        .js(
            "const h = new URLSearchParams(location.hash.slice(1)); return [h.get('since'), h.get('until')];",
            vec![],
        )
        .await;
    let since: i64 = range[0].as_str().unwrap().parse().unwrap();
    let until: i64 = range[1].as_str().unwrap().parse().unwrap();
    let inside = (0..120)
        .filter(|i| (since..until).contains(&(fx.base + i * 10 * SECOND)))
        .count();
    // Half of an hour and a minute or two (the chart's range is widened to whole minutes).
    assert!(
        (30 * MINUTE..=32 * MINUTE).contains(&(until - since)),
        "a drag over half the chart, not a click: {} s",
        (until - since) / SECOND
    );
    assert!(inside > 0 && inside < 120, "{inside} in the middle half");
    assert_eq!(total(&b).await, inside as u64);
    assert_eq!(rows(&b).await.len(), inside.min(100));
    redrawn(&b, b.click("#zoom-out")).await;

    // Seven days: the metric from the hourly rollup, one point per hour.
    redrawn(&b, async {
        b.client
            .find(Locator::Id("range"))
            .await
            .unwrap()
            .select_by_value("604800")
            .await
            .unwrap();
    })
    .await;
    let granularity = b
        .until(
            "the hourly chart",
            "const i = document.getElementById('metric-info'); \
             return i.dataset.granularity === 'hour' ? i.dataset.granularity : null;",
        )
        .await;
    assert_eq!(granularity, "hour");
    let hourly = b
        .js(
            "return [...document.querySelectorAll('#metric-chart circle.point')].map(c => [Number(c.dataset.start), Number(c.dataset.avg)]);",
            vec![],
        )
        .await;
    let mut expected: Vec<(i64, Vec<f64>)> = Vec::new();
    for i in 0..10 {
        let hour = (fx.base + i * MINUTE) / 1_000_000_000 / 3600 * 3600;
        match expected.last_mut() {
            Some((h, values)) if *h == hour => values.push((i + 1) as f64),
            _ => expected.push((hour, vec![(i + 1) as f64])),
        }
    }
    let expected: Vec<(i64, f64)> = expected
        .iter()
        .map(|(h, v)| (*h, v.iter().sum::<f64>() / v.len() as f64))
        .collect();
    let hourly: Vec<(i64, f64)> = serde_json::from_value(hourly).unwrap();
    assert_eq!(hourly, expected);

    // Live: a row stored now appears, once.
    go(&b, &ui, "live=1").await;
    let live_row = known::log(
        known::ns(std::time::SystemTime::now()),
        "ERROR",
        17,
        "checkout",
        "app::live",
        "live row arrived",
    );
    known::insert(&fx.client, "logs", &[live_row]).await;
    b.until(
        "the live row",
        "return [...document.querySelectorAll('#log-rows td.message')].some(t => t.textContent === 'live row arrived');",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let live = b
        .js(
            "return [...document.querySelectorAll('#log-rows td.message')].filter(t => t.textContent === 'live row arrived').length;",
            vec![],
        )
        .await;
    assert_eq!(live, 1, "the live row once, after more polls");
    let top = rows(&b).await;
    assert_eq!(top[0].2, "live row arrived");
    assert_eq!(top.len(), 101, "the newest 100 and the new one");

    hostile_filters_through_the_page(&b, &ui, &fx).await;
    b.close().await;
}

/// Hostile strings, typed into the search box or given in the page's
/// address, each matching exactly its own row.
async fn hostile_filters_through_the_page(b: &Browser, ui: &Ui, fx: &Fixture) {
    // Six hours, so the rows from two hours back are in range.
    for (i, text) in HOSTILE.iter().enumerate() {
        let hash = format!(
            "range=21600&q={}",
            url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>()
        );
        if i < 2 {
            // Typed, as a person would: through the input and the Search button.
            go(b, ui, "range=21600").await;
            b.type_into("#q", text).await;
            redrawn(b, b.click("#search")).await;
        } else {
            go(b, ui, &hash).await;
        }
        let shown = rows(b).await;
        assert_eq!(total(b).await, 1, "{text:?}: {shown:?}");
        assert_eq!(shown.len(), 1, "{text:?}");
        assert_eq!(shown[0].2, *text, "{text:?} shown as stored");
    }
    // Case is ignored in UTF-8, and the markup stayed text.
    go(b, ui, "range=21600&q=CAF%C3%89").await;
    assert_eq!(rows(b).await[0].2, "naïve café 日本語");
    go(b, ui, "range=21600&service=hostile").await;
    assert_eq!(total(b).await, (HOSTILE.len() + NEAR_MISSES.len()) as u64);
    let injected = b
        .js(
            "return document.querySelectorAll('#log-rows img, #log-rows script').length",
            vec![],
        )
        .await;
    assert_eq!(injected, 0);
    // `'; DROP TABLE logs; --` did nothing but match.
    let stored = common::scalar(&fx.client, "SELECT count() FROM logs").await;
    assert_eq!(stored, 120 + 1 + (HOSTILE.len() + NEAR_MISSES.len()) as u64);
    // A bad filter is said on the page, not a blank list.
    go(b, ui, "range=21600&q=x").await;
    let before = b.loads().await;
    b.client
        .goto(&format!("{}#range=21600&min_level=loud", ui.url))
        .await
        .unwrap();
    b.loaded_after(before).await;
    let error = b
        .js(
            "return document.getElementById('error').textContent",
            vec![],
        )
        .await;
    assert!(error.as_str().unwrap().contains("min_level"), "{error}");
    b.screenshot("hostile").await;
}

// ---- the server's guard ---------------------------------------------------------

#[tokio::test]
async fn the_server_answers_loopback_or_the_token_and_reads_only() {
    let fx = Fixture::load("ui_guard").await;

    // Loopback by default, without a token.
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_chlog"))
        .args(["ui", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("[default: 127.0.0.1:8080]"), "{help}");

    let ui = fx.ui(&[]);
    assert!(!ui.url.contains("token"), "{}", ui.banner);
    let (status, page) = ui.get("/", &[]);
    assert_eq!(status, 200);
    assert!(page.contains("<script src=\"app.js\">"));
    let stats = ui.json("/api/stats");
    assert_eq!(
        stats["total"],
        120 + (HOSTILE.len() + NEAR_MISSES.len()) as u64
    );
    // A page elsewhere that rebinds its name to 127.0.0.1 is refused.
    let (status, _) = ui.get("/api/stats", &[("Host", "evil.example:80")]);
    assert_eq!(status, 403);
    // No endpoint takes SQL, and the endpoints take GET only.
    for path in [
        "/api/sql?query=SELECT%201",
        "/api/query?sql=SELECT%201",
        "/play",
    ] {
        assert_eq!(ui.get(path, &[]).0, 404, "{path}");
    }
    // Bad parameters are a 400 that names them.
    for (path, says) in [
        ("/api/logs?level=loud", "level="),
        ("/api/logs?word=time-out", r#"word=\"time-out\": one word"#),
        ("/api/logs?after=garbage", "after="),
        ("/api/volume?since=1", "since and until"),
        ("/api/metric", "name"),
        ("/api/trace", "id"),
    ] {
        let (status, body) = ui.get(path, &[]);
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains(says), "{path}: {body}");
    }
    // Hostile values through the endpoints, matched literally.
    for text in HOSTILE {
        let q: String = url::form_urlencoded::byte_serialize(text.as_bytes()).collect();
        let logs = ui.json(&format!("/api/logs?q={q}"));
        let entries = logs["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 1, "{text:?}");
        assert_eq!(entries[0]["message"], *text);
        let none = ui.json(&format!("/api/logs?service={q}"));
        assert_eq!(none["entries"], json!([]), "{text:?} as a service");
    }
    let stored = common::scalar(&fx.client, "SELECT count() FROM logs").await;
    assert_eq!(stored, 120 + (HOSTILE.len() + NEAR_MISSES.len()) as u64);

    // With a token: nothing without it, everything with it.
    let guarded = fx.ui(&["--require-token"]);
    let token = guarded
        .url
        .split("?token=")
        .nth(1)
        .expect("a token")
        .to_owned();
    assert_eq!(token.len(), 64, "{}", guarded.banner);
    assert_eq!(guarded.get("/", &[]).0, 401);
    assert_eq!(guarded.get("/api/stats", &[]).0, 401);
    assert_eq!(guarded.get("/app.js", &[]).0, 401);
    assert_eq!(guarded.get("/api/stats?token=0000", &[]).0, 401);
    let wrong = format!("Bearer {}", "0".repeat(64));
    assert_eq!(
        guarded.get("/api/stats", &[("Authorization", &wrong)]).0,
        401
    );
    let bearer = format!("Bearer {token}");
    let (status, body) = guarded.get("/api/stats", &[("Authorization", &bearer)]);
    assert_eq!(status, 200, "{body}");
    let port = guarded.address.rsplit(':').next().unwrap().to_owned();
    let cookie = format!("chlog_ui_{port}={token}");
    assert_eq!(guarded.get("/app.js", &[("Cookie", &cookie)]).0, 200);
    // With the token, any Host: a machine elsewhere names this one as it knows it.
    let (status, _) = guarded.get(
        &format!("/api/stats?token={token}"),
        &[("Host", "build-box.lan:80")],
    );
    assert_eq!(status, 200);
}

/// Every endpoint given generated parameters (known keys with any values,
/// numbers to `u64::MAX`, any text): 200 with JSON, or 400 with an error
/// that names the parameter; never a panic (`/api/volume` panicked on an
/// overflow with `until` near `u64::MAX`, and the connection dropped,
/// before). On 127.0.0.2, which is loopback too (every request was
/// answered 403 there, before).
#[tokio::test]
async fn every_endpoint_answers_any_parameters_with_json_or_a_named_400() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let fx = Fixture::load("ui_params").await;
    let ui = Ui::start_on("127.0.0.2:0", &fx.url, &fx.database, &[]);
    assert!(ui.url.starts_with("http://127.0.0.2:"), "{}", ui.banner);
    assert_eq!(ui.json("/api/stats")["total"], 133);
    for path in [
        "/api/volume?since=1&until=18446744073709551615",
        "/api/volume?since=18446744073709551614&until=18446744073709551615&buckets=1",
        "/api/logs?until=9223372036854775808",
    ] {
        let (status, body) = ui.get(path, &[]);
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body.contains("until=") || body.contains("since="),
            "{path}: {body}"
        );
    }
    let near_the_end = format!("/api/volume?since=0&until={}", i64::MAX);
    assert_eq!(ui.get(&near_the_end, &[]).0, 200);

    let endpoints = [
        "/api/logs",
        "/api/stats",
        "/api/volume",
        "/api/metric_names",
        "/api/metric",
        "/api/trace",
        "/api/status",
        "/api/events",
    ];
    let keys = [
        "since",
        "until",
        "buckets",
        "limit",
        "level",
        "min_level",
        "max_level",
        "service",
        "source",
        "attr",
        "trace",
        "span",
        "word",
        "q",
        "order",
        "after",
        "name",
        "id",
        "granularity",
        "type",
    ];
    let value = prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        (0u64..=i64::MAX as u64).prop_map(|n| n.to_string()),
        "\\PC{0,24}",
        proptest::sample::select(vec![
            "18446744073709551615",
            "9223372036854775807",
            "0",
            "-1",
            "1e300",
            "NaN",
            "k=v",
            "=",
            "oldest",
            "warn",
            "minute",
            "day",
            "abc",
            "%",
        ])
        .prop_map(str::to_owned),
    ];
    let request = (
        proptest::sample::select(endpoints.to_vec()),
        proptest::collection::vec((proptest::sample::select(keys.to_vec()), value), 0..6),
    );
    let mut runner = TestRunner::new(Config::with_cases(400));
    runner
        .run(&request, |(endpoint, pairs)| {
            let query: String = pairs
                .iter()
                .map(|(k, v)| {
                    let v: String = url::form_urlencoded::byte_serialize(v.as_bytes()).collect();
                    format!("{k}={v}")
                })
                .collect::<Vec<_>>()
                .join("&");
            let path = format!("{endpoint}?{query}");
            let (status, body) = ui.get(&path, &[]);
            let json: Value = serde_json::from_str(&body)
                .map_err(|e| TestCaseError::fail(format!("{path}: {status}: {e}: {body}")))?;
            match status {
                200 => {}
                400 => {
                    // Named as the page sends it: `key=...`, `key: ...`, or
                    // a sentence about since and until.
                    let error = json["error"].as_str().unwrap_or_default();
                    let named = pairs.iter().any(|(key, _)| {
                        error.starts_with(&format!("{key}="))
                            || error.starts_with(&format!("{key}:"))
                    }) || [
                        "since must be before until",
                        "the volume needs since and until",
                        "limit must be",
                        "buckets: ",
                        "name: which metric",
                        "id: which trace",
                    ]
                    .iter()
                    .any(|sentence| error.starts_with(sentence));
                    prop_assert!(named, "{path}: {error}");
                }
                _ => prop_assert!(false, "{path}: {status}: {body}"),
            }
            Ok(())
        })
        .unwrap();
    // Still answering: no handler took the server down.
    assert_eq!(ui.json("/api/stats")["total"], 133);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_opens_with_the_token_and_keeps_it_as_a_cookie() {
    let fx = Fixture::load("ui_token").await;
    let ui = fx.ui(&["--require-token"]);
    let b = Browser::start().await;
    // Without the token: the refusal, not the page.
    let bare = ui.url.split('?').next().unwrap().to_owned();
    b.client.goto(&bare).await.unwrap();
    let text = b.js("return document.body.textContent", vec![]).await;
    assert!(text.as_str().unwrap().contains("needs its token"), "{text}");
    // With it: the page, whose own requests carry the cookie it set.
    b.client.goto(&ui.url).await.unwrap();
    b.loaded_after(0).await;
    assert_eq!(total(&b).await, 120);
    b.close().await;
}

/// Not a check but a measurement, run by `make ui-bench` (scripts/ui-bench.sh)
/// against the `chlog ui` it started on 10 million logs (`UI_BENCH_URL`):
/// the time from navigation to the first rows drawn and to the volume chart
/// drawn, in the browser, median of 5 fresh loads per range.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement for make ui-bench, on its 10-million-row database"]
async fn page_timings_on_the_ui_bench_database() {
    let url = std::env::var("UI_BENCH_URL").expect("UI_BENCH_URL: run it through make ui-bench");
    let b = Browser::start().await;
    println!("| range | first rows drawn | volume chart drawn | (in chromium, from navigation) |");
    println!("| --- | --- | --- | --- |");
    for (range, label) in [(3600, "1 h"), (86400, "24 h")] {
        let mut rows = Vec::new();
        let mut volume = Vec::new();
        for _ in 0..5 {
            b.client.goto("about:blank").await.unwrap();
            b.client
                .goto(&format!("{url}#range={range}"))
                .await
                .unwrap();
            let marks = b
                .until(
                    "both marks",
                    "const r = performance.getEntriesByName('chlog:rows')[0], \
                     v = performance.getEntriesByName('chlog:volume')[0]; \
                     return r && v ? [r.startTime, v.startTime] : null;",
                )
                .await;
            rows.push(marks[0].as_f64().unwrap());
            volume.push(marks[1].as_f64().unwrap());
        }
        rows.sort_by(f64::total_cmp);
        volume.sort_by(f64::total_cmp);
        println!("| {label} | {:.0} ms | {:.0} ms | |", rows[2], volume[2]);
    }
    b.close().await;
}
