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
-- 0.47 s to insert instead of 0.21 s (chDB 26.9, see README). Queries read
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

-- schema version: 4
--
-- The database records the version it has in `schema_version`. A newer
-- version of this file comes with a migration in `migrations/` that brings
-- a database of the version before to it; `schema::apply()` runs the ones
-- a database needs, in order, and refuses a database newer than it knows.

CREATE DATABASE IF NOT EXISTS {{database}};

-- The versions applied to this database, one row each; the highest is its
-- version.
CREATE TABLE IF NOT EXISTS {{database}}.schema_version
(
    Version UInt32,
    AppliedAt DateTime DEFAULT now(),
    AppliedBy String
)
ENGINE = MergeTree
ORDER BY Version;

-- Logs: one row per tracing event, `log` record or `collect_log()` call.
-- Seed vocabulary: level = SeverityText, message = Body, source = ScopeName,
-- context = LogAttributes.
--
-- The layout is measured (README, "Storage layout, measured"; `cargo bench
-- --bench storage`): rows sorted by hour, then service, level and source,
-- so a time range reads only its hours and like rows compress together;
-- `TimestampTime` is computed from `Timestamp`, not stored (an ALIAS
-- cannot be in a key, so the keys use `Timestamp`); T64 before ZSTD for
-- the small integers and the timestamp; ZSTD(3) for the attributes.
-- `idx_body_lower`, a bloom filter of the lowered body's 3-grams per
-- granule (8 KiB each, about 1 byte a row), lets a case-insensitive text
-- search (`LogQuery::contains`, `chlog logs --grep`) skip the granules that
-- cannot hold the text: a rare text over a day is found without reading
-- the day (docs/scale.md).
-- `schema::apply()` also has the server store `logs`' strings in one
-- stream where it offers the choice (25.10 and later), which this file
-- cannot say for servers before it.
CREATE TABLE IF NOT EXISTS {{database}}.logs
(
    Timestamp DateTime64(9) CODEC(Delta(8), T64, ZSTD(1)),
    TimestampTime DateTime ALIAS toDateTime(Timestamp),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    TraceFlags UInt8 CODEC(T64, ZSTD(1)),
    SeverityText LowCardinality(String) CODEC(ZSTD(1)),
    SeverityNumber UInt8 CODEC(T64, ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    Body String CODEC(ZSTD(1)),
    ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(String, String) CODEC(ZSTD(1)),
    ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
    ScopeAttributes Map(String, String) CODEC(ZSTD(1)),
    LogAttributes Map(String, String) CODEC(ZSTD(3)),
    INDEX idx_timestamp Timestamp TYPE minmax GRANULARITY 1,
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_scope_name ScopeName TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8,
    INDEX idx_body_lower lowerUTF8(Body) TYPE ngrambf_v1(3, 8192, 2, 0) GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
PRIMARY KEY (toStartOfHour(Timestamp), ServiceName, SeverityText)
ORDER BY (toStartOfHour(Timestamp), ServiceName, SeverityText, ScopeName, Timestamp)
TTL toDateTime(Timestamp) + toIntervalDay({{logs_ttl_days}})
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

-- Rollup: log count per minute, service, level and source, with the first
-- and last time of each. Every column says how rows of one key combine when
-- parts merge; readers always re-aggregate with GROUP BY. Sorted by hour
-- first, as `logs`, so that a time range reads only its hours. What reads
-- it, and why its answers are exact: README, "Reads at scale".
CREATE TABLE IF NOT EXISTS {{database}}.logs_by_level
(
    Minute DateTime CODEC(DoubleDelta, ZSTD(1)),
    ServiceName LowCardinality(String),
    SeverityText LowCardinality(String),
    SeverityNumber UInt8,
    ScopeName LowCardinality(String),
    Count SimpleAggregateFunction(sum, UInt64),
    FirstSeen SimpleAggregateFunction(min, DateTime64(9)) CODEC(ZSTD(1)),
    LastSeen SimpleAggregateFunction(max, DateTime64(9)) CODEC(ZSTD(1))
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(Minute)
ORDER BY (toStartOfHour(Minute), ServiceName, SeverityText, ScopeName, SeverityNumber, Minute)
TTL Minute + toIntervalDay({{logs_ttl_days}})
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = {{dedup_window}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.logs_by_level_mv
TO {{database}}.logs_by_level
AS SELECT
    toStartOfMinute(TimestampTime) AS Minute,
    ServiceName,
    SeverityText,
    SeverityNumber,
    ScopeName,
    count() AS Count,
    min(Timestamp) AS FirstSeen,
    max(Timestamp) AS LastSeen
FROM {{database}}.logs
GROUP BY Minute, ServiceName, SeverityText, SeverityNumber, ScopeName;

-- Rollup: the message patterns of warnings and errors (SeverityNumber 13
-- and up) per minute, service, level and source: the message with numbers,
-- hex ids and UUIDs replaced, as `query::message_pattern` does (the same
-- four replacements, in order; a test holds the two to each other), with
-- the count, the smallest message as the example, the first and last time.
CREATE TABLE IF NOT EXISTS {{database}}.logs_patterns
(
    Minute DateTime CODEC(DoubleDelta, ZSTD(1)),
    ServiceName LowCardinality(String),
    SeverityText LowCardinality(String),
    SeverityNumber UInt8,
    ScopeName LowCardinality(String),
    Pattern String CODEC(ZSTD(1)),
    Count SimpleAggregateFunction(sum, UInt64),
    Example SimpleAggregateFunction(min, String) CODEC(ZSTD(1)),
    FirstSeen SimpleAggregateFunction(min, DateTime64(9)) CODEC(ZSTD(1)),
    LastSeen SimpleAggregateFunction(max, DateTime64(9)) CODEC(ZSTD(1))
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(Minute)
ORDER BY (toStartOfHour(Minute), ServiceName, SeverityText, ScopeName, SeverityNumber, Pattern, Minute)
TTL Minute + toIntervalDay({{logs_ttl_days}})
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = {{dedup_window}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.logs_patterns_mv
TO {{database}}.logs_patterns
AS SELECT
    toStartOfMinute(TimestampTime) AS Minute,
    ServiceName,
    SeverityText,
    SeverityNumber,
    ScopeName,
    replaceRegexpAll(replaceRegexpAll(replaceRegexpAll(replaceRegexpAll(Body,
        '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}', '<uuid>'),
        '\\b0[xX][0-9a-fA-F]+\\b', '<hex>'),
        '\\b[0-9a-fA-F]*[0-9][0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\\b|\\b[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*[0-9][0-9a-fA-F]*\\b', '<hex>'),
        '[0-9]+', '<num>') AS Pattern,
    count() AS Count,
    min(Body) AS Example,
    min(Timestamp) AS FirstSeen,
    max(Timestamp) AS LastSeen
FROM {{database}}.logs
WHERE SeverityNumber >= 13
GROUP BY Minute, ServiceName, SeverityText, SeverityNumber, ScopeName, Pattern;

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
