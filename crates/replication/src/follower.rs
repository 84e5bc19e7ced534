//! Followers: one fetcher per leader broker copies every partition this node follows from it,
//! as Kafka's replica fetcher threads do. A fetch names each partition's log end (what this
//! replica holds; under `flush.on.ack` only once it is synced, so the leader counts only
//! durable copies), the leader epoch it expects and the epoch of its last batch. The leader
//! answers with batches, its high watermark, or the point where the logs diverged, where the
//! follower truncates before fetching again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brook_log::{Log, LogError, Progress};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic, ReplicaState};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{BrokerId, FetchRequest};
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{debug, info, warn};
use uuid::Uuid;

use crate::client::{ClientSecurity, Connection};
use crate::session::{Next, Position, Session};

/// The Fetch version followers send: replica state (v15) and diverging epochs (v12+).
const FETCH_VERSION: i16 = 15;
/// How long a fetch may take beyond its long-poll wait before the connection is dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a follower waits for its appends to be synced before fetching anyway.
const SYNC_WAIT: Duration = Duration::from_secs(5);
/// How soon a partition is fetched again when its new leader has not yet applied its own
/// election (UNKNOWN_LEADER_EPOCH): `replica.fetch.backoff.ms` (1 s) would hold the high
/// watermark, and so every acks=all producer, that long after each leader change.
const LEADER_CATCHING_UP: Duration = Duration::from_millis(20);

/// A hosted partition as a follower sees it.
pub trait Replica: Send + Sync + 'static {
    fn log(&self) -> &Log;
    /// Runs `change` on the log if this replica still follows the leadership of
    /// `leader_epoch`, keeping its role fixed meanwhile; `None` if it no longer does (what a
    /// former leader answers must not land in a replica that now leads or follows another).
    fn while_following(
        &self,
        leader_epoch: i32,
        change: &mut dyn FnMut(&Log) -> Result<(), LogError>,
    ) -> Option<Result<(), LogError>>;
    /// Batches from the leader were appended (the partition updates its producer state).
    fn appended(&self, batches: &[u8]);
    /// The log was truncated (the partition rebuilds what it derived from it).
    fn truncated(&self);
}

/// A partition this node follows, and the leadership it follows.
#[derive(Clone)]
pub struct FollowedPartition {
    pub topic: String,
    pub topic_id: Uuid,
    pub index: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replica: Arc<dyn Replica>,
}

#[derive(Debug, Clone)]
pub struct FetcherConfig {
    pub node_id: i32,
    /// `replica.fetch.max.bytes` (per partition) and `replica.fetch.response.max.bytes`.
    pub partition_max_bytes: i32,
    pub response_max_bytes: i32,
    /// `replica.fetch.wait.max.ms` and `replica.fetch.backoff.ms`.
    pub max_wait_ms: i32,
    pub backoff_ms: u64,
    /// How to reach the leaders' inter-broker listener.
    pub security: ClientSecurity,
}

use crate::session::Key;

/// Every fetcher of this node, keyed by the leader and the address it is reached at.
pub struct Fetchers {
    config: FetcherConfig,
    broker_epoch: Arc<AtomicI64>,
    runtime: tokio::runtime::Handle,
    fetchers: Mutex<HashMap<(i32, String), Fetcher>>,
}

struct Fetcher {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    partitions: Mutex<HashMap<Key, FollowedPartition>>,
    changed: Notify,
}

impl Fetchers {
    /// Must be called inside a tokio runtime, which runs the fetchers.
    pub fn new(config: FetcherConfig, broker_epoch: Arc<AtomicI64>) -> Fetchers {
        Fetchers { config, broker_epoch, runtime: tokio::runtime::Handle::current(), fetchers: Mutex::default() }
    }

