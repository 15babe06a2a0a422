//! Running at scale: the cluster section, and the endpoint list's parser
//! (the builder's setters are in `scale.rs`).

use super::values::{Endpoint, parse_url};
use crate::error::{ConfigError, invalid};

/// The `ON CLUSTER` schema and where inserts go, for a ClickHouse cluster
/// of shards and replicas (see docs/operations.md, "Running at scale").
///
/// With a cluster, [`schema::apply`](crate::schema::apply) creates each
/// table as `<name>_local` (a `Replicated*MergeTree` on every node) and a
/// `Distributed` table `<name>` in front of it, so readers query the same
/// names as on one server.
///
/// ```
/// use tracing_clickhouse::{Builder, ClusterConfig, ClusterInsert};
///
/// let cluster = ClusterConfig::new("telemetry").insert(ClusterInsert::Local);
/// let config = Builder::from_env_vars::<&str, &str>([])
///     .cluster(cluster)?
///     .build_config()?;
/// assert!(format!("{config:?}").contains(r#"name: "telemetry""#));
/// # Ok::<(), tracing_clickhouse::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The cluster's name in the servers' `remote_servers`.
    pub(crate) name: String,
    /// The Keeper path of each replicated table ([`DEFAULT_KEEPER_PATH`](Self::DEFAULT_KEEPER_PATH)).
    pub(crate) keeper_path: String,
    /// The replica name of each replicated table ([`DEFAULT_REPLICA`](Self::DEFAULT_REPLICA)).
    pub(crate) replica: String,
    /// Where the pipeline inserts.
    pub(crate) insert: ClusterInsert,
}

/// Where the pipeline's inserts go on a cluster.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClusterInsert {
    /// Into the `Distributed` tables, which route each row by the table's
    /// sharding key (the default).
    #[default]
    Distributed,
    /// Straight into the `_local` tables of the nodes the endpoints name:
    /// list the replicas of one shard as the endpoints, and the process
    /// writes to that shard only (no second hop, no Distributed queue; the
    /// way large deployments spread writers over shards).
    Local,
}

impl ClusterConfig {
    /// Where the replicated tables keep their state in Keeper, by default:
    /// one path per shard and table, as ClickHouse's own examples have it.
    /// `{shard}` and `{replica}` are the server's macros; `{database}` and
    /// `{table}` are filled by the server from the table being created.
    pub const DEFAULT_KEEPER_PATH: &str = "/clickhouse/tables/{shard}/{database}/{table}";

    /// The replica name of each replicated table, by default the server's
    /// `{replica}` macro.
    pub const DEFAULT_REPLICA: &str = "{replica}";

    /// The cluster `name`, with the default Keeper path and replica name,
    /// inserting into the `Distributed` tables.
    pub fn new(name: impl Into<String>) -> Self {
        ClusterConfig {
            name: name.into(),
            keeper_path: Self::DEFAULT_KEEPER_PATH.to_owned(),
            replica: Self::DEFAULT_REPLICA.to_owned(),
            insert: ClusterInsert::Distributed,
        }
    }

    /// Another Keeper path template (the server's macros may appear in it).
    #[must_use]
    pub fn keeper_path(mut self, path: impl Into<String>) -> Self {
        self.keeper_path = path.into();
        self
    }

    /// Another replica name template.
    #[must_use]
    pub fn replica(mut self, replica: impl Into<String>) -> Self {
        self.replica = replica.into();
        self
    }

    /// Where the pipeline inserts.
    #[must_use]
    pub fn insert(mut self, insert: ClusterInsert) -> Self {
        self.insert = insert;
        self
    }

    /// The values go into DDL as identifiers and string literals: a
    /// cluster name of letters, digits, `_`, `-` and `.`; a Keeper path
    /// starting with `/`; no quotes, backslashes or control characters.
    pub(crate) fn validate(&self, setting: &'static str) -> Result<(), ConfigError> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 128
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !name_ok {
            return Err(invalid(
                setting,
                &self.name,
                "a cluster name: letters, digits, '_', '-' and '.', at most 128 characters",
            ));
        }
        let literal_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 512
                && !s
                    .chars()
                    .any(|c| c.is_control() || matches!(c, '\'' | '\\' | '`'))
        };
        if !literal_ok(&self.keeper_path) || !self.keeper_path.starts_with('/') {
            return Err(invalid(
                setting,
                &self.keeper_path,
                "a Keeper path starting with '/', without quotes, backslashes or control characters",
            ));
        }
        if !literal_ok(&self.replica) {
            return Err(invalid(
                setting,
                &self.replica,
                "a replica name without quotes, backslashes or control characters",
            ));
        }
        Ok(())
    }
}

/// `CLICKHOUSE_URL` (or [`Builder::endpoints`]): one URL, or several
/// separated by commas, each `http(s)://host[:port]`.
pub(crate) fn parse_urls(setting: &'static str, raw: &str) -> Result<Vec<Endpoint>, ConfigError> {
    let endpoints = raw
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(|url| parse_url(setting, url))
        .collect::<Result<Vec<_>, _>>()?;
    if endpoints.is_empty() {
        return Err(invalid(setting, raw, "at least one http(s)://host[:port]"));
    }
    Ok(endpoints)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_urls_parse_in_order_and_credentials_stay_out_of_errors() {
        let endpoints = parse_urls("X", "http://a:1, https://b ,http://[::1]:9").unwrap();
        let urls: Vec<String> = endpoints.iter().map(Endpoint::url).collect();
        assert_eq!(urls, ["http://a:1", "https://b:8443", "http://[::1]:9"]);
        let err = parse_urls("X", "http://a:1,http://u:hunter2@b:2").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(parse_urls("X", " , ").is_err());
    }

    #[test]
    fn cluster_values_that_cannot_go_into_ddl_are_refused() {
        assert!(ClusterConfig::new("prod-eu.1").validate("X").is_ok());
        assert!(ClusterConfig::new("").validate("X").is_err());
        assert!(ClusterConfig::new("a b").validate("X").is_err());
        assert!(ClusterConfig::new("a'b").validate("X").is_err());
        let bad_path = ClusterConfig::new("c").keeper_path("/x/'{shard}");
        assert!(bad_path.validate("X").is_err());
        let relative = ClusterConfig::new("c").keeper_path("x/{shard}");
        assert!(relative.validate("X").is_err());
        let bad_replica = ClusterConfig::new("c").replica("r\\1");
        assert!(bad_replica.validate("X").is_err());
    }
}
