//! A histogram in fixed memory: log-linear buckets of atomic counters.
//!
//! Each power of two between 2^`MIN_EXP` and 2^`MAX_EXP` is split into
//! `SUB_BUCKETS` equal buckets, so a bucket is at most 1/16 (6.25 %) of its
//! lower bound wide; one bucket takes everything below (zero and negative
//! values included) and one everything above. Recording is a few bit
//! operations and one atomic add, plus the exact sum, minimum and maximum;
//! ten million records take no more memory than ten (8 KiB per series).
//!
//! A snapshot takes the counts and resets them, so each snapshot describes
//! one interval; the buckets are stored with it, so quantiles over any range
//! can be computed again by adding the buckets of its snapshots.

use std::sync::atomic::{AtomicU64, Ordering};

const SUB_BITS: u32 = 4;
const SUB_BUCKETS: usize = 1 << SUB_BITS;
/// 2^-24 ≈ 6e-8 and 2^40 ≈ 1.1e12: nanoseconds to days in seconds, bytes to terabytes.
const MIN_EXP: i32 = -24;
const MAX_EXP: i32 = 40;
const FINITE_BUCKETS: usize = (MAX_EXP - MIN_EXP) as usize * SUB_BUCKETS;
/// The underflow bucket, the finite ones, the overflow bucket.
const BUCKETS: usize = FINITE_BUCKETS + 2;

/// The fixed-memory histogram behind a `metrics::Histogram` handle.
#[derive(Debug)]
pub(crate) struct Histogram {
    buckets: Box<[AtomicU64; BUCKETS]>,
    /// f64 bits.
    sum: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
}

/// One interval of a histogram.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct HistogramSnapshot {
    pub(crate) count: u64,
    pub(crate) sum: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    /// `(upper bound, count)` of the non-empty buckets, in order; the last
    /// bound may be infinite.
    pub(crate) buckets: Vec<(f64, u64)>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: Box::new(std::array::from_fn(|_| AtomicU64::new(0))),
            sum: AtomicU64::new(0f64.to_bits()),
            min: AtomicU64::new(f64::INFINITY.to_bits()),
            max: AtomicU64::new(f64::NEG_INFINITY.to_bits()),
        }
    }
}

impl Histogram {
    /// Records a finite value (the recorder rejects the others).
    #[inline]
    pub(crate) fn record(&self, value: f64) {
        self.buckets[bucket_of(value)].fetch_add(1, Ordering::Relaxed);
        add_f64(&self.sum, value);
        if value < f64::from_bits(self.min.load(Ordering::Relaxed)) {
            self.min.fetch_min_f64(value);
        }
        if value > f64::from_bits(self.max.load(Ordering::Relaxed)) {
            self.max.fetch_max_f64(value);
        }
    }

    /// Takes the interval's counts and starts the next interval.
    pub(crate) fn take(&self) -> HistogramSnapshot {
        let mut snapshot = HistogramSnapshot::default();
        for (index, bucket) in self.buckets.iter().enumerate() {
            let count = bucket.swap(0, Ordering::Relaxed);
            if count > 0 {
                snapshot.count += count;
                snapshot.buckets.push((upper_bound(index), count));
            }
        }
        snapshot.sum = f64::from_bits(self.sum.swap(0f64.to_bits(), Ordering::Relaxed));
        snapshot.min = f64::from_bits(self.min.swap(f64::INFINITY.to_bits(), Ordering::Relaxed));
        snapshot.max = f64::from_bits(
            self.max
                .swap(f64::NEG_INFINITY.to_bits(), Ordering::Relaxed),
        );
        snapshot
    }
}

impl HistogramSnapshot {
    /// The value below which a fraction `q` of the records fall, estimated
    /// within the bucket that holds it (so within 6.25 % of the true value
    /// for values in the finite range), and never outside `[min, max]`.
    pub(crate) fn quantile(&self, q: f64) -> f64 {
        quantile(&self.buckets, self.count, q, self.min, self.max)
    }
}

/// [`HistogramSnapshot::quantile`] over any `(upper bound, count)` buckets
/// of this layout (for example the sum of many snapshots).
pub(crate) fn quantile(buckets: &[(f64, u64)], count: u64, q: f64, min: f64, max: f64) -> f64 {
    if count == 0 {
        return f64::NAN;
    }
    let rank = (q.clamp(0.0, 1.0) * count as f64).max(1.0);
    let mut seen = 0u64;
    for &(upper, n) in buckets {
        if (seen + n) as f64 >= rank {
            let lower = lower_bound_of_upper(upper);
            // Linear within the bucket.
            let within = (rank - seen as f64) / n as f64;
            let (lower, upper) = (lower.max(min), upper.min(max));
            return lower + (upper - lower) * within;
        }
        seen += n;
    }
    max
}

