//! A TLS listener's settings, from Kafka's `ssl.*` keys, and the rustls server configuration
//! they make (and the client one brokers reach each other with), rebuilt when the key or trust
//! files change on disk.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};
use tracing::{info, warn};

use crate::TlsError;
use crate::keystore::{self, Password, StoreSource, StoreType};
use crate::principal::PrincipalMapper;

/// `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    #[default]
    None,
    Requested,
    Required,
}

/// `ssl.*` keys Brook reads; [`TlsSettings::from_keys`] is given each one's value.
pub const KEYS: &[&str] = &[
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.password",
    "ssl.key.password",
    "ssl.keystore.key",
    "ssl.keystore.certificate.chain",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.password",
    "ssl.truststore.certificates",
    "ssl.client.auth",
    "ssl.enabled.protocols",
    "ssl.principal.mapping.rules",
];

/// `ssl.*` keys a Kafka configuration may carry that rustls has no use for: accepted, warned.
pub const ACCEPTED_UNUSED: &[&str] = &[
    "ssl.protocol",
    "ssl.provider",
    "ssl.cipher.suites",
    "ssl.keymanager.algorithm",
    "ssl.trustmanager.algorithm",
    "ssl.endpoint.identification.algorithm",
    "ssl.secure.random.implementation",
    "ssl.engine.factory.class",
    "ssl.allow.dn.changes",
    "ssl.allow.san.changes",
];

/// One TLS listener's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsSettings {
    pub keystore: StoreSource,
    pub key_password: Option<Password>,
    pub truststore: Option<StoreSource>,
    pub client_auth: ClientAuth,
    /// `ssl.enabled.protocols` (Kafka: TLSv1.2,TLSv1.3).
    pub tls12: bool,
    pub tls13: bool,
    pub principal_mapper: PrincipalMapper,
}

