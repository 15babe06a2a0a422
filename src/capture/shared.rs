//! What every capture path shares: the queue, the clock, the limits; how
//! a payload is written (through the thread's scratch buffer, with panics
//! contained) and a log record queued.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use super::payload::PayloadWriter;
use crate::clock::Clock;
use crate::config::CaptureLimits;
use crate::propagation::RemoteContext;
use crate::queue::Queue;
use crate::record::{INLINE_PAYLOAD, LogRecord, Payload, Record, Severity, TraceContext};
use crate::stats::Counters;
use crate::threads;

/// What every capture path shares: the queue and how much to keep.
#[derive(Debug)]
pub(crate) struct CaptureShared {
    pub(crate) queue: Arc<Queue>,
    /// Stamps records with the time of capture.
    pub(crate) clock: Clock,
    pub(crate) limits: CaptureLimits,
    pub(crate) span_fields_in_logs: bool,
    /// Whether a log carries the spans around it for the console.
    pub(crate) console_spans: bool,
    /// Which new traces are recorded.
    pub(crate) sampler: super::sampler::Sampler,
}

impl CaptureShared {
    pub(super) fn counters(&self) -> &Counters {
        &self.queue.counters
    }

    pub(crate) fn stats(&self) -> crate::Stats {
        self.queue.stats()
    }

    /// Counts a remote context's rejected `traceparent` or `tracestate`.
    pub(super) fn count_rejection(&self, remote: &RemoteContext) {
        if remote.rejected().is_some() {
            Counters::add(&self.counters().trace_context_rejected, 1);
        }
    }

    /// Writes entries at the end of `buf` within the limits (`fields` were
    /// already written). A panic inside `write` (a `Debug` impl that panics)
    /// is contained: the entries completed so far stay, with a note.
    #[inline]
    pub(super) fn write_payload<R: Default>(
        &self,
        buf: &mut Vec<u8>,
        fields: usize,
        write: impl FnOnce(&mut PayloadWriter<'_>) -> R,
    ) -> (R, usize) {
        let mut writer = PayloadWriter::resume(buf, self.limits, fields);
        let out = match catch_unwind(AssertUnwindSafe(|| write(&mut writer))) {
            Ok(out) => out,
            Err(_panic) => {
                writer.recover_from_panic();
                Counters::add(&self.counters().capture_panics, 1);
                R::default()
            }
        };
        let cuts = writer.finish();
        Counters::add(&self.counters().truncated_values, cuts.truncated);
        Counters::add(&self.counters().dropped_fields, cuts.dropped_fields);
        (out, cuts.fields)
    }

    /// Like `write_payload`, through the thread's scratch buffer, returning
    /// a copy of the payload in one exact-size allocation.
    #[inline]
    pub(super) fn capture_boxed<R: Default>(
        &self,
        write: impl FnOnce(&mut PayloadWriter<'_>) -> R,
    ) -> (Box<[u8]>, R) {
        with_scratch(|buf| {
            let (out, _) = self.write_payload(buf, 0, write);
            (Box::from(buf.as_slice()), out)
        })
    }

    /// Like `write_payload` (resuming a payload of `fields` fields), through
    /// the thread's scratch buffer, handing the bytes written and the
    /// field count to `keep`, which copies them where they go.
    #[inline]
    pub(super) fn capture_with<R: Default, T>(
        &self,
        fields: usize,
        write: impl FnOnce(&mut PayloadWriter<'_>) -> R,
        keep: impl FnOnce(&[u8], R, usize) -> T,
    ) -> T {
        with_scratch(|buf| {
            let (out, fields) = self.write_payload(buf, fields, write);
            keep(buf, out, fields)
        })
    }

    /// Writes a log record's payload with `write` through the thread's
    /// scratch buffer and, unless `skip` says otherwise, queues the record:
    /// the payload is copied straight into the queue's slot when it fits.
    #[inline]
    pub(super) fn capture_log<R: Default>(
        &self,
        head: LogHead,
        write: impl FnOnce(&mut PayloadWriter<'_>) -> R,
        skip: impl FnOnce(&R) -> bool,
    ) -> R {
        with_scratch(|buf| {
            let (out, _) = self.write_payload(buf, 0, write);
            if skip(&out) {
                return out;
            }
            let heap = Payload::<INLINE_PAYLOAD>::heap_copy(buf);
            let heap_bytes = heap.as_ref().map_or(0, |bytes| bytes.len());
            let ticks = self.clock.ticks();
            let thread_id = threads::current_id();
            // The closure writes the record first thing, and what follows
            // (copying bytes into its payload) cannot panic.
            let init = |slot: &mut std::mem::MaybeUninit<Record>| {
                let record = slot.write(Record::Log(LogRecord {
                    ticks,
                    severity: head.severity,
                    metadata: head.metadata,
                    trace: head.trace,
                    trace_flags: u8::from(head.sampled),
                    thread_id,
                    payload: Payload::EMPTY,
                }));
                if let Record::Log(log) = record {
                    match heap {
                        Some(bytes) => log.payload.set_heap(bytes),
                        None => log.payload.fill(buf),
                    }
                }
            };
            // SAFETY: `init` writes the record (above).
            unsafe { self.queue.push_with(heap_bytes, init) };
            out
        })
    }
}

/// What a log record holds besides its payload, its time and its thread.
#[derive(Debug)]
pub(super) struct LogHead {
    pub(super) severity: Severity,
    pub(super) metadata: Option<&'static tracing::Metadata<'static>>,
    pub(super) trace: Option<TraceContext>,
    /// Whether the trace is sampled (`TraceFlags` 1).
    pub(super) sampled: bool,
}

/// Scratch buffers larger than this are not kept for the next event.
const MAX_KEPT_SCRATCH: usize = 64 << 10;

thread_local! {
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` with an empty buffer: the thread's scratch, taken out while in
/// use, so an event emitted from inside a `Debug` impl simply gets a fresh one.
#[inline]
fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let mut buf = SCRATCH.try_with(Cell::take).unwrap_or_default();
    buf.clear();
    let out = f(&mut buf);
    if buf.capacity() <= MAX_KEPT_SCRATCH {
        // Gone during thread teardown; then the buffer is simply freed.
        let _ = SCRATCH.try_with(|cell| cell.set(buf));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scratch_buffer_is_reentrant() {
        let outer = with_scratch(|outer| {
            outer.extend_from_slice(b"outer");
            let inner = with_scratch(|inner| {
                inner.extend_from_slice(b"inner");
                inner.clone()
            });
            outer.extend_from_slice(&inner);
            outer.clone()
        });
        assert_eq!(outer, b"outerinner");
        assert_eq!(
            with_scratch(|buf| buf.len()),
            0,
            "cleared for the next user"
        );
    }
}
