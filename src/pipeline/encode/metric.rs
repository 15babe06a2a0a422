//! `metrics` rows, from the recorder's snapshots.

use crate::capture::series::{MetricRow, QUANTILES};
use crate::rowbinary::{put_f64, put_i64, put_str, put_u64, put_uvarint};

/// A metric snapshot row.
pub(crate) fn encode_metric(row: &MetricRow, out: &mut Vec<u8>) {
    put_i64(out, row.timestamp_ns);
    put_str(out, &row.name);
    put_str(out, row.kind.as_str());
    put_str(out, &row.description);
    put_str(out, &row.unit);
    put_uvarint(out, row.attributes.len() as u64);
    for (key, value) in &row.attributes {
        put_str(out, key);
        put_str(out, value);
    }
    put_f64(out, row.value);
    put_f64(out, row.delta);
    match &row.histogram {
        Some(h) => {
            put_u64(out, h.count);
            put_f64(out, h.sum);
            put_f64(out, h.min);
            put_f64(out, h.max);
            put_uvarint(out, QUANTILES.len() as u64);
            for q in QUANTILES {
                put_f64(out, q);
            }
            put_uvarint(out, QUANTILES.len() as u64);
            for q in QUANTILES {
                put_f64(out, h.quantile(q));
            }
            put_uvarint(out, h.buckets.len() as u64);
            for &(bound, _) in &h.buckets {
                put_f64(out, bound);
            }
            put_uvarint(out, h.buckets.len() as u64);
            for &(_, count) in &h.buckets {
                put_u64(out, count);
            }
        }
        None => {
            put_u64(out, 0);
            for _ in 0..3 {
                put_f64(out, 0.0);
            }
            for _ in 0..4 {
                put_uvarint(out, 0); // empty arrays
            }
        }
    }
}
