//! The parsers and carriers, by example and by property (any bytes parse
//! or are rejected, never a panic; what we send parses back as itself).

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn a_valid_traceparent_round_trips() {
    let parent = TraceParent::parse(VALID.as_bytes()).unwrap();
    assert_eq!(parent.trace_id(), 0x4bf92f3577b34da6a3ce929d0e0e4736);
    assert_eq!(parent.parent_id(), 0x00f067aa0ba902b7);
    assert!(parent.is_sampled());
    assert_eq!(parent.to_string(), VALID);
    let unsampled = TraceParent::parse(&VALID.replace("-01", "-00").into_bytes()).unwrap();
    assert!(!unsampled.is_sampled());
    assert_eq!(
        TraceParent::parse(format!(" \t{VALID} ").as_bytes()),
        Ok(parent)
    );
}

#[test]
fn invalid_traceparents_say_why() {
    let cases = [
        ("", Rejected::Length),
        (&VALID[..54], Rejected::Length),
        (&format!("{VALID}-"), Rejected::Length),
        (
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            Rejected::Version,
        ),
        (
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            Rejected::Syntax,
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            Rejected::Syntax,
        ),
        (
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            Rejected::Syntax,
        ),
        (
            "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            Rejected::Syntax,
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0G",
            Rejected::Syntax,
        ),
        (
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            Rejected::ZeroTraceId,
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            Rejected::ZeroParentId,
        ),
    ];
    for (value, why) in cases {
        assert_eq!(TraceParent::parse(value.as_bytes()), Err(why), "{value:?}");
    }
}

#[test]
fn a_later_version_is_read_by_its_first_fields() {
    let later = format!("cc{}-what-comes-next", &VALID[2..]);
    let parent = TraceParent::parse(later.as_bytes()).unwrap();
    assert_eq!(parent.trace_id(), 0x4bf92f3577b34da6a3ce929d0e0e4736);
    assert_eq!(parent.to_string(), VALID, "sent on as version 00");
    let glued = format!("cc{}x", &VALID[2..]);
    assert_eq!(TraceParent::parse(glued.as_bytes()), Err(Rejected::Syntax));
}

#[test]
fn trace_state_keeps_valid_lists_and_rejects_the_rest() {
    let parse = |values: &[&str]| TraceState::parse(values.iter().map(|v| v.as_bytes()));
    assert_eq!(parse(&[]).unwrap(), TraceState::default());
    assert_eq!(parse(&["", " , "]).unwrap(), TraceState::default());
    assert_eq!(
        parse(&["a=1 , b@vendor=x y", "c=3"]).unwrap().as_str(),
        "a=1,b@vendor=x y,c=3"
    );
    for bad in [
        "A=1",
        "a",
        "a=",
        "a=1,a=2",
        "a=b=c",
        "1a=x",
        "a=x\u{7f}",
        "a@=1",
        "a@b@c=1",
    ] {
        assert_eq!(parse(&[bad]), Err(Rejected::TraceState), "{bad:?}");
    }
    let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
    assert_eq!(parse(&[&many.join(",")]), Err(Rejected::TraceStateMembers));
    assert_eq!(
        parse(&[&many[..32].join(",")])
            .unwrap()
            .as_str()
            .split(',')
            .count(),
        32
    );
}

#[test]
fn a_long_trace_state_is_cut_to_512_bytes_long_members_first() {
    let long = format!("big={}", "x".repeat(200));
    let small: Vec<String> = (0..30)
        .map(|i| format!("k{i:02}={}", "y".repeat(10)))
        .collect();
    let header = format!("{long},{}", small.join(","));
    let state = TraceState::parse([header.as_bytes()]).unwrap();
    assert!(
        !state.as_str().contains("big="),
        "the long member went first"
    );
    assert!(state.as_str().len() <= 512);
    let from_end: Vec<String> = (0..20)
        .map(|i| format!("k{i:02}={}", "z".repeat(30)))
        .collect();
    let state = TraceState::parse([from_end.join(",").as_bytes()]).unwrap();
    assert!(state.as_str().len() <= 512);
    assert!(state.as_str().starts_with("k00="), "cut from the end");
    assert_eq!(state.as_str().split(',').count(), 14);
}

