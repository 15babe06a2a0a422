//! Alert rules against the devserver, on generated series: a spike and a
//! level shift are detected, normal noise is not (the false-positive rate
//! over a long series), absence and a service down fire, a flapping signal
//! does not flap, a resolved alert resolves once, and the webhook gets each
//! transition exactly once although it fails twice first. Also the guard's
//! background evaluation, and `chlog alerts` run as a process.

use crate::common;

mod chlog;
mod delivery;
mod detection;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing_clickhouse::alert::{
    self, Absence, AbsenceSource, Alerts, Anomaly, Comparison, LogSignal, Method, MetricSignal,
    Rule, Runner, Season, ServiceDown, Transition, TransitionKind, Webhook,
};
use tracing_clickhouse::query::QueryClient;

const MIN: i64 = 60_000_000_000;

struct Db {
    database: String,
    client: clickhouse::Client,
    query: QueryClient,
}

async fn db(prefix: &str) -> Db {
    let config = common::config(prefix);
    tracing_clickhouse::schema::apply(&config).await.unwrap();
    let client = common::raw_client(&config);
    Db {
        database: config.database().to_owned(),
        client,
        query: QueryClient::new(&config).unwrap(),
    }
}

impl Db {
    async fn run(&self, sql: &str) {
        self.client
            .query(sql)
            .execute()
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    async fn count(&self, sql: &str) -> u64 {
        common::scalar(&self.client, sql).await
    }

    /// The transitions of `rules` evaluated at each of `times`
    /// (nanoseconds), oldest first.
    async fn backtest(&self, rules: Vec<Rule>, times: &[i64]) -> Vec<Transition> {
        let times: Vec<SystemTime> = times.iter().map(|&ns| at(ns)).collect();
        Alerts::new(rules)
            .backtest(&self.query, &times)
            .await
            .unwrap()
    }
}

/// The start of the minute `minutes` ago, in nanoseconds.
fn minutes_ago(minutes: i64) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    now / MIN * MIN - minutes * MIN
}

/// Inserts `n` points of gauge `name` (service `svc`, route `/a`), one a
/// minute from `start`, with value `expr` of `number` (the point's index)
/// and `noise`: deterministic normal noise of mean 0 and deviation 1 (Box-
/// Muller over two hashes of the index), so the test sees the same series
/// on every run.
async fn series(db: &Db, name: &str, start: i64, n: u64, expr: &str) {
    let noise = "(sqrt(-2 * log((sipHash64(number, 1) % 1000000 + 1) / 1000001)) \
                 * cos(2 * pi() * ((sipHash64(number, 2) % 1000000) / 1000000)))";
    let expr = expr.replace("noise", noise);
    db.run(&format!(
        "INSERT INTO metrics (TimeUnix, MetricName, MetricKind, ServiceName, Attributes, Value) \
         SELECT fromUnixTimestamp64Nano(toInt64({start}) + toInt64(number) * {MIN}), '{name}', \
         'gauge', 'svc', map('route', '/a'), {expr} FROM numbers({n})"
    ))
    .await;
}

/// `ns` nanoseconds after the Unix epoch.
fn at(ns: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(ns as u64)
}

/// A rule firing when `source` has had no row for `after`.
fn absence(name: &str, source: AbsenceSource, after: Duration) -> Rule {
    let settings = Absence {
        source,
        ..Absence::default()
    };
    Rule::absence(name, after, settings)
}

fn minute_times(from: i64, count: i64) -> Vec<i64> {
    (0..count).map(|k| from + k * MIN).collect()
}

fn fired(transitions: &[Transition]) -> Vec<&Transition> {
    transitions
        .iter()
        .filter(|t| t.kind == TransitionKind::Firing)
        .collect()
}
