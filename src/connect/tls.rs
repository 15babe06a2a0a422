//! HTTPS: the webpki roots (what ClickHouse Cloud's certificates chain to)
//! plus the CA file of `CLICKHOUSE_CA_CERT` / `Builder::ca_cert`, and a
//! refusal that says what to change.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};

use crate::config::{Config, read_setting_file};
use crate::error::ConfigError;

/// The cryptography every TLS connection of the crate uses: aws-lc-rs, as
/// rustls itself defaults to (its *ring* provider is deprecated for lacking
/// post-quantum key exchange). Given explicitly, so that a process-wide
/// default (or two providers enabled in one build) changes nothing here.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// HTTPS trusting the webpki roots and the configured CA file.
pub(super) fn client_config(config: &Config) -> Result<rustls::ClientConfig, ConfigError> {
    // The setting the file came from, so the error names it.
    let bad = |reason: String| ConfigError::CaCert {
        setting: config.ca_cert_setting,
        path: config.ca_cert.clone().unwrap_or_default(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &config.ca_cert {
        let pem = read_setting_file(path).map_err(|e| bad(e.to_string()))?;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| bad(e.to_string()))?;
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
        }
    }
    let provider = provider();
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| bad(e.to_string()))?;
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .dangerous()
        // The webpki verifier, unchanged but for what it says on refusal.
        .with_custom_certificate_verifier(Arc::new(Explained(verifier)))
        .with_no_client_auth();
    Ok(tls)
}

/// rustls's webpki verifier; a certificate it refuses is refused with its
/// reason and what to change in the configuration, so that every error
/// carrying it (the pipeline's report, a query's, chlog's) says so.
#[derive(Debug)]
struct Explained(Arc<WebPkiServerVerifier>);

/// Why a certificate was refused, and the settings that fix it.
#[derive(Debug)]
struct Refused(CertificateError);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid peer certificate: {} (the server's TLS certificate is not trusted: set CLICKHOUSE_CA_CERT or \
             Builder::ca_cert to the CA that signed it, and connect by a host name the \
             certificate names; ClickHouse Cloud needs no CA setting)",
            self.0
        )
    }
}

impl std::error::Error for Refused {}

impl ServerCertVerifier for Explained {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map_err(|error| match error {
                // `Other`, whose text is ours alone (an invalid
                // certificate's `Other` prints as Debug).
                rustls::Error::InvalidCertificate(reason) => {
                    rustls::Error::Other(OtherError(Arc::new(Refused(reason))))
                }
                other => other,
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
