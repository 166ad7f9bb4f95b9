//! TLS with rustls (ring): client configurations (system roots, `SSL_CERT_FILE`,
//! an extra CA, or no verification) and the server's certificate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use futures_rustls::rustls::crypto::{
    ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider,
};
use futures_rustls::rustls::{
    self, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::error::{Error, Result};
use crate::instance::{record, TARGET_AUTH};

/// How a client checks the server's certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Also trust the certificates in this PEM file.
    pub ca_cert: Option<PathBuf>,
    /// Skip verification entirely (`--no-ssl-validate`).
    pub insecure: bool,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|err| {
            Error::Config(format!(
                "cannot read certificates from {}: {err}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(Error::Config(format!(
            "no certificate found in {}",
            path.display()
        )));
    }
    Ok(certs)
}

/// Accepts any certificate: for `--no-ssl-validate` and `allow_unverified_ssl_peers`.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A client configuration for `options`.
pub(super) fn client_config(options: &TlsOptions) -> Result<Arc<ClientConfig>> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|err| Error::Config(format!("TLS: {err}")))?;
    let config = if options.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        // System roots, or SSL_CERT_FILE / SSL_CERT_DIR when set.
        let native = rustls_native_certs::load_native_certs();
        for err in &native.errors {
            record!(
                debug,
                TARGET_AUTH,
                "while loading system certificates: {err}"
            );
        }
        roots.add_parsable_certificates(native.certs);
        if let Some(path) = &options.ca_cert {
            for cert in read_certs(path)? {
                roots.add(cert).map_err(|err| {
                    Error::Config(format!("bad CA certificate in {}: {err}", path.display()))
                })?;
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// The server's configuration from a PEM certificate chain and private key.
pub(super) fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>> {
    let certs = read_certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|err| {
        Error::Config(format!(
            "cannot read the private key from {}: {err}",
            key.display()
        ))
    })?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|err| Error::Config(format!("TLS: {err}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|err| Error::Config(format!("the TLS certificate and key do not fit: {err}")))?;
    Ok(Arc::new(config))
}

/// Wraps `conn` in TLS towards `host`, verifying per `config`.
pub(super) async fn connect(
    config: Arc<ClientConfig>,
    host: &str,
    conn: crate::BoxConn,
) -> Result<crate::BoxConn> {
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| Error::Config(format!("`{host}` is not a valid TLS server name")))?;
    let stream = futures_rustls::TlsConnector::from(config)
        .connect(name, conn)
        .await
        .map_err(|err| {
            let text = err.to_string();
            if text.contains("certificate") || text.contains("Certificate") {
                Error::Connection(format!("TLS certificate of {host} not trusted ({text})"))
            } else {
                Error::io(format!("TLS handshake with {host} failed"), err)
            }
        })?;
    Ok(Box::new(stream))
}
