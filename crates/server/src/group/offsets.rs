//! Committed offsets: OffsetCommit (durable before it is acknowledged), OffsetFetch,
//! OffsetDelete, DeleteGroups, and the expiry of empty groups' offsets.

use std::collections::HashMap;

use kafka_protocol::error::ResponseError;
use tracing::info;

use super::classic::{Committed, Group, GroupState};
use super::records::{Key, OffsetValue};
use super::{GroupCoordinator, Write, consumer_records, persist};
use crate::broker::Broker;

/// One partition's offset in an OffsetCommit request.
pub struct CommitPartition {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// One partition's committed offset for OffsetFetch (-1 when nothing is committed).
pub struct FetchedOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
}

/// Who commits: the member and generation an OffsetCommit names.
pub struct Committer<'a> {
    pub member_id: &'a str,
    pub instance_id: Option<&'a str>,
    pub generation: i32,
    /// OffsetCommit v9+ answers GROUP_ID_NOT_FOUND where older versions say ILLEGAL_GENERATION.
    pub version: i16,
}

impl GroupCoordinator {
    /// Commits offsets durably. The group's error, else one result per partition.
    pub async fn commit(
        &self,
        broker: &Broker,
        group_id: &str,
        committer: Committer<'_>,
        partitions: Vec<CommitPartition>,
    ) -> Result<Vec<Option<ResponseError>>, ResponseError> {
        let now_ms = broker.clock.now_ms();
        let max_metadata = self.config.offset_metadata_max_bytes;
        let mut results = vec![None; partitions.len()];
        let mut writes: Vec<Write> = Vec::new();
        let mut written: Vec<usize> = Vec::new();
        {
            let mut guard = self.lock(now_ms);
            validate_commit(&mut guard.state.groups, group_id, &committer, now_ms)?;
            for (i, p) in partitions.iter().enumerate() {
                let metadata = p.metadata.clone().unwrap_or_default();
                if metadata.len() > max_metadata {
                    results[i] = Some(ResponseError::OffsetMetadataTooLarge);
                    continue;
                }
                let key = Key::Offset { group: group_id.to_string(), topic: p.topic.clone(), partition: p.partition };
                let value =
                    OffsetValue { offset: p.offset, leader_epoch: p.leader_epoch, metadata, commit_timestamp: now_ms };
                writes.push((key, Some(value.encode())));
                written.push(i);
            }
        }
        if writes.is_empty() {
            return Ok(results);
        }
        match persist(broker, writes).await {
            Ok(log_offsets) => {
                let mut guard = self.lock(now_ms);
                let group =
                    guard.state.groups.entry(group_id.to_string()).or_insert_with(|| Group::new(group_id, now_ms));
                for (&i, log_offset) in written.iter().zip(log_offsets) {
                    let p = &partitions[i];
                    let value = OffsetValue {
                        offset: p.offset,
                        leader_epoch: p.leader_epoch,
                        metadata: p.metadata.clone().unwrap_or_default(),
                        commit_timestamp: now_ms,
                    };
                    // Concurrent commits may finish out of order: the later record in the log wins.
                    let key = (p.topic.clone(), p.partition);
                    if group.offsets.get(&key).is_none_or(|c| c.log_offset < log_offset) {
                        group.offsets.insert(key, Committed { value, log_offset });
                    }
                }
            }
            Err(e) => {
                for i in written {
                    results[i] = Some(e.code);
                }
            }
        }
        Ok(results)
    }

    /// The committed offsets of `group_id`: those asked for, or all of them (`None`).
    pub fn fetch_offsets(&self, group_id: &str, wanted: Option<Vec<(String, Vec<i32>)>>) -> Vec<FetchedOffset> {
        let state = self.state.lock().expect("group coordinator lock");
        let group = state.groups.get(group_id);
        let lookup = |topic: &str, partition: i32| {
            let committed = group.and_then(|g| g.offsets.get(&(topic.to_string(), partition)));
            FetchedOffset {
                topic: topic.to_string(),
                partition,
                offset: committed.map_or(-1, |c| c.value.offset),
                leader_epoch: committed.map_or(-1, |c| c.value.leader_epoch),
                metadata: committed.map(|c| c.value.metadata.clone()).unwrap_or_default(),
            }
        };
        match wanted {
            Some(topics) => topics.iter().flat_map(|(t, ps)| ps.iter().map(|&p| lookup(t, p))).collect(),
            None => {
                let mut all: Vec<FetchedOffset> =
                    group.map(|g| g.offsets.keys().map(|(t, p)| lookup(t, *p)).collect()).unwrap_or_default();
                all.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
                all
            }
        }
    }

