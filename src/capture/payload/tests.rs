//! The payload format: round trips, limits, panics, malformed bytes, text.

use super::kinds::*;
use super::writer::Cuts;
use super::*;
use crate::config::CaptureLimits;

fn written(limits: CaptureLimits, f: impl FnOnce(&mut PayloadWriter<'_>)) -> (Vec<u8>, Cuts) {
    let mut buf = Vec::new();
    let mut writer = PayloadWriter::new(&mut buf, limits);
    f(&mut writer);
    let cuts = writer.finish();
    (buf, cuts)
}

#[test]
fn every_kind_round_trips() {
    let (buf, cuts) = written(CaptureLimits::default(), |w| {
        w.message_fmt(&format_args!("hello {}", 42));
        w.scope("app::db");
        w.str_field("s", "text");
        w.value_field("i", Value::I64(-1));
        w.value_field("u", Value::U64(u64::MAX));
        w.value_field("big", Value::I128(i128::MIN));
        w.value_field("ubig", Value::U128(u128::MAX));
        w.value_field("f", Value::F64(2.5));
        w.value_field("b", Value::Bool(true));
        w.fmt_field("d", |out| write!(out, "{:?}", Some("x")));
    });
    assert_eq!(
        cuts,
        Cuts {
            fields: 8,
            ..Cuts::default()
        }
    );
    let got: Vec<_> = entries(&buf).collect();
    assert_eq!(
        got,
        [
            Entry::Message(b"hello 42"),
            Entry::Scope(b"app::db"),
            Entry::Field(b"s", Raw::Str(b"text")),
            Entry::Field(b"i", Raw::I64(-1)),
            Entry::Field(b"u", Raw::U64(u64::MAX)),
            Entry::Field(b"big", Raw::I128(i128::MIN)),
            Entry::Field(b"ubig", Raw::U128(u128::MAX)),
            Entry::Field(b"f", Raw::F64(2.5)),
            Entry::Field(b"b", Raw::Bool(true)),
            Entry::Field(b"d", Raw::Text(b"Some(\"x\")")),
        ]
    );
}

#[test]
fn long_strings_are_cut_at_a_char_boundary_with_a_marker() {
    let limits = CaptureLimits {
        max_message_bytes: 5,
        max_value_bytes: 4,
        ..CaptureLimits::default()
    };
    let (buf, cuts) = written(limits, |w| {
        w.message_str("héllo world");
        w.str_field("v", "ééé");
        w.fmt_field("d", |out| write!(out, "{:?}", vec![1; 1000]));
        w.str_field("short", "ok");
    });
    let got: Vec<_> = entries(&buf).collect();
    assert_eq!(
        got,
        [
            Entry::Message("héll…[truncated]".as_bytes()),
            Entry::Field(b"v", Raw::Str("éé…[truncated]".as_bytes())),
            Entry::Field(b"d", Raw::Text("[1, …[truncated]".as_bytes())),
            Entry::Field(b"short", Raw::Str(b"ok")),
        ]
    );
    assert_eq!(cuts.truncated, 3);
}

#[test]
fn fields_past_the_limit_are_counted_in_a_note() {
    let limits = CaptureLimits {
        max_fields: 2,
        ..CaptureLimits::default()
    };
    let (buf, cuts) = written(limits, |w| {
        w.message_str("m");
        for i in 0..5u64 {
            w.value_field("n", Value::U64(i));
        }
    });
    assert_eq!(cuts.dropped_fields, 3);
    let got: Vec<_> = entries(&buf).collect();
    assert_eq!(got.len(), 4);
    assert_eq!(got[3], Entry::Field(b"capture.dropped_fields", Raw::U64(3)));
}

#[test]
fn a_panic_mid_entry_leaves_the_complete_entries_and_a_note() {
    let mut buf = Vec::new();
    let mut writer = PayloadWriter::new(&mut buf, CaptureLimits::default());
    writer.str_field("before", "kept");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        writer.fmt_field("bad", |out| {
            out.write_str("half")?;
            panic!("Debug impl failed")
        });
    }));
    assert!(result.is_err());
    writer.recover_from_panic();
    writer.finish();
    let got: Vec<_> = entries(&buf).collect();
    assert_eq!(got[0], Entry::Field(b"before", Raw::Str(b"kept")));
    let note = |text: &[u8]| text.windows(8).any(|w| w == b"panicked");
    assert!(matches!(got[1], Entry::Field(b"capture.error", Raw::Text(text)) if note(text)));
    assert_eq!(got.len(), 2);
}

