//! The corpus: logs generated server-side by an `INSERT ... SELECT ... FROM
//! numbers(N)` whose every choice is a hash of the seed and the row number,
//! so a run with the same rows and seed stores the same rows. The storage
//! study's is a week of 20 services (`STORAGE_ROWS`, `STORAGE_SEED`); the
//! scale bench (`benches/scale.rs`, which shares this file) generates the
//! last 24 hours of 12 of them.
//!
//! What it models:
//! - time: the span (the study's: 7 days ending at [`END_SECS`]), rows in
//!   time order with a daily swing of the rate (about 0.7x to 2x the mean)
//!   and nanosecond jitter;
//! - 20 services (or the first of them) with a skewed share (the biggest
//!   about 22 %, the smallest about 2.5 %), 1 to 3 replicas each, a deploy every 36 hours that
//!   changes `service.version`, the pod-like `host.name` and `process.pid`;
//! - levels TRACE 2 %, DEBUG 32 %, INFO 58.5 %, WARN 6 %, ERROR 1.5 %; each
//!   row comes from a call site (26 templates x 20 services) that fixes the
//!   level, `ScopeName` (the module path), `code.namespace`,
//!   `code.file.path`, `code.line.number` and the field names;
//! - bodies from templates with order and user ids, milliseconds, counts,
//!   hex keys, UUIDs, IPs, routes, peers, topics (most bodies unique);
//! - `LogAttributes`: the call site's 0 to 5 fields, then `code.namespace`,
//!   `code.file.path`, `code.line.number`, `thread.id`, `thread.name` in the
//!   order the layer writes them (5 to 10 pairs);
//! - a third of the rows inside traces: about 10 rows per trace, from 2
//!   services, 1 to 3 spans per service (TraceId 32 hex, SpanId 16 hex,
//!   TraceFlags 1).

// The scale bench uses the generator only.
#![allow(dead_code)]

/// The corpus ends here (2026-11-30 00:00:00 UTC, exclusive): the "now" of
/// every query.
pub const END_SECS: i64 = 1_795_996_800;
/// It covers this many seconds before [`END_SECS`].
pub const SPAN_SECS: i64 = 7 * 86_400;

/// The table the corpus is generated into and every other table is copied
/// from: the "naive" layout (plain types, the default codec, no skip
/// indexes, `ORDER BY Timestamp`).
pub const NAIVE_DDL: &str = "CREATE TABLE __DB__.logs
(
    Timestamp DateTime64(9),
    TimestampTime DateTime,
    TraceId String,
    SpanId String,
    TraceFlags UInt8,
    SeverityText String,
    SeverityNumber UInt8,
    ServiceName String,
    Body String,
    ResourceSchemaUrl String,
    ResourceAttributes Map(String, String),
    ScopeSchemaUrl String,
    ScopeName String,
    ScopeVersion String,
    ScopeAttributes Map(String, String),
    LogAttributes Map(String, String)
)
ENGINE = MergeTree
ORDER BY Timestamp
COMMENT '__COMMENT__'";

