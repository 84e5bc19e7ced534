//! One client connection: a TLS handshake on a TLS listener, then frames in, responses out in
//! request order.
//!
//! Requests are read and dispatched one after another (so appends happen in request order);
//! their replies may wait (acks=all, fetch long-polls) while later requests are read, up to
//! `MAX_IN_FLIGHT`, and are written back strictly in the order the requests came.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures::stream::FuturesOrdered;
use futures::{FutureExt, StreamExt};
use kafka_protocol::messages::{ApiKey, ResponseKind};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use brook_security::principal::{self, ANONYMOUS};

use crate::authentication::{Gate, SaslState};
use crate::broker::Broker;
use crate::codec::{self, DecodeError};
use crate::handlers::{self, api_versions};
use crate::session::{ListenerContext, Session};
use crate::throttle::Busy;

/// Requests read ahead of their responses per connection. Kafka's clients pipeline up to 5
/// produce requests; fetches and metadata add a few.
const MAX_IN_FLIGHT: usize = 16;
/// Initial read buffer; it grows to the largest frame seen.
const READ_BUFFER_BYTES: usize = 64 * 1024;
/// How long a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) async fn serve(
    stream: TcpStream,
    listener: Arc<ListenerContext>,
    broker: Arc<Broker>,
    shutdown: watch::Receiver<bool>,
) {
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let source = stream.peer_addr().map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    let client_host = format!("/{source}");
    let _ = stream.set_nodelay(true);
    let _open = broker.stats.connection_opened();
    debug!(%peer, listener = %listener.name, "connection accepted");
    let client_port = stream.peer_addr().map_or(0, |a| a.port());
    let software = Arc::default();
    let session = |principal: String| Session {
        client_host: client_host.clone(),
        listener: listener.name.clone(),
        principal,
        client_port,
        protocol: listener.protocol,
        token_authenticated: false,
        software: Arc::clone(&software),
    };
    let sasl = listener.sasl.clone().map(SaslState::new);
    let client = Client { peer: &peer, source, listener: &listener };
    let Some(tls) = &listener.tls else {
        // A plain socket splits without the lock `tokio::io::split` takes on every read and write.
        let halves = stream.into_split();
        return run(halves, session(ANONYMOUS.into()), sasl, client, broker.clone(), shutdown).await;
    };
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, TlsAcceptor::from(tls.config()).accept(stream)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            client.failed(&format!("TLS handshake failed: {e}"));
            return;
        }
        Err(_) => return info!(%peer, listener = %listener.name, "TLS handshake timed out"),
    };
    // A client certificate names the principal (`ssl.principal.mapping.rules`).
    let subject = stream.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| principal::subject_name(c));
    let principal = match subject {
        None => ANONYMOUS.to_string(),
        Some(None) => {
            client.failed("the client certificate's subject cannot be read");
            return;
        }
        Some(Some(subject)) => match tls.settings().principal_mapper.name(&subject) {
            Ok(name) => name,
            Err(e) => {
                client.failed(&e);
                return;
            }
        },
    };
    debug!(%peer, %principal, "TLS client authenticated");
    run(tokio::io::split(stream), session(principal), sasl, client, broker.clone(), shutdown).await
}

/// The other end of a connection, for the audit lines of failed authentications.
#[derive(Clone, Copy)]
struct Client<'a> {
    peer: &'a str,
    source: IpAddr,
    listener: &'a ListenerContext,
}

impl Client<'_> {
    /// Counts a failed authentication, writes its audit line when due, and says how long the
    /// connection should linger before it closes.
    fn failed(&self, reason: &str) -> Duration {
        let (delay, audit) = self.listener.failures.failed(self.source);
        if let Some(count) = audit {
            let (peer, listener) = (self.peer, &self.listener.name);
            warn!(target: "audit", %peer, %listener, failures_in_the_last_minute = count, "authentication failed: {reason}");
        }
        delay
    }
}

