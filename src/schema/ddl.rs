//! The DDL: `schema.sql` (and the migrations, in the same form), its
//! placeholders filled from a [`Config`].

use crate::config::Config;

/// The schema, with `{{placeholders}}`, as shipped.
pub(crate) const SCHEMA_SQL: &str = include_str!("../../schema.sql");

/// Inserts remembered per table for deduplication: a batch re-sent with the
/// same token within the last this-many inserts of its table is stored once.
pub(crate) const DEDUP_WINDOW: u32 = 10_000;

/// The statements of `schema.sql` for this configuration, in order.
pub fn statements(config: &Config) -> Vec<String> {
    statements_of(SCHEMA_SQL, config)
}

/// The statements of `sql` (in `schema.sql`'s form, such as a migration)
/// with their placeholders filled from `config`; for a cluster
/// ([`Builder::cluster`](crate::Builder::cluster)), made `ON CLUSTER` DDL (see docs/operations.md, "Running at
/// scale").
pub fn statements_of(sql: &str, config: &Config) -> Vec<String> {
    let single = filled_single(sql, config);
    match &config.cluster {
        None => single,
        Some(cluster) => {
            let mut known = filled_single(SCHEMA_SQL, config);
            known.extend(single.iter().cloned());
            super::cluster::ClusterDdl::new(cluster, &config.database, &known).rewrite(single)
        }
    }
}

/// The statements of `sql` for one server.
fn filled_single(sql: &str, config: &Config) -> Vec<String> {
    let retention = config.retention;
    let values = [
        ("database", config.database.clone()),
        ("logs_ttl_days", retention.logs_days.to_string()),
        ("spans_ttl_days", retention.spans_days.to_string()),
        ("metrics_ttl_days", retention.metrics_days.to_string()),
        ("events_ttl_days", retention.events_days.to_string()),
        ("dedup_window", DEDUP_WINDOW.to_string()),
    ];
    split_statements(sql)
        .into_iter()
        .map(|statement| {
            values.iter().fold(statement, |sql, (name, value)| {
                sql.replace(&format!("{{{{{name}}}}}"), value)
            })
        })
        .collect()
}

/// Statements end with `;` at the end of a line; `--` lines are comments.
fn split_statements(sql: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with("--") {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if trimmed.ends_with(';') {
            statements.push(current.trim().trim_end_matches(';').to_owned());
            current.clear();
        }
    }
    debug_assert!(
        current.trim().is_empty(),
        "schema.sql ends inside a statement"
    );
    statements
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let mut config = Config::defaults();
        config.retention.logs_days = 7;
        config.database = "tc_schema_test".to_owned();
        config
    }

    #[test]
    fn every_placeholder_is_filled() {
        let statements = statements(&config());
        assert!(statements.len() >= 10, "{} statements", statements.len());
        for statement in &statements {
            assert!(
                !statement.contains("{{"),
                "unfilled placeholder in {statement}"
            );
            assert!(!statement.ends_with(';'));
            assert!(
                statement.contains("IF NOT EXISTS"),
                "not idempotent: {statement}"
            );
        }
        assert_eq!(
            statements[0],
            "CREATE DATABASE IF NOT EXISTS tc_schema_test"
        );
        let logs = statements.iter().find(|s| s.contains(".logs\n")).unwrap();
        assert!(logs.contains("toIntervalDay(7)"), "{logs}");
        assert!(logs.contains(&format!(
            "non_replicated_deduplication_window = {DEDUP_WINDOW}"
        )));
    }

    #[test]
    fn every_table_has_a_dedup_window_and_a_ttl() {
        for statement in statements(&config()) {
            if statement.starts_with("CREATE TABLE") && !statement.contains(".schema_version\n") {
                assert!(
                    statement.contains("non_replicated_deduplication_window"),
                    "{statement}"
                );
                assert!(statement.contains("TTL "), "{statement}");
            }
        }
    }
}