    /// Deletes empty groups and their offsets (DeleteGroups): one result per group.
    pub async fn delete_groups(&self, broker: &Broker, group_ids: &[String]) -> Vec<Option<ResponseError>> {
        let mut results = Vec::with_capacity(group_ids.len());
        let mut writes = Vec::new();
        {
            let mut guard = self.lock(broker.clock.now_ms());
            for id in group_ids {
                let result = match guard.state.groups.get(id) {
                    None => Some(ResponseError::GroupIdNotFound),
                    Some(g) if g.state == GroupState::Dead => Some(ResponseError::GroupIdNotFound),
                    Some(g) if g.state != GroupState::Empty || g.has_members() => Some(ResponseError::NonEmptyGroup),
                    Some(_) => {
                        let mut group = guard.state.groups.remove(id).expect("found above");
                        writes.extend(tombstones(&group, group.offsets.keys()));
                        writes.push((Key::Group { group: id.clone() }, None));
                        writes.extend(group.consumer.take().map(consumer_records::tombstones).into_iter().flatten());
                        writes.extend(std::mem::take(&mut group.streams_persisted).into_keys().map(|k| (k, None)));
                        info!(group = id, "group deleted");
                        None
                    }
                };
                results.push(result);
            }
        }
        if !writes.is_empty() {
            if let Err(e) = persist(broker, writes).await {
                return results.into_iter().map(|r| r.or(Some(e.code))).collect();
            }
        }
        results
    }

