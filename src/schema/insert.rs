//! The insert statement of each table the pipeline writes, beside the DDL
//! that creates the columns it names.

use crate::batch::Table;

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
            "INSERT INTO spans (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, \
             ServiceName, ResourceAttributes, ScopeName, SpanAttributes, Duration, StatusCode, \
             StatusMessage) \
             SELECT Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, \
             {service:String}, \
             mapFromArrays({resource_keys:Array(String)}, {resource_values:Array(String)}), \
             ScopeName, SpanAttributes, Duration, StatusCode, StatusMessage \
             FROM input('Timestamp DateTime64(9), TraceId String, SpanId String, \
             ParentSpanId String, SpanName String, SpanKind String, ScopeName String, \
             SpanAttributes Map(String, String), Duration UInt64, StatusCode String, \
             StatusMessage String') \
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
