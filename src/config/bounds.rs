//! The bounds of every number and duration the configuration takes, and
//! the checks that hold a value to them, naming the setting it was given
//! as (the environment variable, the builder method or the section field).
//!
//! A bound is there where a value past it breaks something: memory
//! allocated up front (the queue's slots), a format's length fields (a
//! payload's texts, a spool record), an insert or a metrics row so often
//! that ClickHouse drowns in parts, a wait so short that retries spin, or a
//! time added to an `Instant` that would overflow it (every duration is at
//! most 365 days). Byte budgets that are only ceilings (the queue's heap
//! bytes, the memory kept for unsent batches, the spool's disk space, the
//! metric series kept) take any positive value.

use std::time::Duration;

use crate::error::{ConfigError, invalid};

/// Longest duration any setting takes (365 days): every interval, timeout
/// and backoff is added to an `Instant`, which a larger one could overflow.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// A range of counts (records, rows, bytes, days): what is counted, and
/// why the maximum (said in an error after the range).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Counts {
    pub(crate) min: u64,
    pub(crate) max: u64,
    unit: &'static str,
    why: &'static str,
}

/// Records the queue holds: its 256-byte slots are allocated at start, so
/// at most 1 GiB of them.
pub(crate) const QUEUE_CAPACITY: Counts = Counts::new(
    1,
    1 << 22,
    "records",
    "the queue's 256-byte slots are allocated at start: at most 1 GiB",
);

/// Rows per insert: ten times ClickHouse's `max_insert_block_size`.
pub(crate) const BATCH_ROWS: Counts = Counts::new(1, 10_000_000, "rows", "");

/// Bytes per batch: a batch (and the row that closes it) must fit a spool
/// record, whose length field allows 1 GiB.
pub(crate) const BATCH_BYTES: Counts = Counts::new(
    1,
    512 << 20,
    "bytes",
    "512 MiB: a batch must fit a spool record",
);

/// A message or field value kept whole: texts carry a 32-bit length.
pub(crate) const TEXT_BYTES: Counts = Counts::new(1, 64 << 20, "bytes", "64 MiB");

/// Attempts to deliver one alert transition to a webhook.
#[cfg(feature = "alerts")]
pub(crate) const WEBHOOK_ATTEMPTS: Counts = Counts::new(1, 1000, "attempts", "");

/// Fields per event, span or `collect_log` context.
pub(crate) const FIELDS: Counts = Counts::new(0, 4096, "fields", "");

/// A budget that is only a ceiling.
pub(crate) const BUDGET: Counts = Counts::new(1, u64::MAX, "", "");

/// A table's TTL: up to a century.
pub(crate) const TTL_DAYS: Counts = Counts::new(1, 36_500, "days", "");

impl Counts {
    /// Counts of `unit` from `min` to `max`, for the reason `why` (empty:
    /// none worth saying).
    const fn new(min: u64, max: u64, unit: &'static str, why: &'static str) -> Counts {
        Counts {
            min,
            max,
            unit,
            why,
        }
    }

    /// What a valid count is: "a number of rows, 1-10000000 (why)", or
    /// "a positive integer" for a mere ceiling.
    fn rule(&self) -> String {
        match (self.max, self.why) {
            (u64::MAX, _) => "a positive integer".to_owned(),
            (max, "") => format!("a number of {}, {}-{max}", self.unit, self.min),
            (max, why) => format!("a number of {}, {}-{max} ({why})", self.unit, self.min),
        }
    }

    /// `n`, if it is within the bounds.
    pub(crate) fn check(&self, setting: &'static str, n: u64) -> Result<u64, ConfigError> {
        if (self.min..=self.max).contains(&n) {
            Ok(n)
        } else {
            Err(invalid(setting, &n.to_string(), self.rule()))
        }
    }

    /// A count written in decimal (an environment variable).
    pub(crate) fn parse(&self, setting: &'static str, raw: &str) -> Result<u64, ConfigError> {
        match raw.trim().parse::<u64>() {
            Ok(n) if (self.min..=self.max).contains(&n) => Ok(n),
            _ => Err(invalid(setting, raw, self.rule())),
        }
    }
}

/// A range of durations, from a minimum to [`MAX_DURATION`], and why the
/// minimum (said in an error after it).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Durations {
    pub(crate) min: Duration,
    why: &'static str,
}

/// Any positive duration up to [`MAX_DURATION`].
pub(crate) const POSITIVE: Durations = Durations::new(Duration::from_nanos(1), "");

/// A wait that may be zero (no wait), up to [`MAX_DURATION`].
pub(crate) const WAIT: Durations = Durations::new(Duration::ZERO, "");

/// How old a batch's oldest row gets: each batch is an insert, and
/// ClickHouse wants few of them.
pub(crate) const FLUSH_INTERVAL: Durations =
    Durations::new(Duration::from_millis(10), "each batch is an insert");

/// How often metric series (one row each) or the system are read and
/// written.
pub(crate) const SNAPSHOT_INTERVAL: Durations =
    Durations::new(Duration::from_secs(1), "each snapshot is a row per series");

/// How long an insert may take: shorter fails inserts that are merely
/// being written.
pub(crate) const INSERT_TIMEOUT: Durations = Durations::new(Duration::from_millis(100), "");

/// The longest wait between retries: at least the first one's.
pub(crate) const RETRY_BACKOFF: Durations =
    Durations::new(Duration::from_millis(100), "the first retry's wait");

/// Time between two evaluations of the alert rules: each is a query per rule.
#[cfg(feature = "alerts")]
pub(crate) const ALERT_INTERVAL: Durations = Durations::new(
    Duration::from_secs(1),
    "each evaluation is a query per rule",
);