#[test]
fn malformed_input_ends_the_entries_without_panicking() {
    let (buf, _) = written(CaptureLimits::default(), |w| {
        w.str_field("a", "x");
        w.value_field("b", Value::U64(1));
    });
    for cut in 0..buf.len() {
        let got: Vec<_> = entries(&buf[..cut]).collect();
        assert!(got.len() < 2);
    }
    assert!(entries(&[200, 0, 0]).next().is_none(), "unknown kind");
    assert!(
        entries(&[KIND_STR, 1, b'a', 9, 0, 0, 0]).next().is_none(),
        "length past the end"
    );
}

#[test]
fn long_names_are_cut() {
    let name = "n".repeat(300);
    let (buf, _) = written(CaptureLimits::default(), |w| {
        w.value_field(&name, Value::Bool(false))
    });
    let expected = Entry::Field(&name.as_bytes()[..255], Raw::Bool(false));
    assert_eq!(entries(&buf).next(), Some(expected));
}

proptest::proptest! {
    #[test]
    fn floats_read_back_as_the_same_number(bits in proptest::num::u64::ANY) {
        let value = f64::from_bits(bits);
        let mut out = Vec::new();
        Raw::F64(value).write_text(&mut out);
        let text = String::from_utf8(out).unwrap();
        let display = value.to_string();
        proptest::prop_assert!(!text.contains('e'), "{}", text);
        proptest::prop_assert_eq!(text.len(), display.len());
        let back: f64 = text.parse().unwrap();
        proptest::prop_assert!(back.to_bits() == bits || (value.is_nan() && back.is_nan()));
    }

    #[test]
    fn short_floats_are_written_as_display_writes_them(
        mantissa in -999_999_999_999i64..999_999_999_999,
        scale in 0u32..12,
    ) {
        let value = mantissa as f64 / 10f64.powi(scale as i32);
        let mut out = Vec::new();
        Raw::F64(value).write_text(&mut out);
        proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), value.to_string());
    }
}

#[test]
fn values_as_text() {
    let text = |v: Raw<'_>| {
        let mut out = Vec::new();
        v.write_text(&mut out);
        String::from_utf8(out).unwrap()
    };
    assert_eq!(text(Raw::I64(-5)), "-5");
    assert_eq!(text(Raw::U128(u128::MAX)), u128::MAX.to_string());
    assert_eq!(text(Raw::F64(0.1)), "0.1");
    assert_eq!(text(Raw::F64(95.0)), "95");
    assert_eq!(text(Raw::F64(f64::NAN)), "NaN");
    assert_eq!(text(Raw::F64(-0.0)), "-0");
    assert_eq!(text(Raw::F64(1e21)), "1000000000000000000000");
    assert_eq!(text(Raw::F64(1.5e-7)), "0.00000015");
    assert_eq!(text(Raw::F64(f64::NEG_INFINITY)), "-inf");
    assert_eq!(text(Raw::Bool(true)), "true");
    assert_eq!(text(Raw::Text(b"x y")), "x y");
}

#[test]
fn str_values_formatted_text_and_span_contexts_stay_apart() {
    let (span_fields, _) = written(CaptureLimits::default(), |w| {
        w.str_field("tenant", "acme");
    });
    let (buf, cuts) = written(CaptureLimits::default(), |w| {
        w.message_str("m");
        w.str_field("s", "a str");
        w.fmt_field("f", |out| write!(out, "{}", 7));
        w.span_context("request", &span_fields);
    });
    assert_eq!(cuts.fields, 2, "a span is not a field");
    let got: Vec<_> = entries(&buf).collect();
    assert_eq!(
        got,
        [
            Entry::Message(b"m"),
            Entry::Field(b"s", Raw::Str(b"a str")),
            Entry::Field(b"f", Raw::Text(b"7")),
            Entry::Span(b"request", &span_fields),
        ]
    );
    let inner: Vec<_> = entries(&span_fields).collect();
    assert_eq!(inner, [Entry::Field(b"tenant", Raw::Str(b"acme"))]);
    // Copied fields keep their kind.
    let (copy, _) = written(CaptureLimits::default(), |w| w.copy_fields(&buf));
    let copied: Vec<_> = entries(&copy).collect();
    assert_eq!(
        copied,
        [
            Entry::Field(b"s", Raw::Str(b"a str")),
            Entry::Field(b"f", Raw::Text(b"7"))
        ]
    );
}

proptest::proptest! {
    #[test]
    fn short_appends_copy_exactly(
        before in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
        bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
    ) {
        let mut buf = before.clone();
        super::writer::append(&mut buf, &bytes);
        let mut expected = before;
        expected.extend_from_slice(&bytes);
        proptest::prop_assert_eq!(buf, expected);
    }
}
