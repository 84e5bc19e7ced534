//! The group coordinator: consumer groups (the classic JoinGroup/SyncGroup protocol) and the
//! offsets they commit, kept in the internal topic `__consumer_offsets` as Kafka keeps them.
//!
//! - `classic`: one group's members, state and generation (pure state).
//! - `consumer`, `assignor`: the consumer protocol (KIP-848) and its server-side assignors;
//!   `consumer_records`: its state as Kafka's records, so it survives a coordinator change.
//! - `membership`: JoinGroup, SyncGroup, Heartbeat, LeaveGroup and the rebalance they drive.
//! - `offsets`: OffsetCommit, OffsetFetch, OffsetDelete, DeleteGroups.
//! - `txn_offsets`: TxnOffsetCommit: offsets pending in a producer's transaction until its marker.
//! - `records`: the `__consumer_offsets` key and value formats.
//! - `loading`: which `__consumer_offsets` partitions this broker coordinates (those it leads),
//!   loading their groups when it is elected and dropping them when it resigns.
//!
//! All groups live under one mutex, held only for in-memory changes (it may take the metadata
//! image's read lock, to look topics up, so nothing may hold the image while taking it): answers that must wait
//! (a JoinGroup until the rebalance completes) are parked as oneshot senders, and records are
//! appended after the lock is released. Deadlines (session timeouts, rebalance timeouts, the
//! initial rebalance delay) are keyed timers that one task fires.

pub mod assignor;
pub mod classic;
pub mod consumer;
mod consumer_records;
mod loading;
mod membership;
mod offsets;
pub mod records;
pub mod share_records;
mod streams;
mod streams_records;
mod txn_offsets;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use brook_log::batch::{self, Record};
use kafka_protocol::error::ResponseError;
use tokio::sync::{Notify, watch};
use tracing::warn;

use crate::broker::{ApiError, Broker};
use crate::internal_topic::InternalTopic;
use classic::{Group, GroupState, JoinOutcome, SyncOutcome};
use records::Key;

pub use membership::{JoinRequest, LeaveMember, SyncRequest};
pub use offsets::{CommitPartition, Committer, FetchedOffset};
pub use streams::StreamsSettings;
pub use txn_offsets::TxnCommitter;

/// The internal topic that holds committed offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Kafka's group coordinator settings (`group.*` and `offsets.*` keys).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    pub initial_rebalance_delay_ms: i32,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub max_size: usize,
    pub offsets_topic_partitions: i32,
    pub offsets_topic_segment_bytes: i32,
    /// `offsets.topic.replication.factor` (Kafka: 3), at most the brokers registered when
    /// the topic is created, so that a one-broker Brook needs no setting.
    pub offsets_topic_replication_factor: i16,
    /// `offsets.commit.timeout.ms`: how long a commit waits for the in-sync replicas.
    pub offsets_commit_timeout_ms: u64,
    pub offset_metadata_max_bytes: usize,
    pub offsets_retention_ms: i64,
    /// How long a new member's first JoinGroup may wait for the rebalance (Kafka: 5 minutes).
    pub new_member_join_timeout_ms: i32,
    /// `group.consumer.session.timeout.ms` and `group.consumer.heartbeat.interval.ms` (KIP-848).
    pub consumer_session_timeout_ms: i32,
    pub consumer_heartbeat_interval_ms: i32,
    /// `group.streams.session.timeout.ms` (KIP-1071): members loaded from the log get it
    /// until their next heartbeat applies their group's own.
    pub streams_session_timeout_ms: i32,
}

impl GroupConfig {
    /// `__consumer_offsets` as the `offsets.topic.*` keys describe it.
    pub fn offsets_topic(&self) -> InternalTopic {
        InternalTopic {
            name: OFFSETS_TOPIC,
            partitions: self.offsets_topic_partitions,
            replication_factor: self.offsets_topic_replication_factor,
            segment_bytes: self.offsets_topic_segment_bytes,
            min_insync_replicas: None,
        }
    }
}

impl Default for GroupConfig {
    fn default() -> GroupConfig {
        GroupConfig {
            initial_rebalance_delay_ms: 3000,
            min_session_timeout_ms: 6000,
            max_session_timeout_ms: 1_800_000,
            max_size: i32::MAX as usize,
            offsets_topic_partitions: 50,
            offsets_topic_segment_bytes: 100 * 1024 * 1024,
            offsets_topic_replication_factor: 3,
            offsets_commit_timeout_ms: 5_000,
            offset_metadata_max_bytes: 4096,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,
            new_member_join_timeout_ms: 300_000,
            consumer_session_timeout_ms: 45_000,
            consumer_heartbeat_interval_ms: 5_000,
            streams_session_timeout_ms: 45_000,
        }
    }
}