/// The generator: the rows as a `SELECT` of every column of the naive
/// table. `__ROWS__` (the rows of the whole span), `__FIRST__` and
/// `__COUNT__` (the row numbers generated), `__SEED__`, `__START_NS__`,
/// `__SPAN_NS__`, `__DAYS__` (the daily swings in the span) and
/// `__SERVICES__` are replaced by [`Generator::select`].
const GENERATE: &str = r"WITH
    ['api-gateway','checkout','payments','inventory','search','auth','users','orders','notifications','shipping',
     'recommendations','pricing','catalog','cart','billing','reporting','scheduler','media','geo','audit'] AS services,
    ['TRACE','DEBUG','INFO','WARN','ERROR'] AS levels,
    [1, 5, 9, 13, 17] AS severities,
    -- Call-site templates: level (index into levels), module, body pieces
    -- (the values go between them), the kinds of those values, field names
    -- and the kinds of their values (kinds index `vals` below).
    [3,3,3,3,3,3,3,3,2,2,2,2,2,2,2,1,4,4,4,4,4,5,5,5,5,5] AS t_level,
    ['http::handlers','http::middleware','orders::service','payments::provider','auth::session','jobs::runner',
     'events::consumer','health','cache','cache','db::pool','db::query','events::publisher','net::codec',
     'net::client','runtime::poll','net::retry','db::query','http::ratelimit','tls::certs','db::pool',
     'net::client','http::handlers','inventory::store','worker','orders::service'] AS t_module,
    [['request completed'],
     ['', ' ', ' ', ' in ', 'ms'],
     ['order ', ' created for user ', ' total=', ''],
     ['payment ', ' authorized amount=', ' currency=EUR'],
     ['user ', ' logged in from ', ''],
     ['job ', ' finished status=success duration=', 'ms'],
     ['consumed batch of ', ' messages from ', ' in ', 'ms'],
     ['health check ok (', 'ms)'],
     ['cache hit for key user:', ':profile'],
     ['cache miss for key session:', ''],
     ['acquired connection from pool (idle=', ', active=', ')'],
     ['query executed in ', 'ms rows=', ''],
     ['published event ', ' to topic ', ' partition ', ''],
     ['decoded ', ' bytes frame from ', ''],
     ['sending ', ' bytes to ', ''],
     ['polling ', ' ready tasks'],
     ['retrying request to ', ' attempt ', '/5 after ', 'ms'],
     ['slow query took ', 'ms: SELECT * FROM orders WHERE id = ', ''],
     ['rate limit exceeded for api key ', ', ', ' requests in window'],
     ['certificate for ', ' expires in ', ' days'],
     ['connection pool exhausted, waited ', 'ms for a connection'],
     ['failed to connect to ', ': connection refused (os error 111)'],
     ['request ', ' failed: upstream timeout after ', 'ms'],
     ['deadlock detected while updating inventory item ', ', rolling back'],
     ['panic in worker: index out of bounds: the len is ', ' but the index is ', ''],
     ['order ', ' rejected: payment declined by ', '']] AS t_pieces,
    [[], [15, 8, 9, 3], [1, 2, 12], [6, 12], [2, 7], [6, 3], [4, 11, 3], [3],
     [2], [5], [13, 4], [3, 4], [6, 11, 13], [4, 7], [4, 10],
     [13],
     [10, 21, 3], [3, 1], [5, 4], [14, 13], [3],
     [10], [6, 3], [1], [4, 13], [1, 19]] AS t_kinds,
    [['http.request.method','http.route','http.response.status_code','latency_ms'],
     ['user_id'],
     ['order_id','user_id','amount'],
     ['payment_id','provider'],
     ['user_id','client.address','mfa'],
     ['job','queue','attempt'],
     ['messaging.destination.name','lag'],
     [],
     ['cache'],
     ['cache','ttl_s'],
     ['pool'],
     ['db.system.name','db.operation.name'],
     ['messaging.destination.name','messaging.destination.partition.id','offset'],
     ['bytes'],
     ['bytes','server.address'],
     [],
     ['server.address','attempt'],
     ['db.system.name'],
     ['api_key_prefix'],
     ['server.address'],
     ['pool','waited_ms'],
     ['server.address','error'],
     ['request_id','error'],
     ['sku','error'],
     ['error'],
     ['order_id','provider','error']] AS t_keys,
    [[15, 8, 9, 3], [2], [1, 2, 12], [6, 19], [2, 7, 20], [22, 23, 21], [11, 4], [],
     [18], [18, 4], [24], [16, 25], [11, 13, 1], [4], [4, 10],
     [],
     [10, 21], [16], [5],
     [14], [24, 3],
     [10, 17], [6, 17], [26, 17], [17], [1, 19, 17]] AS t_fkinds,
    ['/api/v1/orders/{id}','/api/v1/orders','/api/v1/users/{id}','/api/v1/cart','/api/v1/search','/api/v1/products/{id}',
     '/api/v1/checkout','/api/v1/payments/{id}','/healthz','/api/v1/login','/api/v2/recommendations','/api/v1/inventory/{sku}'] AS routes,
    ['postgres-primary:5432','redis-cache:6379','payments.internal:443','kafka-0:9092','kafka-1:9092','search.internal:9200',
     'auth.internal:8443','s3.eu-west-1.amazonaws.com:443'] AS peers,
    ['orders.created','payments.authorized','inventory.reserved','users.events','notifications.outbox','audit.log'] AS topics,
    ['api.stripe.com','auth.internal','payments.internal','search.internal'] AS cert_hosts,
    ['stripe','adyen','paypal'] AS providers,
    ['connection reset by peer','operation timed out','connection refused (os error 111)','deadline has elapsed',
     'invalid input: missing field `sku`','pool timed out while waiting for an open connection'] AS errors
