//! The endpoint set: the clients of every endpoint, in order of preference,
//! and which to send the next batch to.
//!
//! A batch goes to the first endpoint not set aside; one whose pause is
//! over is probed with `/ping` first (a probe that fails sets it aside
//! again, for longer). When an endpoint fails with a transient error the
//! same batch, with the same deduplication token, goes to the next one at
//! once: on the replicas of a `Replicated` table that token is checked
//! cluster-wide through Keeper, so a batch the first replica stored anyway
//! is not stored twice.

use std::time::{Duration, Instant};

use crate::connect::EndpointClient;
use crate::connect::endpoint_state::{self, State};

/// How long a `/ping` probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub(crate) struct EndpointSet {
    members: Vec<EndpointClient>,
}

impl EndpointSet {
    pub(crate) fn new(members: Vec<EndpointClient>) -> Self {
        assert!(!members.is_empty(), "a configuration has an endpoint");
        EndpointSet { members }
    }

    /// Whether there is more than one endpoint to choose from.
    pub(crate) fn several(&self) -> bool {
        self.members.len() > 1
    }

    /// The endpoints to try for the next batch, best first: those not set
    /// aside (the ones due probed back with `/ping`), in order of
    /// preference; if every one is set aside, the one whose pause ends
    /// first (the pipeline's own backoff then paces the attempts).
    pub(crate) async fn candidates(&self) -> Vec<&EndpointClient> {
        if !self.several() {
            return self.members.iter().collect();
        }
        let mut usable = Vec::with_capacity(self.members.len());
        let mut soonest: Option<(Instant, &EndpointClient)> = None;
        for member in &self.members {
            match endpoint_state::state(&member.url) {
                State::Up => usable.push(member),
                State::Due => {
                    if (member.ping)(PROBE_TIMEOUT).await {
                        endpoint_state::worked(&member.url);
                        usable.push(member);
                    } else {
                        endpoint_state::failed(&member.url);
                    }
                }
                State::Paused(until) => {
                    if soonest.is_none_or(|(s, _)| until < s) {
                        soonest = Some((until, member));
                    }
                }
            }
        }
        if usable.is_empty() {
            let fallback = soonest.map_or(&self.members[0], |(_, m)| m);
            usable.push(fallback);
        }
        usable
    }

    /// `member` failed with a transient error: set it aside.
    pub(crate) fn failed(&self, member: &EndpointClient) {
        if self.several() {
            endpoint_state::failed(&member.url);
        }
    }

    /// `member` took a batch.
    pub(crate) fn worked(&self, member: &EndpointClient) {
        if self.several() {
            endpoint_state::worked(&member.url);
        }
    }
}
