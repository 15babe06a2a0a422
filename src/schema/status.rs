//! What a database has, against what [`apply`](super::apply) would make of
//! it: [`status`], which changes nothing.

use serde::Deserialize;

use super::ddl::{statements, statements_of};
use super::versions::{SCHEMA_VERSION, installed_version, pending_migrations};
use crate::config::Config;
use crate::connect::client;
use crate::error::Result;

/// The schema of a database as it is, and what [`apply`](super::apply)
/// would change.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SchemaStatus {
    /// The database.
    pub database: String,
    /// Its version (`None`: none of our tables).
    pub installed: Option<u32>,
    /// The version this crate applies ([`SCHEMA_VERSION`]).
    pub known: u32,
    /// Every table and view `schema.sql` creates, in its order.
    pub tables: Vec<TableStatus>,
    /// The migrations `apply` would run, oldest first.
    pub pending: Vec<PendingMigration>,
}

/// One table (or materialized view) of the schema.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableStatus {
    /// Its name.
    pub name: String,
    /// Whether the database has it (`apply` creates it if not).
    pub exists: bool,
    /// Its engine as the server reports it (`MergeTree`, `MaterializedView`,
    /// ...); empty if it does not exist.
    pub engine: String,
    /// Its TTL expression as the server reports it, if it has one.
    pub ttl: Option<String>,
    /// The days of that TTL (`toIntervalDay(N)`).
    pub ttl_days: Option<u32>,
    /// The days the configuration asks for (`CLICKHOUSE_*_TTL_DAYS`); `apply`
    /// gives them to a table it creates and leaves an existing table's alone.
    pub configured_ttl_days: Option<u32>,
}

/// A migration [`apply`](super::apply) would run.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PendingMigration {
    /// The version it brings the database to.
    pub version: u32,
    /// Its statements, filled in for this configuration.
    pub statements: Vec<String>,
}

impl SchemaStatus {
    /// Whether `apply` would change nothing: the database has this crate's
    /// version and every table.
    pub fn is_current(&self) -> bool {
        self.installed == Some(self.known) && self.tables.iter().all(|t| t.exists)
    }

    /// Whether the database is newer than this crate (which then refuses to
    /// apply anything).
    pub fn is_newer(&self) -> bool {
        self.installed.is_some_and(|v| v > self.known)
    }

    /// The tables `apply` would create.
    pub fn missing(&self) -> impl Iterator<Item = &TableStatus> {
        self.tables.iter().filter(|t| !t.exists)
    }
}

/// The schema of the database `config` names, against `schema.sql` and the
/// migrations; nothing is changed.
///
/// # Errors
///
/// The connection error, or ClickHouse's.
pub async fn status(config: &Config) -> Result<SchemaStatus> {
    let installed = installed_version(config).await?;
    #[derive(Deserialize, clickhouse::Row)]
    struct Found {
        name: String,
        engine: String,
        engine_full: String,
    }
    let found: Vec<Found> = client(config, false)?
        .query(
            "SELECT name, engine, engine_full FROM system.tables \
             WHERE database = {db:String} ORDER BY name",
        )
        .param("db", &config.database)
        .fetch_all()
        .await?;
    let tables = schema_tables(config)
        .into_iter()
        .map(|(name, configured_ttl_days)| {
            let table = found.iter().find(|f| f.name == name);
            let ttl = table.and_then(|t| ttl_of(&t.engine_full));
            TableStatus {
                exists: table.is_some(),
                engine: table.map(|t| t.engine.clone()).unwrap_or_default(),
                ttl_days: ttl.as_deref().and_then(days_of),
                ttl,
                configured_ttl_days,
                name,
            }
        })
        .collect();
    // None for a newer database too: its versions are past every migration.
    let pending = pending_migrations(installed)
        .into_iter()
        .map(|(version, sql)| PendingMigration {
            version,
            statements: statements_of(sql, config),
        })
        .collect();
    Ok(SchemaStatus {
        database: config.database.clone(),
        installed,
        known: SCHEMA_VERSION,
        tables,
        pending,
    })
}

