//! Properties of the payload format over generated entries and bytes: what
//! is written reads back as written (or cut as the limits say), and any
//! bytes read as a payload give entries from within them or none, never a
//! panic.

use proptest::prelude::*;

use super::kinds::{MAX_NAME_BYTES, TRUNCATION_MARKER};
use super::*;
use crate::config::CaptureLimits;

/// One entry to write.
#[derive(Clone, Debug)]
enum Op {
    Message(String),
    Scope(String),
    Str(String, String),
    Fmt(String, String),
    Value(String, Owned),
    Span(String, Vec<(String, String)>),
}

/// A [`Value`] that owns its text, for the strategies.
#[derive(Clone, Debug)]
enum Owned {
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(u64),
    Bool(bool),
    Str(String),
}

impl Owned {
    fn value(&self) -> Value<'_> {
        match self {
            Owned::I64(v) => Value::I64(*v),
            Owned::U64(v) => Value::U64(*v),
            Owned::I128(v) => Value::I128(*v),
            Owned::U128(v) => Value::U128(*v),
            Owned::F64(bits) => Value::F64(f64::from_bits(*bits)),
            Owned::Bool(v) => Value::Bool(*v),
            Owned::Str(v) => Value::Str(v),
        }
    }

    /// What the entry reads back as.
    fn raw(&self) -> Raw<'_> {
        match self {
            Owned::I64(v) => Raw::I64(*v),
            Owned::U64(v) => Raw::U64(*v),
            Owned::I128(v) => Raw::I128(*v),
            Owned::U128(v) => Raw::U128(*v),
            Owned::F64(bits) => Raw::F64(f64::from_bits(*bits)),
            Owned::Bool(v) => Raw::Bool(*v),
            Owned::Str(v) => Raw::Str(v.as_bytes()),
        }
    }
}

/// Text with multi-byte characters, so cuts land inside them.
fn text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zé€😀 \n\"\\\\]{0,40}").expect("a regex")
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        text(),
        // Past the longest name kept.
        proptest::string::string_regex("[a-zé]{250,300}").expect("a regex"),
    ]
}

fn owned() -> impl Strategy<Value = Owned> {
    prop_oneof![
        any::<i64>().prop_map(Owned::I64),
        any::<u64>().prop_map(Owned::U64),
        any::<i128>().prop_map(Owned::I128),
        any::<u128>().prop_map(Owned::U128),
        any::<u64>().prop_map(Owned::F64),
        any::<bool>().prop_map(Owned::Bool),
        text().prop_map(Owned::Str),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        text().prop_map(Op::Message),
        text().prop_map(Op::Scope),
        (name(), text()).prop_map(|(n, v)| Op::Str(n, v)),
        (name(), text()).prop_map(|(n, v)| Op::Fmt(n, v)),
        (name(), owned()).prop_map(|(n, v)| Op::Value(n, v)),
        (name(), proptest::collection::vec((text(), text()), 0..4))
            .prop_map(|(n, fields)| Op::Span(n, fields)),
    ]
}

/// The fields of a span, as capture writes them.
fn span_fields(fields: &[(String, String)]) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut writer = PayloadWriter::new(&mut buf, CaptureLimits::default());
    for (name, value) in fields {
        writer.str_field(name, value);
    }
    writer.finish();
    buf
}

fn write(ops: &[Op], limits: CaptureLimits) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut writer = PayloadWriter::new(&mut buf, limits);
    for op in ops {
        match op {
            Op::Message(text) => writer.message_str(text),
            Op::Scope(text) => writer.scope(text),
            Op::Str(name, value) => writer.str_field(name, value),
            Op::Fmt(name, value) => writer.fmt_field(name, |out| out.write_str(value)),
            Op::Value(name, value) => writer.value_field(name, value.value()),
            Op::Span(name, fields) => writer.span_context(name, &span_fields(fields)),
        }
    }
    writer.finish();
    buf
}

/// `text` as the writer keeps it within `limit`: whole, or cut at a
/// character boundary with the marker.
fn kept(text: &str, limit: usize) -> String {
    match text.len() <= limit {
        true => text.to_owned(),
        false => format!("{}{TRUNCATION_MARKER}", cut_at_char_boundary(text, limit)),
    }
}

fn kept_name(name: &str) -> &[u8] {
    cut_at_char_boundary(name, MAX_NAME_BYTES).as_bytes()
}

