//! `chlog schema apply|status|migrate`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;
use tracing_clickhouse::ClusterConfig;
use tracing_clickhouse::schema::{self, SchemaStatus};

use crate::conn::Context;
use crate::fail::{Failure, Outcome, status};
use crate::out::Out;
use crate::render::{Align, BOLD, GREEN, Palette, RED, Table, YELLOW, escape};

/// `chlog schema`.
#[derive(Debug, Subcommand)]
pub(crate) enum SchemaCommand {
    /// Create what is missing and run the migrations an older database needs
    #[command(
        after_help = "Applying twice changes nothing; existing tables keep their TTLs.\n\
        With --cluster, the schema is made ON CLUSTER: replicated local tables and a \
        Distributed table in front of each (see docs/operations.md, \"Running at scale\")."
    )]
    Apply(ApplyArgs),
    /// The database's version, each table's TTL, and what apply would change; exit 3 if anything
    Status(StatusArgs),
    /// Run the migrations of a database that has the schema (--dry-run: print them)
    Migrate(MigrateArgs),
}

/// `chlog schema apply`.
#[derive(Debug, Args)]
pub(crate) struct ApplyArgs {
    /// The ClickHouse cluster (remote_servers) to create the schema on
    #[arg(long, value_name = "NAME")]
    cluster: Option<String>,
    /// Print the statements instead of running them
    #[arg(long)]
    print: bool,
}

/// `chlog schema status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// As one JSON object
    #[arg(long)]
    json: bool,
}

/// `chlog schema migrate`.
#[derive(Debug, Args)]
pub(crate) struct MigrateArgs {
    /// Print the statements instead of running them
    #[arg(long)]
    dry_run: bool,
}

