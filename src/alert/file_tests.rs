//! The rules file's parser, by example (its properties: `file_props.rs`).

use super::*;

#[test]
fn a_good_file_gives_its_rules_and_settings() {
    let text = r#"
[settings]
interval = "10s"

[[rule]]
name = "errors"
kind = "log_count"
per_service = true
window = "5m"
above = 10
for = "1m"

[[rule]]
name = "latency"
kind = "anomaly"
metric = "http.latency"
group_by = ["route"]
bucket = "1h"
baseline = 14
seasonal = "daily"
"#;
    let alerts = parse(text).unwrap();
    assert_eq!(alerts.interval, Duration::from_secs(10));
    assert_eq!(alerts.rules.len(), 2);
    assert_eq!(alerts.rules[0].fire_after, Duration::from_secs(60));
    assert_eq!(alerts.rules[1].kind(), "anomaly");
}

#[test]
fn every_error_has_its_line() {
    let text = r#"[[rule]]
name = "a"
kind = "threshold"
metric = "m"
window = "5m"
above = 1
levels = ["ERROR"]

[[rule]]
name = "b"
kind = "log_count"
window = "90s"
above = 1

[[rule]]
name = "a"
kind = "absence"
after = "soon"
"#;
    let error = parse(text).unwrap_err();
    let lines: Vec<usize> = error.errors.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [7, 12, 18], "{error}");
    let shown = error.to_string();
    assert!(
        shown.contains("line 7: rule \"a\": levels: does not apply"),
        "{shown}"
    );
    assert!(
        shown.contains("line 18: rule \"a\": after: \"soon\" is not a duration"),
        "{shown}"
    );
    let error = parse("[settings]\ninterval = \"1s\"\nwebhook = \"ftp://h/TOKEN\"\n");
    let error = error.unwrap_err().to_string();
    assert!(
        error.starts_with("line 3: webhook: invalid value \"ftp://h/…\""),
        "{error}"
    );
    assert!(!error.contains("TOKEN"), "{error}");
    let error = parse("[[rule]]\nname = \"a\"\nkind = \"absence\"\nafter = 5\n").unwrap_err();
    assert_eq!(error.errors[0].0, 4, "{error}");
    let error = parse("[[rule]]\nname = \"a\"\nkind = \"absence\"\nafter = \"1m\"\nbogus = 1\n")
        .unwrap_err();
    assert_eq!(error.errors[0].0, 5, "{error}");
    assert!(error.to_string().contains("bogus"), "{error}");
}
