//! Capture-time stamps.
//!
//! Reading the wall clock (`SystemTime::now`, a `clock_gettime` through the
//! vDSO) costs about 35 ns on a virtual machine, a quarter of what capturing
//! an event costs. The application thread instead reads the CPU's
//! time-stamp counter through `quanta` (about 10 ns; `quanta` falls back on
//! the monotonic clock where the counter is not usable), and the flusher
//! turns those ticks into Unix nanoseconds against an [`Anchor`]: a tick
//! reading and a wall-clock reading taken together, fresh for every drain.
//! A record is converted within seconds of its capture, so the counter's
//! calibration error (parts per million) shifts it by microseconds at most,
//! and a step of the wall clock (NTP) reaches the rows from the next drain on.

use crate::record::now_ns;

/// The counter the application thread reads.
#[derive(Clone, Debug)]
pub(crate) struct Clock(quanta::Clock);

impl Clock {
    /// The counter (calibrated once per process, in about a millisecond).
    pub(crate) fn new() -> Self {
        Clock(quanta::Clock::new())
    }

    /// Now, in ticks of the counter.
    #[inline]
    pub(crate) fn ticks(&self) -> u64 {
        self.0.raw()
    }

    /// Nanoseconds from `start` to `end` (ticks); 0 if `end` is not later.
    pub(crate) fn nanos_between(&self, start: u64, end: u64) -> u64 {
        self.0.delta_as_nanos(start, end)
    }

    /// Ticks and wall clock, now.
    pub(crate) fn anchor(&self) -> Anchor {
        Anchor {
            ticks: self.ticks(),
            unix_ns: now_ns(),
            clock: self.clone(),
        }
    }
}

/// A tick reading and the wall clock at that moment.
#[derive(Clone, Debug)]
pub(crate) struct Anchor {
    ticks: u64,
    unix_ns: i64,
    clock: Clock,
}

impl Anchor {
    /// The Unix time, in nanoseconds, of a tick reading.
    #[inline]
    pub(crate) fn unix_ns(&self, ticks: u64) -> i64 {
        let offset = |start, end| i64::try_from(self.clock.nanos_between(start, end));
        if ticks <= self.ticks {
            self.unix_ns
                .saturating_sub(offset(ticks, self.ticks).unwrap_or(i64::MAX))
        } else {
            self.unix_ns
                .saturating_add(offset(self.ticks, ticks).unwrap_or(i64::MAX))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ticks_become_the_wall_clock_time_they_were_read_at() {
        let clock = Clock::new();
        let before = now_ns();
        let ticks = clock.ticks();
        let after = now_ns();
        std::thread::sleep(Duration::from_millis(20));
        let anchor = clock.anchor();
        let stamped = anchor.unix_ns(ticks);
        // Within the reading's own window, give or take the calibration.
        let slack = 200_000; // 0.2 ms
        assert!(
            stamped >= before - slack && stamped <= after + slack,
            "{before} <= {stamped} <= {after}"
        );
        let later = clock.ticks();
        assert!(anchor.unix_ns(later) >= anchor.unix_ns(ticks) + 20_000_000);
    }

    #[test]
    fn intervals_are_measured_in_nanoseconds() {
        let clock = Clock::new();
        let start = clock.ticks();
        std::thread::sleep(Duration::from_millis(30));
        let ns = clock.nanos_between(start, clock.ticks());
        assert!((29_000_000..300_000_000).contains(&ns), "{ns}");
        assert_eq!(clock.nanos_between(10, 5), 0);
    }
}
