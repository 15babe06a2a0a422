//! The server the bench measures on: a client with the few calls it makes,
//! the sizes of a table, the SQL the crate last sent, and the insert probe.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::tables::{self, Layout};

/// A client and the runtime it runs on.
pub struct Server {
    pub client: clickhouse::Client,
    pub runtime: tokio::runtime::Runtime,
}

impl Server {
    pub fn exec(&self, sql: &str) {
        self.runtime
            .block_on(self.client.query(sql).execute())
            .unwrap_or_else(|e| panic!("{e}\n{}", head(sql)));
    }

    /// The answer in TabSeparated.
    pub fn text(&self, sql: &str) -> String {
        self.bytes(sql, "TabSeparated", &[]).0
    }

    pub fn bytes(&self, sql: &str, format: &str, settings: &[(&str, &str)]) -> (String, Bytes) {
        let query = settings
            .iter()
            .fold(self.client.query(sql), |q, (k, v)| q.with_setting(*k, *v));
        let bytes = self
            .runtime
            .block_on(async { query.fetch_bytes(format)?.collect().await })
            .unwrap_or_else(|e| panic!("{e}\n{}", head(sql)));
        (String::from_utf8_lossy(&bytes).into_owned(), bytes)
    }

    pub fn number(&self, sql: &str) -> f64 {
        let text = self.text(sql);
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("a number from {sql}: {text:?}"))
    }

    /// Rows `EXPLAIN ESTIMATE` expects `sql` to read in `database` (the
    /// granules left after partition pruning, the primary key and the skip
    /// indexes, times their rows).
    pub fn estimate(&self, database: &str, sql: &str) -> u64 {
        let client = self.client.clone().with_database(database);
        let sql = format!("EXPLAIN ESTIMATE {sql}");
        let text = self
            .runtime
            .block_on(async {
                client
                    .query(&sql)
                    .fetch_bytes("TabSeparated")?
                    .collect()
                    .await
            })
            .unwrap_or_else(|e| panic!("{e}\n{}", head(&sql)));
        String::from_utf8_lossy(&text)
            .lines()
            .filter_map(|line| line.split('\t').nth(3)?.parse::<u64>().ok())
            .sum()
    }

    /// Median wall time of `runs` runs of `sql` in `database` (the query
    /// condition cache off, so a run does not reuse the last one's filter
    /// results).
    pub fn latency(&self, database: &str, sql: &str, runs: usize) -> Duration {
        let client = self
            .client
            .clone()
            .with_database(database)
            .with_setting("use_query_condition_cache", "0");
        let mut times: Vec<Duration> = (0..runs)
            .map(|_| {
                let began = Instant::now();
                self.runtime
                    .block_on(async {
                        client
                            .query(sql)
                            .fetch_bytes("TabSeparated")?
                            .collect()
                            .await
                    })
                    .unwrap_or_else(|e| panic!("{e}\n{}", head(sql)));
                began.elapsed()
            })
            .collect();
        times.sort();
        times[times.len() / 2]
    }

    /// The last query the crate ran in `database` (from `system.query_log`,
    /// its parameters written in as literals), without its `FORMAT` clause.
    pub fn last_query(&self, database: &str) -> String {
        self.exec("SYSTEM FLUSH LOGS");
        let (text, _) = self.bytes(
            &format!(
                "SELECT query FROM system.query_log WHERE type = 'QueryFinish' \
                 AND current_database = '{database}' AND query_kind = 'Select' \
                 AND query NOT LIKE 'EXPLAIN%' \
                 ORDER BY event_time_microseconds DESC LIMIT 1"
            ),
            "TabSeparatedRaw",
            &[],
        );
        let text = text.trim_end();
        assert!(!text.is_empty(), "no query of the crate in {database}");
        match text.rfind(" FORMAT ") {
            Some(at) => text[..at].to_owned(),
            None => text.to_owned(),
        }
    }
}

pub fn head(sql: &str) -> &str {
    &sql[..sql.len().min(600)]
}

/// Sizes of one table after `OPTIMIZE ... FINAL`.
#[derive(Default)]
pub struct Size {
    pub rows: u64,
    pub disk: u64,
    pub data: u64,
    pub indexes: u64,
    pub parts: u64,
    pub columns: BTreeMap<String, u64>,
    pub index_sizes: Vec<(String, u64)>,
}

