//! Where batches go: ClickHouse, or nowhere (a dry run); and what a failure
//! asks of the pipeline.

mod clickhouse;
mod endpoints;
mod failure;

pub(crate) use clickhouse::{ClickHouseSink, Sink};
pub(crate) use failure::{Failure, FailureKind, is_missing_schema, server_code_of};
