//! The cluster DDL, generated from the single-node statements of
//! `schema.sql` and the migrations (never a second copy of the schema).
//!
//! On a cluster every table `T` of ours becomes two:
//!
//! - `T_local`, created `ON CLUSTER` on every node with the `Replicated`
//!   form of its engine (`ReplicatedMergeTree`, `ReplicatedSummingMergeTree`,
//!   ...), a Keeper path per shard and table, and the replicated
//!   deduplication window in place of the non-replicated one (a retried
//!   batch is deduplicated cluster-wide, through Keeper);
//! - `T`, a `Distributed` table over `T_local` with the table's sharding
//!   key ([`sharding_key`]), so readers use the names they use on one server.
//!
//! The materialized views read and fill the local tables: each shard rolls
//! up its own rows, and readers re-aggregate across shards with `GROUP BY`
//! (they always do). `schema_version` is one replicated table across the
//! whole cluster (no `{shard}` in its path): a version recorded on one node
//! is seen on all. Migrations get the same treatment statement by
//! statement: an `ALTER` goes to the local table, and its column changes to
//! the `Distributed` table too; a `DROP` drops both; an `INSERT ... SELECT`
//! runs once, through the `Distributed` tables.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;

use crate::config::ClusterConfig;

/// What the local tables are called: `logs_local` behind `logs`.
pub(crate) const LOCAL_SUFFIX: &str = "_local";

/// The expression each `Distributed` table routes rows by, and why:
///
/// - `logs`, `events`: the batch's process (`ResourceAttributes` holds
///   `host.name` and `process.pid`, the same for every row of a batch), so
///   one insert goes whole to one shard as one part, and its deduplication
///   token is checked in one place; processes spread over the shards.
/// - `spans`: `cityHash64(TraceId)`, so a trace lives on one shard (a
///   trace's tree is read from one node, and joins by trace stay local).
/// - `metrics`: the series (service, name, attributes), so a series'
///   points sit together and its rollup rows merge on one shard.
/// - `logs_by_level`, `logs_patterns`: the service. The views fill the
///   local tables on the shard the logs landed on; only a migration's
///   backfill inserts through the `Distributed` table, and readers add up
///   every shard's rows, so where a rollup row lives changes no answer.
///
/// The metric rollups and tables not named here have none: nothing inserts
/// through their `Distributed` table (the views fill the local ones), and
/// ClickHouse refuses an insert into a multi-shard `Distributed` table
/// without a key rather than guess.
pub(crate) fn sharding_key(table: &str) -> Option<&'static str> {
    match copied_table(table) {
        "logs" => Some("cityHash64(ServiceName, ResourceAttributes)"),
        "events" => Some("cityHash64(ServiceName)"),
        "spans" => Some("cityHash64(TraceId)"),
        "metrics" => Some("cityHash64(ServiceName, MetricName, Attributes)"),
        "logs_by_level" | "logs_patterns" => Some("cityHash64(ServiceName)"),
        _ => None,
    }
}

/// The table a migration's copy stands for (`logs_v2` and `logs_before_v2`
/// are `logs`): the copy shards as the table, so that the copy's insert
/// through its `Distributed` table has a key.
fn copied_table(name: &str) -> &str {
    static COPY: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(\w+?)(?:_before)?_v\d+$").expect("a valid regex"));
    COPY.captures(name)
        .and_then(|c| c.get(1))
        .map_or(name, |base| base.as_str())
}

/// A name of ours, by what the cluster makes of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `schema_version`: one replicated table across the cluster.
    Version,
    /// A view: created `ON CLUSTER`, over the local tables.
    View,
    /// A table: `T_local` on every node, `Distributed` `T` in front.
    Sharded,
}

/// Rewrites single-node statements (placeholders filled) for `cluster`.
#[derive(Debug)]
pub(super) struct ClusterDdl<'a> {
    cluster: &'a ClusterConfig,
    database: &'a str,
    views: HashSet<String>,
    /// The tables `schema.sql` defines with their columns, by name: what a
    /// migration's `CREATE TABLE t AS u` makes on a cluster.
    definitions: HashMap<String, String>,
    /// `database.name` followed by no identifier character.
    reference: Regex,
}

static ENGINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"ENGINE\s*=\s*(\w*)MergeTree\b(?:\s*\(([^()]*)\))?").expect("a valid regex")
});

impl<'a> ClusterDdl<'a> {
    /// For `database` on `cluster`; `known` are statements (schema.sql's,
    /// and those to rewrite) whose views must not be taken for tables.
    pub(super) fn new(cluster: &'a ClusterConfig, database: &'a str, known: &[String]) -> Self {
        let db = regex::escape(database);
        let view = Regex::new(&format!(
            r"^CREATE\s+(?:MATERIALIZED\s+)?VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?{db}\.(\w+)"
        ))
        .expect("a valid regex");
        let views = known
            .iter()
            .filter_map(|s| view.captures(s.trim()).map(|c| c[1].to_owned()))
            .collect();
        let table = Regex::new(&format!(
            r"^CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+{db}\.(\w+)\s*\("
        ))
        .expect("a valid regex");
        let definitions = known
            .iter()
            .filter_map(|s| {
                let s = s.trim();
                table.captures(s).map(|c| (c[1].to_owned(), s.to_owned()))
            })
            .collect();
        ClusterDdl {
            cluster,
            database,
            views,
            definitions,
            reference: Regex::new(&format!(r"\b{db}\.(\w+)\b")).expect("a valid regex"),
        }
    }

    fn kind(&self, name: &str) -> Kind {
        if name == "schema_version" {
            Kind::Version
        } else if self.views.contains(name) || name.ends_with("_mv") {
            Kind::View
        } else {
            Kind::Sharded
        }
    }

    fn on_cluster(&self) -> String {
        format!("ON CLUSTER '{}'", self.cluster.name)
    }

    /// The statements for the cluster, in order; one statement may become
    /// several (a table and its `Distributed` table).
    pub(super) fn rewrite(&self, statements: Vec<String>) -> Vec<String> {
        statements
            .into_iter()
            .flat_map(|statement| self.rewrite_one(statement.trim()))
            .collect()
    }

    fn rewrite_one(&self, sql: &str) -> Vec<String> {
        let db = regex::escape(self.database);
        let head = |pattern: &str| {
            Regex::new(&format!("^(?s){pattern}"))
                .expect("a valid regex")
                .captures(sql)
        };
        if let Some(c) = head(r"(CREATE\s+DATABASE\s+(?:IF\s+NOT\s+EXISTS\s+)?\w+)(.*)") {
            return vec![format!("{} {}{}", &c[1], self.on_cluster(), &c[2])];
        }
        if let Some(c) = head(&format!(
            r"(CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?){db}\.(\w+)(.*)"
        )) {
            return self.create_table(&c[1], &c[2], &c[3]);
        }
        if let Some(c) = head(&format!(
            r"(CREATE\s+(?:MATERIALIZED\s+)?VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?{db}\.\w+)(.*)"
        )) {
            return vec![self.localised(&format!("{}\n{}{}", &c[1], self.on_cluster(), &c[2]))];
        }
        if let Some(c) = head(&format!(r"ALTER\s+TABLE\s+{db}\.(\w+)\s+(.*)")) {
            return self.alter(&c[1], &c[2]);
        }
        if let Some(c) = head(&format!(
            r"(DROP\s+(?:TABLE|VIEW)\s+(?:IF\s+EXISTS\s+)?){db}\.(\w+)(.*)"
        )) {
            let (prefix, name, rest) = (&c[1], &c[2], rest_with_sync(&c[3]));
            let drop =
                |n: &str| format!("{prefix}{}.{n} {}{rest}", self.database, self.on_cluster());
            return match self.kind(name) {
                Kind::Sharded => vec![drop(name), drop(&format!("{name}{LOCAL_SUFFIX}"))],
                _ => vec![drop(name)],
            };
        }
        if let Some(c) = head(&format!(
            r"(TRUNCATE\s+(?:TABLE\s+)?(?:IF\s+EXISTS\s+)?){db}\.(\w+)(.*)"
        )) {
            let name = self.local_name(&c[2]);
            return vec![format!(
                "{}{}.{name} {}{}",
                &c[1],
                self.database,
                self.on_cluster(),
                &c[3]
            )];
        }
        if let Some(c) = head(r"RENAME\s+TABLE\s+(.*)") {
            return self.rename(&c[1]);
        }
        if let Some(c) = head(&format!(
            r"EXCHANGE\s+TABLES\s+{db}\.(\w+)\s+AND\s+{db}\.(\w+)\s*$"
        )) {
            return self.exchange(&c[1], &c[2]);
        }
        // INSERT ... SELECT (a migration's copy) runs once, through the
        // Distributed tables: it reads every shard and writes by the key,
        // in the foreground, so that every row is on its shard before the
        // next statement (a swap) renames the tables the rows go to.
        if head(r"INSERT\s").is_some() {
            return vec![in_the_foreground(sql)];
        }
        vec![sql.to_owned()]
    }

