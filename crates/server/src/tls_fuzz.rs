//! Fuzzing entry point for the TLS-to-protocol boundary (also replayed over the committed
//! corpus by the test suite): what a client sends on a TLS listener, through the broker's own
//! TLS configuration, into Kafka's framing and request decoding; and a client certificate's
//! subject into principal mapping. Nothing may panic.

use std::io::{Read, Write};
use std::sync::Arc;

use brook_security::principal::{self, PrincipalMapper};
use brook_security::tls::TlsSettings;
use bytes::BytesMut;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, ClientConnection, Connection, RootCertStore, ServerConfig, ServerConnection};

use crate::codec;

/// The largest frame the fuzzed connection accepts.
const MAX_FRAME: u32 = 1 << 20;

/// A broker's TLS configuration and a client that trusts it, made once per fuzzing run.
pub struct Fixture {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    mapper: PrincipalMapper,
}

impl Fixture {
    /// From the broker's PEM key and certificate chain (for `localhost`) and the CA's PEM.
    pub fn new(key_pem: &str, chain_pem: &str, ca_pem: &str) -> Fixture {
        let settings = TlsSettings::from_keys(|key| match key {
            "ssl.keystore.key" => Some(key_pem.to_string()),
            "ssl.keystore.certificate.chain" => Some(chain_pem.to_string()),
            _ => None,
        })
        .expect("fixture TLS settings");
        let server = Arc::new(settings.server_config().expect("fixture server config"));
        let mut roots = RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(ca.expect("fixture CA")).expect("fixture CA");
        }
        let client = Arc::new(ClientConfig::builder().with_root_certificates(roots).with_no_client_auth());
        let mapper = PrincipalMapper::parse("RULE:^CN=([^,]+),O=(.*)$/$2:$1/U,RULE:^CN=(.*)$/$1/L,DEFAULT")
            .expect("fixture rules");
        Fixture { server, client, mapper }
    }

    /// The first byte picks what the rest is: 0, raw bytes a client sends before or instead
    /// of a handshake; 1, a client's plaintext after a completed handshake, in records split
    /// at 0xFF; 2, a client certificate (DER) whose subject is mapped to a principal. Returns
    /// how many Kafka frames reached the decoder.
    pub fn run(&self, data: &[u8]) -> usize {
        let Some((mode, rest)) = data.split_first() else { return 0 };
        match mode % 3 {
            0 => {
                let Ok(server) = ServerConnection::new(self.server.clone()) else { return 0 };
                let mut server = Connection::from(server);
                let mut input = rest;
                let (mut plaintext, mut frames) = (BytesMut::new(), 0);
                while !input.is_empty() {
                    if !matches!(server.read_tls(&mut input), Ok(n) if n > 0) || server.process_new_packets().is_err() {
                        break;
                    }
                    frames += decode_what_arrived(&mut server, &mut plaintext);
                }
                frames
            }
            1 => self.after_handshake(rest),
            _ => {
                if let Some(subject) = principal::subject_name(rest) {
                    let _ = self.mapper.name(&subject);
                }
                0
            }
        }
    }

    fn after_handshake(&self, records: &[u8]) -> usize {
        let name = ServerName::try_from("localhost").expect("server name");
        let (Ok(client), Ok(server)) =
            (ClientConnection::new(self.client.clone(), name), ServerConnection::new(self.server.clone()))
        else {
            return 0;
        };
        let (mut client, mut server) = (Connection::from(client), Connection::from(server));
        // A handshake takes a few flights each way.
        for _ in 0..8 {
            if !client.is_handshaking() && !server.is_handshaking() {
                break;
            }
            let sent = transfer(&mut client, &mut server);
            let answered = transfer(&mut server, &mut client);
            if !sent && !answered {
                return 0;
            }
        }
        assert!(!server.is_handshaking(), "the in-memory handshake completes");
        let (mut plaintext, mut frames) = (BytesMut::new(), 0);
        for record in records.split(|b| *b == 0xFF) {
            if client.writer().write_all(record).is_err() || !transfer(&mut client, &mut server) {
                break;
            }
            frames += decode_what_arrived(&mut server, &mut plaintext);
        }
        frames
    }
}

/// Reads the plaintext the server decrypted and takes Kafka frames from it, decoding each;
/// how many it took.
fn decode_what_arrived(server: &mut Connection, plaintext: &mut BytesMut) -> usize {
    let mut chunk = [0u8; 4096];
    while let Ok(n) = server.reader().read(&mut chunk) {
        if n == 0 {
            break;
        }
        plaintext.extend_from_slice(&chunk[..n]);
    }
    let mut frames = 0;
    while let Ok(Some(frame)) = codec::take_frame(plaintext, MAX_FRAME) {
        let _ = codec::decode_request(frame);
        frames += 1;
    }
    frames
}

/// Moves what one side wrote to the other; false when nothing moved or the receiver failed.
fn transfer(from: &mut Connection, to: &mut Connection) -> bool {
    let mut wire = Vec::new();
    while from.wants_write() {
        if from.write_tls(&mut wire).is_err() {
            return false;
        }
    }
    let mut input = wire.as_slice();
    let moved = !input.is_empty();
    while !input.is_empty() {
        if !matches!(to.read_tls(&mut input), Ok(n) if n > 0) || to.process_new_packets().is_err() {
            return false;
        }
    }
    moved
}
