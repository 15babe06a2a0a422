//! Reading the storage's health from the server: [`check`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use super::{DiskHealth, DroppedRecords, QueryStats, StorageHealth, TableHealth};
use crate::config::Config;
use crate::connect::client;
use crate::error::Result;
use crate::record::unix_ns;
use crate::schema;

/// ClickHouse's defaults for the "too many parts" settings, used if the
/// server does not say (since 23.6; they were 150 and 300 before).
const DEFAULT_PARTS_TO_DELAY_INSERT: u64 = 1000;
const DEFAULT_PARTS_TO_THROW_INSERT: u64 = 3000;

#[derive(Debug, Deserialize, clickhouse::Row)]
struct PartitionRow {
    table: String,
    rows: u64,
    bytes_on_disk: u64,
    compressed: u64,
    uncompressed: u64,
    parts: u64,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct TimesRow {
    oldest_ns: Option<i64>,
    newest_ns: Option<i64>,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct DiskRow {
    name: String,
    path: String,
    free_space: u64,
    total_space: u64,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct SettingRow {
    name: String,
    value: String,
}

/// The health of the storage `config` names: the server, the schema, every
/// table of it, the disks, and the rows that arrived and the queries that
/// ran in the last `window`. Reads only.
///
/// # Errors
///
/// The connection error (the server cannot be reached, the login is
/// refused), or ClickHouse's. A database without our tables is not an
/// error: [`StorageHealth::problems`] says so.
pub async fn check(config: &Config, window: Duration) -> Result<StorageHealth> {
    let admin = client(config, false)?;
    let started = Instant::now();
    let server_version: String = admin.query("SELECT version()").fetch_one().await?;
    let round_trip = started.elapsed();
    let status = schema::status(config).await?;
    let db = config.database.as_str();

    let partitions: Vec<PartitionRow> = admin
        .query(
            "SELECT table, toUInt64(sum(rows)) AS rows, toUInt64(sum(bytes_on_disk)) AS bytes_on_disk, \
             toUInt64(sum(data_compressed_bytes)) AS compressed, \
             toUInt64(sum(data_uncompressed_bytes)) AS uncompressed, toUInt64(count()) AS parts \
             FROM system.parts WHERE database = {db:String} AND active \
             GROUP BY table, partition",
        )
        .param("db", db)
        .fetch_all()
        .await?;
    let mut by_table: BTreeMap<&str, Vec<&PartitionRow>> = BTreeMap::new();
    for row in &partitions {
        by_table.entry(&row.table).or_default().push(row);
    }

    let data = client(config, true)?;
    let since_ns = unix_ns(SystemTime::now().checked_sub(window).unwrap_or(UNIX_EPOCH));
    let metrics_exist = status
        .tables
        .iter()
        .any(|t| t.name == "metrics" && t.exists);
    let dropped = match metrics_exist {
        true => dropped_records(&data, since_ns).await?,
        false => Vec::new(),
    };
    let mut tables = Vec::with_capacity(status.tables.len());
    for table in status.tables {
        let parts = by_table
            .get(table.name.as_str())
            .map_or(&[][..], Vec::as_slice);
        let mut health = TableHealth {
            exists: table.exists,
            engine: table.engine,
            ttl: table.ttl,
            ttl_days: table.ttl_days,
            rows: parts.iter().map(|p| p.rows).sum(),
            bytes_on_disk: parts.iter().map(|p| p.bytes_on_disk).sum(),
            compressed_bytes: parts.iter().map(|p| p.compressed).sum(),
            uncompressed_bytes: parts.iter().map(|p| p.uncompressed).sum(),
            parts: parts.iter().map(|p| p.parts).sum(),
            partitions: parts.len() as u64,
            max_parts_per_partition: parts.iter().map(|p| p.parts).max().unwrap_or(0),
            name: table.name,
            ..TableHealth::default()
        };
        if let (Some(table), true) = (super::data_table(&health.name), health.exists) {
            let (name, time) = (table.as_str(), table.time_column());
            // Fixed identifiers: our table names and their time columns.
            let times: TimesRow = data
                .query(&format!(
                    "SELECT toUnixTimestamp64Nano(minOrNull({time})) AS oldest_ns, \
                     toUnixTimestamp64Nano(maxOrNull({time})) AS newest_ns FROM {name}"
                ))
                .fetch_one()
                .await?;
            let recent: u64 = data
                .query(&format!(
                    "SELECT toUInt64(count()) FROM {name} \
                     WHERE {time} >= fromUnixTimestamp64Nano({{since:Int64}})"
                ))
                .param("since", since_ns)
                .fetch_one()
                .await?;
            health.oldest_ns = times.oldest_ns;
            health.newest_ns = times.newest_ns;
            health.recent_rows = Some(recent);
        }
        tables.push(health);
    }

    let disks: Vec<DiskRow> = admin
        .query("SELECT name, path, free_space, total_space FROM system.disks ORDER BY name")
        .fetch_all()
        .await?;
    let settings: Vec<SettingRow> = admin
        .query(
            "SELECT name, value FROM system.merge_tree_settings \
             WHERE name IN ('parts_to_delay_insert', 'parts_to_throw_insert')",
        )
        .fetch_all()
        .await?;
    let setting = |name: &str, default: u64| {
        settings
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.value.parse().ok())
            .unwrap_or(default)
    };

    Ok(StorageHealth {
        url: config.url(),
        database: config.database.clone(),
        server_version,
        round_trip,
        schema_version: status.installed,
        known_schema_version: status.known,
        window,
        tables,
        disks: disks
            .into_iter()
            .map(|d| DiskHealth {
                name: d.name,
                path: d.path,
                free_bytes: d.free_space,
                total_bytes: d.total_space,
            })
            .collect(),
        parts_to_delay_insert: setting("parts_to_delay_insert", DEFAULT_PARTS_TO_DELAY_INSERT),
        parts_to_throw_insert: setting("parts_to_throw_insert", DEFAULT_PARTS_TO_THROW_INSERT),
        queries: query_stats(&admin, db, window).await,
        dropped,
    })
}

/// The records each service's pipeline dropped since `since_ns`, by reason
/// (the deltas of its `tracing_clickhouse.dropped_rows` counter).
async fn dropped_records(data: &clickhouse::Client, since_ns: i64) -> Result<Vec<DroppedRecords>> {
    Ok(data
        .query(
            "SELECT ServiceName AS service, Attributes['reason'] AS reason, \
             toUInt64(sum(Delta)) AS records FROM metrics \
             WHERE MetricName = 'tracing_clickhouse.dropped_rows' \
             AND TimeUnix >= fromUnixTimestamp64Nano({since:Int64}) \
             GROUP BY service, reason HAVING records > 0 ORDER BY records DESC, service, reason",
        )
        .param("since", since_ns)
        .fetch_all::<(String, String, u64)>()
        .await?
        .into_iter()
        .map(|(service, reason, records)| DroppedRecords {
            service,
            reason,
            records,
        })
        .collect())
}

/// The queries on `db` that finished or failed in the last `window`, by
/// kind; none if the server keeps no query log (or may not show it).
async fn query_stats(admin: &clickhouse::Client, db: &str, window: Duration) -> Vec<QueryStats> {
    admin
        .query(
            "SELECT toString(query_kind) AS kind, \
             toUInt64(countIf(type = 'QueryFinish')) AS finished, \
             toUInt64(countIf(type != 'QueryFinish')) AS failed, \
             toUInt64(ifNull(quantileExactIf(0.5)(query_duration_ms, type = 'QueryFinish'), 0)) AS p50_ms, \
             toUInt64(ifNull(quantileExactIf(0.95)(query_duration_ms, type = 'QueryFinish'), 0)) AS p95_ms, \
             toUInt64(maxIf(query_duration_ms, type = 'QueryFinish')) AS max_ms \
             FROM system.query_log \
             WHERE event_time >= now() - toIntervalSecond({window:UInt64}) \
             AND type != 'QueryStart' AND has(databases, {db:String}) \
             GROUP BY kind ORDER BY kind",
        )
        .param("window", window.as_secs())
        .param("db", db)
        .fetch_all::<(String, u64, u64, u64, u64, u64)>()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|(kind, finished, failed, p50_ms, p95_ms, max_ms)| QueryStats {
            kind,
            finished,
            failed,
            p50_ms,
            p95_ms,
            max_ms,
        })
        .collect()
}
