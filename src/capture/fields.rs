//! Turning an event's fields into a message and typed values.

use std::borrow::Cow;
use std::fmt::{self, Write};

use tracing::field::{Field, Visit};

use crate::record::FieldValue;

/// Collects an event's `message` and its other fields.
#[derive(Debug, Default)]
pub(crate) struct FieldVisitor {
    pub(crate) message: String,
    pub(crate) fields: Vec<(Cow<'static, str>, FieldValue)>,
}

impl FieldVisitor {
    /// A visitor with room for `declared` fields (one of them usually the message).
    pub(crate) fn with_capacity(declared: usize) -> Self {
        FieldVisitor {
            message: String::new(),
            fields: Vec::with_capacity(declared.saturating_sub(1)),
        }
    }

    fn push(&mut self, field: &Field, value: FieldValue) {
        self.fields.push((Cow::Borrowed(field.name()), value));
    }
}

impl Visit for FieldVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            // Writing to a String cannot fail.
            let _ = write!(self.message, "{value:?}");
        } else {
            self.push(field, FieldValue::Str(format!("{value:?}")));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.push(field, FieldValue::Str(value.to_owned()));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, FieldValue::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, FieldValue::U64(value));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.push(field, FieldValue::I128(value));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.push(field, FieldValue::U128(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, FieldValue::F64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, FieldValue::Bool(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // The error and its chain of causes: "outer: middle: root".
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(cause) = source {
            let _ = write!(text, ": {cause}");
            source = cause.source();
        }
        if field.name() == "message" {
            self.message.push_str(&text);
        } else {
            self.push(field, FieldValue::Str(text));
        }
    }
}
