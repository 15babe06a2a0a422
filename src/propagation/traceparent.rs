//! `traceparent`: version, trace id, parent span id, flags.

use std::fmt;
use std::num::{NonZeroU64, NonZeroU128};
use std::str::FromStr;

use super::{Rejected, trim_ows};

/// The length of a version-00 `traceparent`.
const TRACEPARENT_LEN: usize = 55;

/// A parsed `traceparent`: the trace, the caller's span, and its flags
/// (bit 0: sampled). Examples in `tests.rs`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct TraceParent {
    trace_id: NonZeroU128,
    parent_id: NonZeroU64,
    flags: u8,
}

impl TraceParent {
    /// The sampled flag.
    pub(crate) const SAMPLED: u8 = 0x01;

    /// A context of these ids; `None` when either is zero.
    pub(crate) fn new(trace_id: u128, parent_id: u64, sampled: bool) -> Option<TraceParent> {
        Some(TraceParent {
            trace_id: NonZeroU128::new(trace_id)?,
            parent_id: NonZeroU64::new(parent_id)?,
            flags: u8::from(sampled),
        })
    }

    /// Parses a `traceparent` value (surrounding spaces and tabs are
    /// allowed). A version above `00` is read by its first four fields, as
    /// the spec asks.
    ///
    /// # Errors
    ///
    /// [`Rejected`] says what is wrong.
    pub(crate) fn parse(value: &[u8]) -> Result<TraceParent, Rejected> {
        let value = trim_ows(value);
        if value.len() < TRACEPARENT_LEN {
            return Err(Rejected::Length);
        }
        let version = hex(&value[0..2]).ok_or(Rejected::Syntax)?;
        if version == 0xff {
            return Err(Rejected::Version);
        }
        if version == 0 && value.len() != TRACEPARENT_LEN {
            return Err(Rejected::Length);
        }
        if value.len() > TRACEPARENT_LEN && value[TRACEPARENT_LEN] != b'-' {
            return Err(Rejected::Syntax);
        }
        if value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
            return Err(Rejected::Syntax);
        }
        let trace_id = hex(&value[3..35]).ok_or(Rejected::Syntax)?;
        let parent_id = hex(&value[36..52]).ok_or(Rejected::Syntax)?;
        let flags = hex(&value[53..55]).ok_or(Rejected::Syntax)?;
        Ok(TraceParent {
            trace_id: NonZeroU128::new(trace_id).ok_or(Rejected::ZeroTraceId)?,
            parent_id: NonZeroU64::new(parent_id as u64).ok_or(Rejected::ZeroParentId)?,
            flags: flags as u8,
        })
    }

    /// The trace id.
    pub(crate) fn trace_id(&self) -> u128 {
        self.trace_id.get()
    }

    /// The caller's span id: the `ParentSpanId` of the span that continues it.
    pub(crate) fn parent_id(&self) -> u64 {
        self.parent_id.get()
    }

    /// The flags as received.
    #[cfg(test)]
    pub(crate) fn flags(&self) -> u8 {
        self.flags
    }

    /// Whether the caller recorded the trace (the parent-based sampler follows it).
    pub(crate) fn is_sampled(&self) -> bool {
        self.flags & Self::SAMPLED != 0
    }

    /// The header value, version `00`, with the sampled flag only (the
    /// flags this crate does not know are not passed on).
    pub(crate) fn to_bytes(self) -> [u8; TRACEPARENT_LEN] {
        let mut out = [b'-'; TRACEPARENT_LEN];
        out[0..2].copy_from_slice(b"00");
        put_hex(&mut out[3..35], &self.trace_id.get().to_be_bytes());
        put_hex(&mut out[36..52], &self.parent_id.get().to_be_bytes());
        put_hex(&mut out[53..55], &[self.flags & Self::SAMPLED]);
        out
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hex digits and dashes only.
        f.write_str(std::str::from_utf8(&self.to_bytes()).unwrap_or_default())
    }
}

impl fmt::Debug for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceParent({self})")
    }
}

impl FromStr for TraceParent {
    type Err = Rejected;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TraceParent::parse(s.as_bytes())
    }
}

/// Lower-case hex digits (at most 32) as a number.
#[inline]
fn hex(digits: &[u8]) -> Option<u128> {
    let mut n: u128 = 0;
    for &b in digits {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        n = (n << 4) | u128::from(digit);
    }
    Some(n)
}

/// `bytes` as lower-case hex digits into `out` (twice as long).
#[inline]
fn put_hex(out: &mut [u8], bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0xf)];
    }
}
