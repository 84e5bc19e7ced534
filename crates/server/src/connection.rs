//! One client connection: frames in, responses out in request order.
//!
//! Requests are read and dispatched one after another (so appends happen in request order);
//! their replies may wait (acks=all, fetch long-polls) while later requests are read, up to
//! `MAX_IN_FLIGHT`, and are written back strictly in the order the requests came.

use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use futures::stream::FuturesOrdered;
use futures::{FutureExt, StreamExt};
use kafka_protocol::messages::{ApiKey, ResponseKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::broker::Broker;
use crate::codec::{self, DecodeError};
use crate::handlers::{self, api_versions};

/// Requests read ahead of their responses per connection. Kafka's clients pipeline up to 5
/// produce requests; fetches and metadata add a few.
const MAX_IN_FLIGHT: usize = 16;
/// Initial read buffer; it grows to the largest frame seen.
const READ_BUFFER_BYTES: usize = 64 * 1024;

pub(crate) async fn serve(stream: TcpStream, broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let client_host = stream.peer_addr().map(|a| format!("/{}", a.ip())).unwrap_or_default();
    let _ = stream.set_nodelay(true);
    let _open = broker.stats.connection_opened();
    debug!(%peer, "connection accepted");
    let (mut reader, mut writer) = stream.into_split();
    let mut buf = BytesMut::with_capacity(READ_BUFFER_BYTES);
    let mut pending = FuturesOrdered::new();
    let max_frame = broker.config.socket_request_max_bytes;
    let mut closing = false;
    // Set after a request that must be answered before the next is read (`Dispatched::hold`).
    let mut barrier = false;
    loop {
        if pending.is_empty() {
            barrier = false;
        }
        while !closing && !barrier && pending.len() < MAX_IN_FLIGHT {
            match codec::take_frame(&mut buf, max_frame) {
                Ok(Some(frame)) => match codec::decode_request(frame) {
                    Ok(request) => {
                        let (api_key, version, correlation_id) =
                            (request.api_key, request.version(), request.header.correlation_id);
                        let started = Instant::now();
                        let dispatched = handlers::dispatch(&broker, request, &client_host);
                        let reply = dispatched.reply;
                        let broker = broker.clone();
                        pending.push_back(
                            async move {
                                let reply = reply.await;
                                broker.stats.request_served(api_key, started.elapsed());
                                (api_key, version, correlation_id, reply)
                            }
                            .boxed(),
                        );
                        barrier = dispatched.hold;
                    }
                    Err(DecodeError::UnsupportedVersion { api_key: ApiKey::ApiVersions, correlation_id, .. }) => {
                        let reply = ResponseKind::ApiVersions(api_versions::unsupported());
                        pending.push_back(
                            futures::future::ready((ApiKey::ApiVersions, 0, correlation_id, Some(reply))).boxed(),
                        );
                    }
                    Err(e) => {
                        // Kafka closes the connection on requests it cannot parse or serve.
                        warn!(%peer, error = %e, "closing connection");
                        closing = true;
                    }
                },
                Ok(None) => break,
                Err(size) => {
                    warn!(%peer, size, max = max_frame, "closing connection: invalid request size");
                    closing = true;
                }
            }
        }
        if closing && pending.is_empty() {
            break;
        }
        tokio::select! {
            read = reader.read_buf(&mut buf), if !closing && !barrier && pending.len() < MAX_IN_FLIGHT => match read {
                Ok(0) => {
                    if !buf.is_empty() {
                        debug!(%peer, "connection closed inside a frame");
                    }
                    closing = true;
                }
                Ok(_) => {}
                Err(e) => {
                    debug!(%peer, error = %e, "read failed");
                    break;
                }
            },
            Some((api_key, version, correlation_id, reply)) = pending.next(), if !pending.is_empty() => {
                let Some(body) = reply else { continue };
                match codec::encode_response(api_key, version, correlation_id, &body) {
                    Ok(bytes) => {
                        if let Err(e) = writer.write_all(&bytes).await {
                            debug!(%peer, error = %e, "write failed");
                            break;
                        }
                    }
                    Err(e) => {
                        warn!(%peer, ?api_key, version, error = %e, "could not encode a response");
                        break;
                    }
                }
            }
            _ = shutdown.changed(), if !closing => {
                info!(%peer, "closing connection for shutdown");
                closing = true;
            }
        }
    }
}
