//! The insert statement of each table the pipeline writes, beside the DDL
//! that creates the columns it names.

use std::borrow::Cow;

use crate::batch::Table;

/// [`insert_sql`], into the table's `_local` table with `local_tables`
/// (a cluster's shard written directly, `ClusterInsert::Local`).
pub(crate) fn insert_sql_for(table: Table, local_tables: bool) -> Cow<'static, str> {
    let sql = insert_sql(table);
    if !local_tables {
        return Cow::Borrowed(sql);
    }
    let into = format!("INSERT INTO {} ", table.name());
    let local = format!("INSERT INTO {}{} ", table.name(), super::LOCAL_SUFFIX);
    Cow::Owned(sql.replacen(&into, &local, 1))
}

/// The insert for a batch of `table`. Rows carry the `input()` columns in
/// this order (the encoders in `pipeline::encode` write them, the readers in
/// `query::memory` read them back); the values every row shares come once
/// per batch as the parameters of [`BatchConstants`]; the other columns take
/// their defaults.
pub(crate) fn insert_sql(table: Table) -> &'static str {
    match table {
        Table::Logs => {
            "INSERT INTO logs (Timestamp, TraceId, SpanId, TraceFlags, SeverityText, \
             SeverityNumber, ServiceName, Body, ResourceAttributes, ScopeName, LogAttributes) \
             SELECT Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, \
             {service:String}, Body, \
             mapFromArrays({resource_keys:Array(String)}, {resource_values:Array(String)}), \
             ScopeName, LogAttributes \
             FROM input('Timestamp DateTime64(9), TraceId String, SpanId String, \
             TraceFlags UInt8, SeverityText String, SeverityNumber UInt8, Body String, \
             ScopeName String, LogAttributes Map(String, String)') \
             FORMAT RowBinary"
        }
        Table::Spans => {
            "INSERT INTO spans (Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, \
             SpanKind, ServiceName, ResourceAttributes, ScopeName, SpanAttributes, Duration, \
             StatusCode, StatusMessage) \
             SELECT Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, \
             {service:String}, \
             mapFromArrays({resource_keys:Array(String)}, {resource_values:Array(String)}), \
             ScopeName, SpanAttributes, Duration, StatusCode, StatusMessage \
             FROM input('Timestamp DateTime64(9), TraceId String, SpanId String, \
             ParentSpanId String, SpanName String, SpanKind String, ScopeName String, \
             SpanAttributes Map(String, String), Duration UInt64, StatusCode String, \
             StatusMessage String, TraceState String') \
             FORMAT RowBinary"
        }
        Table::Events => {
            "INSERT INTO events (Timestamp, EventType, Source, ServiceName, Details, TraceId, \
             SpanId) \
             SELECT Timestamp, EventType, Source, {service:String}, Details, TraceId, SpanId \
             FROM input('Timestamp DateTime64(9), EventType String, Source String, \
             Details Map(String, String), TraceId String, SpanId String') \
             FORMAT RowBinary"
        }
        Table::Metrics => {
            "INSERT INTO metrics (TimeUnix, MetricName, MetricKind, MetricDescription, \
             MetricUnit, ServiceName, ResourceAttributes, Attributes, Value, Delta, Count, \
             Sum, Min, Max, Quantiles, QuantileValues, BucketBounds, BucketCounts) \
             SELECT TimeUnix, MetricName, MetricKind, MetricDescription, MetricUnit, \
             {service:String}, \
             mapFromArrays({resource_keys:Array(String)}, {resource_values:Array(String)}), \
             Attributes, Value, Delta, Count, Sum, Min, Max, Quantiles, QuantileValues, \
             BucketBounds, BucketCounts \
             FROM input('TimeUnix DateTime64(9), MetricName String, MetricKind String, \
             MetricDescription String, MetricUnit String, Attributes Map(String, String), \
             Value Float64, Delta Float64, Count UInt64, Sum Float64, Min Float64, \
             Max Float64, Quantiles Array(Float64), QuantileValues Array(Float64), \
             BucketBounds Array(Float64), BucketCounts Array(UInt64)') \
             FORMAT RowBinary"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_is_written_through_its_local_tables() {
        for table in [Table::Logs, Table::Spans, Table::Metrics, Table::Events] {
            let local = insert_sql_for(table, true);
            let name = table.name();
            assert!(
                local.starts_with(&format!("INSERT INTO {name}_local (")),
                "{local}"
            );
            assert_eq!(local.replacen("_local", "", 1), insert_sql(table));
            assert_eq!(insert_sql_for(table, false), insert_sql(table));
        }
    }
}
