//! Scale: every `chlog` read of issue 23 and every endpoint of `chlog ui`,
//! timed on a devserver holding N log rows over the last 24 hours, for
//! several N; the rows each read made the server read; exports of an hour;
//! and `chlog logs -f` behind a fast writer. README's "Reads at scale" has
//! the numbers and the command that made them:
//!
//!   make scale-bench          # 100 M, then 300 M rows: about 2 hours, 10 GB
//!
//! Under `cargo test --all-targets` (as `make test` runs it) it checks every
//! phase on 200 000 rows, once, with the debug build of chlog.
//!
//! Environment:
//! - `SCALE_ROWS` (`100000000,300000000`): the sizes, in order; each one
//!   tops the same database up (rows spread over the last 24 hours by the
//!   storage study's generator with 12 services: `benches/storage/corpus.rs`);
//! - `SCALE_RUNS` (3): runs of each read, the median reported;
//! - `SCALE_DATABASE` (`scale_bench`); `SCALE_DROP=1` drops it at the end;
//! - `SCALE_PHASES` (`reads,exports,follow`): what to measure after each
//!   fill;
//! - `SCALE_FOLLOW_RATE` (50 000 rows/s), `SCALE_FOLLOW_SECONDS` (20);
//! - `SCALE_JSONL_FILE=1`: `chlog export` to JSON lines too (12 M rows of an
//!   hour at 300 M/day are about 8 GB of file);
//! - `SCALE_OUT` (`target/scale-bench.md`): the tables;
//! - `CLICKHOUSE_URL`: the server; without it a devserver is started with
//!   its data in `target/devserver-scale` (kept for another run).
//!
//! While the reads run, our pipeline writes into the same `logs` at the
//! size's own rate (N / 86 400 rows a second), as one of the services: the
//! rollups' views count a pipeline's batches as they count the generated
//! rows, and the newest minutes hold what production would have there.

#[path = "../tests/it/common/mod.rs"]
mod common;
#[path = "storage/corpus.rs"]
mod corpus;
#[path = "scale/fill.rs"]
mod fill;
#[path = "scale/reads.rs"]
mod reads;
#[path = "scale/report.rs"]
mod report;
#[path = "scale/streams.rs"]
mod streams;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fill::{Db, Writer, now_secs};
use report::AtSize;
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

/// Whether `SCALE_PHASES` (every phase when unset) names `name`.
fn phase(name: &str) -> bool {
    std::env::var("SCALE_PHASES").map_or(true, |phases| phases.split(',').any(|p| p.trim() == name))
}

/// The server: `CLICKHOUSE_URL`, or a devserver of the bench's own whose
/// data outlives the run when measuring.
fn server(measuring: bool) -> (String, Option<common::DevServer>) {
    if !measuring || std::env::var("CLICKHOUSE_URL").is_ok_and(|u| !u.is_empty()) {
        return (common::url(), None);
    }
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/devserver-scale");
    std::fs::create_dir_all(&data).unwrap();
    let server = common::DevServer::start(common::Options {
        data_dir: Some(data),
        ..Default::default()
    });
    (server.url.clone(), Some(server))
}

