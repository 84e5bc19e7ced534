//! A partition leader's view of its followers (Kafka's `Partition` / `Replica` state on the
//! leader): how far each has copied, when it last caught up, and from that the ISR changes to
//! propose and the replication floor.
//!
//! Safety rules, as Kafka's:
//! - The floor is taken over the *maximal* ISR: the committed one plus a proposed expansion,
//!   and a proposed shrink counts only once committed. So the high watermark never passes a
//!   replica that the controller may still count as in sync.
//! - While the committed ISR is smaller than `min.insync.replicas` the floor is not offered
//!   (the high watermark stays), which is Brook's durability rule.
//! - A follower joins the ISR only once it holds everything up to the high watermark and
//!   everything since this leadership began.

use std::collections::HashMap;

/// A partition's replicas, ISR and epochs as the metadata says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

#[derive(Debug, Clone, Copy)]
struct Progress {
    /// The follower's fetch offset: what it holds (durably, under `flush.on.ack`); -1 until
    /// its first fetch in this leadership.
    log_end: i64,
    last_caught_up_ms: i64,
    last_fetch_ms: i64,
    /// The leader's log end at the follower's previous fetch.
    last_fetch_leader_end: i64,
}

impl Progress {
    /// A follower not heard from in this leadership.
    fn unknown(last_caught_up_ms: i64) -> Progress {
        Progress { log_end: -1, last_caught_up_ms, last_fetch_ms: 0, last_fetch_leader_end: -1 }
    }
}

/// One leadership of one partition: from the metadata naming this node leader in an epoch
/// until the next epoch.
#[derive(Debug)]
pub struct Leadership {
    node_id: i32,
    state: PartitionState,
    /// An ISR sent to the controller and not in the metadata yet.
    pending: Option<Vec<i32>>,
    followers: HashMap<i32, Progress>,
    /// The leader's log end when the leadership began (Kafka's leader epoch start offset).
    epoch_start_offset: i64,
}

impl Leadership {
    /// Followers in the ISR count as caught up now, so none is dropped before it could fetch.
    pub fn new(node_id: i32, state: PartitionState, log_end: i64, now_ms: i64) -> Leadership {
        let followers = state
            .replicas
            .iter()
            .filter(|id| **id != node_id)
            .map(|id| (*id, Progress::unknown(if state.isr.contains(id) { now_ms } else { i64::MIN / 2 })))
            .collect();
        Leadership { node_id, state, pending: None, followers, epoch_start_offset: log_end }
    }

    pub fn state(&self) -> &PartitionState {
        &self.state
    }

    pub fn leader_epoch(&self) -> i32 {
        self.state.leader_epoch
    }

    /// The metadata changed within this leadership (same leader epoch): a new partition epoch
    /// settles any proposed ISR.
    /// A reassignment may add replicas (tracked from their first fetch, out of sync until
    /// they catch up) or remove them (forgotten).
    pub fn update(&mut self, state: PartitionState) {
        if state.partition_epoch != self.state.partition_epoch {
            self.pending = None;
        }
        let node_id = self.node_id;
        self.followers.retain(|id, _| state.replicas.contains(id));
        for id in state.replicas.iter().filter(|id| **id != node_id) {
            self.followers.entry(*id).or_insert(Progress::unknown(i64::MIN / 2));
        }
        self.state = state;
    }

    /// The controller refused the proposed ISR: propose again from the metadata's.
    pub fn alter_failed(&mut self) {
        self.pending = None;
    }

    /// Whether `replica` is one of this partition's followers.
    pub fn is_follower(&self, replica: i32) -> bool {
        self.followers.contains_key(&replica)
    }

    /// The in-sync followers that hold `offset`, with their log ends: where a consumer may be
    /// sent to read it (KIP-392, Kafka's `findPreferredReadReplica`).
    pub fn read_candidates(&self, offset: i64) -> Vec<(i32, i64)> {
        let mut candidates: Vec<(i32, i64)> = self
            .followers
            .iter()
            .filter(|(id, p)| self.state.isr.contains(id) && p.log_end >= offset && p.log_end >= 0)
            .map(|(id, p)| (*id, p.log_end))
            .collect();
        candidates.sort_unstable();
        candidates
    }

