//! Who is at the other end of a connection, and which listener it came through.

use std::sync::Arc;

use brook_security::sasl::SaslSettings;
use brook_security::tls::ReloadingTls;

use crate::authentication::AuthFailures;
use crate::config::SecurityProtocol;

/// A listener as connections see it.
pub struct ListenerContext {
    pub name: Arc<str>,
    pub protocol: SecurityProtocol,
    /// The TLS configuration of an SSL or SASL_SSL listener.
    pub tls: Option<ReloadingTls>,
    /// The SASL settings of a SASL_PLAINTEXT or SASL_SSL listener.
    pub sasl: Option<Arc<SaslSettings>>,
    /// Failed authentications on this listener, by source.
    pub(crate) failures: AuthFailures,
}

/// A client connection's identity.
#[derive(Debug, Clone)]
pub struct Session {
    /// The peer's address as Kafka shows it ("/127.0.0.1").
    pub client_host: String,
    /// The listener the client connected to: answers name brokers by their endpoint on it.
    pub listener: Arc<str>,
    /// The principal's name (Kafka's `User:<name>`): the SASL user, else a TLS client's mapped
    /// certificate subject, else `ANONYMOUS`.
    pub principal: String,
    /// The peer's port.
    pub client_port: u16,
    /// The listener's security protocol.
    pub protocol: SecurityProtocol,
    /// Whether the principal logged in with a delegation token (which may not manage tokens).
    pub token_authenticated: bool,
    /// The client software's name and version, as its first ApiVersions (v3+) said.
    pub software: Arc<std::sync::OnceLock<(String, String)>>,
}
