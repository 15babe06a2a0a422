//! The cluster DDL, generated from `schema.sql` and the migrations: every
//! statement passes the engine's parser (`formatQuery`; the devserver has no
//! cluster to run `ON CLUSTER` on), and beyond parsing, the local tables
//! made plain on the devserver have exactly the single-node tables' columns,
//! each sharding key is a valid integer expression over its local table,
//! the views fill the local rollups, and an insert into the local tables of
//! a shard (`ClusterInsert::Local`) stores every row there.

use crate::common;

use std::time::Duration;

use crate::common::scalar;
use regex::Regex;
use serde::Deserialize;
use tracing::dispatcher;
use tracing_clickhouse::schema;

/// What the local table behind each `Distributed` one is called.
const LOCAL_SUFFIX: &str = "_local";
use tracing_clickhouse::{ClusterConfig, ClusterInsert, Config};

const CLUSTER: &str = "telemetry_2x2";

/// A migration as the next schema version could bring (written here, so the
/// generator is tested on more than what `migrations/` holds today): a
/// column, an index, a TTL and a setting; a new table with its rollup; a
/// copy, a rename and drops.
const TEST_MIGRATION: &str = "\
-- a column on logs, with an index, and the TTL and dedup window changed
ALTER TABLE {{database}}.logs
    ADD COLUMN IF NOT EXISTS EventName LowCardinality(String) DEFAULT '' CODEC(ZSTD(1)),
    ADD INDEX IF NOT EXISTS idx_event_name EventName TYPE bloom_filter(0.01) GRANULARITY 1,
    MODIFY TTL toDateTime(Timestamp) + toIntervalDay({{logs_ttl_days}});
ALTER TABLE {{database}}.logs MODIFY SETTING non_replicated_deduplication_window = {{dedup_window}};
CREATE TABLE IF NOT EXISTS {{database}}.profiles
(
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    ServiceName LowCardinality(String),
    Samples UInt64
)
ENGINE = ReplacingMergeTree(Timestamp)
ORDER BY (ServiceName, Timestamp)
SETTINGS non_replicated_deduplication_window = {{dedup_window}};
CREATE TABLE IF NOT EXISTS {{database}}.profiles_daily
(
    Day Date,
    ServiceName LowCardinality(String),
    Samples UInt64
)
ENGINE = SummingMergeTree(Samples)
ORDER BY (ServiceName, Day);
CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.profiles_daily_mv
TO {{database}}.profiles_daily
AS SELECT toDate(Timestamp) AS Day, ServiceName, sum(Samples) AS Samples
FROM {{database}}.profiles
GROUP BY Day, ServiceName;
CREATE TABLE IF NOT EXISTS {{database}}.profiles_old
(
    Timestamp DateTime64(9),
    ServiceName LowCardinality(String),
    Samples UInt64
)
ENGINE = MergeTree
ORDER BY Timestamp;
INSERT INTO {{database}}.profiles SELECT * FROM {{database}}.profiles_old;
RENAME TABLE {{database}}.profiles_old TO {{database}}.profiles_retired;
DROP VIEW IF EXISTS {{database}}.profiles_daily_mv;
DROP TABLE IF EXISTS {{database}}.profiles_retired;
";

fn cluster_config(database: &str) -> Config {
    common::builder_for(&common::url(), database)
        .cluster(
            ClusterConfig::new(CLUSTER)
                .keeper_path("/ch/{cluster}/tables/{shard}/{database}/{table}"),
        )
        .and_then(|b| b.build_config())
        .unwrap()
}

fn client() -> clickhouse::Client {
    clickhouse::Client::default().with_url(common::url())
}

/// What the engine's parser makes of `sql`, or its error.
async fn parsed(client: &clickhouse::Client, sql: &str) -> Result<String, String> {
    client
        .query("SELECT formatQuerySingleLine({sql:String})")
        .param("sql", sql)
        .fetch_one::<String>()
        .await
        .map_err(|e| e.to_string())
}

async fn assert_all_parse(client: &clickhouse::Client, statements: &[String]) {
    for statement in statements {
        let formatted = parsed(client, statement)
            .await
            .unwrap_or_else(|e| panic!("does not parse: {statement}\n{e}"));
        let is_insert = statement.starts_with("INSERT");
        assert_eq!(
            formatted.contains(&format!("ON CLUSTER {CLUSTER}")),
            !is_insert,
            "{formatted}"
        );
    }
}

