//! Storage: bytes per row on disk and rows read, for our `logs` table (as
//! `schema::apply` makes it from `schema.sql`), the OpenTelemetry
//! collector's ClickHouse exporter's default `otel_logs`, a naive table and
//! any variants, all holding the same generated rows. docs/storage.md
//! has the numbers and the command that made them.
//!
//!   STORAGE_ROWS=1000000 cargo bench --bench storage # a quick run
//!
//! Under `cargo test --all-targets` (as `make test` runs it) it checks every
//! phase on 20 000 rows, once.
//!   cargo bench --bench storage                      # 10 M rows
//!
//! Environment:
//! - `STORAGE_ROWS` (10 000 000), `STORAGE_SEED` (42): the corpus;
//! - `STORAGE_RUNS` (5): runs per query for the median latency (3 for the
//!   full scan) and inserts per layout for the insert probe;
//! - `STORAGE_VARIANTS`: comma-separated DDL files (`CREATE TABLE
//!   {db}.{table} (...)`, see `benches/storage/study/`), extra layouts
//!   measured beside the others;
//! - `STORAGE_DATABASE` (`storage_bench`): every layout is `logs` in a
//!   database of its own, `<it>_ours`, `<it>_exporter`, `<it>_<variant>`,
//!   so that the crate's queries run on each unchanged; the corpus is
//!   `<it>_corpus.logs` (the naive table);
//! - `STORAGE_REUSE=1` keeps a corpus of the same rows and seed from an
//!   earlier run (with `CLICKHOUSE_URL` pointing at a server that outlives
//!   the run), `STORAGE_KEEP=1` leaves the databases;
//! - `STORAGE_NO_READS=1`, `STORAGE_NO_MIGRATION=1` skip those phases,
//!   `STORAGE_MIGRATION_ONLY=1` times the migration alone;
//!   `STORAGE_SHOW_SQL=1` prints the SQL of each read on ours;
//! - `CLICKHOUSE_URL`: the server; without it a devserver is started.
//!
//! Phases: generate the corpus into the naive table (one `INSERT ... SELECT
//! ... FROM numbers(N)`), copy it into the other tables, `OPTIMIZE ... FINAL`
//! each, then measure: active parts' bytes on disk (`system.parts`),
//! compressed bytes per column (`system.columns`) and per skip index; for
//! each read of `queries.rs`, made through the crate's `QueryClient`, the
//! rows `EXPLAIN ESTIMATE` says it reads (the granules left after partition
//! pruning, the primary key and the skip indexes) and its median latency;
//! the time of a 50 000-row RowBinary insert in the pipeline's own
//! statement; and how long `schema::apply` takes to migrate a version-1
//! database of the corpus.

#[path = "../tests/it/common/mod.rs"]
mod common;
#[path = "storage/corpus.rs"]
mod corpus;
#[path = "storage/migrate.rs"]
mod migrate;
#[path = "storage/queries.rs"]
mod queries;
#[path = "storage/report.rs"]
mod report;
#[path = "storage/server.rs"]
mod server;
#[path = "storage/tables.rs"]
mod tables;

use std::time::{Duration, Instant};

use queries::{Query, Target};
use server::Server;
use tables::Layout;
use tracing_clickhouse::query::QueryClient;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.replace('_', "")
                .parse()
                .unwrap_or_else(|_| panic!("{name}={v}"))
        })
        .unwrap_or(default)
}

fn flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1")
}

/// A configuration for `database` on `url`, with a TTL that keeps the
/// corpus's fixed dates for ten years. (Not the crate's maximum, 36 500
/// days: `DateTime` ends in 2106, and a TTL past it wraps around to 1990.)
fn config(url: &str, database: &str) -> tracing_clickhouse::Config {
    tracing_clickhouse::Builder::from_env_vars([("CLICKHOUSE_LOGS_TTL_DAYS", "3650")])
        .url(url)
        .and_then(|b| b.database(database))
        .and_then(tracing_clickhouse::Builder::build_config)
        .expect("bench configuration")
}