    fn local_name(&self, name: &str) -> String {
        match self.kind(name) {
            Kind::Sharded => format!("{name}{LOCAL_SUFFIX}"),
            _ => name.to_owned(),
        }
    }

    /// Every reference to one of our tables, made a reference to its local
    /// table (views read and fill the local tables).
    fn localised(&self, sql: &str) -> String {
        self.reference
            .replace_all(sql, |c: &regex::Captures<'_>| {
                format!("{}.{}", self.database, self.local_name(&c[1]))
            })
            .into_owned()
    }

    fn create_table(&self, create: &str, name: &str, rest: &str) -> Vec<String> {
        let db = self.database;
        let on = self.on_cluster();
        let replicated = |path: &str, replica: &str| self.replicated(rest, path, replica);
        match self.kind(name) {
            Kind::Version => {
                // One replica set over all nodes: no shard in the path, and
                // the shard in the replica name, which must be unique.
                let path = self.cluster.keeper_path.replace("{shard}", "all");
                let replica = format!("{{shard}}-{}", self.cluster.replica);
                let body = replicated(&path, &replica).unwrap_or_else(|| rest.to_owned());
                vec![format!("{create}{db}.{name}\n{on}{body}")]
            }
            Kind::View => vec![format!("{create}{db}.{name}\n{on}{rest}")],
            Kind::Sharded => {
                // `CREATE TABLE t AS u` (a migration making sure `t` exists):
                // on a cluster, `t` as schema.sql defines it, since a copy
                // of `u`'s replicated engine would share `u`'s Keeper path.
                let copy = Regex::new(&format!(r"^\s*AS\s+{}\.\w+\s*$", regex::escape(db)))
                    .expect("a valid regex");
                if copy.is_match(rest)
                    && let Some(definition) = self.definitions.get(name)
                {
                    return self.rewrite_one(definition);
                }
                let Some(body) = replicated(&self.cluster.keeper_path, &self.cluster.replica)
                else {
                    // Not of the MergeTree family: made on every node as it is.
                    return vec![format!("{create}{db}.{name}\n{on}{rest}")];
                };
                let local = format!("{name}{LOCAL_SUFFIX}");
                vec![
                    format!("{create}{db}.{local}\n{on}{body}"),
                    format!("{create}{db}.{name}\n{on}\n{}", self.distributed(name)),
                ]
            }
        }
    }

    /// `AS T_local ENGINE = Distributed(...)`: the same columns as the
    /// local table, by construction.
    fn distributed(&self, name: &str) -> String {
        let key = sharding_key(name).map_or(String::new(), |key| format!(", {key}"));
        format!(
            "AS {db}.{name}{LOCAL_SUFFIX}\nENGINE = Distributed('{cluster}', {db}, {name}{LOCAL_SUFFIX}{key})",
            db = self.database,
            cluster = self.cluster.name,
        )
    }

    /// The table's definition with the `Replicated` form of its engine and
    /// the replicated deduplication window; `None` if its engine is not of
    /// the MergeTree family.
    fn replicated(&self, definition: &str, path: &str, replica: &str) -> Option<String> {
        let found = ENGINE.captures(definition)?;
        let family = &found[1];
        if family.starts_with("Replicated") {
            return Some(definition.to_owned());
        }
        let args = found
            .get(2)
            .map(|a| a.as_str().trim())
            .filter(|a| !a.is_empty())
            .map_or(String::new(), |a| format!(", {a}"));
        let engine = format!("ENGINE = Replicated{family}MergeTree('{path}', '{replica}'{args})");
        let whole = found.get(0).expect("the whole match").range();
        let mut out = String::with_capacity(definition.len() + engine.len());
        out.push_str(&definition[..whole.start]);
        out.push_str(&engine);
        out.push_str(&definition[whole.end..]);
        Some(replicated_window(&out))
    }

    fn alter(&self, name: &str, clauses: &str) -> Vec<String> {
        let db = self.database;
        let on = self.on_cluster();
        match self.kind(name) {
            Kind::Sharded => {
                let local = format!(
                    "ALTER TABLE {db}.{name}{LOCAL_SUFFIX} {on}\n{}",
                    replicated_window(clauses)
                );
                // A Distributed table has columns, but no parts, indexes,
                // TTLs or MergeTree settings.
                let columns: Vec<&str> = split_top_level(clauses)
                    .into_iter()
                    .filter(|c| is_column_clause(c))
                    .collect();
                let mut out = vec![local];
                if !columns.is_empty() {
                    out.push(format!(
                        "ALTER TABLE {db}.{name} {on}\n{}",
                        columns.join(",\n")
                    ));
                }
                out
            }
            Kind::View => vec![self.localised(&format!("ALTER TABLE {db}.{name} {on}\n{clauses}"))],
            Kind::Version => vec![format!("ALTER TABLE {db}.{name} {on}\n{clauses}")],
        }
    }

    /// `RENAME TABLE a TO b, ...`: the local tables are renamed, and the
    /// Distributed tables made again (theirs names the old local table).
    fn rename(&self, pairs: &str) -> Vec<String> {
        let db = regex::escape(self.database);
        let pair =
            Regex::new(&format!(r"^{db}\.(\w+)\s+TO\s+{db}\.(\w+)$")).expect("a valid regex");
        let on = self.on_cluster();
        let database = self.database;
        let mut renames = Vec::new();
        let mut after = Vec::new();
        for p in split_top_level(pairs) {
            let Some(c) = pair.captures(p.trim()) else {
                return vec![format!("RENAME TABLE {pairs} {on}")];
            };
            let (from, to) = (&c[1], &c[2]);
            renames.push(format!(
                "{database}.{} TO {database}.{}",
                self.local_name(from),
                self.local_name(to)
            ));
            if self.kind(from) == Kind::Sharded {
                after.push(format!("DROP TABLE IF EXISTS {database}.{from} {on}"));
                after.push(format!(
                    "CREATE TABLE IF NOT EXISTS {database}.{to}\n{on}\n{}",
                    self.distributed(to)
                ));
            }
        }
        let mut out = vec![format!("RENAME TABLE {} {on}", renames.join(", "))];
        out.extend(after);
        out
    }

    /// `EXCHANGE TABLES a AND b` (a migration's swap after a copy): the
    /// local tables are exchanged, and both Distributed tables made again
    /// over them, since each keeps the columns of the table it was made on.
    fn exchange(&self, a: &str, b: &str) -> Vec<String> {
        let (database, on) = (self.database, self.on_cluster());
        if self.kind(a) != Kind::Sharded || self.kind(b) != Kind::Sharded {
            return vec![format!(
                "EXCHANGE TABLES {database}.{a} AND {database}.{b} {on}"
            )];
        }
        let mut out = vec![format!(
            "EXCHANGE TABLES {database}.{a}{LOCAL_SUFFIX} AND {database}.{b}{LOCAL_SUFFIX} {on}"
        )];
        for name in [a, b] {
            out.push(format!("DROP TABLE IF EXISTS {database}.{name} {on}"));
            out.push(format!(
                "CREATE TABLE IF NOT EXISTS {database}.{name}\n{on}\n{}",
                self.distributed(name)
            ));
        }
        out
    }
}