/// The migration files as shipped (none, or version 2 and on).
fn shipped_migrations() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_cluster_statement_parses_and_has_the_cluster_form() {
    let config = cluster_config("tc_cluster_parse");
    let client = client();
    let statements = schema::statements(&config);
    assert_all_parse(&client, &statements).await;

    let creates = |suffix: &str| {
        statements
            .iter()
            .filter(|s| s.starts_with("CREATE TABLE") && s.contains(suffix))
            .count()
    };
    // Each table of schema.sql but schema_version, local and distributed.
    let single = schema::statements(&common::config_for(&common::url(), "tc_cluster_parse"));
    let tables = single
        .iter()
        .filter(|s| s.starts_with("CREATE TABLE") && !s.contains(".schema_version\n"))
        .count();
    assert!(tables >= 7, "{single:#?}");
    assert_eq!(
        creates("\nENGINE = Distributed("),
        tables,
        "{statements:#?}"
    );
    assert_eq!(creates("ENGINE = Replicated"), tables + 1);
    let views = single
        .iter()
        .filter(|s| s.starts_with("CREATE MATERIALIZED VIEW"))
        .count();
    assert_eq!(statements.len(), single.len() + tables);
    assert_eq!(
        statements
            .iter()
            .filter(|s| s.starts_with("CREATE MATERIALIZED VIEW"))
            .count(),
        views
    );
    let target = Regex::new(r" TO \S+\.(\w+) ").unwrap();
    let source = Regex::new(r" FROM \S+\.(\w+) ").unwrap();
    for statement in &statements {
        let one_line = statement.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            !one_line.contains("non_replicated_deduplication_window"),
            "{one_line}"
        );
        if one_line.contains("ENGINE = Replicated") {
            let path = if one_line.contains(".schema_version ") {
                "('/ch/{cluster}/tables/all/{database}/{table}', '{shard}-{replica}'"
            } else {
                "('/ch/{cluster}/tables/{shard}/{database}/{table}', '{replica}'"
            };
            assert!(one_line.contains(path), "{one_line}");
        }
        if one_line.starts_with("CREATE MATERIALIZED VIEW") {
            assert!(target.captures(&one_line).unwrap()[1].ends_with(LOCAL_SUFFIX));
            assert!(source.captures(&one_line).unwrap()[1].ends_with(LOCAL_SUFFIX));
        }
    }
    let distributed = |table: &str| {
        statements
            .iter()
            .find(|s| s.contains(&format!(".{table}\nON CLUSTER")) && s.contains("Distributed("))
            .unwrap_or_else(|| panic!("no Distributed {table}"))
            .clone()
    };
    assert!(distributed("spans").ends_with("spans_local, cityHash64(TraceId))"));
    assert!(distributed("logs").ends_with("cityHash64(ServiceName, ResourceAttributes))"));
    assert!(
        distributed("logs_by_level").ends_with("logs_by_level_local, cityHash64(ServiceName))")
    );
    assert!(distributed("metrics_hourly").ends_with("metrics_hourly_local)"));

    // The migrations as shipped, and one written here.
    for (file, sql) in shipped_migrations() {
        let migrated = schema::statements_of(&sql, &config);
        assert!(!migrated.is_empty(), "{file}");
        assert_all_parse(&client, &migrated).await;
    }
    let migrated = schema::statements_of(TEST_MIGRATION, &config);
    assert_all_parse(&client, &migrated).await;
    let expected_heads = [
        "ALTER TABLE tc_cluster_parse.logs_local ON CLUSTER",
        "ALTER TABLE tc_cluster_parse.logs ON CLUSTER",
        "ALTER TABLE tc_cluster_parse.logs_local ON CLUSTER",
        "CREATE TABLE IF NOT EXISTS tc_cluster_parse.profiles_local\nON CLUSTER",
        "CREATE TABLE IF NOT EXISTS tc_cluster_parse.profiles\nON CLUSTER",
        "CREATE TABLE IF NOT EXISTS tc_cluster_parse.profiles_daily_local\nON CLUSTER",
        "CREATE TABLE IF NOT EXISTS tc_cluster_parse.profiles_daily\nON CLUSTER",
        "CREATE MATERIALIZED VIEW IF NOT EXISTS tc_cluster_parse.profiles_daily_mv\nON CLUSTER",
        "CREATE TABLE IF NOT EXISTS tc_cluster_parse.profiles_old_local\nON CLUSTER",
        "CREATE TABLE IF NOT EXISTS tc_cluster_parse.profiles_old\nON CLUSTER",
        "INSERT INTO tc_cluster_parse.profiles SELECT",
        "RENAME TABLE tc_cluster_parse.profiles_old_local TO tc_cluster_parse.profiles_retired_local ON CLUSTER",
        "DROP TABLE IF EXISTS tc_cluster_parse.profiles_old ON CLUSTER",
        "CREATE TABLE IF NOT EXISTS tc_cluster_parse.profiles_retired\nON CLUSTER",
        "DROP VIEW IF EXISTS tc_cluster_parse.profiles_daily_mv ON CLUSTER",
        "DROP TABLE IF EXISTS tc_cluster_parse.profiles_retired ON CLUSTER",
        "DROP TABLE IF EXISTS tc_cluster_parse.profiles_retired_local ON CLUSTER",
    ];
    assert_eq!(migrated.len(), expected_heads.len(), "{migrated:#?}");
    for (statement, head) in migrated.iter().zip(expected_heads) {
        assert!(statement.starts_with(head), "{statement}\nexpected {head}");
    }
    // The Distributed table gets the column, not the index, TTL or setting.
    assert!(!migrated[1].contains("INDEX") && !migrated[1].contains("TTL"));
    assert!(migrated[2].ends_with("MODIFY SETTING replicated_deduplication_window = 10000"));
    assert!(migrated[3].contains("ReplicatedReplacingMergeTree('/ch/"));
    assert!(migrated[3].contains("'{replica}', Timestamp)"));
}

