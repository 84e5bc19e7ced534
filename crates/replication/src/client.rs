//! A minimal Kafka protocol connection: one request at a time, typed by kafka-protocol.

use std::time::Duration;

use anyhow::{Context, bail};
use bytes::{Buf, BufMut, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest response accepted (a fetch is bounded by its `max_bytes`; this guards against
/// a garbled size).
const MAX_RESPONSE_BYTES: usize = 256 << 20;

pub struct Connection {
    stream: TcpStream,
    client_id: String,
    correlation_id: i32,
    buf: BytesMut,
}

impl Connection {
    pub async fn connect(addr: &str, client_id: String, timeout: Duration) -> anyhow::Result<Connection> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .with_context(|| format!("connecting to {addr} timed out"))?
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Connection { stream, client_id, correlation_id: 0, buf: BytesMut::new() })
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
