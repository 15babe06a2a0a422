//! `service-bench`: what tracing-clickhouse costs an axum service, measured
//! beside `tracing_subscriber::fmt().json()` (see docs/performance.md).
//!
//! ```text
//! service-bench run [--rounds N] [--duration S] [--warmup S] [--connections N]
//!                   [--setup dry|devserver|both] [--repo DIR] [--out DIR]
//!                   [--configs MODE:LEVELS,...]
//! service-bench serve --mode none|fmt|init|console-off --levels default|info
//!                     [--dry-run] [--fmt-file PATH]
//! ```
//!
//! `run` is the bench (`make service-bench`); `serve` is the service it
//! starts for each run.

mod driver;
mod measure;
mod report;
mod service;

use std::path::PathBuf;
use std::time::Duration;

use driver::{Options, Setup};
use service::Serve;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => options(&args[1..]).and_then(|o| driver::run(&o)),
        Some("serve") => serve_options(&args[1..]).and_then(service::serve),
        _ => Err("usage: service-bench run [options] | service-bench serve [options]".into()),
    };
    if let Err(error) = result {
        eprintln!("service-bench: {error}");
        std::process::exit(2);
    }
}

/// `--name value` pairs and `--flag`s.
fn pairs(args: &[String]) -> Result<Vec<(&str, Option<&str>)>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < args.len() {
        let name = args[at]
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {:?}", args[at]))?;
        let value = args.get(at + 1).filter(|v| !v.starts_with("--"));
        at += 1 + usize::from(value.is_some());
        out.push((name, value.map(String::as_str)));
    }
    Ok(out)
}

fn needs<'a>(name: &str, value: Option<&'a str>) -> Result<&'a str, String> {
    value.ok_or_else(|| format!("--{name} needs a value"))
}

fn number<T: std::str::FromStr>(name: &str, value: Option<&str>) -> Result<T, String> {
    let value = needs(name, value)?;
    value
        .parse()
        .map_err(|_| format!("--{name}: {value:?} is not a number"))
}

fn options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        rounds: 3,
        duration: Duration::from_secs(10),
        warmup: Duration::from_secs(2),
        connections: 32,
        setups: vec![Setup::Dry, Setup::Devserver],
        repo: PathBuf::from("."),
        out: PathBuf::from("target/service-bench"),
        configs: service::Levels::ALL
            .into_iter()
            .flat_map(|levels| service::Mode::ALL.map(|mode| (mode, levels)))
            .collect(),
    };
    for (name, value) in pairs(args)? {
        match name {
            "rounds" => options.rounds = number(name, value)?,
            "duration" => options.duration = Duration::from_secs(number(name, value)?),
            "warmup" => options.warmup = Duration::from_secs(number(name, value)?),
            "connections" => options.connections = number(name, value)?,
            "setup" => {
                options.setups = match needs(name, value)? {
                    "dry" => vec![Setup::Dry],
                    "devserver" => vec![Setup::Devserver],
                    "both" => vec![Setup::Dry, Setup::Devserver],
                    other => {
                        return Err(format!("--setup: {other:?} is not dry, devserver or both"));
                    }
                }
            }
            "repo" => options.repo = PathBuf::from(needs(name, value)?),
            "configs" => {
                options.configs = needs(name, value)?
                    .split(',')
                    .map(|config| {
                        let (mode, levels) = config
                            .split_once(':')
                            .ok_or_else(|| format!("--configs: {config:?} is not MODE:LEVELS"))?;
                        Ok((mode.parse()?, levels.parse()?))
                    })
                    .collect::<Result<_, String>>()?;
            }
            "out" => options.out = PathBuf::from(needs(name, value)?),
            _ => return Err(format!("unknown option --{name}")),
        }
    }
    if options.rounds == 0 {
        return Err("--rounds: at least 1".into());
    }
    Ok(options)
}

fn serve_options(args: &[String]) -> Result<Serve, String> {
    let mut serve = Serve {
        mode: service::Mode::None,
        levels: service::Levels::Default,
        dry_run: false,
        fmt_file: PathBuf::from("service-bench-fmt.json"),
    };
    for (name, value) in pairs(args)? {
        match name {
            "mode" => serve.mode = needs(name, value)?.parse()?,
            "levels" => serve.levels = needs(name, value)?.parse()?,
            "dry-run" => serve.dry_run = true,
            "fmt-file" => serve.fmt_file = PathBuf::from(needs(name, value)?),
            _ => return Err(format!("unknown option --{name}")),
        }
    }
    Ok(serve)
}
