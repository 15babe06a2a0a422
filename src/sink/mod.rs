//! Where batches go.

pub(crate) mod clickhouse;
