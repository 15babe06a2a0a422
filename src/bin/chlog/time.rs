//! Times on the command line: a duration back from now, RFC 3339, `now`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing_clickhouse::query::TimeRange;

/// `text` as a point in time, `now` being now: `now`, a duration back
/// (`15m`, `1h30m`, `2d`), or RFC 3339 (`2026-12-01T10:00:00Z`,
/// `2026-12-01 10:00:00`, `2026-12-01`; UTC when no zone is given).
pub(crate) fn parse_time(text: &str, now: SystemTime) -> Result<SystemTime, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    if let Ok(back) = humantime::parse_duration(text) {
        return Ok(now
            .checked_sub(back)
            .filter(|t| *t >= UNIX_EPOCH)
            .unwrap_or(UNIX_EPOCH));
    }
    let full;
    let text = match text.len() {
        10 => {
            full = format!("{text}T00:00:00Z");
            full.as_str()
        }
        _ => text,
    };
    humantime::parse_rfc3339_weak(text).map_err(|_| {
        format!(
            "{text:?} is neither a duration back from now (30s, 15m, 1h, 2d) nor a UTC time \
             (2026-12-01T10:00:00Z)"
        )
    })
}

/// `--since` and `--until` parsed against one `now`; `default_since` back
/// from now when `--since` is not given.
pub(crate) fn range(
    since: Option<&str>,
    until: Option<&str>,
    default_since: Option<Duration>,
) -> Result<TimeRange, crate::fail::Failure> {
    let now = SystemTime::now();
    let since = match since {
        Some(text) => {
            Some(parse_time(text, now).map_err(|e| crate::fail::bad_option("--since", e))?)
        }
        None => default_since.and_then(|back| TimeRange::last(back).start),
    };
    let until = until
        .map(|text| parse_time(text, now).map_err(|e| crate::fail::bad_option("--until", e)))
        .transpose()?;
    if let (Some(since), Some(until)) = (since, until)
        && since >= until
    {
        return Err(crate::fail::bad_option(
            "--since",
            "it is not before --until",
        ));
    }
    Ok(range_of(since, until))
}

/// The range of two optional bounds (the command line's and the page's).
pub(crate) fn range_of(since: Option<SystemTime>, until: Option<SystemTime>) -> TimeRange {
    match (since, until) {
        (Some(since), Some(until)) => TimeRange::between(since, until),
        (Some(since), None) => TimeRange::since(since),
        (None, Some(until)) => TimeRange::until(until),
        (None, None) => TimeRange::default(),
    }
}

/// A duration option: `1s`, `500ms`, `5m`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e}"))
}

/// A bound as people write it: whole days as days (humantime would say a
/// year is "11months 30days 3h 50m 24s").
fn say(duration: Duration) -> String {
    const DAY: u64 = 24 * 60 * 60;
    match duration.as_secs() {
        secs if secs >= DAY && secs % DAY == 0 && duration.subsec_nanos() == 0 => {
            format!("{} days", secs / DAY)
        }
        _ => humantime::format_duration(duration).to_string(),
    }
}

/// The longest duration an option takes.
pub(crate) const YEAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// A parser of duration options from `min` to `max` (clap names the option
/// in its error).
pub(crate) fn duration_within(
    min: Duration,
    max: Duration,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    move |text| {
        let duration = parse_duration(text)?;
        if duration < min || duration > max {
            return Err(format!("{text:?} is not from {} to {}", say(min), say(max)));
        }
        Ok(duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_back_times_and_now() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(parse_time("now", now).unwrap(), now);
        assert_eq!(
            parse_time("1h", now).unwrap(),
            now - Duration::from_secs(3600)
        );
        assert_eq!(
            parse_time("1h30m", now).unwrap(),
            now - Duration::from_secs(5400)
        );
        let at = parse_time("2026-12-01T10:00:00Z", now).unwrap();
        assert_eq!(at, UNIX_EPOCH + Duration::from_secs(1_796_119_200));
        assert_eq!(parse_time("2026-12-01 10:00:00", now).unwrap(), at);
        assert_eq!(
            parse_time("2026-12-01", now).unwrap(),
            at - Duration::from_secs(36_000)
        );
        assert_eq!(parse_time("100000d", now).unwrap(), UNIX_EPOCH, "no panic");
        for bad in ["", "yesterday", "1 hour ago", "2026-13-01", "10:00"] {
            let error = parse_time(bad, now).unwrap_err();
            assert!(error.contains("duration"), "{bad}: {error}");
        }
    }

    #[test]
    fn a_range_must_run_forward() {
        assert!(range(Some("1h"), Some("2h"), None).is_err());
        let open = range(None, None, Some(Duration::from_secs(60))).unwrap();
        assert!(open.start.is_some() && open.end.is_none());
        assert!(
            range(Some("x"), None, None)
                .unwrap_err()
                .message
                .contains("--since")
        );
    }
}
