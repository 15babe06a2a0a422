//! Head sampling of spans: the share of new traces whose spans are
//! recorded (`CLICKHOUSE_TRACE_SAMPLE_RATIO`, [`Builder::trace_sample_ratio`]).

use super::Builder;
use crate::config::ratio::{SAMPLE_RATIO_VAR, check_ratio};
use crate::error::ConfigError;

impl Builder {
    /// The share of new traces whose spans are recorded, from 0 to 1
    /// (default 1: all; replaces `CLICKHOUSE_TRACE_SAMPLE_RATIO`).
    ///
    /// The decision is made once per trace, at its root, from the trace id
    /// (as OpenTelemetry's `TraceIdRatioBased` makes it), and followed by
    /// every span of the trace: a span continuing a remote trace follows
    /// the caller's sampled flag, and passes its own on. Logs are always
    /// kept, with the trace id and `TraceFlags` 0 in an unsampled trace;
    /// spans of an unsampled trace are not recorded, even those that
    /// record an error (their error logs are kept). Spans left out are
    /// counted in [`Stats::spans_sampled_out`](crate::Stats::spans_sampled_out).
    ///
    /// # Errors
    ///
    /// A ratio below 0, above 1, or NaN.
    pub fn trace_sample_ratio(mut self, ratio: f64) -> Result<Self, ConfigError> {
        self.config.trace_sample_ratio = check_ratio("Builder::trace_sample_ratio", ratio)?;
        self.replaced(&[SAMPLE_RATIO_VAR]);
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_outside_zero_to_one_name_their_setting() {
        let builder = || Builder::from_env_vars::<&str, &str>([]);
        assert_eq!(
            builder()
                .trace_sample_ratio(0.25)
                .unwrap()
                .config
                .trace_sample_ratio,
            0.25
        );
        for bad in [-0.1, 1.5, f64::NAN] {
            let error = builder().trace_sample_ratio(bad).unwrap_err();
            assert!(
                error.to_string().contains("Builder::trace_sample_ratio"),
                "{error}"
            );
        }
        let error = Builder::from_env_vars([(SAMPLE_RATIO_VAR, "ten percent")])
            .build_config()
            .unwrap_err();
        assert!(error.to_string().contains(SAMPLE_RATIO_VAR), "{error}");
        let config = Builder::from_env_vars([(SAMPLE_RATIO_VAR, "0.1")])
            .build_config()
            .unwrap();
        assert_eq!(config.trace_sample_ratio, 0.1);
        let replaced = Builder::from_env_vars([(SAMPLE_RATIO_VAR, "2")])
            .trace_sample_ratio(0.5)
            .unwrap()
            .build_config()
            .unwrap();
        assert_eq!(replaced.trace_sample_ratio, 0.5);
    }
}
