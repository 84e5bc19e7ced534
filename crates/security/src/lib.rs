//! Brook's security building blocks, free of networking and storage: TLS settings and
//! keystores (`tls`, `keystore`), and who a client is (`principal`). The server crate
//! wires them to its listeners and requests.

pub mod keystore;
pub mod principal;
pub mod sasl;
pub mod tls;

/// A TLS setting that cannot be used, naming its configuration key.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct TlsError {
    pub key: String,
    pub reason: String,
}

impl TlsError {
    pub fn new(key: &str, reason: &str) -> TlsError {
        TlsError { key: key.to_string(), reason: reason.to_string() }
    }
}
