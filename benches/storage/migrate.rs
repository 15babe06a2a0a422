//! How long `schema::apply` takes to migrate a version-1 database holding
//! the corpus: the copy of migration 002, timed as an application runs it.

use std::time::{Duration, Instant};

use super::server::Server;
use super::tables;

/// The version-1 schema (the tests' fixture), in `schema.sql`'s form.
const V1: &str = include_str!("../../tests/it/schemas/v1.sql");

/// Creates `database` at version 1, copies the corpus into its `logs`, and
/// times `schema::apply` on it; returns the time and the rows it then has.
pub fn time_migration(
    server: &Server,
    config: &tracing_clickhouse::Config,
    corpus: &str,
) -> (Duration, u64) {
    let database = config.database();
    server.exec(&format!("DROP DATABASE IF EXISTS {database}"));
    let mut statement = String::new();
    for line in V1.lines().filter(|l| !l.trim_start().starts_with("--")) {
        statement.push_str(line);
        statement.push('\n');
        if line.trim_end().ends_with(';') {
            let mut sql = statement
                .trim()
                .trim_end_matches(';')
                .replace("{{database}}", database)
                .replace("{{dedup_window}}", "10000");
            for table in ["logs", "spans", "metrics", "events"] {
                sql = sql.replace(&format!("{{{{{table}_ttl_days}}}}"), "3650");
            }
            server.exec(&sql);
            statement.clear();
        }
    }
    server.exec(&format!(
        "INSERT INTO {database}.logs ({cols}) SELECT {cols} FROM {corpus}",
        cols = tables::INSERT_COLUMNS
    ));
    let began = Instant::now();
    let applied = server
        .runtime
        .block_on(tracing_clickhouse::schema::apply(config))
        .expect("the migration");
    let took = began.elapsed();
    assert_eq!(applied.migrated, [2], "a version-1 database migrated");
    let rows = server.number(&format!("SELECT count() FROM {database}.logs")) as u64;
    server.exec(&format!("DROP DATABASE {database}"));
    (took, rows)
}
