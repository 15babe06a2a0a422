//! What capture hands to the flusher, and the severity scale rows use.
//!
//! Records hold typed values: numbers are turned into text on the flusher
//! thread, never on the application's.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// Severity of a log row: `SeverityText` and `SeverityNumber` on
/// OpenTelemetry's scale.
///
/// Parsing is case-insensitive and accepts the seed's spellings
/// (`"warning"`, `"critical"`, ...).
///
/// ```
/// use tracing_clickhouse::Severity;
/// assert_eq!("warning".parse::<Severity>().unwrap(), Severity::Warn);
/// assert_eq!(Severity::Error.as_str(), "ERROR");
/// assert_eq!(Severity::Error.number(), 17);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// `TRACE`, 1.
    Trace,
    /// `DEBUG`, 5.
    Debug,
    /// `INFO`, 9.
    Info,
    /// `WARN`, 13.
    Warn,
    /// `ERROR`, 17.
    Error,
    /// `FATAL`, 21 (the seed's `critical`; `tracing` has no such level).
    Fatal,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 6] = [
        Severity::Trace,
        Severity::Debug,
        Severity::Info,
        Severity::Warn,
        Severity::Error,
        Severity::Fatal,
    ];

    /// The stored `SeverityText`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Trace => "TRACE",
            Severity::Debug => "DEBUG",
            Severity::Info => "INFO",
            Severity::Warn => "WARN",
            Severity::Error => "ERROR",
            Severity::Fatal => "FATAL",
        }
    }

    /// The stored `SeverityNumber` (OpenTelemetry's first number of the range).
    pub fn number(self) -> u8 {
        match self {
            Severity::Trace => 1,
            Severity::Debug => 5,
            Severity::Info => 9,
            Severity::Warn => 13,
            Severity::Error => 17,
            Severity::Fatal => 21,
        }
    }

    pub(crate) fn from_tracing(level: &tracing::Level) -> Severity {
        match *level {
            tracing::Level::TRACE => Severity::Trace,
            tracing::Level::DEBUG => Severity::Debug,
            tracing::Level::INFO => Severity::Info,
            tracing::Level::WARN => Severity::Warn,
            tracing::Level::ERROR => Severity::Error,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A level name that is not one of [`Severity`]'s spellings.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown level {0:?}: expected trace, debug, info, warn(ing), error, fatal or critical")]
pub struct UnknownSeverity(pub String);

impl FromStr for Severity {
    type Err = UnknownSeverity;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "trace" => Severity::Trace,
            "debug" => Severity::Debug,
            "info" | "information" => Severity::Info,
            "warn" | "warning" => Severity::Warn,
            "error" | "err" => Severity::Error,
            "fatal" | "critical" => Severity::Fatal,
            _ => return Err(UnknownSeverity(s.to_owned())),
        })
    }
}

/// A field value as tracing recorded it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum FieldValue {
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(f64),
    Bool(bool),
    Str(String),
}

impl FieldValue {
    /// Appends the value as the text stored in a `Map(String, String)`.
    pub(crate) fn write_text(&self, out: &mut String) {
        use std::fmt::Write;
        // Writing to a String cannot fail.
        let _ = match self {
            FieldValue::I64(v) => write!(out, "{v}"),
            FieldValue::U64(v) => write!(out, "{v}"),
            FieldValue::I128(v) => write!(out, "{v}"),
            FieldValue::U128(v) => write!(out, "{v}"),
            FieldValue::F64(v) => write!(out, "{v}"),
            FieldValue::Bool(v) => write!(out, "{v}"),
            FieldValue::Str(v) => {
                out.push_str(v);
                Ok(())
            }
        };
    }
}

/// One log row, as captured on the application thread.
#[derive(Debug)]
pub(crate) struct LogRecord {
    pub(crate) timestamp_ns: i64,
    pub(crate) severity: Severity,
    /// `ScopeName`: the tracing target, or the `source` of `collect_log`.
    pub(crate) source: Cow<'static, str>,
    pub(crate) message: String,
    pub(crate) fields: Vec<(Cow<'static, str>, FieldValue)>,
    pub(crate) module_path: Option<&'static str>,
    pub(crate) file: Option<&'static str>,
    pub(crate) line: Option<u32>,
    /// Our own number for the emitting thread; see [`crate::capture::thread`].
    pub(crate) thread_id: u64,
}

/// Everything that travels through the queue.
#[derive(Debug)]
pub(crate) enum Record {
    Log(LogRecord),
}

/// Nanoseconds since the Unix epoch, now.
pub(crate) fn now_ns() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        // i64 nanoseconds last until the year 2262.
        Ok(since_epoch) => i64::try_from(since_epoch.as_nanos()).unwrap_or(i64::MAX),
        Err(before_epoch) => -i64::try_from(before_epoch.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_round_trips_and_orders() {
        for severity in Severity::ALL {
            assert_eq!(severity.as_str().parse::<Severity>(), Ok(severity));
            assert_eq!(severity.to_string(), severity.as_str());
        }
        assert!(Severity::Trace < Severity::Error);
        assert_eq!("WARNING".parse::<Severity>(), Ok(Severity::Warn));
        assert_eq!(" critical ".parse::<Severity>(), Ok(Severity::Fatal));
        assert!("loud".parse::<Severity>().is_err());
    }

    #[test]
    fn field_values_as_text() {
        let text = |v: FieldValue| {
            let mut s = String::new();
            v.write_text(&mut s);
            s
        };
        assert_eq!(text(FieldValue::I64(-5)), "-5");
        assert_eq!(text(FieldValue::U128(u128::MAX)), u128::MAX.to_string());
        assert_eq!(text(FieldValue::F64(0.1)), "0.1");
        assert_eq!(text(FieldValue::Bool(true)), "true");
        assert_eq!(text(FieldValue::Str("x y".into())), "x y");
    }
}