#[inline]
fn bucket_of(value: f64) -> usize {
    if value.is_nan() || value <= 0.0 {
        return 0;
    }
    let bits = value.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32 - 1023;
    if exp < MIN_EXP {
        return 0;
    }
    if exp >= MAX_EXP {
        return BUCKETS - 1;
    }
    let sub = ((bits >> (52 - SUB_BITS)) as usize) & (SUB_BUCKETS - 1);
    1 + (exp - MIN_EXP) as usize * SUB_BUCKETS + sub
}

/// The bucket's upper bound (exclusive): what the `BucketBounds` column holds.
fn upper_bound(index: usize) -> f64 {
    match index {
        0 => 2f64.powi(MIN_EXP),
        i if i >= BUCKETS - 1 => f64::INFINITY,
        i => {
            let exp = MIN_EXP + ((i - 1) / SUB_BUCKETS) as i32;
            let sub = ((i - 1) % SUB_BUCKETS) as f64;
            2f64.powi(exp) * (1.0 + (sub + 1.0) / SUB_BUCKETS as f64)
        }
    }
}

/// The lower bound of the bucket whose upper bound is `upper`.
fn lower_bound_of_upper(upper: f64) -> f64 {
    if upper.is_infinite() {
        return 2f64.powi(MAX_EXP);
    }
    if upper <= 2f64.powi(MIN_EXP) {
        return f64::NEG_INFINITY;
    }
    // upper = 2^exp * (1 + (sub + 1) / 16); the bucket is 2^exp / 16 wide,
    // except the last of each power, whose upper bound is the next power.
    let bits = upper.to_bits();
    let mantissa_zero = bits & ((1u64 << 52) - 1) == 0;
    let exp = ((bits >> 52) & 0x7ff) as i32 - 1023;
    let width_exp = if mantissa_zero { exp - 1 } else { exp };
    upper - 2f64.powi(width_exp) / SUB_BUCKETS as f64
}

fn add_f64(cell: &AtomicU64, value: f64) {
    let _ = cell.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
        Some((f64::from_bits(bits) + value).to_bits())
    });
}

/// Atomic min/max on f64 bits.
trait AtomicF64Ext {
    fn fetch_min_f64(&self, value: f64);
    fn fetch_max_f64(&self, value: f64);
}

impl AtomicF64Ext for AtomicU64 {
    fn fetch_min_f64(&self, value: f64) {
        let _ = self.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
            (value < f64::from_bits(bits)).then_some(value.to_bits())
        });
    }

    fn fetch_max_f64(&self, value: f64) {
        let _ = self.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
            (value > f64::from_bits(bits)).then_some(value.to_bits())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn buckets_cover_values_in_order() {
        let mut last = 0;
        for i in 0..2000 {
            let value = 1e-9 * 1.02f64.powi(i);
            let bucket = bucket_of(value);
            assert!(bucket >= last, "{value}");
            last = bucket;
            if bucket > 0 && bucket < BUCKETS - 1 {
                let upper = upper_bound(bucket);
                let lower = lower_bound_of_upper(upper);
                assert!(
                    lower <= value && value < upper,
                    "{lower} <= {value} < {upper}"
                );
                assert!((upper - lower) / lower <= 1.0 / 16.0 + 1e-12);
            }
        }
        assert_eq!(bucket_of(0.0), 0);
        assert_eq!(bucket_of(-5.0), 0);
        assert_eq!(bucket_of(1e300), BUCKETS - 1);
    }

    #[test]
    fn a_snapshot_has_exact_count_sum_min_max_and_resets() {
        let h = Histogram::default();
        for v in 1..=1000 {
            h.record(f64::from(v));
        }
        let s = h.take();
        assert_eq!(s.count, 1000);
        assert_eq!(s.sum, 500_500.0);
        assert_eq!((s.min, s.max), (1.0, 1000.0));
        assert_eq!(s.buckets.iter().map(|(_, n)| n).sum::<u64>(), 1000);
        let empty = h.take();
        assert_eq!(empty.count, 0);
        assert!(empty.buckets.is_empty());
    }

    #[test]
    fn memory_is_fixed() {
        let size = std::mem::size_of::<Histogram>() + std::mem::size_of::<[AtomicU64; BUCKETS]>();
        assert!(size <= 8 * 1024 + 64, "{size}");
    }

    proptest! {
        #[test]
        fn quantiles_are_within_the_bucket_error(
            mut values in proptest::collection::vec(1e-6f64..1e9, 1..400),
            q in 0.0f64..=1.0,
        ) {
            let h = Histogram::default();
            for &v in &values {
                h.record(v);
            }
            let s = h.take();
            values.sort_by(f64::total_cmp);
            let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
            let exact = values[rank - 1];
            let estimate = s.quantile(q);
            prop_assert!(
                (estimate - exact).abs() <= exact / 16.0 + 1e-12,
                "q={q} exact={exact} estimate={estimate}"
            );
        }
    }
}
