//! The broker's place in the cluster, as KRaft's `BrokerLifecycleManager` keeps it:
//! registration (and `meta.properties`, which says which node and cluster a log directory
//! belongs to), heartbeats, waiting to be unfenced, and for a broker that is not a voter,
//! following the controllers' metadata.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use brook_controller::{ControllerReply, ControllerRequest, Endpoint, MetadataCatchup};
use brook_quorum::StateMachine;
use kafka_protocol::error::ResponseError;
use tokio::sync::watch;
use tracing::{info, warn};

use super::{ApiError, Broker, CONTROLLER_TIMEOUT, METADATA_DIR};
use crate::meta_properties;

impl Broker {
    /// A broker that is not a voter follows the metadata from the controllers (KRaft's
    /// observer): the committed commands after what it has, or a snapshot when it is too far
    /// behind, applied to its image as a voter would.
    pub(super) async fn follow_metadata(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut after = 0;
        loop {
            let fetched = tokio::select! {
                fetched = self.channel.call(ControllerRequest::FetchMetadata { after }, CONTROLLER_TIMEOUT) => fetched,
                _ = stop.changed() => return,
            };
            match fetched {
                Ok(ControllerReply::Metadata(MetadataCatchup::Snapshot { index, data })) => {
                    if let Err(e) = self.store.restore(&data) {
                        warn!(error = %e, "a metadata snapshot from the controller could not be read");
                    }
                    after = index;
                }
                Ok(ControllerReply::Metadata(MetadataCatchup::Commands { commands, next })) => {
                    for (index, command) in commands {
                        self.store.apply(index, &command);
                    }
                    after = next;
                }
                Ok(other) => warn!(?other, "unexpected answer to a metadata fetch"),
                Err(e) => {
                    warn!(error = %e.message, "fetching metadata from the controllers failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    fn endpoints(&self) -> Vec<Endpoint> {
        // The inter-broker listener first: it is also the fallback for a client on a listener
        // another broker does not have.
        let first = self.config.inter_broker();
        std::iter::once(first)
            .chain(self.config.listeners.iter().filter(|l| l.name != first.name))
            .map(|l| Endpoint { name: l.name.clone(), host: l.advertised_host.clone(), port: l.advertised_port })
            .collect()
    }

    /// Waits until this voter's controller registration is in the image, for up to
    /// `timeout`: a combined node serves once its controller is known, as its broker is.
    pub(super) async fn wait_controller_registered(&self, timeout: Duration) {
        let mut changes = self.store.subscribe();
        let registered = async { while !self.controller_registered() && changes.changed().await.is_ok() {} };
        if tokio::time::timeout(timeout, registered).await.is_err() {
            warn!("this node's controller registration is not in the metadata yet; serving meanwhile");
        }
    }

    /// Keeps this voter's controller registered (KRaft's ControllerRegistrationManager):
    /// registers once an active controller answers, and again whenever the image lacks this
    /// incarnation's registration (after an UnregisterController).
    pub(super) async fn keep_controller_registered(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut applied = self.store.subscribe();
        loop {
            if !self.controller_registered() {
                let request = ControllerRequest::RegisterController {
                    node_id: self.config.node_id,
                    incarnation_id: self.incarnation_id,
                    endpoints: self.controller_endpoints(),
                };
                let asked = tokio::select! {
                    asked = self.channel.call(request, CONTROLLER_TIMEOUT) => asked,
                    _ = stop.changed() => return,
                };
                if let Err(e) = asked {
                    warn!(error = %e.message, "controller registration failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                        _ = stop.changed() => return,
                    }
                }
            }
            tokio::select! {
                changed = applied.changed() => if changed.is_err() { return },
                _ = stop.changed() => return,
            }
        }
    }

    /// This controller's listener, as the voters' list names it.
    fn controller_endpoints(&self) -> Vec<Endpoint> {
        let address = self
            .config
            .voter_address(self.config.node_id)
            .or_else(|| self.config.controller_listen.map(|a| (a.ip().to_string(), a.port())));
        let name = self.config.controller_listener_name.clone();
        address.map(|(host, port)| Endpoint { name, host, port }).into_iter().collect()
    }

    /// Whether the image holds this incarnation's controller registration.
    fn controller_registered(&self) -> bool {
        self.image().controllers.get(&self.config.node_id).is_some_and(|c| c.incarnation_id == self.incarnation_id)
    }

    /// Registers with the active controller, retrying until one answers: a broker cannot
    /// serve before the cluster knows it. A refusal that retrying cannot cure is an error: this
    /// directory belongs to another cluster, or another broker with this node.id still
    /// heartbeats after a whole session (a restart after kill -9 is refused as a duplicate only
    /// until the dead process's session runs out, as in Kafka).
    pub(super) async fn register(&self) -> anyhow::Result<()> {
        let meta = meta_properties::read(&self.config.log_dirs[0]).map_err(anyhow::Error::msg)?;
        let session =
            Duration::from_millis(self.config.broker_session_timeout_ms + self.config.broker_heartbeat_interval_ms);
        let mut duplicate_since: Option<std::time::Instant> = None;
        loop {
            let request = ControllerRequest::RegisterBroker {
                node_id: self.config.node_id,
                incarnation_id: self.incarnation_id,
                endpoints: self.endpoints(),
                rack: self.config.rack.clone(),
                cluster_id: meta.as_ref().map(|m| m.cluster_id.clone()),
            };
            match self.channel.call(request, CONTROLLER_TIMEOUT).await {
                Ok(ControllerReply::Registered { broker_epoch }) => {
                    self.broker_epoch.store(broker_epoch, Ordering::Relaxed);
                    info!(node_id = self.config.node_id, broker_epoch, "registered with the controller");
                    return Ok(());
                }
                Ok(other) => warn!(?other, "unexpected answer to a broker registration"),
                Err(e) if e.code == ResponseError::DuplicateBrokerRegistration => {
                    let since = *duplicate_since.get_or_insert_with(std::time::Instant::now);
                    if since.elapsed() > session {
                        anyhow::bail!("node.id {}: {} Give each node its own node.id.", self.config.node_id, e.message);
                    }
                    info!("another registration of this node.id is still in its session; waiting for it to end");
                }
                Err(e) if e.code == ResponseError::InconsistentClusterId => {
                    let file = meta_properties::path(&self.config.log_dirs[0]);
                    anyhow::bail!(
                        "cluster.id in {}: {} This log directory belongs to another cluster.",
                        file.display(),
                        e.message
                    )
                }
                Err(e) => warn!(error = %e.message, "broker registration failed; retrying"),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Records in `meta.properties` which node and cluster the first log directory belongs to,
    /// once the cluster's id is known; a directory from another node stops start-up.
    pub(super) fn check_meta_properties(&self) -> anyhow::Result<()> {
        let dir = &self.config.log_dirs[0];
        match meta_properties::read(dir).map_err(anyhow::Error::msg)? {
            Some(meta) if meta.node_id != self.config.node_id => anyhow::bail!(
                "node.id is {} but {} says this log directory belongs to node {}",
                self.config.node_id,
                meta_properties::path(dir).display(),
                meta.node_id
            ),
            Some(meta) => match self.image().cluster_id.clone() {
                // A quorum that formed anew (its metadata log lost) next to this directory's
                // data: refuse rather than serve an empty cluster beside it.
                Some(cluster_id) if cluster_id != meta.cluster_id => anyhow::bail!(
                    "cluster.id in {} is {} but the metadata quorum's cluster is {cluster_id}: this log directory \
                     belongs to another cluster (or the metadata log in {} was lost)",
                    meta_properties::path(dir).display(),
                    meta.cluster_id,
                    dir.join(METADATA_DIR).display()
                ),
                _ => Ok(()),
            },
            None => {
                let Some(cluster_id) = self.image().cluster_id.clone() else { return Ok(()) };
                let meta = meta_properties::MetaProperties { node_id: self.config.node_id, cluster_id };
                meta_properties::write(dir, &meta).map_err(|e| anyhow::anyhow!("cannot write meta.properties: {e}"))
            }
        }
    }

    /// Heartbeats every `broker.heartbeat.interval.ms`; registers again when the controller
    /// no longer knows this broker's epoch.
    pub(super) async fn heartbeat_loop(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let interval = Duration::from_millis(self.config.broker_heartbeat_interval_ms);
        loop {
            let leaving = self.leaving.load(Ordering::Relaxed);
            match self.heartbeat(leaving).await {
                Err(e)
                    if !leaving
                        && (e.code == ResponseError::StaleBrokerEpoch
                            || e.code == ResponseError::BrokerIdNotRegistered) =>
                {
                    warn!(error = %e.message, "the controller lost this broker's registration; registering again");
                    if let Err(e) = self.register().await {
                        tracing::error!(error = %e, "registering again was refused");
                    }
                    continue;
                }
                Err(e) => warn!(error = %e.message, "broker heartbeat failed"),
                Ok(_) => {}
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.changed() => return,
            }
        }
    }

    pub(super) async fn heartbeat(&self, want_shutdown: bool) -> Result<ControllerReply, ApiError> {
        let request = ControllerRequest::BrokerHeartbeat {
            node_id: self.config.node_id,
            broker_epoch: self.broker_epoch.load(Ordering::Relaxed),
            applied_index: self.store.applied_index(),
            want_shutdown,
        };
        let timeout = Duration::from_millis(self.config.broker_heartbeat_interval_ms.max(1000));
        self.channel.call(request, timeout).await
    }

    /// Kafka's controlled shutdown, before the listener closes: the controller moves the
    /// partitions this broker leads to other in-sync replicas and takes it out of every ISR,
    /// while it stays in the broker list; then, once it leads nothing, fences it. Meanwhile
    /// clients are still served, and a request for a partition that moved is answered
    /// NOT_LEADER_OR_FOLLOWER naming the new leader, so producers and consumers carry on there
    /// instead of finding a closed port and a stale leader. Returns once this node's image
    /// shows it fenced, or after `CONTROLLED_SHUTDOWN_TIMEOUT`.
    pub async fn controlled_shutdown(&self) {
        if !self.config.roles.broker {
            return;
        }
        let started = std::time::Instant::now();
        self.leaving.store(true, Ordering::Relaxed);
        let deadline = tokio::time::Instant::now() + super::CONTROLLED_SHUTDOWN_TIMEOUT;
        let mut changes = self.store.subscribe();
        // Asked again at each change of the image: the first answer moves the leaderships, a
        // later one (once the image shows them moved) fences this broker.
        while !self.fenced() {
            match tokio::time::timeout_at(deadline, self.heartbeat(true)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => warn!(error = %e.message, "controlled shutdown: the controller did not answer; retrying"),
                Err(_) => break,
            }
            let soon = tokio::time::Instant::now() + Duration::from_millis(200);
            let woken = tokio::time::timeout_at(soon.min(deadline), changes.changed()).await;
            if woken.is_ok_and(|r| r.is_err()) || tokio::time::Instant::now() >= deadline {
                break;
            }
        }
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match self.fenced() && !self.image().leads_any(self.config.node_id) {
            true => info!(elapsed_ms, "controlled shutdown: leads no partition"),
            false => warn!(elapsed_ms, "controlled shutdown timed out; stopping while still leading partitions"),
        }
    }

    /// Whether the image shows this broker's registration fenced (or gone).
    fn fenced(&self) -> bool {
        let epoch = self.broker_epoch.load(Ordering::Relaxed);
        self.image().brokers.get(&self.config.node_id).is_none_or(|b| b.fenced || b.epoch != epoch)
    }

    /// Waits until the image shows this broker registered and unfenced.
    pub(super) async fn wait_unfenced(&self) {
        let node_id = self.config.node_id;
        let mut changes = self.store.subscribe();
        loop {
            let epoch = self.broker_epoch.load(Ordering::Relaxed);
            if self.image().brokers.get(&node_id).is_some_and(|b| !b.fenced && b.epoch == epoch) {
                return;
            }
            if changes.changed().await.is_err() {
                return;
            }
        }
    }
}
