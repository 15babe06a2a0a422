//! What in a [`StorageHealth`] needs a person's attention.

use std::fmt;

use super::StorageHealth;

/// Where [`StorageHealth::problems`] draws its lines.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Thresholds {
    /// A disk with a smaller free share (0 to 1) is a warning, and under
    /// half of it a critical problem (default 0.10).
    pub min_free_disk: f64,
    /// A partition with this share of the server's `parts_to_delay_insert`
    /// active parts is a warning (default 0.5); at `parts_to_delay_insert`
    /// ClickHouse slows inserts down, which is critical, and at
    /// `parts_to_throw_insert` it refuses them ("Too many parts").
    pub parts_warning_share: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            min_free_disk: 0.10,
            parts_warning_share: 0.5,
        }
    }
}

/// How soon a problem needs attention.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Urgency {
    /// Not yet harmful; will be.
    Warning,
    /// Rows are refused, lost or kept where they should not be, now or soon.
    Critical,
}

impl Urgency {
    /// `warning` or `critical`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Urgency::Warning => "warning",
            Urgency::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Urgency {
    /// `warning` or `critical`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something that needs a person's attention.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Problem {
    /// How soon.
    pub urgency: Urgency,
    /// What it is about: a table, a disk, `schema`.
    pub subject: String,
    /// What is wrong, and what to do.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let urgency = self.urgency.as_str();
        write!(f, "{urgency}: {}: {}", self.subject, self.message)
    }
}

impl StorageHealth {
    /// What needs attention, the most urgent first: a missing schema or
    /// table, pending migrations, too many parts in a partition, a disk
    /// running full, a data table without TTL, a service dropping records,
    /// failed inserts.
    pub fn problems(&self, thresholds: &Thresholds) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut add = |urgency, subject: &str, message: String| {
            problems.push(Problem {
                urgency,
                subject: subject.to_owned(),
                message,
            });
        };
        match self.schema_version {
            None => add(
                Urgency::Critical,
                "schema",
                format!(
                    "database {} has none of the tables: apply the schema",
                    self.database
                ),
            ),
            Some(v) if v < self.known_schema_version => add(
                Urgency::Warning,
                "schema",
                format!(
                    "version {v}; this tracing-clickhouse applies version {}: migrations pending",
                    self.known_schema_version
                ),
            ),
            Some(v) if v > self.known_schema_version => add(
                Urgency::Warning,
                "schema",
                format!(
                    "version {v} is newer than this tracing-clickhouse knows ({}): upgrade it",
                    self.known_schema_version
                ),
            ),
            Some(_) => {}
        }
        for table in &self.tables {
            if !table.exists {
                if self.schema_version.is_some() {
                    add(
                        Urgency::Critical,
                        &table.name,
                        "missing: apply the schema to create it".into(),
                    );
                }
                continue;
            }
            let parts = table.max_parts_per_partition;
            let delay = self.parts_to_delay_insert;
            if parts >= self.parts_to_throw_insert.max(1) {
                add(
                    Urgency::Critical,
                    &table.name,
                    format!(
                        "{parts} active parts in one partition: ClickHouse refuses inserts from \
                         {} (\"Too many parts\"); insert larger batches less often",
                        self.parts_to_throw_insert
                    ),
                );
            } else if parts >= delay.max(1) {
                add(
                    Urgency::Critical,
                    &table.name,
                    format!(
                        "{parts} active parts in one partition: ClickHouse delays inserts from \
                         {delay}; insert larger batches less often"
                    ),
                );
            } else if delay > 0 && parts as f64 >= delay as f64 * thresholds.parts_warning_share {
                add(
                    Urgency::Warning,
                    &table.name,
                    format!(
                        "{parts} active parts in one partition (ClickHouse delays inserts \
                         from {delay}); merges are not keeping up"
                    ),
                );
            }
            if table.is_data() && table.ttl.is_none() {
                add(
                    Urgency::Warning,
                    &table.name,
                    "no TTL: its rows are kept forever".into(),
                );
            }
        }
        for disk in &self.disks {
            let Some(share) = disk.free_share() else {
                continue;
            };
            if share < thresholds.min_free_disk {
                let urgency = match share < thresholds.min_free_disk / 2.0 {
                    true => Urgency::Critical,
                    false => Urgency::Warning,
                };
                add(
                    urgency,
                    &format!("disk {}", disk.name),
                    format!(
                        "{:.1} % free ({} of {} bytes) at {}, under {:.1} %",
                        share * 100.0,
                        disk.free_bytes,
                        disk.total_bytes,
                        disk.path,
                        thresholds.min_free_disk * 100.0
                    ),
                );
            }
        }
        let mut services: Vec<&str> = self.dropped.iter().map(|d| d.service.as_str()).collect();
        services.sort_unstable();
        services.dedup();
        for service in services {
            let reasons: Vec<String> = self
                .dropped
                .iter()
                .filter(|d| d.service == service)
                .map(|d| format!("{} {}", d.records, d.reason))
                .collect();
            add(
                Urgency::Critical,
                &format!("service {service}"),
                format!(
                    "dropped records in the last {} s ({}): its stderr says what to change",
                    self.window.as_secs(),
                    reasons.join(", ")
                ),
            );
        }
        for stats in &self.queries {
            if stats.kind == "Insert" && stats.failed > 0 {
                add(
                    Urgency::Warning,
                    "inserts",
                    format!(
                        "{} failed in the last {} s (system.query_log has why)",
                        stats.failed,
                        self.window.as_secs()
                    ),
                );
            }
        }
        problems.sort_by_key(|p| std::cmp::Reverse(p.urgency));
        problems
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::{DiskHealth, DroppedRecords, QueryStats, TableHealth};
    use super::*;

