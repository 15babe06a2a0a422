//! Databases of earlier schema versions (`v1.sql`, `v2.sql`: `schema.sql`
//! as it was), filled with rows, and what the tests of migrations look at:
//! each table's definition, each table's rows as a digest, the rollups
//! against the rows they count.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;

use serde::Deserialize;
use tracing_clickhouse::Config;
use tracing_clickhouse::query::message_pattern;

use crate::common;

/// `schema.sql` at version 1 (no versions recorded).
pub const V1: &str = include_str!("v1.sql");
/// `schema.sql` at version 2.
pub const V2: &str = include_str!("v2.sql");

#[derive(Debug, PartialEq, Deserialize, clickhouse::Row)]
pub struct TableDdl {
    pub name: String,
    pub create_table_query: String,
}

/// Every table of `database` with its definition, by name.
pub async fn tables(client: &clickhouse::Client, database: &str) -> Vec<TableDdl> {
    client
        .query(
            "SELECT name, create_table_query FROM system.tables \
             WHERE database = {db:String} ORDER BY name",
        )
        .param("db", database)
        .fetch_all()
        .await
        .unwrap()
}

/// The statements of a schema file in `schema.sql`'s form, filled in.
pub fn statements_of(sql: &str, database: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    for line in sql.lines().filter(|l| !l.trim().starts_with("--")) {
        current.push_str(line);
        current.push('\n');
        if line.trim().ends_with(';') {
            let statement = current
                .trim()
                .trim_end_matches(';')
                .replace("{{database}}", database)
                .replace("{{dedup_window}}", "10000");
            let statement = ["logs", "spans", "metrics", "events"]
                .iter()
                .fold(statement, |s, t| {
                    s.replace(&format!("{{{{{t}_ttl_days}}}}"), "30")
                });
            statements.push(statement);
            current.clear();
        }
    }
    statements
}

/// A database made with `schema` (`V1` or `V2`), recorded as `version`
/// if given (version 1 records none), with rows in every table, the
/// rollups fed by their views as the rows went in.
pub async fn with_rows(
    prefix: &str,
    schema: &str,
    version: Option<u32>,
) -> (Config, clickhouse::Client) {
    let config = common::config(prefix);
    let client = common::raw_client(&config);
    let admin = client.clone().with_database("default");
    for statement in statements_of(schema, config.database()) {
        admin.query(&statement).execute().await.unwrap();
    }
    if let Some(version) = version {
        client
            .query("INSERT INTO schema_version (Version, AppliedBy) VALUES (?, 'a test')")
            .bind(version)
            .execute()
            .await
            .unwrap();
    }
    // Times in the last hours (within the fixture's 30-day TTL), some rows
    // in traces, warnings and errors of several patterns, and two
    // identical rows, which must stay two.
    let now = "toUnixTimestamp64Nano(now64(9))";
    for sql in [
        format!(
            "INSERT INTO logs (Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, \
             ServiceName, Body, ResourceAttributes, ScopeName, LogAttributes) \
             SELECT fromUnixTimestamp64Nano({now} - number * 4999999937), \
             if(number % 3 = 0, concat(lower(hex(cityHash64(number))), lower(hex(cityHash64(number, 2)))), ''), \
             if(number % 3 = 0, lower(hex(cityHash64(number, 1))), ''), toUInt8(number % 3 = 0), \
             ['INFO', 'WARN', 'ERROR'][1 + number % 3], [9, 13, 17][1 + number % 3], \
             concat('svc', toString(number % 4)), \
             [concat('order ', toString(number), ' created'), \
              concat('request ', lower(hex(cityHash64(number))), ' failed after ', toString(number % 900), ' ms'), \
              concat('pool exhausted at 0x', lower(hex(number)))][1 + intDiv(number, 3) % 3], \
             map('service.name', concat('svc', toString(number % 4)), 'process.pid', '42'), \
             concat('app::m', toString(number % 5)), \
             map('n', toString(number), 'code.line.number', toString(number % 90)) \
             FROM numbers(3000)"
        ),
        "INSERT INTO logs (Timestamp, SeverityText, SeverityNumber, ServiceName, Body) VALUES \
         (now64(9), 'INFO', 9, 'twin', 'same'), (now64(9), 'INFO', 9, 'twin', 'same')"
            .to_owned(),
        "INSERT INTO spans (Timestamp, TraceId, SpanId, SpanName, ServiceName, Duration) \
         SELECT now64(9) - toIntervalSecond(number), hex(number), hex(number * 7), 'op', 'svc', number \
         FROM numbers(50)"
            .to_owned(),
        "INSERT INTO metrics (TimeUnix, MetricName, MetricKind, ServiceName, Value) \
         SELECT now64(9) - toIntervalSecond(number * 60), 'm', 'gauge', 'svc', number / 3 \
         FROM numbers(50)"
            .to_owned(),
        "INSERT INTO events (Timestamp, EventType, Source, Details) \
         SELECT now64(9) - toIntervalSecond(number), 'deploy', 'ci', map('n', toString(number)) \
         FROM numbers(20)"
            .to_owned(),
    ] {
        client.query(&sql).execute().await.unwrap();
    }
    (config, client)
}

