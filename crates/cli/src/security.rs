//! The tools on secured listeners. A `--command-config` file may use Kafka's Java client names
//! (`security.protocol`, `sasl.mechanism`, `sasl.jaas.config`, `ssl.truststore.*`,
//! `ssl.keystore.*`) or librdkafka's; `for_librdkafka` turns the Java ones into librdkafka's,
//! and `Security` makes the tools' own frames (`wire`) connect the same way: TLS with rustls,
//! then SASL PLAIN or SCRAM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

use brook_security::sasl::ClientLogin;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::ToolError;

/// Kafka's Java client settings as librdkafka names them; the others pass through.
pub(crate) fn for_librdkafka(settings: Vec<(String, String)>) -> Result<Vec<(String, String)>, ToolError> {
    let get = |key: &str| settings.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let mut out = Vec::new();
    for (key, value) in &settings {
        match key.as_str() {
            "sasl.jaas.config" => {
                let option = |name: &str| {
                    regex_lite::Regex::new(&format!(r#"{name}\s*=\s*"([^"]*)""#))
                        .ok()
                        .and_then(|r| r.captures(value).map(|c| c[1].to_string()))
                };
                let (Some(user), Some(password)) = (option("username"), option("password")) else {
                    return Err(ToolError::usage("sasl.jaas.config: expected username=\"...\" password=\"...\""));
                };
                out.push(("sasl.username".into(), user));
                out.push(("sasl.password".into(), password));
            }
            "ssl.truststore.location" => {
                if !is_pem(get("ssl.truststore.type").as_deref(), value) {
                    return Err(ToolError::usage(
                        "ssl.truststore.location: Brook's tools read PEM truststores (ssl.truststore.type=PEM)",
                    ));
                }
                out.push(("ssl.ca.location".into(), value.clone()));
            }
            "ssl.keystore.location" if is_pem(get("ssl.keystore.type").as_deref(), value) => {
                // A PEM keystore holds the key and the chain: librdkafka reads each from it.
                out.push(("ssl.certificate.location".into(), value.clone()));
                out.push(("ssl.key.location".into(), value.clone()));
            }
            "ssl.keystore.password"
                if is_pem(get("ssl.keystore.type").as_deref(), &get("ssl.keystore.location").unwrap_or_default()) => {}
            "ssl.truststore.type" | "ssl.truststore.password" | "ssl.keystore.type" => {}
            "ssl.endpoint.identification.algorithm" if value.is_empty() => out.push((key.clone(), "none".into())),
            _ => out.push((key.clone(), value.clone())),
        }
    }
    Ok(out)
}

/// Whether a store is PEM: as its type says, else by its first bytes.
fn is_pem(store_type: Option<&str>, path: &str) -> bool {
    match store_type {
        Some(t) => t.eq_ignore_ascii_case("PEM"),
        None => std::fs::read(path).is_ok_and(|data| data.trim_ascii_start().starts_with(b"-----BEGIN")),
    }
}

/// A byte stream to a broker: plain TCP or TLS.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// How the tools' frames reach a broker: TLS settings and a SASL login, from the same client
/// settings librdkafka gets.
#[derive(Clone, Default)]
pub(crate) struct Security {
    tls: Option<Arc<rustls::ClientConfig>>,
    pub(crate) login: Option<ClientLogin>,
}

impl Security {
    /// From librdkafka-named settings (after `for_librdkafka`).
    pub(crate) fn from_settings(settings: &[(String, String)]) -> Result<Security, ToolError> {
        let get = |key: &str| settings.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let protocol = get("security.protocol").unwrap_or_else(|| "plaintext".into()).to_ascii_lowercase();
        let (tls, sasl) = match protocol.as_str() {
            "plaintext" => (false, false),
            "ssl" => (true, false),
            "sasl_plaintext" => (false, true),
            "sasl_ssl" => (true, true),
            other => return Err(ToolError::usage(format!("security.protocol: unknown protocol {other}"))),
        };
        let tls = match tls {
            true => Some(Arc::new(tls_config(
                get("ssl.ca.location"),
                get("ssl.certificate.location"),
                get("ssl.key.location"),
            )?)),
            false => None,
        };
        let login = match sasl {
            false => None,
            true => {
                let mechanism =
                    get("sasl.mechanism").or_else(|| get("sasl.mechanisms")).unwrap_or_else(|| "GSSAPI".into());
                let (user, password) =
                    (get("sasl.username").unwrap_or_default(), get("sasl.password").unwrap_or_default());
                Some(
                    ClientLogin::new(&mechanism, user, password)
                        .map_err(|e| ToolError::usage(format!("sasl.mechanism: {e}")))?,
                )
            }
        };
        Ok(Security { tls, login })
    }

    /// A connection to `addr`, encrypted if the settings say so (not yet authenticated).
    pub(crate) fn connect(&self, addr: &str, socket: TcpStream) -> Result<Stream, ToolError> {
        let Some(config) = &self.tls else { return Ok(Stream::Plain(socket)) };
        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h).trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_string()).map_err(|e| ToolError::failed(format!("{host}: {e}")))?;
        let connection =
            rustls::ClientConnection::new(config.clone(), name).map_err(|e| ToolError::failed(e.to_string()))?;
        Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(connection, socket))))
    }
}

fn tls_config(
    ca: Option<String>,
    certificate: Option<String>,
    key: Option<String>,
) -> Result<rustls::ClientConfig, ToolError> {
    let failed = |what: &str, e: &dyn std::fmt::Display| ToolError::failed(format!("{what}: {e}"));
    let mut roots = rustls::RootCertStore::empty();
    let ca = ca.ok_or_else(|| {
        ToolError::usage("TLS needs the CA's certificates: ssl.ca.location (or ssl.truststore.location)")
    })?;
    for certificate in CertificateDer::pem_file_iter(Path::new(&ca)).map_err(|e| failed(&ca, &e))? {
        roots.add(certificate.map_err(|e| failed(&ca, &e))?).map_err(|e| failed(&ca, &e))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| failed("TLS", &e))?
        .with_root_certificates(roots);
    match (certificate, key) {
        (Some(certificate), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(Path::new(&certificate))
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| failed(&certificate, &e))?;
            let key = PrivateKeyDer::from_pem_file(Path::new(&key)).map_err(|e| failed(&key, &e))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| failed("ssl.certificate.location", &e))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_client_settings_for_librdkafka() {
        let java = [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            (
                "sasl.jaas.config",
                r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="s3cret";"#,
            ),
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.location", "/etc/ca.pem"),
            ("ssl.endpoint.identification.algorithm", ""),
        ];
        let settings =
            for_librdkafka(java.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()).expect("valid");
        let get = |key: &str| settings.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        assert_eq!(get("sasl.username"), Some("alice"));
        assert_eq!(get("sasl.password"), Some("s3cret"));
        assert_eq!(get("ssl.ca.location"), Some("/etc/ca.pem"));
        assert_eq!(get("ssl.endpoint.identification.algorithm"), Some("none"));
        assert_eq!(get("ssl.truststore.type"), None);
        let pkcs12 = vec![
            ("ssl.truststore.location".to_string(), "/x.p12".to_string()),
            ("ssl.truststore.type".into(), "PKCS12".into()),
        ];
        assert!(for_librdkafka(pkcs12).is_err());
    }
}
