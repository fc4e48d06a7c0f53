//! A self-signed certificate made at start (rcgen) and a rustls server config (ring provider).

use std::sync::Arc;

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

pub const SUBJECT_ALT_NAMES: [&str; 5] = [
    "gitlab.com",
    "*.gitlab.com",
    crate::routing::SELF_MANAGED_HOST,
    "localhost",
    "127.0.0.1",
];

pub struct Tls {
    pub acceptor: TlsAcceptor,
    pub cert_pem: String,
}

pub fn self_signed() -> Result<Tls, String> {
    let names: Vec<String> = SUBJECT_ALT_NAMES.iter().map(|s| s.to_string()).collect();
    let rcgen::CertifiedKey { cert, key_pair } = rcgen::generate_simple_self_signed(names)
        .map_err(|e| format!("cannot make a certificate: {e}"))?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .map_err(|e| format!("TLS certificate: {e}"))?;
    // HTTP/1.1 only: the server speaks no HTTP/2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        cert_pem: cert.pem(),
    })
}
