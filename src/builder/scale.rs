//! The builder's setters for running at scale: several endpoints, a
//! cluster, server-side batching.

use super::Builder;
use crate::config::cluster::{ClusterConfig, parse_urls};
use crate::error::ConfigError;

impl Builder {
    // --- Running at scale -------------------------------------------------

    /// Several servers (replicas of a cluster, or nodes behind no load
    /// balancer): inserts and queries go to a healthy one, in this order of
    /// preference; one that fails is set aside and probed back with
    /// `/ping`. Replaces `CLICKHOUSE_URL` (which takes them comma-separated)
    /// and host, port and secure.
    ///
    /// # Errors
    ///
    /// No URL, or one that [`url`](Builder::url) would refuse (credentials
    /// are not repeated in the error).
    pub fn endpoints<I, S>(self, urls: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let joined = urls
            .into_iter()
            .map(|u| u.as_ref().to_owned())
            .collect::<Vec<_>>()
            .join(",");
        let mut endpoints = parse_urls("Builder::endpoints", &joined)?.into_iter();
        let first = endpoints.next().expect("parse_urls gives at least one");
        let mut builder = self.url(first.url())?;
        builder.config.more_endpoints = endpoints.collect();
        Ok(builder)
    }

    /// The schema `ON CLUSTER`, replicated, behind `Distributed` tables
    /// (replaces `CLICKHOUSE_CLUSTER`).
    ///
    /// # Errors
    ///
    /// A cluster name, Keeper path or replica name that cannot go into DDL.
    pub fn cluster(mut self, cluster: ClusterConfig) -> Result<Self, ConfigError> {
        cluster.validate("Builder::cluster")?;
        self.config.cluster = Some(cluster);
        self.replaced(&["CLICKHOUSE_CLUSTER"]);
        Ok(self)
    }

    /// Inserts `spans` and `events` with `async_insert=1,
    /// wait_for_async_insert=1`: the server gathers the small inserts of
    /// many processes into one part before answering (replaces
    /// `CLICKHOUSE_ASYNC_INSERT`). `logs` and `metrics` stay synchronous:
    /// ClickHouse never takes an `INSERT ... SELECT` into a table with
    /// dependent views async, and their rollups keep exact deduplication.
    /// Takes effect on ClickHouse 26.10 and later (earlier servers insert
    /// every `INSERT ... SELECT` synchronously); see docs/operations.md, "Server-side
    /// batching", for what was measured.
    pub fn async_insert(mut self, on: bool) -> Self {
        self.config.async_insert = on;
        self.replaced(&["CLICKHOUSE_ASYNC_INSERT"]);
        self
    }
}

#[cfg(test)]
mod tests {
    use crate::{Builder, ClusterConfig, ClusterInsert};

    #[test]
    fn several_urls_from_the_environment_or_the_builder() {
        let config =
            Builder::from_env_vars([("CLICKHOUSE_URL", "http://a:8123, http://b:8124,https://c")])
                .build_config()
                .unwrap();
        assert_eq!(
            config.endpoints(),
            ["http://a:8123", "http://b:8124", "https://c:8443"]
        );
        assert_eq!(config.url(), "http://a:8123");
        // One URL replaces the list; the builder's list replaces the variable.
        let one = config.clone().into_builder().url("http://d:1").unwrap();
        assert_eq!(one.build_config().unwrap().endpoints(), ["http://d:1"]);
        let listed = Builder::from_env_vars([("CLICKHOUSE_URL", "http://a:1")])
            .endpoints(["http://x:1", "http://y:2"])
            .unwrap()
            .build_config()
            .unwrap();
        assert_eq!(listed.endpoints(), ["http://x:1", "http://y:2"]);
        let empty: [&str; 0] = [];
        assert!(
            Builder::from_env_vars::<&str, &str>([])
                .endpoints(empty)
                .is_err()
        );
    }

    #[test]
    fn a_bad_url_in_the_list_is_reported_without_its_password() {
        let err = Builder::from_env_vars([("CLICKHOUSE_URL", "http://a:1,http://u:pw-123@b:2")])
            .build_config()
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("CLICKHOUSE_URL") && !text.contains("pw-123"),
            "{text}"
        );
        assert!(!format!("{err:?}").contains("pw-123"));
    }

    #[test]
    fn cluster_and_async_insert_from_the_environment_or_the_builder() {
        let config = Builder::from_env_vars([
            ("CLICKHOUSE_CLUSTER", "prod_2x2"),
            ("CLICKHOUSE_ASYNC_INSERT", "yes"),
        ])
        .build_config()
        .unwrap();
        let cluster = config.cluster.as_ref().unwrap();
        assert_eq!(cluster.name, "prod_2x2");
        assert_eq!(cluster.keeper_path, ClusterConfig::DEFAULT_KEEPER_PATH);
        assert_eq!(cluster.insert, ClusterInsert::Distributed);
        assert!(config.async_insert);

        let bad = Builder::from_env_vars([("CLICKHOUSE_CLUSTER", "no'quotes")]);
        let err = bad.build_config().unwrap_err();
        assert!(err.to_string().contains("CLICKHOUSE_CLUSTER"), "{err}");
        // The setter replaces the bad variable.
        let fixed = Builder::from_env_vars([("CLICKHOUSE_CLUSTER", "no'quotes")])
            .cluster(ClusterConfig::new("ok").insert(ClusterInsert::Local))
            .unwrap()
            .build_config()
            .unwrap();
        assert_eq!(fixed.cluster.as_ref().unwrap().insert, ClusterInsert::Local);
        let bad_async = Builder::from_env_vars([("CLICKHOUSE_ASYNC_INSERT", "maybe")]);
        assert!(bad_async.build_config().is_err());
        assert!(
            !Builder::from_env_vars::<&str, &str>([])
                .build_config()
                .unwrap()
                .async_insert
        );
    }
}
