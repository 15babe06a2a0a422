//! The open batches: rows gathered per table until a batch is full by rows
//! or bytes, or old enough, then sealed with the deduplication token every
//! attempt to send it will carry. "Old enough" is `flush_interval`, or
//! during an outage the shorter `outage_flush_interval`: what is sealed then
//! goes to the spool, so that age bounds what a crash can lose.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::batch::{Batch, BatchConstants, BodyBuilder, Table};
use crate::config::Config;

/// Rows being gathered for the next insert of one table (compressed as
/// they come, a chunk at a time).
#[derive(Debug, Default)]
struct OpenBatch {
    rows: u64,
    body: BodyBuilder,
    opened_at: Option<Instant>,
}

/// Deduplication tokens: unique per process run, fixed per batch.
#[derive(Debug)]
struct Tokens {
    prefix: u64,
    next: u64,
}

impl Tokens {
    fn new() -> Self {
        Tokens {
            prefix: crate::ids::random_u64(),
            next: 0,
        }
    }

    fn next(&mut self) -> String {
        self.next += 1;
        format!("tc-{:016x}-{}", self.prefix, self.next)
    }

    /// The number of a token this run made (the parts of a split batch
    /// share theirs); `None` for another run's.
    fn number(&self, token: &str) -> Option<u64> {
        let rest = token.strip_prefix("tc-")?;
        let (prefix, number) = rest.split_once('-')?;
        if u64::from_str_radix(prefix, 16).ok()? != self.prefix {
            return None;
        }
        number.split('.').next()?.parse().ok()
    }
}

#[derive(Debug)]
pub(super) struct Batcher {
    /// One open batch per table, in `Table::ALL` order.
    open: [OpenBatch; 4],
    tokens: Tokens,
    /// The values every row of this process shares, sent with each batch.
    constants: Arc<BatchConstants>,
    max_rows: u64,
    max_bytes: usize,
    max_age: Duration,
    /// The age limit during an outage (never longer than `max_age`).
    outage_max_age: Duration,
}

impl Batcher {
    pub(super) fn new(config: &Config) -> Self {
        let limits = &config.pipeline;
        Batcher {
            open: Default::default(),
            tokens: Tokens::new(),
            constants: Arc::new(BatchConstants::new(config)),
            max_rows: limits.batch_max_rows as u64,
            max_bytes: limits.batch_max_bytes,
            max_age: limits.flush_interval,
            outage_max_age: limits.outage_flush_interval.min(limits.flush_interval),
        }
    }

    /// The body of `table`'s open batch, to append rows to (then [`Batcher::added`]).
    #[inline]
    pub(super) fn body(&mut self, table: Table) -> &mut Vec<u8> {
        self.open[table as usize].body.plain()
    }

    /// `rows` were appended to `table`'s batch; returns whether it is full.
    #[inline]
    pub(super) fn added(&mut self, table: Table, rows: u64) -> bool {
        let batch = &mut self.open[table as usize];
        if rows > 0 {
            batch.rows += rows;
            batch.opened_at.get_or_insert_with(Instant::now);
            batch.body.added(rows);
        }
        batch.rows >= self.max_rows || batch.body.len() >= self.max_bytes
    }

    /// Closes `table`'s open batch, if it has rows.
    pub(super) fn seal(&mut self, table: Table) -> Option<Batch> {
        let open = &mut self.open[table as usize];
        if open.rows == 0 {
            return None;
        }
        let rows = std::mem::take(&mut open.rows);
        open.opened_at = None;
        Some(Batch {
            table,
            rows,
            token: self.tokens.next(),
            body: open.body.finish(),
            constants: Arc::clone(&self.constants),
        })
    }

    /// The age limit of open batches, during an outage or not.
    fn max_age(&self, outage: bool) -> Duration {
        if outage {
            self.outage_max_age
        } else {
            self.max_age
        }
    }