pub fn size(server: &Server, database: &str) -> Size {
    let totals = server.text(&format!(
        "SELECT sum(rows), sum(bytes_on_disk), sum(data_compressed_bytes), \
         sum(secondary_indices_compressed_bytes), count() FROM system.parts \
         WHERE database = '{database}' AND table = 'logs' AND active"
    ));
    let v: Vec<u64> = totals
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let pairs = |sql: String| -> Vec<(String, u64)> {
        server
            .text(&sql)
            .lines()
            .filter_map(|l| {
                let (k, v) = l.split_once('\t')?;
                Some((k.to_owned(), v.parse().ok()?))
            })
            .collect()
    };
    let columns = pairs(format!(
        "SELECT name, data_compressed_bytes FROM system.columns \
         WHERE database = '{database}' AND table = 'logs'"
    ))
    .into_iter()
    .collect();
    let index_sizes = pairs(format!(
        "SELECT name, data_compressed_bytes FROM system.data_skipping_indices \
         WHERE database = '{database}' AND table = 'logs' ORDER BY name"
    ));
    Size {
        rows: v[0],
        disk: v[1],
        data: v[2],
        indexes: v[3],
        parts: v[4],
        columns,
        index_sizes,
    }
}

/// A 50 000-row batch as the pipeline sends it: one service's rows in
/// RowBinary, and the statement's parameters.
pub struct Batch {
    pub body: Bytes,
    pub rows: usize,
    params: Vec<(String, String)>,
}

pub fn probe_batch(server: &Server, corpus: &str) -> Batch {
    // The newest rows of one service, as one process would send them.
    let filter =
        format!("FROM {corpus} WHERE ServiceName = 'payments' ORDER BY Timestamp DESC LIMIT 50000");
    let (_, body) = server.bytes(
        &format!("SELECT {} {filter}", tables::PIPELINE_INPUT_COLUMNS),
        "RowBinary",
        &[],
    );
    // The process of the first row: its resource attributes as the batch's.
    let (resource, _) = server.bytes(
        &format!(
            "SELECT toString(mapKeys(ResourceAttributes)), \
             toString(mapValues(ResourceAttributes)) {filter}"
        ),
        "TabSeparatedRaw",
        &[],
    );
    let line = resource.lines().next().unwrap();
    let (keys, values) = line.split_once('\t').unwrap();
    let rows = resource.lines().count();
    Batch {
        body,
        rows,
        params: vec![
            ("param_service".into(), "payments".into()),
            ("param_resource_keys".into(), keys.to_owned()),
            ("param_resource_values".into(), values.to_owned()),
        ],
    }
}

/// Median time to insert the batch into an empty copy of each layout (no
/// views attached), over `runs` inserts each. The layouts take turns, run
/// after run, so a change in the machine's load falls on all of them alike.
pub fn insert_probe(
    server: &Server,
    layouts: &[Layout],
    batch: &Batch,
    runs: usize,
) -> Vec<Duration> {
    let probes: Vec<String> = layouts
        .iter()
        .map(|layout| {
            let probe = format!("{}.logs_insert_probe", layout.database);
            server.exec(&format!("DROP TABLE IF EXISTS {probe}"));
            server.exec(&format!("CREATE TABLE {probe} AS {}", layout.table()));
            probe
        })
        .collect();
    let mut times = vec![Vec::new(); probes.len()];
    for run in 0..runs {
        for (probe, times) in probes.iter().zip(&mut times) {
            let sql = tables::PIPELINE_INSERT.replace("__TABLE__", probe);
            let mut insert = server
                .client
                .insert_formatted_with(sql)
                .with_setting("insert_deduplication_token", format!("probe-{run}"));
            for (name, value) in &batch.params {
                insert = insert.with_setting(name.clone(), value.clone());
            }
            let began = Instant::now();
            server
                .runtime
                .block_on(async {
                    insert.send(batch.body.clone()).await?;
                    insert.end().await
                })
                .unwrap_or_else(|e| panic!("insert into {probe}: {e}"));
            times.push(began.elapsed());
        }
    }
    probes
        .iter()
        .zip(times)
        .map(|(probe, mut times)| {
            let stored = server.number(&format!("SELECT count() FROM {probe}"));
            assert_eq!(
                stored as usize,
                runs * batch.rows,
                "every probe batch stored"
            );
            server.exec(&format!("DROP TABLE {probe}"));
            times.sort();
            times[times.len() / 2]
        })
        .collect()
}