/// The cluster statements as one server can run them: no `ON CLUSTER`, the
/// plain engines, and nothing of the Distributed tables (the devserver has
/// no cluster): their creation, alters and drops are left out, and a copy
/// through them reads and writes the local tables. `all` are every cluster
/// statement of the database, to know which tables are Distributed.
fn as_single_node(statements: &[String], all: &[String]) -> Vec<String> {
    let distributed =
        Regex::new(r"^CREATE TABLE IF NOT EXISTS \w+\.(\w+)\nON CLUSTER '[^']*'\nAS ").unwrap();
    let names: Vec<String> = all
        .iter()
        .filter_map(|s| distributed.captures(s).map(|c| c[1].to_owned()))
        .collect();
    let targets = Regex::new(r"^(?:ALTER TABLE|DROP TABLE IF EXISTS) \w+\.(\w+) ").unwrap();
    let reference = Regex::new(r"\b(\w+)\.(\w+)\b").unwrap();
    let on_cluster = Regex::new(r"\s*ON CLUSTER '[^']*'").unwrap();
    let engine =
        Regex::new(r"Replicated(\w*)MergeTree\('[^']*', '[^']*'(?:, )?([^()]*)\)").unwrap();
    statements
        .iter()
        .filter(|s| !s.contains("ENGINE = Distributed("))
        .filter(|s| {
            !targets
                .captures(s)
                .is_some_and(|c| names.contains(&c[1].to_owned()))
        })
        .map(|s| {
            let s = match s.starts_with("INSERT") {
                true => reference
                    .replace_all(s, |c: &regex::Captures<'_>| {
                        match names.contains(&c[2].to_owned()) {
                            true => format!("{}.{}{LOCAL_SUFFIX}", &c[1], &c[2]),
                            false => c[0].to_owned(),
                        }
                    })
                    .into_owned(),
                false => s.clone(),
            };
            let s = on_cluster.replace_all(&s, "");
            let s = engine.replace_all(&s, "${1}MergeTree(${2})");
            s.replace(
                " replicated_deduplication_window",
                " non_replicated_deduplication_window",
            )
        })
        .collect()
}

#[derive(Debug, PartialEq, Deserialize, clickhouse::Row)]
struct Column {
    name: String,
    r#type: String,
    default_kind: String,
    default_expression: String,
    compression_codec: String,
}

async fn columns(client: &clickhouse::Client, database: &str, table: &str) -> Vec<Column> {
    client
        .query(
            "SELECT name, type, default_kind, default_expression, compression_codec \
             FROM system.columns WHERE database = {db:String} AND table = {t:String} \
             ORDER BY position",
        )
        .param("db", database)
        .param("t", table)
        .fetch_all()
        .await
        .unwrap()
}

/// The sharding key of `table`'s `Distributed` table in `statements`, if
/// it names one (after the cluster, the database and the local table).
fn sharding_key(statements: &[String], table: &str) -> Option<String> {
    let ddl = statements
        .iter()
        .find(|s| s.contains(&format!(".{table}\nON CLUSTER")) && s.contains("Distributed("))?;
    let arguments = ddl.rsplit_once("Distributed(")?.1.strip_suffix(')')?;
    arguments.splitn(4, ", ").nth(3).map(str::to_owned)
}

