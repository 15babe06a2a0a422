//! What capture hands to the flusher, and the severity scale rows use.
//!
//! Records carry their message and fields as a payload (see
//! `capture::payload`): numbers are turned into text on the flusher thread,
//! never on the application's.

use std::fmt;
use std::mem::MaybeUninit;
use std::num::NonZeroU64;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::Metadata;

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
    pub const fn number(self) -> u8 {
        match self {
            Severity::Trace => 1,
            Severity::Debug => 5,
            Severity::Info => 9,
            Severity::Warn => 13,
            Severity::Error => 17,
            Severity::Fatal => 21,
        }
    }

    #[inline]
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

/// The span a row belongs to. Stored as three words (no 16-byte alignment)
/// with a non-zero span id, so `Option<TraceContext>` costs nothing more and
/// a log record stays small in the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TraceContext {
    trace_high: u64,
    trace_low: u64,
    span_id: NonZeroU64,
}

impl TraceContext {
    pub(crate) fn new(trace_id: u128, span_id: NonZeroU64) -> Self {
        TraceContext {
            trace_high: (trace_id >> 64) as u64,
            trace_low: trace_id as u64,
            span_id,
        }
    }

    pub(crate) fn trace_id(&self) -> u128 {
        (u128::from(self.trace_high) << 64) | u128::from(self.trace_low)
    }

    pub(crate) fn span_id(&self) -> u64 {
        self.span_id.get()
    }
}

/// One `logs` row, as captured on the application thread.
#[derive(Debug)]
pub(crate) struct LogRecord {
    /// When it was captured, in ticks of the capture clock (see `clock`).
    pub(crate) ticks: u64,
    pub(crate) severity: Severity,
    /// The callsite of a tracing event; `None` for `collect_log` rows, whose
    /// source is the payload's scope entry.
    pub(crate) metadata: Option<&'static Metadata<'static>>,
    pub(crate) trace: Option<TraceContext>,
    /// `TraceFlags`: 1 in a sampled trace, else 0.
    pub(crate) trace_flags: u8,
    /// Our own number for the emitting thread; see `capture::thread`.
    pub(crate) thread_id: u32,
    /// Message and fields; see `capture::payload`.
    pub(crate) payload: Payload,
}

/// One `spans` row, captured when the span closes.
#[derive(Debug)]
pub(crate) struct SpanRecord {
    /// Creation and close, in ticks of the capture clock.
    pub(crate) start_ticks: u64,
    pub(crate) end_ticks: u64,
    pub(crate) metadata: &'static Metadata<'static>,
    /// The span's own trace and span id.
    pub(crate) context: TraceContext,
    /// 0 for a root span.
    pub(crate) parent_span_id: u64,
    pub(crate) thread_id: u32,
    /// The span's fields, in the order recorded (a later value of a name
    /// wins): in the record when they fit, as most spans' do.
    pub(crate) payload: SpanPayload,
    /// The field that made the span an error (`error`, or one recorded as an error).
    pub(crate) error_field: Option<&'static str>,
    /// The `tracestate` the trace came with.
    pub(crate) trace_state: crate::propagation::TraceState,
}

/// One `events` row (`record_event`).
#[derive(Debug)]
pub(crate) struct EventRecord {
    /// When it was captured, in ticks of the capture clock.
    pub(crate) ticks: u64,
    pub(crate) event_type: String,
    pub(crate) source: String,
    pub(crate) trace: Option<TraceContext>,
    /// The details, as payload fields.
    pub(crate) payload: Box<[u8]>,
}

/// Payload bytes kept inside a log record itself: chosen so that a queue
/// slot (the record and the ring's 8-byte stamp) is 256 bytes, four cache
/// lines.
pub(crate) const INLINE_PAYLOAD: usize = 198;

/// Field bytes kept inside a span record (and an open span's state): what
/// the slot has room for beside the span's other columns. A span with one
/// to five small fields fits (an entry is a name, 2 bytes and the value).
pub(crate) const SPAN_INLINE_PAYLOAD: usize = 142;

/// A span record's fields.
pub(crate) type SpanPayload = Payload<SPAN_INLINE_PAYLOAD>;

/// A record's payload: inside the record when it fits (most events and
/// spans, so capturing one allocates nothing and the flusher frees
/// nothing), on the heap when it does not. `N`, the bytes kept inline, is
/// at most 255.
pub(crate) struct Payload<const N: usize = INLINE_PAYLOAD>(Repr<N>);

enum Repr<const N: usize> {
    /// The first `len` bytes are initialized.
    Inline {
        len: u8,
        bytes: [MaybeUninit<u8>; N],
    },
    Heap(Box<[u8]>),
}