/// A database of an earlier schema (`schema`, recorded as `version`; see
/// [`with_rows`]) with rows, migrated by `schema::apply`: checks that it
/// went from that version to the current one and that every table kept
/// every row. Returns the configuration and a client.
pub async fn migrated_keeping_rows(
    prefix: &str,
    schema: &str,
    version: Option<u32>,
) -> (Config, clickhouse::Client) {
    let (config, client) = with_rows(prefix, schema, version).await;
    let before = digests(&client).await;
    assert_eq!(before[0].1, 3002, "{before:?}");
    assert!(before[4].1 > 0, "the old rollup was fed: {before:?}");

    let applied = tracing_clickhouse::schema::apply(&config).await.unwrap();
    let from = version.unwrap_or(1);
    assert_eq!(
        (applied.from, applied.migrated.clone()),
        (
            Some(from),
            (from + 1..=tracing_clickhouse::schema::SCHEMA_VERSION).collect::<Vec<u32>>()
        )
    );
    assert_eq!(
        digests(&client).await,
        before,
        "the same rows in every table"
    );
    (config, client)
}

/// Rows and a content digest of every table, over the columns every
/// version has (`TimestampTime` included: stored in 1, an ALIAS since 2);
/// the rollups re-aggregated, as their readers do.
pub async fn digests(client: &clickhouse::Client) -> Vec<(String, u64, u64)> {
    let logs = "Timestamp, TimestampTime, TraceId, SpanId, TraceFlags, SeverityText, \
                SeverityNumber, ServiceName, Body, ResourceSchemaUrl, ResourceAttributes, \
                ScopeSchemaUrl, ScopeName, ScopeVersion, ScopeAttributes, LogAttributes";
    let sources = [
        ("logs", format!("SELECT {logs} FROM logs")),
        ("spans", "SELECT * FROM spans".to_owned()),
        ("metrics", "SELECT * FROM metrics".to_owned()),
        ("events", "SELECT * FROM events".to_owned()),
        (
            "logs_by_level",
            "SELECT Minute, ServiceName, SeverityText, sum(Count) FROM logs_by_level \
             GROUP BY ALL"
                .to_owned(),
        ),
        (
            "metrics_hourly",
            "SELECT Hour, ServiceName, MetricName, Attributes, sum(ValueSum), sum(ValueCount), \
             min(ValueMin), max(ValueMax) FROM metrics_hourly GROUP BY ALL"
                .to_owned(),
        ),
    ];
    let mut out = Vec::new();
    for (table, select) in sources {
        let (rows, digest) = digest(client, &select).await;
        out.push((table.to_owned(), rows, digest));
    }
    out
}

/// The rows of `select` and the sum of their hashes.
async fn digest(client: &clickhouse::Client, select: &str) -> (u64, u64) {
    #[derive(Deserialize, clickhouse::Row)]
    struct Digest {
        rows: u64,
        digest: u64,
    }
    let d: Digest = client
        .query(&format!(
            "SELECT count() AS rows, sum(cityHash64(*)) AS digest FROM ({select})"
        ))
        .fetch_one()
        .await
        .unwrap_or_else(|e| panic!("{select}: {e}"));
    (d.rows, d.digest)
}

