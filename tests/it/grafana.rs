//! Every panel of every dashboard in `grafana/dashboards`, run on the
//! devserver with data: its SQL, with the official ClickHouse plugin's
//! macros and the dashboard's variables expanded as the plugin expands them
//! for a fixed range, returns rows of the shape its panel type needs.
//! Grafana itself does not run here: this checks the SQL and the shapes,
//! not the rendering.

use crate::common;
use crate::known;

use std::collections::BTreeMap;
use std::path::Path;

use regex::Regex;
use serde_json::Value;

/// The fixed range, in Unix seconds, and the interval Grafana would pick.
struct Range {
    from: i64,
    to: i64,
    interval_s: i64,
}

/// The plugin's macros (grafana-clickhouse-datasource v4, its documented
/// expansions), then `${name}` and `$name` variables.
fn expand(sql: &str, range: &Range, vars: &BTreeMap<&str, String>) -> String {
    let (from, to, interval) = (range.from, range.to, range.interval_s);
    let filter = Regex::new(r"\$__timeFilter\(([^)]+)\)").unwrap();
    let sql = filter.replace_all(sql, |c: &regex::Captures| {
        format!(
            "{0} >= toDateTime({from}) AND {0} <= toDateTime({to})",
            c[1].trim()
        )
    });
    let bucket = Regex::new(r"\$__timeInterval\(([^)]+)\)").unwrap();
    let sql = bucket.replace_all(&sql, |c: &regex::Captures| {
        format!(
            "toStartOfInterval(toDateTime({}), INTERVAL {interval} second)",
            c[1].trim()
        )
    });
    let mut sql = sql
        .replace("$__fromTime", &format!("toDateTime({from})"))
        .replace("$__toTime", &format!("toDateTime({to})"))
        .replace("$__interval_s", &interval.to_string());
    for (name, value) in vars {
        sql = sql
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("${name}"), value);
    }
    assert!(!sql.contains('$'), "an unexpanded macro or variable: {sql}");
    sql
}