impl TlsSettings {
    /// Reads the settings; `get` answers a key of [`KEYS`] (after any listener prefix).
    pub fn from_keys(get: impl Fn(&str) -> Option<String>) -> Result<TlsSettings, TlsError> {
        let store_type = |key: &str| -> Result<Option<StoreType>, TlsError> {
            get(key)
                .map(|v| {
                    StoreType::parse(&v)
                        .ok_or_else(|| TlsError::new(key, &format!("unknown store type {v:?} (PEM, PKCS12)")))
                })
                .transpose()
        };
        let password = |key: &str| get(key).map(Password);
        let keystore = match (get("ssl.keystore.location"), get("ssl.keystore.certificate.chain")) {
            (Some(_), Some(_)) => {
                return Err(TlsError::new(
                    "ssl.keystore.location",
                    "set either it or ssl.keystore.certificate.chain, not both",
                ));
            }
            (Some(path), None) => StoreSource::File {
                path: PathBuf::from(path),
                store_type: store_type("ssl.keystore.type")?,
                password: password("ssl.keystore.password"),
            },
            (None, Some(chain)) => StoreSource::Inline { key: password("ssl.keystore.key"), certificates: chain },
            (None, None) => {
                return Err(TlsError::new(
                    "ssl.keystore.location",
                    "a TLS listener needs a keystore (ssl.keystore.location, or ssl.keystore.key with ssl.keystore.certificate.chain)",
                ));
            }
        };
        let truststore = match (get("ssl.truststore.location"), get("ssl.truststore.certificates")) {
            (Some(path), _) => Some(StoreSource::File {
                path: PathBuf::from(path),
                store_type: store_type("ssl.truststore.type")?,
                password: password("ssl.truststore.password"),
            }),
            (None, Some(certificates)) => Some(StoreSource::Inline { key: None, certificates }),
            (None, None) => None,
        };
        let client_auth = match get("ssl.client.auth").as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("none") => ClientAuth::None,
            Some("requested") => ClientAuth::Requested,
            Some("required") => ClientAuth::Required,
            Some(other) => {
                return Err(TlsError::new(
                    "ssl.client.auth",
                    &format!("{other:?} is not one of required, requested, none"),
                ));
            }
        };
        if client_auth != ClientAuth::None && truststore.is_none() {
            return Err(TlsError::new(
                "ssl.client.auth",
                "client certificates need a truststore (ssl.truststore.location or ssl.truststore.certificates)",
            ));
        }
        let protocols = get("ssl.enabled.protocols").unwrap_or_else(|| "TLSv1.2,TLSv1.3".into());
        let protocols: Vec<&str> = protocols.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
        let (tls12, tls13) = (protocols.contains(&"TLSv1.2"), protocols.contains(&"TLSv1.3"));
        if !tls12 && !tls13 {
            return Err(TlsError::new(
                "ssl.enabled.protocols",
                "Brook speaks TLSv1.2 and TLSv1.3; enable at least one",
            ));
        }
        let principal_mapper = match get("ssl.principal.mapping.rules") {
            Some(rules) => {
                PrincipalMapper::parse(&rules).map_err(|e| TlsError::new("ssl.principal.mapping.rules", &e))?
            }
            None => PrincipalMapper::default(),
        };
        Ok(TlsSettings {
            keystore,
            key_password: password("ssl.key.password"),
            truststore,
            client_auth,
            tls12,
            tls13,
            principal_mapper,
        })
    }

    /// The files the settings read, to notice when they change.
    fn files(&self) -> Vec<PathBuf> {
        [Some(&self.keystore), self.truststore.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|s| match s {
                StoreSource::File { path, .. } => Some(path.clone()),
                StoreSource::Inline { .. } => None,
            })
            .collect()
    }

    /// Reads the keys and certificates and builds a server configuration.
    pub fn server_config(&self) -> Result<ServerConfig, TlsError> {
        let provider = Arc::new(provider());
        let identity = keystore::load_identity(&self.keystore, self.key_password.as_ref())?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&self.versions())
            .map_err(|e| TlsError::new("ssl.enabled.protocols", &e.to_string()))?;
        let builder = match (&self.truststore, self.client_auth) {
            (Some(trust), auth) if auth != ClientAuth::None => {
                builder.with_client_cert_verifier(client_verifier(trust, auth, provider)?)
            }
            _ => builder.with_no_client_auth(),
        };
        let mut config = builder.with_single_cert(identity.chain, identity.key).map_err(|e| {
            TlsError::new("ssl.keystore.location", &format!("the key does not fit the certificate: {e}"))
        })?;
        config.ignore_client_order = true;
        Ok(config)
    }

    /// A client configuration for reaching another broker's listener with these settings: its
    /// certificate checked against the truststore (and its name, as Kafka's default
    /// `ssl.endpoint.identification.algorithm=https`), this keystore's certificate offered
    /// when the other side asks for one.
    pub fn client_config(&self) -> Result<ClientConfig, TlsError> {
        let key = "ssl.truststore.location";
        let trust = self.truststore.as_ref().ok_or_else(|| {
            TlsError::new(key, "a broker connecting to another one over TLS needs the CA that signed its certificate")
        })?;
        let mut roots = RootCertStore::empty();
        for certificate in keystore::load_trust(trust)? {
            roots.add(certificate).map_err(|e| TlsError::new(key, &format!("unusable CA certificate: {e}")))?;
        }
        let identity = keystore::load_identity(&self.keystore, self.key_password.as_ref())?;
        ClientConfig::builder_with_provider(Arc::new(provider()))
            .with_protocol_versions(&self.versions())
            .map_err(|e| TlsError::new("ssl.enabled.protocols", &e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(identity.chain, identity.key)
            .map_err(|e| TlsError::new("ssl.keystore.location", &format!("the key does not fit the certificate: {e}")))
    }

    fn versions(&self) -> Vec<&'static SupportedProtocolVersion> {
        let mut versions: Vec<&'static SupportedProtocolVersion> = Vec::new();
        if self.tls13 {
            versions.push(&rustls::version::TLS13);
        }
        if self.tls12 {
            versions.push(&rustls::version::TLS12);
        }
        versions
    }
}

/// ring's suites, AES-128-GCM first (fewer rounds per block than AES-256, and no weaker in
/// practice), and the server's preference wins: OpenSSL and Java clients list AES-256 first.
fn provider() -> CryptoProvider {
    let mut provider = rustls::crypto::ring::default_provider();
    let rank = |s: &rustls::SupportedCipherSuite| {
        let name = format!("{:?}", s.suite());
        (!name.contains("AES_128"), !name.contains("AES_256"))
    };
    provider.cipher_suites.sort_by_key(|s| (s.version().version != rustls::ProtocolVersion::TLSv1_3, rank(s)));
    provider
}

