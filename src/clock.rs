//! Capture-time stamps.
//!
//! Reading the wall clock (`SystemTime::now`, a `clock_gettime` through the
//! vDSO) costs about 35 ns on a virtual machine, a quarter of what capturing
//! an event costs. The application thread instead reads the CPU's
//! time-stamp counter through `quanta` (about 10 ns; `quanta` falls back on
//! the monotonic clock where the counter is not usable), and the flusher
//! turns those ticks into Unix nanoseconds against an [`Anchor`]: a tick
//! reading and a wall-clock reading taken together, renewed for every drain
//! (and never so that one thread's stamps go back, see [`Anchor`]).
//! A record is converted within seconds of its capture, so the counter's
//! calibration error (parts per million) shifts it by microseconds at most,
//! and a step of the wall clock (NTP) reaches the rows from the next drain on
//! (a step back of less than a second is caught up gradually instead).

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

    /// An anchor at now, for the first drain.
    pub(crate) fn anchor(&self) -> Anchor {
        let reading = self.reading();
        Anchor {
            clock: self.clone(),
            current: reading,
            previous: reading,
        }
    }

    /// A tick reading and the wall clock read together: the tightest of a
    /// few tries, so that the thread being preempted between the two reads
    /// does not shift every stamp of a drain by the time it was away.
    fn reading(&self) -> Segment {
        let read = || {
            let before = self.ticks();
            let unix_ns = now_ns();
            let after = self.ticks();
            let width = self.nanos_between(before, after);
            let ticks = before + after.saturating_sub(before) / 2;
            (width, Segment::at(ticks, unix_ns))
        };
        let mut best = read();
        for _ in 1..READING_TRIES {
            if best.0 <= TIGHT_READING_NS {
                break;
            }
            let next = read();
            if next.0 < best.0 {
                best = next;
            }
        }
        best.1
    }
}

/// Tries at a tight reading, and what counts as tight.
const READING_TRIES: usize = 8;
const TIGHT_READING_NS: u64 = 2_000;

/// How far behind its stamps a fresh reading of the wall clock may be and
/// still be caught up by running slow: a late earlier reading, or the
/// counter running a little fast. A larger difference is the wall clock
/// stepping back, and the stamps follow it at once.
const CATCH_UP_AT_MOST_NS: i64 = 1_000_000_000;

/// While catching up, stamps advance by 127/128 of the counter's time.
const CATCH_UP_SHIFT: u32 = 7;

/// Turns capture ticks into Unix time: the reading taken before this drain,
/// and the one before it for the records captured before that reading.
///
/// A new reading never makes one thread's stamps go back: when the wall
/// clock reads behind what the stamps reached (by less than a second), the
/// stamps go on from where they were and run slow until they are back on
/// the wall clock.
#[derive(Clone, Debug)]
pub(crate) struct Anchor {
    clock: Clock,
    current: Segment,
    previous: Segment,
}

impl Anchor {
    /// Takes a fresh reading for the records drained next.
    pub(crate) fn renew(&mut self) {
        let reading = self.clock.reading();
        self.renew_with(reading);
    }

    fn renew_with(&mut self, reading: Segment) {
        let reached = self.current.unix_ns(&self.clock, reading.ticks);
        let behind = reached.saturating_sub(reading.unix_ns);
        let next = if behind > 0 && behind <= CATCH_UP_AT_MOST_NS {
            Segment {
                ticks: reading.ticks,
                unix_ns: reached,
                lag_ns: behind,
            }
        } else {
            reading
        };
        self.previous = std::mem::replace(&mut self.current, next);
    }

    /// The Unix time, in nanoseconds, of a tick reading.
    #[inline]
    pub(crate) fn unix_ns(&self, ticks: u64) -> i64 {
        if ticks >= self.current.ticks {
            self.current.unix_ns(&self.clock, ticks)
        } else {
            self.previous.unix_ns(&self.clock, ticks)
        }
    }
}

/// One reading of the counter and the wall clock, and how much the stamps
/// after it still have to give back to be on the wall clock.
#[derive(Clone, Copy, Debug)]
struct Segment {
    ticks: u64,
    unix_ns: i64,
    lag_ns: i64,
}

impl Segment {
    fn at(ticks: u64, unix_ns: i64) -> Self {
        Segment {
            ticks,
            unix_ns,
            lag_ns: 0,
        }
    }

    #[inline]
    fn unix_ns(&self, clock: &Clock, ticks: u64) -> i64 {
        let nanos = |start, end| i64::try_from(clock.nanos_between(start, end)).unwrap_or(i64::MAX);
        if ticks <= self.ticks {
            self.unix_ns.saturating_sub(nanos(ticks, self.ticks))
        } else {
            let elapsed = nanos(self.ticks, ticks);
            let given_back = (elapsed >> CATCH_UP_SHIFT).min(self.lag_ns);
            self.unix_ns.saturating_add(elapsed - given_back)
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

    /// An anchor on a counter the test moves (in nanoseconds).
    fn mocked(at_ns: i64) -> (Anchor, std::sync::Arc<quanta::Mock>) {
        let (counter, mock) = quanta::Clock::mock();
        let clock = Clock(counter);
        let start = Segment::at(clock.ticks(), at_ns);
        let anchor = Anchor {
            clock,
            current: start,
            previous: start,
        };
        (anchor, mock)
    }

    #[test]
    fn a_wall_clock_read_behind_the_stamps_is_caught_up_slowly_never_stepped_back() {
        let (mut anchor, mock) = mocked(1_000_000_000);
        mock.increment(10_000_000);
        let before_renew = anchor.clock.ticks();
        let last_old = anchor.unix_ns(before_renew);
        assert_eq!(last_old, 1_010_000_000);
        // The wall clock reads 5 ms behind what the stamps reached.
        anchor.renew_with(Segment::at(before_renew, 1_005_000_000));
        assert_eq!(anchor.unix_ns(before_renew), last_old, "no step back");
        let mut previous = last_old;
        for _ in 0..1_000 {
            mock.increment(1_000_000);
            let stamp = anchor.unix_ns(anchor.clock.ticks());
            assert!(stamp > previous, "{stamp} after {previous}");
            previous = stamp;
        }
        // 1 s later the 5 ms are given back (at 1/128 of the time passed).
        assert_eq!(previous, 1_005_000_000 + 1_000_000_000);
        // Records captured before the renewal keep the old reading's stamps.
        assert_eq!(
            anchor.unix_ns(before_renew - 1_000_000),
            last_old - 1_000_000
        );
    }

    #[test]
    fn a_step_of_the_wall_clock_is_followed() {
        let (mut anchor, mock) = mocked(10_000_000_000);
        mock.increment(1_000);
        let now = anchor.clock.ticks();
        anchor.renew_with(Segment::at(now, 12_000_000_000));
        assert_eq!(anchor.unix_ns(now), 12_000_000_000, "forward at once");
        anchor.renew_with(Segment::at(now, 9_000_000_000));
        assert_eq!(
            anchor.unix_ns(now),
            9_000_000_000,
            "3 s back is a step, followed"
        );
    }
}
