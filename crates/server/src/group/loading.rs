//! Which `__consumer_offsets` partitions this broker coordinates, as Kafka's coordinators
//! follow partition leadership: the leader of a group's partition is its coordinator. Elected
//! (it leads the partition in a new leader epoch), a broker loads the partition's groups from
//! the log, answering COORDINATOR_LOAD_IN_PROGRESS meanwhile; resigned (another broker leads),
//! it drops them, answering parked requests NOT_COORDINATOR, since the next coordinator writes
//! what this one would no longer see.

use brook_log::{LogError, ReadBound, batch};
use kafka_protocol::error::ResponseError;
use tracing::{info, warn};

use super::classic::{Committed, Group};
use super::consumer::{ConsumerGroup, MemberState};
use super::consumer_records::tombstones;
use super::records::{GroupValue, Key, OffsetValue};
use super::{Action, GroupCoordinator, Guard, OFFSETS_TOPIC, TimerKey, streams_records, txn_offsets};
use crate::broker::Broker;
use crate::internal_topic::partition_of;

impl GroupCoordinator {
    /// The share groups' records a load of `partition` read (see `Key::is_share`), handed
    /// over to the share groups.
    pub fn take_share_records(&self, partition: i32) -> Vec<(Key, Vec<u8>)> {
        let mut state = self.state.lock().expect("group coordinator lock");
        let partitions = state.config.offsets_topic_partitions;
        let (mine, others): (Vec<_>, Vec<_>) = std::mem::take(&mut state.share_records)
            .into_iter()
            .partition(|(k, _)| partition_of(k.group(), partitions) == partition);
        state.share_records = others.into_iter().collect();
        mine
    }

    /// This broker leads exactly the `__consumer_offsets` partitions `led` (partition, leader
    /// epoch, log start and end): it resigns the others, and returns those whose groups must
    /// be loaded, as (partition, leader epoch, log end). An empty partition (a new topic)
    /// has nothing to load and serves at once.
    pub fn coordinate(&self, led: &[(i32, i32, i64, i64)]) -> Vec<(i32, i32, i64)> {
        let owned: Vec<i32> = self.state.lock().expect("group coordinator lock").owned.keys().copied().collect();
        for partition in owned.into_iter().filter(|p| !led.iter().any(|(l, ..)| l == p)) {
            self.resigned(partition);
        }
        let mut loads = Vec::new();
        for &(partition, epoch, start, end) in led {
            if !self.elected(partition, epoch) {
                continue;
            }
            if start < end {
                loads.push((partition, epoch, end));
            } else {
                self.state.lock().expect("group coordinator lock").owned.insert(partition, (epoch, true));
            }
        }
        loads
    }

    /// This broker leads `partition` in `leader_epoch`. Returns whether its groups must be
    /// loaded (`load`): not if it already coordinates it in that epoch. Groups kept from an
    /// earlier epoch are dropped, since another coordinator may have written since.
    fn elected(&self, partition: i32, leader_epoch: i32) -> bool {
        let mut guard = self.lock(0);
        match guard.state.owned.get(&partition) {
            Some((epoch, _)) if *epoch == leader_epoch => false,
            previous => {
                if previous.is_some() {
                    guard.unload(partition);
                }
                guard.state.owned.insert(partition, (leader_epoch, false));
                true
            }
        }
    }

    /// Another broker leads `partition` (or nobody does): its groups are no longer this one's.
    fn resigned(&self, partition: i32) {
        let mut guard = self.lock(0);
        if guard.state.owned.remove(&partition).is_some() {
            guard.unload(partition);
            info!(partition, "no longer coordinating the groups of this {OFFSETS_TOPIC} partition");
        }
    }

    /// Whether requests for groups of `partition`, which the metadata says this broker leads
    /// in `leader_epoch`, can be served: COORDINATOR_LOAD_IN_PROGRESS while its groups load,
    /// and until its election is handled, unless `nothing_to_load` (its log is empty or not
    /// open yet: a topic just created, whose groups are all in memory), which takes the
    /// election at once.
    pub fn serves(&self, partition: i32, leader_epoch: i32, nothing_to_load: bool) -> Result<(), ResponseError> {
        match self.state.lock().expect("group coordinator lock").owned.get(&partition) {
            Some((epoch, true)) if *epoch == leader_epoch => return Ok(()),
            Some((epoch, false)) if *epoch == leader_epoch => return Err(ResponseError::CoordinatorLoadInProgress),
            _ if !nothing_to_load => return Err(ResponseError::CoordinatorLoadInProgress),
            _ => {}
        }
        // Elected with nothing to load: the election is taken now, or what this request writes
        // would be loaded again when the election is handled, and a SyncGroup in between told
        // COORDINATOR_LOAD_IN_PROGRESS, which the Java consumer does not retry.
        if self.elected(partition, leader_epoch) {
            self.state.lock().expect("group coordinator lock").owned.insert(partition, (leader_epoch, true));
        }
        Ok(())
    }

