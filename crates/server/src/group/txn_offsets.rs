//! Offsets committed inside a producer's transaction (TxnOffsetCommit), as Kafka's group
//! coordinator keeps them: written to the group's `__consumer_offsets` partition in the
//! producer's transaction (a transactional batch with its id and epoch), held pending per
//! producer, and applied when the transaction's commit marker lands there (dropped by an
//! abort marker). A consumer asking for stable offsets is told UNSTABLE_OFFSET_COMMIT
//! while one is pending.

use std::collections::HashMap;
use std::time::Duration;

use brook_log::batch::{self, Producer, Record};
use kafka_protocol::error::ResponseError;

use super::classic::{Committed, Group};
use super::records::{Key, OffsetValue};
use super::{CommitPartition, GroupCoordinator, OFFSETS_TOPIC, State};
use crate::broker::Broker;
use crate::internal_topic::partition_of;

/// The producer of a transactional offset commit, and the member and generation it names
/// (v3+; -1 and "" from older clients, which skip the check).
pub struct TxnCommitter<'a> {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub member_id: &'a str,
    pub instance_id: Option<&'a str>,
    pub generation: i32,
}

impl GroupCoordinator {
    /// TxnOffsetCommit: the offsets are in the log (pending) before the answer. The group's
    /// error, else one result per partition.
    pub async fn txn_commit(
        &self,
        broker: &Broker,
        group_id: &str,
        committer: TxnCommitter<'_>,
        partitions: Vec<CommitPartition>,
    ) -> Result<Vec<Option<ResponseError>>, ResponseError> {
        let now_ms = broker.clock.now_ms();
        let max_metadata = self.config.offset_metadata_max_bytes;
        let mut results = vec![None; partitions.len()];
        let mut written: Vec<(usize, OffsetValue)> = Vec::new();
        let mut records = Vec::new();
        {
            let mut guard = self.lock(now_ms);
            validate(&mut guard.state.groups, group_id, &committer, now_ms)?;
            for (i, p) in partitions.iter().enumerate() {
                let metadata = p.metadata.clone().unwrap_or_default();
                if metadata.len() > max_metadata {
                    results[i] = Some(ResponseError::OffsetMetadataTooLarge);
                    continue;
                }
                let key = Key::Offset { group: group_id.to_string(), topic: p.topic.clone(), partition: p.partition };
                let value =
                    OffsetValue { offset: p.offset, leader_epoch: p.leader_epoch, metadata, commit_timestamp: now_ms };
                records.push(Record { timestamp_delta: 0, key: Some(key.encode()), value: Some(value.encode()) });
                written.push((i, value));
            }
        }
        if records.is_empty() {
            return Ok(results);
        }
        broker.ensure_offsets_topic().await.map_err(|e| e.code)?;
        // The coordinator's write carries no sequence, as Kafka's.
        let producer = Producer::transactional(committer.producer_id, committer.producer_epoch, -1);
        let bytes = batch::build::from_producer(now_ms, &records, producer);
        let timeout = Duration::from_millis(self.config.offsets_commit_timeout_ms);
        let partition = self.partition_for(group_id);
        match broker.append_internal(OFFSETS_TOPIC, partition, bytes, timeout).await {
            Ok(appended) => {
                let mut guard = self.lock(now_ms);
                let group =
                    guard.state.groups.entry(group_id.to_string()).or_insert_with(|| Group::new(group_id, now_ms));
                let pending = group.pending_txn.entry(committer.producer_id).or_default();
                for (n, (i, value)) in written.into_iter().enumerate() {
                    let p = &partitions[i];
                    let log_offset = appended.base_offset + n as i64;
                    pending.insert((p.topic.clone(), p.partition), Committed { value, log_offset });
                }
            }
            Err(e) => {
                for (i, _) in written {
                    results[i] = Some(e.code);
                }
            }
        }
        Ok(results)
    }