    /// Deletes committed offsets of an empty group, or of topics a group does not subscribe
    /// to (OffsetDelete). The group's error, else one result per partition.
    pub async fn delete_offsets(
        &self,
        broker: &Broker,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> Result<Vec<Option<ResponseError>>, ResponseError> {
        let mut results = Vec::with_capacity(partitions.len());
        let writes = {
            let mut guard = self.lock(broker.clock.now_ms());
            let group = guard.state.groups.get_mut(group_id).ok_or(ResponseError::GroupIdNotFound)?;
            match group.state {
                GroupState::Dead => return Err(ResponseError::GroupIdNotFound),
                GroupState::Empty => {}
                _ if group.protocol_type.as_deref() != Some("consumer") => return Err(ResponseError::NonEmptyGroup),
                _ => {}
            }
            let active = group.has_members();
            let mut doomed = Vec::new();
            for (topic, partition) in partitions {
                if active && group.is_subscribed_to(topic) {
                    results.push(Some(ResponseError::GroupSubscribedToTopic));
                } else {
                    results.push(None);
                    if group.offsets.remove(&(topic.clone(), *partition)).is_some() {
                        doomed.push((topic.clone(), *partition));
                    }
                }
            }
            tombstones(group, doomed.iter())
        };
        if !writes.is_empty() {
            if let Err(e) = persist(broker, writes).await {
                return Err(e.code);
            }
        }
        Ok(results)
    }

    /// Drops the offsets of groups that have been empty for `offsets.retention.minutes`
    /// (simple groups: offsets committed that long ago), and such groups once they hold none.
    pub async fn expire_offsets(&self, broker: &Broker) {
        let now_ms = broker.clock.now_ms();
        let writes = expire(&mut self.lock(now_ms).state.groups, now_ms, self.config.offsets_retention_ms);
        if !writes.is_empty() {
            info!(records = writes.len(), "expiring offsets of empty groups");
            if let Err(e) = persist(broker, writes).await {
                tracing::warn!(error = %e.message, "expiring offsets failed");
            }
        }
    }
}

/// Removes the expired offsets of empty groups, and empty groups left with none; returns the
/// tombstones to write. A group with a protocol counts from when it became empty, a simple
/// group (offsets only) from each commit, as in Kafka.
fn expire(groups: &mut HashMap<String, Group>, now_ms: i64, retention_ms: i64) -> Vec<Write> {
    let mut writes = Vec::new();
    let mut emptied = Vec::new();
    for group in groups.values_mut() {
        if group.state != GroupState::Empty || group.has_members() {
            continue;
        }
        let expired: Vec<(String, i32)> = group
            .offsets
            .iter()
            .filter(|(_, c)| {
                let since =
                    if group.protocol_type.is_some() { group.state_timestamp } else { c.value.commit_timestamp };
                now_ms.saturating_sub(since) >= retention_ms
            })
            .map(|(k, _)| k.clone())
            .collect();
        writes.extend(tombstones(group, expired.iter()));
        for k in &expired {
            group.offsets.remove(k);
        }
        if group.offsets.is_empty() && now_ms.saturating_sub(group.state_timestamp) >= retention_ms {
            emptied.push(group.id.clone());
        }
    }
    for id in emptied {
        let Some(group) = groups.remove(&id) else { continue };
        writes.push((Key::Group { group: id }, None));
        writes.extend(group.consumer.map(consumer_records::tombstones).into_iter().flatten());
        writes.extend(group.streams_persisted.into_keys().map(|k| (k, None)));
    }
    writes
}

impl GroupCoordinator {
    /// Kafka's OffsetFetch (v9+) check for consumer and streams groups: a member that names
    /// itself must be in the group at its current epoch. The admin client names none.
    pub fn validate_fetch(&self, group_id: &str, member_id: Option<&str>, epoch: i32) -> Result<(), ResponseError> {
        if member_id.is_none() && epoch < 0 {
            return Ok(());
        }
        let state = self.state.lock().expect("group coordinator lock");
        let Some(group) = state.groups.get(group_id) else { return Ok(()) };
        let id = member_id.unwrap_or_default();
        let current = match (&group.consumer, &group.streams) {
            (Some(c), _) => c.members.get(id).map(|m| m.epoch),
            (_, Some(s)) => s.members.get(id).map(|m| m.epoch),
            _ => return Ok(()),
        };
        match current {
            None => Err(ResponseError::UnknownMemberId),
            Some(current) if current != epoch => Err(ResponseError::StaleMemberEpoch),
            Some(_) => Ok(()),
        }
    }
}

/// Kafka's OffsetCommit validation: members commit in their generation; a commit without a
/// member and generation (the admin client, or a consumer that assigns itself partitions)
/// is accepted while the group has no members, and creates the group if needed.
fn validate_commit(
    groups: &mut HashMap<String, Group>,
    group_id: &str,
    c: &Committer<'_>,
    now_ms: i64,
) -> Result<(), ResponseError> {
    if group_id.is_empty() {
        return Err(ResponseError::InvalidGroupId);
    }
    let Some(group) = groups.get(group_id) else {
        if c.generation < 0 {
            groups.insert(group_id.to_string(), Group::new(group_id, now_ms));
            return Ok(());
        }
        return Err(if c.version >= 9 { ResponseError::GroupIdNotFound } else { ResponseError::IllegalGeneration });
    };
    if let Some(consumer) = &group.consumer {
        // The consumer protocol: the member and its current epoch, or an admin commit to an
        // empty group.
        if c.generation < 0 && c.member_id.is_empty() && consumer.members.is_empty() {
            return Ok(());
        }
        let member = consumer.members.get(c.member_id).ok_or(ResponseError::UnknownMemberId)?;
        return if c.generation == member.epoch { Ok(()) } else { Err(ResponseError::StaleMemberEpoch) };
    }
    if let Some(streams) = &group.streams {
        // Streams groups as consumer groups: the member in its current epoch, or an admin
        // commit while no member is in.
        if c.generation < 0 && c.member_id.is_empty() && streams.members.is_empty() {
            return Ok(());
        }
        let member = streams.members.get(c.member_id).ok_or(ResponseError::UnknownMemberId)?;
        return if c.generation == member.epoch { Ok(()) } else { Err(ResponseError::StaleMemberEpoch) };
    }
    if group.state == GroupState::Dead {
        return Err(ResponseError::CoordinatorNotAvailable);
    }
    if c.generation < 0 && group.state == GroupState::Empty {
        return Ok(());
    }
    if c.generation >= 0 || !c.member_id.is_empty() || c.instance_id.is_some() {
        group.validate_member(c.member_id, c.instance_id)?;
        if c.generation != group.generation {
            return Err(ResponseError::IllegalGeneration);
        }
    } else if group.state != GroupState::Empty {
        return Err(ResponseError::UnknownMemberId);
    }
    if group.state == GroupState::CompletingRebalance {
        return Err(ResponseError::RebalanceInProgress);
    }
    Ok(())
}

fn tombstones<'a>(group: &Group, keys: impl Iterator<Item = &'a (String, i32)>) -> Vec<Write> {
    keys.map(|(topic, partition)| {
        (Key::Offset { group: group.id.clone(), topic: topic.clone(), partition: *partition }, None)
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(group: &mut Group, topic: &str, partition: i32, at_ms: i64) {
        let value = OffsetValue { offset: 1, leader_epoch: -1, metadata: String::new(), commit_timestamp: at_ms };
        group.offsets.insert((topic.to_string(), partition), Committed { value, log_offset: 0 });
    }

    /// Offsets of empty groups expire after the retention (a simple group's per commit, a
    /// protocol group's from when it emptied); groups with members keep theirs.
    #[test]
    fn empty_groups_offsets_expire() {
        let day = 86_400_000;
        let mut groups = HashMap::new();
        let mut simple = Group::new("simple", 0);
        commit(&mut simple, "t", 0, 0);
        commit(&mut simple, "t", 1, 6 * day);
        let mut emptied = Group::new("emptied", 0);
        emptied.protocol_type = Some("consumer".into());
        emptied.state_timestamp = 5 * day;
        commit(&mut emptied, "t", 0, 0);
        let mut active = Group::new("active", 0);
        active.state = GroupState::Stable;
        commit(&mut active, "t", 0, 0);
        for g in [simple, emptied, active] {
            groups.insert(g.id.clone(), g);
        }
        let writes = expire(&mut groups, 7 * day, 7 * day);
        assert_eq!(writes.len(), 1, "only the simple group's old offset: {writes:?}");
        assert_eq!(groups["simple"].offsets.len(), 1);
        assert_eq!(groups["emptied"].offsets.len(), 1, "empty for two days only");
        assert_eq!(groups["active"].offsets.len(), 1);
        let writes = expire(&mut groups, 13 * day, 7 * day);
        assert!(writes.contains(&(Key::Group { group: "simple".into() }, None)));
        assert!(!groups.contains_key("simple") && !groups.contains_key("emptied"));
        assert!(groups.contains_key("active"));
    }
}
