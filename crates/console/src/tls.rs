//! HTTPS for the console (`console.ssl.*`): each TLS handshake runs in its own task, so a
//! client that stalls its handshake holds up no one; finished connections go to axum.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use brook_security::tls::ReloadingTls;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::{debug, warn};

/// How long a browser has to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections handshaken but not yet taken by the server.
const READY: usize = 64;

pub(crate) struct TlsListener {
    local_addr: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    acceptor: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub(crate) fn new(listener: TcpListener, tls: ReloadingTls) -> std::io::Result<TlsListener> {
        let local_addr = listener.local_addr()?;
        let (send, ready) = mpsc::channel(READY);
        let tls = Arc::new(tls);
        let acceptor = tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors, typically: wait a little.
                        warn!(error = %e, "console accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (tls, send) = (tls.clone(), send.clone());
                tokio::spawn(async move {
                    let handshake = TlsAcceptor::from(tls.config()).accept(stream);
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                        Ok(Ok(stream)) => {
                            let _ = send.send((stream, peer)).await;
                        }
                        Ok(Err(e)) => debug!(%peer, error = %e, "console TLS handshake failed"),
                        Err(_) => debug!(%peer, "console TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { local_addr, ready, acceptor })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The acceptor never stops while the listener lives.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local_addr)
    }
}