fn main() {
    let began = Instant::now();
    // `cargo bench` passes --bench; `cargo test --all-targets` (make test)
    // runs this program too, as a quick check of every phase on few rows.
    let measuring = std::env::args().any(|a| a == "--bench");
    let rows = env_u64("STORAGE_ROWS", if measuring { 10_000_000 } else { 20_000 });
    let seed = env_u64("STORAGE_SEED", 42);
    let runs = env_u64("STORAGE_RUNS", if measuring { 5 } else { 1 }).max(1) as usize;
    let prefix = std::env::var("STORAGE_DATABASE").unwrap_or_else(|_| "storage_bench".into());
    let corpus_db = format!("{prefix}_corpus");
    let url = common::url();
    let server = Server {
        client: clickhouse::Client::default().with_url(&url),
        runtime: tokio::runtime::Runtime::new().unwrap(),
    };
    let version = server.text("SELECT version()");
    println!(
        "storage bench: {rows} rows, seed {seed}, server {} at {url}",
        version.trim()
    );
    let mut phases: Vec<(String, Duration)> = Vec::new();
    let mut phase = |name: String, since: Instant| phases.push((name, since.elapsed()));

    // The corpus, in the naive table.
    let wanted = corpus::comment(rows, seed);
    let existing = server.text(&format!(
        "SELECT comment FROM system.tables WHERE database = '{corpus_db}' AND name = 'logs'"
    ));
    if flag("STORAGE_REUSE") && existing.trim() == wanted {
        println!("reusing the corpus in {corpus_db}.logs");
    } else {
        let t = Instant::now();
        server.exec(&format!("DROP DATABASE IF EXISTS {corpus_db}"));
        server.exec(&format!("CREATE DATABASE {corpus_db}"));
        server.exec(&corpus::naive_ddl(&corpus_db, rows, seed));
        server.exec(&corpus::generate_sql(&corpus_db, rows, seed));
        phase("generate corpus".into(), t);
        let t = Instant::now();
        server.exec(&format!("OPTIMIZE TABLE {corpus_db}.logs FINAL"));
        phase("optimize naive".into(), t);
    }
    let naive = Layout {
        name: "naive".into(),
        database: corpus_db.clone(),
        ddl: String::new(),
    };
    if flag("STORAGE_MIGRATION_ONLY") {
        migration(&server, &url, &prefix, &naive.table(), rows);
        return;
    }

    // Ours, from schema.sql through the crate; the exporter's; the variants.
    let ours = Layout {
        name: "ours".into(),
        database: format!("{prefix}_ours"),
        ddl: String::new(),
    };
    let exporter = tables::exporter(&prefix);
    let variants = tables::variants(&prefix);
    let mut copies = vec![ours.clone(), exporter.clone()];
    copies.extend(variants.iter().cloned());
    for layout in &copies {
        server.exec(&format!("DROP DATABASE IF EXISTS {}", layout.database));
        if layout.ddl.is_empty() {
            // As an application would: `apply`, which also sets what
            // schema.sql cannot say for every server.
            server
                .runtime
                .block_on(tracing_clickhouse::schema::apply(&config(
                    &url,
                    &layout.database,
                )))
                .expect("schema::apply");
        } else {
            server.exec(&format!("CREATE DATABASE {}", layout.database));
            server.exec(&layout.ddl);
        }
        let t = Instant::now();
        server.exec(&format!(
            "INSERT INTO {} ({cols}) SELECT {cols} FROM {}",
            layout.table(),
            naive.table(),
            cols = tables::INSERT_COLUMNS
        ));
        phase(format!("copy into {}", layout.name), t);
        let t = Instant::now();
        server.exec(&format!("OPTIMIZE TABLE {} FINAL", layout.table()));
        phase(format!("optimize {}", layout.name), t);
    }
    let mut layouts = vec![ours.clone(), exporter.clone(), naive.clone()];
    layouts.extend(variants.iter().cloned());

    // Sizes.
    let sizes: Vec<server::Size> = layouts
        .iter()
        .map(|l| server::size(&server, &l.database))
        .collect();
    for (layout, size) in layouts.iter().zip(&sizes) {
        assert_eq!(size.rows, rows, "{} holds every row", layout.name);
    }
    report::sizes(&layouts, &sizes);

    // Reads, through the crate's query API on each layout.
    let reads = !flag("STORAGE_NO_READS");
    let trace = server
        .text(&corpus::pick_trace_sql(&corpus_db))
        .trim()
        .to_owned();
    let token = server
        .text(&corpus::pick_token_sql(&corpus_db))
        .trim()
        .to_owned();
    assert!(
        trace.len() == 32 && !token.is_empty(),
        "{trace:?} {token:?}"
    );
    println!(
        "\n## Rows read (EXPLAIN ESTIMATE, share of the table) and median latency ({runs} runs)\n"
    );
    println!(
        "trace id {trace}, token {token}; the corpus ends at {}",
        corpus::END_SECS
    );
    report::read_header(&layouts);
    let clients: Vec<QueryClient> = layouts
        .iter()
        .map(|l| QueryClient::new(&config(&url, &l.database)).expect("a query client"))
        .collect();
    let t = Instant::now();
    let mut misses = Vec::new();
    let mut shown_sql = Vec::new();
    for query in queries::queries(&trace, &token)
        .into_iter()
        .filter(|_| reads)
    {
        let mut shares = Vec::new();
        let mut times = Vec::new();
        let mut answers = Vec::new();
        for ((layout, size), client) in layouts.iter().zip(&sizes).zip(&clients) {
            let answered = server
                .runtime
                .block_on(query.run(client))
                .unwrap_or_else(|e| panic!("{} on {}: {e}", query.name, layout.name));
            answers.push(answered);
            let sql = server.last_query(&layout.database);
            shares.push(server.estimate(&layout.database, &sql) as f64 / size.rows as f64);
            let query_runs = if query.name == "full_scan" {
                runs.min(3)
            } else {
                runs
            };
            times.push(server.latency(&layout.database, &sql, query_runs));
            if layout.name == "ours" {
                shown_sql.push((query.name, sql));
            }
        }
        assert!(
            answers.iter().all(|a| *a == answers[0]),
            "{}: every layout gives the same number of rows: {answers:?}",
            query.name
        );
        report::read_row(
            query.name,
            &shares,
            &times,
            &verdict(&query, &shares, &mut misses),
        );
    }
    phase("reads".into(), t);
    for query in queries::queries(&trace, &token) {
        println!("  {:<14} {}", query.name, query.what);
    }
    if flag("STORAGE_SHOW_SQL") {
        for (name, sql) in &shown_sql {
            println!("\n{name}: {sql}");
        }
    }

    // Inserts in the pipeline's statement.
    let t = Instant::now();
    let batch = server::probe_batch(&server, &naive.table());
    println!(
        "\n## A {}-row RowBinary batch in the pipeline's INSERT ... SELECT FROM input() \
         ({} bytes, median of {runs}, into an empty copy without views)\n",
        batch.rows,
        batch.body.len()
    );
    let times = server::insert_probe(&server, &copies, &batch, runs);
    for (layout, time) in copies.iter().zip(&times) {
        println!(
            "{:<22} {:>8.3} s  {:>8.0} rows/s  {:>6.2} x ours",
            layout.name,
            time.as_secs_f64(),
            batch.rows as f64 / time.as_secs_f64(),
            time.as_secs_f64() / times[0].as_secs_f64()
        );
    }
    phase("insert probe".into(), t);

    // The migration of a version-1 database holding the corpus.
    if !flag("STORAGE_NO_MIGRATION") {
        let t = Instant::now();
        migration(&server, &url, &prefix, &naive.table(), rows);
        phase("migration".into(), t);
    }

    // Targets.
    let ratio = (sizes[0].disk as f64 / sizes[0].rows as f64)
        / (sizes[1].disk as f64 / sizes[1].rows as f64);
    if ratio > 0.8 {
        misses.push(format!("bytes per row ours/exporter {ratio:.3} > 0.8"));
    }
    println!("\n## Targets\n");
    println!("bytes per row, ours / exporter: {ratio:.3} (target <= 0.8)");
    if misses.is_empty() {
        println!("every target met");
    } else {
        for miss in &misses {
            println!("MISSED: {miss}");
        }
    }
    println!();
    for (name, time) in &phases {
        println!("{name:<28} {:>7.1} s", time.as_secs_f64());
    }
    println!("{:<28} {:>7.1} s", "total", began.elapsed().as_secs_f64());

    if !flag("STORAGE_KEEP") {
        for layout in &copies {
            server.exec(&format!("DROP DATABASE IF EXISTS {}", layout.database));
        }
        if !flag("STORAGE_REUSE") {
            server.exec(&format!("DROP DATABASE IF EXISTS {corpus_db}"));
        }
    }
}

