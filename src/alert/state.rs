//! The life of one alert (a rule and a group): inactive → pending → firing
//! → resolving → inactive, with a `for` duration before firing and a
//! hysteresis (in time, and in value through [`Observation::Hold`]) before
//! resolving. Pure code: time is the evaluation's, given by the caller.

use std::time::Duration;

/// What one evaluation saw for one alert.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Observation {
    /// The condition holds (the value is past the threshold).
    Breach(f64),
    /// Between the threshold and the clear value: neither starts nor ends
    /// an alert.
    Hold(f64),
    /// The condition does not hold.
    Clear(f64),
}

impl Observation {
    pub(crate) fn value(self) -> f64 {
        match self {
            Observation::Breach(v) | Observation::Hold(v) | Observation::Clear(v) => v,
        }
    }
}

/// Where an alert is. Times are nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum State {
    Inactive,
    /// Breaching since `since`, not yet for long enough.
    Pending {
        since: i64,
    },
    /// Fired at `since`.
    Firing {
        since: i64,
    },
    /// Fired at `since`; clear since `clear_since`, not yet for long enough.
    Resolving {
        since: i64,
        clear_since: i64,
    },
}

/// A change an evaluation made that the world hears about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Fired,
    Resolved,
}

/// Moves `state` on by one evaluation at `now` that saw `seen`; returns the
/// change to announce, if any. `fire_after` and `resolve_after` of zero act
/// at the first evaluation.
pub(crate) fn step(
    state: &mut State,
    seen: Observation,
    now: i64,
    fire_after: Duration,
    resolve_after: Duration,
) -> Option<Change> {
    let elapsed = |since: i64| u128::try_from(now.saturating_sub(since)).unwrap_or(0);
    let (next, change) = match (*state, seen) {
        (State::Inactive, Observation::Breach(_)) => match fire_after.is_zero() {
            true => (State::Firing { since: now }, Some(Change::Fired)),
            false => (State::Pending { since: now }, None),
        },
        (State::Inactive, _) => (State::Inactive, None),
        (State::Pending { since }, Observation::Breach(_)) => {
            match elapsed(since) >= fire_after.as_nanos() {
                true => (State::Firing { since: now }, Some(Change::Fired)),
                false => (State::Pending { since }, None),
            }
        }
        // A pending alert needs the breach without a break.
        (State::Pending { .. }, _) => (State::Inactive, None),
        (State::Firing { since }, Observation::Clear(_)) => match resolve_after.is_zero() {
            true => (State::Inactive, Some(Change::Resolved)),
            false => (
                State::Resolving {
                    since,
                    clear_since: now,
                },
                None,
            ),
        },
        (State::Firing { since }, _) => (State::Firing { since }, None),
        (State::Resolving { since, clear_since }, Observation::Clear(_)) => {
            match elapsed(clear_since) >= resolve_after.as_nanos() {
                true => (State::Inactive, Some(Change::Resolved)),
                false => (State::Resolving { since, clear_since }, None),
            }
        }
        // Not clear after all: still the same firing, announced once.
        (State::Resolving { since, .. }, _) => (State::Firing { since }, None),
    };
    *state = next;
    change
}