#[test]
fn extraction_from_headers_and_pairs() {
    let mut headers = http::HeaderMap::new();
    assert_eq!(RemoteContext::extract(&headers), RemoteContext::default());
    headers.insert("traceparent", VALID.parse().unwrap());
    headers.append("tracestate", "a=1".parse().unwrap());
    headers.append("tracestate", "b=2".parse().unwrap());
    let remote = RemoteContext::extract(&headers);
    assert_eq!(remote.parent.unwrap().to_string(), VALID);
    let caller = remote.parent().unwrap();
    assert_eq!(
        (caller.trace_id(), caller.span_id(), caller.is_sampled()),
        (0x4bf92f3577b34da6a3ce929d0e0e4736, 0x00f067aa0ba902b7, true)
    );
    assert_eq!(caller.trace_state(), "a=1,b=2");
    assert_eq!(remote.rejected(), None);

    headers.append("traceparent", VALID.parse().unwrap());
    let twice = RemoteContext::extract(&headers);
    assert_eq!(
        (twice.parent(), twice.rejected()),
        (None, Some(Rejected::Repeated))
    );
    assert!(twice.state.is_empty(), "no tracestate without a parent");

    let pairs = vec![("TraceParent", VALID), ("tracestate", "A=1")];
    let remote = RemoteContext::extract(&pairs);
    assert!(remote.parent().is_some(), "the parent stays");
    assert_eq!(remote.rejected(), Some(Rejected::TraceState));
    assert_eq!(remote.parent().unwrap().trace_state(), "");
}

#[test]
fn injection_writes_both_fields() {
    let context = SpanContext {
        trace_id: 0x4bf92f3577b34da6a3ce929d0e0e4736,
        span_id: 0x00f067aa0ba902b7,
        sampled: true,
        state: TraceState::parse([&b"a=1"[..]]).unwrap(),
    };
    let mut headers = http::HeaderMap::new();
    context.inject(&mut headers);
    assert_eq!(headers["traceparent"], VALID);
    assert_eq!(headers["tracestate"], "a=1");
    let mut map: HashMap<String, String> = HashMap::new();
    context.inject(&mut map);
    assert_eq!(map["traceparent"], VALID);
    let mut pairs = vec![("TRACEPARENT".to_owned(), "old".to_owned())];
    context.inject(&mut pairs);
    assert_eq!(pairs.len(), 2);
    assert_eq!(pairs[0], ("traceparent".to_owned(), VALID.to_owned()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_traceparent_bytes_parse_or_are_rejected(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(parent) = TraceParent::parse(&bytes) {
            prop_assert!(parent.trace_id() != 0 && parent.parent_id() != 0);
            let again = TraceParent::parse(parent.to_string().as_bytes()).unwrap();
            prop_assert_eq!(again.trace_id(), parent.trace_id());
        }
    }

    #[test]
    fn valid_traceparents_round_trip(trace in 1..=u128::MAX, parent in 1..=u64::MAX, flags in any::<u8>()) {
        let text = format!("00-{trace:032x}-{parent:016x}-{flags:02x}");
        let parsed = TraceParent::parse(text.as_bytes()).unwrap();
        prop_assert_eq!((parsed.trace_id(), parsed.parent_id(), parsed.flags()), (trace, parent, flags));
        prop_assert_eq!(parsed.is_sampled(), flags & 1 == 1);
        let sent = parsed.to_string();
        prop_assert_eq!(&sent[..53], &text[..53]);
        let mut upper = text.clone();
        upper.replace_range(3..4, "A");
        if text.as_bytes()[3].is_ascii_alphabetic() {
            prop_assert!(TraceParent::parse(upper.as_bytes()).is_err());
        }
    }

    #[test]
    fn any_tracestate_is_bounded_or_rejected(values in proptest::collection::vec(
        proptest::collection::vec(prop_oneof![Just(b','), Just(b'='), Just(b' '), Just(b'@'), b'a'..=b'z', b'0'..=b'9', any::<u8>()], 0..600), 0..4)) {
        if let Ok(state) = TraceState::parse(values.iter().map(Vec::as_slice)) {
            prop_assert!(state.as_str().len() <= 512);
            prop_assert!(state.as_str().split(',').count() <= 32);
            prop_assert!(state.as_str().bytes().all(|b| (0x20..0x7f).contains(&b)));
            // What we send parses back as itself.
            let again = TraceState::parse([state.as_str().as_bytes()]).unwrap();
            prop_assert_eq!(again, state);
        }
    }
}