/// Whether two entries are the same (floats by their bits: NaN too).
fn same(a: &Entry<'_>, b: &Entry<'_>) -> bool {
    match (a, b) {
        (Entry::Field(n, Raw::F64(x)), Entry::Field(m, Raw::F64(y))) => {
            n == m && x.to_bits() == y.to_bits()
        }
        _ => a == b,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Within the limits, every entry reads back as written, in order
    /// (names cut to the longest kept).
    #[test]
    fn entries_read_back_as_written(ops in proptest::collection::vec(op(), 0..12)) {
        let limits = CaptureLimits { max_message_bytes: 1 << 20, max_fields: 1000, max_value_bytes: 1 << 20 };
        let buf = write(&ops, limits);
        let spans: Vec<Vec<u8>> = ops
            .iter()
            .map(|op| match op {
                Op::Span(_, fields) => span_fields(fields),
                _ => Vec::new(),
            })
            .collect();
        let expected: Vec<Entry<'_>> = ops
            .iter()
            .zip(&spans)
            .map(|(op, span)| match op {
                Op::Message(text) => Entry::Message(text.as_bytes()),
                Op::Scope(text) => Entry::Scope(text.as_bytes()),
                Op::Str(name, value) => Entry::Field(kept_name(name), Raw::Str(value.as_bytes())),
                Op::Fmt(name, value) => Entry::Field(kept_name(name), Raw::Text(value.as_bytes())),
                Op::Value(name, value) => Entry::Field(kept_name(name), value.raw()),
                Op::Span(name, _) => Entry::Span(kept_name(name), span),
            })
            .collect();
        let got: Vec<Entry<'_>> = entries(&buf).collect();
        prop_assert_eq!(got.len(), expected.len());
        for (got, expected) in got.iter().zip(&expected) {
            prop_assert!(same(got, expected), "{:?} != {:?}", got, expected);
        }
    }

    /// With small limits, texts are cut at a character boundary with the
    /// marker, fields past the limit are dropped and counted in one last
    /// note, and every text read back is UTF-8.
    #[test]
    fn limits_cut_texts_and_count_dropped_fields(
        ops in proptest::collection::vec(op(), 0..12),
        max_message_bytes in 1usize..12,
        max_value_bytes in 1usize..12,
        max_fields in 0usize..4,
    ) {
        let limits = CaptureLimits { max_message_bytes, max_fields, max_value_bytes };
        let buf = write(&ops, limits);
        let fields = ops.iter().filter(|op| matches!(op, Op::Str(..) | Op::Fmt(..) | Op::Value(..))).count();
        let mut got: Vec<Entry<'_>> = entries(&buf).collect();
        if fields > max_fields {
            let dropped = (fields - max_fields) as u64;
            let note = got.pop();
            prop_assert_eq!(note, Some(Entry::Field(b"capture.dropped_fields", Raw::U64(dropped))));
        }
        let mut admitted = 0;
        let mut got = got.into_iter();
        for op in &ops {
            let expected = match op {
                Op::Message(text) => Some(kept(text, max_message_bytes).into_bytes()),
                Op::Scope(text) => Some(kept(text, max_value_bytes).into_bytes()),
                Op::Span(..) => None,
                Op::Str(_, text) | Op::Fmt(_, text) | Op::Value(_, Owned::Str(text)) => {
                    admitted += 1;
                    if admitted > max_fields {
                        continue;
                    }
                    Some(kept(text, max_value_bytes).into_bytes())
                }
                Op::Value(..) => {
                    admitted += 1;
                    if admitted > max_fields {
                        continue;
                    }
                    None
                }
            };
            let entry = got.next();
            prop_assert!(entry.is_some(), "an entry for {:?}", op);
            let text = match entry.unwrap() {
                Entry::Message(t) | Entry::Scope(t) | Entry::Field(_, Raw::Str(t) | Raw::Text(t)) => Some(t),
                _ => None,
            };
            if let Some(expected) = expected {
                prop_assert_eq!(text, Some(&expected[..]), "{:?}", op);
                prop_assert!(std::str::from_utf8(&expected).is_ok());
            }
        }
        prop_assert!(got.next().is_none());
    }

    /// Any bytes: entries from within them, fewer than half their length,
    /// and copying their fields into a payload gives a payload that reads
    /// back whole (the copy's fields are the entries' fields).
    #[test]
    fn any_bytes_give_entries_within_them_or_none(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let range = bytes.as_ptr_range();
        let within = |part: &[u8]| part.is_empty() || (range.start <= part.as_ptr() && part.as_ptr_range().end <= range.end);
        let mut fields = 0;
        let mut count = 0;
        for entry in entries(&bytes) {
            count += 1;
            match entry {
                Entry::Message(t) | Entry::Scope(t) => prop_assert!(within(t)),
                Entry::Span(n, t) => prop_assert!(within(n) && within(t)),
                Entry::Field(n, value) => {
                    fields += 1;
                    prop_assert!(within(n));
                    if let Some(t) = value.text() {
                        prop_assert!(within(t));
                    }
                }
            }
        }
        prop_assert!(count <= bytes.len() / 2);
        let (read, copied) = read_payload(&bytes);
        prop_assert_eq!(read, count);
        let limit = CaptureLimits::default().max_fields;
        let note = usize::from(fields > limit);
        prop_assert_eq!(copied, fields.min(limit) + note);
    }

    /// A valid payload cut short, or with one byte changed, still reads
    /// without a panic, and a cut one gives a prefix of the entries.
    #[test]
    fn damaged_payloads_read_without_panicking(
        ops in proptest::collection::vec(op(), 1..8),
        cut in any::<proptest::sample::Index>(),
        flip in any::<(proptest::sample::Index, u8)>(),
    ) {
        let buf = write(&ops, CaptureLimits::default());
        let whole: Vec<Entry<'_>> = entries(&buf).collect();
        let cut = cut.index(buf.len() + 1);
        let prefix: Vec<Entry<'_>> = entries(&buf[..cut]).collect();
        prop_assert!(prefix.len() <= whole.len());
        for (a, b) in prefix.iter().zip(&whole) {
            prop_assert!(same(a, b));
        }
        let mut changed = buf.clone();
        if !changed.is_empty() {
            let at = flip.0.index(changed.len());
            changed[at] ^= flip.1 | 1;
        }
        let _ = read_payload(&changed);
    }
}
