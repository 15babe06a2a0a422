//! The console's writer: a thread of its own behind a bounded hand-off, so
//! a terminal that is slow, or a pipe nobody reads, costs lines and never
//! holds up the flusher, and a writer that panics stops only the console.

use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded};

use crate::config::ConsoleWriter;
use crate::report::report;
use crate::stats::Counters;

/// Chunks of lines (one per drain, up to 64 KiB each) waiting for the
/// writer: about a megabyte, a few seconds of a busy terminal.
const WAITING_CHUNKS: usize = 16;

/// How often `sync` looks whether the writer caught up.
const SYNC_POLL: Duration = Duration::from_millis(1);

/// How long `sync` waits for a writer that writes nothing.
const STALL: Duration = Duration::from_millis(100);

/// How long `finish` waits for a writer at least, even past the deadline.
const FINISH_AT_LEAST: Duration = Duration::from_millis(200);

/// A chunk of rendered lines, and how many lines it holds.
type Chunk = (Vec<u8>, u64);

pub(super) struct Output {
    chunks: Option<Sender<Chunk>>,
    /// Chunks handed over, and chunks the writer is done with.
    handed: u64,
    written: Arc<AtomicU64>,
    /// Empty buffers coming back from the writer, to render into again.
    spare: Receiver<Vec<u8>>,
    /// Closed by the writer thread when it is done.
    done: Receiver<()>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    /// Set by the writer thread when the writer panicked: from then on the
    /// lines are counted as dropped here, without being handed over.
    broken: Arc<AtomicBool>,
    /// Whether the writer was found gone (said once).
    gone: bool,
}

impl Output {
    pub(super) fn start(writer: ConsoleWriter, counters: Arc<Counters>) -> std::io::Result<Output> {
        let (chunks, to_write) = bounded::<Chunk>(WAITING_CHUNKS);
        let (give_back, spare) = bounded(WAITING_CHUNKS);
        let (done_tx, done) = bounded::<()>(0);
        let written = Arc::new(AtomicU64::new(0));
        let broken = Arc::new(AtomicBool::new(false));
        let thread_side = WriterSide {
            give_back,
            written: Arc::clone(&written),
            broken: Arc::clone(&broken),
            counters: Arc::clone(&counters),
            _done: done_tx,
        };
        let thread = std::thread::Builder::new()
            .name("tracing-clickhouse-console".into())
            .spawn(move || {
                crate::threads::run_in_background();
                write_chunks(writer, to_write, thread_side)
            })?;
        Ok(Output {
            chunks: Some(chunks),
            handed: 0,
            written,
            spare,
            done,
            thread: Some(thread),
            counters,
            broken,
            gone: false,
        })
    }

    /// Hands `lines` (`count` of them) to the writer, or counts them as
    /// dropped when it is behind or gone; returns a buffer to render into.
    pub(super) fn send(&mut self, lines: Vec<u8>, count: u64) -> Vec<u8> {
        let Some(chunks) = &self.chunks else {
            return lines;
        };
        if self.broken.load(Ordering::Acquire) {
            Counters::add(&self.counters.console_lines_dropped, count);
            let mut lines = lines;
            lines.clear();
            return lines;
        }
        let mut back = match chunks.try_send((lines, count)) {
            Ok(()) => {
                self.handed += 1;
                self.spare.try_recv().unwrap_or_default()
            }
            Err(TrySendError::Full((lines, _))) => {
                Counters::add(&self.counters.console_lines_dropped, count);
                lines
            }
            Err(TrySendError::Disconnected((lines, _))) => {
                Counters::add(&self.counters.console_lines_dropped, count);
                if !std::mem::replace(&mut self.gone, true) {
                    report("the console writer stopped; console lines are no longer printed");
                }
                lines
            }
        };
        back.clear();
        back
    }

    /// Waits until the writer wrote what it was handed, at most until
    /// `deadline`, and no longer than the writer keeps making progress: a
    /// stuck terminal costs a flush [`STALL`], not its whole timeout.
    pub(super) fn sync(&self, deadline: Instant) {
        let alive = |output: &Output| output.thread.as_ref().is_some_and(|t| !t.is_finished());
        let (mut seen, mut progress_at) = (self.written.load(Ordering::Acquire), Instant::now());
        while seen < self.handed && alive(self) {
            let now = Instant::now();
            if now >= deadline || now.duration_since(progress_at) >= STALL {
                return;
            }
            std::thread::sleep(SYNC_POLL);
            let written = self.written.load(Ordering::Acquire);
            if written != seen {
                (seen, progress_at) = (written, Instant::now());
            }
        }
    }

    /// Lets the writer finish what it was handed, waiting at most until
    /// `deadline` (or [`FINISH_AT_LEAST`]); a writer still stuck after that
    /// is left behind rather than hang the program.
    pub(super) fn finish(&mut self, deadline: Instant) {
        drop(self.chunks.take());
        let deadline = deadline.max(Instant::now() + FINISH_AT_LEAST);
        // Nothing is ever sent on `done`: the writer drops its end when it
        // is done, which ends the wait before the deadline.
        if let Err(RecvTimeoutError::Disconnected) = self.done.recv_deadline(deadline)
            && let Some(thread) = self.thread.take()
        {
            let _ = thread.join();
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        // Without a finish (the flusher panicked): let the writer end on
        // its own, never wait for it here.
        drop(self.chunks.take());
    }
}

/// What the writer thread shares with the flusher.
struct WriterSide {
    /// Empty buffers going back to the flusher.
    give_back: Sender<Vec<u8>>,
    /// Chunks done with (written, or counted as dropped).
    written: Arc<AtomicU64>,
    broken: Arc<AtomicBool>,
    counters: Arc<Counters>,
    /// Dropped when the thread ends, which `finish` waits for.
    _done: Sender<()>,
}

/// The writer thread: writes each chunk and gives its buffer back, until
/// the flusher's end is dropped. After the writer panicked it writes
/// nothing more: the lines of that chunk and of every chunk already
/// handed over are counted as dropped, and the flusher counts the rest
/// without handing them over.
fn write_chunks(mut writer: ConsoleWriter, chunks: Receiver<Chunk>, side: WriterSide) {
    for (mut chunk, lines) in chunks {
        if !side.broken.load(Ordering::Relaxed) {
            let written_ok = std::panic::catch_unwind(AssertUnwindSafe(|| {
                // A console that cannot be written loses its lines, nothing else.
                let _ = writer.write_all(&chunk);
                let _ = writer.flush();
            }));
            if written_ok.is_err() {
                report("the console writer panicked; console lines are no longer printed");
                side.broken.store(true, Ordering::Release);
            }
        }
        if side.broken.load(Ordering::Relaxed) {
            Counters::add(&side.counters.console_lines_dropped, lines);
        }
        side.written.fetch_add(1, Ordering::Release);
        chunk.clear();
        let _ = side.give_back.try_send(chunk);
    }
}
