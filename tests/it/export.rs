//! Exports read back: every table in every format, written by the engine
//! and read again by the engine into a copy of the table, which must hold
//! the same rows (`chlog export`'s counts: tests/it/cli/export.rs).

use crate::common;
use crate::known;

use crate::common::scalar;
use crate::known::{MINUTE, SECOND, minutes_ago};
use tracing_clickhouse::query::{ExportFormat, ExportQuery, ExportTable, QueryClient, TimeRange};
use tracing_clickhouse::schema;

/// A database with known rows in every table; messages with what CSV and
/// JSON must escape (quotes, commas, newlines, a tab, non-ASCII).
async fn loaded(prefix: &str) -> (QueryClient, clickhouse::Client, i64) {
    let config = common::config(prefix);
    schema::apply(&config).await.unwrap();
    let client = QueryClient::new(&config).unwrap();
    let base = minutes_ago(60);
    let mut tables = known::Tables::around(base, 3000);
    for (i, row) in tables.logs.iter_mut().enumerate().step_by(7) {
        row.body = format!("line {i}, \"quoted\"\nsecond line\tand ünïcödé, 'single'");
    }
    tables.insert(&common::raw_client(&config)).await;
    (client, common::raw_client(&config), base)
}

/// The whole export and its chunk count.
async fn export(client: &QueryClient, query: &ExportQuery) -> (Vec<u8>, usize) {
    let mut stream = client.export(query).unwrap();
    let (mut bytes, mut chunks) = (Vec::new(), 0);
    while let Some(chunk) = stream.next_chunk().await.unwrap() {
        bytes.extend_from_slice(&chunk);
        chunks += 1;
    }
    (bytes, chunks)
}

/// Reads `bytes` back into a copy of `table` and says how many rows it
/// holds and a digest of their content (the digest of the source range
/// must be the same).
async fn read_back(
    ch: &clickhouse::Client,
    table: &str,
    format: ExportFormat,
    bytes: Vec<u8>,
) -> (u64, u64) {
    let copy = format!("{table}_copy_{format}");
    ch.query(&format!("CREATE TABLE {copy} AS {table}"))
        .execute()
        .await
        .unwrap();
    let mut insert = ch.insert_formatted_with(format!(
        "INSERT INTO {copy} FORMAT {}",
        format.clickhouse_name()
    ));
    insert.send(bytes.into()).await.unwrap();
    insert.end().await.unwrap();
    let rows = scalar(ch, &format!("SELECT count() FROM {copy}")).await;
    let digest = scalar(ch, &format!("SELECT sum(cityHash64(*)) FROM {copy}")).await;
    (rows, digest)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_table_in_every_format_reads_back_as_the_same_rows() {
    let (client, raw, base) = loaded("export").await;
    // A range inside the data: logs 60..2400 (one every 10 s), metrics and
    // events from the second minute, spans from 1 s (the ten searches).
    let since = known::at(base + 600 * SECOND);
    let until = known::at(base + 24_000 * SECOND);
    let expected = [
        (ExportTable::Logs, 2340, "Timestamp"),
        (ExportTable::Spans, 10, "Timestamp"),
        (ExportTable::Metrics, 27, "TimeUnix"),
        (ExportTable::Events, 4, "Timestamp"),
    ];
    for (table, rows, time) in expected {
        let (since, until) = match table {
            ExportTable::Logs => (since, until),
            ExportTable::Spans => (known::at(base + SECOND), until),
            _ => (known::at(base + MINUTE), until),
        };
        let (since_ns, until_ns) = (known::ns(since), known::ns(until));
        let source = scalar(
            &raw,
            &format!(
                "SELECT sum(cityHash64(*)) FROM {table} WHERE {time} >= fromUnixTimestamp64Nano({since_ns}) \
                 AND {time} < fromUnixTimestamp64Nano({until_ns})"
            ),
        )
        .await;
        for format in ExportFormat::ALL {
            let query = ExportQuery::new(table, format).range(TimeRange::between(since, until));
            let (bytes, _) = export(&client, &query).await;
            let (copied, digest) = read_back(&raw, &table.to_string(), format, bytes).await;
            assert_eq!(
                copied, rows,
                "{table} as {format}: rows the engine read back"
            );
            assert_eq!(
                digest, source,
                "{table} as {format}: the same rows, column for column"
            );
        }
    }
}

/// Logs come as `ExportTable::order` says: hour by hour, and within an
/// hour by service, level, source, then time (the table's sorting key, so
/// the server does not sort them); the 3000 rows span nine hours.
fn assert_in_the_tables_order(jsonl: &[u8]) {
    let keys: Vec<_> = String::from_utf8_lossy(jsonl)
        .lines()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let field = |name: &str| row[name].as_str().unwrap().to_owned();
            let time = field("Timestamp");
            let hour = time[..13].to_owned();
            let key = [
                field("ServiceName"),
                field("SeverityText"),
                field("ScopeName"),
            ];
            (hour, key, time)
        })
        .collect();
    assert_eq!(keys.len(), 3000);
    assert!(
        keys.windows(2).all(|w| w[0] <= w[1]),
        "out of the table's order"
    );
    let hours: std::collections::BTreeSet<_> = keys.iter().map(|k| &k.0).collect();
    assert!(hours.len() >= 8, "{} hours", hours.len());
    assert!(
        keys.windows(2).any(|w| w[0].2 > w[1].2),
        "in time order within every hour: the test shows nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_export_arrives_in_many_chunks_and_an_empty_range_in_none() {
    let (client, raw, base) = loaded("export_chunks").await;
    let query = ExportQuery::new(ExportTable::Logs, ExportFormat::JsonLines);
    let (bytes, chunks) = export(&client, &query).await;
    assert!(
        chunks > 1,
        "{chunks} chunk(s) for {} bytes: not streamed",
        bytes.len()
    );
    // JSON escapes a newline in a string: one line a row.
    assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 3000);
    assert_in_the_tables_order(&bytes);

    let before = known::at(base - 10 * MINUTE);
    let empty =
        ExportQuery::new(ExportTable::Logs, ExportFormat::Csv).range(TimeRange::until(before));
    let (bytes, _) = export(&client, &empty).await;
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.starts_with("\"Timestamp\""), "{text}");
    assert_eq!(text.lines().count(), 1, "the header alone: {text}");
    let parquet = ExportQuery::new(ExportTable::Events, ExportFormat::Parquet)
        .range(TimeRange::until(before));
    let (bytes, _) = export(&client, &parquet).await;
    let (copied, _) = read_back(&raw, "events", ExportFormat::Parquet, bytes).await;
    assert_eq!(copied, 0, "an empty Parquet file");
}