/// The tables and views of `schema.sql`, each with the TTL days it gives.
fn schema_tables(config: &Config) -> Vec<(String, Option<u32>)> {
    let prefix = format!("{}.", config.database);
    statements(config)
        .iter()
        .filter_map(|statement| {
            let rest = [
                "CREATE TABLE IF NOT EXISTS ",
                "CREATE MATERIALIZED VIEW IF NOT EXISTS ",
            ]
            .iter()
            .find_map(|create| statement.strip_prefix(create))?;
            let name = rest.split(|c: char| c.is_whitespace() || c == '(').next()?;
            let name = name.strip_prefix(&prefix).unwrap_or(name);
            Some((
                name.to_owned(),
                ttl_of(statement).as_deref().and_then(days_of),
            ))
        })
        .collect()
}

/// The TTL clause of a table's definition (`engine_full`, or a `CREATE`
/// statement): what follows `TTL` up to `SETTINGS`.
fn ttl_of(definition: &str) -> Option<String> {
    let flat = definition.split_whitespace().collect::<Vec<_>>().join(" ");
    let start = flat
        .find(" TTL ")
        .map(|i| i + 5)
        .or_else(|| flat.strip_prefix("TTL ").map(|_| 4))?;
    let rest = &flat[start..];
    let end = rest.find(" SETTINGS ").unwrap_or(rest.len());
    Some(rest[..end].trim().to_owned())
}

/// N of the first `toIntervalDay(N)` in a TTL.
fn days_of(ttl: &str) -> Option<u32> {
    let rest = &ttl[ttl.find("toIntervalDay(")? + "toIntervalDay(".len()..];
    rest[..rest.find(')')?].trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let mut config = Config::defaults();
        config.retention.logs_days = 7;
        config.database = "tc_status_unit".to_owned();
        config
    }

    #[test]
    fn the_tables_of_schema_sql_with_their_ttls() {
        let tables = schema_tables(&config());
        let names: Vec<&str> = tables.iter().map(|(n, _)| n.as_str()).collect();
        for name in [
            "schema_version",
            "logs",
            "spans",
            "metrics",
            "events",
            "logs_by_level",
        ] {
            assert!(names.contains(&name), "{name} in {names:?}");
        }
        assert!(names.contains(&"logs_by_level_mv"), "{names:?}");
        let ttl = |name: &str| tables.iter().find(|(n, _)| n == name).unwrap().1;
        assert_eq!(ttl("logs"), Some(7));
        assert_eq!(ttl("logs_by_level"), Some(7));
        assert_eq!(ttl("spans"), Some(180));
        assert_eq!(ttl("logs_by_level_mv"), None);
        assert_eq!(ttl("schema_version"), None);
    }

    #[test]
    fn ttls_are_read_from_what_the_server_reports() {
        let engine = "MergeTree PARTITION BY toDate(TimestampTime) ORDER BY (A, B) \
                      TTL TimestampTime + toIntervalDay(180) SETTINGS index_granularity = 8192";
        assert_eq!(
            ttl_of(engine).as_deref(),
            Some("TimestampTime + toIntervalDay(180)")
        );
        assert_eq!(days_of("TimestampTime + toIntervalDay(180)"), Some(180));
        assert_eq!(
            ttl_of("MergeTree ORDER BY Version SETTINGS index_granularity = 8192"),
            None
        );
        assert_eq!(ttl_of(""), None);
        assert_eq!(days_of("Minute + toIntervalMonth(3)"), None);
        assert_eq!(days_of("toIntervalDay(x)"), None);
    }

    #[test]
    fn only_an_older_database_has_migrations_to_run() {
        assert!(
            pending_migrations(None).is_empty(),
            "an empty database gets schema.sql"
        );
        assert!(pending_migrations(Some(SCHEMA_VERSION)).is_empty());
        assert!(pending_migrations(Some(SCHEMA_VERSION + 1)).is_empty());
        let from_one: Vec<u32> = pending_migrations(Some(1)).iter().map(|m| m.0).collect();
        let newer: Vec<u32> = (2..).take_while(|v| *v <= SCHEMA_VERSION).collect();
        assert_eq!(from_one, newer);
    }
}
