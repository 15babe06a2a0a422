//! The bounded lock-free queue between application threads and the flusher.
//!
//! A push is one `ArrayQueue::push`: no lock, no allocation, no system call.
//! When the queue is full the record is dropped and counted (the application
//! never blocks). The flusher polls on a short interval; a producer that sees
//! the queue half full wakes it early, at most once per drain.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;

use crossbeam::queue::ArrayQueue;

use super::stats::Counters;
use crate::record::Record;

#[derive(Debug)]
pub(crate) struct Queue {
    records: ArrayQueue<Record>,
    /// Length at which a producer wakes the flusher before its interval ends.
    wake_len: usize,
    flusher: OnceLock<Thread>,
    wake_pending: AtomicBool,
    closed: AtomicBool,
    pub(crate) counters: Arc<Counters>,
}

impl Queue {
    pub(crate) fn new(capacity: usize, counters: Arc<Counters>) -> Self {
        Queue {
            records: ArrayQueue::new(capacity),
            wake_len: (capacity / 2).max(1),
            flusher: OnceLock::new(),
            wake_pending: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            counters,
        }
    }

    /// Queues a record, or counts it as dropped.
    pub(crate) fn push(&self, record: Record) {
        if self.closed.load(Ordering::Relaxed) {
            Counters::add(&self.counters.dropped_closed, 1);
            return;
        }
        match self.records.push(record) {
            Ok(()) => {
                if self.records.len() >= self.wake_len {
                    self.wake_flusher();
                }
            }
            Err(_dropped) => Counters::add(&self.counters.dropped_queue_full, 1),
        }
    }

    pub(crate) fn pop(&self) -> Option<Record> {
        self.records.pop()
    }

    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// Registers the thread that [`Queue::wake_flusher`] unparks.
    pub(crate) fn set_flusher(&self, thread: Thread) {
        let _ = self.flusher.set(thread);
    }

    /// Wakes the flusher now (once until it next calls [`Queue::drained`]).
    pub(crate) fn wake_flusher(&self) {
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            if let Some(thread) = self.flusher.get() {
                thread.unpark();
            }
        }
    }

    /// The flusher is awake and draining: the next producer may wake it again.
    pub(crate) fn drained(&self) {
        self.wake_pending.store(false, Ordering::Release);
    }

    /// From now on records are dropped (and counted) instead of queued.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }
}
