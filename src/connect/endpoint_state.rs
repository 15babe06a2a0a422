//! What this process knows of each endpoint: which ones failed lately, and
//! until when they are left alone.
//!
//! Kept per URL for the whole process, so that every client made after the
//! sink saw an endpoint fail (a query client, the schema's) starts on one
//! that works. An endpoint that failed is set aside for [`FIRST_PAUSE`],
//! doubled at each failure up to [`MAX_PAUSE`]; once its pause is over the
//! sink probes it with `/ping` before sending it a batch again.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long an endpoint that just failed is left alone.
pub(crate) const FIRST_PAUSE: Duration = Duration::from_secs(1);
/// The longest pause, however often it failed.
pub(crate) const MAX_PAUSE: Duration = Duration::from_secs(15);

#[derive(Clone, Copy, Debug)]
struct Down {
    until: Instant,
    pause: Duration,
}

static DOWN: LazyLock<Mutex<HashMap<String, Down>>> = LazyLock::new(Default::default);

fn with<T>(f: impl FnOnce(&mut HashMap<String, Down>) -> T) -> T {
    f(&mut DOWN.lock().unwrap_or_else(PoisonError::into_inner))
}

/// An endpoint's state as the sink sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Not seen failing (or seen working since).
    Up,
    /// Failed lately and still paused, until this instant.
    Paused(Instant),
    /// Failed, and its pause is over: probe it before use.
    Due,
}

pub(crate) fn state(url: &str) -> State {
    with(|down| match down.get(url) {
        None => State::Up,
        Some(d) if d.until > Instant::now() => State::Paused(d.until),
        Some(_) => State::Due,
    })
}

/// `url` failed (or did not answer its probe): paused for twice its last
/// pause, [`FIRST_PAUSE`] the first time, at most [`MAX_PAUSE`].
pub(crate) fn failed(url: &str) {
    with(|down| {
        let pause = down
            .get(url)
            .map_or(FIRST_PAUSE, |d| (d.pause * 2).min(MAX_PAUSE));
        down.insert(
            url.to_owned(),
            Down {
                until: Instant::now() + pause,
                pause,
            },
        );
    });
}

/// `url` answered.
pub(crate) fn worked(url: &str) {
    with(|down| down.remove(url));
}

/// The first of `urls` not paused, else the one whose pause ends first.
pub(crate) fn first_healthy(urls: &[String]) -> &str {
    let paused_until = |url: &String| match state(url) {
        State::Paused(until) => Some(until),
        State::Up | State::Due => None,
    };
    urls.iter()
        .find(|url| paused_until(url).is_none())
        .or_else(|| urls.iter().min_by_key(|url| paused_until(url)))
        .map_or("", String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_endpoint_is_paused_longer_each_time_until_it_works() {
        let (a, b) = ("http://health-test-a:1", "http://health-test-b:1");
        let urls = [a.to_owned(), b.to_owned()];
        assert_eq!(state(a), State::Up);
        assert_eq!(first_healthy(&urls), a);
        failed(a);
        assert!(matches!(state(a), State::Paused(_)));
        assert_eq!(first_healthy(&urls), b);
        failed(a);
        let pause = with(|d| d[a].pause);
        assert_eq!(pause, FIRST_PAUSE * 2);
        // Both paused: the one that comes back first.
        failed(b);
        assert_eq!(first_healthy(&urls), b);
        worked(a);
        worked(b);
        assert_eq!(state(a), State::Up);
        assert_eq!(first_healthy(&urls), a);
    }
}
