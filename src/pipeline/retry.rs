//! When a failed insert is tried again: the kind of failure decides the wait.
//!
//! Transient failures (a refused or reset connection, a timeout, an
//! overloaded server) back off exponentially from 100 ms up to the longest
//! wait, with jitter so many clients do not retry in step. Failures that
//! need a person (a refused login, a table that does not take the rows) wait
//! the longest at once, so they never spin; a missing table or database is
//! the exception when the pipeline manages the schema: it is created again
//! and the insert retried soon. A failure is reported once per outage, and
//! again when its kind changes.
//!
//! Time is given, not read: every method takes the instant it decides at,
//! so the tests drive a clock of their own.

use std::time::{Duration, Instant};

use crate::sink::{Failure, FailureKind};

/// The first wait after a failed insert; it doubles up to the longest.
pub(crate) const BACKOFF_MIN: Duration = Duration::from_millis(100);

/// What to do after a failed attempt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    /// Not before then.
    pub(crate) retry_at: Instant,
    /// Create the schema before the next attempt.
    pub(crate) create_schema: bool,
    /// What to tell a person, when there is news.
    pub(crate) report: Option<String>,
}

/// The state of retrying: how many attempts failed in a row, and the last
/// failure.
#[derive(Debug)]
pub(crate) struct Retry {
    failures: u32,
    retry_at: Option<Instant>,
    longest: Duration,
    /// Whether the pipeline creates missing tables.
    manages_schema: bool,
    last: Option<Failure>,
}

impl Retry {
    pub(crate) fn new(longest: Duration, manages_schema: bool) -> Self {
        Retry {
            failures: 0,
            retry_at: None,
            longest,
            manages_schema,
            last: None,
        }
    }

    /// Decides after a failed attempt at `now`. `jitter_seed` (any number)
    /// spreads the wait between 75 % and 125 % of its base.
    pub(crate) fn failed(&mut self, failure: Failure, now: Instant, jitter_seed: u64) -> Decision {
        self.failures = self.failures.saturating_add(1);
        let create_schema = failure.missing_table && self.manages_schema;
        let base = if create_schema || failure.kind == FailureKind::Transient {
            let doubled = BACKOFF_MIN.saturating_mul(1 << self.failures.min(16).saturating_sub(1));
            doubled.min(self.longest)
        } else {
            self.longest
        };
        let jitter = 0.75 + (jitter_seed % 1000) as f64 / 2000.0;
        let retry_at = now + base.mul_f64(jitter);
        self.retry_at = Some(retry_at);
        let news = self
            .last
            .as_ref()
            .is_none_or(|last| last.kind != failure.kind);
        let report = news.then(|| {
            let message = &failure.message;
            if create_schema {
                format!("{message}; creating the schema again")
            } else if failure.kind == FailureKind::Transient {
                format!("{message}; keeping the rows and retrying")
            } else {
                format!(
                    "ClickHouse refuses the rows and will until this is fixed: {message}; \
                     keeping them and trying again every {:?}",
                    self.longest
                )
            }
        });
        self.last = Some(failure);
        Decision {
            retry_at,
            create_schema,
            report,
        }
    }

    /// After an acknowledged attempt; returns whether it ends an outage.
    pub(crate) fn succeeded(&mut self) -> bool {
        let recovered = self.failures > 0;
        self.failures = 0;
        self.retry_at = None;
        self.last = None;
        recovered
    }

    /// Whether an attempt may start at `now`.
    pub(crate) fn ready(&self, now: Instant) -> bool {
        self.retry_at.is_none_or(|at| now >= at)
    }

    /// When the next attempt may start, if it must wait.
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// Whether the next attempt re-sends a batch that failed.
    pub(crate) fn is_retrying(&self) -> bool {
        self.failures > 0
    }