    fn healthy() -> StorageHealth {
        let table = |name: &str, ttl: bool| TableHealth {
            name: name.into(),
            exists: true,
            engine: "MergeTree".into(),
            parts: 3,
            partitions: 1,
            max_parts_per_partition: 3,
            ttl: ttl.then(|| "Timestamp + toIntervalDay(180)".into()),
            ..TableHealth::default()
        };
        StorageHealth {
            url: "http://127.0.0.1:8123".into(),
            database: "db".into(),
            server_version: "26.9".into(),
            round_trip: Duration::from_millis(2),
            schema_version: Some(1),
            known_schema_version: 1,
            window: Duration::from_secs(300),
            tables: vec![table("logs", true), table("logs_by_level_mv", false)],
            disks: vec![DiskHealth {
                name: "default".into(),
                path: "/data".into(),
                free_bytes: 50,
                total_bytes: 100,
            }],
            parts_to_delay_insert: 1000,
            parts_to_throw_insert: 3000,
            queries: vec![],
            dropped: vec![],
        }
    }

    fn subjects(health: &StorageHealth) -> Vec<(Urgency, String)> {
        health
            .problems(&Thresholds::default())
            .into_iter()
            .map(|p| (p.urgency, p.subject))
            .collect()
    }

    #[test]
    fn a_healthy_storage_has_no_problem() {
        assert_eq!(subjects(&healthy()), []);
    }

    #[test]
    fn parts_are_judged_against_the_servers_own_limits() {
        let with_parts = |parts| {
            let mut health = healthy();
            health.tables[0].max_parts_per_partition = parts;
            subjects(&health)
        };
        assert_eq!(with_parts(499), []);
        assert_eq!(with_parts(500), [(Urgency::Warning, "logs".to_owned())]);
        assert_eq!(with_parts(1000), [(Urgency::Critical, "logs".to_owned())]);
        let mut health = healthy();
        health.tables[0].max_parts_per_partition = 3000;
        let problems = health.problems(&Thresholds::default());
        assert!(problems[0].message.contains("refuses"), "{}", problems[0]);
    }

    #[test]
    fn disks_schema_ttls_and_failed_inserts() {
        let mut health = healthy();
        health.disks[0].free_bytes = 7;
        health.tables[0].ttl = None;
        health.queries.push(QueryStats {
            kind: "Insert".into(),
            finished: 10,
            failed: 2,
            p50_ms: 1,
            p95_ms: 2,
            max_ms: 3,
        });
        assert_eq!(
            subjects(&health),
            [
                (Urgency::Warning, "logs".to_owned()),
                (Urgency::Warning, "disk default".to_owned()),
                (Urgency::Warning, "inserts".to_owned()),
            ]
        );
        health.disks[0].free_bytes = 4;
        assert_eq!(
            subjects(&health)[0],
            (Urgency::Critical, "disk default".to_owned())
        );
        let thresholds = Thresholds {
            min_free_disk: 0.0,
            ..Thresholds::default()
        };
        assert_eq!(
            health.problems(&thresholds).len(),
            2,
            "the disk's threshold is off"
        );

        let mut health = healthy();
        health.tables[1].exists = false;
        assert_eq!(
            subjects(&health),
            [(Urgency::Critical, "logs_by_level_mv".to_owned())]
        );
        health.schema_version = None;
        for table in &mut health.tables {
            table.exists = false;
        }
        assert_eq!(
            subjects(&health),
            [(Urgency::Critical, "schema".to_owned())],
            "said once"
        );
        health.schema_version = Some(0);
        health.tables.iter_mut().for_each(|t| t.exists = true);
        assert_eq!(subjects(&health), [(Urgency::Warning, "schema".to_owned())]);
    }

    #[test]
    fn a_service_that_dropped_records_is_critical_once_with_every_reason() {
        let mut health = healthy();
        let dropped = |service: &str, reason: &str, records| DroppedRecords {
            service: service.into(),
            reason: reason.into(),
            records,
        };
        health.dropped = vec![
            dropped("checkout", "queue_full", 900),
            dropped("checkout", "spool_full", 40),
            dropped("search", "queue_full", 7),
        ];
        let problems = health.problems(&Thresholds::default());
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[0].subject, "service checkout");
        assert_eq!(problems[0].urgency, Urgency::Critical);
        assert!(
            problems[0]
                .message
                .contains("(900 queue_full, 40 spool_full)"),
            "{}",
            problems[0]
        );
    }
}
