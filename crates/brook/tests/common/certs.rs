//! Certificates for TLS tests: a throwaway CA, a server certificate for 127.0.0.1 and
//! localhost, and client certificates, written as PEM files into a temporary directory.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair};

pub struct Pki {
    dir: tempfile::TempDir,
    ca: CertifiedIssuer<'static, KeyPair>,
    /// The CA certificate, PEM.
    pub ca_file: PathBuf,
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, format!("{name} CA"));
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA");
        let ca_file = dir.path().join(format!("{name}-ca.pem"));
        std::fs::write(&ca_file, ca.pem()).expect("write CA");
        Pki { dir, ca, ca_file }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A certificate for `cn` signed by the CA, valid for 127.0.0.1 and localhost: the
    /// certificate file and the key file.
    pub fn issue(&self, cn: &str) -> (PathBuf, PathBuf) {
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("params");
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::OrganizationName, "Brook tests");
        params.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.ca).expect("sign");
        let (cert_file, key_file) =
            (self.dir.path().join(format!("{cn}.crt")), self.dir.path().join(format!("{cn}.key")));
        std::fs::write(&cert_file, cert.pem()).expect("write certificate");
        std::fs::write(&key_file, key.serialize_pem()).expect("write key");
        (cert_file, key_file)
    }

    /// A server keystore as Kafka's PEM keystore file holds it: the key, then the chain.
    pub fn server_pem(&self, cn: &str) -> PathBuf {
        let (cert, key) = self.issue(cn);
        let file = self.dir.path().join(format!("{cn}-keystore.pem"));
        let pem = std::fs::read_to_string(key).expect("key") + &std::fs::read_to_string(cert).expect("cert");
        std::fs::write(&file, pem).expect("write keystore");
        file
    }
}