SELECT
    fromUnixTimestamp64Nano(t_ns) AS Timestamp,
    toDateTime(intDiv(t_ns, 1000000000)) AS TimestampTime,
    if(traced, concat(lower(hex(reinterpretAsFixedString(trace_h))), lower(hex(reinterpretAsFixedString(cityHash64(trace_h, 1))))), '') AS TraceId,
    if(traced, lower(hex(reinterpretAsFixedString(cityHash64(trace_h, s, h8 % 3)))), '') AS SpanId,
    toUInt8(traced) AS TraceFlags,
    levels[lvl] AS SeverityText,
    toUInt8(severities[lvl]) AS SeverityNumber,
    services[s] AS ServiceName,
    arrayStringConcat(arrayMap((p, i) -> concat(p, if(i <= length(t_kinds[tpl]), vals[t_kinds[tpl][i]], '')),
                               t_pieces[tpl], arrayEnumerate(t_pieces[tpl]))) AS Body,
    '' AS ResourceSchemaUrl,
    map('service.name', services[s],
        'service.version', concat('1.', toString(s % 7), '.', toString(epoch % 50)),
        'host.name', concat(services[s], '-', substring(lower(hex(reinterpretAsFixedString(cityHash64(s, epoch)))), 1, 10),
                            '-', substring(lower(hex(reinterpretAsFixedString(cityHash64(s, epoch, replica)))), 1, 5)),
        'process.pid', toString(1 + cityHash64(s, replica, epoch) % 60000),
        'telemetry.sdk.name', 'tracing-clickhouse',
        'telemetry.sdk.version', '0.1.0',
        'telemetry.sdk.language', 'rust') AS ResourceAttributes,
    '' AS ScopeSchemaUrl,
    module AS ScopeName,
    '' AS ScopeVersion,
    map() AS ScopeAttributes,
    mapFromArrays(
        arrayConcat(t_keys[tpl], ['code.namespace', 'code.file.path', 'code.line.number', 'thread.id', 'thread.name']),
        arrayConcat(arrayMap(k -> vals[k], t_fkinds[tpl]),
                    [module, concat('src/', replaceAll(t_module[tpl], '::', '/'), '.rs'), toString(30 + cityHash64(s, tpl) % 470),
                     toString(thread), if(thread = 1, 'main', 'tokio-runtime-worker')])) AS LogAttributes
FROM
(
    SELECT
        *,
        concat(replaceAll(services[s], '-', '_'), '::', t_module[tpl]) AS module,
        intDiv(intDiv(t_ns, 1000000000) + s * 7919, 129600) AS epoch,
        h9 % (1 + s % 3) AS replica,
        1 + h10 % 6 AS thread,
        [
            toString(10000000 + h1 % 90000000),
            toString(1000 + toUInt64(pow((h2 % 1000003) / 1000003, 3) * 250000)),
            toString(round(0.5 + pow((h3 % 100003) / 100003, 4) * 3000, 1)),
            toString(h4 % 4096),
            lower(hex(reinterpretAsFixedString(h5))),
            toString(reinterpretAsUUID(concat(reinterpretAsFixedString(h5), reinterpretAsFixedString(h6)))),
            IPv4NumToString(toUInt32(167772160 + h6 % 65536)),
            routes[1 + toUInt64(pow((h7 % 1009) / 1009, 2) * length(routes))],
            ['200','200','200','200','200','201','204','304','400','404','500'][1 + h8 % 11],
            peers[1 + h9 % length(peers)],
            topics[1 + h1 % length(topics)],
            toString(round((h2 % 100000) / 100, 2)),
            toString(h3 % 32),
            cert_hosts[1 + h4 % length(cert_hosts)],
            ['GET','GET','GET','POST','POST','PUT','DELETE'][1 + h5 % 7],
            'postgresql',
            errors[1 + h6 % length(errors)],
            ['redis','memory'][1 + h7 % 2],
            providers[1 + h8 % length(providers)],
            ['true','false'][1 + h9 % 2],
            toString(1 + h10 % 5),
            ['reindex','send_digest','expire_sessions','sync_inventory'][1 + h1 % 4],
            ['default','critical','low'][1 + h2 % 3],
            ['primary','replica'][1 + h3 % 2],
            ['SELECT','SELECT','SELECT','INSERT','UPDATE'][1 + h4 % 5],
            concat('SKU-', toString(10000 + h5 % 5000))
        ] AS vals
    FROM
    (
        SELECT
            *,
            1 + toUInt64(pow(if(traced, cityHash64(trace_h, h7 % 2), h0) % 1000003 / 1000003, 2) * __SERVICES__) AS s,
            multiIf(lu < 0.02, 1, lu < 0.34, 2, lu < 0.925, 3, lu < 0.985, 4, 5) AS lvl,
            arrayFilter(i -> t_level[i] = lvl, arrayEnumerate(t_level)) AS level_templates,
            level_templates[1 + (s * 3 + toUInt64(pow((h2 % 10007) / 10007, 2) * length(level_templates))) % length(level_templates)] AS tpl
        FROM
        (
            SELECT
                number AS n,
                cityHash64(__SEED__, n, 0) AS h0, cityHash64(__SEED__, n, 1) AS h1, cityHash64(__SEED__, n, 2) AS h2,
                cityHash64(__SEED__, n, 3) AS h3, cityHash64(__SEED__, n, 4) AS h4, cityHash64(__SEED__, n, 5) AS h5,
                cityHash64(__SEED__, n, 6) AS h6, cityHash64(__SEED__, n, 7) AS h7, cityHash64(__SEED__, n, 8) AS h8,
                cityHash64(__SEED__, n, 9) AS h9, cityHash64(__SEED__, n, 10) AS h10,
                (h0 % 3) = 0 AS traced,
                cityHash64(__SEED__, 't', intDiv(n, 128), h6 % 4) AS trace_h,
                (cityHash64(__SEED__, n, 11) % 1000003) / 1000003 AS lu,
                (n + (h1 % 1000) / 1000) / __ROWS__ AS u,
                __START_NS__ + toInt64(__SPAN_NS__ * (u + 0.5 * (cos(2 * pi() * __DAYS__ * u) - 1) / (2 * pi() * __DAYS__))) AS t_ns
            FROM numbers(__FIRST__, __COUNT__)
        )
    )
)";

