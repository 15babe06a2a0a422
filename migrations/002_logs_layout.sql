-- Schema version 2: the `logs` layout measured in README ("Storage layout,
-- measured"). The sort key changes, which ClickHouse cannot ALTER, so the
-- rows are copied into a table of the new layout that then takes the
-- place of the old one:
--
-- 1. `logs_v2` is made empty (a leftover of an interrupted run is dropped
--    first) in the new layout; a database without `logs` gets an empty one
--    so that the copy has a source;
-- 2. every row of `logs` is copied into it (`TimestampTime` is not copied:
--    it is an ALIAS of `Timestamp` now; and no deduplication: identical
--    rows stay as many as they were). No view reads `logs_v2`, so the
--    copy does not count the rows into `logs_by_level` a second time;
-- 3. `EXCHANGE TABLES` swaps the two names at once: `logs` is the new
--    table, and the old one is kept as `logs_before_v2` (drop it with
--    `DROP TABLE <database>.logs_before_v2` once the new one is checked);
-- 4. the view that feeds `logs_by_level` is made again on the new `logs`.
--
-- Every statement is safe to repeat after an interruption: a repeat before
-- the exchange starts the copy again; a repeat after it copies the new
-- `logs` (which holds every row) again and keeps a copy of it as
-- `logs_before_v2` instead of the old table. No row is lost either way.
--
-- Rows a running pipeline inserts while the copy runs go to the old table
-- (`logs_before_v2` afterwards) and are counted in `logs_by_level`; stop
-- the writers for the migration, or move those rows afterwards as README
-- says.

DROP TABLE IF EXISTS {{database}}.logs_v2;

CREATE TABLE {{database}}.logs_v2
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
    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
)
ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
PRIMARY KEY (toStartOfHour(Timestamp), ServiceName, SeverityText)
ORDER BY (toStartOfHour(Timestamp), ServiceName, SeverityText, ScopeName, Timestamp)
TTL toDateTime(Timestamp) + toIntervalDay({{logs_ttl_days}})
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1,
    non_replicated_deduplication_window = {{dedup_window}};

CREATE TABLE IF NOT EXISTS {{database}}.logs AS {{database}}.logs_v2;

INSERT INTO {{database}}.logs_v2 (Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, ServiceName, Body, ResourceSchemaUrl, ResourceAttributes, ScopeSchemaUrl, ScopeName, ScopeVersion, ScopeAttributes, LogAttributes)
SELECT Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, ServiceName, Body,
    ResourceSchemaUrl, ResourceAttributes, ScopeSchemaUrl, ScopeName, ScopeVersion,
    ScopeAttributes, LogAttributes
FROM {{database}}.logs
SETTINGS insert_deduplicate = 0;

EXCHANGE TABLES {{database}}.logs AND {{database}}.logs_v2;

DROP TABLE IF EXISTS {{database}}.logs_before_v2;

RENAME TABLE {{database}}.logs_v2 TO {{database}}.logs_before_v2;

DROP VIEW IF EXISTS {{database}}.logs_by_level_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.logs_by_level_mv
TO {{database}}.logs_by_level
AS SELECT
    toStartOfMinute(TimestampTime) AS Minute,
    ServiceName,
    SeverityText,
    count() AS Count
FROM {{database}}.logs
GROUP BY Minute, ServiceName, SeverityText;
