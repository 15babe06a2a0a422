//! Rendering log records into console lines, and handing them to the
//! console's writer thread.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Instant;

use super::output::Output;

use crate::capture::payload::{Entry, Raw, entries};
use crate::config::{Colors, ConsoleConfig, ConsoleWriter};
use crate::record::{LogRecord, Severity};
use crate::stats::Counters;

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIMMED: &str = "\x1b[2m";
const ITALIC: &str = "\x1b[3m";

/// Lines written before a drain ends are kept here and written at once.
const FLUSH_AT_BYTES: usize = 64 << 10;

pub(crate) struct Console {
    output: Output,
    level: Severity,
    ansi: bool,
    /// Rendered lines not handed to the writer yet, and how many.
    lines: Vec<u8>,
    count: u64,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("level", &self.level)
            .field("ansi", &self.ansi)
            .finish_non_exhaustive()
    }
}

impl Console {
    /// The console `config` asks for, writing to `writer` or else stderr
    /// (lines it cannot keep up with are counted in `counters`); `None`
    /// when it is off.
    ///
    /// # Errors
    ///
    /// The writer thread cannot be started.
    pub(crate) fn new(
        config: ConsoleConfig,
        writer: Option<ConsoleWriter>,
        counters: Arc<Counters>,
    ) -> std::io::Result<Option<Console>> {
        if !config.enabled {
            return Ok(None);
        }
        let ansi = match config.colors {
            Colors::Always => true,
            Colors::Never => false,
            // See https://no-color.org: set and not empty means no color.
            Colors::Auto => {
                writer.is_none()
                    && std::io::stderr().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        let writer = writer.unwrap_or_else(|| Box::new(std::io::stderr()));
        Ok(Some(Console {
            output: Output::start(writer, counters)?,
            level: config.level,
            ansi,
            lines: Vec::new(),
            count: 0,
        }))
    }

    /// Renders a log captured at `unix_ns`, if its level is shown.
    pub(crate) fn render(&mut self, record: &LogRecord, unix_ns: i64) {
        if record.severity < self.level {
            return;
        }
        let mut line = Line {
            out: std::mem::take(&mut self.lines),
            ansi: self.ansi,
        };
        line.write(record, unix_ns);
        self.lines = line.out;
        self.count += 1;
        if self.lines.len() >= FLUSH_AT_BYTES {
            self.flush();
        }
    }

    /// Hands the lines rendered so far to the writer thread. A console
    /// that cannot be written (a closed stderr, a stuck terminal) loses its
    /// lines, never the rows.
    pub(crate) fn flush(&mut self) {
        if !self.lines.is_empty() {
            let lines = std::mem::take(&mut self.lines);
            self.lines = self.output.send(lines, std::mem::take(&mut self.count));
        }
    }

    /// Hands over the lines so far and waits until the writer wrote them,
    /// at most until `deadline`.
    pub(crate) fn sync(&mut self, deadline: Instant) {
        self.flush();
        self.output.sync(deadline);
    }

    /// Hands over the last lines and waits until they are written, at most
    /// until `deadline` (a writer stuck longer is left behind).
    pub(crate) fn finish(&mut self, deadline: Instant) {
        self.flush();
        self.output.finish(deadline);
    }
}

/// One line being rendered into `out`.
struct Line {
    out: Vec<u8>,
    ansi: bool,
}

impl Line {
    fn write(&mut self, record: &LogRecord, unix_ns: i64) {
        let mut message: &[u8] = b"";
        let mut target = record.metadata.map(|m| m.target().as_bytes());
        // Innermost first in the payload; printed from the outermost.
        let mut spans: Vec<(&[u8], &[u8])> = Vec::new();
        for entry in entries(&record.payload) {
            match entry {
                Entry::Message(text) => message = text,
                Entry::Scope(text) => target = Some(text),
                Entry::Span(name, fields) => spans.push((name, fields)),
                // A `log` record's own target (the bridge's other fields
                // are not shown, as in `fmt`).
                Entry::Field(b"log.target", value) => target = value.text().or(target),
                Entry::Field(..) => {}
            }
        }

        self.style(DIMMED);
        write_time(&mut self.out, unix_ns);
        self.unstyle(DIMMED);
        self.out.push(b' ');
        self.level(record.severity);
        self.out.push(b' ');
        for &(name, fields) in spans.iter().rev() {
            self.style(BOLD);
            self.text(name);
            self.unstyle(BOLD);
            if entries(fields).next().is_some() {
                self.painted(BOLD, b"{");
                self.fields(fields, false);
                self.painted(BOLD, b"}");
            }
            self.painted(DIMMED, b":");
        }
        if !spans.is_empty() {
            self.out.push(b' ');
        }
        if let Some(target) = target {
            self.painted(DIMMED, target);
            self.painted(DIMMED, b":");
            self.out.push(b' ');
        }
        self.text(message);
        // After the message a space, also after an empty one, as `fmt` has it.
        self.fields(&record.payload, true);
        self.out.push(b'\n');
    }

    /// `name=value` for each field of `payload`, separated by spaces.
    fn fields(&mut self, payload: &[u8], mut padded: bool) {
        for entry in entries(payload) {
            let Entry::Field(name, value) = entry else {
                continue;
            };
            if name.starts_with(b"log.") {
                continue;
            }
            if padded {
                self.out.push(b' ');
            }
            padded = true;
            let name = name.strip_prefix(b"r#").unwrap_or(name);
            self.style(ITALIC);
            self.text(name);
            self.unstyle(ITALIC);
            self.painted(DIMMED, b"=");
            self.value(value);
        }
    }

    /// A value as `fmt` shows it: `Debug` (a `&str` quoted, a float always
    /// with a point), formatted text as it was formatted.
    fn value(&mut self, value: Raw<'_>) {
        match value {
            Raw::Str(text) => {
                let text = String::from_utf8_lossy(text);
                let _ = write!(Text(&mut self.out), "{text:?}");
            }
            Raw::Text(text) => self.text(text),
            Raw::F64(v) => {
                let _ = write!(Text(&mut self.out), "{v:?}");
            }
            other => other.write_text(&mut self.out),
        }
    }

    fn level(&mut self, severity: Severity) {
        let (text, color) = match severity {
            Severity::Trace => ("TRACE", "\x1b[35m"),
            Severity::Debug => ("DEBUG", "\x1b[34m"),
            Severity::Info => (" INFO", "\x1b[32m"),
            Severity::Warn => (" WARN", "\x1b[33m"),
            Severity::Error => ("ERROR", "\x1b[31m"),
            Severity::Fatal => ("FATAL", "\x1b[1;31m"),
        };
        self.painted(color, text.as_bytes());
    }

    /// Text with control characters escaped (`\x1b`, `\u{85}`), except
    /// tabs and newlines.
    fn text(&mut self, text: &[u8]) {
        for chunk in text.utf8_chunks() {
            for c in chunk.valid().chars() {
                if c.is_control() && c != '\n' && c != '\t' {
                    let _ = match c.is_ascii() {
                        true => write!(Text(&mut self.out), "\\x{:02x}", c as u32),
                        false => write!(Text(&mut self.out), "{}", c.escape_unicode()),
                    };
                } else {
                    let mut utf8 = [0; 4];
                    self.out
                        .extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                }
            }
            if !chunk.invalid().is_empty() {
                self.out.extend_from_slice("\u{fffd}".as_bytes());
            }
        }
    }

    fn painted(&mut self, style: &str, text: &[u8]) {
        self.style(style);
        self.text(text);
        self.unstyle(style);
    }

    fn style(&mut self, style: &str) {
        if self.ansi {
            self.out.extend_from_slice(style.as_bytes());
        }
    }

    fn unstyle(&mut self, _style: &str) {
        if self.ansi {
            self.out.extend_from_slice(RESET.as_bytes());
        }
    }
}

/// `fmt::Write` into a byte vector.
struct Text<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Text<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// `unix_ns` as `2026-12-01T07:29:16.123456Z` (UTC, microseconds), as
/// `fmt`'s default timer writes it.
fn write_time(out: &mut Vec<u8>, unix_ns: i64) {
    let seconds = unix_ns.div_euclid(1_000_000_000);
    let micros = unix_ns.rem_euclid(1_000_000_000) / 1_000;
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let _ = write!(
        Text(out),
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    );
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::payload::{PayloadWriter, Value};
    use crate::config::CaptureLimits;
    use crate::record::Payload;

    fn record(severity: Severity, write: impl FnOnce(&mut PayloadWriter<'_>)) -> LogRecord {
        let mut buf = Vec::new();
        let mut writer = PayloadWriter::new(&mut buf, CaptureLimits::default());
        write(&mut writer);
        writer.finish();
        LogRecord {
            ticks: 0,
            severity,
            metadata: None,
            trace: None,
            trace_flags: 0,
            thread_id: 1,
            payload: Payload::copy_of(&buf),
        }
    }

    fn rendered(ansi: bool, record: &LogRecord, unix_ns: i64) -> String {
        let mut line = Line {
            out: Vec::new(),
            ansi,
        };
        line.write(record, unix_ns);
        String::from_utf8(line.out).unwrap()
    }

    // 2026-12-01T07:29:16.123456Z
    const T: i64 = 1_796_110_156_123_456_789;

    #[test]
    fn a_line_reads_like_fmts_default_format() {
        let mut spans = Vec::new();
        let mut inner = Vec::new();
        {
            let mut w = PayloadWriter::new(&mut spans, CaptureLimits::default());
            w.str_field("tenant", "acme");
            w.finish();
            let w = PayloadWriter::new(&mut inner, CaptureLimits::default());
            w.finish();
        }
        let log = record(Severity::Warn, |w| {
            w.message_str("cart is full");
            w.scope("checkout::cart");
            w.value_field("items", Value::U64(12));
            w.str_field("user", "ada");
            w.value_field("ratio", Value::F64(2.0));
            w.fmt_field("state", |out| write!(out, "Full {{ at: 3 }}"));
            w.value_field("r#type", Value::Bool(true));
            w.span_context("inner", &inner);
            w.span_context("outer", &spans);
        });
        assert_eq!(
            rendered(false, &log, T),
            "2026-12-01T07:29:16.123456Z  WARN outer{tenant=\"acme\"}:inner: checkout::cart: \
             cart is full items=12 user=\"ada\" ratio=2.0 state=Full { at: 3 } type=true\n"
        );
    }

    #[test]
    fn colors_are_ansi_escapes_around_the_parts() {
        let log = record(Severity::Error, |w| {
            w.message_str("down");
            w.scope("db");
            w.value_field("n", Value::I64(-1));
        });
        assert_eq!(
            rendered(true, &log, T),
            "\x1b[2m2026-12-01T07:29:16.123456Z\x1b[0m \x1b[31mERROR\x1b[0m \
             \x1b[2mdb\x1b[0m\x1b[2m:\x1b[0m down \x1b[3mn\x1b[0m\x1b[2m=\x1b[0m-1\n"
        );
    }

    #[test]
    fn control_characters_cannot_drive_the_terminal() {
        let log = record(Severity::Info, |w| {
            w.message_str("evil \x1b[31mred\x1b[0m\r");
            w.fmt_field("f", |out| out.write_str("\x07bell"));
        });
        let line = rendered(false, &log, 0);
        assert!(!line.contains('\x1b') && !line.contains('\x07') && !line.contains('\r'));
        assert_eq!(
            line,
            "1970-01-01T00:00:00.000000Z  INFO evil \\x1b[31mred\\x1b[0m\\x0d f=\\x07bell\n"
        );
    }

    #[test]
    fn a_bridged_log_record_shows_its_own_target_and_no_bridge_fields() {
        let log = record(Severity::Info, |w| {
            w.message_str("legacy");
            w.str_field("log.target", "billing");
            w.str_field("log.module_path", "billing::invoice");
            w.value_field("log.line", Value::U64(7));
        });
        assert_eq!(
            rendered(false, &log, 0),
            "1970-01-01T00:00:00.000000Z  INFO billing: legacy\n"
        );
    }

    #[test]
    fn dates_are_right_across_eras_and_leap_days() {
        let day = 86_400 * 1_000_000_000i64;
        let date = |ns| {
            let mut out = Vec::new();
            write_time(&mut out, ns);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(date(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(date(-1_000), "1969-12-31T23:59:59.999999Z");
        assert_eq!(date(11_016 * day), "2000-02-29T00:00:00.000000Z");
        assert_eq!(date(19_417 * day + 1_500), "2023-03-01T00:00:00.000001Z");
        assert_eq!(date(T), "2026-12-01T07:29:16.123456Z");
    }
}
