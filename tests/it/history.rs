//! Reading history on known data: rows written straight into `logs` and
//! `spans` with chosen times, ids and attributes, and every answer checked
//! against the same question asked of the rows in the test.

use crate::common;
use crate::known::{self, EventRow, LogRow, MetricRow, SpanRow, at};

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing_clickhouse::query::{
    LogEntry, LogQuery, Order, QueryClient, SpanQuery, SpanStatus, TimeRange, message_pattern,
};
use tracing_clickhouse::{Config, Severity};

const SERVICES: [&str; 3] = ["checkout", "payments", "search"];
const SOURCES: [&str; 3] = ["app::db", "app::http", "app::cache"];
const ROWS: u64 = 600;

/// The start of the data: a whole minute, two hours ago.
fn base_ns() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    (now / 60 * 60 - 7200) * 1_000_000_000
}

fn trace_id(n: u64) -> String {
    format!("{:032x}", 0xabc0_0000 + n)
}

fn span_id(n: u64) -> String {
    format!("{:016x}", 0x5000 + n)
}

/// Row `n`: one every 7 s, skewed levels, messages from four templates
/// with ids and numbers, three attributes, a third of the rows in traces.
fn log_row(base: i64, n: u64) -> LogRow {
    let level = match n % 10 {
        0..=4 => Severity::Info,
        5 | 6 => Severity::Debug,
        7 => Severity::Warn,
        8 => Severity::Error,
        _ => Severity::Trace,
    };
    let body = match n % 4 {
        0 => format!("user {} logged in", n * 13),
        1 => format!("request {:016x} failed after {} ms", n * 7919, n % 97),
        2 => format!("order 123e4567-e89b-12d3-a456-{:012x} paid", n),
        _ => format!("cache miss for key {n}: timeout"),
    };
    let in_trace = n.is_multiple_of(3);
    LogRow {
        timestamp_ns: base + n as i64 * 7_000_000_000 + n as i64,
        trace_id: if in_trace {
            trace_id(n / 30)
        } else {
            String::new()
        },
        span_id: if in_trace {
            span_id(n / 10)
        } else {
            String::new()
        },
        level: level.as_str().into(),
        severity_number: level.number(),
        service: SERVICES[(n % 3) as usize].into(),
        body,
        source: SOURCES[(n / 3 % 3) as usize].into(),
        attributes: vec![
            ("user.id".into(), (n % 7).to_string()),
            ("region".into(), ["eu", "us"][(n % 2) as usize].into()),
            ("n".into(), n.to_string()),
        ],
    }
}

fn corpus(base: i64) -> Vec<LogRow> {
    let mut rows: Vec<LogRow> = (0..ROWS).map(|n| log_row(base, n)).collect();
    // Three identical rows: paging must show each of them once.
    let twin = log_row(base, ROWS);
    rows.extend([twin.clone(), twin.clone(), twin]);
    rows
}

async fn insert_logs(client: &clickhouse::Client, rows: &[LogRow]) {
    known::insert(client, "logs", rows).await;
}

async fn insert_spans(client: &clickhouse::Client, rows: &[SpanRow]) {
    known::insert(client, "spans", rows).await;
}

/// A fresh database with the schema and the corpus in `logs`.
async fn loaded(prefix: &str) -> (Config, QueryClient, Vec<LogRow>) {
    let config = common::config(prefix);
    tracing_clickhouse::schema::apply(&config).await.unwrap();
    let client = QueryClient::new(&config).unwrap();
    let rows = corpus(base_ns());
    insert_logs(&common::raw_client(&config), &rows).await;
    (config, client, rows)
}

/// What a log answer is compared by: its time and body (the body holds `n`).
fn keys<'a>(rows: impl IntoIterator<Item = (&'a i64, &'a String)>) -> Vec<(i64, String)> {
    rows.into_iter().map(|(t, b)| (*t, b.clone())).collect()
}

fn entry_keys(entries: &[LogEntry]) -> Vec<(i64, String)> {
    keys(entries.iter().map(|e| (&e.timestamp_ns, &e.message)))
}

/// The rows a predicate picks, in `order`.
fn expected(rows: &[LogRow], order: Order, pick: impl Fn(&LogRow) -> bool) -> Vec<(i64, String)> {
    let mut picked = keys(
        rows.iter()
            .filter(|r| pick(r))
            .map(|r| (&r.timestamp_ns, &r.body)),
    );
    picked.sort();
    if order == Order::NewestFirst {
        picked.reverse();
    }
    picked
}