pub(crate) async fn run(ctx: &Context, command: SchemaCommand) -> Outcome {
    // With --cluster, the configuration of that cluster's schema.
    let config = match &command {
        SchemaCommand::Apply(ApplyArgs {
            cluster: Some(name),
            ..
        }) => ctx
            .config
            .clone()
            .into_builder()
            .cluster(ClusterConfig::new(name))
            .and_then(|b| b.build_config())
            .map_err(|e| Failure::usage(format!("--cluster: {e}")))?,
        _ => ctx.config.clone(),
    };
    let mut out = Out::new();
    if let SchemaCommand::Apply(ApplyArgs { print: true, .. }) = &command {
        for statement in schema::statements(&config) {
            out.line(&format!("{statement};"))?;
        }
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let before = ctx.ask(schema::status(&config)).await?;
    let code = match command {
        SchemaCommand::Status(args) => {
            let lines = match args.json {
                true => vec![status_json(&before).to_string()],
                false => status_lines(&before, &ctx.config.url(), ctx.palette),
            };
            for line in lines {
                out.line(&line)?;
            }
            match before.is_current() {
                true => ExitCode::SUCCESS,
                false => ExitCode::from(status::ATTENTION),
            }
        }
        SchemaCommand::Apply(_) => {
            let applied = ctx.ask(schema::apply(&config)).await?;
            let created: Vec<&str> = before.missing().map(|t| t.name.as_str()).collect();
            let db = escape(&before.database);
            match applied.from {
                None => out.line(&format!(
                    "created the schema (version {}) in database {db}: {} tables and views",
                    applied.to,
                    created.len()
                ))?,
                Some(from) => {
                    for version in &applied.migrated {
                        out.line(&format!("migrated database {db} to version {version}"))?;
                    }
                    if !created.is_empty() {
                        out.line(&format!("created what was missing: {}", created.join(", ")))?;
                    }
                    if applied.migrated.is_empty() && created.is_empty() {
                        out.line(&format!(
                            "database {db} is at version {from}: nothing to do"
                        ))?;
                    }
                }
            }
            for note in &applied.notes {
                out.line(&format!("note: {note}"))?;
            }
            ExitCode::SUCCESS
        }
        SchemaCommand::Migrate(args) => {
            let Some(from) = before.installed else {
                return Err(Failure::new(
                    status::SCHEMA,
                    format!(
                        "database {} has no schema to migrate: `chlog schema apply` creates it",
                        escape(&before.database)
                    ),
                ));
            };
            if before.is_newer() {
                return Err(Failure::new(
                    status::SCHEMA,
                    format!(
                        "database {} has schema version {from}, newer than this chlog knows ({}): \
                         upgrade chlog",
                        escape(&before.database),
                        before.known
                    ),
                ));
            }
            if before.pending.is_empty() {
                out.line(&format!(
                    "database {} is at version {from}: no migration to run",
                    escape(&before.database)
                ))?;
            } else if args.dry_run {
                for migration in &before.pending {
                    out.line(&format!("-- to version {}", migration.version))?;
                    for statement in &migration.statements {
                        out.line(&format!("{statement};"))?;
                    }
                }
            } else {
                let applied = ctx.ask(schema::apply(&ctx.config)).await?;
                for version in &applied.migrated {
                    out.line(&format!(
                        "migrated database {} to version {version}",
                        escape(&before.database)
                    ))?;
                }
            }
            ExitCode::SUCCESS
        }
    };
    out.flush()?;
    Ok(code)
}

/// What `status` prints.
pub(crate) fn status_lines(status: &SchemaStatus, url: &str, palette: Palette) -> Vec<String> {
    let db = escape(&status.database);
    let version = match status.installed {
        None => palette.paint(RED, "no schema"),
        Some(v) if v == status.known => palette.paint(GREEN, &format!("version {v}")),
        Some(v) => palette.paint(YELLOW, &format!("version {v}")),
    };
    let verdict = match (status.is_current(), status.is_newer()) {
        (true, _) => "up to date".to_owned(),
        (false, true) => "newer than this chlog: upgrade chlog".to_owned(),
        (false, false) => "`chlog schema apply` would change it".to_owned(),
    };
    let mut lines = vec![format!(
        "database {} at {url}: {version} (this chlog applies version {}); {verdict}",
        palette.paint(BOLD, &db),
        status.known
    )];
    let mut table = Table::new(&[
        ("table", Align::Left),
        ("engine", Align::Left),
        ("TTL", Align::Left),
    ]);
    for t in &status.tables {
        let ttl = match (&t.ttl, t.ttl_days) {
            (_, Some(days)) => format!("{days} days"),
            (Some(ttl), None) => escape(ttl),
            (None, None) => "-".into(),
        };
        let ttl = match (t.exists, t.configured_ttl_days, t.ttl_days) {
            (true, Some(want), Some(have)) if want != have => {
                format!(
                    "{ttl} (configured {want}: apply keeps the table's; ALTER TABLE ... MODIFY TTL changes it)"
                )
            }
            _ => ttl,
        };
        match t.exists {
            true => table.row(vec![escape(&t.name), escape(&t.engine), ttl]),
            false => table.styled_row(vec![
                (escape(&t.name), RED),
                ("missing: apply creates it".into(), RED),
                (
                    t.configured_ttl_days
                        .map_or("-".into(), |d| format!("{d} days")),
                    Default::default(),
                ),
            ]),
        }
    }
    lines.extend(table.render(palette));
    for migration in &status.pending {
        lines.push(format!("migration to version {}:", migration.version));
        for statement in &migration.statements {
            lines.push(format!(
                "  {};",
                statement.split_whitespace().collect::<Vec<_>>().join(" ")
            ));
        }
    }
    lines
}

fn status_json(status: &SchemaStatus) -> serde_json::Value {
    json!({
        "database": status.database,
        "installed": status.installed,
        "known": status.known,
        "current": status.is_current(),
        "tables": status.tables.iter().map(|t| json!({
            "name": t.name, "exists": t.exists, "engine": t.engine, "ttl": t.ttl,
            "ttl_days": t.ttl_days, "configured_ttl_days": t.configured_ttl_days,
        })).collect::<Vec<_>>(),
        "pending": status.pending.iter().map(|m| json!({
            "version": m.version, "statements": m.statements,
        })).collect::<Vec<_>>(),
    })
}
