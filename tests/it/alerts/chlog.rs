//! `chlog alerts` run as a process.

use crate::common;

use super::*;

fn chlog(db: &Db, args: &[&str]) -> (i32, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_chlog"))
        .args(args)
        .env_clear()
        .env("CLICKHOUSE_URL", common::url())
        .env("CLICKHOUSE_DATABASE", &db.database)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        output.status.code().unwrap_or(-1),
        text(&output.stdout),
        text(&output.stderr),
    )
}

/// `chlog alerts check` on a good file lists its rules and exits 0; on a
/// bad one prints each error as FILE:LINE and exits 1. `run --cycles 2`
/// evaluates twice, prints the one firing, writes it to `events`; `status`
/// then shows it and exits 3 (and again as JSON).
#[tokio::test(flavor = "multi_thread")]
async fn chlog_alerts_check_run_and_status() {
    let db = db("alerts_chlog").await;
    let dir = common::temp_dir("alerts_chlog");
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[settings]\ninterval = \"1s\"\n\n[[rule]]\nname = \"quiet_logs\"\nkind = \"absence\"\n\
         service = \"checkout\"\nafter = \"5m\"\nseverity = \"critical\"\n\n[[rule]]\nname = \"errors\"\n\
         kind = \"log_count\"\nper_service = true\nwindow = \"5m\"\nabove = 10\n",
    )
    .unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[rule]]\nname = \"errors\"\nkind = \"log_count\"\nwindow = \"5m\"\n\n[[rule]]\n\
         name = \"x\"\nkind = \"threshold\"\nmetric = \"m\"\nwindow = \"5m\"\nabove = 1\nclear = 3\n",
    )
    .unwrap();
    let good = good.to_str().unwrap();
    let bad = bad.to_str().unwrap();

    let (code, out, err) = chlog(&db, &["alerts", "check", good]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!("absence  quiet_logs\nlog_count  errors\n{good}: 2 rules, every 1s\n")
    );
    let (code, out, err) = chlog(&db, &["alerts", "check", bad]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert_eq!(
        err,
        format!(
            "chlog: {bad}:1: rule \"errors\": above: give the threshold as `above = N` or `below = N` (one of the two)\n\
             chlog: {bad}:12: rule \"x\": clear: 3 must be at most the threshold 1\n"
        )
    );

    let (code, out, err) = chlog(
        &db,
        &["alerts", "run", good, "--cycles", "2", "--color", "never"],
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].ends_with(" FIRING quiet_logs value=86400 threshold=300 severity=critical"),
        "{out}"
    );
    let n = db
        .count("SELECT count() FROM events WHERE EventType = 'alert_firing' AND ServiceName = 'checkout'")
        .await;
    assert_eq!(n, 1);

    let (code, out, _) = chlog(&db, &["alerts", "status", "--color", "never"]);
    assert_eq!(code, 3);
    assert!(
        out.contains("critical  quiet_logs  value=86400 threshold=300  quiet_logs"),
        "{out}"
    );
    let (code, out, _) = chlog(&db, &["alerts", "status", "--json"]);
    assert_eq!(code, 3);
    let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (json["key"].as_str(), json["service"].as_str()),
        (Some("quiet_logs"), Some("checkout"))
    );
}