    /// Makes the followed partitions exactly `wanted`, each with its leader's address:
    /// fetchers start for new leaders and stop when nothing is left to fetch from theirs.
    pub fn set(&self, wanted: Vec<(String, FollowedPartition)>) {
        let mut by_leader: HashMap<(i32, String), HashMap<Key, FollowedPartition>> = HashMap::new();
        for (addr, p) in wanted {
            by_leader.entry((p.leader, addr)).or_default().insert((p.topic_id, p.index), p);
        }
        let mut fetchers = self.fetchers.lock().expect("fetchers lock");
        fetchers.retain(|key, fetcher| {
            let keep = by_leader.contains_key(key);
            if !keep {
                fetcher.task.abort();
            }
            keep
        });
        for (key, partitions) in by_leader {
            let fetcher = fetchers.entry(key.clone()).or_insert_with(|| {
                let shared = Arc::new(Shared { partitions: Mutex::default(), changed: Notify::new() });
                let task = self.runtime.spawn(run(
                    self.config.clone(),
                    self.broker_epoch.clone(),
                    key.0,
                    key.1.clone(),
                    shared.clone(),
                ));
                Fetcher { shared, task }
            });
            *fetcher.shared.partitions.lock().expect("partitions lock") = partitions;
            fetcher.shared.changed.notify_one();
        }
    }

    /// Stops every fetcher.
    pub fn stop(&self) {
        for (_, fetcher) in self.fetchers.lock().expect("fetchers lock").drain() {
            fetcher.task.abort();
        }
    }
}

