//! `log` records reach the `logs` table through `tracing-log`, with their own
//! target, file and line.

#[path = "it/common/mod.rs"]
mod common;

use std::time::Duration;

use tracing::dispatcher;
use tracing_clickhouse::query::LogQuery;

#[tokio::test(flavor = "multi_thread")]
async fn log_records_are_stored_like_tracing_events() {
    tracing_log::LogTracer::init().unwrap();
    let (dispatch, telemetry) = common::start(common::config("log_bridge"));
    let line = dispatcher::with_default(&dispatch, || {
        let line = line!() + 1;
        log::warn!(target: "legacy::billing", "invoice {} overdue", 17);
        log::info!("from the log crate");
        log::debug!(target: "rustls::client", "a transport's log record is never stored");
        line
    });
    telemetry.flush(Duration::from_secs(30)).unwrap();

    let logs = telemetry
        .query()
        .query_logs(&LogQuery::new())
        .await
        .unwrap();
    assert_eq!(logs.len(), 2, "{logs:?}");
    let billing = logs.iter().find(|l| l.source == "legacy::billing").unwrap();
    assert_eq!(
        (billing.level.as_str(), billing.message.as_str()),
        ("WARN", "invoice 17 overdue")
    );
    assert_eq!(billing.attribute("code.file.path"), Some(file!()));
    assert_eq!(
        billing.attribute("code.line.number"),
        Some(line.to_string().as_str())
    );
    assert_eq!(billing.attribute("code.namespace"), Some("log_bridge"));
    assert!(
        billing
            .attributes
            .iter()
            .all(|(k, _)| !k.starts_with("log.")),
        "{billing:?}"
    );
    let plain = logs
        .iter()
        .find(|l| l.message == "from the log crate")
        .unwrap();
    assert_eq!(
        (plain.source.as_str(), plain.level.as_str()),
        ("log_bridge", "INFO")
    );
}
