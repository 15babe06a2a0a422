//! The options every command takes, the configuration (the library's, from
//! the environment, with those options in its place) and the client every
//! command asks through.

use std::future::Future;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use tracing_clickhouse::query::QueryClient;
use tracing_clickhouse::{Builder, Config, ConfigError, Error};

use crate::fail::{Failure, status};
use crate::render::Palette;

/// Options every command takes.
#[derive(Debug, Args)]
#[command(next_help_heading = "Connection and output (every command)")]
pub(crate) struct Global {
    /// ClickHouse's URL, http(s)://host[:port] [env: CLICKHOUSE_URL]
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) url: Option<String>,
    /// Server host [env: CLICKHOUSE_HOST]
    #[arg(long, global = true)]
    pub(crate) host: Option<String>,
    /// HTTP(S) port [env: CLICKHOUSE_PORT]
    #[arg(long, global = true)]
    pub(crate) port: Option<u16>,
    /// Use HTTPS: true or false [env: CLICKHOUSE_SECURE]
    #[arg(long, global = true, value_name = "BOOL", hide_possible_values = true)]
    pub(crate) secure: Option<bool>,
    /// User [env: CLICKHOUSE_USER]
    #[arg(long, global = true)]
    pub(crate) user: Option<String>,
    /// Read the password from this file (its first line) [env: CLICKHOUSE_PASSWORD]
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) password_file: Option<PathBuf>,
    /// Database [env: CLICKHOUSE_DATABASE]
    #[arg(long, short = 'd', global = true, value_name = "NAME")]
    pub(crate) database: Option<String>,
    /// PEM file of CAs to trust for HTTPS [env: CLICKHOUSE_CA_CERT]
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) ca_cert: Option<PathBuf>,
    /// Give up on ClickHouse after this long without an answer (1ms to 365d)
    #[arg(long, global = true, default_value = "30s", value_name = "DURATION",
          value_parser = crate::time::duration_within(Duration::from_millis(1), crate::time::YEAR))]
    pub(crate) timeout: Duration,
    /// Color: auto (on a terminal, unless NO_COLOR is set), always, never
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, hide_possible_values = true)]
    pub(crate) color: ColorChoice,
}

/// When to color the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// What every command runs with.
pub(crate) struct Context {
    pub(crate) config: Config,
    pub(crate) client: QueryClient,
    /// How long to wait for an answer.
    pub(crate) timeout: Duration,
    /// Colors for stdout.
    pub(crate) palette: Palette,
}

impl Context {
    pub(crate) fn new(global: &Global) -> Result<Context, Failure> {
        let config = config(global).map_err(|e| Failure::usage(by_flag(e).to_string()))?;
        let client = QueryClient::new(&config).map_err(|e| {
            let e = match e {
                Error::Config(e) => Error::Config(by_flag(e)),
                other => other,
            };
            Failure::new(status::USAGE, e.to_string())
        })?;
        Ok(Context {
            config,
            client,
            timeout: global.timeout,
            palette: Palette::new(colors(global.color, std::io::stdout().is_terminal())),
        })
    }

    /// The failure for a library error, with what to do about it.
    pub(crate) fn fail(&self, error: &Error) -> Failure {
        Failure::from_error(error, &self.config.url(), self.config.database())
    }

    /// Waits for `answer`, at most [`Context::timeout`].
    pub(crate) async fn ask<T>(
        &self,
        answer: impl Future<Output = tracing_clickhouse::Result<T>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(self.timeout, answer).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(self.fail(&error)),
            Err(_) => Err(self.timed_out()),
        }
    }

    pub(crate) fn timed_out(&self) -> Failure {
        Failure::new(
            status::UNREACHABLE,
            format!(
                "ClickHouse at {} did not answer within {} (--timeout)",
                self.config.url(),
                humantime::format_duration(self.timeout)
            ),
        )
    }
}

/// The library's configuration from the environment, with the options
/// given on the command line in its place.
fn config(global: &Global) -> Result<Config, ConfigError> {
    let mut builder = Builder::from_env();
    if let Some(url) = &global.url {
        builder = builder.url(url)?;
    }
    if let Some(host) = &global.host {
        builder = builder.host(host)?;
    }
    if let Some(port) = global.port {
        builder = builder.port(port)?;
    }
    if let Some(secure) = global.secure {
        builder = builder.secure(secure);
    }
    if let Some(user) = &global.user {
        builder = builder.user(user.clone());
    }
    if let Some(path) = &global.password_file {
        builder = builder.password(first_line(path)?);
    }
    if let Some(database) = &global.database {
        builder = builder.database(database)?;
    }
    if let Some(path) = &global.ca_cert {
        builder = builder.ca_cert(path.clone())?;
    }
    builder.build_config()
}

/// The setting a library error names, as the command line gave it: the
/// flag behind each builder setter `config` calls (it calls each only for
/// its flag, so the name is exact).
fn by_flag(error: ConfigError) -> ConfigError {
    const FLAGS: [(&str, &str); 7] = [
        ("Builder::url", "--url"),
        ("Builder::host", "--host"),
        ("Builder::port", "--port"),
        ("Builder::user", "--user"),
        ("Builder::password", "--password-file"),
        ("Builder::database", "--database"),
        ("Builder::ca_cert", "--ca-cert"),
    ];
    match FLAGS.iter().find(|(setter, _)| *setter == error.setting()) {
        Some((_, flag)) => error.with_setting(flag),
        None => error,
    }
}

/// Longest first line read from `--password-file`.
const MAX_PASSWORD_LINE: u64 = 4096;

/// The first line of `--password-file` (without its line break), reading
/// no further than it: the file may be a pipe (`<(pass show db)`) that
/// never ends, or a device.
fn first_line(path: &std::path::Path) -> Result<String, ConfigError> {
    use std::io::{BufRead, Read};
    let bad = |reason: &str| ConfigError::Invalid {
        setting: "--password-file",
        value: path.display().to_string(),
        reason: reason.to_owned(),
    };
    let file = std::fs::File::open(path).map_err(|e| bad(io_reason(&e)))?;
    let mut line = Vec::new();
    std::io::BufReader::new(file.take(MAX_PASSWORD_LINE + 1))
        .read_until(b'\n', &mut line)
        .map_err(|e| bad(io_reason(&e)))?;
    match line.last() {
        Some(b'\n') => {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        _ if line.len() as u64 > MAX_PASSWORD_LINE => {
            return Err(bad("its first line is longer than 4096 bytes"));
        }
        _ => {}
    }
    String::from_utf8(line).map_err(|_| bad("its first line is not UTF-8 text"))
}

fn io_reason(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file",
        std::io::ErrorKind::PermissionDenied => "permission denied",
        std::io::ErrorKind::IsADirectory => "a directory",
        _ => "cannot be read",
    }
}

/// Whether to color, given the choice and whether the output is a terminal:
/// `NO_COLOR` (set and not empty) turns `auto` off, `CLICOLOR_FORCE` on.
pub(crate) fn colors(choice: ColorChoice, terminal: bool) -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto if set("NO_COLOR") => false,
        ColorChoice::Auto if set("CLICOLOR_FORCE") => true,
        ColorChoice::Auto => terminal && std::env::var("TERM").map_or(true, |t| t != "dumb"),
    }
}