fn client_verifier(
    trust: &StoreSource,
    auth: ClientAuth,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let mut roots = RootCertStore::empty();
    for certificate in keystore::load_trust(trust)? {
        roots
            .add(certificate)
            .map_err(|e| TlsError::new("ssl.truststore.location", &format!("unusable CA certificate: {e}")))?;
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    let builder = if auth == ClientAuth::Requested { builder.allow_unauthenticated() } else { builder };
    builder.build().map_err(|e| TlsError::new("ssl.truststore.location", &e.to_string()))
}

/// A file's modification time and length, if it exists.
type Stamp = Option<(SystemTime, u64)>;

/// How often, at most, a listener looks at its files' modification times.
const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// A rustls configuration made from TLS settings, rebuilt when their files change. A change
/// that does not load (a half-written file, a key that does not match) keeps the previous one.
pub struct Reloading<T> {
    settings: TlsSettings,
    build: fn(&TlsSettings) -> Result<T, TlsError>,
    current: RwLock<Arc<T>>,
    /// When the files were last looked at, and their (modified, length) then.
    checked: Mutex<(Instant, Vec<Stamp>)>,
}

/// A listener's server configuration.
pub type ReloadingTls = Reloading<ServerConfig>;

impl Reloading<ServerConfig> {
    pub fn new(settings: TlsSettings) -> Result<ReloadingTls, TlsError> {
        Reloading::with(settings, TlsSettings::server_config)
    }
}

impl Reloading<ClientConfig> {
    /// The client side of a listener's settings, for connecting to other brokers' listeners of
    /// the same kind.
    pub fn client(settings: TlsSettings) -> Result<Reloading<ClientConfig>, TlsError> {
        Reloading::with(settings, TlsSettings::client_config)
    }
}

impl<T> Reloading<T> {
    fn with(settings: TlsSettings, build: fn(&TlsSettings) -> Result<T, TlsError>) -> Result<Reloading<T>, TlsError> {
        let stamps = stamps(&settings.files());
        let config = Arc::new(build(&settings)?);
        Ok(Reloading { settings, build, current: RwLock::new(config), checked: Mutex::new((Instant::now(), stamps)) })
    }

    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    /// The configuration for a new connection, reloading first if the files changed.
    pub fn config(&self) -> Arc<T> {
        self.reload_if_changed();
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn reload_if_changed(&self) {
        let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        if checked.0.elapsed() < RELOAD_CHECK {
            return;
        }
        let now = stamps(&self.settings.files());
        checked.0 = Instant::now();
        if now == checked.1 {
            return;
        }
        checked.1 = now;
        match (self.build)(&self.settings) {
            Ok(config) => {
                info!("TLS key or trust files changed; new connections use them");
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
            }
            Err(e) => warn!(error = %e, "TLS files changed but do not load; keeping the previous ones"),
        }
    }
}

fn stamps(files: &[PathBuf]) -> Vec<Stamp> {
    files.iter().map(|f| std::fs::metadata(f).ok().and_then(|m| Some((m.modified().ok()?, m.len())))).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn settings(keys: &[(&str, &str)]) -> Result<TlsSettings, TlsError> {
        let map: BTreeMap<String, String> = keys.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        TlsSettings::from_keys(|k| map.get(k).cloned())
    }

    /// KIP-651's inline PEM: the key and chain in the configuration itself, and inline
    /// trusted certificates for client authentication; a key that is not the certificate's
    /// and an encrypted key are refused with what to do.
    #[test]
    fn inline_pem_keystore_and_truststore() {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let (key_pem, cert_pem) = (key.serialize_pem(), cert.pem());
        let inline = settings(&[
            ("ssl.keystore.key", &key_pem),
            ("ssl.keystore.certificate.chain", &cert_pem),
            ("ssl.truststore.certificates", &cert_pem),
            ("ssl.client.auth", "requested"),
        ])
        .expect("settings");
        assert_eq!(inline.client_auth, ClientAuth::Requested);
        inline.server_config().expect("a server configuration from inline PEM");
        assert_eq!(provider().cipher_suites[0].suite(), rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);

        let other = rcgen::KeyPair::generate().expect("key").serialize_pem();
        let mismatched =
            settings(&[("ssl.keystore.key", &other), ("ssl.keystore.certificate.chain", &cert_pem)]).expect("settings");
        let err = mismatched.server_config().expect_err("a key that is not the certificate's");
        assert!(err.to_string().contains("does not fit"), "{err}");

        let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let err = settings(&[("ssl.keystore.key", encrypted), ("ssl.keystore.certificate.chain", &cert_pem)])
            .expect("settings")
            .server_config()
            .expect_err("encrypted");
        assert!(err.to_string().contains("-nocrypt"), "{err}");
        assert!(settings(&[("ssl.keystore.certificate.chain", &cert_pem)]).expect("settings").server_config().is_err());
    }
}
