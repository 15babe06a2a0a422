//! The bench: every mode at both levels, in rounds with the order rotated,
//! each run a fresh service process pinned to one core and loaded by wrk
//! from the other; with the pipeline's dry run (no server: only our own
//! cost), and against a devserver pinned to the load generator's core.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::measure::{Load, cpu_time, memory, parse_wrk};
use crate::service::{Levels, Mode};

/// What `run` is told.
#[derive(Debug)]
pub(crate) struct Options {
    pub(crate) rounds: usize,
    pub(crate) duration: Duration,
    pub(crate) warmup: Duration,
    pub(crate) connections: u32,
    /// `dry` (no server), `devserver`, or both.
    pub(crate) setups: Vec<Setup>,
    /// The repository (for the devserver and its venv).
    pub(crate) repo: PathBuf,
    /// Where runs keep their files (fmt's output, the services' stderr).
    pub(crate) out: PathBuf,
    /// The configurations to run (all, unless told).
    pub(crate) configs: Vec<(Mode, Levels)>,
}

/// Where the rows go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Setup {
    /// The pipeline's dry run: batches encoded and thrown away.
    Dry,
    /// A devserver on the load generator's core.
    Devserver,
}

/// The core the service runs on, and the one wrk and the devserver share.
const SERVICE_CORE: &str = "1";
const LOAD_CORE: &str = "0";

/// One run's readings.
#[derive(Debug, Default, Clone)]
pub(crate) struct Sample {
    pub(crate) load: Load,
    /// The service's CPU time per request, over the measured window.
    pub(crate) app_cpu: Duration,
    /// The devserver's, from the service's start to its exit, per request served.
    pub(crate) server_cpu: Option<Duration>,
    /// The service's resident memory: the median while loaded, and its peak.
    pub(crate) rss: u64,
    pub(crate) rss_peak: u64,
    /// Log rows and spans stored (or written, for fmt), and expected.
    pub(crate) rows: Option<(u64, u64)>,
    pub(crate) dropped: u64,
}

/// Runs every configuration `rounds` times and prints the table of medians.
pub(crate) fn run(options: &Options) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&options.out).map_err(|e| e.to_string())?;
    let configs = &options.configs;
    for &setup in &options.setups {
        let devserver = match setup {
            Setup::Dry => None,
            Setup::Devserver => Some(Devserver::start(options)?),
        };
        let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); configs.len()];
        for round in 0..options.rounds {
            for offset in 0..configs.len() {
                // Rotated: each round starts one configuration later.
                let at = (round + offset) % configs.len();
                let (mode, levels) = configs[at];
                let name = format!(
                    "{}-{}-{}-r{round}",
                    setup_name(setup),
                    mode.name(),
                    levels.name()
                );
                let sample = run_one(&exe, options, devserver.as_ref(), mode, levels, &name)?;
                eprintln!("{name}: {sample:?}");
                samples[at].push(sample);
            }
        }
        let table = crate::report::table(setup, configs, &samples, options);
        println!("{table}");
        let path = options.out.join(format!("{}.md", setup_name(setup)));
        std::fs::write(&path, &table).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

pub(crate) fn setup_name(setup: Setup) -> &'static str {
    match setup {
        Setup::Dry => "dry-run",
        Setup::Devserver => "devserver",
    }
}