/// A drop's tail with `SYNC`: a replicated table leaves Keeper at once,
/// so that a migration run again can make a table of the same path.
fn rest_with_sync(rest: &str) -> String {
    match rest.to_ascii_uppercase().contains("SYNC") {
        true => rest.to_owned(),
        false => format!("{} SYNC", rest.trim_end()),
    }
}

/// An insert through a `Distributed` table that returns once the shards
/// have the rows, rather than once they are queued on this node.
fn in_the_foreground(insert: &str) -> String {
    const SETTING: &str = "distributed_foreground_insert = 1";
    let settings = Regex::new(r"(?is)\bSETTINGS\s+[^()]*$").expect("a valid regex");
    match settings.is_match(insert) {
        true => format!("{}, {SETTING}", insert.trim_end().trim_end_matches(';')),
        false => format!(
            "{} SETTINGS {SETTING}",
            insert.trim_end().trim_end_matches(';')
        ),
    }
}

/// A replicated table keeps its deduplication log in Keeper
/// (`replicated_deduplication_window`); the non-replicated setting would be
/// ignored there.
fn replicated_window(sql: &str) -> String {
    sql.replace(
        "non_replicated_deduplication_window",
        "replicated_deduplication_window",
    )
}

fn is_column_clause(clause: &str) -> bool {
    let words: Vec<String> = clause
        .split_whitespace()
        .take(2)
        .map(str::to_ascii_uppercase)
        .collect();
    matches!(
        words.iter().map(String::as_str).collect::<Vec<_>>()[..],
        [
            "ADD" | "DROP" | "MODIFY" | "RENAME" | "COMMENT" | "CLEAR",
            "COLUMN"
        ]
    )
}