/// The answer's columns (name, type) and rows.
async fn run(client: &clickhouse::Client, sql: &str) -> (Vec<(String, String)>, Vec<Vec<Value>>) {
    let bytes = client
        .query(sql)
        .fetch_bytes("JSONCompact")
        .unwrap()
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}\n{e}"));
    let answer: Value = serde_json::from_slice(&bytes).unwrap();
    let columns = answer["meta"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let rows = answer["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().clone())
        .collect();
    (columns, rows)
}

fn is_time(t: &str) -> bool {
    t.starts_with("DateTime") || t.starts_with("Date")
}

fn is_number(t: &str) -> bool {
    let t = t.trim_start_matches("Nullable(").trim_end_matches(')');
    t.starts_with("Float")
        || t.starts_with("UInt")
        || t.starts_with("Int")
        || t.starts_with("Decimal")
}

/// Whether the answer fits `panel_type`; what does not, if not.
fn check_shape(panel_type: &str, columns: &[(String, String)], rows: usize) -> Result<(), String> {
    if rows == 0 {
        return Err("no rows".into());
    }
    let has = |name: &str| {
        columns
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.as_str())
    };
    match panel_type {
        "timeseries" => {
            let first = &columns[0].1;
            let numbers = columns[1..].iter().filter(|(_, t)| is_number(t)).count();
            match is_time(first) && numbers >= 1 {
                true => Ok(()),
                false => Err(format!("a time column first, then numbers: {columns:?}")),
            }
        }
        "state-timeline" => match is_time(&columns[0].1) && columns.len() >= 2 {
            true => Ok(()),
            false => Err(format!("a time column first, then states: {columns:?}")),
        },
        "logs" => match (has("timestamp"), has("body"), has("level")) {
            (Some(t), Some(_), Some(_)) if is_time(t) => Ok(()),
            _ => Err(format!("timestamp, body and level: {columns:?}")),
        },
        "traces" => {
            let needed = [
                "traceID",
                "spanID",
                "parentSpanID",
                "serviceName",
                "operationName",
            ];
            let numeric = ["startTime", "duration"];
            match needed.iter().all(|n| has(n).is_some())
                && numeric.iter().all(|n| has(n).is_some_and(is_number))
            {
                true => Ok(()),
                false => Err(format!("the trace view's columns: {columns:?}")),
            }
        }
        "table" => Ok(()),
        other => Err(format!("no check for panel type {other}")),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_panel_returns_rows_of_its_shape() {
    let config = common::config("grafana");
    tracing_clickhouse::schema::apply(&config).await.unwrap();
    let client = common::raw_client(&config);
    let base = known::minutes_ago(30);
    known::insert(&client, "logs", &known::logs(base, 120)).await;
    known::insert(&client, "spans", &known::spans(base)).await;
    known::insert(&client, "metrics", &known::metrics(base)).await;
    known::insert(&client, "events", &known::events(base)).await;
    // What the system monitor and alerting would have written.
    for sql in [
        format!(
            "INSERT INTO metrics (TimeUnix, MetricName, MetricKind, ServiceName, Attributes, Value) \
             SELECT fromUnixTimestamp64Nano(toInt64({base}) + toInt64(number % 10) * 60000000000), \
             name, 'gauge', 'checkout', if(name = 'system.disk_percent', map('mount', '/'), map()), \
             number FROM numbers(10) ARRAY JOIN ['system.cpu_percent', 'system.memory_percent', \
             'system.disk_percent', 'system.load_1m', 'system.load_5m', 'system.load_15m'] AS name"
        ),
        format!(
            "INSERT INTO events (Timestamp, EventType, Source, ServiceName, Details) VALUES \
             (fromUnixTimestamp64Nano(toInt64({base})), 'alert_firing', 'alert', 'checkout', \
             map('rule', 'errors', 'key', 'errors{{service=checkout}}', 'severity', 'critical', \
             'value', '12', 'threshold', '10', 'group', 'service=checkout', 'kind', 'log_count', \
             'message', 'errors'))"
        ),
    ] {
        client.query(&sql).execute().await.unwrap();
    }
    let now = known::ns(std::time::SystemTime::now()) / 1_000_000_000;
    let range = Range {
        from: now - 2 * 3600,
        to: now + 60,
        interval_s: 60,
    };
    let vars: BTreeMap<&str, String> = [
        ("service", "All".to_owned()),
        ("search", String::new()),
        ("metric", "queue.depth".to_owned()),
        ("trace_id", known::TRACE.to_owned()),
    ]
    .into();

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana/dashboards");
    let mut checked = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for path in files {
        let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let defined: Vec<&str> = dashboard["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        // Each variable of a query has values.
        for variable in dashboard["templating"]["list"].as_array().unwrap() {
            if variable["type"] == "query" {
                let (_, rows) = run(&client, variable["query"].as_str().unwrap()).await;
                assert!(
                    !rows.is_empty(),
                    "{name}: variable {} has no values",
                    variable["name"]
                );
            }
        }
        for panel in dashboard["panels"].as_array().unwrap() {
            let panel_type = panel["type"].as_str().unwrap();
            let title = panel["title"].as_str().unwrap();
            for target in panel["targets"].as_array().unwrap() {
                let sql = target["rawSql"].as_str().unwrap();
                for var in vars.keys() {
                    if sql.contains(&format!("${{{var}}}")) {
                        assert!(
                            defined.contains(var),
                            "{name}: {title} uses ${var}, not a variable"
                        );
                    }
                }
                let (columns, rows) = run(&client, &expand(sql, &range, &vars)).await;
                if let Err(why) = check_shape(panel_type, &columns, rows.len()) {
                    panic!("{name}: {title} ({panel_type}): {why}\n{sql}");
                }
                checked.push(format!(
                    "{name}: {title} ({panel_type}): {} rows",
                    rows.len()
                ));
            }
        }
    }
    println!("{}", checked.join("\n"));
    assert_eq!(checked.len(), 13, "{checked:#?}");
}

#[test]
fn macros_expand_as_the_plugin_does() {
    let range = Range {
        from: 1_700_000_000,
        to: 1_700_003_600,
        interval_s: 30,
    };
    let vars = [("metric", "m".to_owned())].into();
    assert_eq!(
        expand(
            "SELECT $__timeInterval(t) WHERE $__timeFilter(t) AND x = '${metric}' AND $__fromTime < $__toTime LIMIT $__interval_s",
            &range,
            &vars
        ),
        "SELECT toStartOfInterval(toDateTime(t), INTERVAL 30 second) WHERE t >= toDateTime(1700000000) \
         AND t <= toDateTime(1700003600) AND x = 'm' AND toDateTime(1700000000) < toDateTime(1700003600) LIMIT 30"
    );
}
