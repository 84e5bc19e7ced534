//! Keys and certificates as Kafka's `ssl.keystore.*` and `ssl.truststore.*` name them: PEM
//! files or inline PEM (KIP-651), and PKCS12 files. JKS, Kafka's historical default, is
//! refused with the command that converts it.

use std::path::{Path, PathBuf};

use p12_keystore::{KeyStore, KeyStoreEntry, Pkcs12ImportPolicy};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::TlsError;

/// The first four bytes of a Java KeyStore file.
const JKS_MAGIC: [u8; 4] = [0xFE, 0xED, 0xFE, 0xED];

/// `ssl.keystore.type` / `ssl.truststore.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreType {
    Pem,
    Pkcs12,
    Jks,
}

impl StoreType {
    pub fn parse(value: &str) -> Option<StoreType> {
        match value.to_ascii_uppercase().as_str() {
            "PEM" => Some(StoreType::Pem),
            "PKCS12" | "P12" => Some(StoreType::Pkcs12),
            "JKS" => Some(StoreType::Jks),
            _ => None,
        }
    }
}

/// A secret from the configuration, kept out of logs and `Debug` output.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[hidden]")
    }
}

/// Where a keystore or truststore comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSource {
    /// `ssl.*store.location`, of a given or detected type, with its password.
    File { path: PathBuf, store_type: Option<StoreType>, password: Option<Password> },
    /// `ssl.keystore.key` + `ssl.keystore.certificate.chain`, or `ssl.truststore.certificates`.
    Inline { key: Option<Password>, certificates: String },
}

/// A server's certificate chain and its private key.
#[derive(Debug)]
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

/// Reads the broker's key and certificate chain. `key_password` is `ssl.key.password`.
pub fn load_identity(source: &StoreSource, key_password: Option<&Password>) -> Result<Identity, TlsError> {
    let (chain, key) = match source {
        StoreSource::Inline { key, certificates } => {
            let key = key
                .as_ref()
                .ok_or_else(|| TlsError::new("ssl.keystore.key", "is required with ssl.keystore.certificate.chain"))?;
            (
                pem_certificates("ssl.keystore.certificate.chain", certificates.as_bytes())?,
                pem_key("ssl.keystore.key", key.0.as_bytes(), key_password)?,
            )
        }
        StoreSource::File { path, store_type, password } => {
            let data = read("ssl.keystore.location", path)?;
            match detect("ssl.keystore.location", path, &data, *store_type)? {
                StoreType::Pem => {
                    let what = "ssl.keystore.location";
                    (pem_certificates(what, &data)?, pem_key(what, &data, key_password)?)
                }
                _ => pkcs12_identity(path, &data, password.as_ref(), key_password)?,
            }
        }
    };
    if chain.is_empty() {
        return Err(TlsError::new("ssl.keystore.location", "holds no certificate"));
    }
    Ok(Identity { chain, key })
}

/// Reads the certificates that client certificates must chain to.
pub fn load_trust(source: &StoreSource) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = match source {
        StoreSource::Inline { certificates, .. } => {
            pem_certificates("ssl.truststore.certificates", certificates.as_bytes())?
        }
        StoreSource::File { path, store_type, password } => {
            let data = read("ssl.truststore.location", path)?;
            match detect("ssl.truststore.location", path, &data, *store_type)? {
                StoreType::Pem => pem_certificates("ssl.truststore.location", &data)?,
                _ => {
                    let store = pkcs12(path, &data, password.as_ref())?;
                    store
                        .entries()
                        .flat_map(|(_, entry)| match entry {
                            KeyStoreEntry::Certificate(c) => vec![c.as_der().to_vec()],
                            KeyStoreEntry::PrivateKeyChain(chain) => {
                                chain.certs().iter().map(|c| c.as_der().to_vec()).collect()
                            }
                            KeyStoreEntry::Secret(_) => vec![],
                        })
                        .map(CertificateDer::from)
                        .collect()
                }
            }
        }
    };
    if certificates.is_empty() {
        return Err(TlsError::new("ssl.truststore.location", "holds no certificate"));
    }
    Ok(certificates)
}

fn read(key: &str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::new(key, &format!("cannot read {}: {e}", path.display())))
}

/// The store's type: as configured, else guessed from its first bytes. JKS is refused.
fn detect(key: &str, path: &Path, data: &[u8], configured: Option<StoreType>) -> Result<StoreType, TlsError> {
    let jks = data.starts_with(&JKS_MAGIC);
    let found = match configured {
        _ if jks => StoreType::Jks,
        Some(t) => t,
        None if data.trim_ascii_start().starts_with(b"-----BEGIN") => StoreType::Pem,
        None => StoreType::Pkcs12,
    };
    if found == StoreType::Jks {
        let p = path.display();
        return Err(TlsError::new(
            key,
            &format!(
                "{p} is a JKS keystore, which Brook does not read; convert it to PKCS12 with \
                 `keytool -importkeystore -srckeystore {p} -destkeystore {p}.p12 -deststoretype PKCS12` \
                 and set the type to PKCS12 (or use PEM)"
            ),
        ));
    }
    Ok(found)
}

fn pkcs12(path: &Path, data: &[u8], password: Option<&Password>) -> Result<KeyStore, TlsError> {
    let password = password.map_or("", |p| p.0.as_str());
    KeyStore::from_pkcs12(data, password, Pkcs12ImportPolicy::Relaxed).map_err(|e| {
        TlsError::new(
            "ssl.keystore.location",
            &format!("cannot read {} as PKCS12 (wrong password?): {e}", path.display()),
        )
    })
}

fn pkcs12_identity(
    path: &Path,
    data: &[u8],
    password: Option<&Password>,
    key_password: Option<&Password>,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    // Java's keytool encrypts the key with the store password unless told otherwise.
    let store = match pkcs12(path, data, password) {
        Err(e) if key_password.is_some() && key_password != password => {
            pkcs12(path, data, key_password).map_err(|_| e)?
        }
        other => other?,
    };
    let (_, chain) = store
        .private_key_chain()
        .ok_or_else(|| TlsError::new("ssl.keystore.location", &format!("{} holds no private key", path.display())))?;
    let key = PrivateKeyDer::try_from(chain.key().as_der().to_vec())
        .map_err(|e| TlsError::new("ssl.keystore.location", &format!("unusable private key: {e}")))?;
    let certs = chain.certs().iter().map(|c| CertificateDer::from(c.as_der().to_vec())).collect();
    Ok((certs, key))
}

fn pem_certificates(key: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::new(key, &format!("bad PEM certificate: {e}")))
}

fn pem_key(key: &str, pem: &[u8], key_password: Option<&Password>) -> Result<PrivateKeyDer<'static>, TlsError> {
    if pem.windows(b"ENCRYPTED PRIVATE KEY".len()).any(|w| w == b"ENCRYPTED PRIVATE KEY") {
        let hint = if key_password.is_some() { " (ssl.key.password is set)" } else { "" };
        return Err(TlsError::new(
            key,
            &format!(
                "holds an encrypted private key{hint}, which Brook does not decrypt; store it unencrypted \
                 (`openssl pkcs8 -topk8 -nocrypt`) with file permissions guarding it, or use PKCS12"
            ),
        ));
    }
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| TlsError::new(key, &format!("no usable PEM private key: {e}")))
}
