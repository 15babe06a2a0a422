//! Schema versions: which one a database has, the migrations that bring an
//! older database up to date, and the refusal of a newer one.

use serde::Deserialize;

use super::cluster::LOCAL_SUFFIX;
use super::ddl::{statements, statements_of};
use super::server::Fit;
use crate::config::Config;
use crate::connect::client;
use crate::error::{Error, Result};

/// The version `schema.sql` describes.
pub const SCHEMA_VERSION: u32 = 4;

/// A migration: the statements that bring a database of `version - 1` to
/// `version` (in `schema.sql`'s form, see `migrations/README.md`).
#[derive(Debug)]
struct Migration {
    version: u32,
    sql: &'static str,
}

/// Every migration, oldest first, one per version after the first.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 2,
        sql: include_str!("../../migrations/002_logs_layout.sql"),
    },
    Migration {
        version: 3,
        sql: include_str!("../../migrations/003_log_rollups.sql"),
    },
    Migration {
        version: 4,
        sql: include_str!("../../migrations/004_body_search.sql"),
    },
];

/// What [`apply`] found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Applied {
    /// The database's version before (`None`: it had no tables of ours).
    pub from: Option<u32>,
    /// Its version now ([`SCHEMA_VERSION`]).
    pub to: u32,
    /// The migrations run, by the version each brought it to.
    pub migrated: Vec<u32>,
    /// One line per part of the schema the server does without (an older
    /// ClickHouse; docs/operations.md, "Supported ClickHouse versions").
    pub notes: Vec<String>,
}

/// Brings the database up to [`SCHEMA_VERSION`]: creates what does not
/// exist, runs the migrations an older database needs (in order, recording
/// each), and refuses a database newer than this crate knows. Applying
/// twice changes nothing. The statements are fitted to the server's
/// version: what an older ClickHouse cannot take is left out, and
/// [`Applied::notes`] says what.
///
/// # Errors
///
/// [`Error::ServerTooOld`] for a server older than
/// [`MIN_SERVER_VERSION`](super::MIN_SERVER_VERSION) and
/// [`Error::SchemaTooNew`] for a newer database (nothing is changed for
/// either); the first statement ClickHouse rejects, or the connection error.
pub async fn apply(config: &Config) -> Result<Applied> {
    apply_with(&client(config, false)?, config).await
}