async fn run_all(client: &clickhouse::Client, statements: &[String]) {
    // Fitted to the server as `schema::apply` fits them (an older ClickHouse).
    let version = common::server_version(client).await;
    for statement in &schema::fit_to(version, statements.to_vec()) {
        client
            .query(statement)
            .execute()
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn local_tables_have_the_single_node_columns_and_the_views_fill_them() {
    let client = client();
    let single = common::config("cluster_single");
    schema::apply(&single).await.unwrap();
    let clustered_db = common::unique_database("cluster_local");
    let clustered = cluster_config(&clustered_db);
    let cluster_schema = schema::statements(&clustered);
    let cluster_migration = schema::statements_of(TEST_MIGRATION, &clustered);
    let all = [cluster_schema.clone(), cluster_migration.clone()].concat();
    run_all(&client, &as_single_node(&cluster_schema, &all)).await;

    let tables = [
        "logs",
        "spans",
        "metrics",
        "events",
        "logs_by_level",
        "metrics_hourly",
        "metrics_daily",
    ];
    for table in tables {
        let local = format!("{table}{LOCAL_SUFFIX}");
        let want = columns(&client, single.database(), table).await;
        assert!(want.len() >= 4, "{table}: {want:?}");
        assert_eq!(
            columns(&client, &clustered_db, &local).await,
            want,
            "{table}"
        );
        // The Distributed table's key: an integer over the local columns.
        if let Some(key) = sharding_key(&cluster_schema, table) {
            let typed = format!(
                "SELECT toTypeName(any(k)) FROM (SELECT {key} AS k FROM {clustered_db}.{local})"
            );
            let kind = client.query(&typed).fetch_one::<String>().await.unwrap();
            assert_eq!(kind, "UInt64", "{table}: {typed}");
        }
    }

    // The views on the local tables: 3 logs counted by level, 2 metric
    // points rolled up by hour and by day.
    client
        .query(&format!(
            "INSERT INTO {clustered_db}.logs_local (Timestamp, SeverityText, ServiceName, Body) \
             VALUES (now64(9), 'INFO', 's', 'a'), (now64(9), 'INFO', 's', 'b'), \
             (now64(9), 'WARN', 's', 'c')"
        ))
        .execute()
        .await
        .unwrap();
    client
        .query(&format!(
            "INSERT INTO {clustered_db}.metrics_local (TimeUnix, MetricName, ServiceName, Value) \
             VALUES (now64(9), 'm', 's', 1.5), (now64(9), 'm', 's', 2.5)"
        ))
        .execute()
        .await
        .unwrap();
    let db = &clustered_db;
    let count = |sql: String| {
        let client = client.clone();
        async move { scalar(&client, &sql).await }
    };
    assert_eq!(
        count(format!("SELECT sum(Count) FROM {db}.logs_by_level_local")).await,
        3
    );
    assert_eq!(
        count(format!(
            "SELECT sum(Count) FROM {db}.logs_by_level_local WHERE SeverityText = 'WARN'"
        ))
        .await,
        1
    );
    assert_eq!(
        count(format!(
            "SELECT toUInt64(sum(ValueSum)) FROM {db}.metrics_hourly_local"
        ))
        .await,
        4
    );
    assert_eq!(
        count(format!(
            "SELECT sum(ValueCount) FROM {db}.metrics_daily_local"
        ))
        .await,
        2
    );

    // The migration written here, on both: the local table gets what the
    // single-node table gets.
    run_all(&client, &schema::statements_of(TEST_MIGRATION, &single)).await;
    run_all(&client, &as_single_node(&cluster_migration, &all)).await;
    for table in ["logs", "profiles", "profiles_daily"] {
        let want = columns(&client, single.database(), table).await;
        assert!(!want.is_empty(), "{table}");
        let local = format!("{table}{LOCAL_SUFFIX}");
        assert_eq!(
            columns(&client, &clustered_db, &local).await,
            want,
            "{table}"
        );
    }
    assert!(
        columns(&client, &clustered_db, "logs_local")
            .await
            .iter()
            .any(|c| c.name == "EventName")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn inserts_into_a_shards_local_tables() {
    let client = client();
    let db = common::unique_database("cluster_insert");
    let config = common::builder_for(&common::url(), &db)
        .cluster(ClusterConfig::new(CLUSTER).insert(ClusterInsert::Local))
        .unwrap()
        .create_schema(false)
        .build_config()
        .unwrap();
    let statements = schema::statements(&config);
    run_all(&client, &as_single_node(&statements, &statements)).await;

    let (dispatch, telemetry) = common::start(config);
    dispatcher::with_default(&dispatch, || {
        for i in 0..250 {
            tracing::info!(i, "to the shard");
        }
        let _span = tracing::info_span!("work").entered();
    });
    let telemetry = tokio::task::spawn_blocking(move || {
        telemetry.flush(Duration::from_secs(30)).unwrap();
        telemetry
    })
    .await
    .unwrap();
    assert_eq!(telemetry.stats().sent_rows, 251);
    let count = |sql: String| {
        let client = client.clone();
        async move { scalar(&client, &sql).await }
    };
    assert_eq!(
        count(format!("SELECT count() FROM {db}.logs_local")).await,
        250
    );
    assert_eq!(
        count(format!("SELECT count() FROM {db}.spans_local")).await,
        1
    );
    assert_eq!(
        count(format!("SELECT sum(Count) FROM {db}.logs_by_level_local")).await,
        250
    );
}