/// A webhook's wait for an answer, or between two attempts.
#[cfg(feature = "alerts")]
pub(crate) const WEBHOOK_WAIT: Durations = Durations::new(Duration::from_millis(1), "");

/// Time between two checks of a service.
pub(crate) const CHECK_INTERVAL: Durations = Durations::new(Duration::from_millis(10), "");

impl Durations {
    /// Durations from `min`, for the reason `why` (empty: none worth saying).
    const fn new(min: Duration, why: &'static str) -> Durations {
        Durations { min, why }
    }

    /// What a valid duration is: "a duration from 10 ms (why) to 365 days".
    fn rule(&self) -> String {
        let why = match self.why {
            "" => String::new(),
            why => format!(" ({why})"),
        };
        match self.min {
            Duration::ZERO => "a duration of at most 365 days".to_owned(),
            min if min < Duration::from_millis(1) => {
                "a positive duration, at most 365 days".to_owned()
            }
            min if min.subsec_nanos() == 0 => {
                format!("a duration from {} s{why} to 365 days", min.as_secs())
            }
            min => format!("a duration from {} ms{why} to 365 days", min.as_millis()),
        }
    }

    /// The same in milliseconds (for the variables that take them).
    fn rule_ms(&self) -> String {
        // The fewest whole milliseconds that are at least the minimum.
        let least = self.min.as_nanos().div_ceil(1_000_000);
        let why = match self.why {
            "" => String::new(),
            why => format!("{why}; "),
        };
        format!(
            "a number of milliseconds, {least}-{} ({why}365 days)",
            MAX_DURATION.as_millis()
        )
    }

    /// `d`, if it is within the bounds.
    pub(crate) fn check(
        &self,
        setting: &'static str,
        d: Duration,
    ) -> Result<Duration, ConfigError> {
        if d >= self.min && d <= MAX_DURATION {
            Ok(d)
        } else {
            Err(invalid(setting, &format!("{d:?}"), self.rule()))
        }
    }

    /// A number of milliseconds (an environment variable).
    pub(crate) fn parse_millis(
        &self,
        setting: &'static str,
        raw: &str,
    ) -> Result<Duration, ConfigError> {
        match raw.trim().parse::<u64>().map(Duration::from_millis) {
            Ok(d) if d >= self.min && d <= MAX_DURATION => Ok(d),
            _ => Err(invalid(setting, raw, self.rule_ms())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_held_to_both_bounds() {
        assert_eq!(QUEUE_CAPACITY.check("S", 1).unwrap(), 1);
        assert_eq!(QUEUE_CAPACITY.check("S", 1 << 22).unwrap(), 1 << 22);
        for bad in [0, (1 << 22) + 1, u64::MAX] {
            let err = QUEUE_CAPACITY.check("S", bad).unwrap_err();
            assert!(err.to_string().contains("1 GiB"), "{err}");
        }
        assert!(FIELDS.check("S", 0).is_ok(), "no fields is a limit");
        assert!(QUEUE_CAPACITY.parse("S", " 16384 ").is_ok());
        for bad in ["-1", "0", "4194305", "1e9", "18446744073709551616", ""] {
            assert!(QUEUE_CAPACITY.parse("S", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_are_held_to_both_bounds() {
        let d = Duration::from_millis;
        assert!(FLUSH_INTERVAL.check("S", d(10)).is_ok());
        assert!(FLUSH_INTERVAL.check("S", d(9)).is_err());
        assert!(FLUSH_INTERVAL.check("S", MAX_DURATION).is_ok());
        assert!(FLUSH_INTERVAL.check("S", MAX_DURATION + d(1)).is_err());
        assert!(WAIT.check("S", Duration::ZERO).is_ok());
        assert!(POSITIVE.check("S", Duration::ZERO).is_err());
        assert!(SNAPSHOT_INTERVAL.parse_millis("S", "999").is_err());
        assert_eq!(
            SNAPSHOT_INTERVAL.parse_millis("S", "1000").unwrap(),
            d(1000)
        );
        let err = SNAPSHOT_INTERVAL.parse_millis("S", "1").unwrap_err();
        assert!(err.to_string().contains("1000-"), "{err}");
    }

    #[test]
    fn count_errors_say_the_range_and_why_its_maximum() {
        assert_eq!(
            QUEUE_CAPACITY.rule(),
            "a number of records, 1-4194304 (the queue's 256-byte slots are allocated at start: at most 1 GiB)"
        );
        assert_eq!(BATCH_ROWS.rule(), "a number of rows, 1-10000000");
        assert_eq!(BUDGET.rule(), "a positive integer");
    }

    #[test]
    fn errors_say_the_range_and_why_its_minimum() {
        let rules = |d: Durations| (d.rule(), d.rule_ms());
        assert_eq!(
            rules(FLUSH_INTERVAL),
            (
                "a duration from 10 ms (each batch is an insert) to 365 days".to_owned(),
                "a number of milliseconds, 10-31536000000 (each batch is an insert; 365 days)"
                    .to_owned()
            )
        );
        assert_eq!(
            rules(SNAPSHOT_INTERVAL).0,
            "a duration from 1 s (each snapshot is a row per series) to 365 days"
        );
        assert_eq!(
            rules(POSITIVE),
            (
                "a positive duration, at most 365 days".to_owned(),
                "a number of milliseconds, 1-31536000000 (365 days)".to_owned()
            )
        );
        assert_eq!(
            rules(WAIT),
            (
                "a duration of at most 365 days".to_owned(),
                "a number of milliseconds, 0-31536000000 (365 days)".to_owned()
            )
        );
    }
}
