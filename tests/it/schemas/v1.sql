-- schema.sql as it was at version 1, before versions were recorded: a
-- database made with it is what `schema::apply()` must migrate.

-- tracing-clickhouse schema: the single source of truth for the tables.
--
-- `schema::apply()` (and `init()` when asked to manage the schema) runs these
-- statements in order. Every statement is idempotent (IF NOT EXISTS), so
-- applying twice changes nothing. `{{name}}` placeholders are filled in by the
-- crate from validated configuration: `database` must be a plain identifier,
-- the TTLs and the dedup window are integers. Statements end with `;` at the
-- end of a line; comments are whole `--` lines.
--
-- Column names and types follow the OpenTelemetry collector's ClickHouse
-- exporter (logs and traces), so Grafana's ClickHouse plugin in OTel mode
-- reads `logs` and `spans` unchanged, with one deliberate difference: map
-- keys are `String`, not `LowCardinality(String)`. We insert RowBinary, and
-- the server parses LowCardinality values from RowBinary one dictionary
-- lookup at a time: with LowCardinality keys a 50k-row `logs` batch took
-- 0.47 s to insert instead of 0.21 s (chDB 26.9, see docs/storage.md). Queries read
-- both alike, and ZSTD stores the repeated keys compactly either way.
--
-- Values that are the same for a whole batch (`ServiceName`,
-- `ResourceAttributes`) are not repeated in every row: inserts are
-- `INSERT ... SELECT ... FROM input(...)` with those values as query
-- parameters.
--
-- Every MergeTree table keeps a non-replicated deduplication window: a batch
-- re-sent with the same `insert_deduplication_token` is stored once. The
-- rollup targets have it too, and inserts set
-- `deduplicate_blocks_in_dependent_materialized_views = 1`, so a retried batch
-- is not counted twice in `logs_by_level` or `metrics_hourly`.

CREATE DATABASE IF NOT EXISTS {{database}};

-- Logs: one row per tracing event, `log` record or `collect_log()` call.
-- Seed vocabulary: level = SeverityText, message = Body, source = ScopeName,
-- context = LogAttributes.
CREATE TABLE IF NOT EXISTS {{database}}.logs
(
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TimestampTime DateTime DEFAULT toDateTime(Timestamp),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    TraceFlags UInt8,
    SeverityText LowCardinality(String) CODEC(ZSTD(1)),
    SeverityNumber UInt8,
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    Body String CODEC(ZSTD(1)),
    ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(String, String) CODEC(ZSTD(1)),
    ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
    ScopeAttributes Map(String, String) CODEC(ZSTD(1)),
    LogAttributes Map(String, String) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_scope_name ScopeName TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
)
ENGINE = MergeTree
PARTITION BY toDate(TimestampTime)
PRIMARY KEY (ServiceName, SeverityText, TimestampTime)
ORDER BY (ServiceName, SeverityText, TimestampTime, Timestamp)
TTL TimestampTime + toIntervalDay({{logs_ttl_days}})
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1,
    non_replicated_deduplication_window = {{dedup_window}};