    /// A transaction marker for `producer_id` is in `__consumer_offsets` partition
    /// `partition`: its pending offsets there are applied (commit) or dropped (abort).
    pub fn end_txn(&self, partition: i32, producer_id: i64, commit: bool) {
        let mut state = self.state.lock().expect("group coordinator lock");
        end_txn(&mut state, partition, producer_id, commit);
    }

    /// Whether a transactional commit of `group_id`'s offset for the partition is pending.
    pub fn txn_pending(&self, group_id: &str, topic: &str, partition: i32) -> bool {
        let state = self.state.lock().expect("group coordinator lock");
        let key = (topic.to_string(), partition);
        state.groups.get(group_id).is_some_and(|g| g.pending_txn.values().any(|p| p.contains_key(&key)))
    }
}

/// Applies or drops the pending offsets of `producer_id` in the groups of `partition`.
pub(super) fn end_txn(state: &mut State, partition: i32, producer_id: i64, commit: bool) {
    let partitions = state.config.offsets_topic_partitions;
    for group in state.groups.values_mut().filter(|g| partition_of(&g.id, partitions) == partition) {
        let Some(pending) = group.pending_txn.remove(&producer_id) else { continue };
        if !commit {
            continue;
        }
        for (key, committed) in pending {
            // A plain commit written after the transactional one wins, as its place in the log.
            if group.offsets.get(&key).is_none_or(|c| c.log_offset < committed.log_offset) {
                group.offsets.insert(key, committed);
            }
        }
    }
}

/// An offset record read back from a transactional batch of the log: pending until the
/// producer's marker, which comes later in the log.
pub(super) fn replay(state: &mut State, producer_id: i64, key: Option<&[u8]>, value: Option<&[u8]>, log_offset: i64) {
    let Some(Ok(Key::Offset { group, topic, partition })) = key.map(Key::decode) else {
        tracing::warn!(log_offset, "skipping a transactional record that is not an offset");
        return;
    };
    let Some(Ok(value)) = value.map(OffsetValue::decode) else {
        tracing::warn!(log_offset, "skipping an unreadable transactional offset");
        return;
    };
    let now_ms = state.now_ms;
    let g = state.groups.entry(group.clone()).or_insert_with(|| Group::new(&group, now_ms));
    g.pending_txn.entry(producer_id).or_default().insert((topic, partition), Committed { value, log_offset });
}

/// Kafka's TxnOffsetCommit checks: a member it names must be in the group, in the generation
/// it names (or the member epoch, for the consumer protocol); the group is created if needed.
fn validate(
    groups: &mut HashMap<String, Group>,
    group_id: &str,
    c: &TxnCommitter<'_>,
    now_ms: i64,
) -> Result<(), ResponseError> {
    if group_id.is_empty() {
        return Err(ResponseError::InvalidGroupId);
    }
    let group = groups.entry(group_id.to_string()).or_insert_with(|| Group::new(group_id, now_ms));
    let epoch_of = |id: &str| match (&group.consumer, &group.streams) {
        (Some(consumer), _) => Some(consumer.members.get(id).map(|m| m.epoch)),
        (_, Some(streams)) => Some(streams.members.get(id).map(|m| m.epoch)),
        _ => None,
    };
    if let Some(epoch) = epoch_of(c.member_id) {
        if c.member_id.is_empty() && c.generation < 0 {
            return Ok(());
        }
        let epoch = epoch.ok_or(ResponseError::UnknownMemberId)?;
        return if c.generation < 0 || c.generation == epoch { Ok(()) } else { Err(ResponseError::IllegalGeneration) };
    }
    if !c.member_id.is_empty() || c.instance_id.is_some() {
        group.validate_member(c.member_id, c.instance_id)?;
    }
    if c.generation >= 0 && c.generation != group.generation {
        return Err(ResponseError::IllegalGeneration);
    }
    Ok(())
}
