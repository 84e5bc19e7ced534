//! The accept loop, background tasks and shutdown.
//!
//! Shutdown (SIGTERM/SIGINT in the binary) first moves the broker's leaderships to other
//! replicas while still serving, then stops accepting, tells connections to finish the
//! requests they hold, waits for them, then syncs and checkpoints every log.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::{self, BoxStream};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::connection;
use crate::group::GroupCoordinator;
use crate::session::ListenerContext;
use crate::transactions::TransactionCoordinator;

/// Open connections at once (Kafka's `max.connections` is unlimited; the file-descriptor limit
/// is the real bound, and past this Brook stops accepting until one closes).
const MAX_CONNECTIONS: usize = 10_000;
/// How long shutdown waits for connections to finish their in-flight requests.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A started node: where it listens, and the handle to stop it. A controller-only node has
/// no Kafka listener.
pub struct Server {
    /// The first Kafka listener's address.
    pub local_addr: Option<SocketAddr>,
    /// Every Kafka listener: its name, protocol and address.
    pub listeners: Vec<(String, &'static str, SocketAddr)>,
    /// Where the quorum and brokers reach this node's controller, if it has a listener.
    pub controller_addr: Option<SocketAddr>,
    broker: Arc<Broker>,
    sockets: Vec<(Arc<ListenerContext>, TcpListener)>,
}

impl Server {
    /// Opens the data and binds the listeners, reading their TLS keys first.
    pub async fn bind(mut config: BrokerConfig) -> anyhow::Result<Server> {
        for key in &config.ignored_keys {
            warn!(key, "configuration key accepted but not used by Brook");
        }
        // Brokers reach each other on a PLAINTEXT listener, as User:ANONYMOUS: without that
        // principal among the super users, an authorizer refuses replication (as Kafka's would).
        if let Some(authorizer) = &config.authorizer
            && !config.quorum_voters.is_empty()
            && !authorizer.super_users.contains("User:ANONYMOUS")
        {
            warn!(
                "an authorizer is configured in a cluster, but User:ANONYMOUS (the principal of brokers on the \
                 PLAINTEXT inter-broker listener) is not in super.users: followers will be refused"
            );
        }
        let mut sockets = Vec::new();
        let mut listeners = Vec::new();
        for listener in config.listeners.iter_mut().filter(|_| config.roles.broker) {
            let tls = match &listener.tls {
                Some(settings) => Some(brook_security::tls::ReloadingTls::new(settings.clone())?),
                None => None,
            };
            let socket = TcpListener::bind(listener.addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {} (listener {}): {e}", listener.addr, listener.name))?;
            let addr = socket.local_addr()?;
            // Listening on port 0 picks a free port: clients must be told the real one.
            if listener.advertised_port == 0 {
                listener.advertised_port = addr.port();
            }
            listeners.push((listener.name.clone(), listener.protocol.name(), addr));
            let sasl = listener.sasl.clone().map(Arc::new);
            let context = ListenerContext {
                name: listener.name.as_str().into(),
                protocol: listener.protocol,
                tls,
                sasl,
                failures: Default::default(),
            };
            sockets.push((Arc::new(context), socket));
        }
        let local_addr = listeners.first().map(|l| l.2);
        let controller_listener = match config.controller_listen {
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(|e| {
                anyhow::anyhow!("cannot listen on the controller listener {addr} (controller.listener.names): {e}")
            })?),
            None => None,
        };
        let controller_addr = controller_listener.as_ref().map(TcpListener::local_addr).transpose()?;
        let broker = Broker::open(config, controller_listener).await?;
        Ok(Server { local_addr, listeners, controller_addr, broker, sockets })
    }

    /// The broker this server serves, for the console that runs beside it.
    pub fn broker(&self) -> Arc<Broker> {
        self.broker.clone()
    }

