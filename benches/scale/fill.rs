//! Filling the database: the storage study's corpus generator (12
//! services, realistic bodies and attributes) run server-side into our own
//! `logs`, so the rollups' views count the rows as they would count a
//! pipeline's; and a live writer, our own pipeline, adding rows while the
//! reads are measured.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::{Dispatch, dispatcher};
use tracing_clickhouse::Config;
use tracing_subscriber::prelude::*;

use super::corpus::Generator;

/// The services of the corpus.
pub const SERVICES: u32 = 12;
/// Rows one `INSERT ... SELECT` generates (a few seconds of work each).
const CHUNK: u64 = 10_000_000;
const DAY_SECS: i64 = 86_400;

/// The columns our `logs` takes from the generator (`TimestampTime` is
/// computed by the table).
const COLUMNS: &str = "Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, \
     ServiceName, Body, ResourceSchemaUrl, ResourceAttributes, ScopeSchemaUrl, ScopeName, \
     ScopeVersion, ScopeAttributes, LogAttributes";

/// A client on the bench's database, and the runtime it runs on.
pub struct Db {
    pub client: clickhouse::Client,
    pub runtime: tokio::runtime::Runtime,
    pub name: String,
}

impl Db {
    pub fn exec(&self, sql: &str) {
        self.runtime
            .block_on(self.client.query(sql).execute())
            .unwrap_or_else(|e| panic!("{e}\n{}", &sql[..sql.len().min(400)]));
    }

    /// The answer in TabSeparated.
    pub fn text(&self, sql: &str) -> String {
        let bytes = self
            .runtime
            .block_on(async {
                self.client
                    .query(sql)
                    .fetch_bytes("TabSeparated")?
                    .collect()
                    .await
            })
            .unwrap_or_else(|e| panic!("{e}\n{sql}"));
        String::from_utf8_lossy(&bytes).trim().to_owned()
    }

    pub fn number(&self, sql: &str) -> u64 {
        let text = self.text(sql);
        text.parse()
            .unwrap_or_else(|_| panic!("a number from {sql}: {text:?}"))
    }

    /// The server's time now, as `system.query_log` writes it (asked in
    /// another database, so that it is not one of the queries counted).
    pub fn marker(&self) -> String {
        let client = self.client.clone().with_database("system");
        let bytes = self
            .runtime
            .block_on(async {
                client
                    .query("SELECT now64(6)")
                    .fetch_bytes("TabSeparated")?
                    .collect()
                    .await
            })
            .unwrap();
        String::from_utf8_lossy(&bytes).trim().to_owned()
    }

    /// A gauge per service and name (ten names) every 10 s over the last
    /// day, unless there are metrics already: what the metric endpoints
    /// read.
    pub fn fill_metrics(&self) {
        if self.number("SELECT count() FROM metrics") > 0 {
            return;
        }
        self.exec(&format!(
            "INSERT INTO metrics (TimeUnix, MetricName, MetricKind, ServiceName, Attributes, Value) \
             SELECT fromUnixTimestamp64Nano(toInt64({start} + intDiv(number, 120) * 10) * 1000000000), \
             ['process.cpu.utilization', 'process.memory.usage', 'http.server.active_requests', \
              'db.client.connections.usage', 'queue.depth', 'cache.hit_ratio', 'runtime.tasks', \
              'gc.pause', 'disk.io', 'net.io'][1 + number % 10], 'gauge', \
             ['api-gateway','checkout','payments','inventory','search','auth','users','orders', \
              'notifications','shipping','recommendations','pricing'][1 + intDiv(number, 10) % 12], \
             map('host.name', concat('node-', toString(intDiv(number, 10) % 12))), \
             (cityHash64(number) % 10000) / 100 FROM numbers({rows})",
            start = now_secs() - DAY_SECS,
            rows = 8640 * 120,
        ));
    }

    /// Rows of the last 24 hours.
    pub fn rows_in_day(&self) -> u64 {
        self.number("SELECT count() FROM logs WHERE Timestamp >= now64(9) - INTERVAL 1 DAY")
    }

    /// Generates `rows` rows over `[start, start + span)` (whole seconds),
    /// in chunks; returns the seconds it took.
    pub fn generate(&self, rows: u64, seed: u64, start_secs: i64, span_secs: i64) -> f64 {
        let began = Instant::now();
        let corpus = Generator {
            rows,
            seed,
            start_secs,
            span_secs,
            services: SERVICES,
        };
        let mut first = 0;
        while first < rows {
            let count = CHUNK.min(rows - first);
            let select = corpus.select(first, count);
            self.exec(&format!(
                "INSERT INTO logs ({COLUMNS}) SELECT {COLUMNS} FROM ({select}) \
                 SETTINGS insert_deduplicate = 0"
            ));
            first += count;
            if rows > CHUNK {
                println!(
                    "  {first} of {rows} rows ({:.0} s)",
                    began.elapsed().as_secs_f64()
                );
            }
        }
        began.elapsed().as_secs_f64()
    }

    /// Waits until no merge of ours runs (at most `limit`); the active
    /// parts of `logs` then.
    pub fn settle(&self, limit: Duration) -> u64 {
        let began = Instant::now();
        while began.elapsed() < limit
            && self.number(&format!(
                "SELECT count() FROM system.merges WHERE database = '{}'",
                self.name
            )) > 0
        {
            std::thread::sleep(Duration::from_secs(5));
        }
        self.parts("logs")
    }

