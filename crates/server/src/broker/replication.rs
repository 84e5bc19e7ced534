//! The broker's side of replication: each hosted partition takes the role the metadata gives
//! it, followers are handed to the fetchers, and leaders' ISR changes go to the controller.

use std::sync::Arc;
use std::time::Duration;

use brook_controller::requests::IsrChange;
use brook_controller::{ControllerReply, ControllerRequest};
use brook_replication::FollowedPartition;
use brook_replication::client::ClientSecurity;
use brook_replication::follower::FetcherConfig;
use brook_replication::role::IsrProposal;
use brook_security::tls::Reloading;
use tokio::sync::watch;
use tracing::{info, warn};

use super::{Broker, CoordinatorLoad};
use crate::config::BrokerConfig;
use crate::group::OFFSETS_TOPIC;
use crate::partition::Partition;
use crate::replica::min_insync;
use crate::transactions::TRANSACTION_STATE_TOPIC;

pub(super) fn fetcher_config(config: &BrokerConfig, security: ClientSecurity) -> FetcherConfig {
    FetcherConfig {
        node_id: config.node_id,
        partition_max_bytes: config.replica.fetch_max_bytes,
        response_max_bytes: config.replica.fetch_response_max_bytes,
        max_wait_ms: config.replica.fetch_wait_max_ms,
        backoff_ms: config.replica.fetch_backoff_ms,
        security,
    }
}

/// How this broker reaches the others (replica fetchers, transaction markers and checks): as
/// the inter-broker listener asks, TLS with that listener's own keystore and truststore, and
/// the broker's SASL login (checked by the configuration).
pub(super) fn inter_broker_security(config: &BrokerConfig) -> anyhow::Result<ClientSecurity> {
    if !config.calls_other_brokers() {
        return Ok(ClientSecurity::default());
    }
    let listener = config.inter_broker();
    let tls = match &listener.tls {
        Some(settings) => Some(Arc::new(
            Reloading::client(settings.clone())
                .map_err(|e| anyhow::anyhow!("{} (inter-broker listener {}): {}", e.key, listener.name, e.reason))?,
        )),
        None => None,
    };
    Ok(ClientSecurity { tls, login: config.inter_broker_login.clone() })
}

/// How long an ISR change may wait for the controller's answer before the leader may propose
/// again. While one is pending the leader proposes no other, so an answer lost with a cut
/// link would otherwise keep a caught-up follower out of the ISR for the whole admin timeout
/// (30 s). Proposing again is safe: the partition epoch refuses the second if the first
/// committed, and the metadata then settles the pending one.
const ALTER_PARTITION_TIMEOUT: Duration = Duration::from_secs(5);

impl Broker {
    /// Gives every hosted partition the role the image says, and the fetchers exactly the
    /// partitions this broker follows.
    pub(super) fn assign_roles(&self) {
        let _one_at_a_time = self.assigning.lock().expect("assigning lock");
        let node_id = self.config.node_id;
        let now = self.clock.now_ms();
        let image = self.image();
        let min_insync_default = self.topic_defaults_in(&image).min_insync_replicas;
        let partitions = self.partitions.read().expect("partitions lock");
        let mut followed = Vec::new();
        // The `__consumer_offsets` and `__transaction_state` partitions this broker leads:
        // their groups and transactional ids are its to coordinate.
        let (mut groups, mut transactions, mut share_states) = (Vec::new(), Vec::new(), Vec::new());
        for (topic, index) in image.partitions_on(node_id) {
            let (Some(partition), Some(meta)) = (partitions.get(&(topic.name.clone(), index)), topic.partition(index))
            else {
                continue;
            };
            if partition.topic_id != topic.id {
                continue;
            }
            let min_insync = min_insync(&topic.configs, min_insync_default);
            let follows = partition.set_role(node_id, meta, min_insync, now);
            if meta.leader == node_id {
                let log = &partition.log;
                let led = (index, meta.leader_epoch, log.log_start_offset(), log.log_end_offset());
                match topic.name.as_str() {
                    OFFSETS_TOPIC => groups.push(led),
                    TRANSACTION_STATE_TOPIC => transactions.push(led),
                    crate::share::SHARE_STATE_TOPIC => share_states.push(led),
                    _ => {}
                }
            }
            if !follows {
                continue;
            }
            let Some(addr) = image
                .brokers
                .get(&meta.leader)
                .and_then(|b| b.endpoint(&self.config.inter_broker_listener))
                .map(|e| format!("{}:{}", e.host, e.port))
            else {
                continue;
            };
            followed.push((
                addr,
                FollowedPartition {
                    topic: topic.name.clone(),
                    topic_id: topic.id,
                    index,
                    leader: meta.leader,
                    leader_epoch: meta.leader_epoch,
                    replica: partition.clone(),
                },
            ));
        }
        drop(partitions);
        drop(image);
        self.fetchers.set(followed);
        for (partition, leader_epoch, end) in self.groups.coordinate(&groups) {
            let _ = self.coordinator_loads.send(CoordinatorLoad::Groups { partition, leader_epoch, end });
        }
        for (partition, leader_epoch, end) in self.transactions.coordinate(&transactions) {
            let _ = self.coordinator_loads.send(CoordinatorLoad::Transactions { partition, leader_epoch, end });
        }
        for (partition, leader_epoch, end) in self.shares.coordinate(&share_states) {
            let _ = self.coordinator_loads.send(CoordinatorLoad::ShareState { partition, leader_epoch, end });
        }
    }

    /// Kafka's ISR expiration check, every half `replica.lag.time.max.ms`: leaders drop
    /// followers that stopped catching up.
    pub(super) async fn isr_loop(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let lag = self.config.replica.lag_time_max_ms;
        let period = Duration::from_millis((lag / 2).max(10) as u64);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = stop.changed() => return,
            }
            let now = self.clock.now_ms();
            for partition in self.partitions() {
                if let Some(change) = partition.check_isr(now, lag) {
                    self.alter_isr(&partition, change);
                }
            }
        }
    }

    /// Asks the controller for an ISR change in the background; the partition learns the
    /// outcome from the metadata, or is told the proposal failed.
    pub(crate) fn alter_isr(self: &Arc<Self>, partition: &Arc<Partition>, change: IsrProposal) {
        let (broker, partition) = (self.clone(), partition.clone());
        info!(topic = partition.topic, partition = partition.index, isr = ?change.isr, "asking for an ISR change");
        tokio::spawn(async move {
            let request = ControllerRequest::AlterPartition(IsrChange {
                topic_id: partition.topic_id,
                partition: partition.index,
                leader: broker.config.node_id,
                broker_epoch: broker.broker_epoch.load(std::sync::atomic::Ordering::Relaxed),
                leader_epoch: change.leader_epoch,
                partition_epoch: change.partition_epoch,
                isr: change.isr.clone(),
            });
            match broker.channel.call(request, ALTER_PARTITION_TIMEOUT).await {
                Ok(ControllerReply::Done) => {
                    info!(topic = partition.topic, partition = partition.index, isr = ?change.isr, "ISR changed");
                    broker.assign_roles();
                }
                Ok(other) => warn!(?other, "unexpected answer to AlterPartition"),
                Err(e) => {
                    warn!(topic = partition.topic, partition = partition.index, code = ?e.code, error = e.message, "ISR change refused");
                    partition.isr_change_failed(change.leader_epoch);
                }
            }
        });
    }
}