impl Drop for Fetchers {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One fetcher: fetches from `leader` at `addr` until aborted.
async fn run(config: FetcherConfig, broker_epoch: Arc<AtomicI64>, leader: i32, addr: String, shared: Arc<Shared>) {
    let backoff = Duration::from_millis(config.backoff_ms);
    let mut connection: Option<Connection> = None;
    // Partitions whose leader refused them, until when they wait (the metadata catches up),
    // and the last reason each was given, so a new reason is logged once.
    let mut delayed: HashMap<Key, Instant> = HashMap::new();
    let mut reasons: HashMap<Key, String> = HashMap::new();
    let mut session = Session::default();
    loop {
        let now = Instant::now();
        delayed.retain(|_, until| *until > now);
        let partitions: Vec<FollowedPartition> = {
            let map = shared.partitions.lock().expect("partitions lock");
            map.values().filter(|p| !delayed.contains_key(&(p.topic_id, p.index))).cloned().collect()
        };
        if partitions.is_empty() {
            let wait = delayed.values().min().copied().unwrap_or(now + Duration::from_secs(3600));
            let _ = tokio::time::timeout_at(wait, shared.changed.notified()).await;
            continue;
        }
        let partitions = synced(partitions).await;
        if partitions.is_empty() {
            continue;
        }
        if connection.is_none() {
            session.reset();
            let client_id = format!("brook-replica-{}", config.node_id);
            match Connection::connect(&addr, client_id, REQUEST_TIMEOUT, &config.security).await {
                Ok(c) => connection = Some(c),
                Err(e) => {
                    debug!(leader, addr, error = %e, "replica fetcher cannot reach the leader");
                    let _ = tokio::time::timeout(backoff, shared.changed.notified()).await;
                    continue;
                }
            }
        }
        let positions: Vec<(Key, Position)> = partitions.iter().map(position).collect();
        let next = session.next(&positions);
        let request = fetch_request(&config, broker_epoch.load(Ordering::Relaxed), &positions, &next);
        let timeout = REQUEST_TIMEOUT + Duration::from_millis(config.max_wait_ms.max(0) as u64);
        let call = connection.as_mut().expect("connected above").call(&request, FETCH_VERSION, timeout);
        let response = match call.await {
            Ok(r) if r.error_code == 0 => {
                session.answered(&next, &positions, r.session_id);
                r
            }
            Ok(r) => {
                session.reset();
                let code = ResponseError::try_from_code(r.error_code);
                if !matches!(
                    code,
                    Some(ResponseError::FetchSessionIdNotFound | ResponseError::InvalidFetchSessionEpoch)
                ) {
                    warn!(leader, error = r.error_code, "the leader refused a replica fetch");
                    tokio::time::sleep(backoff).await;
                }
                continue;
            }
            Err(e) => {
                debug!(leader, addr, error = %e, "replica fetch failed; reconnecting");
                connection = None;
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        let by_key: HashMap<Key, &FollowedPartition> = partitions.iter().map(|p| ((p.topic_id, p.index), p)).collect();
        for topic in response.responses {
            for data in topic.partitions {
                let key = (topic.topic_id, data.partition_index);
                let Some(p) = by_key.get(&key) else { continue };
                // The leader has not applied the metadata that makes it leader yet: it will
                // within moments, and the high watermark waits for this replica meanwhile.
                let wait = match data.error_code == ResponseError::UnknownLeaderEpoch.code() {
                    true => backoff.min(LEADER_CATCHING_UP),
                    false => backoff,
                };
                match apply(p, data) {
                    Ok(()) => {
                        reasons.remove(&key);
                    }
                    Err(refused) => {
                        if reasons.get(&key) != Some(&refused) {
                            info!(topic = p.topic, partition = p.index, leader, reason = %refused, "replica fetch backs off");
                            reasons.insert(key, refused);
                        }
                        delayed.insert(key, Instant::now() + wait);
                    }
                }
            }
        }
    }
}

/// Under `flush.on.ack`, a follower's fetch offset must be durable: waits until what was
/// appended is synced (the group commit was woken when it was appended). Partitions whose
/// sync does not come in time sit this fetch out.
async fn synced(partitions: Vec<FollowedPartition>) -> Vec<FollowedPartition> {
    let deadline = Instant::now() + SYNC_WAIT;
    let mut ready = Vec::with_capacity(partitions.len());
    for p in partitions {
        let log = p.replica.log();
        // Read outside the predicate, which runs under the watch's lock.
        let flush_on_ack = log.config().flush_on_ack;
        if !may_fetch(flush_on_ack, log.progress()) {
            let mut progress = log.subscribe_progress();
            let synced = progress.wait_for(|progress| may_fetch(flush_on_ack, *progress));
            if !matches!(tokio::time::timeout_at(deadline, synced).await, Ok(Ok(_))) {
                warn!(topic = p.topic, partition = p.index, "a replica's appends were not synced in time");
                continue;
            }
        }
        ready.push(p);
    }
    ready
}

/// Whether a follower may name its log end as its fetch offset: under `flush.on.ack` only
/// once everything up to it is synced, since the leader counts it as a durable copy.
pub fn may_fetch(flush_on_ack: bool, progress: Progress) -> bool {
    !flush_on_ack || progress.synced >= progress.log_end_offset || crate::bugs::planted("unsynced-follower")
}

/// What this replica tells the leader about `p`: its log end (what it holds), the leader
/// epoch it follows and the epoch of its last batch.
fn position(p: &FollowedPartition) -> (Key, Position) {
    let log = p.replica.log();
    let position = Position {
        fetch_offset: log.log_end_offset(),
        leader_epoch: p.leader_epoch,
        last_fetched_epoch: log.latest_epoch(),
        log_start_offset: log.log_start_offset(),
    };
    ((p.topic_id, p.index), position)
}

/// The fetch for `next`: the partitions it names, at their `positions`, and those the session
/// forgets.
fn fetch_request(
    config: &FetcherConfig,
    broker_epoch: i64,
    positions: &[(Key, Position)],
    next: &Next,
) -> FetchRequest {
    let mut by_topic: HashMap<Uuid, Vec<FetchPartition>> = HashMap::new();
    for ((topic_id, index), at) in positions.iter().zip(&next.send).filter(|(_, send)| **send).map(|(p, _)| *p) {
        let fetch = FetchPartition::default()
            .with_partition(index)
            .with_current_leader_epoch(at.leader_epoch)
            .with_fetch_offset(at.fetch_offset)
            .with_last_fetched_epoch(at.last_fetched_epoch)
            .with_log_start_offset(at.log_start_offset)
            .with_partition_max_bytes(config.partition_max_bytes);
        by_topic.entry(topic_id).or_default().push(fetch);
    }
    let topics = by_topic.into_iter().map(|(id, ps)| FetchTopic::default().with_topic_id(id).with_partitions(ps));
    let mut forget: HashMap<Uuid, Vec<i32>> = HashMap::new();
    for (topic_id, index) in &next.forget {
        forget.entry(*topic_id).or_default().push(*index);
    }
    let forgotten = forget.into_iter().map(|(id, ps)| ForgottenTopic::default().with_topic_id(id).with_partitions(ps));
    FetchRequest::default()
        .with_replica_state(
            ReplicaState::default().with_replica_id(BrokerId(config.node_id)).with_replica_epoch(broker_epoch),
        )
        .with_max_wait_ms(config.max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(config.response_max_bytes)
        .with_session_id(next.session_id)
        .with_session_epoch(next.epoch)
        .with_topics(topics.collect())
        .with_forgotten_topics_data(forgotten.collect())
}

/// Applies one partition's answer while the replica still follows that leadership. `Err`
/// asks the fetcher to back off from this partition.
pub fn apply(p: &FollowedPartition, data: PartitionData) -> Result<(), String> {
    let mut data = Some(data);
    let mut outcome = Ok(());
    let applied = p.replica.while_following(p.leader_epoch, &mut |_| {
        outcome = apply_following(p, data.take().expect("applied once"));
        Ok(())
    });
    match applied {
        Some(_) => outcome,
        None => Err("no longer a follower of this leadership".into()),
    }
}

/// Appends the answer's batches, or truncates where the logs diverged, then takes the
/// leader's high watermark as the bound on this replica's.
fn apply_following(p: &FollowedPartition, data: PartitionData) -> Result<(), String> {
    let log = p.replica.log();
    match ResponseError::try_from_code(data.error_code) {
        None => {}
        Some(ResponseError::OffsetOutOfRange) if data.log_start_offset > log.log_end_offset() => {
            // The leader's log starts after this one ends (retention ran meanwhile).
            info!(topic = p.topic, partition = p.index, start = data.log_start_offset, "replica starts over");
            log.truncate_fully_and_start_at(data.log_start_offset).map_err(|e| e.to_string())?;
            p.replica.truncated();
            return Ok(());
        }
        Some(code) => return Err(format!("{code:?}")),
    }
    if data.diverging_epoch.end_offset >= 0 {
        truncate_diverged(p, data.diverging_epoch.epoch, data.diverging_epoch.end_offset).map_err(|e| e.to_string())?;
        return Ok(());
    }
    if let Some(records) = data.records.filter(|r| !r.is_empty()) {
        log.append_replica(&records).map_err(|e| e.to_string())?;
        p.replica.appended(&records);
    }
    log.set_replication_floor(data.high_watermark);
    Ok(())
}

/// Kafka's truncation on a diverging epoch (KIP-279): to the leader's end of that epoch when
/// this log has the same epoch, else to this log's own end of the largest epoch below, and
/// the next fetch compares again.
fn truncate_diverged(p: &FollowedPartition, epoch: i32, leader_end: i64) -> Result<(), LogError> {
    let log = p.replica.log();
    let end = log.log_end_offset();
    let (own_epoch, own_end) = log.end_offset_for_epoch(epoch);
    let target = if own_epoch < 0 {
        leader_end.min(end)
    } else if own_epoch == epoch {
        leader_end.min(own_end)
    } else {
        own_end.min(end)
    };
    info!(topic = p.topic, partition = p.index, from = end, to = target, epoch, "truncating a diverged replica");
    log.truncate_to(target)?;
    p.replica.truncated();
    Ok(())
}
