//! `chlog alerts check|run|status`: the library's alert rules from a TOML
//! file, checked, evaluated on an interval, and what fires now.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::{Args, Subcommand};
use serde_json::json;
use tracing_clickhouse::alert::{self, Alerts, Runner, TransitionKind};

use crate::conn::Context;
use crate::fail::{Failure, Outcome, status};
use crate::out::Out;
use crate::render::{BOLD, GREEN, RED, escape};

pub(crate) const EXAMPLES: &str = "\
Examples:
  chlog alerts check rules.toml                 validate a rules file (errors with their lines)
  chlog alerts check rules.toml --sql           and print the query each rule runs
  chlog alerts run rules.toml                   evaluate every interval, print each transition
  chlog alerts run rules.toml --cycles 1        evaluate once (e.g. from cron)
  chlog alerts status || page-someone           exit 3 while an alert fires";

/// `chlog alerts`.
#[derive(Debug, Subcommand)]
pub(crate) enum AlertsCommand {
    /// Validate a rules file; exit 1 with line-numbered errors if it is wrong
    Check(CheckArgs),
    /// Evaluate a rules file's rules every interval: transitions to events, the webhook, stdout
    Run(RunArgs),
    /// The alerts firing now (the latest transition of their key is alert_firing); exit 3 if any
    Status(StatusArgs),
}

/// `chlog alerts check`.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The TOML file
    file: PathBuf,
    /// Also print each rule's SQL (with its placeholders and bound values)
    #[arg(long)]
    sql: bool,
}

/// `chlog alerts run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The TOML file
    file: PathBuf,
    /// Between evaluations, 1s to 365d (overrides the file's settings.interval)
    #[arg(long, value_name = "DURATION",
          value_parser = crate::time::duration_within(std::time::Duration::from_secs(1), crate::time::YEAR))]
    interval: Option<std::time::Duration>,
    /// Stop after this many evaluations (0: run until stopped)
    #[arg(long, default_value_t = 0)]
    cycles: u64,
    /// ServiceName of transitions whose group has no service
    #[arg(long, default_value = "chlog")]
    service: String,
}

/// `chlog alerts status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// One JSON object a line
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(ctx: &Context, command: AlertsCommand) -> Outcome {
    match command {
        AlertsCommand::Check(args) => check(&args),
        AlertsCommand::Run(args) => run_rules(ctx, args).await,
        AlertsCommand::Status(args) => show_status(ctx, &args).await,
    }
}

/// The file's rules, or its errors as `FILE:LINE: message` on stderr.
fn load(file: &std::path::Path) -> Result<Alerts, Failure> {
    Alerts::from_file(file).map_err(|error| {
        let lines: Vec<String> = error
            .errors
            .iter()
            .map(|(line, message)| match line {
                0 => message.clone(),
                line => format!("{}:{line}: {message}", file.display()),
            })
            .collect();
        Failure::other(lines.join("\nchlog: "))
    })
}

fn check(args: &CheckArgs) -> Outcome {
    let alerts = load(&args.file)?;
    let mut out = Out::new();
    for rule in alerts.rules() {
        out.line(&format!("{}  {}", rule.kind(), rule.name()))
            .map_err(Failure::write)?;
        if args.sql {
            let (text, params) = rule.query_text(&[0]);
            out.line(&format!("  {text}")).map_err(Failure::write)?;
            for param in params {
                out.line(&format!("    {param}")).map_err(Failure::write)?;
            }
        }
    }
    let interval = humantime::format_duration(alerts.evaluation_interval());
    let summary = format!(
        "{}: {} rules, every {interval}",
        args.file.display(),
        alerts.rules().len()
    );
    out.line(&summary).map_err(Failure::write)?;
    out.flush().map_err(Failure::write)?;
    Ok(ExitCode::SUCCESS)
}

async fn run_rules(ctx: &Context, args: RunArgs) -> Outcome {
    let mut alerts = load(&args.file)?;
    if let Some(interval) = args.interval {
        alerts = alerts.interval(interval);
    }
    let interval = alerts.evaluation_interval();
    let mut runner = Runner::new(alerts, &ctx.client, &args.service)
        .map_err(|e| Failure::other(e.to_string()))?
        .timeout(ctx.timeout);
    let mut out = Out::new();
    let mut done = 0;
    let mut failed = false;
    loop {
        // Each query and write has --timeout; a failed one is an error of
        // the cycle, said below, and the next cycle tries again.
        let cycle = runner.cycle(SystemTime::now()).await;
        for transition in &cycle.transitions {
            let style = match transition.kind {
                TransitionKind::Firing => RED,
                _ => GREEN,
            };
            let word = transition.kind.to_string().to_uppercase();
            let value = transition.value.map_or("-".to_owned(), number);
            let line = format!(
                "{} {} {} value={value} threshold={} severity={}",
                rfc3339(transition.at_ns),
                ctx.palette.paint(style, &word),
                ctx.palette.paint(BOLD, &escape(&transition.key)),
                number(transition.threshold),
                escape(&transition.severity),
            );
            out.line(&line).map_err(Failure::write)?;
        }
        // A cycle's transitions are shown when it ends, not when the buffer fills.
        out.flush().map_err(Failure::write)?;
        for error in &cycle.errors {
            eprintln!("chlog: {error}");
            failed = true;
        }
        done += 1;
        if args.cycles != 0 && done >= args.cycles {
            break;
        }
        tokio::time::sleep(interval).await;
    }
    let undelivered = runner.finish(Duration::from_secs(10)).await;
    if undelivered > 0 {
        eprintln!("chlog: the webhook did not take {undelivered} transitions");
        failed = true;
    }
    match failed {
        true => Ok(ExitCode::from(status::FAILED)),
        false => Ok(ExitCode::SUCCESS),
    }
}

async fn show_status(ctx: &Context, args: &StatusArgs) -> Outcome {
    let firing = ctx.ask(alert::firing_alerts(&ctx.client)).await?;
    let mut out = Out::new();
    for alert in &firing {
        let since = rfc3339(alert.since_ns);
        let line = match args.json {
            true => json!({
                "key": alert.key, "rule": alert.rule, "group": alert.group,
                "service": alert.service, "severity": alert.severity, "value": alert.value,
                "threshold": alert.threshold, "message": alert.message, "since": since,
            })
            .to_string(),
            false => format!(
                "{since}  {}  {}  value={} threshold={}  {}",
                ctx.palette.paint(RED, &escape(&alert.severity)),
                ctx.palette.paint(BOLD, &escape(&alert.key)),
                shown(&alert.value),
                shown(&alert.threshold),
                escape(&alert.message),
            ),
        };
        out.line(&line).map_err(Failure::write)?;
    }
    if firing.is_empty() && !args.json {
        out.line("nothing fires").map_err(Failure::write)?;
    }
    out.flush().map_err(Failure::write)?;
    match firing.is_empty() {
        true => Ok(ExitCode::SUCCESS),
        false => Ok(ExitCode::from(status::ATTENTION)),
    }
}

/// A value to read at a glance: at most 3 decimals.
fn number(value: f64) -> String {
    ((value * 1000.0).round() / 1000.0).to_string()
}

/// A stored value (`Details` keeps every digit), as [`number`] shows it.
fn shown(text: &str) -> String {
    text.parse::<f64>().map_or_else(|_| escape(text), number)
}

/// Nanoseconds since the epoch as RFC 3339 (seconds).
fn rfc3339(ns: i64) -> String {
    let time = SystemTime::UNIX_EPOCH + Duration::from_nanos(u64::try_from(ns).unwrap_or(0));
    humantime::format_rfc3339_seconds(time).to_string()
}
