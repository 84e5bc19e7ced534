//! The share-partitions of the partitions this broker leads. One is initialized on first use
//! in a leader epoch: from the share coordinator's snapshot, or, for a group that never
//! fetched it, at the offset `share.auto.offset.reset` picks (written at once, as Kafka's
//! InitializeShareGroupState, so a restart does not move it). Acknowledgements change it in
//! memory and are answered once `flush` has written the change.

use std::collections::BTreeMap;

use brook_share::records::{Key, Snapshot};
use brook_share::{Ack, AckError, Acquired, Limits, SharePartition};
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use super::{Inner, Shares};
use crate::broker::{ApiError, Broker};

pub(super) struct Held {
    pub(super) partition: SharePartition,
    leader_epoch: i32,
    state_epoch: i32,
    created_ms: i64,
}

/// What one share-partition gave a ShareFetch.
pub struct FetchedShare {
    pub records: Bytes,
    pub acquired: Vec<Acquired>,
}

/// An acknowledgement's outcome for one partition, and the change it must wait for.
pub struct AckOutcome {
    pub error: Option<(ResponseError, String)>,
    pub change: Option<u64>,
}

fn ack_error(e: AckError) -> (ResponseError, String) {
    match e {
        AckError::InvalidRequest(m) => (ResponseError::InvalidRequest, m),
        AckError::InvalidRecordState(m) => (ResponseError::InvalidRecordState, m),
    }
}

impl Inner {
    fn changed(&mut self, key: &Key) -> u64 {
        self.dirty.insert(key.clone());
        self.changes += 1;
        self.changes
    }
}

impl Shares {
    /// The share-partition `key` on a partition this broker leads in `leader_epoch`, after
    /// archiving what the log no longer has and releasing expired locks: the offset the next
    /// fetch reads from and the change to write, if any. None if it must be initialized first.
    /// `limits` are the group's now (its configs may have changed).
    pub fn prepare(
        &self,
        key: &Key,
        leader_epoch: i32,
        log_start: i64,
        now_ms: i64,
        limits: Limits,
    ) -> Option<(i64, Option<u64>)> {
        let mut inner = self.lock();
        let held = inner.held.get_mut(key).filter(|h| h.leader_epoch == leader_epoch)?;
        held.partition.set_limits(limits);
        let mut moved = held.partition.archive_below(log_start);
        moved |= held.partition.expire_locks(now_ms);
        let next = held.partition.next_fetch_offset(now_ms);
        Some((next, moved.then(|| inner.changed(key))))
    }

    /// Initializes the share-partition from its persisted state, or at `start` if it has
    /// none. Returns the change to write for a new one.
    pub async fn initialize(
        &self,
        broker: &Broker,
        key: &Key,
        leader_epoch: i32,
        start: i64,
        now_ms: i64,
        limits: Limits,
    ) -> Result<Option<u64>, ResponseError> {
        let persisted = self.fetch_state(broker, key, leader_epoch).await?;
        let mut inner = self.lock();
        if inner.held.get(key).is_some_and(|h| h.leader_epoch == leader_epoch) {
            // Another request initialized it meanwhile.
            return Ok(None);
        }
        let fresh = persisted.is_none();
        let held = match persisted {
            Some(s) => Held {
                partition: SharePartition::restore(s.start_offset, &s.batches, limits),
                leader_epoch,
                state_epoch: s.state_epoch,
                created_ms: if s.create_timestamp >= 0 { s.create_timestamp } else { now_ms },
            },
            None => {
                Held { partition: SharePartition::new(start, limits), leader_epoch, state_epoch: 0, created_ms: now_ms }
            }
        };
        inner.held.insert(key.clone(), held);
        Ok(fresh.then(|| inner.changed(key)))
    }

    /// Acquires for `member` what lies below `readable_end` (the end of the records read for
    /// it), at most `max_records`.
    pub fn acquire(
        &self,
        key: &Key,
        member: &str,
        now_ms: i64,
        readable_end: i64,
        max_records: usize,
    ) -> Vec<Acquired> {
        let mut inner = self.lock();
        let Some(held) = inner.held.get_mut(key) else { return Vec::new() };
        held.partition.acquire(member, now_ms, readable_end, max_records)
    }

    /// Archives what `member` just acquired inside `aborted` (batches of aborted transactions)
    /// and returns the rest of `acquired`.
    pub fn archive_aborted(
        &self,
        key: &Key,
        member: &str,
        aborted: &[(i64, i64)],
        acquired: Vec<Acquired>,
    ) -> Vec<Acquired> {
        let mut inner = self.lock();
        let Some(held) = inner.held.get_mut(key) else { return Vec::new() };
        held.partition.archive_aborted(member, aborted, acquired)
    }

