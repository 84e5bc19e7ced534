//! Brook's security building blocks, free of networking and storage: TLS settings and
//! keystores (`tls`, `keystore`), who a client is (`principal`, `sasl`, `scram`, delegation `token`s), and what it
//! may do (`acl`) and how much (`quota`). The server crate wires them to its listeners and requests.

pub mod acl;
pub mod keystore;
pub mod principal;
pub mod quota;
pub mod sasl;
pub mod scram;
pub mod tls;
pub mod token;

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

/// Compares without returning early on the first difference, so timing does not reveal how
/// much of a secret was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A secret token of 32 random bytes, URL-safe base64 (the web console's sessions and CSRF
/// tokens).
pub fn random_token() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(scram::random_bytes(32))
}
