//! `chlog`: the terminal tool over what tracing-clickhouse stores. A thin
//! layer: the command line, calls into the library's `query`, `schema` and
//! `health` modules, and rendering.

// The options' doc comments are clap's help text (`[env: ...]`, `[:port]`),
// not links.
#![allow(rustdoc::broken_intra_doc_links)]

mod args;
mod cmd;
mod conn;
mod fail;
mod out;
mod parquet;
mod render;
mod rows;
mod time;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use fail::Failure;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(failure) => failure.report(),
    }
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::other(format!("cannot start: {e}")))?;
    let ctx = conn::Context::new(&cli.global)?;
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Logs(args) => cmd::logs::run(&ctx, args).await,
            Command::Stats(args) => cmd::stats::run(&ctx, args).await,
            Command::Metrics(args) => cmd::metrics::run(&ctx, args).await,
            Command::Events(args) => cmd::events::run(&ctx, args).await,
            Command::Trace(args) => cmd::trace::run(&ctx, args).await,
            Command::Slow(args) => cmd::slow::run(&ctx, args).await,
            Command::Export(args) => cmd::export::run(&ctx, args).await,
            Command::Schema(command) => cmd::schema::run(&ctx, command).await,
            Command::Health(args) => cmd::health::run(&ctx, args).await,
            Command::Ui(args) => cmd::ui::run(&ctx, args).await,
            Command::Alerts(command) => cmd::alerts::run(&ctx, command).await,
        }
    });
    // The runtime's connections go without waiting for the server.
    runtime.shutdown_background();
    match outcome {
        Err(failure) if failure.is_broken_pipe() => Ok(ExitCode::SUCCESS),
        other => other,
    }
}