    /// Notes a follower's fetch at `fetch_offset` while the leader's log ends at `leader_end`
    /// (Kafka's `updateFetchState`): caught up if it asked for the end, or for at least what
    /// the end was at its previous fetch.
    pub fn record_fetch(&mut self, replica: i32, fetch_offset: i64, leader_end: i64, now_ms: i64) {
        let Some(p) = self.followers.get_mut(&replica) else { return };
        if fetch_offset >= leader_end {
            p.last_caught_up_ms = p.last_caught_up_ms.max(now_ms);
        } else if fetch_offset >= p.last_fetch_leader_end && p.last_fetch_leader_end >= 0 {
            p.last_caught_up_ms = p.last_caught_up_ms.max(p.last_fetch_ms);
        }
        p.log_end = fetch_offset;
        p.last_fetch_leader_end = leader_end;
        p.last_fetch_ms = now_ms;
    }

    /// The bound on the high watermark: the smallest log end among the maximal ISR's
    /// followers (`i64::MAX` when the leader is alone in it); `None` while the ISR is smaller
    /// than `min_insync`.
    pub fn floor(&self, min_insync: usize) -> Option<i64> {
        if crate::bugs::planted("hw-leader-end") {
            return Some(i64::MAX);
        }
        if self.state.isr.len() < min_insync {
            return None;
        }
        let maximal = self.state.isr.iter().chain(self.pending.iter().flatten());
        Some(
            maximal
                .filter(|id| **id != self.node_id)
                .map(|id| self.followers.get(id).map_or(-1, |p| p.log_end))
                .min()
                .unwrap_or(i64::MAX),
        )
    }

    /// The ISR without the followers that have not caught up for `lag_time_max_ms` (Kafka's
    /// `maybeShrinkIsr`), if any; it becomes pending. Nothing while a proposal is pending.
    pub fn shrink_isr(&mut self, now_ms: i64, lag_time_max_ms: i64) -> Option<Vec<i32>> {
        if self.pending.is_some() {
            return None;
        }
        let keep = |id: &i32| {
            *id == self.node_id
                || self.followers.get(id).is_some_and(|p| now_ms.saturating_sub(p.last_caught_up_ms) <= lag_time_max_ms)
        };
        let isr: Vec<i32> = self.state.isr.iter().copied().filter(keep).collect();
        self.propose(isr)
    }

    /// The ISR with `replica` added if it holds everything up to `high_watermark` and since
    /// this leadership began (Kafka's `maybeExpandIsr`); it becomes pending. Nothing while a
    /// proposal is pending.
    pub fn expand_isr(&mut self, replica: i32, high_watermark: i64) -> Option<Vec<i32>> {
        if self.pending.is_some() || self.state.isr.contains(&replica) {
            return None;
        }
        let needed = high_watermark.max(self.epoch_start_offset);
        if !self.followers.get(&replica).is_some_and(|p| p.log_end >= 0 && p.log_end >= needed) {
            return None;
        }
        let isr: Vec<i32> =
            self.state.replicas.iter().copied().filter(|id| *id == replica || self.state.isr.contains(id)).collect();
        self.propose(isr)
    }

