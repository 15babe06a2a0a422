//! Every flag held to its bounds, the error naming the flag as typed
//! (not the library's setter), and nothing that could hang or print a
//! secret: files read no further than needed, URLs' queries masked.

use std::time::{Duration, Instant};

use super::Db;

/// Runs `chlog` with `args` against `db`; its status and stderr.
fn refused(db: &Db, args: &[&str]) -> String {
    let run = db.run(args);
    run.expect(2);
    run.stderr
}

#[test]
fn out_of_bounds_flags_are_refused_by_name() {
    let db = Db::empty("cli_bounds");
    let cases: [(&[&str], &str); 11] = [
        // Accepted and every query timed out at once, before.
        (&["--timeout", "0s", "logs"], "'--timeout <DURATION>'"),
        (&["--timeout", "400d", "logs"], "'--timeout <DURATION>'"),
        // Asked ClickHouse without a pause, before.
        (
            &["logs", "-f", "--interval", "0s"],
            "'--interval <DURATION>'",
        ),
        (&["health", "--window", "0s"], "'--window <DURATION>'"),
        (
            &["alerts", "run", "rules.toml", "--interval", "10ms"],
            "'--interval <DURATION>'",
        ),
        // Every row held in memory, before.
        (&["logs", "-n", "18446744073709551615"], "'--limit <N>'"),
        (&["logs", "-n", "0"], "'--limit <N>'"),
        (&["events", "-n", "1000001"], "'--limit <N>'"),
        (&["slow", "-n", "0"], "'--limit <N>'"),
        (&["metrics", "x", "-n", "0"], "'--limit <N>'"),
        (&["stats", "--top", "1001"], "'--top <N>'"),
    ];
    for (args, flag) in cases {
        let stderr = refused(&db, args);
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
    }
}

#[test]
fn a_connection_flag_refused_by_the_library_is_named_as_typed() {
    let db = Db::empty("cli_flag_names");
    // Named `Builder::port` and so on, before.
    let cases: [(&[&str], &str); 5] = [
        (&["--port", "0", "logs"], "--port: "),
        (&["--host", "a/b", "logs"], "--host: "),
        (&["--url", "ftp://x", "logs"], "--url: "),
        (&["-d", "1x", "logs"], "--database: "),
        (&["--user", "reader\n", "logs"], "--user: "),
    ];
    for (args, name) in cases {
        let stderr = refused(&db, args);
        assert!(
            stderr.starts_with(&format!("chlog: {name}")),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("Builder::"), "{stderr}");
    }
}

#[test]
fn filters_the_library_refuses_are_named_by_their_flags() {
    let db = Db::empty("cli_filter_names");
    // Named `LogQuery::token` and `LogQuery`, before.
    let stderr = refused(&db, &["logs", "-w", "time-out"]);
    assert!(
        stderr.starts_with("chlog: --word: \"time-out\""),
        "{stderr}"
    );
    let pairs: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
    let mut args = vec!["logs"];
    for pair in &pairs {
        args.extend(["-a", pair]);
    }
    let stderr = refused(&db, &args);
    assert!(stderr.starts_with("chlog: --attr: at most 32"), "{stderr}");
    args[0] = "stats";
    assert!(refused(&db, &args).starts_with("chlog: --attr: "));
}

#[test]
fn a_password_file_is_read_to_its_first_line_and_checked() {
    let db = Db::empty("cli_password_file");
    let dir = crate::common::temp_dir("cli_password_file");
    // A NUL in the first line: every request failed, before.
    let nul = dir.path().join("nul");
    std::fs::write(&nul, "hunter2\0\n").unwrap();
    let stderr = refused(&db, &["--password-file", nul.to_str().unwrap(), "logs"]);
    assert!(stderr.starts_with("chlog: --password-file: "), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    // A file that never ends: read until memory ran out, before.
    let started = Instant::now();
    let stderr = refused(&db, &["--password-file", "/dev/zero", "logs"]);
    assert!(stderr.contains("longer than 4096 bytes"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20));
    // A CA file that never ends, likewise.
    let stderr = refused(&db, &["--ca-cert", "/dev/zero", "logs"]);
    assert!(
        stderr.contains("--ca-cert") && stderr.contains("larger than 4 MiB"),
        "{stderr}"
    );
}

#[test]
fn a_password_in_a_urls_query_is_never_printed() {
    let db = Db::empty("cli_url_secret");
    let url = "http://127.0.0.1:8123/?password=hunter2";
    // Printed verbatim by every command, before.
    for args in [&["--url", url, "logs"][..], &["stats"], &["health"]] {
        let mut command = db.command(args);
        command.env("CLICKHOUSE_URL", url);
        let run = super::Run::of(command.output().unwrap());
        run.expect(2);
        assert!(!run.stderr.contains("hunter2"), "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("?<redacted>"), "{}", run.stderr);
    }
}
