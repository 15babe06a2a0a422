//! Turning tracing fields into payload entries.

use std::fmt::{self, Write};

use tracing::field::{Field, Visit};

use super::is_internal_target;
use super::payload::{PayloadWriter, Value};

/// Records an event's or a span's fields into a payload.
#[derive(Debug)]
pub(crate) struct FieldVisitor<'w, 'b> {
    writer: &'w mut PayloadWriter<'b>,
    /// The field that makes a span an error: one named `error`, or one
    /// recorded as a `dyn Error`.
    pub(crate) error_field: Option<&'static str>,
    /// Set when a `log` record bridged by `tracing-log` comes from one of our
    /// own crates (its real target is a field, not the callsite's).
    pub(crate) internal_log_target: bool,
    /// Byte strings that were not UTF-8 and were stored with replacements.
    pub(crate) replaced_utf8: u64,
}

impl<'w, 'b> FieldVisitor<'w, 'b> {
    pub(crate) fn new(writer: &'w mut PayloadWriter<'b>) -> Self {
        FieldVisitor {
            writer,
            error_field: None,
            internal_log_target: false,
            replaced_utf8: 0,
        }
    }

    fn note_error(&mut self, field: &Field) {
        if self.error_field.is_none() {
            self.error_field = Some(field.name());
        }
    }
}

// Every method is small and on the hot path: `#[inline]` lets them be
// inlined into the user's monomorphized layer code.
impl Visit for FieldVisitor<'_, '_> {
    #[inline]
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => self.writer.message_fmt(value),
            name => {
                if name == "error" {
                    self.note_error(field);
                }
                self.writer.fmt_field(name, |out| write!(out, "{value:?}"));
            }
        }
    }

    #[inline]
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.writer.message_str(value),
            name => {
                if name == "error" {
                    self.note_error(field);
                }
                if name == "log.target" && is_internal_target(value) {
                    self.internal_log_target = true;
                }
                self.writer.str_field(name, value);
            }
        }
    }

    #[inline]
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.writer.value_field(field.name(), Value::I64(value));
    }

    #[inline]
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.writer.value_field(field.name(), Value::U64(value));
    }

    #[inline]
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.writer.value_field(field.name(), Value::I128(value));
    }

    #[inline]
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.writer.value_field(field.name(), Value::U128(value));
    }

    #[inline]
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.writer.value_field(field.name(), Value::F64(value));
    }

    #[inline]
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.writer.value_field(field.name(), Value::Bool(value));
    }

    #[inline]
    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        let text = String::from_utf8_lossy(value);
        if matches!(text, std::borrow::Cow::Owned(_)) {
            self.replaced_utf8 += 1;
        }
        self.writer.str_field(field.name(), &text);
    }

    #[inline]
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.note_error(field);
        // The error and its causes: "outer: middle: root".
        let write_chain = |out: &mut dyn Write| {
            write!(out, "{value}")?;
            let mut source = value.source();
            while let Some(cause) = source {
                write!(out, ": {cause}")?;
                source = cause.source();
            }
            Ok(())
        };
        if field.name() == "message" {
            let mut text = String::new();
            let _ = write_chain(&mut text);
            self.writer.message_str(&text);
        } else {
            self.writer.fmt_field(field.name(), write_chain);
        }
    }
}
