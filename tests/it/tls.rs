//! What a ClickHouse Cloud user meets, offline: HTTPS on 8443 with the
//! webpki roots and no CA variable by default, and the host name verified.
//! A server the configuration does not trust (our self-signed CA with the
//! webpki roots only, a wrong CA, a certificate for another host name) is
//! refused: the pipeline says why once (however often it retries), counts
//! the failures, keeps every row in the spool, and once restarted with the
//! right CA and the same spool directory delivers them all.
//!
//! Each refused run is a child process (this test binary again), so that
//! what it says on stderr is seen from outside.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::{DevServer, Options};
use tracing::dispatcher;
use tracing_clickhouse::Builder;
use tracing_clickhouse::ErrorKind;
use tracing_clickhouse::query::{LogQuery, QueryClient};

const ROWS: u64 = 40;
const DB: &str = "tls_test";

struct Pki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    wrong_ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    other_host_cert: PathBuf,
}

fn ca() -> (rcgen::CertifiedIssuer<'static, rcgen::KeyPair>, String) {
    let mut params = rcgen::CertificateParams::new(Vec::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let issuer =
        rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap();
    let pem = issuer.pem();
    (issuer, pem)
}

/// Our CA, another CA, and two server certificates of ours (one key): for
/// `127.0.0.1`, and for `other.example`.
fn pki() -> Pki {
    let dir = common::temp_dir("tls_pki");
    let path = |name: &str| dir.path().join(name);
    let (ours, ours_pem) = ca();
    let (_, wrong_pem) = ca();
    let key = rcgen::KeyPair::generate().unwrap();
    let signed = |host: &str| {
        rcgen::CertificateParams::new(vec![host.to_owned()])
            .unwrap()
            .signed_by(&key, &ours)
            .unwrap()
            .pem()
    };
    std::fs::write(path("ca.pem"), ours_pem).unwrap();
    std::fs::write(path("wrong-ca.pem"), wrong_pem).unwrap();
    std::fs::write(path("cert.pem"), signed("127.0.0.1")).unwrap();
    std::fs::write(path("other.pem"), signed("other.example")).unwrap();
    std::fs::write(path("key.pem"), key.serialize_pem()).unwrap();
    Pki {
        ca: path("ca.pem"),
        wrong_ca: path("wrong-ca.pem"),
        cert: path("cert.pem"),
        key: path("key.pem"),
        other_host_cert: path("other.pem"),
        _dir: dir,
    }
}

fn tls_server(cert: &Path, key: &Path) -> DevServer {
    let server = DevServer::start(Options {
        tls: Some((cert.to_owned(), key.to_owned())),
        ..Options::default()
    });
    assert!(server.url.starts_with("https://"), "{}", server.url);
    server
}

fn builder(url: &str, spool: &Path, ca: Option<&Path>) -> Builder {
    let builder = common::builder_for(url, DB).spool_dir(spool);
    match ca {
        Some(ca) => builder.ca_cert(ca).unwrap(),
        None => builder,
    }
}

/// In the child (the test run again by [`refused`]): `ROWS` logs into a
/// server it does not trust, a few seconds of retries, a shutdown; prints
/// what the report and the counters say, and returns true.
fn child_if_asked() -> bool {
    let Ok(url) = std::env::var("TC_TLS_CHILD_URL") else {
        return false;
    };
    let spool = PathBuf::from(std::env::var("TC_TLS_CHILD_SPOOL").unwrap());
    let ca = std::env::var_os("TC_TLS_CHILD_CA").map(PathBuf::from);
    let config = builder(&url, &spool, ca.as_deref()).build_config().unwrap();
    let (dispatch, telemetry) = common::start(config);
    dispatcher::with_default(&dispatch, || {
        for i in 0..ROWS {
            tracing::info!(i, "kept while refused");
        }
    });
    assert!(telemetry.flush(Duration::from_secs(3)).is_err());
    let report = telemetry.shutdown(Duration::from_secs(2));
    println!(
        "RESULT spooled={} unsent={} failed={} sent={}",
        report.spooled_rows,
        report.unsent_rows,
        report.stats.failed_inserts,
        report.stats.sent_rows
    );
    println!("ERROR {}", report.error.unwrap_or_default());
    true
}

/// Runs the child against `url`; returns its stdout and the lines it
/// reported on stderr.
fn refused(test: &str, url: &str, spool: &Path, ca: Option<&Path>) -> (String, Vec<String>) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", &common::test_name(module_path!(), test)])
        .args(["--nocapture", "--test-threads=1"])
        .env("TC_TLS_CHILD_URL", url)
        .env("TC_TLS_CHILD_SPOOL", spool);
    if let Some(ca) = ca {
        command.env("TC_TLS_CHILD_CA", ca);
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let reported = stderr
        .lines()
        .filter(|l| l.starts_with("tracing-clickhouse: "))
        .map(str::to_owned)
        .collect();
    (stdout, reported)
}

fn field(stdout: &str, name: &str) -> u64 {
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("RESULT ").map(|(_, r)| r))
        .unwrap_or_else(|| panic!("no RESULT in {stdout:?}"));
    let word = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("{name} in {line}"));
    word.parse().unwrap()
}

