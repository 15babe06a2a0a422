//! `chlog` run as a process, as a person or a script runs it, against the
//! devserver with known rows: what it prints, what it writes, its exit
//! status.
//!
//! Every test has a database of its own; `chlog` gets nothing from this
//! process's environment but the server's URL and that database.

use crate::common;
use crate::known;

mod export;
mod failures;
mod follow;
mod logs;
mod schema;
mod settings;
mod summaries;

use std::process::{Command, Output};

use tracing_clickhouse::Config;

/// A database for one test, and how to reach it.
pub struct Db {
    pub url: String,
    pub database: String,
    pub config: Config,
    pub client: clickhouse::Client,
}

impl Db {
    /// A fresh database on the shared server, without the schema.
    pub fn empty(prefix: &str) -> Db {
        Db::on(&common::url(), prefix)
    }

    pub fn on(url: &str, prefix: &str) -> Db {
        let database = common::unique_database(prefix);
        let config = common::config_for(url, &database);
        let client = common::raw_client(&config);
        Db {
            url: url.to_owned(),
            database,
            config,
            client,
        }
    }

    /// A fresh database with the schema.
    pub async fn with_schema(prefix: &str) -> Db {
        let db = Db::empty(prefix);
        tracing_clickhouse::schema::apply(&db.config).await.unwrap();
        db
    }

    /// A database with the fixture: 120 logs from 30 minutes ago, the
    /// trace, the metrics, the events. Returns the data's start.
    pub async fn loaded(prefix: &str) -> (Db, i64) {
        let db = Db::with_schema(prefix).await;
        let base = known::minutes_ago(30);
        known::Tables::around(base, 120).insert(&db.client).await;
        (db, base)
    }

    /// `chlog` with `args`, for this database.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chlog"));
        command
            .args(args)
            .env_clear()
            .env("CLICKHOUSE_URL", &self.url)
            .env("CLICKHOUSE_DATABASE", &self.database);
        command
    }

    /// Runs `chlog` with `args` to its end.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::of(self.command(args).output().expect("run chlog"))
    }
}

/// What a run printed, and its exit status.
#[derive(Debug)]
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn of(output: Output) -> Run {
        Run {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
            stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
        }
    }

    /// Asserts the exit status was `status`, and gives the lines of stdout.
    pub fn expect(&self, status: i32) -> Vec<&str> {
        assert_eq!(
            self.status, status,
            "exit status; stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self.stdout.lines().collect()
    }
}