fn main() {
    let began = Instant::now();
    let measuring = std::env::args().any(|a| a == "--bench");
    let sizes: Vec<u64> = match std::env::var("SCALE_ROWS") {
        Ok(list) => list
            .split(',')
            .map(|n| n.trim().replace('_', "").parse().expect("SCALE_ROWS"))
            .collect(),
        Err(_) if measuring => vec![100_000_000, 300_000_000],
        Err(_) => vec![200_000],
    };
    let runs = env_u64("SCALE_RUNS", if measuring { 3 } else { 1 }).max(1) as usize;
    let database = std::env::var("SCALE_DATABASE").unwrap_or_else(|_| "scale_bench".into());
    let database = if measuring {
        database
    } else {
        common::unique_database("scale")
    };
    let chlog = PathBuf::from(env!("CARGO_BIN_EXE_chlog"));
    let (url, _server) = server(measuring);
    let config = tracing_clickhouse::Builder::from_env_vars::<&str, &str>([])
        .url(&url)
        .and_then(|b| b.database(&database))
        .and_then(tracing_clickhouse::Builder::build_config)
        .expect("bench configuration");
    let db = Db {
        client: clickhouse::Client::default()
            .with_url(&url)
            .with_database(&database),
        runtime: tokio::runtime::Runtime::new().unwrap(),
        name: database.clone(),
    };
    db.runtime
        .block_on(tracing_clickhouse::schema::apply(&config))
        .unwrap();
    let client = QueryClient::new(&config).unwrap();
    println!("scale bench: sizes {sizes:?}, {runs} runs each, database {database} at {url}");

    let mut measured = Vec::new();
    for (i, &rows) in sizes.iter().enumerate() {
        let seed = 1000 * (i as u64 + 1) + now_secs() as u64 % 1000;
        let filled = fill::fill_day(&db, rows, seed);
        println!("filled {} rows in {:.0} s", filled.added, filled.seconds);
        let parts = db.settle(Duration::from_secs(if measuring { 900 } else { 10 }));
        db.fill_metrics();
        // The minutes the fill and the merges took, at the size's rate.
        fill::catch_up(&db, rows, seed + 7);
        let rate = (rows / 86_400).max(10);
        let writer = Writer::start(config.clone(), "checkout", rate);
        std::thread::sleep(Duration::from_secs(if measuring { 30 } else { 2 }));
        let in_day = db.rows_in_day();
        println!(
            "{in_day} rows in the last 24 hours, {parts} parts of logs; the writer adds {rate}/s"
        );
        let reads = match phase("reads") {
            true => run_reads(&db, &chlog, &url, runs),
            false => Vec::new(),
        };
        let written = writer.stop();
        println!("the writer wrote {written} rows meanwhile");
        let exports = match phase("exports") {
            true => streams::exports(
                &db,
                &client,
                &chlog,
                &url,
                &Path::new(env!("CARGO_MANIFEST_DIR")).join("target/scale-export"),
                flag("SCALE_JSONL_FILE"),
            ),
            false => Vec::new(),
        };
        measured.push(AtSize {
            rows: in_day,
            reads,
            exports,
        });
        let sizes_now = db.sizes();
        for (table, rows, bytes) in &sizes_now {
            println!(
                "  {table}: {rows} rows, {:.1} MB on disk",
                *bytes as f64 / 1e6
            );
        }
    }
    let followed = phase("follow").then(|| {
        streams::follow(
            &config,
            &chlog,
            &url,
            &database,
            env_u64("SCALE_FOLLOW_RATE", if measuring { 50_000 } else { 2_000 }),
            env_u64("SCALE_FOLLOW_SECONDS", if measuring { 20 } else { 3 }),
        )
    });
    let mut text = format!(
        "Reads (median of {runs}; rows read: `read_rows` of `system.query_log`, every query of the read):\n\n{}\n\
         Exports:\n\n{}\n{}\n",
        report::reads_table(&measured),
        report::exports_table(&measured),
        followed
            .as_ref()
            .map(report::follow_line)
            .unwrap_or_default(),
    );
    text.push_str(&format!(
        "\nThe run took {:.0} s.\n",
        began.elapsed().as_secs_f64()
    ));
    println!("\n{text}");
    if measuring {
        let out = std::env::var("SCALE_OUT")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("target/scale-bench.md")
            });
        std::fs::write(&out, &text).unwrap();
        println!("written to {}", out.display());
    }
    // Under `cargo test` every read answered, and the tail lost nothing.
    if let Some(followed) = &followed {
        assert!(
            followed.printed >= followed.written,
            "chlog logs -f lost rows"
        );
    }
    if !measuring || flag("SCALE_DROP") {
        db.exec(&format!("DROP DATABASE IF EXISTS {database} SYNC"));
    }
}

/// Every read, with the service, trace and attribute values it needs taken
/// from the data.
fn run_reads(db: &Db, chlog: &Path, url: &str, runs: usize) -> Vec<reads::Measured> {
    let service = db.text("SELECT ServiceName FROM logs_by_level WHERE Minute >= now() - INTERVAL 1 HOUR GROUP BY ServiceName ORDER BY sum(Count) DESC LIMIT 1 OFFSET 3");
    let trace = db.text(
        "SELECT TraceId FROM logs WHERE TraceId != '' AND Timestamp >= now64(9) - INTERVAL 2 HOUR \
         AND Timestamp < now64(9) - INTERVAL 1 HOUR LIMIT 1",
    );
    let attribute = db.text(
        "SELECT concat('user_id=', LogAttributes['user_id']) FROM logs \
         WHERE Timestamp >= now64(9) - INTERVAL 3 HOUR AND LogAttributes['user_id'] != '' LIMIT 1",
    );
    let metric = db.text("SELECT MetricName FROM metrics LIMIT 1");
    let ui = reads::Ui::start(chlog, url, &db.name);
    reads::reads(&service, &trace, &attribute, &metric)
        .iter()
        .map(|read| {
            let m = reads::measure(db, chlog, url, &ui, read, runs);
            println!(
                "  {}: {:.0} ms, {} queries reading {} rows, {} bytes of answer",
                m.name,
                m.median.as_secs_f64() * 1000.0,
                m.queries,
                m.rows_read,
                m.answer_bytes
            );
            m
        })
        .collect()
}