/// Serves requests on the two halves of an established (and, on a TLS listener, encrypted)
/// connection; on a SASL listener, `sasl` lets requests through once the client authenticated.
async fn run<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    (mut reader, mut writer): (R, W),
    mut session: Session,
    mut sasl: Option<SaslState>,
    client: Client<'_>,
    broker: Arc<Broker>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut buf = BytesMut::with_capacity(READ_BUFFER_BYTES);
    let mut pending = FuturesOrdered::new();
    let max_frame = broker.config.socket_request_max_bytes;
    let mut closing = false;
    let peer = client.peer;
    // How long to linger before closing, after a failed authentication.
    let mut linger = None;
    // Set after a request that must be answered before the next is read (`Dispatched::hold`).
    let mut barrier = false;
    // A client over its quota is not read from until then (KIP-219's muting).
    let mut muted_until: Option<tokio::time::Instant> = None;
    loop {
        if pending.is_empty() {
            barrier = false;
        }
        while !closing && !barrier && muted_until.is_none() && pending.len() < MAX_IN_FLIGHT {
            match codec::take_frame(&mut buf, max_frame) {
                Ok(Some(frame)) => match codec::decode_request(frame) {
                    Ok(request) => {
                        let (api_key, version, correlation_id) =
                            (request.api_key, request.version(), request.header.correlation_id);
                        match sasl.as_mut().map_or(Gate::Serve, |s| s.gate(&request, &mut session, broker.as_ref())) {
                            Gate::Serve => {}
                            Gate::Answer { response, close } => {
                                if close {
                                    linger = Some(client.failed(&sasl_refusal(&response)));
                                }
                                let answer = (api_key, version, correlation_id, Some(*response), Duration::ZERO);
                                pending.push_back(futures::future::ready(answer).boxed());
                                closing |= close;
                                continue;
                            }
                            Gate::Close(reason) => {
                                info!(%peer, %reason, "closing connection");
                                closing = true;
                                continue;
                            }
                        }
                        // A client with a request quota: its requests' handling time is metered.
                        let metered = (!handlers::exempt_from_request_quota(&request)
                            && !broker.image().client_quotas.is_empty())
                        .then(|| (session.principal.clone(), request.header.client_id.clone()));
                        let started = Instant::now();
                        let dispatched = handlers::dispatch(&broker, request, &session);
                        let (reply, throttle) = (dispatched.reply, dispatched.throttle);
                        let broker = broker.clone();
                        pending.push_back(
                            async move {
                                let Some((user, client_id)) = metered else {
                                    let reply = reply.await;
                                    broker.stats.request_served(api_key, started.elapsed());
                                    return (api_key, version, correlation_id, reply, throttle);
                                };
                                let (mut reply, busy) = Busy::new(reply, started.elapsed()).await;
                                broker.stats.request_served(api_key, started.elapsed());
                                let client_id = client_id.as_deref().unwrap_or_default();
                                let over = broker.throttles.record_time(&broker, &user, client_id, busy);
                                if let Some(body) = reply.as_mut().filter(|_| !over.is_zero()) {
                                    handlers::set_throttle(body, over);
                                }
                                (api_key, version, correlation_id, reply, throttle.max(over))
                            }
                            .boxed(),
                        );
                        barrier = dispatched.hold;
                    }
                    Err(DecodeError::UnsupportedVersion { api_key: ApiKey::ApiVersions, correlation_id, .. }) => {
                        let reply = ResponseKind::ApiVersions(api_versions::unsupported());
                        pending.push_back(
                            futures::future::ready((
                                ApiKey::ApiVersions,
                                0,
                                correlation_id,
                                Some(reply),
                                Duration::ZERO,
                            ))
                            .boxed(),
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
            read = reader.read_buf(&mut buf), if !closing && !barrier && muted_until.is_none() && pending.len() < MAX_IN_FLIGHT => match read {
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
            () = async { if let Some(until) = muted_until { tokio::time::sleep_until(until).await } }, if muted_until.is_some() => {
                muted_until = None;
            }
            Some((api_key, version, correlation_id, reply, throttle)) = pending.next(), if !pending.is_empty() => {
                let mut reply = reply;
                let throttle = reply.as_mut().map_or(throttle, |body| throttle.max(handlers::throttle_of(body)));
                if !throttle.is_zero() {
                    let until = tokio::time::Instant::now() + throttle;
                    muted_until = Some(muted_until.map_or(until, |m| m.max(until)));
                }
                let Some(body) = reply else { continue };
                match codec::encode_response(api_key, version, correlation_id, &body) {
                    Ok(bytes) => {
                        // A TLS stream holds written records until flushed.
                        if let Err(e) = async { writer.write_all(&bytes).await?; writer.flush().await }.await {
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
    // The client reads the refusal instead of a reset, and guessing passwords is slowed; what
    // it still sends meanwhile is read and dropped.
    if let Some(linger) = linger {
        let mut sink = [0u8; 4096];
        let drain = async { while reader.read(&mut sink).await.is_ok_and(|n| n > 0) {} };
        let _ = tokio::time::timeout(linger, drain).await;
    }
    // A TLS client is told the connection ends (close_notify) after the last answer.
    let _ = writer.shutdown().await;
}

/// What a SASL refusal says, for the audit line.
fn sasl_refusal(response: &ResponseKind) -> String {
    match response {
        ResponseKind::SaslAuthenticate(r) => r.error_message.as_ref().map_or_else(String::new, |m| m.to_string()),
        ResponseKind::SaslHandshake(r) => format!("mechanism not offered (offered: {:?})", r.mechanisms),
        _ => String::new(),
    }
}