    /// The last failure's message, while failing.
    pub(crate) fn last_error(&self) -> Option<&str> {
        self.last.as_ref().map(|f| f.message.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONGEST: Duration = Duration::from_secs(10);
    /// A jitter seed for a factor of exactly 1.
    const NO_JITTER: u64 = 500;

    fn failure(kind: FailureKind, missing_table: bool) -> Failure {
        Failure {
            kind,
            missing_table,
            maybe_stored: false,
            message: format!("{kind:?} failure"),
        }
    }

    fn transient() -> Failure {
        failure(FailureKind::Transient, false)
    }

    #[test]
    fn transient_failures_back_off_exponentially_up_to_the_longest_wait() {
        let t0 = Instant::now();
        let mut retry = Retry::new(LONGEST, true);
        assert!(retry.ready(t0));
        let waits: Vec<Duration> = (0..10)
            .map(|_| retry.failed(transient(), t0, NO_JITTER).retry_at - t0)
            .collect();
        let expected = [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000];
        assert_eq!(waits, expected.map(Duration::from_millis));
        assert!(!retry.ready(t0 + Duration::from_secs(9)));
        assert!(retry.ready(t0 + LONGEST));
        assert!(retry.succeeded(), "the outage ends");
        assert!(!retry.succeeded(), "nothing was failing");
        assert!(retry.ready(t0));
    }

    #[test]
    fn jitter_keeps_the_wait_within_a_quarter_of_its_base() {
        let t0 = Instant::now();
        for seed in [0, 1, 250, 999, 1_000_000_007] {
            let mut retry = Retry::new(LONGEST, true);
            let wait = retry.failed(transient(), t0, seed).retry_at - t0;
            assert!(
                wait >= BACKOFF_MIN.mul_f64(0.75) && wait <= BACKOFF_MIN.mul_f64(1.25),
                "{seed}: {wait:?}"
            );
        }
    }

    #[test]
    fn failures_a_person_must_fix_wait_the_longest_at_once() {
        let t0 = Instant::now();
        for kind in [FailureKind::Auth, FailureKind::Schema] {
            let mut retry = Retry::new(LONGEST, true);
            let decision = retry.failed(failure(kind, false), t0, NO_JITTER);
            assert_eq!(decision.retry_at, t0 + LONGEST, "{kind:?}");
            assert!(!decision.create_schema);
            let report = decision.report.unwrap();
            assert!(report.contains("until this is fixed"), "{report}");
        }
    }

    #[test]
    fn a_missing_table_is_created_again_only_when_the_pipeline_manages_the_schema() {
        let t0 = Instant::now();
        let missing = || failure(FailureKind::Schema, true);
        let mut managed = Retry::new(LONGEST, true);
        let decision = managed.failed(missing(), t0, NO_JITTER);
        assert!(decision.create_schema);
        assert_eq!(
            decision.retry_at,
            t0 + BACKOFF_MIN,
            "soon, not in ten seconds"
        );
        assert!(
            decision
                .report
                .unwrap()
                .contains("creating the schema again")
        );
        let mut unmanaged = Retry::new(LONGEST, false);
        let decision = unmanaged.failed(missing(), t0, NO_JITTER);
        assert!(!decision.create_schema);
        assert_eq!(decision.retry_at, t0 + LONGEST);
    }

    #[test]
    fn a_failure_is_reported_once_per_outage_and_when_its_kind_changes() {
        let t0 = Instant::now();
        let mut retry = Retry::new(LONGEST, true);
        let reports: Vec<bool> = [
            FailureKind::Transient,
            FailureKind::Transient,
            FailureKind::Auth,
            FailureKind::Auth,
            FailureKind::Transient,
        ]
        .into_iter()
        .map(|kind| {
            retry
                .failed(failure(kind, false), t0, NO_JITTER)
                .report
                .is_some()
        })
        .collect();
        assert_eq!(reports, [true, false, true, false, true]);
        assert_eq!(retry.last_error(), Some("Transient failure"));
        assert!(retry.is_retrying());
        retry.succeeded();
        assert_eq!((retry.last_error(), retry.is_retrying()), (None, false));
        assert!(retry.failed(transient(), t0, NO_JITTER).report.is_some());
    }
}
