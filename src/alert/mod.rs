//! Alerting (feature `alerts`): rules over what the tables hold, evaluated
//! in ClickHouse, with transitions written to `events` and delivered to a
//! webhook and a callback.
//!
//! Five kinds of [`Rule`]: a metric's aggregate over a window against a
//! threshold, grouped by attributes ([`Rule::threshold`] with a
//! [`MetricSignal`]); a log count (the same with a [`LogSignal`]:
//! `log_count`); the absence of data ([`Rule::absence`]); a
//! checked service down for too long ([`Rule::service_status`]); and
//! anomalies of a metric or a log count ([`Rule::anomaly`]: a z-score, or
//! its robust variant with the median and MAD, against the buckets before
//! or, seasonally, the same bucket on the days or weeks before).
//!
//! Each rule is one SQL query over the rollups (`metrics_hourly`,
//! `metrics_daily`, `logs_by_level`) or, for short windows, the raw tables,
//! returning one row per group (for anomalies with the baseline's centre
//! and spread computed in SQL). An alert (a rule and a group) fires once
//! its condition has held for the rule's `for` duration and resolves once
//! it has been clear for its `resolve_after` (and, with
//! [`clear_at`](Rule::clear_at), past a second threshold): a flapping
//! signal does not flap.
//!
//! Transitions are `events` rows: `EventType` `alert_firing` or
//! `alert_resolved`, `Source` `alert`, `ServiceName` the group's service
//! (else the evaluating one), and `Details` `rule`, `value`, `threshold`,
//! `group` (`k=v,k=v`), `severity`, `kind`, `key` (the deduplication key:
//! rule and group), `message` (anomalies add `observed`, `center`,
//! `spread`). What fires now is each key whose latest transition is
//! `alert_firing` ([`firing_alerts`]).
//!
//! Rules run in the application with [`Builder::alerts`](crate::Builder::alerts)
//! (a thread of the guard's), or with `chlog alerts run FILE`; files are
//! read by [`Alerts::from_file`], which shows their form.

mod check;
mod engine;
mod file;
#[cfg(test)]
mod file_props;
mod rule;
mod runner;
mod settings;
mod setup;
mod signal;
mod sql;
mod state;
mod status;
mod task;
mod transition;
mod webhook;

pub(crate) use engine::Evaluator;
pub use file::FileError;
pub use rule::{Comparison, Rule};
pub use runner::{Cycle, Runner};
pub use settings::{Absence, AbsenceSource, Anomaly, Direction, Method, Season, ServiceDown};
pub use setup::Alerts;
pub use signal::{Aggregation, LogSignal, MetricSignal, Signal};
pub use status::{FiringAlert, firing_alerts};
pub use task::AlertStats;
pub(crate) use task::AlertTask;
pub use transition::{Transition, TransitionKind};
pub use webhook::Webhook;