#[tokio::test(flavor = "multi_thread")]
async fn every_log_filter_picks_what_the_same_filter_over_the_rows_picks() {
    let (_config, client, rows) = loaded("filters").await;
    let base = rows[0].timestamp_ns;
    let mid = at(base + 1800 * 1_000_000_000);
    type Pick = Box<dyn Fn(&LogRow) -> bool>;
    let cases: Vec<(&str, LogQuery, Pick)> = vec![
        ("all", LogQuery::new(), Box::new(|_| true)),
        (
            "attribute",
            LogQuery::new().attribute("user.id", "3"),
            Box::new(|r| r.attribute("user.id") == Some("3")),
        ),
        (
            "two attributes",
            LogQuery::new()
                .attribute("user.id", "3")
                .attribute("region", "eu"),
            Box::new(|r| {
                r.attribute("user.id") == Some("3") && r.attribute("region") == Some("eu")
            }),
        ),
        (
            "an attribute whose value is another key's",
            LogQuery::new().attribute("region", "3"),
            Box::new(|_| false),
        ),
        (
            "trace id",
            LogQuery::new().trace_id(trace_id(4)),
            Box::new(|r| r.trace_id == trace_id(4)),
        ),
        (
            "span id",
            LogQuery::new().span_id(span_id(12)),
            Box::new(|r| r.span_id == span_id(12)),
        ),
        (
            "token",
            LogQuery::new().token("timeout"),
            Box::new(|r| r.body.ends_with(": timeout")),
        ),
        (
            "two tokens",
            LogQuery::new().token("order").token("paid"),
            Box::new(|r| r.body.starts_with("order ")),
        ),
        (
            "a token is a whole word",
            LogQuery::new().token("time"),
            Box::new(|_| false),
        ),
        (
            "contains ignores case",
            LogQuery::new().contains("CACHE MISS"),
            Box::new(|r| r.body.contains("cache miss")),
        ),
        (
            "severity range",
            LogQuery::new()
                .min_level(Severity::Debug)
                .max_level(Severity::Warn),
            Box::new(|r| (Severity::Debug..=Severity::Warn).contains(&r.severity())),
        ),
        (
            "level",
            LogQuery::new().level(Severity::Error),
            Box::new(|r| r.severity() == Severity::Error),
        ),
        (
            "two services",
            LogQuery::new().service("checkout").service("search"),
            Box::new(|r| r.service == "checkout" || r.service == "search"),
        ),
        (
            "two sources and a service",
            LogQuery::new()
                .source("app::db")
                .source("app::cache")
                .service("payments"),
            Box::new(|r| r.source != "app::http" && r.service == "payments"),
        ),
        (
            "time range",
            LogQuery::new().range(TimeRange::between(mid, at(base + 3000 * 1_000_000_000))),
            Box::new(move |r| {
                r.timestamp_ns >= base + 1800 * 1_000_000_000
                    && r.timestamp_ns < base + 3000 * 1_000_000_000
            }),
        ),
    ];
    for (what, query, pick) in &cases {
        for order in [Order::NewestFirst, Order::OldestFirst] {
            let logs = client
                .query_logs(&query.clone().order(order).limit(10_000))
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let want = expected(&rows, order, pick);
            assert_eq!(entry_keys(&logs), want, "{what}, {order:?}");
            assert!(logs.next.is_none(), "{what}: one page");
        }
    }
    // Non-trivial cases pick something, so the comparisons above can fail.
    let picked = |what: &str| {
        let (_, _, pick) = cases.iter().find(|(w, _, _)| *w == what).unwrap();
        rows.iter().filter(|r| pick(r)).count()
    };
    assert_eq!(picked("all"), 603);
    for what in [
        "attribute",
        "two attributes",
        "trace id",
        "span id",
        "token",
        "two tokens",
    ] {
        assert!(picked(what) > 0 && picked(what) < 603, "{what}");
    }
    let bad = client.query_logs(&LogQuery::new().token("time-out")).await;
    assert!(
        matches!(bad, Err(tracing_clickhouse::Error::InvalidQuery { .. })),
        "{bad:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_never_repeat_or_skip_a_row_while_rows_arrive() {
    let (config, client, rows) = loaded("pages").await;
    let newest = rows.iter().map(|r| r.timestamp_ns).max().unwrap();
    let mut stored = rows.clone();
    for (pass, order) in [Order::NewestFirst, Order::OldestFirst]
        .into_iter()
        .enumerate()
    {
        let before = expected(&stored, order, |_| true);
        let mut seen: Vec<(i64, String)> = Vec::new();
        let mut arrived: Vec<LogRow> = Vec::new();
        let mut page = client
            .query_logs(&LogQuery::new().order(order).limit(7))
            .await
            .unwrap();
        loop {
            seen.extend(entry_keys(&page));
            let Some(next) = page.next else { break };
            assert_eq!(page.len(), 7);
            // A row arrives between pages, newer than everything so far.
            let k = arrived.len() as i64 + 1;
            let mut row = log_row(0, 10_000 * (pass as u64 + 1) + k as u64);
            row.timestamp_ns = newest + (pass as i64 * 1_000 + k) * 1_000_000_000;
            insert_logs(&common::raw_client(&config), std::slice::from_ref(&row)).await;
            arrived.push(row);
            // The cursor also travels as text.
            let next = next.to_string().parse().unwrap();
            page = client
                .query_logs(&LogQuery::new().limit(7).after(next))
                .await
                .unwrap();
        }
        let mut want = before;
        if order == Order::OldestFirst {
            // Oldest first, rows that arrive later come later: on the last pages.
            want.extend(keys(arrived.iter().map(|r| (&r.timestamp_ns, &r.body))));
        }
        assert!(arrived.len() > 80, "{order:?}: many pages");
        assert_eq!(seen.len(), want.len(), "{order:?}");
        assert_eq!(seen, want, "{order:?}: every row once, in order");
        let twins = seen.iter().filter(|k| k.1 == rows[600].body).count();
        assert_eq!(twins, 3, "identical rows are each shown once");
        stored.extend(arrived);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stats_volume_and_patterns_count_what_the_rows_hold() {
    let (_config, client, rows) = loaded("stats").await;
    let base = rows[0].timestamp_ns;

    let stats = client.log_stats(&LogQuery::new()).await.unwrap();
    let mut by_level: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_source: BTreeMap<String, u64> = BTreeMap::new();
    for r in &rows {
        *by_level.entry(r.level.clone()).or_default() += 1;
        *by_source.entry(r.source.clone()).or_default() += 1;
    }
    assert_eq!(stats.total, rows.len() as u64);
    assert_eq!((stats.by_level, stats.by_source), (by_level, by_source));
    assert_eq!(stats.first_ns, Some(base));

    // Per minute over a range on minutes: from the logs_by_level rollup.
    let (since, until) = (base + 600 * 1_000_000_000, base + 3000 * 1_000_000_000);
    let per_minute = |rows: &[LogRow], width: i64, pick: &dyn Fn(&LogRow) -> bool| {
        let mut want: BTreeMap<i64, BTreeMap<String, u64>> = BTreeMap::new();
        for r in rows
            .iter()
            .filter(|r| r.timestamp_ns >= since && r.timestamp_ns < until && pick(r))
        {
            let start = r.timestamp_ns / width * width;
            *want
                .entry(start)
                .or_default()
                .entry(r.level.clone())
                .or_default() += 1;
        }
        want
    };
    let volume_of = |volume: tracing_clickhouse::query::Answer<
        tracing_clickhouse::query::VolumeBucket,
    >|
     -> BTreeMap<i64, BTreeMap<String, u64>> {
        volume
            .entries
            .into_iter()
            .map(|b| (b.start_ns, b.by_level))
            .collect()
    };
    let query = LogQuery::new().range(TimeRange::between(at(since), at(until)));
    let minute = client
        .log_volume(&query, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        volume_of(minute),
        per_minute(&rows, 60_000_000_000, &|_| true)
    );
    let warn = query.clone().min_level(Severity::Warn).service("payments");
    let minute = client
        .log_volume(&warn, Duration::from_secs(300))
        .await
        .unwrap();
    let want = per_minute(&rows, 300_000_000_000, &|r| {
        r.severity() >= Severity::Warn && r.service == "payments"
    });
    assert!(!want.is_empty());
    assert_eq!(
        volume_of(minute),
        want,
        "from the rollup, by service and level"
    );
    // Half minutes and a source: from the logs themselves.
    let db = query.clone().source("app::db");
    let half = client
        .log_volume(&db, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        volume_of(half),
        per_minute(&rows, 30_000_000_000, &|r| r.source == "app::db")
    );
    assert!(
        client
            .log_volume(&query, Duration::from_millis(10))
            .await
            .is_err()
    );

    // Top patterns of the warnings and errors: four templates, the counts
    // the rows give.
    let errors = LogQuery::new().min_level(Severity::Warn);
    let patterns = client.top_patterns(&errors, 10).await.unwrap().entries;
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.severity() >= Severity::Warn) {
        *want.entry(message_pattern(&r.body)).or_default() += 1;
    }
    let got: BTreeMap<String, u64> = patterns
        .iter()
        .map(|p| (p.pattern.clone(), p.count))
        .collect();
    assert_eq!(got, want);
    assert!(
        got.contains_key("request <hex> failed after <num> ms"),
        "{got:?}"
    );
    assert!(got.contains_key("order <uuid> paid"), "{got:?}");
    assert!(patterns.windows(2).all(|w| w[0].count >= w[1].count));
    for p in &patterns {
        assert_eq!(
            message_pattern(&p.example),
            p.pattern,
            "the example is of its pattern"
        );
        assert!(p.first_ns <= p.last_ns);
    }
    let top1 = client.top_patterns(&errors, 1).await.unwrap().entries;
    assert_eq!(top1.len(), 1);
    assert_eq!(top1[0].count, *want.values().max().unwrap());
}

/// Trace A: `handle` (100 ms) → `db.query` ×3 (10, 20, 30 ms; the last an
/// error) and `cache.get` (1 ms) → `cache.read`; and 100 more `db.query`
/// spans of traces of their own, 1 ms to 100 ms.
fn span_corpus(base: i64) -> Vec<SpanRow> {
    let span = |trace: &str, id: &str, parent: &str, name: &str, start: i64, ms: u64| SpanRow {
        timestamp_ns: base + start * 1_000_000,
        trace_id: trace.into(),
        span_id: id.into(),
        parent_span_id: parent.into(),
        name: name.into(),
        service: "checkout".into(),
        duration_ns: ms * 1_000_000,
        status: "Unset".into(),
        ..SpanRow::default()
    };
    let a = trace_id(9000);
    let mut spans = vec![
        span(&a, "00000000000000a0", "", "handle", 0, 100),
        span(
            &a,
            "00000000000000a1",
            "00000000000000a0",
            "db.query",
            5,
            10,
        ),
        span(
            &a,
            "00000000000000a2",
            "00000000000000a0",
            "db.query",
            20,
            20,
        ),
        span(
            &a,
            "00000000000000a3",
            "00000000000000a0",
            "db.query",
            45,
            30,
        ),
        span(
            &a,
            "00000000000000a4",
            "00000000000000a0",
            "cache.get",
            80,
            1,
        ),
        span(
            &a,
            "00000000000000a5",
            "00000000000000a4",
            "cache.read",
            80,
            1,
        ),
    ];
    spans[3].status = "Error".into();
    for ms in 1..=100 {
        let mut s = span(
            &trace_id(9001 + ms),
            &format!("{:016x}", 0xb000 + ms),
            "",
            "db.query",
            1000 + ms as i64,
            ms,
        );
        s.service = "search".into();
        spans.push(s);
    }
    spans
}

/// ClickHouse's `quantileExact`: the element at `⌊q·n⌋` of the sorted values.
fn quantile_exact(sorted: &[u64], q: f64) -> u64 {
    sorted[((q * sorted.len() as f64) as usize).min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread")]
async fn traces_spans_and_the_slowest_operations() {
    let config = common::config("traces");
    tracing_clickhouse::schema::apply(&config).await.unwrap();
    let client = QueryClient::new(&config).unwrap();
    let base = base_ns();
    let spans = span_corpus(base);
    insert_spans(&common::raw_client(&config), &spans).await;
    let a = trace_id(9000);
    let log_in = |span: &str, ms: i64, body: &str| {
        let mut row = log_row(base, 1);
        row.timestamp_ns = base + ms * 1_000_000;
        row.trace_id = a.clone();
        row.span_id = span.into();
        row.body = body.into();
        row
    };
    let logs = [
        log_in("00000000000000a0", 1, "handling"),
        log_in("00000000000000a3", 50, "query failed"),
        log_in("00000000000000a5", 80, "read"),
        log_in("00000000000000ff", 90, "in a span still open"),
    ];
    insert_logs(&common::raw_client(&config), &logs).await;

    let names = |entries: &[tracing_clickhouse::query::SpanEntry]| -> Vec<String> {
        entries
            .iter()
            .map(|s| format!("{}:{}", s.name, s.duration_ns / 1_000_000))
            .collect()
    };
    let slow = client
        .query_spans(
            &SpanQuery::new()
                .service("checkout")
                .min_duration(Duration::from_millis(20))
                .order(Order::OldestFirst),
        )
        .await
        .unwrap();
    assert_eq!(names(&slow), ["handle:100", "db.query:20", "db.query:30"]);
    let failed = client
        .query_spans(&SpanQuery::new().status(SpanStatus::Error))
        .await
        .unwrap();
    assert_eq!(names(&failed), ["db.query:30"]);
    let cache = client
        .query_spans(
            &SpanQuery::new()
                .name("cache.get")
                .name("cache.read")
                .trace_id(&a),
        )
        .await
        .unwrap();
    assert_eq!(cache.len(), 2);
    let newest = client
        .query_spans(&SpanQuery::new().limit(3))
        .await
        .unwrap();
    assert_eq!(
        names(&newest),
        ["db.query:100", "db.query:99", "db.query:98"]
    );

    let trace = client.trace(&a).await.unwrap();
    let tree: Vec<(usize, String)> = trace
        .spans()
        .into_iter()
        .map(|(d, s)| (d, s.name.clone()))
        .collect();
    assert_eq!(
        tree,
        [
            (0, "handle".into()),
            (1, "db.query".into()),
            (1, "db.query".into()),
            (1, "db.query".into()),
            (1, "cache.get".into()),
            (2, "cache.read".into()),
        ]
    );
    let root = &trace.roots[0];
    assert_eq!(root.logs[0].message, "handling");
    assert_eq!(root.children[2].logs[0].message, "query failed");
    assert_eq!(root.children[3].children[0].logs[0].message, "read");
    assert_eq!(trace.unattached_logs[0].message, "in a span still open");
    assert!(!trace.truncated);
    assert!(client.trace(&trace_id(1)).await.unwrap().is_empty());

    let operations = client
        .slowest_operations(&SpanQuery::new(), 10)
        .await
        .unwrap()
        .entries;
    let mut want: BTreeMap<(String, String), Vec<u64>> = BTreeMap::new();
    for s in &spans {
        want.entry((s.service.clone(), s.name.clone()))
            .or_default()
            .push(s.duration_ns);
    }
    assert_eq!(operations.len(), want.len());
    for op in &operations {
        let mut durations = want[&(op.service.clone(), op.name.clone())].clone();
        durations.sort();
        assert_eq!(op.count, durations.len() as u64);
        assert_eq!(
            (op.p50_ns, op.p95_ns, op.p99_ns, op.max_ns),
            (
                quantile_exact(&durations, 0.5),
                quantile_exact(&durations, 0.95),
                quantile_exact(&durations, 0.99),
                *durations.last().unwrap()
            ),
            "{op:?}"
        );
    }
    assert!(operations.windows(2).all(|w| w[0].p95_ns >= w[1].p95_ns));
    assert_eq!(
        (operations[0].name.as_str(), operations[0].p95_ns),
        ("handle", 100_000_000)
    );
    let search = client
        .slowest_operations(&SpanQuery::new().service("search"), 1)
        .await
        .unwrap();
    assert_eq!(search.entries[0].p50_ns, 51_000_000);
}

/// The same answers without async code, from a plain thread.
#[test]
fn the_blocking_client_answers_as_the_async_one() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (config, client, _rows) = runtime.block_on(loaded("blocking"));
    let query = LogQuery::new().attribute("region", "us").limit(50);
    let want = runtime.block_on(client.query_logs(&query)).unwrap();
    drop(runtime);
    let blocking = QueryClient::new(&config).unwrap().blocking().unwrap();
    let got = std::thread::spawn(move || {
        blocking
            .block_on(|client| async move { client.query_logs(&query).await })
            .unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(got, want);
    assert_eq!(got.len(), 50);
    let blocking = client.blocking().unwrap();
    let stats = blocking
        .block_on(|client| async move { client.log_stats(&LogQuery::new()).await })
        .unwrap();
    assert_eq!(stats.total, 603);
    // Also from inside a runtime's thread (it waits there, as asked).
    let inside = tokio::runtime::Runtime::new().unwrap();
    let total = inside.block_on(async move {
        tokio::task::spawn_blocking(move || {
            let stats = blocking.block_on(|c| async move { c.log_stats(&LogQuery::new()).await });
            stats.unwrap().total
        })
        .await
        .unwrap()
    });
    assert_eq!(total, 603);
}

/// Strings that would break a query built by pasting values into SQL, or
/// by LIKE patterns, or by a careless escaper.
fn hostile() -> Vec<String> {
    let mut values: Vec<String> = [
        "'",
        "\"",
        "\\",
        "\\'",
        "'; DROP TABLE logs; --",
        "x' OR '1'='1",
        "%",
        "_",
        "a%b_c",
        "\0",
        "nul\0inside",
        "line\nbreak",
        "cr\r\nlf",
        "tab\there",
        "日本語",
        "Grüße ünï",
        "emoji 🦀",
        "{p0:String}",
        "$1 \\0 \\n",
        "\u{1b}[31mred",
        "",
    ]
    .map(String::from)
    .to_vec();
    values.push("'\\%_\n".repeat(10_000)); // 50 KB, every byte escaped on the way
    values
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_strings_are_matched_literally_by_every_filter() {
    let config = common::config("hostile");
    tracing_clickhouse::schema::apply(&config).await.unwrap();
    let client = QueryClient::new(&config).unwrap();
    let base = base_ns();
    let values = hostile();
    // Each value as every column, and beside it a row where it is part of a
    // longer text: equality must tell them apart, `contains` must not.
    let mut logs = Vec::new();
    for (i, h) in values.iter().enumerate() {
        for (j, text) in [h.clone(), format!("<{h}>")].into_iter().enumerate() {
            let mut row = log_row(base, (i * 2 + j) as u64);
            row.body = text.clone();
            row.source = text.clone();
            row.service = text.clone();
            row.trace_id = text.clone();
            row.span_id = text.clone();
            row.attributes = vec![(text.clone(), text.clone())];
            logs.push(row);
        }
    }
    insert_logs(&common::raw_client(&config), &logs).await;
    let spans: Vec<SpanRow> = logs
        .iter()
        .map(|l| SpanRow {
            timestamp_ns: l.timestamp_ns,
            trace_id: l.body.clone(),
            span_id: "0000000000000001".into(),
            parent_span_id: String::new(),
            name: l.body.clone(),
            service: l.body.clone(),
            duration_ns: 1,
            status: "Unset".into(),
            ..SpanRow::default()
        })
        .collect();
    insert_spans(&common::raw_client(&config), &spans).await;
    let events: Vec<EventRow> = logs
        .iter()
        .map(|l| EventRow {
            timestamp_ns: l.timestamp_ns,
            event_type: l.body.clone(),
            source: l.body.clone(),
            service: "s".into(),
            ..EventRow::default()
        })
        .collect();
    known::insert(&common::raw_client(&config), "events", &events).await;
    let metrics: Vec<MetricRow> = logs
        .iter()
        .map(|l| MetricRow {
            timestamp_ns: l.timestamp_ns,
            name: l.body.clone(),
            kind: "gauge".into(),
            service: "s".into(),
            attributes: vec![(l.body.clone(), l.body.clone())],
            value: 1.0,
            ..MetricRow::default()
        })
        .collect();
    known::insert(&common::raw_client(&config), "metrics", &metrics).await;

    let bodies = |entries: &[LogEntry]| {
        let mut b: Vec<String> = entries.iter().map(|e| e.message.clone()).collect();
        b.sort();
        b
    };
    let exactly = |h: &String| vec![h.clone()];
    for h in &values {
        let shown = format!("{:?}", h.chars().take(20).collect::<String>());
        let all = |q: LogQuery| q.limit(10_000);
        for (what, query) in [
            ("source", all(LogQuery::new().source(h))),
            ("service", all(LogQuery::new().service(h))),
            (
                "two services",
                all(LogQuery::new().service(h).service("none")),
            ),
            ("attribute", all(LogQuery::new().attribute(h, h))),
            ("trace id", all(LogQuery::new().trace_id(h))),
            ("span id", all(LogQuery::new().span_id(h))),
        ] {
            let logs = client
                .query_logs(&query)
                .await
                .unwrap_or_else(|e| panic!("{what} {shown}: {e}"));
            assert_eq!(bodies(&logs), exactly(h), "{what} {shown}");
        }
        let contains = client
            .query_logs(&all(LogQuery::new().contains(h)))
            .await
            .unwrap();
        let mut want: Vec<String> = logs
            .iter()
            .filter(|l| l.body.to_lowercase().contains(&h.to_lowercase()))
            .map(|l| l.body.clone())
            .collect();
        want.sort();
        assert_eq!(bodies(&contains), want, "contains {shown}");
        assert!(
            want.len() >= 2,
            "contains {shown}: itself and the longer text"
        );
        let token = client.query_logs(&all(LogQuery::new().token(h))).await;
        let is_word = !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || !b.is_ascii());
        match token {
            Ok(logs) => {
                assert!(is_word, "token {shown} should be refused");
                assert_eq!(
                    bodies(&logs).len(),
                    2,
                    "token {shown}: whole word, in both rows"
                );
            }
            Err(tracing_clickhouse::Error::InvalidQuery { .. }) => {
                assert!(!is_word, "token {shown}")
            }
            Err(e) => panic!("token {shown}: {e}"),
        }
        let stats = client.log_stats(&LogQuery::new().source(h)).await.unwrap();
        assert_eq!(stats.total, 1, "stats {shown}");
        for query in [
            SpanQuery::new().service(h),
            SpanQuery::new().name(h),
            SpanQuery::new().trace_id(h),
        ] {
            let spans = client.query_spans(&query).await.unwrap();
            let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(names, [h.as_str()], "{query:?}");
        }
        for query in [
            tracing_clickhouse::query::EventQuery::new().event_type(h),
            tracing_clickhouse::query::EventQuery::new().source(h),
        ] {
            let events = client.query_events(&query).await.unwrap();
            let types: Vec<&str> = events
                .entries
                .iter()
                .map(|e| e.event_type.as_str())
                .collect();
            assert_eq!(types, [h.as_str()], "events {shown}");
        }
        let points = client
            .query_metrics(&tracing_clickhouse::query::MetricQuery::new(h).attribute(h, h))
            .await
            .unwrap();
        assert_eq!(points.entries.len(), 1, "metrics {shown}");
    }
    // Longer than a query parameter can be: a clear error, nothing sent.
    let huge = "x".repeat(1 << 20);
    let error = client
        .query_logs(&LogQuery::new().contains(&huge))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, tracing_clickhouse::Error::InvalidQuery { reason, .. } if reason.contains("1048576 bytes")),
        "{error}"
    );
    let rows = common::scalar(&common::raw_client(&config), "SELECT count() FROM logs").await;
    assert_eq!(rows, logs.len() as u64, "and nothing was dropped");
}

/// While ClickHouse is down, the pipeline's client answers from the rows
/// waiting in memory; once they are delivered, ClickHouse gives the same
/// answers (the patterns included: RE2 and the `regex` crate agree).
#[tokio::test(flavor = "multi_thread")]
async fn memory_answers_the_new_questions_as_clickhouse_does() {
    use tracing_clickhouse::query::{AnswerOrigin, LogCursor};
    let port = common::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let config = common::builder_for(&url, &common::unique_database("memory"))
        .build_config()
        .unwrap();
    let (dispatch, telemetry) = common::start(config);
    tracing::dispatcher::with_default(&dispatch, || {
        for n in 0..60u64 {
            let span = tracing::info_span!("job", n);
            let _entered = span.enter();
            let user = n % 4;
            match n % 3 {
                0 => tracing::warn!(user, "user {n} timed out"),
                1 => tracing::info!(user, region = "eu", "request {:x}abc done", n * 977),
                _ => tracing::error!(user, "order {n} failed: timeout"),
            }
        }
    });
    let start = std::time::Instant::now();
    while telemetry.stats().memory_rows < 120 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{:?}",
            telemetry.stats()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let client = telemetry.query();
    let all = client
        .query_logs(&LogQuery::new().limit(1000))
        .await
        .unwrap();
    assert!(all.origin.is_memory(), "{:?}", all.origin);
    assert_eq!(all.len(), 60);
    let trace_id = all.entries[7].trace_id.clone();
    let log_queries = [
        LogQuery::new().attribute("user", "2").limit(1000),
        LogQuery::new()
            .attribute("region", "eu")
            .order(Order::OldestFirst)
            .limit(5),
        LogQuery::new().token("timeout").limit(1000),
        LogQuery::new()
            .min_level(Severity::Info)
            .max_level(Severity::Warn)
            .limit(1000),
        LogQuery::new().service("tc-test").service("other").limit(3),
        LogQuery::new().trace_id(&trace_id),
    ];
    let errors = LogQuery::new().min_level(Severity::Warn);
    let spans = SpanQuery::new()
        .name("job")
        .order(Order::OldestFirst)
        .limit(1000);
    let mut from_memory = Vec::new();
    for query in &log_queries {
        let logs = client.query_logs(query).await.unwrap();
        assert!(logs.origin.is_memory() && logs.next.is_none(), "{query:?}");
        from_memory.push(logs.entries);
    }
    assert_eq!(from_memory[0].len(), 15);
    assert_eq!(
        from_memory[2].len(),
        20,
        "a whole word: `timed out` is not `timeout`"
    );
    let stats = client.log_stats(&errors).await.unwrap();
    let volume = client
        .log_volume(&LogQuery::new(), Duration::from_secs(60))
        .await
        .unwrap();
    let patterns = client.top_patterns(&errors, 10).await.unwrap();
    let span_rows = client.query_spans(&spans).await.unwrap();
    let operations = client
        .slowest_operations(&SpanQuery::new(), 5)
        .await
        .unwrap();
    let trace = client.trace(&trace_id).await.unwrap();
    for origin in [
        &stats.origin,
        &volume.origin,
        &patterns.origin,
        &span_rows.origin,
    ] {
        assert!(origin.is_memory(), "{origin:?}");
    }
    assert!(operations.origin.is_memory() && trace.origin.is_memory());
    assert_eq!(stats.total, 40);
    assert_eq!(span_rows.len(), 60);
    assert_eq!(trace.spans().len(), 1);
    assert_eq!(trace.roots[0].logs.len(), 1);
    let patterns_seen: Vec<&str> = patterns
        .entries
        .iter()
        .map(|p| p.pattern.as_str())
        .collect();
    assert_eq!(
        patterns_seen,
        ["order <num> failed: timeout", "user <num> timed out"]
    );
    // A later page needs ClickHouse.
    let cursor: LogCursor = format!("n.{}.0.1", all.entries[0].timestamp_ns)
        .parse()
        .unwrap();
    let paged = client.query_logs(&LogQuery::new().after(cursor)).await;
    assert!(
        matches!(
            paged,
            Err(tracing_clickhouse::Error::ClickHouseNeeded { .. })
        ),
        "{paged:?}"
    );

    // ClickHouse comes back: the same questions, the same answers.
    let _server = common::DevServer::start(common::Options {
        port,
        ..common::Options::default()
    });
    telemetry.flush(Duration::from_secs(60)).unwrap();
    for (query, entries) in log_queries.iter().zip(&from_memory) {
        let logs = client.query_logs(query).await.unwrap();
        assert_eq!(logs.origin, AnswerOrigin::ClickHouse);
        assert_eq!(&logs.entries, entries, "{query:?}");
    }
    let again = client.log_stats(&errors).await.unwrap();
    assert_eq!(
        (again.by_level, again.by_source),
        (stats.by_level, stats.by_source)
    );
    let again = client
        .log_volume(&LogQuery::new(), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        again.entries, volume.entries,
        "from the rollup, as from memory"
    );
    let again = client.top_patterns(&errors, 10).await.unwrap();
    let counts = |p: &tracing_clickhouse::query::Answer<tracing_clickhouse::query::LogPattern>| -> Vec<(String, u64)> {
        p.entries
            .iter()
            .map(|p| (p.pattern.clone(), p.count))
            .collect()
    };
    assert_eq!(counts(&again), counts(&patterns));
    assert_eq!(
        client.query_spans(&spans).await.unwrap().entries,
        span_rows.entries
    );
    let again = client
        .slowest_operations(&SpanQuery::new(), 5)
        .await
        .unwrap();
    assert_eq!(again.entries, operations.entries);
    assert_eq!(client.trace(&trace_id).await.unwrap().roots, trace.roots);
}
