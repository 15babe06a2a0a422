-- Schema version 3: rollups that answer log statistics and error patterns
-- for any range at the cost of the answer (README, "Reads at scale").
--
-- `logs_by_level` gains the source (`ScopeName`), `SeverityNumber` and
-- the first and last time of each minute's rows, and a sort key that starts
-- with the hour; `logs_patterns` is new. ClickHouse cannot change a sort
-- key or an engine in place, and the rows of before have no source to
-- keep, so both rollups are made again from `logs`, whose rows they count:
--
-- 1. `logs_by_level_v3` is made empty (a leftover of an interrupted run is
--    dropped first) in the new layout; a database without `logs_by_level`
--    gets an empty one, so that the exchange has a partner;
-- 2. every row of `logs` is counted into it with one `INSERT ... SELECT`
--    (no deduplication: the counts are the rows');
-- 3. the old view is dropped, `EXCHANGE TABLES` swaps the two names at
--    once, the old rollup is dropped (it is made again from `logs` by a
--    run of this file, so nothing is lost with it), and the view is made
--    again into the new table;
-- 4. `logs_patterns` the same way, from the warnings and errors of `logs`.
--
-- Every statement is safe to repeat after an interruption: a repeat starts
-- each backfill from an empty table and swaps it in again, so no count is
-- made twice and none is missing.
--
-- Rows a running pipeline inserts while the views are away (between the
-- drop of a view and its making again) are stored in `logs` and not
-- counted in the rollups; stop the writers for the migration, or count
-- those minutes again as README says. `logs` itself is not touched.

DROP TABLE IF EXISTS {{database}}.logs_by_level_v3;

CREATE TABLE {{database}}.logs_by_level_v3
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

CREATE TABLE IF NOT EXISTS {{database}}.logs_by_level AS {{database}}.logs_by_level_v3;

INSERT INTO {{database}}.logs_by_level_v3 (Minute, ServiceName, SeverityText, SeverityNumber, ScopeName, Count, FirstSeen, LastSeen)
SELECT toStartOfMinute(TimestampTime) AS Minute, ServiceName, SeverityText, SeverityNumber,
    ScopeName, count(), min(Timestamp), max(Timestamp)
FROM {{database}}.logs
GROUP BY Minute, ServiceName, SeverityText, SeverityNumber, ScopeName
SETTINGS insert_deduplicate = 0;

DROP VIEW IF EXISTS {{database}}.logs_by_level_mv;

EXCHANGE TABLES {{database}}.logs_by_level AND {{database}}.logs_by_level_v3;

DROP TABLE IF EXISTS {{database}}.logs_by_level_v3;

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

DROP TABLE IF EXISTS {{database}}.logs_patterns_v3;

CREATE TABLE {{database}}.logs_patterns_v3
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

CREATE TABLE IF NOT EXISTS {{database}}.logs_patterns AS {{database}}.logs_patterns_v3;

INSERT INTO {{database}}.logs_patterns_v3 (Minute, ServiceName, SeverityText, SeverityNumber, ScopeName, Pattern, Count, Example, FirstSeen, LastSeen)
SELECT toStartOfMinute(TimestampTime) AS Minute, ServiceName, SeverityText, SeverityNumber,
    ScopeName,
    replaceRegexpAll(replaceRegexpAll(replaceRegexpAll(replaceRegexpAll(Body,
        '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}', '<uuid>'),
        '\\b0[xX][0-9a-fA-F]+\\b', '<hex>'),
        '\\b[0-9a-fA-F]*[0-9][0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\\b|\\b[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*[0-9][0-9a-fA-F]*\\b', '<hex>'),
        '[0-9]+', '<num>') AS Pattern,
    count(), min(Body), min(Timestamp), max(Timestamp)
FROM {{database}}.logs
WHERE SeverityNumber >= 13
GROUP BY Minute, ServiceName, SeverityText, SeverityNumber, ScopeName, Pattern
SETTINGS insert_deduplicate = 0;

DROP VIEW IF EXISTS {{database}}.logs_patterns_mv;

EXCHANGE TABLES {{database}}.logs_patterns AND {{database}}.logs_patterns_v3;

DROP TABLE IF EXISTS {{database}}.logs_patterns_v3;

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