    /// Replays `partition` of `__consumer_offsets` below `end` (its log end when this broker
    /// was elected in `leader_epoch`) into memory, then serves its groups, unless another
    /// election came meanwhile. Returns the number of records read.
    pub fn load(&self, broker: &Broker, partition: i32, leader_epoch: i32, end: i64) -> Result<usize, LogError> {
        let Some(p) = broker.partition(OFFSETS_TOPIC, partition) else { return Ok(0) };
        let mut guard = self.lock(broker.clock.now_ms());
        if guard.state.owned.get(&partition) != Some(&(leader_epoch, false)) {
            return Ok(0);
        }
        let mut count = 0;
        let mut offset = p.log.log_start_offset();
        while offset < end {
            let bytes = p.log.read(offset, 1 << 20, ReadBound::LogEnd)?;
            if bytes.is_empty() {
                break;
            }
            for (header, bytes) in batch::whole_batches(&bytes) {
                if header.is_control() {
                    // A transaction marker: the producer's pending offsets are applied or dropped.
                    if let Some(commit) = batch::marker_commits(bytes).filter(|_| header.base_offset < end) {
                        txn_offsets::end_txn(&mut guard.state, partition, header.producer_id, commit);
                    }
                    offset = header.next_offset();
                    continue;
                }
                // Compaction leaves gaps and may re-encode batches: read real offsets.
                let records = crate::records::decode_all(bytes).unwrap_or_else(|e| {
                    warn!(offset = header.base_offset, error = e, "skipping an unreadable __consumer_offsets batch");
                    Vec::new()
                });
                for record in records.into_iter().filter(|r| r.offset >= offset && r.offset < end) {
                    let (key, value) = (record.key.as_deref(), record.value.as_deref());
                    if header.is_transactional() {
                        txn_offsets::replay(&mut guard.state, header.producer_id, key, value, record.offset);
                    } else {
                        guard.replay(key, value, record.offset);
                    }
                    count += 1;
                }
                offset = header.next_offset();
            }
        }
        guard.restore_consumer_groups(partition);
        guard.restore_streams_groups(partition);
        guard.state.owned.insert(partition, (leader_epoch, true));
        guard.schedule_loaded_members(partition);
        drop(guard);
        self.loads_done.send_modify(|n| *n += 1);
        Ok(count)
    }

    /// Waits until every partition this broker was elected for has its groups loaded.
    pub async fn wait_loaded(&self) {
        let mut done = self.loads_done.subscribe();
        let loading = || self.state.lock().expect("group coordinator lock").owned.values().any(|(_, loaded)| !loaded);
        while loading() {
            if done.changed().await.is_err() {
                return;
            }
        }
    }
}

