//! Readings: a process's CPU time and memory from `/proc`, and wrk's report.

use std::time::Duration;

/// CPU time a process has used so far (user and system, all its threads).
pub(crate) fn cpu_time(pid: u32) -> Result<Duration, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // The command name is in parentheses and may hold spaces: fields count
    // from after its closing one. utime and stime are fields 14 and 15.
    let after = stat
        .rsplit_once(')')
        .ok_or_else(|| format!("/proc/{pid}/stat: {stat:?}"))?
        .1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> Result<u64, String> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("/proc/{pid}/stat: field {i} of {after:?}"))
    };
    // Field 3 is the first after the name: utime is 14, at index 11.
    let total = ticks(11)? + ticks(12)?;
    Ok(Duration::from_secs_f64(
        total as f64 / clock_ticks_per_second(),
    ))
}

/// `sysconf(_SC_CLK_TCK)`: 100 on Linux for every architecture we run on
/// (the kernel's USER_HZ, fixed by its ABI).
fn clock_ticks_per_second() -> f64 {
    100.0
}

/// The resident set and its peak so far, in bytes.
pub(crate) fn memory(pid: u32) -> Result<(u64, u64), String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    let kib = |name: &str| -> Result<u64, String> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .map(|n| n * 1024)
            .ok_or_else(|| format!("/proc/{pid}/status: no {name}"))
    };
    Ok((kib("VmRSS:")?, kib("VmHWM:")?))
}

/// What wrk reported.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Load {
    pub(crate) requests: u64,
    pub(crate) per_second: f64,
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
    /// Connect, read, write and timeout errors, and non-2xx answers.
    pub(crate) errors: u64,
}

/// Parses `wrk --latency`'s output.
pub(crate) fn parse_wrk(text: &str) -> Result<Load, String> {
    let mut load = Load::default();
    let mut found = (false, false, false, false);
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", latency] => {
                load.p50 = duration(latency)?;
                found.0 = true;
            }
            ["99%", latency] => {
                load.p99 = duration(latency)?;
                found.1 = true;
            }
            [n, "requests", "in", ..] => {
                load.requests = n.parse().map_err(|_| format!("wrk: {line:?}"))?;
                found.2 = true;
            }
            ["Requests/sec:", n] => {
                load.per_second = n.parse().map_err(|_| format!("wrk: {line:?}"))?;
                found.3 = true;
            }
            ["Socket", "errors:", rest @ ..] => {
                // connect N, read N, write N, timeout N
                load.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            ["Non-2xx", "or", "3xx", "responses:", n] => {
                load.errors += n.parse::<u64>().unwrap_or(0);
            }
            _ => {}
        }
    }
    match found {
        (true, true, true, true) => Ok(load),
        _ => Err(format!("wrk's output lacks what we read: {text}")),
    }
}

/// `1.23ms`, `456.78us`, `1.02s`, as wrk prints latencies.
fn duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| format!("wrk latency {text:?}"))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("wrk latency {text:?}"))?;
    let seconds = match unit {
        "us" => number / 1e6,
        "ms" => number / 1e3,
        "s" => number,
        "m" => number * 60.0,
        _ => return Err(format!("wrk latency {text:?}")),
    };
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_output_is_read() {
        let text = "Running 10s test @ http://127.0.0.1:1/items/42
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   420.00us  300.00us  12.00ms   90.00%
    Req/Sec    70.00k     2.00k   75.00k    70.00%
  Latency Distribution
     50%  350.00us
     75%  450.00us
     90%  600.00us
     99%    2.52ms
  700000 requests in 10.00s, 80.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
Requests/sec:  69999.50
Transfer/sec:      8.00MB
";
        let load = parse_wrk(text).unwrap();
        assert_eq!(load.requests, 700_000);
        assert_eq!(load.p50, Duration::from_micros(350));
        assert_eq!(load.p99, Duration::from_micros(2520));
        assert_eq!(load.errors, 3);
        assert!((load.per_second - 69_999.5).abs() < 1e-6);
    }
}
