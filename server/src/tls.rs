//! TLS on the server's own listener (`TLS_CERT`, `TLS_KEY`): rustls, offering HTTP/2 and
//! HTTP/1.1 by ALPN. Over HTTP/2 a browser sends every request and stream to an origin
//! over one connection, so its tabs never run out of the six HTTP/1.1 connections a
//! browser allows (docs/transports.md, *Many tabs, six connections*). Behind a proxy that
//! terminates TLS (the compose demo's nginx) this stays off.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// The protocols offered, in the server's order of preference.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Reads the certificate chain and key (PEM) and makes the acceptor: an error names the
/// file and what is wrong with it, at start, rather than a handshake failing later.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|err| format!("TLS_CERT {}: {err}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("TLS_CERT {}: no certificate in it", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|err| format!("TLS_KEY {}: {err}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("TLS: {err}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|err| format!("TLS_CERT and TLS_KEY do not make a server identity: {err}"))?;
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(TlsAcceptor::from(Arc::new(config)))
}
