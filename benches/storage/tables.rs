//! The layouts compared: ours (whatever `schema.sql` says, created by the
//! crate), the OpenTelemetry collector's ClickHouse exporter's default
//! `otel_logs`, the naive table the corpus lives in, and any extra DDL files
//! named in `STORAGE_VARIANTS`.

use std::path::Path;

/// The exporter's default logs table (what `create_schema` made until
/// the 2026-04 upgrade of PR #47720, and what deployments made before it
/// still have), as
/// `exporter/clickhouseexporter/internal/sqltemplates/logs_table.sql` of
/// open-telemetry/opentelemetry-collector-contrib (commit e3bd2d1d648f, the
/// version with `EventName`) renders it with the default configuration:
/// engine `MergeTree`, no cluster, no TTL.
pub const EXPORTER_DDL: &str = "CREATE TABLE __DB__.logs
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
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    LogAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    EventName String CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
)
ENGINE = MergeTree
PARTITION BY toDate(TimestampTime)
PRIMARY KEY (ServiceName, TimestampTime)
ORDER BY (ServiceName, TimestampTime, Timestamp)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1";

/// The columns our pipeline writes (`src/schema/insert.rs`, `Table::Logs`);
/// the others take their defaults. The exporter's insert names these plus
/// the three schema URLs, `ScopeVersion` and `ScopeAttributes`, which the
/// corpus leaves empty, so copying these columns gives both tables the
/// same rows.
pub const INSERT_COLUMNS: &str = "Timestamp, TraceId, SpanId, TraceFlags, SeverityText, \
     SeverityNumber, ServiceName, Body, ResourceAttributes, ScopeName, LogAttributes";

/// Our pipeline's insert, as `src/schema/insert.rs` writes it for `logs`
/// (`__TABLE__` instead of `logs`): a RowBinary body through `input()`, the
/// service and resource attributes as query parameters.
pub const PIPELINE_INSERT: &str = "INSERT INTO __TABLE__ (Timestamp, TraceId, SpanId, TraceFlags, SeverityText, \
     SeverityNumber, ServiceName, Body, ResourceAttributes, ScopeName, LogAttributes) \
     SELECT Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, \
     {service:String}, Body, \
     mapFromArrays({resource_keys:Array(String)}, {resource_values:Array(String)}), \
     ScopeName, LogAttributes \
     FROM input('Timestamp DateTime64(9), TraceId String, SpanId String, \
     TraceFlags UInt8, SeverityText String, SeverityNumber UInt8, Body String, \
     ScopeName String, LogAttributes Map(String, String)') \
     FORMAT RowBinary";

/// The `input()` columns of [`PIPELINE_INSERT`], in order: what a batch's
/// RowBinary body holds.
pub const PIPELINE_INPUT_COLUMNS: &str = "Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, Body, ScopeName, LogAttributes";

/// One table under test: `logs` in a database of its own, so that the
/// crate's queries (which read `logs`) run on it unchanged.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Short name for the report.
    pub name: String,
    /// The database holding it as `logs`.
    pub database: String,
    /// How to create it in that database (empty for ours, which the crate
    /// creates, and for naive, which the corpus fills).
    pub ddl: String,
}

impl Layout {
    /// `database.logs`.
    pub fn table(&self) -> String {
        format!("{}.logs", self.database)
    }
}

/// The exporter's table, in `<prefix>_exporter`.
pub fn exporter(prefix: &str) -> Layout {
    let database = format!("{prefix}_exporter");
    Layout {
        name: "exporter".into(),
        ddl: EXPORTER_DDL.replace("__DB__", &database),
        database,
    }
}

/// The DDL files of `STORAGE_VARIANTS` (comma-separated paths): each one
/// `CREATE TABLE {db}.{table} (...)`, named after its file, created as
/// `<prefix>_<name>.logs`. They are filled with the same rows as ours,
/// through [`INSERT_COLUMNS`].
pub fn variants(prefix: &str) -> Vec<Layout> {
    let Ok(list) = std::env::var("STORAGE_VARIANTS") else {
        return Vec::new();
    };
    list.split(',')
        .filter(|path| !path.trim().is_empty())
        .map(|path| {
            let path = Path::new(path.trim());
            let name = path
                .file_stem()
                .and_then(|stem| stem.to_str())
                .unwrap_or_else(|| panic!("a variant file name: {}", path.display()))
                .replace(['-', '.'], "_");
            let text = std::fs::read_to_string(path)
                .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            let database = format!("{prefix}_{name}");
            // The DDL, without its comment lines and final `;`.
            let ddl: Vec<&str> = text
                .lines()
                .filter(|line| !line.trim_start().starts_with("--"))
                .collect();
            let ddl = ddl
                .join("\n")
                .replace("{db}", &database)
                .replace("{table}", "logs")
                .trim()
                .trim_end_matches(';')
                .to_owned();
            Layout {
                name,
                database,
                ddl,
            }
        })
        .collect()
}
