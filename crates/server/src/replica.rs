//! A hosted partition's part in replication: the role the metadata gives this replica
//! (leader, follower, or the only replica), the leader's bookkeeping of its followers'
//! fetches, and the ISR changes it asks the controller for.
//!
//! A partition with one replica is not replicated: its high watermark is the local log's, as
//! before replication. With more, the log's high watermark is bounded by the replication
//! floor: the leader's is the slowest in-sync follower's durable log end, a follower's is its
//! leader's high watermark.

use std::sync::atomic::Ordering;

use brook_controller::image::PartitionMeta;
use brook_log::Log;
use brook_replication::role::{Assumed, FollowerFetch, FollowerPosition, IsrProposal, Role};
use brook_replication::{PartitionState, Replica};
use kafka_protocol::error::ResponseError;
use tracing::{info, warn};

use crate::partition::{Partition, View};

impl Replica for Partition {
    fn log(&self) -> &Log {
        &self.log
    }

    fn while_following(
        &self,
        leader_epoch: i32,
        change: &mut dyn FnMut(&Log) -> Result<(), brook_log::LogError>,
    ) -> Option<Result<(), brook_log::LogError>> {
        let role = self.role.lock().expect("role lock");
        role.follows(leader_epoch).then(|| change(&self.log))
    }

    fn appended(&self, batches: &[u8]) {
        self.remember_batches(batches);
    }

    fn truncated(&self) {
        if let Err(e) = self.reload_producers() {
            warn!(topic = self.topic, partition = self.index, error = %e, "rebuilding producer state failed");
        }
    }
}

impl Partition {
    /// Takes the role the metadata gives this replica on `node_id`. Returns whether it now
    /// follows a leader (the caller hands it to a fetcher).
    pub(crate) fn set_role(&self, node_id: i32, meta: &PartitionMeta, min_insync: usize, now_ms: i64) -> bool {
        self.min_insync.store(min_insync, Ordering::Relaxed);
        let leads = meta.leader == node_id;
        let view = View { leader_epoch: leads.then_some(meta.leader_epoch), isr_size: meta.isr.len() };
        self.view.send_if_modified(|current| std::mem::replace(current, view) != view);
        let state = PartitionState {
            leader_epoch: meta.leader_epoch,
            partition_epoch: meta.partition_epoch,
            replicas: meta.replicas.clone(),
            isr: meta.isr.clone(),
        };
        let mut role = self.role.lock().expect("role lock");
        let (topic, partition, epoch) = (&self.topic, self.index, meta.leader_epoch);
        match role.assume(&self.log, node_id, meta.leader, state, min_insync, now_ms) {
            Assumed::Unreplicated => false,
            Assumed::Leader { new } => {
                if new {
                    info!(topic, partition, epoch, "leading");
                }
                false
            }
            Assumed::Follower { leader, new } => {
                if new {
                    info!(topic, partition, leader, epoch, "following");
                }
                leader >= 0
            }
        }
    }

    /// A leader's check of a follower's fetch; see `Role::follower_fetch`.
    pub(crate) fn follower_fetch(
        &self,
        fetch: FollowerPosition,
        now_ms: i64,
        high_watermark: i64,
    ) -> Result<FollowerFetch, ResponseError> {
        let min_insync = self.min_insync.load(Ordering::Relaxed);
        self.role.lock().expect("role lock").follower_fetch(&self.log, min_insync, fetch, high_watermark, now_ms)
    }

    /// On the leader, the in-sync followers holding `offset`; see `Role::read_candidates`.
    pub(crate) fn read_candidates(&self, offset: i64) -> Option<Vec<(i32, i64)>> {
        self.role.lock().expect("role lock").read_candidates(offset)
    }

    /// The ISR shrink this leader should ask for now, if any (the periodic check).
    pub(crate) fn check_isr(&self, now_ms: i64, lag_time_max_ms: i64) -> Option<IsrProposal> {
        self.role.lock().expect("role lock").check_isr(now_ms, lag_time_max_ms)
    }

    /// The controller refused an ISR change made in `leader_epoch`.
    pub(crate) fn isr_change_failed(&self, leader_epoch: i32) {
        self.role.lock().expect("role lock").isr_change_failed(leader_epoch);
    }

    /// acks=all may append only while the ISR holds at least `min.insync.replicas`
    /// (NOT_ENOUGH_REPLICAS, with Kafka's message).
    pub(crate) fn check_enough_replicas(&self) -> Result<(), (ResponseError, String)> {
        let (size, min) = (self.view.borrow().isr_size, self.min_insync.load(Ordering::Relaxed));
        if size >= min {
            return Ok(());
        }
        let message = format!(
            "The size of the current ISR ({size}) is insufficient to satisfy the min.isr requirement of {min} for \
             partition {}-{}",
            self.topic, self.index
        );
        Err((ResponseError::NotEnoughReplicas, message))
    }

    /// Waits until the high watermark reaches `offset`, appended while leading in
    /// `leader_epoch` (acks=all). Fails with NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR
    /// shrinks below `min.insync.replicas` first, and with NOT_LEADER_OR_FOLLOWER if the
    /// leadership changes: the batch may then be truncated, and a high watermark that a new
    /// leader moves past its offset says nothing about it.
    pub async fn wait_committed(&self, offset: i64, leader_epoch: i32) -> Result<(), ResponseError> {
        if brook_replication::bugs::planted("ack-before-replication") {
            let synced = self.log.subscribe_progress().wait_for(|p| p.synced >= offset).await.map(|_| ());
            return synced.map_err(|_| ResponseError::UnknownServerError);
        }
        let mut view = self.view.subscribe();
        let min = self.min_insync.load(Ordering::Relaxed);
        let replicated = !matches!(&*self.role.lock().expect("role lock"), Role::Unreplicated);
        let same_leadership = |v: &View| !replicated || v.leader_epoch == Some(leader_epoch);
        let outcome = tokio::select! {
            biased;
            done = self.log.wait_for_high_watermark(offset) => done.map_err(|e| {
                ResponseError::try_from_code(e.kafka_error_code()).unwrap_or(ResponseError::UnknownServerError)
            }),
            changed = view.wait_for(|v| v.isr_size < min || !same_leadership(v)) => match changed {
                Ok(v) if !same_leadership(&v) => Err(ResponseError::NotLeaderOrFollower),
                _ => Err(ResponseError::NotEnoughReplicasAfterAppend),
            },
        };
        // The high watermark counts for this batch only if it moved while this leadership lasted.
        if outcome.is_ok() && !same_leadership(&self.view.borrow()) {
            return Err(ResponseError::NotLeaderOrFollower);
        }
        outcome
    }
}

/// What `set_role` needs from a topic: its `min.insync.replicas`, else the broker's.
pub fn min_insync(configs: &std::collections::BTreeMap<String, String>, broker_default: i32) -> usize {
    configs.get("min.insync.replicas").and_then(|v| v.parse::<usize>().ok()).unwrap_or(broker_default.max(1) as usize)
}