/// `sql` split at the commas outside parentheses and quotes.
fn split_top_level(sql: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut quote, mut start) = (Vec::new(), 0i32, None, 0);
    let mut chars = sql.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, ',') if depth == 0 => {
                parts.push(sql[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(sql[start..].trim());
    parts.retain(|p| !p.is_empty());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ddl(statements: &[&str]) -> Vec<String> {
        let cluster = ClusterConfig::new("c1");
        let known: Vec<String> = statements.iter().map(|s| s.to_string()).collect();
        ClusterDdl::new(&cluster, "db", &known).rewrite(known.clone())
    }

    #[test]
    fn a_table_becomes_a_replicated_local_table_and_a_distributed_one() {
        let out = ddl(&[
            "CREATE TABLE IF NOT EXISTS db.logs\n(a UInt8)\nENGINE = SummingMergeTree(a)\n\
             ORDER BY a\nSETTINGS non_replicated_deduplication_window = 5",
        ]);
        assert_eq!(out.len(), 2, "{out:#?}");
        assert_eq!(
            out[0],
            "CREATE TABLE IF NOT EXISTS db.logs_local\nON CLUSTER 'c1'\n(a UInt8)\n\
             ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', \
             '{replica}', a)\nORDER BY a\nSETTINGS replicated_deduplication_window = 5"
        );
        assert_eq!(
            out[1],
            "CREATE TABLE IF NOT EXISTS db.logs\nON CLUSTER 'c1'\nAS db.logs_local\n\
             ENGINE = Distributed('c1', db, logs_local, cityHash64(ServiceName, ResourceAttributes))"
        );
    }

    #[test]
    fn views_read_and_fill_local_tables_and_keep_their_name() {
        let out = ddl(&[
            "CREATE MATERIALIZED VIEW IF NOT EXISTS db.by_mv\nTO db.by\nAS SELECT a FROM db.logs",
        ]);
        assert_eq!(
            out,
            [
                "CREATE MATERIALIZED VIEW IF NOT EXISTS db.by_mv\nON CLUSTER 'c1'\nTO db.by_local\n\
              AS SELECT a FROM db.logs_local"
            ]
        );
    }

    #[test]
    fn alters_go_to_the_local_table_and_column_changes_to_both() {
        let out = ddl(&[
            "ALTER TABLE db.logs ADD COLUMN IF NOT EXISTS x Map(String, UInt8) DEFAULT map(), \
             MODIFY TTL TimestampTime + toIntervalDay(3), ADD INDEX i x TYPE minmax GRANULARITY 1",
        ]);
        assert_eq!(out.len(), 2, "{out:#?}");
        assert!(out[0].starts_with("ALTER TABLE db.logs_local ON CLUSTER 'c1'\n"));
        assert!(out[0].contains("MODIFY TTL") && out[0].contains("ADD INDEX"));
        assert_eq!(
            out[1],
            "ALTER TABLE db.logs ON CLUSTER 'c1'\nADD COLUMN IF NOT EXISTS x Map(String, UInt8) DEFAULT map()"
        );
    }

    #[test]
    fn drops_renames_and_copies() {
        let out = ddl(&[
            "DROP TABLE IF EXISTS db.old",
            "DROP VIEW IF EXISTS db.old_mv",
        ]);
        assert_eq!(
            out,
            [
                "DROP TABLE IF EXISTS db.old ON CLUSTER 'c1' SYNC",
                "DROP TABLE IF EXISTS db.old_local ON CLUSTER 'c1' SYNC",
                "DROP VIEW IF EXISTS db.old_mv ON CLUSTER 'c1' SYNC",
            ]
        );
        let out = ddl(&["RENAME TABLE db.a TO db.b"]);
        assert_eq!(
            out[0],
            "RENAME TABLE db.a_local TO db.b_local ON CLUSTER 'c1'"
        );
        assert_eq!(out[1], "DROP TABLE IF EXISTS db.a ON CLUSTER 'c1'");
        assert!(out[2].contains("AS db.b_local\nENGINE = Distributed('c1', db, b_local)"));
        let copy = "INSERT INTO db.b SELECT * FROM db.a";
        assert_eq!(
            ddl(&[copy]),
            [format!("{copy} SETTINGS distributed_foreground_insert = 1")]
        );
        let with_settings = "INSERT INTO db.b SELECT * FROM db.a SETTINGS insert_deduplicate = 0";
        assert_eq!(
            ddl(&[with_settings]),
            [format!(
                "{with_settings}, distributed_foreground_insert = 1"
            )]
        );
    }

    #[test]
    fn a_swap_after_a_copy_exchanges_the_local_tables_and_remakes_both_fronts() {
        let out = ddl(&["EXCHANGE TABLES db.logs AND db.logs_v2"]);
        assert_eq!(
            out[0],
            "EXCHANGE TABLES db.logs_local AND db.logs_v2_local ON CLUSTER 'c1'"
        );
        assert_eq!(out[1], "DROP TABLE IF EXISTS db.logs ON CLUSTER 'c1'");
        assert!(
            out[2].contains(
                "AS db.logs_local\nENGINE = Distributed('c1', db, logs_local, cityHash64("
            )
        );
        assert_eq!(out[3], "DROP TABLE IF EXISTS db.logs_v2 ON CLUSTER 'c1'");
        // The copy shards as the table it copies.
        assert!(out[4].contains(
            "Distributed('c1', db, logs_v2_local, cityHash64(ServiceName, ResourceAttributes))"
        ));
        assert_eq!(sharding_key("logs_before_v2"), sharding_key("logs"));
        assert_eq!(
            sharding_key("logs_by_level_v3"),
            sharding_key("logs_by_level")
        );
        assert_eq!(sharding_key("metrics_hourly"), None);
    }

    #[test]
    fn making_sure_a_table_exists_as_a_copy_makes_it_as_the_schema_defines_it() {
        let schema = "CREATE TABLE IF NOT EXISTS db.logs\n(\n    Body String\n)\nENGINE = MergeTree\nORDER BY Body";
        let cluster = ClusterConfig::new("c1");
        let known = vec![schema.to_owned()];
        let out = ClusterDdl::new(&cluster, "db", &known).rewrite(vec![
            "CREATE TABLE IF NOT EXISTS db.logs AS db.logs_v2".to_owned(),
        ]);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(
            out[0].starts_with("CREATE TABLE IF NOT EXISTS db.logs_local\nON CLUSTER 'c1'"),
            "{out:?}"
        );
        assert!(out[0].contains("ReplicatedMergeTree("), "{out:?}");
        assert!(
            out[1].contains("AS db.logs_local\nENGINE = Distributed"),
            "{out:?}"
        );
    }

    #[test]
    fn top_level_commas_only() {
        assert_eq!(
            split_top_level("ADD COLUMN a Map(String, String) DEFAULT ',', DROP COLUMN b"),
            [
                "ADD COLUMN a Map(String, String) DEFAULT ','",
                "DROP COLUMN b"
            ]
        );
    }
}