    /// The tables whose oldest row has waited `flush_interval` at `now` (or
    /// `outage_flush_interval`, during an outage).
    pub(super) fn due(&self, now: Instant, outage: bool) -> impl Iterator<Item = Table> + '_ {
        let max_age = self.max_age(outage);
        Table::ALL.into_iter().filter(move |&table| {
            let opened = self.open[table as usize].opened_at;
            opened.is_some_and(|at| now.duration_since(at) >= max_age)
        })
    }

    /// When the next batch becomes due, if one is open.
    pub(super) fn next_due(&self, outage: bool) -> Option<Instant> {
        let opened = self.open.iter().filter_map(|batch| batch.opened_at);
        opened.map(|at| at + self.max_age(outage)).min()
    }

    /// How many batches were sealed so far: a mark for [`Batcher::sealed_after`].
    pub(super) fn sealed(&self) -> u64 {
        self.tokens.next
    }

    /// Whether the batch with `token` was sealed after the `sealed` mark
    /// (not if it is an earlier run's, from the spool).
    pub(super) fn sealed_after(&self, token: &str, sealed: u64) -> bool {
        self.tokens.number(token).is_some_and(|n| n > sealed)
    }

    /// Rows in the open batches.
    pub(super) fn rows(&self) -> u64 {
        self.open.iter().map(|b| b.rows).sum()
    }

    /// Drops the open batches; returns their rows.
    pub(super) fn discard(&mut self) -> u64 {
        let rows = self.rows();
        self.open = Default::default();
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_stable_in_form() {
        let mut a = Tokens::new();
        let mut b = Tokens::new();
        let (a1, a2, b1) = (a.next(), a.next(), b.next());
        assert_ne!(a1, a2);
        assert_ne!(a1, b1);
        assert!(a1.starts_with("tc-") && a1.ends_with("-1"), "{a1}");
        assert_eq!(a.number(&a2), Some(2));
        assert_eq!(a.number(&format!("{a2}.2.1")), Some(2));
        assert_eq!(a.number(&b1), None);
        assert_eq!(a.number("tc-zz-1"), None);
    }

    #[test]
    fn a_batch_is_full_by_rows_or_bytes_and_due_by_age() {
        let mut config = Config::defaults();
        config.pipeline.batch_max_rows = 3;
        config.pipeline.flush_interval = Duration::from_millis(50);
        let mut batcher = Batcher::new(&config);
        assert_eq!(
            (batcher.next_due(false), batcher.seal(Table::Logs).is_none()),
            (None, true)
        );
        let full: Vec<bool> = (0..3)
            .map(|_| {
                batcher.body(Table::Logs).push(1);
                batcher.added(Table::Logs, 1)
            })
            .collect();
        assert_eq!(full, [false, false, true]);
        let due = batcher.next_due(false).unwrap();
        assert_eq!(batcher.due(due, false).collect::<Vec<_>>(), [Table::Logs]);
        assert_eq!(batcher.rows(), 3);
        let batch = batcher.seal(Table::Logs).unwrap();
        assert_eq!((batch.rows, batch.body.to_plain()), (3, vec![1, 1, 1]));
        assert_eq!((batcher.rows(), batcher.next_due(false)), (0, None));
    }

    #[test]
    fn a_batch_is_compressed_as_it_fills_and_marks_which_batches_were_sealed_after() {
        let config = Config::defaults();
        let mut batcher = Batcher::new(&config);
        for _ in 0..100 {
            batcher.body(Table::Logs).extend_from_slice(&[7; 1_000]);
            batcher.added(Table::Logs, 1);
        }
        // One chunk compressed, the rest still plain.
        assert_eq!(batcher.body(Table::Logs).len(), 100_000 - 66_000);
        let batch = batcher.seal(Table::Logs).unwrap();
        assert_eq!((batch.rows, batch.body.len()), (100, 100_000));
        assert_eq!(batch.body.to_plain(), vec![7; 100_000]);
        assert!(batch.body.memory() < 1_000, "{}", batch.body.memory());
        let mark = batcher.sealed();
        assert!(!batcher.sealed_after(&batch.token, mark));
        batcher.body(Table::Logs).push(1);
        batcher.added(Table::Logs, 1);
        let next = batcher.seal(Table::Logs).unwrap();
        assert!(batcher.sealed_after(&next.token, mark));
        assert!(batcher.sealed_after(&format!("{}.2", next.token), mark));
        assert!(!batcher.sealed_after("tc-0000000000000001-99", mark));
    }

    /// A batcher whose batches are due at `flush` (`outage` in an outage).
    fn with_intervals(flush: Duration, outage: Duration) -> Batcher {
        let mut config = Config::defaults();
        config.pipeline.flush_interval = flush;
        config.pipeline.outage_flush_interval = outage;
        Batcher::new(&config)
    }

    #[test]
    fn during_an_outage_a_batch_is_due_at_the_shorter_age() {
        let mut batcher = with_intervals(Duration::from_secs(60), Duration::from_millis(200));
        batcher.body(Table::Logs).push(1);
        assert!(!batcher.added(Table::Logs, 1));
        let normal = batcher.next_due(false).unwrap();
        let outage = batcher.next_due(true).unwrap();
        assert_eq!(normal - outage, Duration::from_millis(59_800));
        assert_eq!(batcher.due(outage, false).count(), 0);
        assert_eq!(batcher.due(outage, true).collect::<Vec<_>>(), [Table::Logs]);

        // Never longer than `flush_interval`.
        let mut batcher = with_intervals(Duration::from_millis(100), Duration::from_secs(5));
        batcher.body(Table::Logs).push(1);
        batcher.added(Table::Logs, 1);
        assert_eq!(batcher.next_due(true), batcher.next_due(false));
    }
}
