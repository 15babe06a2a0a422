//! `tracestate`: vendors' key=value entries, validated and bounded.

use std::fmt;
use std::sync::Arc;

use super::{Rejected, trim_ows};

/// Bytes of `tracestate` kept (the spec's floor of what to propagate).
const MAX_TRACE_STATE_BYTES: usize = 512;
/// List members a `tracestate` may have.
const MAX_TRACE_STATE_MEMBERS: usize = 32;
/// Members longer than this go first when a `tracestate` is cut.
const LONG_MEMBER_BYTES: usize = 128;

/// A `tracestate`: vendors' entries, passed on unchanged (validated, at
/// most 32 members and 512 bytes). Cloning shares it.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct TraceState(Option<Arc<str>>);

impl TraceState {
    /// Parses the `tracestate` fields of a request, in order (several are
    /// one list, joined by commas).
    ///
    /// # Errors
    ///
    /// [`Rejected::TraceState`] for a list that breaks the syntax or
    /// repeats a key, [`Rejected::TraceStateMembers`] for more than 32 members.
    pub(crate) fn parse<'a>(
        values: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<TraceState, Rejected> {
        let mut members: [&[u8]; MAX_TRACE_STATE_MEMBERS] = [&[]; MAX_TRACE_STATE_MEMBERS];
        let mut count = 0;
        for value in values {
            for member in value.split(|&b| b == b',') {
                let member = trim_ows(member);
                if member.is_empty() {
                    continue;
                }
                if count == MAX_TRACE_STATE_MEMBERS {
                    return Err(Rejected::TraceStateMembers);
                }
                let key = valid_member(member).ok_or(Rejected::TraceState)?;
                if members[..count].iter().any(|m| key_of(m) == key) {
                    return Err(Rejected::TraceState);
                }
                members[count] = member;
                count += 1;
            }
        }
        let mut kept = &mut members[..count];
        let total = |kept: &[&[u8]]| {
            kept.iter()
                .map(|m| m.len() + 1)
                .sum::<usize>()
                .saturating_sub(1)
        };
        // Over the limit: members over 128 bytes go, then members from the end.
        if total(kept) > MAX_TRACE_STATE_BYTES {
            let mut short = 0;
            for i in 0..kept.len() {
                if kept[i].len() <= LONG_MEMBER_BYTES {
                    kept[short] = kept[i];
                    short += 1;
                }
            }
            kept = &mut kept[..short];
            while total(kept) > MAX_TRACE_STATE_BYTES {
                let last = kept.len() - 1;
                kept = &mut kept[..last];
            }
        }
        if kept.is_empty() {
            return Ok(TraceState::default());
        }
        let mut text = String::with_capacity(total(kept));
        for (i, member) in kept.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            // Checked to be printable ASCII.
            text.push_str(std::str::from_utf8(member).unwrap_or_default());
        }
        Ok(TraceState(Some(Arc::from(text))))
    }

    /// The list, as sent on (empty when there is none).
    pub(crate) fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }

    /// Whether there is none.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

impl fmt::Debug for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceState({:?})", self.as_str())
    }
}

/// The key of a valid member, or `None`. `key = simple-key /
/// tenant@system`; `value` is 1 to 256 printable characters but `,` and
/// `=`, not ending in a space.
fn valid_member(member: &[u8]) -> Option<&[u8]> {
    let eq = member.iter().position(|&b| b == b'=')?;
    let (key, value) = (&member[..eq], &member[eq + 1..]);
    let key_char = |b: u8| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/');
    let key_ok = match key.iter().position(|&b| b == b'@') {
        None => {
            (1..=256).contains(&key.len())
                && key[0].is_ascii_lowercase()
                && key.iter().all(|&b| key_char(b))
        }
        Some(at) => {
            let (tenant, system) = (&key[..at], &key[at + 1..]);
            (1..=241).contains(&tenant.len())
                && (tenant[0].is_ascii_lowercase() || tenant[0].is_ascii_digit())
                && tenant.iter().all(|&b| key_char(b))
                && (1..=14).contains(&system.len())
                && system[0].is_ascii_lowercase()
                && system.iter().all(|&b| key_char(b))
        }
    };
    let value_ok = (1..=256).contains(&value.len())
        && value
            .iter()
            .all(|&b| matches!(b, 0x20..=0x2b | 0x2d..=0x3c | 0x3e..=0x7e))
        && value.last() != Some(&b' ');
    (key_ok && value_ok).then_some(key)
}

fn key_of(member: &[u8]) -> &[u8] {
    member.split(|&b| b == b'=').next().unwrap_or_default()
}
