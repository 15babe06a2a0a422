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
        Anchor::starting_at(self.clone(), self.reading())
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

/// Readings kept: a record is stamped by the reading taken last before its
/// capture, which is among these unless it waited through more drains (a
/// drain takes at most 1 024 records; 64 of them are a full default queue
/// four times over). An older one is stamped back from the oldest kept.
const READINGS_KEPT: usize = 64;

/// Turns capture ticks into Unix time: each record by the reading taken
/// last before its capture. Every tick reading has one stamp, whichever
/// drain converts it: a record drained several drains late (the flusher
/// takes a backlog a chunk at a time, each with a fresh reading) gets the
/// stamp it would have got at once, so one thread's stamps never go back.
///
/// Nor does a new reading make them go back: when the wall clock reads
/// behind what the stamps reached (by less than a second), the stamps go on
/// from where they were and run slow until they are back on the wall clock.
#[derive(Clone, Debug)]
pub(crate) struct Anchor {
    clock: Clock,
    /// Oldest first; never empty.
    readings: std::collections::VecDeque<Segment>,
}

impl Anchor {
    fn starting_at(clock: Clock, reading: Segment) -> Anchor {
        let mut readings = std::collections::VecDeque::with_capacity(READINGS_KEPT);
        readings.push_back(reading);
        Anchor { clock, readings }
    }

    /// The latest reading.
    fn current(&self) -> &Segment {
        self.readings
            .back()
            .expect("an anchor keeps at least one reading")
    }

    /// Takes a fresh reading for the records drained next.
    pub(crate) fn renew(&mut self) {
        let reading = self.clock.reading();
        self.renew_with(reading);
    }

    fn renew_with(&mut self, reading: Segment) {
        let reached = self.current().unix_ns(&self.clock, reading.ticks);
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
        if self.readings.len() == READINGS_KEPT {
            self.readings.pop_front();
        }
        self.readings.push_back(next);
    }

    /// The Unix time, in nanoseconds, of a tick reading: by the last
    /// reading taken before it (the latest, for nearly every record).
    #[inline]
    pub(crate) fn unix_ns(&self, ticks: u64) -> i64 {
        let reading = (self.readings.iter().rev())
            .find(|reading| ticks >= reading.ticks)
            .unwrap_or_else(|| {
                self.readings
                    .front()
                    .expect("an anchor keeps at least one reading")
            });
        reading.unix_ns(&self.clock, ticks)
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
        (Anchor::starting_at(clock, start), mock)
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

    /// The flake of `logs::events_from_several_threads_are_stored_exactly_once_and_in_order`:
    /// a backlog drained a chunk at a time, each with a fresh reading, while
    /// the stamps caught up with the wall clock. A record converted two
    /// readings late was stamped back from the newer reading, below its
    /// thread's record before it.
    #[test]
    fn a_record_drained_late_keeps_its_stamp() {
        let (mut anchor, mock) = mocked(1_000_000_000);
        mock.increment(10_000_000);
        let first = anchor.clock.ticks();
        // The wall clock reads 5 ms behind: the stamps run slow from here.
        anchor.renew_with(Segment::at(first, 1_005_000_000));
        mock.increment(200_000_000);
        let (a, b) = (anchor.clock.ticks(), anchor.clock.ticks() + 1);
        let stamp_a = anchor.unix_ns(a);
        // Three more drains, each with a reading 2 ms behind the stamps,
        // before `b` (one thread's next record) is drained.
        for _ in 0..3 {
            mock.increment(50_000_000);
            let now = anchor.clock.ticks();
            let behind = anchor.unix_ns(now) - 2_000_000;
            anchor.renew_with(Segment::at(now, behind));
        }
        assert_eq!(anchor.unix_ns(a), stamp_a, "one stamp, whichever drain");
        assert!(anchor.unix_ns(b) >= stamp_a, "b after a");
        // Past the readings kept, both are stamped back from the oldest
        // kept, still in order.
        for _ in 0..READINGS_KEPT {
            mock.increment(1_000_000);
            let now = anchor.clock.ticks();
            anchor.renew_with(Segment::at(now, anchor.unix_ns(now)));
        }
        assert!(anchor.unix_ns(b) > anchor.unix_ns(a));
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