    /// Serves until `shutdown` completes, then shuts down cleanly.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Server { listeners, broker, sockets, .. } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut connections = JoinSet::new();
        let retention = tokio::spawn(retention_loop(broker.clone(), stop_rx.clone()));
        let cleaner = tokio::spawn(cleaner_loop(broker.clone(), stop_rx.clone()));
        let group_timers = tokio::spawn({
            let groups = GroupCoordinator::run_timers(broker.clone(), stop_rx.clone());
            let transactions = TransactionCoordinator::run_timeouts(broker.clone(), stop_rx.clone());
            async move {
                tokio::join!(groups, transactions);
            }
        });
        // A broker first hands its leaderships over, still serving (Kafka's controlled shutdown).
        let leaving = broker.clone();
        let shutdown = async move {
            shutdown.await;
            leaving.controlled_shutdown().await;
        };
        tokio::pin!(shutdown);
        if sockets.is_empty() {
            // A controller-only node: its quorum and controller run until shutdown.
            shutdown.await;
            return stop(broker, stop_tx, connections, retention, group_timers, cleaner).await;
        }
        info!(?listeners, "accepting connections");
        let mut accepts = accepts(sockets);
        let mut backoff = Duration::from_millis(5);
        loop {
            let permit = tokio::select! {
                permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
                _ = &mut shutdown => break,
            };
            tokio::select! {
                Some((listener, accepted)) = accepts.next() => match accepted {
                    Ok(stream) => {
                        backoff = Duration::from_millis(5);
                        let (broker, stop) = (broker.clone(), stop_rx.clone());
                        connections.spawn(async move {
                            connection::serve(stream, listener, broker, stop).await;
                            drop(permit);
                        });
                    }
                    Err(e) => {
                        // Out of file descriptors, typically: wait and retry, doubling.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                    }
                },
                _ = &mut shutdown => break,
            }
            while connections.try_join_next().is_some() {}
        }
        drop(accepts);
        stop(broker, stop_tx, connections, retention, group_timers, cleaner).await
    }
}

/// The connections every listener accepts, each with the listener it came through.
fn accepts(
    sockets: Vec<(Arc<ListenerContext>, TcpListener)>,
) -> BoxStream<'static, (Arc<ListenerContext>, std::io::Result<TcpStream>)> {
    stream::select_all(sockets.into_iter().map(|state| {
        stream::unfold(state, |(listener, socket)| async move {
            let accepted = socket.accept().await.map(|(stream, _)| stream);
            Some(((listener.clone(), accepted), (listener, socket)))
        })
        .boxed()
    }))
    .boxed()
}

/// Stops the background tasks, lets connections finish their requests, leaves the cluster
/// and closes every log.
async fn stop(
    broker: Arc<Broker>,
    stop_tx: watch::Sender<bool>,
    mut connections: JoinSet<()>,
    retention: tokio::task::JoinHandle<()>,
    group_timers: tokio::task::JoinHandle<()>,
    cleaner: tokio::task::JoinHandle<()>,
) -> anyhow::Result<()> {
    info!("shutting down");
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async { while connections.join_next().await.is_some() {} });
    if drained.await.is_err() {
        warn!("connections did not finish in time; closing them");
        connections.abort_all();
    }
    let _ = retention.await;
    let _ = group_timers.await;
    let _ = cleaner.await;
    broker.shutdown().await;
    tokio::task::spawn_blocking(move || broker.close()).await?;
    info!("shut down cleanly");
    Ok(())
}

/// Runs `work` every `interval` until `stop` changes.
async fn every<F, Fut>(interval: Duration, mut stop: watch::Receiver<bool>, mut work: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let interval = interval.max(Duration::from_millis(1));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => work().await,
            _ = stop.changed() => return,
        }
    }
}

/// Retention of segments (`log.retention.check.interval.ms`) and of empty groups' offsets.
async fn retention_loop(broker: Arc<Broker>, stop: watch::Receiver<bool>) {
    let interval = Duration::from_millis(broker.config.retention_check_interval_ms);
    every(interval, stop, || {
        let broker = broker.clone();
        async move {
            let b = broker.clone();
            let _ = tokio::task::spawn_blocking(move || b.enforce_retention()).await;
            broker.groups.expire_offsets(&broker).await;
        }
    })
    .await
}

/// Kafka's log cleaner: every `log.cleaner.backoff.ms`, compacts what has become dirty enough.
async fn cleaner_loop(broker: Arc<Broker>, stop: watch::Receiver<bool>) {
    if !broker.config.cleaner_enable {
        return;
    }
    let interval = Duration::from_millis(broker.config.cleaner_backoff_ms);
    every(interval, stop, || {
        let broker = broker.clone();
        async move {
            let _ = tokio::task::spawn_blocking(move || broker.compact_logs()).await;
        }
    })
    .await
}