/// Which timer: at most one of each per group (or member).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum TimerKey {
    Heartbeat(String, String),
    Join(String),
    Sync(String),
    /// A consumer-protocol member asked to revoke partitions.
    Revocation(String, String),
}

impl TimerKey {
    fn group(&self) -> &str {
        match self {
            TimerKey::Heartbeat(group, _)
            | TimerKey::Join(group)
            | TimerKey::Sync(group)
            | TimerKey::Revocation(group, _) => group,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Action {
    ExpireHeartbeat,
    CompleteJoin,
    InitialJoin { delay_ms: i32, remaining_ms: i32 },
    ExpireSync { generation: i32 },
    ExpireConsumer,
    ExpireRevocation { epoch: i32 },
    ExpireStreams,
    ExpireStreamsRevocation { epoch: i32 },
}

/// A record to append to `__consumer_offsets`; `None` is a tombstone.
type Write = (Key, Option<Vec<u8>>);

pub struct GroupCoordinator {
    config: GroupConfig,
    state: Mutex<State>,
    /// Wakes the timer task when a deadline earlier than the ones it knows is set.
    timers_changed: Notify,
    /// Counts finished loads of `__consumer_offsets` partitions (`loading`).
    loads_done: watch::Sender<u64>,
}

struct State {
    config: GroupConfig,
    groups: HashMap<String, Group>,
    /// The `__consumer_offsets` partitions this broker coordinates: the leader epoch it
    /// leads each in, and whether their groups are loaded (`loading`).
    owned: HashMap<i32, (i32, bool)>,
    timers: HashMap<TimerKey, (Instant, Action)>,
    /// The earliest deadline the timer task is sleeping towards.
    next_wake: Option<Instant>,
    wake_needed: bool,
    /// Group metadata records produced by state changes, appended by whoever released the lock.
    writes: Vec<Write>,
    /// Share groups' records read by loads, until `take_share_records` hands them over.
    share_records: BTreeMap<Key, Vec<u8>>,
    now_ms: i64,
}

impl GroupCoordinator {
    pub fn new(config: GroupConfig) -> GroupCoordinator {
        GroupCoordinator {
            config: config.clone(),
            state: Mutex::new(State {
                config,
                groups: HashMap::new(),
                owned: HashMap::new(),
                timers: HashMap::new(),
                next_wake: None,
                wake_needed: false,
                writes: Vec::new(),
                share_records: BTreeMap::new(),
                now_ms: 0,
            }),
            timers_changed: Notify::new(),
            loads_done: watch::Sender::new(0),
        }
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// The `__consumer_offsets` partition a group's records go to (Kafka's choice: the Java
    /// hash of the group id, so that a cluster places groups as Kafka would).
    pub fn partition_for(&self, group: &str) -> i32 {
        crate::internal_topic::partition_of(group, self.config.offsets_topic_partitions)
    }

    /// Locks the state with the clock read once for the whole operation.
    fn lock(&self, now_ms: i64) -> Guard<'_> {
        let mut state = self.state.lock().expect("group coordinator lock");
        state.now_ms = now_ms;
        Guard { state, coordinator: self }
    }

    /// Fires due timers until `stop` changes; run as one task per broker.
    pub async fn run_timers(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
        let coordinator = &broker.groups;
        loop {
            let (next, writes) = {
                let mut guard = coordinator.lock(broker.clock.now_ms());
                guard.fire_due_timers(Instant::now());
                let next = guard.state.timers.values().map(|(at, _)| *at).min();
                guard.state.next_wake = next;
                guard.state.wake_needed = false;
                (next, std::mem::take(&mut guard.state.writes))
            };
            if !writes.is_empty() {
                if let Err(e) = persist(&broker, writes).await {
                    warn!(error = %e.message, "writing group metadata failed");
                }
            }
            let sleep = next.map_or(Duration::from_secs(3600), |at| at.saturating_duration_since(Instant::now()));
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = coordinator.timers_changed.notified() => {}
                _ = stop.changed() => {
                    coordinator.lock(broker.clock.now_ms()).release_parked_requests(|_| true);
                    return;
                }
            }
        }
    }

    /// Group metadata records waiting to be appended.
    fn take_writes(&self) -> Vec<Write> {
        std::mem::take(&mut self.state.lock().expect("group coordinator lock").writes)
    }

    /// Appends the group metadata records that the last operations produced.
    pub async fn flush_writes(&self, broker: &Broker) -> Result<(), ApiError> {
        let writes = self.take_writes();
        if !writes.is_empty() {
            if let Err(e) = persist(broker, writes).await {
                warn!(error = %e.message, "writing group metadata failed");
                return Err(e);
            }
        }
        Ok(())
    }

    /// A summary of every group, for ListGroups.
    /// (group id, protocol type, state, group type) of every group, for ListGroups.
    pub fn list(&self) -> Vec<(String, String, &'static str, &'static str)> {
        let state = self.state.lock().expect("group coordinator lock");
        state
            .groups
            .values()
            .map(|g| {
                let (name, kind) = g.state_and_type();
                let protocol_type = match (&g.consumer, &g.streams) {
                    (Some(_), _) => "consumer".into(),
                    (_, Some(_)) => "streams".into(),
                    _ => g.protocol_type.clone().unwrap_or_default(),
                };
                (g.id.clone(), protocol_type, name, kind)
            })
            .collect()
    }

    /// The type of the group by that id ("classic", "consumer" or "streams"), if any.
    pub fn group_type(&self, group_id: &str) -> Option<&'static str> {
        let state = self.state.lock().expect("group coordinator lock");
        state.groups.get(group_id).map(|g| g.state_and_type().1)
    }

    /// A classic group as DescribeGroups shows it; `None` if there is none by that id.
    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        let state = self.state.lock().expect("group coordinator lock");
        let group = state.groups.get(group_id)?;
        if group.consumer.is_some() || group.streams.is_some() {
            // As Kafka: the classic API does not see consumer-protocol or streams groups (they
            // have their own describe APIs), so DescribeGroups answers Dead / GROUP_ID_NOT_FOUND.
            return None;
        }
        let stable = group.state == GroupState::Stable;
        let protocol = group.protocol.clone().unwrap_or_default();
        Some(GroupDescription {
            state: group.state.name(),
            protocol_type: group.protocol_type.clone().unwrap_or_default(),
            protocol: if stable { protocol.clone() } else { String::new() },
            members: group
                .members_in_order()
                .iter()
                .map(|m| DescribedMember {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable { m.metadata(&protocol) } else { Default::default() },
                    assignment: if stable { m.assignment.clone() } else { Default::default() },
                })
                .collect(),
        })
    }
}