/// Whether ours (the first share) meets the query's target, the exporter's
/// being the second.
fn verdict(query: &Query, shares: &[f64], misses: &mut Vec<String>) -> String {
    let (ours, exporter) = (shares[0], shares[1]);
    match query.target {
        Target::None => String::new(),
        Target::AtMost(limit) => {
            if ours <= limit {
                format!("<= {}% ok", limit * 100.0)
            } else {
                misses.push(format!(
                    "{}: {:.3}% > {}%",
                    query.name,
                    ours * 100.0,
                    limit * 100.0
                ));
                format!("<= {}% MISSED", limit * 100.0)
            }
        }
        Target::NoWorseThanExporter => {
            if ours <= exporter {
                "<= exporter ok".into()
            } else {
                misses.push(format!(
                    "{}: {:.3}% > the exporter's {:.3}%",
                    query.name,
                    ours * 100.0,
                    exporter * 100.0
                ));
                "<= exporter MISSED".into()
            }
        }
    }
}

/// Times `schema::apply` migrating a version-1 database of the corpus.
fn migration(server: &Server, url: &str, prefix: &str, corpus: &str, rows: u64) {
    let config = config(url, &format!("{prefix}_migrate"));
    let (took, migrated) = migrate::time_migration(server, &config, corpus);
    assert_eq!(migrated, rows, "the migration kept every row");
    println!(
        "\n## schema::apply on a version-1 database of {rows} rows: {:.1} s\n",
        took.as_secs_f64()
    );
}