    pub fn parts(&self, table: &str) -> u64 {
        self.number(&format!(
            "SELECT count() FROM system.parts WHERE database = '{}' AND table = '{table}' \
             AND active",
            self.name
        ))
    }

    /// Bytes on disk of the database's active parts, per table.
    pub fn sizes(&self) -> Vec<(String, u64, u64)> {
        self.text(&format!(
            "SELECT table, sum(rows), sum(bytes_on_disk) FROM system.parts \
             WHERE database = '{}' AND active GROUP BY table ORDER BY table",
            self.name
        ))
        .lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            Some((
                f.next()?.to_owned(),
                f.next()?.parse().ok()?,
                f.next()?.parse().ok()?,
            ))
        })
        .collect()
    }
}

/// Now, in whole seconds since the epoch.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// What filling to `target` rows in the last day took.
pub struct Filled {
    pub added: u64,
    pub seconds: f64,
}

/// Brings the last day to `target` rows spread evenly over it: the time
/// since the newest row (a run before this one) filled at the target's
/// rate, then the rows still missing spread over the whole day.
pub fn fill_day(db: &Db, target: u64, seed: u64) -> Filled {
    let began = Instant::now();
    let mut added = catch_up(db, target, seed);
    let have = db.rows_in_day();
    let missing = target.saturating_sub(have);
    if missing >= target / 50 {
        println!("filling {missing} rows over the last 24 hours ({have} there)");
        db.generate(missing, seed + 1, now_secs() - DAY_SECS, DAY_SECS);
        added += missing;
    }
    Filled {
        added,
        seconds: began.elapsed().as_secs_f64(),
    }
}

/// Fills the time since the newest row of the last day (the minutes a
/// fill or a settle took, or since a run before) at the rate of `per_day`
/// rows a day, so the last minutes hold what they would hold in
/// production; the rows added.
pub fn catch_up(db: &Db, per_day: u64, seed: u64) -> u64 {
    let newest = db.number(
        "SELECT toUInt64(ifNull(max(toUnixTimestamp(Timestamp)), 0)) FROM logs \
         WHERE Timestamp >= now64(9) - INTERVAL 1 DAY",
    ) as i64;
    let span = now_secs() - newest;
    if newest == 0 || span <= 0 {
        return 0;
    }
    let since_secs = newest;
    let rows = per_day * span as u64 / DAY_SECS as u64;
    println!("filling {rows} rows over the last {span} s");
    db.generate(rows, seed, since_secs, span);
    rows
}

/// Our pipeline in a thread of its own, emitting a mix of events at a
/// steady rate until stopped.
pub struct Writer {
    stop: Arc<AtomicBool>,
    emitted: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts writing `rate` rows a second as `service` into `config`'s
    /// database.
    pub fn start(config: Config, service: &str, rate: u64) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let emitted = Arc::new(AtomicU64::new(0));
        let (flag, count) = (stop.clone(), emitted.clone());
        let config = config
            .into_builder()
            .service_name(service)
            .system_monitor(false)
            .pipeline_metrics(false)
            .create_schema(false)
            .build_config()
            .unwrap();
        let thread = std::thread::spawn(move || {
            let (layer, telemetry) = config.into_builder().build().unwrap();
            let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
            dispatcher::with_default(&dispatch, || emit(&flag, &count, rate));
            let report = telemetry.shutdown(Duration::from_secs(120));
            assert_eq!(report.unsent_rows, 0, "{report:?}");
        });
        Writer {
            stop,
            emitted,
            thread: Some(thread),
        }
    }

    /// Events emitted so far.
    pub fn emitted(&self) -> u64 {
        self.emitted.load(Ordering::Relaxed)
    }

    /// Stops, delivers what is queued, and says how many were emitted.
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        self.emitted()
    }
}

/// `rate` events a second in 10 ms steps: mostly requests handled, some
/// debug, a few warnings and errors of several patterns.
fn emit(stop: &AtomicBool, count: &AtomicU64, rate: u64) {
    let began = Instant::now();
    let mut i: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let due = (began.elapsed().as_secs_f64() * rate as f64) as u64;
        while i < due {
            let user = i * 7919 % 100_003;
            match i % 50 {
                0 => tracing::error!(
                    target: "checkout::payments::provider",
                    order_id = i, provider = "stripe",
                    "payment for order {i} failed: upstream timeout after {} ms", i % 3000
                ),
                1..=3 => tracing::warn!(
                    target: "checkout::db::pool",
                    pool = "primary",
                    "slow query took {} ms: SELECT * FROM orders WHERE id = {i}", 500 + i % 900
                ),
                4..=20 => tracing::debug!(
                    target: "checkout::cache",
                    cache = "redis",
                    "cache miss for key session:{:x}", i * 2_654_435_761
                ),
                _ => tracing::info!(
                    target: "checkout::http::handlers",
                    route = "/api/v1/checkout", user_id = user, latency_ms = i % 250,
                    "request completed"
                ),
            }
            i += 1;
        }
        count.store(i, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(10));
    }
}