impl<const N: usize> Payload<N> {
    /// The inline length is a `u8`.
    const FITS_A_U8: () = assert!(N <= u8::MAX as usize);

    /// Where a payload of `bytes` will live: a heap copy made now when they
    /// do not fit inline (`Some`), else inline (`None`): the record is
    /// written into its slot with [`Payload::EMPTY`], then the payload
    /// [filled](Payload::fill) or [set](Payload::set_heap) in place, so the
    /// (uninitialized) inline room is never copied.
    #[inline]
    pub(crate) fn heap_copy(bytes: &[u8]) -> Option<Box<[u8]>> {
        (bytes.len() > N).then(|| Box::from(bytes))
    }

    /// An empty inline payload (its room uninitialized).
    pub(crate) const EMPTY: Self = {
        #[allow(clippy::let_unit_value)]
        let () = Self::FITS_A_U8;
        Payload(Repr::Inline {
            len: 0,
            bytes: [MaybeUninit::uninit(); N],
        })
    };

    /// Makes this (empty inline) payload the heap copy `bytes`, in place.
    #[inline]
    pub(crate) fn set_heap(&mut self, bytes: Box<[u8]>) {
        *self = Payload(Repr::Heap(bytes));
    }

    /// Copies `bytes` into an inline payload (a heap payload holds them
    /// already). Done in place, in the
    /// queue's slot, so the event's bytes are copied once.
    #[inline]
    pub(crate) fn fill(&mut self, bytes: &[u8]) {
        if let Repr::Inline { len, bytes: room } = &mut self.0 {
            let n = bytes.len().min(N);
            // SAFETY: `MaybeUninit<u8>` has the layout of `u8`, and `n`
            // bytes fit in both.
            unsafe {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), room.as_mut_ptr().cast::<u8>(), n);
            }
            *len = n as u8;
        }
    }

    /// A payload holding a copy of `bytes`.
    #[cfg(any(test, tracing_clickhouse_loom))]
    pub(crate) fn copy_of(bytes: &[u8]) -> Self {
        let mut payload = Self::EMPTY;
        payload.replace_with(bytes);
        payload
    }

    /// Makes this payload a copy of `bytes`, inline when they fit.
    #[inline]
    pub(crate) fn replace_with(&mut self, bytes: &[u8]) {
        match Self::heap_copy(bytes) {
            Some(heap) => self.set_heap(heap),
            None => {
                *self = Self::EMPTY;
                self.fill(bytes);
            }
        }
    }

    /// Appends `more`, moving to the heap (one exact-size allocation) when
    /// the whole no longer fits.
    pub(crate) fn extend(&mut self, more: &[u8]) {
        let len = self.len();
        match &mut self.0 {
            Repr::Inline { len: inline, bytes } if len + more.len() <= N => {
                // SAFETY: `MaybeUninit<u8>` has the layout of `u8`, and the
                // `more.len()` bytes fit after the `len` in use.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        more.as_ptr(),
                        bytes.as_mut_ptr().add(len).cast::<u8>(),
                        more.len(),
                    );
                }
                *inline = (len + more.len()) as u8;
            }
            _ if more.is_empty() => {}
            _ => {
                let mut joined = Vec::with_capacity(len + more.len());
                joined.extend_from_slice(self);
                joined.extend_from_slice(more);
                self.set_heap(joined.into_boxed_slice());
            }
        }
    }

    /// Moves this payload into `empty` (an empty inline payload, in a
    /// queue's slot), leaving this one empty: the bytes in use are copied,
    /// or the heap copy moved.
    #[inline]
    pub(crate) fn move_into(&mut self, empty: &mut Self) {
        match &mut self.0 {
            Repr::Heap(bytes) => empty.set_heap(std::mem::take(bytes)),
            Repr::Inline { .. } => empty.fill(self),
        }
        *self = Self::EMPTY;
    }

    /// Heap memory the payload holds (0 when inline).
    #[inline]
    pub(crate) fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Inline { .. } => 0,
            Repr::Heap(bytes) => bytes.len(),
        }
    }
}

impl<const N: usize> Default for Payload<N> {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl<const N: usize> std::ops::Deref for Payload<N> {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match &self.0 {
            // SAFETY: the first `len` bytes were written by `fill`.
            Repr::Inline { len, bytes } => unsafe {
                std::slice::from_raw_parts(bytes.as_ptr().cast::<u8>(), usize::from(*len))
            },
            Repr::Heap(bytes) => bytes,
        }
    }
}

impl<const N: usize> fmt::Debug for Payload<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Payload({} bytes)", self.len())
    }
}

/// Everything that travels through the queue, written into and read from
/// its slot in place (see `pipeline::ring`).
#[derive(Debug)]
pub(crate) enum Record {
    Log(LogRecord),
    Span(SpanRecord),
    Event(EventRecord),
}

