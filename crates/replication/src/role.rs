//! A replica's role in its partition, as the metadata gives it (leader, follower, or the only
//! replica), and what each role decides: a leader judges its followers' fetches, proposes ISR
//! changes and bounds its high watermark by the slowest in-sync follower; a follower's bound
//! is its leader's high watermark (set by the fetcher).
//!
//! A partition with one replica is not replicated: its high watermark is the local log's.
//! Plain code over a `Log`, so the broker and the deterministic simulation run the same rules.

use brook_log::Log;
use kafka_protocol::error::ResponseError;
use tracing::warn;

use crate::leader::{Leadership, PartitionState};

pub enum Role {
    Unreplicated,
    Leader(Leadership),
    Follower { leader: i32, leader_epoch: i32 },
}

/// What a role change made of this replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assumed {
    Unreplicated,
    /// It leads; `new` when this leader epoch begins here.
    Leader {
        new: bool,
    },
    /// It follows `leader` (-1: nobody leads); `new` when this leadership is new to it.
    Follower {
        leader: i32,
        new: bool,
    },
}

/// An ISR a leader proposes to the controller (Kafka's AlterPartition), in the leader and
/// partition epochs it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrProposal {
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub isr: Vec<i32>,
}

/// A follower's fetch as its leader judges it.
#[derive(Debug, PartialEq, Eq)]
pub enum FollowerFetch {
    /// Serve it from its fetch offset; maybe ask for an ISR change.
    Serve(Option<IsrProposal>),
    /// The logs diverged: the follower truncates to `end_offset` of `epoch` first.
    Diverged { epoch: i32, end_offset: i64 },
}

/// A follower's fetch of one partition, as the leader reads it.
#[derive(Debug, Clone, Copy)]
pub struct FollowerPosition {
    pub replica: i32,
    /// Not fenced: the metadata lets it join the ISR.
    pub eligible: bool,
    pub current_leader_epoch: i32,
    pub fetch_offset: i64,
    pub last_fetched_epoch: i32,
}

impl Role {
    /// Takes the role the metadata gives this replica on `node_id`: `leader` leads `state`.
    pub fn assume(
        &mut self,
        log: &Log,
        node_id: i32,
        leader: i32,
        state: PartitionState,
        min_insync: usize,
        now_ms: i64,
    ) -> Assumed {
        if state.replicas.len() <= 1 {
            stamp_epoch(log, state.leader_epoch);
            *self = Role::Unreplicated;
            return Assumed::Unreplicated;
        }
        log.start_replication();
        if leader == node_id {
            let new = match self {
                Role::Leader(l) if l.leader_epoch() == state.leader_epoch => {
                    l.update(state);
                    false
                }
                _ => {
                    stamp_epoch(log, state.leader_epoch);
                    *self = Role::Leader(Leadership::new(node_id, state, log.log_end_offset(), now_ms));
                    true
                }
            };
            self.update_floor(log, min_insync);
            Assumed::Leader { new }
        } else {
            let new = !matches!(self, Role::Follower { leader_epoch, .. } if *leader_epoch == state.leader_epoch);
            *self = Role::Follower { leader, leader_epoch: state.leader_epoch };
            Assumed::Follower { leader, new }
        }
    }

    /// The leader epoch batches appended now are stamped with; `None` on a follower.
    pub fn append_epoch(&self, log: &Log) -> Option<i32> {
        match self {
            Role::Unreplicated => Some(log.latest_epoch()),
            Role::Leader(l) => Some(l.leader_epoch()),
            Role::Follower { .. } => None,
        }
    }

