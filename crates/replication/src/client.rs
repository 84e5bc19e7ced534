//! A minimal Kafka protocol connection from one broker to another: one request at a time,
//! typed by kafka-protocol, over TLS and SASL when the inter-broker listener has them.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use brook_security::sasl::ClientLogin;
use brook_security::tls::Reloading;
use bytes::{Buf, BufMut, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader, SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;

/// The largest response accepted (a fetch is bounded by its `max_bytes`; this guards against
/// a garbled size).
const MAX_RESPONSE_BYTES: usize = 256 << 20;

/// How a broker reaches the others' inter-broker listener: TLS (with the listener's own
/// keystore and truststore) and a SASL login, as that listener asks. Plaintext by default.
#[derive(Clone, Default)]
pub struct ClientSecurity {
    pub tls: Option<Arc<Reloading<ClientConfig>>>,
    pub login: Option<ClientLogin>,
}

impl std::fmt::Debug for ClientSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSecurity").field("tls", &self.tls.is_some()).field("login", &self.login).finish()
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub struct Connection {
    stream: Box<dyn Io>,
    client_id: String,
    correlation_id: i32,
    buf: BytesMut,
}

impl Connection {
    /// Connects, then (as `security` says) handshakes TLS and logs in, all within `timeout`.
    pub async fn connect(
        addr: &str,
        client_id: String,
        timeout: Duration,
        security: &ClientSecurity,
    ) -> anyhow::Result<Connection> {
        tokio::time::timeout(timeout, Connection::open(addr, client_id, timeout, security))
            .await
            .with_context(|| format!("connecting to {addr} timed out"))?
            .with_context(|| format!("connecting to {addr}"))
    }

    async fn open(
        addr: &str,
        client_id: String,
        timeout: Duration,
        security: &ClientSecurity,
    ) -> anyhow::Result<Connection> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let stream: Box<dyn Io> = match &security.tls {
            None => Box::new(tcp),
            Some(tls) => {
                let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h).trim_start_matches('[').trim_end_matches(']');
                let name = ServerName::try_from(host.to_string()).with_context(|| format!("server name {host}"))?;
                let connector = tokio_rustls::TlsConnector::from(tls.config());
                Box::new(connector.connect(name, tcp).await.context("TLS handshake")?)
            }
        };
        let mut connection = Connection { stream, client_id, correlation_id: 0, buf: BytesMut::new() };
        if let Some(login) = &security.login {
            connection.authenticate(login, timeout).await.context("SASL authentication")?;
        }
        Ok(connection)
    }

    /// SaslHandshake (v1), then SaslAuthenticate until the exchange completes.
    async fn authenticate(&mut self, login: &ClientLogin, timeout: Duration) -> anyhow::Result<()> {
        let handshake = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(login.mechanism()));
        let answer = self.call(&handshake, 1, timeout).await?;
        if answer.error_code != 0 {
            let offered: Vec<&str> = answer.mechanisms.iter().map(|m| m.as_str()).collect();
            bail!("the broker does not offer {} (it offers {offered:?})", login.mechanism());
        }
        let (mut token, mut exchange) = login.start();
        loop {
            let request = SaslAuthenticateRequest::default().with_auth_bytes(token.into());
            let answer = self.call(&request, 2, timeout).await?;
            if answer.error_code != 0 {
                let message = answer.error_message.as_ref().map_or("", |m| m.as_str());
                bail!("refused as {login:?}: {message}");
            }
            match exchange.next(&answer.auth_bytes).map_err(anyhow::Error::msg)? {
                Some(next) => token = next,
                None => return Ok(()),
            }
        }
    }

    /// Sends `request` at `version` and reads its response, within `timeout`.
    pub async fn call<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> anyhow::Result<R::Response> {
        tokio::time::timeout(timeout, self.exchange(request, version)).await.context("the request timed out")?
    }

    async fn exchange<R: Request>(&mut self, request: &R, version: i16) -> anyhow::Result<R::Response> {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_string(self.client_id.clone())));
        self.buf.clear();
        self.buf.put_i32(0);
        header.encode(&mut self.buf, R::header_version(version))?;
        request.encode(&mut self.buf, version)?;
        let size = i32::try_from(self.buf.len() - 4)?;
        self.buf[..4].copy_from_slice(&size.to_be_bytes());
        self.stream.write_all(&self.buf).await?;
        let size = self.stream.read_i32().await?;
        let size = usize::try_from(size).ok().filter(|s| *s <= MAX_RESPONSE_BYTES).context("bad response size")?;
        let mut frame = BytesMut::zeroed(size);
        self.stream.read_exact(&mut frame).await?;
        let mut frame = frame.freeze();
        let header = ResponseHeader::decode(&mut frame, R::Response::header_version(version))?;
        if header.correlation_id != self.correlation_id {
            bail!("response for request {} while waiting for {}", header.correlation_id, self.correlation_id);
        }
        let response = R::Response::decode(&mut frame, version)?;
        if frame.has_remaining() {
            bail!("{} bytes left after the response", frame.remaining());
        }
        Ok(response)
    }
}
