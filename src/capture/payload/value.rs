//! The values a payload holds: as given ([`Value`]) and as read back ([`Raw`]).

use std::fmt::{self, Write};

/// A value of a `collect_log` context or a `record_event` detail (and of a
/// captured field). Numbers stay numbers until the flusher writes them.
///
/// ```
/// use tracing_clickhouse::Value;
/// let context = [("cpu_percent", Value::from(95)), ("host", Value::from("web-1"))];
/// assert_eq!(context[0].1, Value::I64(95));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value<'a> {
    /// Text.
    Str(&'a str),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A wide signed integer.
    I128(i128),
    /// A wide unsigned integer.
    U128(u128),
    /// A floating-point number.
    F64(f64),
    /// A boolean.
    Bool(bool),
}

macro_rules! value_from {
    ($($from:ty => $variant:ident as $to:ty),* $(,)?) => {
        $(impl From<$from> for Value<'_> {
            fn from(v: $from) -> Self {
                Value::$variant(<$to>::from(v))
            }
        })*
    };
}

value_from!(
    i8 => I64 as i64, i16 => I64 as i64, i32 => I64 as i64, i64 => I64 as i64,
    u8 => U64 as u64, u16 => U64 as u64, u32 => U64 as u64, u64 => U64 as u64,
    i128 => I128 as i128, u128 => U128 as u128,
    f32 => F64 as f64, f64 => F64 as f64, bool => Bool as bool,
);

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Str(v)
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Str(v)
    }
}

/// `fmt::Write` into a byte vector.
struct VecWriter<'a>(&'a mut Vec<u8>);

impl Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// A field value as read back from a payload: text stays bytes (it was
/// UTF-8 when written, and RowBinary strings are bytes), so reading needs no
/// validation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Raw<'a> {
    /// A `&str` value.
    Str(&'a [u8]),
    /// Text from formatting: `Debug`, `Display`, an error and its causes.
    Text(&'a [u8]),
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(f64),
    Bool(bool),
}

impl<'a> Raw<'a> {
    /// The value's bytes, if it is text of either kind.
    #[inline]
    pub(crate) fn text(&self) -> Option<&'a [u8]> {
        match *self {
            Raw::Str(text) | Raw::Text(text) => Some(text),
            _ => None,
        }
    }

    /// Appends the value as the text stored in a `Map(String, String)`.
    /// Floats are written as `Display` writes them: the shortest text that
    /// reads back as the same number, without exponent (`12.5`, `95`).
    #[inline]
    pub(crate) fn write_text(&self, out: &mut Vec<u8>) {
        let mut ints = itoa::Buffer::new();
        match *self {
            Raw::Str(v) | Raw::Text(v) => out.extend_from_slice(v),
            Raw::I64(v) => out.extend_from_slice(ints.format(v).as_bytes()),
            Raw::U64(v) => out.extend_from_slice(ints.format(v).as_bytes()),
            Raw::I128(v) => out.extend_from_slice(ints.format(v).as_bytes()),
            Raw::U128(v) => out.extend_from_slice(ints.format(v).as_bytes()),
            Raw::F64(v) => write_f64(v, out),
            Raw::Bool(v) => out.extend_from_slice(if v { b"true" } else { b"false" }),
        }
    }
}

/// Appends `value` as the shortest text that reads back as the same number,
/// without exponent, as `Display` writes it (`12.5`, `95`, `0.00001`): through
/// `zmij`, four times faster, except where it would write an exponent. (Of
/// two shortest texts that both read back right, `zmij` sometimes picks the
/// other last digit: `938390421418346.2` where `Display` says `.3`.)
#[inline]
fn write_f64(value: f64, out: &mut Vec<u8>) {
    if value.is_finite() {
        let mut buffer = zmij::Buffer::new();
        let text = buffer.format_finite(value);
        if !text.contains('e') {
            let text = text.strip_suffix(".0").unwrap_or(text);
            out.extend_from_slice(text.as_bytes());
            return;
        }
    }
    // Writing to a Vec cannot fail.
    let _ = write!(VecWriter(out), "{value}");
}

impl<'a> From<Value<'a>> for Raw<'a> {
    fn from(value: Value<'a>) -> Self {
        match value {
            Value::Str(v) => Raw::Str(v.as_bytes()),
            Value::I64(v) => Raw::I64(v),
            Value::U64(v) => Raw::U64(v),
            Value::I128(v) => Raw::I128(v),
            Value::U128(v) => Raw::U128(v),
            Value::F64(v) => Raw::F64(v),
            Value::Bool(v) => Raw::Bool(v),
        }
    }
}