impl State {
    /// Whether the alert has fired and not resolved.
    pub(crate) fn is_firing(self) -> bool {
        matches!(self, State::Firing { .. } | State::Resolving { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Observation::{Breach, Clear, Hold};

    const S: i64 = 1_000_000_000;

    /// Runs `seen` at one evaluation per second from t = 0; returns the
    /// changes with their times (in seconds) and the final state.
    fn run(
        seen: &[Observation],
        fire_after: u64,
        resolve_after: u64,
    ) -> (Vec<(i64, Change)>, State) {
        let mut state = State::Inactive;
        let mut changes = Vec::new();
        for (t, o) in seen.iter().enumerate() {
            let now = t as i64 * S;
            let change = step(
                &mut state,
                *o,
                now,
                Duration::from_secs(fire_after),
                Duration::from_secs(resolve_after),
            );
            if let Some(change) = change {
                changes.push((t as i64, change));
            }
        }
        (changes, state)
    }

    #[test]
    fn every_transition_of_the_table() {
        let d = Duration::from_secs(10);
        let cases: [(State, Observation, State, Option<Change>); 16] = [
            (
                State::Inactive,
                Breach(1.0),
                State::Pending { since: 5 * S },
                None,
            ),
            (State::Inactive, Hold(1.0), State::Inactive, None),
            (State::Inactive, Clear(1.0), State::Inactive, None),
            (
                State::Pending { since: 0 },
                Breach(1.0),
                State::Pending { since: 0 },
                None,
            ),
            (
                State::Pending { since: 0 },
                Hold(1.0),
                State::Inactive,
                None,
            ),
            (
                State::Pending { since: 0 },
                Clear(1.0),
                State::Inactive,
                None,
            ),
            (
                State::Pending { since: -5 * S },
                Breach(1.0),
                State::Firing { since: 5 * S },
                Some(Change::Fired),
            ),
            (
                State::Firing { since: 0 },
                Breach(1.0),
                State::Firing { since: 0 },
                None,
            ),
            (
                State::Firing { since: 0 },
                Hold(1.0),
                State::Firing { since: 0 },
                None,
            ),
            (
                State::Firing { since: 0 },
                Clear(1.0),
                State::Resolving {
                    since: 0,
                    clear_since: 5 * S,
                },
                None,
            ),
            (
                State::Resolving {
                    since: 0,
                    clear_since: 0,
                },
                Clear(1.0),
                State::Resolving {
                    since: 0,
                    clear_since: 0,
                },
                None,
            ),
            (
                State::Resolving {
                    since: 0,
                    clear_since: -5 * S,
                },
                Clear(1.0),
                State::Inactive,
                Some(Change::Resolved),
            ),
            (
                State::Resolving {
                    since: 0,
                    clear_since: 0,
                },
                Breach(1.0),
                State::Firing { since: 0 },
                None,
            ),
            (
                State::Resolving {
                    since: 0,
                    clear_since: 0,
                },
                Hold(1.0),
                State::Firing { since: 0 },
                None,
            ),
            (
                State::Pending { since: 4 * S },
                Breach(1.0),
                State::Pending { since: 4 * S },
                None,
            ),
            (
                State::Resolving {
                    since: 0,
                    clear_since: 4 * S,
                },
                Clear(1.0),
                State::Resolving {
                    since: 0,
                    clear_since: 4 * S,
                },
                None,
            ),
        ];
        for (from, seen, to, change) in cases {
            let mut state = from;
            assert_eq!(
                step(&mut state, seen, 5 * S, d, d),
                change,
                "{from:?} + {seen:?}"
            );
            assert_eq!(state, to, "{from:?} + {seen:?}");
        }
    }

    #[test]
    fn zero_durations_act_at_once() {
        let (changes, state) = run(&[Clear(0.0), Breach(1.0), Breach(1.0), Clear(0.0)], 0, 0);
        assert_eq!(changes, [(1, Change::Fired), (3, Change::Resolved)]);
        assert_eq!(state, State::Inactive);
    }

    #[test]
    fn fires_once_after_the_for_duration_of_unbroken_breach() {
        let mut seen = vec![Breach(1.0); 3];
        seen.push(Clear(0.0)); // a break: the pending starts over
        seen.extend([Breach(1.0); 8]);
        let (changes, state) = run(&seen, 5, 0);
        assert_eq!(changes, [(9, Change::Fired)]);
        assert!(state.is_firing());
    }

    #[test]
    fn a_flapping_signal_neither_fires_nor_resolves_repeatedly() {
        // Breach, clear, breach, clear... for a minute: never 3 s in a row.
        let flapping: Vec<_> = (0..60)
            .map(|i| if i % 2 == 0 { Breach(1.0) } else { Clear(0.0) })
            .collect();
        let (changes, _) = run(&flapping, 3, 3);
        assert_eq!(changes, []);
        // Once firing, the same flapping does not resolve it.
        let mut seen = vec![Breach(1.0); 5];
        seen.extend(flapping);
        let (changes, state) = run(&seen, 3, 3);
        assert_eq!(changes, [(3, Change::Fired)]);
        assert!(state.is_firing());
    }

    #[test]
    fn resolves_once_after_the_hysteresis_and_hold_keeps_it_firing() {
        let mut seen = vec![Breach(1.0); 2];
        seen.extend([Hold(0.5); 10]);
        seen.extend([Clear(0.0); 10]);
        let (changes, state) = run(&seen, 0, 4);
        assert_eq!(changes, [(0, Change::Fired), (16, Change::Resolved)]);
        assert_eq!(state, State::Inactive);
    }

    #[test]
    fn fires_again_after_resolving() {
        let seen = [Breach(1.0), Clear(0.0), Clear(0.0), Breach(1.0), Clear(0.0)];
        let (changes, _) = run(&seen, 0, 0);
        let expected = [
            (0, Change::Fired),
            (1, Change::Resolved),
            (3, Change::Fired),
            (4, Change::Resolved),
        ];
        assert_eq!(changes, expected);
    }

    #[test]
    fn any_sequence_alternates_fired_and_resolved() {
        // Every sequence of 8 observations of the three kinds, with small
        // durations: the changes alternate, starting with Fired, and the
        // final state agrees with the last change.
        let kinds = [Breach(1.0), Hold(0.5), Clear(0.0)];
        for code in 0..3_u32.pow(8) {
            let seen: Vec<_> = (0..8)
                .map(|i| kinds[(code / 3_u32.pow(i) % 3) as usize])
                .collect();
            for (fire_after, resolve_after) in [(0, 0), (1, 0), (0, 2), (2, 1)] {
                let (changes, state) = run(&seen, fire_after, resolve_after);
                for (i, (_, change)) in changes.iter().enumerate() {
                    let expected = if i % 2 == 0 {
                        Change::Fired
                    } else {
                        Change::Resolved
                    };
                    assert_eq!(*change, expected, "{seen:?}");
                }
                let firing = changes.last().is_some_and(|(_, c)| *c == Change::Fired);
                assert_eq!(state.is_firing(), firing, "{seen:?}");
            }
        }
    }
}