pub(crate) async fn apply_with(client: &clickhouse::Client, config: &Config) -> Result<Applied> {
    let version = client
        .query("SELECT version()")
        .fetch_one::<String>()
        .await?;
    let fit = Fit::for_answer(&version)?;
    let all: Vec<String> = statements(config)
        .into_iter()
        .map(|statement| fit.statement(statement))
        .collect();
    let (bootstrap, rest): (Vec<_>, Vec<_>) = all
        .into_iter()
        .enumerate()
        .partition(|(i, s)| *i == 0 || s.contains(".schema_version\n"));
    for (_, statement) in &bootstrap {
        client.query(statement).execute().await?;
    }
    let (from, recorded) = version_of(client, config).await?;
    if let Some(found) = from
        && found > SCHEMA_VERSION
    {
        return Err(Error::SchemaTooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    let mut migrated = Vec::new();
    for (version, sql) in pending_migrations(from) {
        for statement in statements_of(sql, config) {
            let statement = fit.statement(statement);
            client.query(&statement).execute().await?;
            // The copy of a layout change is written as new parts are.
            if let Some(table) = created_logs_table(&statement, config) {
                single_stream_strings(client, config, table).await?;
            }
        }
        record(client, config, version).await?;
        migrated.push(version);
    }
    // What is missing (a new database, or a table dropped since) is
    // created as the newest version has it.
    for (_, statement) in &rest {
        client.query(statement).execute().await?;
    }
    repair_codecs(client, config, &fit).await?;
    let mut notes = fit.notes();
    if !single_stream_strings(client, config, "logs").await? {
        notes.push(format!(
            "ClickHouse {}: logs keep each string's length apart from its bytes \
             (one stream needs 25.10; about a third more bytes a row)",
            fit.version
        ));
    }
    if recorded != Some(SCHEMA_VERSION) && migrated.last() != Some(&SCHEMA_VERSION) {
        record(client, config, SCHEMA_VERSION).await?;
    }
    Ok(Applied {
        from,
        to: SCHEMA_VERSION,
        migrated,
        notes,
    })
}

/// Gives `logs.Timestamp` codecs the server can write, if an earlier apply
/// (of a crate that did not fit the schema to the server) left it with ones
/// every insert fails on.
async fn repair_codecs(client: &clickhouse::Client, config: &Config, fit: &Fit) -> Result<()> {
    let codecs = client
        .query(
            "SELECT compression_codec FROM system.columns WHERE database = {db:String} \
             AND table IN ('logs', {local:String}) AND name = 'Timestamp'",
        )
        .param("db", &config.database)
        .param("local", format!("logs{LOCAL_SUFFIX}"))
        .fetch_all::<String>()
        .await?;
    if let Some(repaired) = codecs.iter().find_map(|c| fit.codec_repair(c)) {
        let alter =
            format!("ALTER TABLE {{{{database}}}}.logs MODIFY COLUMN Timestamp {repaired};");
        for statement in statements_of(&alter, config) {
            client.query(&statement).execute().await?;
        }
    }
    Ok(())
}

/// Has `logs` store its strings in one stream, lengths beside the bytes,
/// where the server has the choice (25.10 and later; 25.11 made a separate
/// stream of lengths the default). `schema.sql` cannot say so: servers
/// before 25.10 refuse the setting, and store strings that way anyway. On
/// our corpus the separate lengths cost 18.8 of 55.3 bytes per row, most of
/// it in the maps (docs/storage.md). New parts and
/// merges are written this way; parts already on disk keep theirs until
/// they are merged. Whether the server has the choice.
async fn single_stream_strings(
    client: &clickhouse::Client,
    config: &Config,
    table: &str,
) -> Result<bool> {
    let known = client
        .query(
            "SELECT count() FROM system.merge_tree_settings \
             WHERE name = 'string_serialization_version'",
        )
        .fetch_one::<u64>()
        .await?;
    if known > 0 {
        // Ours is a checked identifier; the table, one of our fixed names.
        // On a cluster the statement goes to the local tables, ON CLUSTER.
        let alter = format!(
            "ALTER TABLE {{{{database}}}}.{table} MODIFY SETTING \
             string_serialization_version = 'single_stream';"
        );
        for statement in statements_of(&alter, config) {
            client.query(&statement).execute().await?;
        }
    }
    Ok(known > 0)
}

/// `logs_v2` if `statement` creates it (the new `logs` of a migration).
fn created_logs_table(statement: &str, config: &Config) -> Option<&'static str> {
    let create = format!("CREATE TABLE {}.logs_v2\n", config.database);
    statement.starts_with(&create).then_some("logs_v2")
}

/// The database's version: the highest recorded, else 1 if it has our
/// tables from before versions were recorded, else `None` (empty); and the
/// highest recorded.
async fn version_of(
    client: &clickhouse::Client,
    config: &Config,
) -> Result<(Option<u32>, Option<u32>)> {
    #[derive(Deserialize, clickhouse::Row)]
    struct Found {
        version: u32,
        recorded: u64,
        legacy_tables: u64,
    }
    // The admin client names no database; ours is a checked identifier.
    let db = &config.database;
    let found: Found = client
        .query(&format!(
            "SELECT toUInt32(ifNull((SELECT max(Version) FROM {db}.schema_version), 0)) \
             AS version, \
             toUInt64(ifNull((SELECT count() FROM {db}.schema_version), 0)) AS recorded, \
             toUInt64(ifNull((SELECT count() FROM system.tables \
             WHERE database = {{db:String}} AND name = 'logs'), 0)) AS legacy_tables"
        ))
        .param("db", db)
        .fetch_one()
        .await?;
    Ok(match (found.recorded, found.legacy_tables) {
        (0, 0) => (None, None),
        (0, _) => (Some(1), None),
        _ => (Some(found.version), Some(found.version)),
    })
}

/// The version of the database `config` names: `None` if it has no tables
/// of ours (the database itself may not exist either).
///
/// # Errors
///
/// The connection error, or ClickHouse's.
pub(crate) async fn installed_version(config: &Config) -> Result<Option<u32>> {
    let client = client(config, false)?;
    #[derive(Deserialize, clickhouse::Row)]
    struct Tables {
        versions: u64,
    }
    let tables: Tables = client
        .query(
            "SELECT count() AS versions FROM system.tables \
             WHERE database = {db:String} AND name = 'schema_version'",
        )
        .param("db", &config.database)
        .fetch_one()
        .await?;
    if tables.versions == 0 {
        let legacy = client
            .query(
                "SELECT count() FROM system.tables WHERE database = {db:String} AND name = 'logs'",
            )
            .param("db", &config.database)
            .fetch_one::<u64>()
            .await?;
        return Ok((legacy > 0).then_some(1));
    }
    Ok(version_of(&client, config).await?.0)
}

/// The migrations a database of version `from` needs, oldest first, each
/// as the version it brings the database to and its SQL in `schema.sql`'s
/// form (none for an empty database, which gets `schema.sql` directly).
pub(crate) fn pending_migrations(from: Option<u32>) -> Vec<(u32, &'static str)> {
    let Some(from) = from else {
        return Vec::new();
    };
    MIGRATIONS
        .iter()
        .filter(|m| m.version > from)
        .map(|m| (m.version, m.sql))
        .collect()
}

async fn record(client: &clickhouse::Client, config: &Config, version: u32) -> Result<()> {
    let db = &config.database;
    client
        .query(&format!(
            "INSERT INTO {db}.schema_version (Version, AppliedBy) \
             VALUES ({{version:UInt32}}, {{by:String}})"
        ))
        .param("version", version)
        .param(
            "by",
            concat!("tracing-clickhouse ", env!("CARGO_PKG_VERSION")),
        )
        .execute()
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::ddl::SCHEMA_SQL;
    use super::*;

    /// The version `schema.sql` says it is, as written in its header.
    fn declared_version() -> Option<u32> {
        SCHEMA_SQL
            .lines()
            .find_map(|line| line.strip_prefix("-- schema version: "))
            .and_then(|v| v.trim().parse().ok())
    }

    /// The statement of `sql` that starts with `head`, up to its `;`.
    fn statement<'a>(sql: &'a str, head: &str) -> &'a str {
        let at = sql.find(head).unwrap_or_else(|| panic!("no {head:?}"));
        let end = sql[at..].find(';').unwrap();
        &sql[at..at + end]
    }

    /// The `CREATE TABLE` of `table` in `schema.sql`, as a migration
    /// writes it for its copy `table_vN` (without `IF NOT EXISTS`).
    fn as_copy(table: &str, copy: &str) -> String {
        statement(
            SCHEMA_SQL,
            &format!("CREATE TABLE IF NOT EXISTS {{{{database}}}}.{table}\n"),
        )
        .replace("IF NOT EXISTS ", "")
        .replace(&format!(".{table}\n"), &format!(".{copy}\n"))
    }

    /// Version 4's index of `logs`, as `schema.sql` defines it.
    fn body_search_index() -> &'static str {
        let line = SCHEMA_SQL
            .lines()
            .find(|line| line.trim_start().starts_with("INDEX idx_body_lower "))
            .expect("schema.sql indexes the lowered body");
        line.trim()
    }

    #[test]
    fn migration_2_makes_the_logs_schema_sql_makes() {
        let sql = MIGRATIONS[0].sql;
        // But for the index version 4 adds.
        let v4 = format!(",\n    {}", body_search_index());
        assert_eq!(
            statement(sql, "CREATE TABLE {{database}}.logs_v2\n"),
            as_copy("logs", "logs_v2").replace(&v4, "")
        );
    }

    #[test]
    fn migration_4_adds_the_index_schema_sql_defines() {
        let sql = MIGRATIONS[2].sql;
        let added = body_search_index().replace("INDEX ", "ADD INDEX IF NOT EXISTS ");
        assert!(
            statement(sql, "ALTER TABLE {{database}}.logs\n").ends_with(&added),
            "{sql}"
        );
    }

    #[test]
    fn migration_3_makes_the_rollups_and_views_schema_sql_makes() {
        let sql = MIGRATIONS[1].sql;
        for table in ["logs_by_level", "logs_patterns"] {
            let copy = format!("{table}_v3");
            let create = format!("CREATE TABLE {{{{database}}}}.{copy}\n");
            assert_eq!(statement(sql, &create), as_copy(table, &copy));
            let view =
                format!("CREATE MATERIALIZED VIEW IF NOT EXISTS {{{{database}}}}.{table}_mv");
            assert_eq!(statement(sql, &view), statement(SCHEMA_SQL, &view));
        }
    }

    #[test]
    fn schema_sql_and_the_migrations_agree_on_the_version() {
        assert_eq!(declared_version(), Some(SCHEMA_VERSION));
        let versions: Vec<u32> = MIGRATIONS.iter().map(|m| m.version).collect();
        let expected: Vec<u32> = (2..).take_while(|v| *v <= SCHEMA_VERSION).collect();
        assert_eq!(
            versions, expected,
            "one migration per version after the first"
        );
    }
}
