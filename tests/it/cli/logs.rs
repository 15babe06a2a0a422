//! `chlog logs`: filters, pages, JSON, colors.

use super::Db;
use crate::known::{self, SECOND, TRACE};

/// The fixture's logs (their times aside).
fn fixture() -> Vec<known::LogRow> {
    known::logs(0, 120)
}

fn count(pick: impl Fn(&known::LogRow) -> bool) -> usize {
    fixture().iter().filter(|r| pick(r)).count()
}

fn attr<'a>(row: &'a known::LogRow, key: &str) -> &'a str {
    row.attributes
        .iter()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_filter_prints_the_logs_it_picks() {
    let (db, base) = Db::loaded("cli_logs").await;
    let (from, to) = (
        known_time(base + 300 * SECOND),
        known_time(base + 600 * SECOND),
    );
    let cases: Vec<(Vec<&str>, usize)> = vec![
        (vec!["--level", "error"], count(|r| r.level == "ERROR")),
        (
            vec!["--min-level", "warn"],
            count(|r| r.severity_number >= 13),
        ),
        (
            vec!["--max-level", "info"],
            count(|r| r.severity_number <= 9),
        ),
        (
            vec!["-s", "checkout", "--min-level", "warn"],
            count(|r| r.service == "checkout" && r.severity_number >= 13),
        ),
        (vec!["-s", "checkout", "-s", "payments"], 120),
        (vec!["-s", "checkout", "-s", "search"], 60),
        (
            vec!["--source", "app::db"],
            count(|r| r.source == "app::db"),
        ),
        (
            vec!["-a", "user.id=3", "-a", "region=us"],
            count(|r| attr(r, "user.id") == "3" && attr(r, "region") == "us"),
        ),
        (vec!["--trace", TRACE], 5),
        (vec!["--trace", TRACE, "--span", "0000000000000003"], 2),
        (
            vec!["-w", "timeout"],
            count(|r| r.body.ends_with("timeout")),
        ),
        (vec!["-w", "time"], 0),
        (
            vec!["-g", "FAILED AFTER"],
            count(|r| r.body.contains("failed after")),
        ),
        (vec!["--since", &from], 90),
        (vec!["--since", &from, "--until", &to], 30),
        (vec!["--since", "2h", "--until", "1h"], 0),
        (vec!["-n", "7"], 7),
    ];
    for (args, expected) in cases {
        let mut full = vec!["logs"];
        if !args.contains(&"-n") {
            full.extend(["-n", "1000"]);
        }
        full.extend(&args);
        let run = db.run(&full);
        let lines = run.expect(0);
        assert_eq!(lines.len(), expected, "chlog {full:?}");
        if args.contains(&"error") {
            assert!(
                lines
                    .iter()
                    .all(|l| l.contains(" ERROR ") && l.contains("failed after")),
                "{lines:?}"
            );
        }
        if expected == 0 {
            assert!(run.stderr.contains("no logs match"), "{}", run.stderr);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_go_back_in_time_without_repeating_and_print_oldest_first() {
    let (db, base) = Db::loaded("cli_pages").await;
    let first = db.run(&["logs", "-n", "50"]);
    let lines = first.expect(0);
    assert_eq!(lines.len(), 50);
    let cursor = first
        .stderr
        .split("--after ")
        .nth(1)
        .expect("a cursor on stderr")
        .trim()
        .to_owned();
    let mut seen: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let mut after = cursor;
    loop {
        let page = db.run(&["logs", "-n", "50", "--after", &after]);
        let lines = page.expect(0);
        seen.splice(0..0, lines.iter().map(|l| l.to_string()));
        match page.stderr.split("--after ").nth(1) {
            Some(next) => after = next.trim().to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 120, "every log once");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 120, "no log twice");
    assert_eq!(
        sorted, seen,
        "oldest first (the lines start with their time)"
    );
    assert!(seen[0].starts_with(&known_time(base)), "{}", seen[0]);

    let oldest = db.run(&["logs", "-n", "3", "--oldest-first"]);
    assert_eq!(
        oldest.expect(0),
        seen[..3].iter().map(String::as_str).collect::<Vec<_>>()
    );
    let bad = db.run(&["logs", "--after", "garbage"]);
    assert_eq!(bad.status, 2, "{bad:?}");
}

fn known_time(ns: i64) -> String {
    humantime::format_rfc3339_micros(known::at(ns)).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_line_shows_its_fields_compactly_and_json_keeps_everything() {
    let db = Db::with_schema("cli_line").await;
    let mut row = known::log(
        known::minutes_ago(1),
        "WARN",
        13,
        "checkout",
        "app::http",
        "bad \x1b[31mred\x1b[0m\nnext",
    );
    row.attributes = vec![
        ("user".into(), "ada lovelace".into()),
        ("code.file.path".into(), "src/main.rs".into()),
    ];
    row.trace_id = TRACE.into();
    known::insert(&db.client, "logs", &[row.clone()]).await;
    let plain = db.run(&["logs"]).stdout;
    assert_eq!(
        plain,
        format!(
            "{}  WARN checkout app::http: bad \\x1b[31mred\\x1b[0m\\nnext user=\"ada lovelace\" trace={TRACE}\n",
            known_time(row.timestamp_ns)
        ),
        "piped: no colors, no raw escapes, code.* hidden"
    );
    assert!(
        db.run(&["logs", "-A"])
            .stdout
            .contains(" code.file.path=src/main.rs ")
    );
    let colored = db.run(&["logs", "--color", "always"]).stdout;
    assert!(colored.contains("\x1b[33m WARN\x1b[0m"), "{colored:?}");
    assert!(
        !colored.contains("\x1b[31m"),
        "the log's own escape stays escaped"
    );

    let json = db.run(&["logs", "--json"]);
    let lines = json.expect(0);
    assert_eq!(lines.len(), 1);
    let value: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(value["message"], row.body);
    assert_eq!(value["level"], "WARN");
    assert_eq!(value["timestamp_ns"], row.timestamp_ns);
    assert_eq!(value["attributes"]["code.file.path"], "src/main.rs");
    assert_eq!(value["trace_id"], TRACE);
}