pub struct GroupDescription {
    pub state: &'static str,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<DescribedMember>,
}

pub struct DescribedMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: bytes::Bytes,
    pub assignment: bytes::Bytes,
}

/// The locked state, with the timer bookkeeping that needs the coordinator's notifier.
struct Guard<'a> {
    state: MutexGuard<'a, State>,
    coordinator: &'a GroupCoordinator,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if self.state.wake_needed {
            self.state.wake_needed = false;
            self.coordinator.timers_changed.notify_one();
        }
    }
}

impl Guard<'_> {
    fn schedule(&mut self, key: TimerKey, after_ms: i64, action: Action) {
        let at = Instant::now() + Duration::from_millis(after_ms.max(0) as u64);
        if self.state.next_wake.is_none_or(|next| at < next) {
            self.state.next_wake = Some(at);
            self.state.wake_needed = true;
        }
        self.state.timers.insert(key, (at, action));
    }

    fn cancel(&mut self, key: &TimerKey) {
        self.state.timers.remove(key);
    }

    fn fire_due_timers(&mut self, now: Instant) {
        loop {
            let due: Vec<(TimerKey, Action)> =
                self.state.timers.iter().filter(|(_, (at, _))| *at <= now).map(|(k, (_, a))| (k.clone(), *a)).collect();
            if due.is_empty() {
                return;
            }
            for (key, action) in due {
                // An earlier timer's action may have rescheduled or cancelled this one.
                if self.state.timers.get(&key).is_none_or(|(at, _)| *at > now) {
                    continue;
                }
                self.state.timers.remove(&key);
                match (key, action) {
                    (TimerKey::Heartbeat(group, member), Action::ExpireHeartbeat) => {
                        self.expire_heartbeat(&group, &member)
                    }
                    (TimerKey::Join(group), Action::CompleteJoin) => self.complete_join(&group),
                    (TimerKey::Join(group), Action::InitialJoin { delay_ms, remaining_ms }) => {
                        self.initial_join_due(&group, delay_ms, remaining_ms)
                    }
                    (TimerKey::Sync(group), Action::ExpireSync { generation }) => self.expire_sync(&group, generation),
                    (TimerKey::Heartbeat(group, member), Action::ExpireConsumer) => {
                        self.remove_consumer_member(&group, &member, "session timeout")
                    }
                    (TimerKey::Revocation(group, member), Action::ExpireRevocation { epoch }) => {
                        self.expire_revocation(&group, &member, epoch)
                    }
                    (TimerKey::Heartbeat(group, member), Action::ExpireStreams) => {
                        self.remove_streams_member(&group, &member, "session timeout")
                    }
                    (TimerKey::Revocation(group, member), Action::ExpireStreamsRevocation { epoch }) => {
                        self.expire_streams_revocation(&group, &member, epoch)
                    }
                    (key, action) => warn!(?key, ?action, "a timer with a mismatched action"),
                }
            }
        }
    }

    /// Queues the group's metadata record (or its tombstone, if the group is gone).
    fn write_group(&mut self, group_id: &str) {
        let value = self.state.groups.get(group_id).map(|g| g.to_record().encode());
        self.state.writes.push((Key::Group { group: group_id.to_string() }, value));
    }

    /// Queues what brings `__consumer_offsets` to the consumer group's state
    /// (`changed_records`; with `member`, that member's records and the group's own).
    fn write_consumer_group(&mut self, group_id: &str, member: Option<&str>) {
        let Some(cg) = self.state.groups.get_mut(group_id).and_then(|g| g.consumer.as_mut()) else { return };
        let now = cg.records(group_id, member);
        let writes = changed_records(&mut cg.persisted, now, member);
        self.state.writes.extend(writes);
    }

    /// As `write_consumer_group`, for a streams group.
    fn write_streams_group(&mut self, group_id: &str, member: Option<&str>) {
        let Some(group) = self.state.groups.get_mut(group_id) else { return };
        let Some(streams) = &group.streams else { return };
        let now = streams_records::group_records(group_id, streams, member);
        let writes = changed_records(&mut group.streams_persisted, now, member);
        self.state.writes.extend(writes);
    }

    /// At shutdown, or when this broker stops coordinating them: parked JoinGroup and
    /// SyncGroup requests of the groups `which` picks are answered NOT_COORDINATOR, so their
    /// connections can drain and the clients look for the coordinator again.
    fn release_parked_requests(&mut self, which: impl Fn(&str) -> bool) {
        for group in self.state.groups.values_mut().filter(|g| which(&g.id)) {
            for member in group.members.values_mut() {
                for waiter in member.join_waiters.drain(..) {
                    let _ = waiter.send(JoinOutcome::error(ResponseError::NotCoordinator, &member.id));
                }
                for waiter in member.sync_waiters.drain(..) {
                    let _ = waiter.send(SyncOutcome::error(ResponseError::NotCoordinator));
                }
            }
        }
    }
}