    /// Applies `member`'s acknowledgements to one share-partition.
    pub fn acknowledge(&self, key: &Key, member: &str, now_ms: i64, acks: &[Ack]) -> AckOutcome {
        let mut inner = self.lock();
        let Some(held) = inner.held.get_mut(key) else {
            let message = "the records were not delivered by this share-partition leader".to_string();
            return AckOutcome { error: Some((ResponseError::InvalidRecordState, message)), change: None };
        };
        match held.partition.acknowledge(member, now_ms, acks) {
            Err(e) => AckOutcome { error: Some(ack_error(e)), change: None },
            Ok(false) => AckOutcome { error: None, change: None },
            Ok(true) => {
                let change = inner.changed(key);
                drop(inner);
                // Released records, and the record locks that accepted or rejected ones gave
                // back, are for the members waiting.
                self.released.send_modify(|n| *n += 1);
                AckOutcome { error: None, change: Some(change) }
            }
        }
    }

    /// Gives back what `member` holds in `partitions` (its share session closed).
    pub fn release_member(&self, group: &str, member: &str, partitions: &[(Uuid, i32)]) -> Option<u64> {
        let mut inner = self.lock();
        let mut change = None;
        for &(topic_id, partition) in partitions {
            let key = Key { group: group.to_string(), topic_id, partition };
            if inner.held.get_mut(&key).is_some_and(|h| h.partition.release_member(member)) {
                change = Some(inner.changed(&key));
            }
        }
        drop(inner);
        if change.is_some() {
            self.released.send_modify(|n| *n += 1);
        }
        change
    }

    /// The earliest lock deadline among `keys`, when a waiting fetch should look again.
    pub fn next_lock_expiry(&self, keys: &[Key]) -> Option<i64> {
        let inner = self.lock();
        keys.iter().filter_map(|k| inner.held.get(k)).filter_map(|h| h.partition.next_lock_expiry()).min()
    }

    pub fn subscribe_released(&self) -> tokio::sync::watch::Receiver<u64> {
        self.released.subscribe()
    }

    /// Forgets the share-partitions of partitions this broker no longer leads.
    pub fn retain_led(&self, leads: impl Fn(Uuid, i32) -> bool) {
        self.lock().held.retain(|k, _| leads(k.topic_id, k.partition));
    }

    /// Writes every change up to `change` (and any made meanwhile) to `__share_group_state`,
    /// as snapshots. One caller writes at a time; the others find their change written.
    pub async fn flush(&self, broker: &Broker, change: u64) -> Result<(), ApiError> {
        let _writing = self.write.lock().await;
        let (snapshots, upto) = {
            let mut inner = self.lock();
            if inner.written >= change {
                return Ok(());
            }
            let now_ms = broker.clock.now_ms();
            let dirty = std::mem::take(&mut inner.dirty);
            let mut snapshots = Vec::with_capacity(dirty.len());
            for key in dirty {
                let Some(held) = inner.held.get(&key) else { continue };
                let snapshot = Snapshot {
                    snapshot_epoch: 0,
                    state_epoch: held.state_epoch,
                    leader_epoch: held.leader_epoch,
                    start_offset: held.partition.start_offset(),
                    create_timestamp: held.created_ms,
                    write_timestamp: now_ms,
                    batches: held.partition.state_batches(),
                };
                snapshots.push((key, snapshot));
            }
            (snapshots, inner.changes)
        };
        let keys: Vec<Key> = snapshots.iter().map(|(k, _)| k.clone()).collect();
        let mut by_partition: BTreeMap<i32, Vec<(Key, Snapshot)>> = BTreeMap::new();
        for (key, snapshot) in snapshots {
            by_partition.entry(self.config.state_partition(&key)).or_default().push((key, snapshot));
        }
        let mut result = Ok(());
        for (partition, writes) in by_partition {
            if let Err(e) = self.persist(broker, partition, writes).await {
                result = Err(e);
                break;
            }
        }
        let mut inner = self.lock();
        match result {
            Ok(()) => {
                inner.written = upto;
                Ok(())
            }
            Err(e) if e.code == ResponseError::FencedStateEpoch => {
                // The state was reset meanwhile (AlterShareGroupOffsets): these share-partitions
                // are read again at their next fetch, and what they held here is dropped.
                for key in &keys {
                    inner.held.remove(key);
                }
                Err(e)
            }
            Err(e) => {
                // Written again with the next change; this one's caller is told it failed.
                inner.dirty.extend(keys);
                Err(e)
            }
        }
    }
}
