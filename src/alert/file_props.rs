//! Properties of the rules file parser over generated text: whatever a file
//! holds, parsing gives rules that pass their checks or errors, each on a
//! line of the file, never a panic. The files are made of the file's own
//! parts (settings, rules of every kind with every key, good and bad
//! values, multi-byte characters where an offset could split one) and now
//! and then arbitrary text.

use proptest::prelude::*;

use super::setup::Alerts;

/// One `key = value` line of a rule: every key a rule may have, with good
/// and bad values.
fn setting() -> impl Strategy<Value = String> {
    prop_oneof![
        "(after|window|bucket|lookback|longer_than|for|resolve_after) = \"(0|1|5|15|90|é)(s|m|h|d)?\"",
        "(above|below|clear|score|min_spread) = -?[0-9]{1,3}(\\.5)?",
        "(baseline|min_points) = [0-9]{1,2}",
        "(metric = \"m\"|service = \"své\"|services = \\[\"db\"\\]|message = \"é\")",
        "source = \"(logs|metrics|spans|x)\"",
        "method = \"(mad|zscore|x)\"",
        "seasonal = \"(none|daily|weekly|x)\"",
        "direction = \"(above|below|both|x)\"",
        "aggregation = \"(avg|max|count|increase|x)\"",
        "severity = \"(critical|info| )\"",
        "levels = \\[(\"(ERROR|WARN|NOPE)\")?\\]",
        "per_service = (true|false|1)",
        "states = \\[(\"(down|degraded)\")?\\]",
        "group_by = \\[(\"(route|service|)\")?\\]",
        "attributes = \\{ a = \"b\" \\}",
    ]
}

/// The settings a rule of `kind` needs, with good values.
fn needs(kind: &str) -> &'static [&'static str] {
    match kind {
        "absence" => &["after = \"5m\""],
        "threshold" => &["metric = \"m\"", "window = \"5m\"", "above = 1"],
        "log_count" => &["window = \"5m\"", "above = 1"],
        "service_status" => &["longer_than = \"5m\""],
        "anomaly" => &["metric = \"m\"", "bucket = \"5m\"", "baseline = 12"],
        _ => &[],
    }
}

/// One `[[rule]]`: a name (now and then another rule's, or not a name), a
/// kind, what that kind needs (unless `bare`), and now and then more
/// settings (each key once, as TOML requires; some may not apply to the
/// kind).
fn rule() -> impl Strategy<Value = String> {
    let name = prop_oneof![9 => "r[0-9]{1,2}", 1 => "(é|bad name)"];
    let kind = prop_oneof![
        9 => "(absence|threshold|log_count|anomaly|service_status)",
        1 => Just("other".to_owned()),
    ];
    let more = prop_oneof![
        3 => Just(Vec::new()),
        1 => proptest::collection::vec(setting(), 1..4),
    ];
    (name, kind, proptest::bool::weighted(0.05), more).prop_map(|(name, kind, bare, more)| {
        let mut text = format!("[[rule]]\nname = \"{name}\"\nkind = \"{kind}\"\n");
        let needed = needs(&kind)
            .iter()
            .filter(|_| !bare)
            .map(|s| (*s).to_owned());
        let mut keys = Vec::new();
        for line in more.into_iter().chain(needed) {
            let key = line.split(" = ").next().unwrap_or_default().to_owned();
            if !keys.contains(&key) {
                keys.push(key);
                text.push_str(&line);
                text.push('\n');
            }
        }
        text
    })
}

/// A file: settings, rules, and now and then text of anything.
fn file() -> impl Strategy<Value = String> {
    let settings = proptest::option::of("\\[settings\\]\ninterval = \"(0s|1s|5m|é)\"\n");
    let junk = proptest::option::weighted(0.1, any::<String>());
    let rules = proptest::collection::vec(rule(), 0..5);
    (settings, rules, junk).prop_map(|(settings, rules, junk)| {
        let mut text = settings.unwrap_or_default() + &rules.concat();
        if let Some(junk) = junk {
            text.push_str(&junk);
        }
        text
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn any_file_gives_valid_rules_or_errors_on_its_lines(text in file()) {
        match text.parse::<Alerts>() {
            Ok(alerts) => {
                // Every table is a rule, each valid, no two of one name.
                prop_assert_eq!(alerts.rules.len(), text.matches("[[rule]]\n").count());
                let mut names: Vec<&str> = alerts.rules.iter().map(|r| r.name()).collect();
                names.sort_unstable();
                names.dedup();
                prop_assert_eq!(names.len(), alerts.rules.len());
                for rule in &alerts.rules {
                    prop_assert_eq!(rule.validate(), Ok(()), "{:?}", rule);
                }
                // The interval and webhook a file sets pass the builder's checks.
                prop_assert!(alerts.validate().is_ok(), "{:?}", alerts.validate());
            }
            Err(error) => {
                prop_assert!(!error.errors.is_empty());
                let last = text.split('\n').count();
                for (line, message) in &error.errors {
                    prop_assert!((1..=last).contains(line), "line {} of {}: {}", line, last, message);
                    prop_assert!(!message.is_empty());
                }
            }
        }
    }

    #[test]
    fn any_text_parses_or_is_refused(text in any::<String>()) {
        if let Err(error) = text.parse::<Alerts>() {
            prop_assert!(!error.errors.is_empty());
        }
    }
}