/// The rows of a corpus: `rows` over `span_secs` seconds from
/// `start_secs`, from `services` services (at most 20), with a daily swing
/// of the rate; the same rows for the same values and `seed`.
#[derive(Clone, Copy, Debug)]
pub struct Generator {
    pub rows: u64,
    pub seed: u64,
    pub start_secs: i64,
    pub span_secs: i64,
    pub services: u32,
}

impl Generator {
    /// The storage study's week of 20 services, ending at [`END_SECS`].
    pub fn week(rows: u64, seed: u64) -> Generator {
        Generator {
            rows,
            seed,
            start_secs: END_SECS - SPAN_SECS,
            span_secs: SPAN_SECS,
            services: 20,
        }
    }

    /// Rows `first .. first + count` of the corpus as a `SELECT` of every
    /// column of the naive table (`TimestampTime` included).
    pub fn select(&self, first: u64, count: u64) -> String {
        let days = (self.span_secs as f64 / 86_400.0).max(1.0).round();
        GENERATE
            .replace("__ROWS__", &self.rows.to_string())
            .replace("__FIRST__", &first.to_string())
            .replace("__COUNT__", &count.to_string())
            .replace("__SEED__", &self.seed.to_string())
            .replace(
                "__START_NS__",
                &(self.start_secs as i128 * 1_000_000_000).to_string(),
            )
            .replace("__SPAN_NS__", &format!("{}e9", self.span_secs))
            .replace("__DAYS__", &days.to_string())
            .replace("__SERVICES__", &self.services.min(20).to_string())
    }
}

/// The statement that fills `database.logs` (the naive table) with the
/// study's corpus of `rows` rows.
pub fn generate_sql(database: &str, rows: u64, seed: u64) -> String {
    let select = Generator::week(rows, seed).select(0, rows);
    format!("INSERT INTO {database}.logs\n{select}")
}

/// The naive table's DDL, with the corpus's identity in its comment.
pub fn naive_ddl(database: &str, rows: u64, seed: u64) -> String {
    NAIVE_DDL
        .replace("__DB__", database)
        .replace("__COMMENT__", &comment(rows, seed))
}

/// What the naive table's comment says about the rows it holds.
pub fn comment(rows: u64, seed: u64) -> String {
    format!("storage bench corpus v1: rows={rows} seed={seed}")
}

/// A trace id of the corpus (from two days before the end), for the trace query.
pub fn pick_trace_sql(database: &str) -> String {
    format!(
        "SELECT TraceId FROM {database}.logs WHERE TraceId != '' \
         AND TimestampTime >= toDateTime({}) ORDER BY Timestamp LIMIT 1 OFFSET 500",
        END_SECS - 2 * 86_400
    )
}

/// An order id written in one body of the last day, for the token queries.
pub fn pick_token_sql(database: &str) -> String {
    format!(
        "SELECT extract(Body, 'order ([0-9]+) created') FROM {database}.logs \
         WHERE startsWith(Body, 'order ') AND position(Body, ' created ') > 0 \
         AND TimestampTime >= toDateTime({}) ORDER BY Timestamp LIMIT 1 OFFSET 77",
        END_SECS - 86_400
    )
}
