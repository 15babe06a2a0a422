//! Errors that say what to do, with their exit statuses; no secret printed.

use super::{Db, Run};
use crate::common::{DevServer, Options, free_port};

#[test]
fn an_unreachable_server_is_status_4_and_says_where_it_looked() {
    let db = Db::on(
        &format!("http://127.0.0.1:{}", free_port()),
        "cli_unreachable",
    );
    for args in [
        &["logs"][..],
        &["stats"],
        &["health"],
        &["schema", "status"],
    ] {
        let run = db.run(args);
        run.expect(4);
        assert!(
            run.stderr
                .contains("cannot reach ClickHouse at http://127.0.0.1:"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(run.stderr.contains("CLICKHOUSE_URL"), "{}", run.stderr);
    }
    let json = db.run(&["health", "--json"]);
    let lines = json.expect(4);
    let value: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(
        (value["reachable"].as_bool(), value["healthy"].as_bool()),
        (Some(false), Some(false))
    );
}

#[test]
fn a_refused_login_is_status_5_and_the_password_is_not_printed() {
    let server = DevServer::start(Options {
        user: Some(("reader".into(), "right-password".into())),
        ..Options::default()
    });
    let db = Db::on(&server.url, "cli_auth");
    let secret = "s3cret-Wrong-pw";
    let run = Run::of(
        db.command(&["logs"])
            .env("CLICKHOUSE_USER", "reader")
            .env("CLICKHOUSE_PASSWORD", secret)
            .output()
            .unwrap(),
    );
    run.expect(5);
    assert!(run.stderr.contains("refused the login"), "{}", run.stderr);
    assert!(run.stderr.contains("CLICKHOUSE_PASSWORD"));
    assert!(!run.stderr.contains(secret) && !run.stdout.contains(secret));

    let file = crate::common::temp_dir("cli_password");
    let path = file.path().join("password");
    std::fs::write(&path, "right-password\n").unwrap();
    let run = Run::of(
        db.command(&[
            "schema",
            "apply",
            "--user",
            "reader",
            "--password-file",
            path.to_str().unwrap(),
        ])
        .env("CLICKHOUSE_PASSWORD", secret)
        .output()
        .unwrap(),
    );
    run.expect(0);
    assert!(!run.stdout.contains("right-password") && !run.stderr.contains("right-password"));
}

#[test]
fn a_missing_schema_is_status_6_and_bad_input_status_2() {
    let db = Db::empty("cli_missing");
    for args in [
        &["logs"][..],
        &["stats"],
        &["metrics", "x"],
        &["trace", "00"],
        &["slow"],
        &["events"],
    ] {
        let run = db.run(args);
        run.expect(6);
        assert!(
            run.stderr.contains("chlog schema apply"),
            "{args:?}: {}",
            run.stderr
        );
    }
    let migrate = db.run(&["schema", "migrate"]);
    migrate.expect(6);
    assert!(
        migrate.stderr.contains("chlog schema apply"),
        "{}",
        migrate.stderr
    );
    for args in [
        &["logs", "--since", "yesterday"][..],
        &["logs", "--level", "loud"],
        &["logs", "-w", "time-out"],
        &["logs", "-a", "novalue"],
        &["logs", "--since", "1h", "--until", "2h"],
        &["export", "logs", "-o", "x.xml"],
        &["export", "tables", "-o", "x.csv"],
        &["health", "--min-free-disk", "120"],
        &["--database", "bad-name!", "logs"],
        &["nonsense"],
    ] {
        let run = db.run(args);
        assert_eq!(run.status, 2, "{args:?}: {run:?}");
        assert!(!run.stderr.is_empty());
    }
}
