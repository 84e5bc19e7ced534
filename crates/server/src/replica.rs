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
use brook_replication::{Leadership, PartitionState, Replica};
use kafka_protocol::error::ResponseError;
use tracing::{info, warn};
use uuid::Uuid;

use crate::partition::{Partition, View};

pub enum Role {
    Unreplicated,
    Leader(Leadership),
    Follower { leader: i32, leader_epoch: i32 },
}

/// An ISR change a leader asks the controller for (Kafka's AlterPartition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterIsr {
    pub topic_id: Uuid,
    pub partition: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub isr: Vec<i32>,
}

/// A follower's fetch as its leader judges it.
pub enum FollowerFetch {
    /// Serve it from `fetch_offset`; maybe ask for an ISR change.
    Serve(Option<AlterIsr>),
    /// The logs diverged: the follower truncates to `end_offset` of `epoch` first.
    Diverged { epoch: i32, end_offset: i64 },
}

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
        match &*role {
            Role::Follower { leader_epoch: e, .. } if *e == leader_epoch => Some(change(&self.log)),
            _ => None,
        }
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
        let mut role = self.role.lock().expect("role lock");
        if meta.replicas.len() <= 1 {
            self.stamp_epoch(meta.leader_epoch);
            *role = Role::Unreplicated;
            return false;
        }
        self.log.start_replication();
        let state = PartitionState {
            leader_epoch: meta.leader_epoch,
            partition_epoch: meta.partition_epoch,
            replicas: meta.replicas.clone(),
            isr: meta.isr.clone(),
        };
        if meta.leader == node_id {
            match &mut *role {
                Role::Leader(l) if l.leader_epoch() == meta.leader_epoch => l.update(state),
                _ => {
                    info!(topic = self.topic, partition = self.index, epoch = meta.leader_epoch, "leading");
                    self.stamp_epoch(meta.leader_epoch);
                    *role = Role::Leader(Leadership::new(node_id, state, self.log.log_end_offset(), now_ms));
                }
            }
            self.update_floor(&role);
            false
        } else {
            if !matches!(&*role, Role::Follower { leader_epoch, .. } if *leader_epoch == meta.leader_epoch) {
                info!(
                    topic = self.topic,
                    partition = self.index,
                    leader = meta.leader,
                    epoch = meta.leader_epoch,
                    "following"
                );
            }
            *role = Role::Follower { leader: meta.leader, leader_epoch: meta.leader_epoch };
            meta.leader >= 0
        }
    }

    /// A leader's check of a follower's fetch (Kafka's `fetchRecords` for a replica): the
    /// leader epoch it expects, whether its log diverged from this one, then its progress,
    /// which may bring it into the ISR if the metadata says it is `eligible` (not fenced).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn follower_fetch(
        &self,
        replica: i32,
        eligible: bool,
        current_leader_epoch: i32,
        fetch_offset: i64,
        last_fetched_epoch: i32,
        now_ms: i64,
        high_watermark: i64,
    ) -> Result<FollowerFetch, ResponseError> {
        let mut role = self.role.lock().expect("role lock");
        let Role::Leader(leadership) = &mut *role else { return Err(ResponseError::NotLeaderOrFollower) };
        check_epoch(current_leader_epoch, leadership.leader_epoch())?;
        if !leadership.is_follower(replica) {
            return Err(ResponseError::NotLeaderOrFollower);
        }
        if last_fetched_epoch >= 0 {
            let (epoch, end_offset) = self.log.end_offset_for_epoch(last_fetched_epoch);
            if epoch < last_fetched_epoch || end_offset < fetch_offset {
                return Ok(FollowerFetch::Diverged { epoch, end_offset });
            }
        }
        let end = self.log.log_end_offset();
        if fetch_offset > end || fetch_offset < self.log.log_start_offset() {
            // Not progress: the read answers OFFSET_OUT_OF_RANGE with the log's bounds.
            return Ok(FollowerFetch::Serve(None));
        }
        leadership.record_fetch(replica, fetch_offset, end, now_ms);
        self.update_floor(&role);
        let Role::Leader(leadership) = &mut *role else { unreachable!("checked above") };
        let isr = if eligible { leadership.expand_isr(replica, high_watermark) } else { None };
        Ok(FollowerFetch::Serve(isr.map(|isr| self.alter_isr(leadership, isr))))
    }

    /// The ISR shrink this leader should ask for now, if any (the periodic check).
    pub(crate) fn check_isr(&self, now_ms: i64, lag_time_max_ms: i64) -> Option<AlterIsr> {
        let mut role = self.role.lock().expect("role lock");
        let Role::Leader(leadership) = &mut *role else { return None };
        let isr = leadership.shrink_isr(now_ms, lag_time_max_ms)?;
        Some(self.alter_isr(leadership, isr))
    }

    fn alter_isr(&self, l: &Leadership, isr: Vec<i32>) -> AlterIsr {
        AlterIsr {
            topic_id: self.topic_id,
            partition: self.index,
            leader_epoch: l.leader_epoch(),
            partition_epoch: l.state().partition_epoch,
            isr,
        }
    }

    /// The controller refused an ISR change made in `leader_epoch`.
    pub(crate) fn isr_change_failed(&self, leader_epoch: i32) {
        if let Role::Leader(l) = &mut *self.role.lock().expect("role lock")
            && l.leader_epoch() == leader_epoch
        {
            l.alter_failed();
        }
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
        if cfg!(feature = "bug-ack-before-replication") {
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

    /// The log stamps `epoch` from now on; a failure to save that leaves the log offline, which
    /// its next append reports.
    fn stamp_epoch(&self, epoch: i32) {
        if let Err(e) = self.log.set_leader_epoch(epoch) {
            warn!(topic = self.topic, partition = self.index, error = %e, "saving the leader epoch failed");
        }
    }

    fn update_floor(&self, role: &Role) {
        if let Role::Leader(l) = role
            && let Some(floor) = l.floor(self.min_insync.load(Ordering::Relaxed))
        {
            self.log.set_replication_floor(floor);
        }
    }
}

/// Kafka's leader epoch check: an older epoch than the leader's is fenced, a newer one is one
/// this broker has not heard of yet.
pub fn check_epoch(requested: i32, current: i32) -> Result<(), ResponseError> {
    match requested {
        -1 => Ok(()),
        r if r < current => Err(ResponseError::FencedLeaderEpoch),
        r if r > current => Err(ResponseError::UnknownLeaderEpoch),
        _ => Ok(()),
    }
}

/// What `set_role` needs from a topic: its `min.insync.replicas`, else the broker's.
pub fn min_insync(configs: &std::collections::BTreeMap<String, String>, broker_default: i32) -> usize {
    configs.get("min.insync.replicas").and_then(|v| v.parse::<usize>().ok()).unwrap_or(broker_default.max(1) as usize)
}