fn run_one(
    exe: &Path,
    options: &Options,
    devserver: Option<&Devserver>,
    mode: Mode,
    levels: Levels,
    name: &str,
) -> Result<Sample, String> {
    let fmt_file = options.out.join(format!("{name}.json"));
    let database = name.replace('-', "_");
    let mut command = Command::new("taskset");
    command
        .args(["-c", SERVICE_CORE])
        .arg(exe)
        .args(["serve", "--mode", mode.name(), "--levels", levels.name()])
        .arg("--fmt-file")
        .arg(&fmt_file)
        .env("CLICKHOUSE_DATABASE", &database)
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(file(&options.out.join(format!("{name}.stderr")))?);
    match devserver {
        Some(server) => command.env("CLICKHOUSE_URL", &server.url),
        None => command.arg("--dry-run"),
    };
    let server_cpu_before = devserver.map(|s| cpu_time(s.pid)).transpose()?;
    let mut service = command
        .spawn()
        .map_err(|e| format!("start the service: {e}"))?;
    let pid = service.id();
    let mut stdout = BufReader::new(service.stdout.take().ok_or("no stdout")?);
    let port = listening_port(&mut stdout)?;
    let url = format!("http://127.0.0.1:{port}/items/42");
    wrk(options.connections, options.warmup, &url)?
        .wait_with_output()
        .map_err(|e| e.to_string())?;

    let cpu_before = cpu_time(pid)?;
    let started = Instant::now();
    let load = wrk(options.connections, options.duration, &url)?;
    let rss = sample_memory(pid, started + options.duration);
    let output = load.wait_with_output().map_err(|e| e.to_string())?;
    let cpu = cpu_time(pid)? - cpu_before;
    let (_, rss_peak) = memory(pid)?;
    let load = parse_wrk(&String::from_utf8_lossy(&output.stdout))?;

    // Closing its stdin stops the service; it says what it did.
    drop(service.stdin.take());
    let mut said = String::new();
    stdout
        .read_to_string(&mut said)
        .map_err(|e| e.to_string())?;
    let status = service.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!(
            "{name}: the service ended with {status}; see its stderr file"
        ));
    }
    let value = |key: &str| -> u64 {
        said.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let served = value("requests");
    let (logs_per, spans_per) = levels.rows_per_request();
    let rows = match (mode, devserver) {
        (Mode::None, _) => None,
        (Mode::Fmt, _) => Some((count_lines(&fmt_file)?, served * logs_per)),
        (_, Some(server)) => {
            let logs = server.count(&database, "logs")?;
            let spans = server.count(&database, "spans")?;
            Some((logs + spans, served * (logs_per + spans_per)))
        }
        // The dry run's discarded batches count as sent; metric snapshots too.
        (_, None) => Some((
            value("sent_rows") - value("metrics_rows"),
            served * (logs_per + spans_per),
        )),
    };
    let server_cpu = match (devserver, server_cpu_before) {
        (Some(server), Some(before)) => {
            Some((cpu_time(server.pid)? - before) / served.max(1) as u32)
        }
        _ => None,
    };
    let _ = std::fs::remove_file(&fmt_file);
    Ok(Sample {
        app_cpu: cpu / load.requests.max(1) as u32,
        load,
        server_cpu,
        rss,
        rss_peak,
        rows,
        dropped: value("dropped"),
    })
}

fn file(path: &Path) -> Result<std::fs::File, String> {
    std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn listening_port(stdout: &mut impl BufRead) -> Result<u16, String> {
    let mut line = String::new();
    stdout.read_line(&mut line).map_err(|e| e.to_string())?;
    line.trim()
        .strip_prefix("listening ")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("the service did not start: {line:?}"))
}

/// Starts wrk on the load generator's core.
fn wrk(connections: u32, duration: Duration, url: &str) -> Result<Child, String> {
    Command::new("taskset")
        .args(["-c", LOAD_CORE, "wrk", "-t1", "--latency"])
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("start wrk (is it installed? `make service-bench` installs it): {e}"))
}

/// The median of the process's resident memory, read every 250 ms until `until`.
fn sample_memory(pid: u32, until: Instant) -> u64 {
    let mut readings = Vec::new();
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(250));
        if let Ok((rss, _)) = memory(pid) {
            readings.push(rss);
        }
    }
    readings.sort_unstable();
    readings.get(readings.len() / 2).copied().unwrap_or(0)
}

fn count_lines(path: &Path) -> Result<u64, String> {
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text.iter().filter(|&&b| b == b'\n').count() as u64)
}

/// A devserver on the load generator's core, for the whole setup.
struct Devserver {
    child: Child,
    pid: u32,
    url: String,
    _data: PathBuf,
}

impl Devserver {
    fn start(options: &Options) -> Result<Devserver, String> {
        let data = options.out.join("devserver-data");
        let _ = std::fs::remove_dir_all(&data);
        let python = options.repo.join(".venv/bin/python");
        let mut child = Command::new("taskset")
            .args(["-c", LOAD_CORE])
            .arg(&python)
            .arg(options.repo.join("devserver/chdevserver.py"))
            .args(["--port", "0", "--stdin-watch", "--data"])
            .arg(&data)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                format!(
                    "start the devserver with {} (`make venv`): {e}",
                    python.display()
                )
            })?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().ok_or("no stdout")?)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http"))
            .ok_or_else(|| format!("the devserver did not start: {line:?}"))?
            .to_owned();
        let pid = child.id();
        Ok(Devserver {
            child,
            pid,
            url,
            _data: data,
        })
    }

    /// `SELECT count() FROM database.table`, over plain HTTP.
    fn count(&self, database: &str, table: &str) -> Result<u64, String> {
        let address = self.url.trim_start_matches("http://");
        let query = format!("SELECT%20count()%20FROM%20{database}.{table}");
        let mut stream = std::net::TcpStream::connect(address).map_err(|e| e.to_string())?;
        write!(
            stream,
            "GET /?query={query} HTTP/1.0\r\nHost: {address}\r\n\r\n"
        )
        .map_err(|e| e.to_string())?;
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .map_err(|e| e.to_string())?;
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default().trim();
        body.parse()
            .map_err(|_| format!("count of {database}.{table}: {answer:?}"))
    }
}

impl Drop for Devserver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