impl Guard<'_> {
    /// Applies one `__consumer_offsets` record read back from the log.
    fn replay(&mut self, key: Option<&[u8]>, value: Option<&[u8]>, log_offset: i64) {
        let now_ms = self.state.now_ms;
        let Some(key) = key.and_then(|k| Key::decode(k).ok()) else {
            warn!(log_offset, "skipping an unreadable __consumer_offsets key");
            return;
        };
        let groups = &mut self.state.groups;
        match key {
            Key::Offset { group, topic, partition } => match value.map(OffsetValue::decode) {
                Some(Ok(value)) => {
                    let group = groups.entry(group.clone()).or_insert_with(|| Group::new(&group, now_ms));
                    group.offsets.insert((topic, partition), Committed { value, log_offset });
                }
                Some(Err(e)) => warn!(log_offset, error = %e, "skipping an offset record"),
                None => {
                    if let Some(g) = groups.get_mut(&group) {
                        g.offsets.remove(&(topic, partition));
                    }
                }
            },
            Key::Group { group } => match value.map(GroupValue::decode) {
                Some(Ok(value)) => {
                    let entry = groups.entry(group.clone()).or_insert_with(|| Group::new(&group, now_ms));
                    entry.restore(value);
                }
                Some(Err(e)) => warn!(log_offset, error = %e, "skipping a group record"),
                None => {
                    groups.remove(&group);
                }
            },
            // Share groups' records, for `crate::share` once the load is done.
            key if key.is_share() => {
                match value {
                    Some(value) => self.state.share_records.insert(key, value.to_vec()),
                    None => self.state.share_records.remove(&key),
                };
            }
            // Gathered as they are; the group is rebuilt from them once the load is done.
            key if key.is_streams() => {
                let group = key.group().to_string();
                let entry = groups.entry(group.clone()).or_insert_with(|| Group::new(&group, now_ms));
                match value {
                    Some(value) => entry.streams_persisted.insert(key, value.to_vec()),
                    None => entry.streams_persisted.remove(&key),
                };
            }
            key => {
                let group = key.group().to_string();
                let entry = groups.entry(group.clone()).or_insert_with(|| Group::new(&group, now_ms));
                let persisted = &mut entry.consumer.get_or_insert_default().persisted;
                match value {
                    Some(value) => persisted.insert(key, value.to_vec()),
                    None => persisted.remove(&key),
                };
            }
        }
    }

    /// Rebuilds the consumer groups of `partition` from the records loaded. A group whose
    /// records no longer hold one (it was deleted) is gone, and its leftover records get
    /// tombstones; an unreadable one is dropped, and its members rejoin.
    fn restore_consumer_groups(&mut self, partition: i32) {
        let partitions = self.state.config.offsets_topic_partitions;
        let (mut emptied, mut writes) = (Vec::new(), Vec::new());
        for group in self.state.groups.values_mut().filter(|g| partition_of(&g.id, partitions) == partition) {
            let Some(loaded) = group.consumer.take() else { continue };
            match ConsumerGroup::restore(&loaded.persisted) {
                Ok(Some(restored)) => group.consumer = Some(ConsumerGroup { persisted: loaded.persisted, ..restored }),
                Ok(None) => {
                    writes.extend(tombstones(loaded));
                    if group.offsets.is_empty() && group.protocol_type.is_none() {
                        emptied.push(group.id.clone());
                    }
                }
                Err(e) => {
                    warn!(group = group.id, error = %e, "dropping a consumer group whose records are unreadable");
                    writes.extend(tombstones(loaded));
                }
            }
        }
        self.state.writes.extend(writes);
        for id in emptied {
            self.state.groups.remove(&id);
        }
    }

    /// As `restore_consumer_groups`, for streams groups.
    fn restore_streams_groups(&mut self, partition: i32) {
        let partitions = self.state.config.offsets_topic_partitions;
        let (mut emptied, mut writes) = (Vec::new(), Vec::new());
        let loaded = self.state.groups.values_mut().filter(|g| partition_of(&g.id, partitions) == partition);
        for group in loaded.filter(|g| !g.streams_persisted.is_empty()) {
            match streams_records::restore(&group.streams_persisted) {
                Ok(Some(restored)) => group.streams = Some(restored),
                Ok(None) => {
                    writes.extend(std::mem::take(&mut group.streams_persisted).into_keys().map(|k| (k, None)));
                    if group.offsets.is_empty() && group.protocol_type.is_none() && group.consumer.is_none() {
                        emptied.push(group.id.clone());
                    }
                }
                Err(e) => {
                    warn!(group = group.id, error = %e, "dropping a streams group whose records are unreadable");
                    writes.extend(std::mem::take(&mut group.streams_persisted).into_keys().map(|k| (k, None)));
                }
            }
        }
        self.state.writes.extend(writes);
        for id in emptied {
            self.state.groups.remove(&id);
        }
    }

    /// Drops the groups of `partition`, their timers and parked requests.
    fn unload(&mut self, partition: i32) {
        let partitions = self.state.config.offsets_topic_partitions;
        let ours = |group: &str| partition_of(group, partitions) == partition;
        self.release_parked_requests(ours);
        self.state.groups.retain(|id, _| !ours(id));
        self.state.timers.retain(|key, _| !ours(key.group()));
    }

    /// After loading: members restored from the log must heartbeat within their session, and
    /// consumer-protocol members revoking partitions must finish within their rebalance timeout.
    fn schedule_loaded_members(&mut self, partition: i32) {
        let partitions = self.state.config.offsets_topic_partitions;
        let session_ms = i64::from(self.state.config.consumer_session_timeout_ms);
        let mut timers: Vec<(TimerKey, i64, Action)> = Vec::new();
        let groups = self.state.groups.values().filter(|g| partition_of(&g.id, partitions) == partition);
        for g in groups {
            for m in g.members.values() {
                let key = TimerKey::Heartbeat(g.id.clone(), m.id.clone());
                timers.push((key, i64::from(m.session_timeout_ms), Action::ExpireHeartbeat));
            }
            for m in g.consumer.iter().flat_map(|c| c.members.values()) {
                let (group, member) = (g.id.clone(), m.id.clone());
                timers.push((TimerKey::Heartbeat(group.clone(), member.clone()), session_ms, Action::ExpireConsumer));
                if m.state == MemberState::UnrevokedPartitions {
                    let expire = Action::ExpireRevocation { epoch: m.epoch };
                    timers.push((TimerKey::Revocation(group, member), i64::from(m.rebalance_timeout_ms), expire));
                }
            }
        }
        let streams_session_ms = i64::from(self.state.config.streams_session_timeout_ms);
        let groups = self.state.groups.values().filter(|g| partition_of(&g.id, partitions) == partition);
        for g in groups {
            for m in g.streams.iter().flat_map(|s| s.members.values()) {
                let (group, member) = (g.id.clone(), m.id.clone());
                let key = TimerKey::Heartbeat(group.clone(), member.clone());
                timers.push((key, streams_session_ms, Action::ExpireStreams));
                if m.state == brook_streams::group::MemberState::UnrevokedTasks {
                    let expire = Action::ExpireStreamsRevocation { epoch: m.epoch };
                    timers.push((TimerKey::Revocation(group, member), i64::from(m.rebalance_timeout_ms), expire));
                }
            }
        }
        for (key, after_ms, action) in timers {
            self.schedule(key, after_ms, action);
        }
    }
}