/// Refused once for `reason`, every row kept; then delivered by a run
/// that trusts our CA and connects to `good_url`, with the same spool.
async fn refused_then_delivered(
    test: &'static str,
    url: &str,
    ca: Option<&Path>,
    reason: &str,
    good_url: &str,
    pki: &Pki,
) {
    let spool = common::temp_dir("tls_spool");
    let (stdout, reported) = {
        let (url, spool, ca) = (
            url.to_owned(),
            spool.path().to_owned(),
            ca.map(Path::to_owned),
        );
        tokio::task::spawn_blocking(move || refused(test, &url, &spool, ca.as_deref()))
            .await
            .unwrap()
    };
    assert_eq!(field(&stdout, "sent"), 0, "{stdout}");
    assert!(
        field(&stdout, "failed") >= 2,
        "retried, not given up: {stdout}"
    );
    assert_eq!(field(&stdout, "spooled"), ROWS, "{stdout}");
    assert_eq!(field(&stdout, "unsent"), 0, "{stdout}");
    let about: Vec<&String> = reported.iter().filter(|l| l.contains(reason)).collect();
    assert_eq!(about.len(), 1, "said once why: {reported:#?}");
    assert!(about[0].contains("CLICKHOUSE_CA_CERT"), "{}", about[0]);
    assert!(
        stdout.contains(reason),
        "the shutdown report says why: {stdout}"
    );

    // Fixed configuration, same spool: every row, once.
    let config = builder(good_url, spool.path(), Some(&pki.ca))
        .build_config()
        .unwrap();
    // Read over HTTPS with the CA the configuration trusts; a run before
    // this one (the same server and database) left its rows there.
    let kept = LogQuery::new().contains("kept while refused");
    let reader = QueryClient::new(&config).unwrap();
    let before = match reader.log_stats(&kept).await {
        Ok(stats) => stats.total,
        Err(error) if error.kind() == ErrorKind::MissingSchema => 0,
        Err(error) => panic!("{error}"),
    };
    let (_dispatch, telemetry) = common::start(config);
    let telemetry = tokio::task::spawn_blocking(move || {
        telemetry.flush(Duration::from_secs(30)).unwrap();
        telemetry
    })
    .await
    .unwrap();
    assert_eq!(telemetry.stats().replayed_rows, ROWS);
    drop(telemetry);
    let after = reader.log_stats(&kept).await.unwrap().total;
    assert_eq!(after - before, ROWS);
}

#[test]
fn a_cloud_configuration_is_https_on_8443_with_the_webpki_roots() {
    let config = Builder::from_env_vars([
        ("CLICKHOUSE_HOST", "abc123.eu-west-1.aws.clickhouse.cloud"),
        ("CLICKHOUSE_PASSWORD", "secret-cloud-password"),
    ])
    .build_config()
    .unwrap();
    assert_eq!(
        config.url(),
        "https://abc123.eu-west-1.aws.clickhouse.cloud:8443"
    );
    assert!(format!("{config:?}").contains("ca_cert: None"));
    assert!(!format!("{config:?}").contains("secret-cloud-password"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_untrusted_server_is_refused_once_and_its_rows_kept_for_the_fixed_run() {
    const TEST: &str = "an_untrusted_server_is_refused_once_and_its_rows_kept_for_the_fixed_run";
    if child_if_asked() {
        return;
    }
    let pki = pki();
    let server = tls_server(&pki.cert, &pki.key);

    // The webpki roots only, as for ClickHouse Cloud: our CA is not among them.
    refused_then_delivered(TEST, &server.url, None, "UnknownIssuer", &server.url, &pki).await;
    // A CA that did not sign the server's certificate (rcgen gives both CAs
    // the same name, so rustls finds it as the issuer, and its signature
    // does not match).
    refused_then_delivered(
        TEST,
        &server.url,
        Some(&pki.wrong_ca),
        "BadSignature",
        &server.url,
        &pki,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_for_another_host_name_is_refused() {
    if child_if_asked() {
        return;
    }
    let pki = pki();
    let good = tls_server(&pki.cert, &pki.key);
    let other = tls_server(&pki.other_host_cert, &pki.key);
    // Our CA signed it, but for other.example, not 127.0.0.1.
    refused_then_delivered(
        "a_certificate_for_another_host_name_is_refused",
        &other.url,
        Some(&pki.ca),
        "certificate not valid for name",
        &good.url,
        &pki,
    )
    .await;
}