    /// A leader's check of a follower's fetch (Kafka's `fetchRecords` for a replica): the
    /// leader epoch it expects, whether its log diverged from this one, then its progress,
    /// which may bring it into the ISR if it is eligible. `high_watermark` is the one before
    /// this fetch.
    pub fn follower_fetch(
        &mut self,
        log: &Log,
        min_insync: usize,
        fetch: FollowerPosition,
        high_watermark: i64,
        now_ms: i64,
    ) -> Result<FollowerFetch, ResponseError> {
        let leadership = match self {
            Role::Leader(leadership) => leadership,
            // The metadata already names this replica leader in a newer epoch than the one it
            // follows in (its role changes just after): as Kafka, whose check is against the
            // partition's own epoch, the follower is told to retry soon, not to back off.
            Role::Follower { leader_epoch, .. } if fetch.current_leader_epoch > *leader_epoch => {
                return Err(ResponseError::UnknownLeaderEpoch);
            }
            _ => return Err(ResponseError::NotLeaderOrFollower),
        };
        check_epoch(fetch.current_leader_epoch, leadership.leader_epoch())?;
        if !leadership.is_follower(fetch.replica) {
            return Err(ResponseError::NotLeaderOrFollower);
        }
        if fetch.last_fetched_epoch >= 0 {
            let (epoch, end_offset) = log.end_offset_for_epoch(fetch.last_fetched_epoch);
            if epoch < fetch.last_fetched_epoch || end_offset < fetch.fetch_offset {
                return Ok(FollowerFetch::Diverged { epoch, end_offset });
            }
        }
        let end = log.log_end_offset();
        if fetch.fetch_offset > end || fetch.fetch_offset < log.log_start_offset() {
            // Not progress: the read answers OFFSET_OUT_OF_RANGE with the log's bounds.
            return Ok(FollowerFetch::Serve(None));
        }
        leadership.record_fetch(fetch.replica, fetch.fetch_offset, end, now_ms);
        let isr = if fetch.eligible { leadership.expand_isr(fetch.replica, high_watermark) } else { None };
        let answer = FollowerFetch::Serve(isr.map(|isr| proposal(leadership, isr)));
        // After the expansion: a follower that joins counts at once, so the floor drops to
        // its log end before the leader's next sync can move the high watermark past it.
        self.update_floor(log, min_insync);
        Ok(answer)
    }

    /// On a leader, the in-sync followers that hold `offset` (with their log ends); `None`
    /// elsewhere.
    pub fn read_candidates(&self, offset: i64) -> Option<Vec<(i32, i64)>> {
        match self {
            Role::Leader(l) => Some(l.read_candidates(offset)),
            _ => None,
        }
    }

    /// The ISR shrink this leader should ask for now, if any (the periodic check).
    pub fn check_isr(&mut self, now_ms: i64, lag_time_max_ms: i64) -> Option<IsrProposal> {
        let Role::Leader(leadership) = self else { return None };
        let isr = leadership.shrink_isr(now_ms, lag_time_max_ms)?;
        Some(proposal(leadership, isr))
    }

    /// The controller refused an ISR change made in `leader_epoch`.
    pub fn isr_change_failed(&mut self, leader_epoch: i32) {
        if let Role::Leader(l) = self
            && l.leader_epoch() == leader_epoch
        {
            l.alter_failed();
        }
    }

    /// Whether this replica follows the leadership of `leader_epoch` (what that leader answers
    /// may land in its log).
    pub fn follows(&self, leader_epoch: i32) -> bool {
        matches!(self, Role::Follower { leader_epoch: e, .. } if *e == leader_epoch)
    }

    /// Whether an acks=all write appended in `leader_epoch` is still this replica's to answer.
    pub fn leads_in(&self, leader_epoch: i32) -> bool {
        match self {
            Role::Unreplicated => true,
            Role::Leader(l) => l.leader_epoch() == leader_epoch,
            Role::Follower { .. } => false,
        }
    }

    fn update_floor(&self, log: &Log, min_insync: usize) {
        if let Role::Leader(l) = self
            && let Some(floor) = l.floor(min_insync)
        {
            log.set_replication_floor(floor);
        }
    }
}