/// Asserts that both rollups of version 3 hold what `logs` holds: per
/// minute, service, level and source, the count and the first and last
/// time; per pattern of the warnings and errors (as `message_pattern`
/// makes it), the same and the smallest message.
pub async fn rollups_count_the_logs(client: &clickhouse::Client, context: &str) {
    let by_level = (
        "SELECT toStartOfMinute(TimestampTime) AS m, ServiceName, SeverityText, SeverityNumber, \
         toString(ScopeName), count(), min(Timestamp), max(Timestamp) FROM logs GROUP BY ALL",
        "SELECT Minute, ServiceName, SeverityText, SeverityNumber, toString(ScopeName), \
         sum(Count), min(FirstSeen), max(LastSeen) FROM logs_by_level GROUP BY ALL",
    );
    let (raw, rollup) = (
        digest(client, by_level.0).await,
        digest(client, by_level.1).await,
    );
    assert!(raw.0 > 0, "{context}: no rows to count");
    assert_eq!(rollup, raw, "{context}: logs_by_level against the rows");

    #[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, clickhouse::Row)]
    struct Row {
        minute: u32,
        service: String,
        level: String,
        number: u8,
        source: String,
        body: String,
        count: u64,
        first: i64,
        last: i64,
    }
    let rows: Vec<Row> = client
        .query(
            "SELECT toUnixTimestamp(toStartOfMinute(TimestampTime)) AS minute, \
             toString(ServiceName) AS service, toString(SeverityText) AS level, \
             SeverityNumber AS number, toString(ScopeName) AS source, Body AS body, \
             toUInt64(1) AS count, toUnixTimestamp64Nano(Timestamp) AS first, \
             toUnixTimestamp64Nano(Timestamp) AS last FROM logs WHERE SeverityNumber >= 13",
        )
        .fetch_all()
        .await
        .unwrap();
    let mut expected: BTreeMap<(u32, String, String, u8, String, String), Row> = BTreeMap::new();
    for row in rows {
        let pattern = message_pattern(&row.body);
        let key = (
            row.minute,
            row.service.clone(),
            row.level.clone(),
            row.number,
            row.source.clone(),
            pattern.clone(),
        );
        match expected.get_mut(&key) {
            None => {
                expected.insert(
                    key,
                    Row {
                        body: row.body.clone(),
                        ..row
                    },
                );
            }
            Some(group) => {
                group.count += 1;
                group.body = group.body.clone().min(row.body);
                group.first = group.first.min(row.first);
                group.last = group.last.max(row.last);
            }
        }
    }
    let expected: Vec<(String, Row)> = expected
        .into_iter()
        .map(|(key, row)| (key.5, row))
        .collect();
    #[derive(Deserialize, clickhouse::Row)]
    struct Rolled {
        pattern: String,
        minute: u32,
        service: String,
        level: String,
        number: u8,
        source: String,
        body: String,
        count: u64,
        first: i64,
        last: i64,
    }
    let got: Vec<(String, Row)> = client
        .query(
            "SELECT Pattern AS pattern, toUnixTimestamp(Minute) AS minute, \
             toString(ServiceName) AS service, toString(SeverityText) AS level, \
             SeverityNumber AS number, toString(ScopeName) AS source, min(Example) AS body, \
             toUInt64(sum(Count)) AS count, toUnixTimestamp64Nano(min(FirstSeen)) AS first, \
             toUnixTimestamp64Nano(max(LastSeen)) AS last FROM logs_patterns \
             GROUP BY pattern, minute, service, level, number, source \
             ORDER BY minute, service, level, number, source, pattern",
        )
        .fetch_all::<Rolled>()
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            let row = Row {
                minute: r.minute,
                service: r.service,
                level: r.level,
                number: r.number,
                source: r.source,
                body: r.body,
                count: r.count,
                first: r.first,
                last: r.last,
            };
            (r.pattern, row)
        })
        .collect();
    assert!(!expected.is_empty(), "{context}: no warnings to count");
    assert_eq!(got, expected, "{context}: logs_patterns against the rows");
}

/// The sorting key of `table`, as the server reports it.
pub async fn sorting_key(client: &clickhouse::Client, table: &str) -> String {
    client
        .query(
            "SELECT sorting_key FROM system.tables \
             WHERE database = currentDatabase() AND name = ?",
        )
        .bind(table)
        .fetch_one::<String>()
        .await
        .unwrap()
}