    fn propose(&mut self, isr: Vec<i32>) -> Option<Vec<i32>> {
        if isr.len() == self.state.isr.len() || !isr.contains(&self.node_id) {
            return None;
        }
        self.pending = Some(isr.clone());
        Some(isr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(isr: &[i32]) -> PartitionState {
        PartitionState { leader_epoch: 1, partition_epoch: 4, replicas: vec![1, 2, 3], isr: isr.to_vec() }
    }

    /// The floor is the slowest in-sync follower; unknown followers hold it at -1; a lone
    /// leader has none; below min ISR there is no floor.
    #[test]
    fn floor_follows_the_slowest_in_sync_replica() {
        let mut l = Leadership::new(1, state(&[1, 2, 3]), 100, 0);
        assert_eq!(l.floor(2), Some(-1));
        l.record_fetch(2, 90, 100, 10);
        l.record_fetch(3, 80, 100, 10);
        assert_eq!(l.floor(2), Some(80));
        l.update(PartitionState { partition_epoch: 5, ..state(&[1, 2]) });
        assert_eq!(l.floor(2), Some(90), "3 left the ISR");
        assert_eq!(l.floor(3), None, "ISR 2 < min ISR 3");
        l.update(PartitionState { partition_epoch: 6, ..state(&[1]) });
        assert_eq!(l.floor(1), Some(i64::MAX));
    }

    /// A follower that stops catching up leaves after the lag time; one that holds the high
    /// watermark joins; the proposal is pending until the metadata has it, and counts for the
    /// floor (expansion) meanwhile.
    #[test]
    fn isr_shrinks_and_expands() {
        let mut l = Leadership::new(1, state(&[1, 2, 3]), 100, 0);
        l.record_fetch(2, 100, 100, 1_000);
        l.record_fetch(3, 50, 100, 1_000);
        assert_eq!(l.shrink_isr(20_000, 30_000), None, "within the lag time");
        l.record_fetch(2, 100, 100, 31_000);
        assert_eq!(l.shrink_isr(31_000, 30_000), Some(vec![1, 2]), "3 lagged 31 s");
        assert_eq!(l.shrink_isr(32_000, 30_000), None, "pending");
        assert_eq!(l.floor(1), Some(50), "a pending shrink does not count yet");
        l.update(PartitionState { partition_epoch: 5, ..state(&[1, 2]) });
        assert_eq!(l.floor(1), Some(100));
        l.record_fetch(3, 99, 120, 32_000);
        assert_eq!(l.expand_isr(3, 100), None, "3 is below the high watermark");
        l.record_fetch(3, 120, 120, 33_000);
        assert_eq!(l.expand_isr(2, 100), None, "2 is in already");
        assert_eq!(l.expand_isr(3, 100), Some(vec![1, 2, 3]));
        assert_eq!(l.floor(1), Some(100), "a pending expansion counts at once");
        l.alter_failed();
        assert_eq!(l.expand_isr(3, 100), Some(vec![1, 2, 3]), "proposed again");
    }

    /// Catching up to the leader's end as it was at the previous fetch counts from that fetch
    /// (a follower always one batch behind a busy leader stays in sync); falling short of it
    /// does not.
    #[test]
    fn caught_up_to_the_previous_end() {
        let mut l = Leadership::new(1, state(&[1, 2]), 0, 0);
        l.record_fetch(2, 0, 10, 1_000);
        l.record_fetch(2, 10, 20, 2_000);
        l.record_fetch(2, 20, 30, 3_000);
        assert_eq!(l.shrink_isr(31_000, 30_000), None, "caught up as of 2 s");
        l.record_fetch(2, 25, 40, 33_000);
        assert_eq!(l.shrink_isr(33_000, 30_000), Some(vec![1]), "not caught up since 2 s");
    }

    /// A reassignment adds replica 4: it is followed from its first fetch and joins once
    /// caught up; removing replica 3 forgets it, so it no longer holds the floor.
    #[test]
    fn reassigned_replicas_are_followed_and_forgotten() {
        let mut l = Leadership::new(1, state(&[1, 2, 3]), 100, 0);
        l.record_fetch(2, 100, 100, 1_000);
        l.record_fetch(3, 90, 100, 1_000);
        l.update(PartitionState { partition_epoch: 5, replicas: vec![1, 2, 4, 3], ..state(&[1, 2, 3]) });
        assert!(l.is_follower(4));
        l.record_fetch(4, 100, 100, 2_000);
        assert_eq!(l.expand_isr(4, 100), Some(vec![1, 2, 4, 3]));
        l.update(PartitionState { partition_epoch: 7, replicas: vec![1, 2, 4], ..state(&[1, 2, 4]) });
        assert!(!l.is_follower(3));
        assert_eq!(l.floor(2), Some(100), "3 no longer counts");
    }
}
