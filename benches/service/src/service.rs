//! The service under load: `GET /items/{id}` logs one `info!` inside
//! tower-http's `TraceLayer`, with one of the subscribers the bench compares.
//!
//! It prints `listening PORT` once it accepts connections, serves until its
//! stdin closes, then shuts its telemetry down and prints what it did as
//! `key=value` lines (`requests=`, and for our modes the pipeline's
//! counters).

use std::any::Any;
use std::io::{BufRead, Write};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use tower_http::trace::{DefaultMakeSpan, DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tracing::Level;
use tracing_subscriber::EnvFilter;

/// The subscriber the service runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// No subscriber at all: the floor.
    None,
    /// `tracing_subscriber::fmt().json()` into `tracing_appender::non_blocking(file)`.
    Fmt,
    /// `tracing_clickhouse::init()` (with its console on stderr).
    Init,
    /// `tracing_clickhouse::builder().console(false).install()`.
    ConsoleOff,
}

impl Mode {
    pub(crate) const ALL: [Mode; 4] = [Mode::None, Mode::Fmt, Mode::Init, Mode::ConsoleOff];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::None => "none",
            Mode::Fmt => "fmt",
            Mode::Init => "init",
            Mode::ConsoleOff => "console-off",
        }
    }

    /// Whether the mode stores rows in ClickHouse.
    pub(crate) fn is_ours(self) -> bool {
        matches!(self, Mode::Init | Mode::ConsoleOff)
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Mode::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("--mode: {s:?} is not one of none, fmt, init, console-off"))
    }
}

/// The levels of tower-http's `TraceLayer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Levels {
    /// Its defaults: the span and the request/response events at DEBUG, so
    /// an `info` filter leaves one log row per request (the handler's).
    Default,
    /// The span and both events at INFO: 3 log rows and 1 span per request.
    Info,
}

impl Levels {
    pub(crate) const ALL: [Levels; 2] = [Levels::Default, Levels::Info];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Levels::Default => "default",
            Levels::Info => "info",
        }
    }

    /// Log rows and spans stored per request.
    pub(crate) fn rows_per_request(self) -> (u64, u64) {
        match self {
            Levels::Default => (1, 0),
            Levels::Info => (3, 1),
        }
    }
}

impl FromStr for Levels {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Levels::ALL
            .into_iter()
            .find(|l| l.name() == s)
            .ok_or_else(|| format!("--levels: {s:?} is not one of default, info"))
    }
}

/// What `serve` is told.
#[derive(Debug)]
pub(crate) struct Serve {
    pub(crate) mode: Mode,
    pub(crate) levels: Levels,
    /// Our modes: encode and discard the batches (no server).
    pub(crate) dry_run: bool,
    /// Where `fmt` writes.
    pub(crate) fmt_file: std::path::PathBuf,
}

/// Runs the service until stdin closes.
pub(crate) fn serve(serve: Serve) -> Result<(), String> {
    let telemetry = subscriber(&serve)?;
    let served = Arc::new(AtomicU64::new(0));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    runtime.block_on(run(serve.levels, Arc::clone(&served)))?;
    drop(runtime);
    let mut out = format!("requests={}\n", served.load(Relaxed));
    match telemetry {
        Telemetry::Ours(telemetry) => {
            let report = telemetry.shutdown(Duration::from_secs(60));
            let stats = report.stats;
            out += &format!(
                "queued={}\nsent_rows={}\nmetrics_rows={}\ndropped={}\ndropped_queue_full={}\n\
                 unsent={}\n",
                stats.queued,
                stats.sent_rows,
                stats.metrics_rows,
                stats.dropped(),
                stats.dropped_queue_full,
                report.unsent_rows
            );
        }
        Telemetry::Other(guard) => drop(guard),
    }
    let mut stdout = std::io::stdout();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("stdout: {e}"))
}

/// The guard of the subscriber the mode installed.
enum Telemetry {
    Ours(Box<tracing_clickhouse::Telemetry>),
    /// Kept until the end (fmt's worker guard flushes when dropped).
    Other(#[allow(dead_code)] Option<Box<dyn Any>>),
}

fn subscriber(serve: &Serve) -> Result<Telemetry, String> {
    let ours = |console: bool| {
        let builder = tracing_clickhouse::builder();
        let builder = match console {
            true => builder,
            false => builder.console(false),
        };
        builder
            .dry_run(serve.dry_run)
            .install()
            .map(|telemetry| Telemetry::Ours(Box::new(telemetry)))
            .map_err(|e| format!("tracing-clickhouse: {e}"))
    };
    match serve.mode {
        Mode::None => Ok(Telemetry::Other(None)),
        Mode::Fmt => {
            let file = std::fs::File::create(&serve.fmt_file)
                .map_err(|e| format!("{}: {e}", serve.fmt_file.display()))?;
            let (writer, guard) = tracing_appender::non_blocking(file);
            tracing_subscriber::fmt()
                .json()
                .with_env_filter(EnvFilter::new("info"))
                .with_writer(writer)
                .init();
            Ok(Telemetry::Other(Some(Box::new(guard))))
        }
        Mode::Init => ours(true),
        Mode::ConsoleOff => ours(false),
    }
}

async fn item(Path(id): Path<u64>, State(served): State<Arc<AtomicU64>>) -> String {
    served.fetch_add(1, Relaxed);
    tracing::info!(item = id, "item requested");
    format!("item {id}\n")
}

async fn run(levels: Levels, served: Arc<AtomicU64>) -> Result<(), String> {
    let router = Router::new()
        .route("/items/{id}", get(item))
        .with_state(served);
    let router = match levels {
        Levels::Default => router.layer(TraceLayer::new_for_http()),
        Levels::Info => router.layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_request(DefaultOnRequest::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        ),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    println!("listening {port}");
    let _ = std::io::stdout().flush();
    let (closed, stdin_closed) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        // Until the driver closes our stdin.
        for _ in std::io::stdin().lock().lines() {}
        let _ = closed.send(());
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = stdin_closed.await;
        })
        .await
        .map_err(|e| format!("serve: {e}"))
}
