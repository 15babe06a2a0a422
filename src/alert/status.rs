//! Transitions in `events`: writing them, and reading back what fires now
//! (the keys whose latest transition is `alert_firing`).

use serde::Deserialize;

use super::transition::{FIRING, RESOLVED, SOURCE, Transition};
use crate::error::Result;
use crate::query::QueryClient;
use crate::query::sql::Sql;

/// An alert firing now, as `events` says.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct FiringAlert {
    /// The deduplication key.
    pub key: String,
    /// The rule's name.
    pub rule: String,
    /// The group, `k=v,k=v`.
    pub group: String,
    /// The group's service (or the evaluating service).
    pub service: String,
    /// The rule's severity.
    pub severity: String,
    /// The value when it fired.
    pub value: String,
    /// The threshold.
    pub threshold: String,
    /// The rule's message.
    pub message: String,
    /// When it fired, nanoseconds since the Unix epoch.
    pub since_ns: i64,
}

/// The alerts firing now: for each key, the latest transition is
/// `alert_firing`. Oldest first.
///
/// # Errors
///
/// ClickHouse could not be asked (or the database has no `events`).
pub async fn firing_alerts(client: &QueryClient) -> Result<Vec<FiringAlert>> {
    let mut sql = Sql::new("");
    let (source, firing, resolved) = (sql.param(SOURCE), sql.param(FIRING), sql.param(RESOLVED));
    sql.push(&format!(
        "SELECT key, d['rule'] AS rule, d['group'] AS group, service, d['severity'] AS severity, \
         d['value'] AS value, d['threshold'] AS threshold, d['message'] AS message, since_ns \
         FROM (SELECT Details['key'] AS key, argMax(EventType, Timestamp) AS last, \
         argMax(Details, Timestamp) AS d, argMax(toString(ServiceName), Timestamp) AS service, \
         toUnixTimestamp64Nano(max(Timestamp)) AS since_ns FROM events \
         WHERE Source = {source} AND EventType IN ({firing}, {resolved}) GROUP BY key) \
         WHERE last = {firing} ORDER BY since_ns, key"
    ));
    // Read as tuples: no public type implements a `clickhouse` trait, so an
    // upgrade of that crate changes nothing in ours.
    type Row = (
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        i64,
    );
    let rows: Vec<Row> = sql.build(&client.client)?.fetch_all().await?;
    let alert =
        |(key, rule, group, service, severity, value, threshold, message, since_ns): Row| {
            FiringAlert {
                key,
                rule,
                group,
                service,
                severity,
                value,
                threshold,
                message,
                since_ns,
            }
        };
    Ok(rows.into_iter().map(alert).collect())
}

/// Writes `transition` to `events` (`Source` = `alert`), once however often
/// it is written (its [`id`](Transition::id) is the insert's deduplication
/// token).
///
/// # Errors
///
/// ClickHouse did not take it.
pub(crate) async fn write_transition(client: &QueryClient, transition: &Transition) -> Result<()> {
    let (keys, values): (Vec<String>, Vec<String>) = transition.details().into_iter().unzip();
    let mut sql = Sql::new("");
    let at = sql.param(transition.at_ns);
    let event_type = sql.param(transition.kind.event_type());
    let source = sql.param(SOURCE);
    let service = sql.param(&transition.service);
    let (keys, values) = (sql.param(&keys), sql.param(&values));
    sql.push(&format!(
        "INSERT INTO events (Timestamp, EventType, Source, ServiceName, Details) \
         SELECT fromUnixTimestamp64Nano({at}), {event_type}, {source}, {service}, \
         mapFromArrays({keys}, {values})"
    ));
    // A write retried after a lost answer is stored once.
    sql.build(&client.client)?
        .with_setting("insert_deduplication_token", transition.id())
        .execute()
        .await?;
    Ok(())
}
