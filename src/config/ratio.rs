//! The trace sampling ratio's variable and its checks.

use crate::error::{ConfigError, invalid};

/// The variable of the ratio.
pub(crate) const SAMPLE_RATIO_VAR: &str = "CLICKHOUSE_TRACE_SAMPLE_RATIO";

/// A ratio from 0 to 1 given to `setting`.
pub(crate) fn check_ratio(setting: &'static str, ratio: f64) -> Result<f64, ConfigError> {
    match (0.0..=1.0).contains(&ratio) {
        true => Ok(ratio),
        false => Err(invalid(
            setting,
            &ratio.to_string(),
            "a ratio from 0 to 1 (0.1 records one trace in ten)",
        )),
    }
}

/// The variable's text as a ratio.
pub(crate) fn parse_ratio(setting: &'static str, raw: &str) -> Result<f64, ConfigError> {
    let ratio = raw.trim().parse::<f64>().map_err(|_| {
        invalid(
            setting,
            raw,
            "a ratio from 0 to 1 (0.1 records one trace in ten)",
        )
    })?;
    check_ratio(setting, ratio).map_err(|_| {
        invalid(
            setting,
            raw,
            "a ratio from 0 to 1 (0.1 records one trace in ten)",
        )
    })
}