-- Spans: one row per closed tracing span, in the exporter's trace layout.
CREATE TABLE IF NOT EXISTS {{database}}.spans
(
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(String, String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(String, String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested
    (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(String, String)
    ) CODEC(ZSTD(1)),
    Links Nested
    (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(String, String)
    ) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))
TTL toDateTime(Timestamp) + toIntervalDay({{spans_ttl_days}})
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1,
    non_replicated_deduplication_window = {{dedup_window}};

-- Metrics: one table for every kind, one row per series per snapshot.
-- Counters: Value is the cumulative total, Delta the increase since the last
-- snapshot. Gauges: Value is the last value. Histograms: Count, Sum, Min, Max,
-- the quantiles and the bucket counts; Value is the mean.
CREATE TABLE IF NOT EXISTS {{database}}.metrics
(
    TimeUnix DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    MetricName LowCardinality(String) CODEC(ZSTD(1)),
    MetricKind LowCardinality(String) CODEC(ZSTD(1)),
    MetricDescription String CODEC(ZSTD(1)),
    MetricUnit LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(String, String) CODEC(ZSTD(1)),
    Attributes Map(String, String) CODEC(ZSTD(1)),
    Value Float64 CODEC(Gorilla, ZSTD(1)),
    Delta Float64 CODEC(Gorilla, ZSTD(1)),
    Count UInt64 CODEC(DoubleDelta, ZSTD(1)),
    Sum Float64 CODEC(Gorilla, ZSTD(1)),
    Min Float64 CODEC(Gorilla, ZSTD(1)),
    Max Float64 CODEC(Gorilla, ZSTD(1)),
    Quantiles Array(Float64) CODEC(ZSTD(1)),
    QuantileValues Array(Float64) CODEC(ZSTD(1)),
    BucketBounds Array(Float64) CODEC(ZSTD(1)),
    BucketCounts Array(UInt64) CODEC(ZSTD(1)),
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toDate(TimeUnix)
ORDER BY (ServiceName, MetricName, toDateTime(TimeUnix))
TTL toDateTime(TimeUnix) + toIntervalDay({{metrics_ttl_days}})
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1,
    non_replicated_deduplication_window = {{dedup_window}};

-- Events: discrete happenings (`record_event()`, service status changes).
CREATE TABLE IF NOT EXISTS {{database}}.events
(
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    EventType LowCardinality(String) CODEC(ZSTD(1)),
    Source LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    Details Map(String, String) CODEC(ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, EventType, Timestamp)
TTL toDateTime(Timestamp) + toIntervalDay({{events_ttl_days}})
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1,
    non_replicated_deduplication_window = {{dedup_window}};

-- Rollup: log count per minute, service and level. Rows of one key are summed
-- when parts merge; readers always re-aggregate with GROUP BY.
CREATE TABLE IF NOT EXISTS {{database}}.logs_by_level
(
    Minute DateTime CODEC(DoubleDelta, ZSTD(1)),
    ServiceName LowCardinality(String),
    SeverityText LowCardinality(String),
    Count UInt64
)
ENGINE = SummingMergeTree(Count)
PARTITION BY toDate(Minute)
ORDER BY (ServiceName, SeverityText, Minute)
TTL Minute + toIntervalDay({{logs_ttl_days}})
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = {{dedup_window}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.logs_by_level_mv
TO {{database}}.logs_by_level
AS SELECT
    toStartOfMinute(TimestampTime) AS Minute,
    ServiceName,
    SeverityText,
    count() AS Count
FROM {{database}}.logs
GROUP BY Minute, ServiceName, SeverityText;

-- Rollup: avg (as sum and count), min and max per hour, metric and series.
CREATE TABLE IF NOT EXISTS {{database}}.metrics_hourly
(
    Hour DateTime CODEC(DoubleDelta, ZSTD(1)),
    ServiceName LowCardinality(String),
    MetricName LowCardinality(String),
    Attributes Map(String, String),
    ValueSum SimpleAggregateFunction(sum, Float64),
    ValueCount SimpleAggregateFunction(sum, UInt64),
    ValueMin SimpleAggregateFunction(min, Float64),
    ValueMax SimpleAggregateFunction(max, Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(Hour)
ORDER BY (ServiceName, MetricName, Hour, Attributes)
TTL Hour + toIntervalDay({{metrics_ttl_days}})
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = {{dedup_window}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.metrics_hourly_mv
TO {{database}}.metrics_hourly
AS SELECT
    toStartOfHour(toDateTime(TimeUnix)) AS Hour,
    ServiceName,
    MetricName,
    Attributes,
    sum(Value) AS ValueSum,
    toUInt64(count()) AS ValueCount,
    min(Value) AS ValueMin,
    max(Value) AS ValueMax
FROM {{database}}.metrics
GROUP BY Hour, ServiceName, MetricName, Attributes;

-- Rollup cascaded from metrics_hourly: the same per day.
CREATE TABLE IF NOT EXISTS {{database}}.metrics_daily
(
    Day Date CODEC(DoubleDelta, ZSTD(1)),
    ServiceName LowCardinality(String),
    MetricName LowCardinality(String),
    Attributes Map(String, String),
    ValueSum SimpleAggregateFunction(sum, Float64),
    ValueCount SimpleAggregateFunction(sum, UInt64),
    ValueMin SimpleAggregateFunction(min, Float64),
    ValueMax SimpleAggregateFunction(max, Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(Day)
ORDER BY (ServiceName, MetricName, Day, Attributes)
TTL Day + toIntervalDay({{metrics_ttl_days}})
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = {{dedup_window}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.metrics_daily_mv
TO {{database}}.metrics_daily
AS SELECT
    toDate(Hour) AS Day,
    ServiceName,
    MetricName,
    Attributes,
    sum(ValueSum) AS ValueSum,
    sum(ValueCount) AS ValueCount,
    min(ValueMin) AS ValueMin,
    max(ValueMax) AS ValueMax
FROM {{database}}.metrics_hourly
GROUP BY Day, ServiceName, MetricName, Attributes;