impl Record {
    /// An INFO log record captured at `ticks` with a payload of
    /// `payload_bytes` zeros: what the queue's tests and models push.
    #[cfg(any(test, tracing_clickhouse_loom))]
    pub(crate) fn test_log(ticks: u64, payload_bytes: usize) -> Record {
        Record::Log(LogRecord {
            ticks,
            severity: Severity::Info,
            metadata: None,
            trace: None,
            trace_flags: 0,
            thread_id: 0,
            payload: Payload::copy_of(&vec![0; payload_bytes]),
        })
    }

    /// When the record was captured (a span: when it closed), in ticks.
    #[inline]
    pub(crate) fn ticks(&self) -> u64 {
        match self {
            Record::Log(log) => log.ticks,
            Record::Span(span) => span.end_ticks,
            Record::Event(event) => event.ticks,
        }
    }

    /// Heap memory the record holds beyond its queue slot, for the queue's
    /// byte bound.
    #[inline]
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            Record::Log(log) => log.payload.heap_bytes(),
            Record::Span(span) => span.payload.heap_bytes(),
            Record::Event(event) => {
                event.payload.len() + event.event_type.len() + event.source.len()
            }
        }
    }
}

/// Nanoseconds since the Unix epoch, now.
#[inline]
pub(crate) fn now_ns() -> i64 {
    unix_ns(SystemTime::now())
}

/// Nanoseconds since the Unix epoch (negative before it); i64 nanoseconds
/// last until the year 2262.
pub(crate) fn unix_ns(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_nanos()).map_or(i64::MIN, |ns| -ns),
    }
}

/// The time `ns` nanoseconds after (or before) the Unix epoch.
pub(crate) fn from_unix_ns(ns: i64) -> SystemTime {
    let magnitude = Duration::from_nanos(ns.unsigned_abs());
    if ns >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
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
    fn unix_ns_round_trips() {
        for ns in [0, 1, 1_700_000_000_123_456_789, -5_000] {
            assert_eq!(unix_ns(from_unix_ns(ns)), ns);
        }
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    #[test]
    fn a_queue_slot_is_four_cache_lines() {
        assert_eq!(std::mem::size_of::<Option<TraceContext>>(), 24);
        // The ring adds an 8-byte stamp to every slot.
        assert_eq!(std::mem::size_of::<Record>() + 8, 256);
    }

    #[test]
    fn small_payloads_stay_inline_and_large_ones_go_to_the_heap() {
        let small: Payload = Payload::copy_of(b"abc");
        assert_eq!((&*small, small.heap_bytes()), (&b"abc"[..], 0));
        assert_eq!(&*Payload::<INLINE_PAYLOAD>::copy_of(b""), b"");
        let fits = vec![7; INLINE_PAYLOAD];
        assert_eq!(Payload::<INLINE_PAYLOAD>::copy_of(&fits).heap_bytes(), 0);
        let large = vec![7; INLINE_PAYLOAD + 1];
        let payload: Payload = Payload::copy_of(&large);
        assert_eq!((&*payload, payload.heap_bytes()), (&large[..], large.len()));
    }

    #[test]
    fn a_span_payload_grows_onto_the_heap_and_moves_into_its_slot() {
        let mut fields = SpanPayload::copy_of(b"first");
        fields.extend(b"-second");
        assert_eq!((&*fields, fields.heap_bytes()), (&b"first-second"[..], 0));
        let mut slot = SpanPayload::EMPTY;
        fields.move_into(&mut slot);
        assert_eq!((&*slot, slot.heap_bytes()), (&b"first-second"[..], 0));

        let mut fields = SpanPayload::copy_of(&[1; SPAN_INLINE_PAYLOAD]);
        assert_eq!(fields.heap_bytes(), 0, "exactly full still inline");
        fields.extend(b"x");
        let mut expected = vec![1; SPAN_INLINE_PAYLOAD];
        expected.push(b'x');
        assert_eq!(
            (&*fields, fields.heap_bytes()),
            (&expected[..], expected.len())
        );
        let mut slot = SpanPayload::EMPTY;
        fields.move_into(&mut slot);
        assert_eq!((&*slot, slot.heap_bytes()), (&expected[..], expected.len()));
        fields = SpanPayload::default();
        fields.extend(b"");
        assert!(fields.is_empty());
    }

    #[test]
    fn trace_ids_round_trip() {
        let span = NonZeroU64::new(7).unwrap();
        let context = TraceContext::new(u128::MAX - 5, span);
        assert_eq!((context.trace_id(), context.span_id()), (u128::MAX - 5, 7));
    }
}
