//! Where a row came from (`code.*`, `thread.*`), encoded once per callsite
//! and thread and copied into every row after that.

use std::collections::HashMap;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use tracing::Metadata;

use crate::rowbinary::{put_bytes, put_str};
use crate::threads;

/// Callsite-and-thread pairs whose origin stays encoded; past this many the
/// cache starts over (a program with that many hot callsites per thread pays
/// a little more per row, nothing else).
const MAX_CACHED_ORIGINS: usize = 4096;

/// Where a row came from: code location and thread, written after the fields.
#[derive(Debug, Default)]
pub(super) struct CodeAndThread<'a> {
    pub(super) module: Option<&'a [u8]>,
    pub(super) file: Option<&'a [u8]>,
    pub(super) line: Option<u64>,
    pub(super) thread_id: u32,
}

/// The `code.*` and `thread.*` pairs of a row, encoded.
#[derive(Debug)]
struct EncodedOrigin {
    pairs: usize,
    bytes: Box<[u8]>,
}

/// Which origin a row uses: one from the cache, or the one just encoded
/// for this row only (rows bridged from `log`, which bring their own).
#[derive(Clone, Copy, Debug)]
pub(super) enum OriginRef {
    Cached(usize),
    Fresh(usize),
}

#[derive(Debug, Default)]
pub(super) struct OriginCache {
    thread_names: HashMap<u32, Option<Arc<str>>>,
    /// (callsite address, thread) → index into `origins`.
    index: FxHashMap<(usize, u32), usize>,
    origins: Vec<EncodedOrigin>,
    /// An origin encoded for one row only.
    fresh: Vec<u8>,
}

impl OriginCache {
    /// The row's origin, encoded: from the cache when it is the callsite's
    /// own (`callsite` given), else freshly for this row.
    pub(super) fn get(
        &mut self,
        callsite: Option<&'static Metadata<'static>>,
        origin: CodeAndThread<'_>,
    ) -> OriginRef {
        let Some(callsite) = callsite else {
            let mut bytes = std::mem::take(&mut self.fresh);
            bytes.clear();
            let pairs = self.put(&origin, &mut bytes);
            self.fresh = bytes;
            return OriginRef::Fresh(pairs);
        };
        let key = (std::ptr::from_ref(callsite) as usize, origin.thread_id);
        if let Some(&index) = self.index.get(&key) {
            return OriginRef::Cached(index);
        }
        if self.origins.len() >= MAX_CACHED_ORIGINS {
            self.origins.clear();
            self.index.clear();
        }
        let mut bytes = Vec::new();
        let pairs = self.put(&origin, &mut bytes);
        self.origins.push(EncodedOrigin {
            pairs,
            bytes: bytes.into_boxed_slice(),
        });
        self.index.insert(key, self.origins.len() - 1);
        OriginRef::Cached(self.origins.len() - 1)
    }

    /// How many map pairs the origin adds.
    pub(super) fn pairs(&self, origin: OriginRef) -> usize {
        match origin {
            OriginRef::Cached(index) => self.origins[index].pairs,
            OriginRef::Fresh(pairs) => pairs,
        }
    }

    /// The origin's pairs, encoded.
    pub(super) fn bytes(&self, origin: OriginRef) -> &[u8] {
        match origin {
            OriginRef::Cached(index) => &self.origins[index].bytes,
            OriginRef::Fresh(_) => &self.fresh,
        }
    }

    /// Writes the origin's pairs and returns how many.
    fn put(&mut self, origin: &CodeAndThread<'_>, out: &mut Vec<u8>) -> usize {
        let mut numbers = itoa::Buffer::new();
        let mut pairs = 1;
        if let Some(module) = origin.module {
            put_str(out, "code.namespace");
            put_bytes(out, module);
            pairs += 1;
        }
        if let Some(file) = origin.file {
            put_str(out, "code.file.path");
            put_bytes(out, file);
            pairs += 1;
        }
        if let Some(line) = origin.line {
            put_str(out, "code.line.number");
            put_str(out, numbers.format(line));
            pairs += 1;
        }
        put_str(out, "thread.id");
        put_str(out, numbers.format(origin.thread_id));
        if let Some(name) = self.thread_name(origin.thread_id) {
            put_str(out, "thread.name");
            put_str(out, &name);
            pairs += 1;
        }
        pairs
    }

    fn thread_name(&mut self, id: u32) -> Option<Arc<str>> {
        self.thread_names
            .entry(id)
            .or_insert_with(|| threads::name_of(id))
            .clone()
    }
}
