//! Numbers, sizes, durations and times, for people.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `12,345`.
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `512 B`, `1.5 KiB`, `3.2 GiB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{} {}", significant(value, 3), UNITS[unit])
}

/// `850 ns`, `12.3 µs`, `45.6 ms`, `1.23 s`, `2m 03s`, `1h 02m`.
pub(crate) fn duration(d: Duration) -> String {
    let ns = d.as_nanos();
    let secs = d.as_secs();
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{} µs", significant(ns as f64 / 1e3, 3)),
        1_000_000..1_000_000_000 => format!("{} ms", significant(ns as f64 / 1e6, 3)),
        _ if secs < 60 => format!("{} s", significant(d.as_secs_f64(), 3)),
        _ if secs < 3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ if secs < 86_400 => format!("{}h {:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d {:02}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

/// `41.2/s`.
pub(crate) fn rate(per_second: f64) -> String {
    format!("{}/s", number(per_second))
}

/// `12.5 %`.
pub(crate) fn percent(share: f64) -> String {
    format!("{:.1} %", share * 100.0)
}

/// A measured value: whole numbers as they are, others with four
/// significant digits (`0.01234`, `12.35`), huge and tiny ones in exponent
/// form.
pub(crate) fn number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v == v.trunc() && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    if v.abs() >= 1e15 || v.abs() < 1e-4 {
        return format!("{v:.3e}");
    }
    significant(v, 4)
}

/// `v` with `digits` significant digits, trailing zeros dropped.
fn significant(v: f64, digits: i32) -> String {
    let magnitude = if v == 0.0 {
        0
    } else {
        v.abs().log10().floor() as i32
    };
    let decimals = (digits - 1 - magnitude).max(0) as usize;
    let text = format!("{v:.decimals$}");
    match text.contains('.') {
        true => text.trim_end_matches('0').trim_end_matches('.').to_owned(),
        false => text,
    }
}

/// RFC 3339 in UTC with microseconds: `2026-12-01T10:12:59.048668Z`.
pub(crate) fn time(ns: i64) -> String {
    humantime::format_rfc3339_micros(at(ns)).to_string()
}

/// The time of day: `10:12:59`.
pub(crate) fn short_time(ns: i64) -> String {
    humantime::format_rfc3339_seconds(at(ns)).to_string()[11..19].to_owned()
}

/// RFC 3339 in UTC with nanoseconds: `2026-12-01T10:12:59.048668123Z`.
pub(crate) fn rfc3339_nanos(ns: i64) -> String {
    humantime::format_rfc3339_nanos(at(ns)).to_string()
}

fn at(ns: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(u64::try_from(ns).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_bytes() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(10 * 1024 * 1024), "10 MiB");
        assert_eq!(bytes(u64::MAX), "16384 PiB");
    }

    #[test]
    fn durations_numbers_and_times() {
        let ms = Duration::from_millis;
        assert_eq!(duration(Duration::from_nanos(850)), "850 ns");
        assert_eq!(duration(Duration::from_nanos(12_345)), "12.3 µs");
        assert_eq!(duration(ms(45)), "45 ms");
        assert_eq!(duration(ms(1234)), "1.23 s");
        assert_eq!(duration(ms(123_000)), "2m 03s");
        assert_eq!(duration(Duration::from_secs(3720)), "1h 02m");
        assert_eq!(duration(Duration::from_secs(90_000)), "1d 01h");
        assert_eq!(number(42.0), "42");
        assert_eq!(number(12.3456), "12.35");
        assert_eq!(number(0.012346), "0.01235");
        assert_eq!(number(-0.5), "-0.5");
        assert_eq!(number(1e-9), "1.000e-9");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(rate(0.25), "0.25/s");
        assert_eq!(percent(0.125), "12.5 %");
        let ns = 1_796_119_200_123_456_789;
        assert_eq!(time(ns), "2026-12-01T10:00:00.123456Z");
        assert_eq!(short_time(ns), "10:00:00");
        assert_eq!(time(-5), "1970-01-01T00:00:00.000000Z");
    }
}