fn proposal(l: &Leadership, isr: Vec<i32>) -> IsrProposal {
    IsrProposal { leader_epoch: l.leader_epoch(), partition_epoch: l.state().partition_epoch, isr }
}

/// The log stamps `epoch` from now on; a failure to save that leaves the log offline, which
/// its next append reports.
fn stamp_epoch(log: &Log, epoch: i32) {
    if let Err(e) = log.set_leader_epoch(epoch) {
        warn!(dir = %log.dir().display(), error = %e, "saving the leader epoch failed");
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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use brook_log::sim::SimStorage;
    use brook_log::{Durability, LogConfig, LogEnv, ManualClock};

    use super::*;

    fn fetch(replica: i32, fetch_offset: i64) -> FollowerPosition {
        FollowerPosition { replica, eligible: true, current_leader_epoch: 1, fetch_offset, last_fetched_epoch: 1 }
    }

    /// Found by the simulation: a follower that joins the ISR at the high watermark holds the
    /// mark there, although the other follower is further ahead and the leader's next sync
    /// would otherwise move it past what the newcomer has (which could then be elected
    /// without those records).
    #[test]
    fn a_joining_follower_holds_the_high_watermark_at_once() {
        let env = LogEnv::new(SimStorage::new(), Arc::new(ManualClock::new(0)), None);
        let log = Log::open(Path::new("/p"), LogConfig::default(), env).expect("open");
        let mut role = Role::Unreplicated;
        let state = PartitionState { leader_epoch: 1, partition_epoch: 1, replicas: vec![1, 2, 3], isr: vec![1, 2] };
        role.assume(&log, 1, 1, state, 2, 0);
        let append = || log.append(brook_log::batch::build::simple(0, 1, 8), Durability::Sync).expect("append");
        append();
        append();
        log.sync().expect("sync");
        role.follower_fetch(&log, 2, fetch(2, 2), log.high_watermark(), 1).expect("served");
        assert_eq!(log.high_watermark(), 2);
        // Two more records: replica 2 has them before the leader's own sync.
        append();
        append();
        role.follower_fetch(&log, 2, fetch(2, 4), log.high_watermark(), 2).expect("served");
        assert_eq!(log.high_watermark(), 2, "the leader has not synced them");
        // Replica 3 has the high watermark, so it may join.
        let joined = role.follower_fetch(&log, 2, fetch(3, 2), log.high_watermark(), 3).expect("served");
        assert!(matches!(joined, FollowerFetch::Serve(Some(ref p)) if p.isr == vec![1, 2, 3]), "{joined:?}");
        log.sync().expect("sync");
        assert_eq!(log.high_watermark(), 2, "replica 3, joining, holds only offsets below 2");
        role.follower_fetch(&log, 2, fetch(3, 4), log.high_watermark(), 4).expect("served");
        assert_eq!(log.high_watermark(), 4);
    }

    /// A follower fetching in the epoch where this replica, still following, is about to lead
    /// is told to retry soon (UNKNOWN_LEADER_EPOCH); one fetching from a mere follower, or in
    /// an epoch this replica already followed, is misdirected (NOT_LEADER_OR_FOLLOWER).
    #[test]
    fn a_leader_to_be_asks_followers_to_retry() {
        let env = LogEnv::new(SimStorage::new(), Arc::new(ManualClock::new(0)), None);
        let log = Log::open(Path::new("/p"), LogConfig::default(), env).expect("open");
        let mut role = Role::Follower { leader: 2, leader_epoch: 1 };
        let ahead = FollowerPosition { current_leader_epoch: 2, ..fetch(3, 0) };
        assert_eq!(role.follower_fetch(&log, 2, ahead, 0, 0), Err(ResponseError::UnknownLeaderEpoch));
        assert_eq!(role.follower_fetch(&log, 2, fetch(3, 0), 0, 0), Err(ResponseError::NotLeaderOrFollower));
    }
}