/// What brings `persisted` (a group's records as the log holds them) to `now`: the changed
/// records, and tombstones for those gone. With `member`, only the group's own records and
/// that member's are compared (a heartbeat that moved no epoch changed nothing else), so a
/// heartbeat costs the same in a group of any size.
fn changed_records(
    persisted: &mut BTreeMap<Key, Vec<u8>>,
    now: BTreeMap<Key, Vec<u8>>,
    member: Option<&str>,
) -> Vec<Write> {
    let in_scope = |k: &Key| member.is_none_or(|m| k.member().is_none_or(|of| of == m));
    let gone: Vec<Key> = persisted.keys().filter(|k| in_scope(k) && !now.contains_key(*k)).cloned().collect();
    let mut writes: Vec<Write> = Vec::new();
    for (key, value) in now {
        if persisted.get(&key) != Some(&value) {
            persisted.insert(key.clone(), value.clone());
            writes.push((key, Some(value)));
        }
    }
    for key in gone {
        persisted.remove(&key);
        writes.push((key, None));
    }
    writes
}

/// Appends records to their groups' `__consumer_offsets` partitions, durably. Returns the log
/// offset of each record, in order.
impl GroupCoordinator {
    /// Appends records to `__consumer_offsets` for a group kept elsewhere (share groups).
    pub async fn write_records(&self, broker: &Broker, writes: Vec<(Key, Option<Vec<u8>>)>) -> Result<(), ApiError> {
        persist(broker, writes).await.map(|_| ())
    }
}

async fn persist(broker: &Broker, writes: Vec<Write>) -> Result<Vec<i64>, ApiError> {
    broker.ensure_offsets_topic().await?;
    let now_ms = broker.clock.now_ms();
    let mut by_partition: HashMap<i32, Vec<usize>> = HashMap::new();
    for (i, (key, _)) in writes.iter().enumerate() {
        by_partition.entry(broker.groups.partition_for(key.group())).or_default().push(i);
    }
    let timeout = Duration::from_millis(broker.config.group.offsets_commit_timeout_ms);
    let mut offsets = vec![-1; writes.len()];
    for (partition, indexes) in by_partition {
        let records: Vec<Record> = indexes
            .iter()
            .map(|&i| Record { timestamp_delta: 0, key: Some(writes[i].0.encode()), value: writes[i].1.clone() })
            .collect();
        let batch = batch::build::batch(now_ms, &records);
        let appended = broker.append_internal(OFFSETS_TOPIC, partition, batch, timeout).await?;
        for (n, &i) in indexes.iter().enumerate() {
            offsets[i] = appended.base_offset + n as i64;
        }
    }
    Ok(offsets)
}
