//! Head sampling: whether a new trace's spans are recorded.
//!
//! The decision is made once, at the trace's root, from the trace id, and
//! every span of the trace follows it: a local child its parent's, a span
//! continuing a remote trace the caller's sampled flag (parent-based, as
//! OpenTelemetry's default sampler). The ratio test reads the trace id as
//! OpenTelemetry's `TraceIdRatioBased` does (the low 63 bits against
//! ratio · 2⁶³), so services that share a ratio agree on the same ids.

/// The root decision for a configured ratio.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sampler {
    /// Roots whose `low 63 bits of the trace id` are below this are sampled.
    bound: u64,
    /// A ratio of 1: every trace (no test needed).
    all: bool,
}

impl Sampler {
    /// A sampler recording `ratio` (0 to 1, checked by the configuration)
    /// of new traces.
    pub(crate) fn new(ratio: f64) -> Self {
        let ratio = ratio.clamp(0.0, 1.0);
        Sampler {
            bound: (ratio * (1u64 << 63) as f64) as u64,
            all: ratio >= 1.0,
        }
    }

    /// Whether a new trace with this id is recorded.
    #[inline]
    pub(crate) fn sample_root(&self, trace_id: u128) -> bool {
        self.all || ((trace_id as u64) >> 1) < self.bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ratio_is_kept_over_random_trace_ids() {
        let ids: Vec<u128> = (0..100_000).map(|_| crate::ids::new_trace_id()).collect();
        for ratio in [0.0, 0.1, 0.5, 1.0] {
            let sampler = Sampler::new(ratio);
            let kept = ids.iter().filter(|&&id| sampler.sample_root(id)).count();
            let expected = ratio * ids.len() as f64;
            // Binomial: within 5 sigma.
            let sigma = (ids.len() as f64 * ratio * (1.0 - ratio)).sqrt();
            assert!(
                (kept as f64 - expected).abs() <= 5.0 * sigma + 0.5,
                "{ratio}: {kept} of {}",
                ids.len()
            );
        }
    }

    #[test]
    fn the_decision_depends_on_the_trace_id_alone() {
        let sampler = Sampler::new(0.3);
        let id = 0x4bf92f3577b34da6a3ce929d0e0e4736;
        assert_eq!(sampler.sample_root(id), sampler.sample_root(id));
        assert!(Sampler::new(1.0).sample_root(u128::MAX));
        assert!(!Sampler::new(0.0).sample_root(1));
    }
}
