//! A simulated broker: what `brook server` does for replication, driven by messages and timers.
//! Its disk (a `SimStorage`) outlives its process: a kill keeps what was written, a power cut
//! keeps what was synced.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use brook_controller::MetadataImage;
use brook_controller::requests::IsrChange;
use brook_log::batch::{self, build};
use brook_log::sim::SimStorage;
use brook_log::{Durability, Log, LogConfig, LogEnv, LogError, ManualClock, ReadBound};
use brook_replication::role::{Assumed, FollowerFetch, FollowerPosition, IsrProposal, Role};
use brook_replication::{FollowedPartition, PartitionState, Replica, follower};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{EpochEndOffset, PartitionData};

use crate::controller::{TOPIC, topic_id};
use crate::net::{CONTROLLER, Endpoint};
use crate::world::{HEARTBEAT_MS, LAG_TIME_MAX_MS, MIN_INSYNC, Msg, Out, Position, Timer};

const METADATA_POLL_MS: i64 = 50;
/// A fetch unanswered this long is given up (the connection is presumed dead).
const FETCH_TIMEOUT_MS: i64 = 2_000;
const BACKOFF_MS: i64 = 100;
/// How long a follower waits after an answer without records (the leader's long poll).
const IDLE_FETCH_MS: i64 = 10;
const FETCH_MAX_BYTES: usize = 16 * 1024;
/// How long an ISR change waits for the controller before the leader may propose again (the
/// server's `ALTER_PARTITION_TIMEOUT`, scaled as the other settings are).
const ALTER_TIMEOUT_MS: i64 = 2_000;

pub(crate) struct Broker {
    id: i32,
    storage: Arc<SimStorage>,
    clock: Arc<ManualClock>,
    /// How long each sync takes.
    disk_ms: i64,
    process: Option<Process>,
    /// Bumped at each start: messages and timers of an earlier process are dropped.
    pub(crate) incarnation: u64,
    pub(crate) paused: bool,
    /// What arrived while paused, handled on waking.
    pub(crate) deferred: Vec<crate::world::Event>,
    /// Controlled shutdowns that completed (fenced, then exited by itself).
    pub(crate) clean_shutdowns: u64,
}

/// A running broker's memory, lost when it stops.
struct Process {
    image: MetadataImage,
    broker_epoch: Option<i64>,
    partitions: BTreeMap<i32, Arc<Hosted>>,
    /// Followed partitions: the leadership followed and the fetch in flight.
    fetching: BTreeMap<i32, Fetching>,
    /// acks=all writes waiting for the high watermark: (partition, offset, leader epoch,
    /// request id).
    waiting: Vec<(i32, i64, i32, u64)>,
    sync_armed: bool,
    /// When the metadata fetch in flight was sent.
    metadata_sent_at: Option<i64>,
    /// ISR changes in flight: partition to (leader epoch, sent at).
    alters: BTreeMap<i32, (i32, i64)>,
    /// In controlled shutdown (SIGTERM): heartbeats ask for it, and the process exits once the
    /// metadata shows it fenced.
    leaving: bool,
    /// Whether it serves: as the real broker's listener, only once the metadata shows it
    /// registered in this incarnation and unfenced. Until then, requests wait in the backlog.
    ready: bool,
    backlog: Vec<(Endpoint, u64, Msg)>,
}

struct Fetching {
    leader: i32,
    leader_epoch: i32,
    /// When the fetch in flight was sent.
    sent_at: Option<i64>,
}

/// A hosted partition: its log and its role.
struct Hosted {
    log: Log,
    role: Mutex<Role>,
}

impl Replica for Hosted {
    fn log(&self) -> &Log {
        &self.log
    }

    fn while_following(
        &self,
        leader_epoch: i32,
        change: &mut dyn FnMut(&Log) -> Result<(), LogError>,
    ) -> Option<Result<(), LogError>> {
        let role = self.role.lock().expect("role lock");
        role.follows(leader_epoch).then(|| change(&self.log))
    }

    fn appended(&self, _batches: &[u8]) {}

    fn truncated(&self) {}
}

/// `BROOK_SIM_TRACE=<partition>` prints what each broker does with that partition.
fn traced(partition: i32) -> bool {
    static TRACED: std::sync::OnceLock<Option<i32>> = std::sync::OnceLock::new();
    *TRACED.get_or_init(|| std::env::var("BROOK_SIM_TRACE").ok().and_then(|v| v.parse().ok())) == Some(partition)
}

impl Broker {
    pub(crate) fn new(id: i32, disk_ms: i64, clock: Arc<ManualClock>) -> Broker {
        Broker {
            id,
            storage: SimStorage::new(),
            clock,
            disk_ms,
            process: None,
            incarnation: 0,
            paused: false,
            deferred: Vec::new(),
            clean_shutdowns: 0,
        }
    }

    pub(crate) fn is_up(&self) -> bool {
        self.process.is_some()
    }

    pub(crate) fn start(&mut self, _now: i64, out: &mut Out) {
        self.incarnation += 1;
        self.paused = false;
        self.deferred.clear();
        self.process = Some(Process {
            image: MetadataImage::default(),
            broker_epoch: None,
            partitions: BTreeMap::new(),
            fetching: BTreeMap::new(),
            waiting: Vec::new(),
            sync_armed: false,
            metadata_sent_at: None,
            alters: BTreeMap::new(),
            leaving: false,
            ready: false,
            backlog: Vec::new(),
        });
        out.send(CONTROLLER, Msg::Register);
        out.timer(HEARTBEAT_MS, Timer::Heartbeat);
        out.timer(0, Timer::MetadataFetch);
        out.timer(LAG_TIME_MAX_MS / 2, Timer::IsrCheck);
    }

    /// A kill -9, or with a seed a power cut: the disk keeps only what was synced.
    pub(crate) fn stop(&mut self, power_cut: Option<u64>) {
        self.process = None;
        self.paused = false;
        self.deferred.clear();
        if let Some(seed) = power_cut {
            self.storage.power_cut(seed);
        }
    }

    /// SIGTERM: a controlled shutdown begins with the next heartbeat.
    pub(crate) fn leave(&mut self) {
        if let Some(process) = self.process.as_mut() {
            process.leaving = true;
        }
    }

    /// A partition's log end and high watermark, if hosted.
    pub(crate) fn ends(&self, partition: i32) -> Option<(i64, i64)> {
        let hosted = self.process.as_ref()?.partitions.get(&partition)?;
        Some((hosted.log.log_end_offset(), hosted.log.high_watermark()))
    }

    /// What a follower's fetcher of `partition` is doing, for reports of a stuck run.
    pub(crate) fn fetcher(&self, partition: i32) -> String {
        let Some(process) = self.process.as_ref() else { return "down".into() };
        match process.fetching.get(&partition) {
            Some(f) => format!("fetching from {} in epoch {} (sent at {:?})", f.leader, f.leader_epoch, f.sent_at),
            None => "not fetching".into(),
        }
    }

    /// A partition's high watermark and every record of its log, if hosted.
    pub(crate) fn contents(&self, partition: i32) -> Option<(i64, Vec<(i64, String)>)> {
        let hosted = self.process.as_ref()?.partitions.get(&partition)?;
        let log = &hosted.log;
        let records = read_values(log, log.log_start_offset(), usize::MAX, ReadBound::LogEnd).ok()?;
        Some((log.high_watermark(), records))
    }

    pub(crate) fn receive(&mut self, from: Endpoint, from_incarnation: u64, msg: Msg, now: i64, out: &mut Out) {
        let id = self.id;
        let Some(process) = self.process.as_mut() else { return };
        if !process.ready && matches!(msg, Msg::Fetch { .. } | Msg::Produce { .. } | Msg::Read { .. }) {
            process.backlog.push((from, from_incarnation, msg));
            return;
        }
        match msg {
            Msg::Registered { broker_epoch } => {
                process.broker_epoch = Some(broker_epoch);
                self.serve_when_ready(now, out);
            }
            Msg::Metadata { commands } => {
                process.metadata_sent_at = None;
                let mut changed = false;
                for (index, records) in commands {
                    if index == process.image.applied_index + 1 {
                        records.iter().for_each(|r| process.image.apply(index, r));
                        process.image.applied_index = index;
                        changed = true;
                    }
                }
                let fenced = |p: &Process| {
                    p.broker_epoch.is_some_and(|e| p.image.brokers.get(&id).is_some_and(|b| b.epoch == e && b.fenced))
                };
                if process.leaving && fenced(process) {
                    // It leads nothing and is out of every ISR: the process exits.
                    self.stop(None);
                    self.clean_shutdowns += 1;
                    return;
                }
                if changed {
                    self.assign_roles(now, out);
                    self.serve_when_ready(now, out);
                }
                out.timer(METADATA_POLL_MS, Timer::MetadataFetch);
            }
            Msg::AlterDone { partition, leader_epoch, ok } => {
                if process.alters.get(&partition).is_some_and(|(epoch, _)| *epoch == leader_epoch) {
                    process.alters.remove(&partition);
                }
                if !ok {
                    process.alter_failed(partition, leader_epoch);
                }
            }
            Msg::Fetch { partition, position } => {
                let data = Box::new(self.serve_fetch(from, partition, position, now, out));
                out.reply(
                    from,
                    from_incarnation,
                    Msg::FetchAnswer { partition, leader_epoch: position.current_leader_epoch, data },
                );
                self.answer_waiting(out);
            }
            Msg::FetchAnswer { partition, leader_epoch, data } => {
                self.follower_answer(partition, leader_epoch, data, out)
            }
            Msg::Produce { id: request, partition, value } => {
                let result = process.append(partition, &value, now);
                if traced(partition) {
                    eprintln!("  broker {id} p{partition} appends {value}: {result:?}");
                }
                match result {
                    Ok(waiting) => {
                        process.waiting.push((partition, waiting.0, waiting.1, request));
                        self.arm_sync(out);
                    }
                    Err(code) => {
                        out.reply(from, from_incarnation, Msg::ProduceAnswer { id: request, result: Err(code) })
                    }
                }
            }
            Msg::Read { partition, offset } => {
                let result = process.read(partition, offset);
                out.reply(from, from_incarnation, Msg::ReadAnswer { partition, offset, result });
            }
            other => unreachable!("broker {id} got {other:?}"),
        }
    }

    pub(crate) fn timer(&mut self, timer: Timer, now: i64, out: &mut Out) {
        let (id, disk_ms) = (self.id, self.disk_ms);
        let Some(process) = self.process.as_mut() else { return };
        match timer {
            Timer::Heartbeat => {
                match process.broker_epoch {
                    Some(broker_epoch) => {
                        let (applied, want_shutdown) = (process.image.applied_index, process.leaving);
                        out.send(CONTROLLER, Msg::Heartbeat { broker_epoch, applied, want_shutdown })
                    }
                    None => out.send(CONTROLLER, Msg::Register),
                }
                out.timer(HEARTBEAT_MS, Timer::Heartbeat);
            }
            Timer::MetadataFetch => {
                if process.metadata_sent_at.is_some_and(|at| now - at < FETCH_TIMEOUT_MS) {
                    return;
                }
                process.metadata_sent_at = Some(now);
                out.send(CONTROLLER, Msg::FetchMetadata { after: process.image.applied_index });
                out.timer(FETCH_TIMEOUT_MS, Timer::MetadataFetch);
            }
            Timer::IsrCheck => {
                let mut alters = Vec::new();
                for (partition, hosted) in &process.partitions {
                    let proposal = hosted.role.lock().expect("role lock").check_isr(now, LAG_TIME_MAX_MS);
                    if let Some(p) = proposal {
                        alters.push((*partition, p));
                    }
                }
                for (partition, p) in alters {
                    process.propose(id, partition, p, now, out);
                }
                out.timer(LAG_TIME_MAX_MS / 2, Timer::IsrCheck);
            }
            Timer::AlterTimeout(partition) => {
                if let Some(&(leader_epoch, sent_at)) = process.alters.get(&partition)
                    && now - sent_at >= ALTER_TIMEOUT_MS
                {
                    process.alters.remove(&partition);
                    process.alter_failed(partition, leader_epoch);
                }
            }
            Timer::Sync => {
                process.sync_armed = false;
                for hosted in process.partitions.values() {
                    // A failed sync leaves the log offline; its next append reports it.
                    let _ = hosted.log.sync();
                }
                self.answer_waiting(out);
            }
            Timer::Fetch(partition) => {
                let Some(fetching) = process.fetching.get_mut(&partition) else { return };
                if fetching.sent_at.is_some_and(|at| now - at < FETCH_TIMEOUT_MS) {
                    return;
                }
                let hosted = &process.partitions[&partition];
                let log = &hosted.log;
                if !follower::may_fetch(log.config().flush_on_ack, log.progress()) {
                    out.timer(disk_ms, Timer::Fetch(partition));
                    return;
                }
                let position = Position {
                    broker_epoch: process.broker_epoch.unwrap_or(-1),
                    current_leader_epoch: fetching.leader_epoch,
                    fetch_offset: log.log_end_offset(),
                    last_fetched_epoch: log.latest_epoch(),
                };
                fetching.sent_at = Some(now);
                if traced(partition) {
                    eprintln!("  broker {id} p{partition} fetches {position:?} synced {}", log.progress().synced);
                }
                out.send(fetching.leader, Msg::Fetch { partition, position });
                out.timer(FETCH_TIMEOUT_MS, Timer::Fetch(partition));
            }
            other => unreachable!("broker {id} got timer {other:?}"),
        }
    }

    /// Starts serving once the image shows this incarnation registered and unfenced (the
    /// real broker's `wait_unfenced` before it accepts connections): its roles then come
    /// from metadata that has seen its restart, never from a leadership it held before it.
    fn serve_when_ready(&mut self, now: i64, out: &mut Out) {
        let id = self.id;
        let process = self.process.as_mut().expect("running");
        let registered = process
            .broker_epoch
            .is_some_and(|epoch| process.image.brokers.get(&id).is_some_and(|b| b.epoch == epoch && !b.fenced));
        if process.ready || !registered {
            return;
        }
        process.ready = true;
        for (from, incarnation, msg) in std::mem::take(&mut process.backlog) {
            self.receive(from, incarnation, msg, now, out);
        }
    }

    /// Gives every hosted partition the role the image says, opening its log on first use,
    /// and fetchers to the partitions it follows.
    fn assign_roles(&mut self, now: i64, out: &mut Out) {
        let (id, storage, clock) = (self.id, self.storage.clone(), self.clock.clone());
        let process = self.process.as_mut().expect("running");
        let Some(topic) = process.image.topic(TOPIC).cloned() else { return };
        for (index, meta) in topic.assignments.iter().enumerate() {
            let partition = index as i32;
            if !meta.replicas.contains(&id) {
                continue;
            }
            let hosted = process.partitions.entry(partition).or_insert_with(|| {
                let dir = PathBuf::from(format!("/broker-{id}/{TOPIC}-{partition}"));
                let config = LogConfig { segment_bytes: 4096, ..LogConfig::default() };
                let log = Log::open(&dir, config, LogEnv::new(storage.clone(), clock.clone(), None))
                    .expect("a simulated log opens");
                Arc::new(Hosted { log, role: Mutex::new(Role::Unreplicated) })
            });
            let state = PartitionState {
                leader_epoch: meta.leader_epoch,
                partition_epoch: meta.partition_epoch,
                replicas: meta.replicas.clone(),
                isr: meta.isr.clone(),
            };
            let assumed =
                hosted.role.lock().expect("role lock").assume(&hosted.log, id, meta.leader, state, MIN_INSYNC, now);
            if traced(partition) {
                let log = &hosted.log;
                eprintln!(
                    "  broker {id} p{partition} {assumed:?} in epoch {} isr {:?}; end {} hw {} epochs latest {}",
                    meta.leader_epoch,
                    meta.isr,
                    log.log_end_offset(),
                    log.high_watermark(),
                    log.latest_epoch()
                );
            }
            match assumed {
                Assumed::Follower { leader, .. } if leader >= 0 => {
                    let same = process
                        .fetching
                        .get(&partition)
                        .is_some_and(|f| f.leader == leader && f.leader_epoch == meta.leader_epoch);
                    if !same {
                        let fetching = Fetching { leader, leader_epoch: meta.leader_epoch, sent_at: None };
                        process.fetching.insert(partition, fetching);
                        out.timer(0, Timer::Fetch(partition));
                    }
                }
                _ => {
                    process.fetching.remove(&partition);
                }
            }
        }
        self.answer_waiting(out);
    }

    /// A leader's answer to a follower's fetch.
    fn serve_fetch(&mut self, from: i32, partition: i32, at: Position, now: i64, out: &mut Out) -> PartitionData {
        let id = self.id;
        let process = self.process.as_mut().expect("running");
        let data = PartitionData::default().with_partition_index(partition);
        let Some(hosted) = process.partitions.get(&partition).cloned() else {
            return data.with_error_code(ResponseError::NotLeaderOrFollower.code());
        };
        let log = &hosted.log;
        let eligible = process.image.brokers.get(&from).is_some_and(|b| !b.fenced && b.epoch == at.broker_epoch);
        let fetch = FollowerPosition {
            replica: from,
            eligible,
            current_leader_epoch: at.current_leader_epoch,
            fetch_offset: at.fetch_offset,
            last_fetched_epoch: at.last_fetched_epoch,
        };
        let judged =
            hosted.role.lock().expect("role lock").follower_fetch(log, MIN_INSYNC, fetch, log.high_watermark(), now);
        if traced(partition) {
            eprintln!(
                "  broker {id} p{partition} serves {from} at {} -> {judged:?}, hw {}",
                at.fetch_offset,
                log.high_watermark()
            );
        }
        let data = data.with_high_watermark(log.high_watermark()).with_log_start_offset(log.log_start_offset());
        match judged {
            Err(code) => data.with_error_code(code.code()),
            Ok(FollowerFetch::Diverged { epoch, end_offset }) => {
                data.with_diverging_epoch(EpochEndOffset::default().with_epoch(epoch).with_end_offset(end_offset))
            }
            Ok(FollowerFetch::Serve(proposal)) => {
                if let Some(p) = proposal {
                    process.propose(id, partition, p, now, out);
                }
                match log.read(at.fetch_offset, FETCH_MAX_BYTES, ReadBound::LogEnd) {
                    Ok(records) => data.with_records(Some(records)).with_high_watermark(log.high_watermark()),
                    Err(e) => data.with_error_code(e.kafka_error_code()),
                }
            }
        }
    }

    /// A follower applies its leader's answer, as the real fetcher does.
    fn follower_answer(&mut self, partition: i32, leader_epoch: i32, data: Box<PartitionData>, out: &mut Out) {
        let process = self.process.as_mut().expect("running");
        let Some(fetching) = process.fetching.get_mut(&partition) else { return };
        if fetching.leader_epoch != leader_epoch || fetching.sent_at.is_none() {
            return;
        }
        fetching.sent_at = None;
        let had_records = data.records.as_ref().is_some_and(|r| !r.is_empty());
        let followed = FollowedPartition {
            topic: TOPIC.to_string(),
            topic_id: topic_id(),
            index: partition,
            leader: fetching.leader,
            leader_epoch,
            replica: process.partitions[&partition].clone(),
        };
        let log = &process.partitions[&partition].log;
        let before = (log.log_end_offset(), log.high_watermark());
        let diverging = (data.diverging_epoch.epoch, data.diverging_epoch.end_offset);
        let applied = follower::apply(&followed, *data);
        if traced(partition) {
            let after = (log.log_end_offset(), log.high_watermark());
            if before != after || diverging.1 >= 0 {
                eprintln!(
                    "  broker {} p{partition} follows {} e{leader_epoch}: end/hw {before:?} -> {after:?} diverging {diverging:?} {applied:?}",
                    self.id, followed.leader
                );
            }
        }
        let next = match applied {
            Ok(()) if had_records => 0,
            Ok(()) => IDLE_FETCH_MS,
            Err(_) => BACKOFF_MS,
        };
        out.timer(next, Timer::Fetch(partition));
        if had_records {
            self.arm_sync(out);
        }
    }

    fn arm_sync(&mut self, out: &mut Out) {
        let disk_ms = self.disk_ms;
        let process = self.process.as_mut().expect("running");
        if !process.sync_armed {
            process.sync_armed = true;
            out.timer(disk_ms, Timer::Sync);
        }
    }

    /// Answers the acks=all writes whose fate is known, by `Partition::wait_committed`'s rule:
    /// committed once the high watermark passes them within the leadership that appended
    /// them; refused when that leadership ends or the ISR falls below the minimum.
    fn answer_waiting(&mut self, out: &mut Out) {
        let process = self.process.as_mut().expect("running");
        let (partitions, image) = (&process.partitions, &process.image);
        process.waiting.retain(|&(partition, offset, leader_epoch, request)| {
            let hosted = &partitions[&partition];
            let leads = hosted.role.lock().expect("role lock").leads_in(leader_epoch);
            let isr = image.topic(TOPIC).and_then(|t| t.partition(partition)).map_or(0, |m| m.isr.len());
            let result = if hosted.log.high_watermark() > offset {
                if leads { Ok(offset) } else { Err(ResponseError::NotLeaderOrFollower) }
            } else if !leads {
                Err(ResponseError::NotLeaderOrFollower)
            } else if isr < MIN_INSYNC {
                Err(ResponseError::NotEnoughReplicasAfterAppend)
            } else {
                return true;
            };
            out.reply(crate::net::CLIENT, 0, Msg::ProduceAnswer { id: request, result });
            false
        });
    }
}

impl Process {
    /// Asks the controller for an ISR change (AlterPartition), with a deadline.
    fn propose(&mut self, id: i32, partition: i32, p: IsrProposal, now: i64, out: &mut Out) {
        self.alters.insert(partition, (p.leader_epoch, now));
        out.send(
            CONTROLLER,
            Msg::Alter(IsrChange {
                topic_id: topic_id(),
                partition,
                leader: id,
                broker_epoch: self.broker_epoch.unwrap_or(-1),
                leader_epoch: p.leader_epoch,
                partition_epoch: p.partition_epoch,
                isr: p.isr,
            }),
        );
        out.timer(ALTER_TIMEOUT_MS, Timer::AlterTimeout(partition));
    }

    fn alter_failed(&self, partition: i32, leader_epoch: i32) {
        if let Some(hosted) = self.partitions.get(&partition) {
            hosted.role.lock().expect("role lock").isr_change_failed(leader_epoch);
        }
    }

    /// A producer's write, if this replica leads with enough in sync: (offset, leader epoch).
    fn append(&self, partition: i32, value: &str, now: i64) -> Result<(i64, i32), ResponseError> {
        let hosted = self.partitions.get(&partition).ok_or(ResponseError::NotLeaderOrFollower)?;
        let role = hosted.role.lock().expect("role lock");
        let epoch = role.append_epoch(&hosted.log).ok_or(ResponseError::NotLeaderOrFollower)?;
        let isr = self.image.topic(TOPIC).and_then(|t| t.partition(partition)).map_or(0, |m| m.isr.len());
        if isr < MIN_INSYNC {
            return Err(ResponseError::NotEnoughReplicas);
        }
        let record = build::Record { timestamp_delta: 0, key: None, value: Some(value.as_bytes().to_vec()) };
        let batch = build::batch(now, &[record]);
        let appended = hosted.log.append(batch, Durability::Sync).map_err(|e| {
            ResponseError::try_from_code(e.kafka_error_code()).unwrap_or(ResponseError::UnknownServerError)
        })?;
        Ok((appended.base_offset, epoch))
    }

    /// A consumer's read: what the leader's high watermark covers from `offset`.
    fn read(&self, partition: i32, offset: i64) -> Result<Vec<(i64, String)>, ResponseError> {
        let hosted = self.partitions.get(&partition).ok_or(ResponseError::NotLeaderOrFollower)?;
        if hosted.role.lock().expect("role lock").append_epoch(&hosted.log).is_none() {
            return Err(ResponseError::NotLeaderOrFollower);
        }
        read_values(&hosted.log, offset, FETCH_MAX_BYTES, ReadBound::HighWatermark).map_err(|e| {
            ResponseError::try_from_code(e.kafka_error_code()).unwrap_or(ResponseError::UnknownServerError)
        })
    }
}

/// Every (offset, value) of the batches `log` returns from `offset` up to `bound`.
fn read_values(log: &Log, offset: i64, max_bytes: usize, bound: ReadBound) -> Result<Vec<(i64, String)>, LogError> {
    let mut out = Vec::new();
    let mut next = offset;
    loop {
        let bytes = log.read(next, max_bytes.min(1 << 20), bound)?;
        let before = out.len();
        for (header, batch) in batch::whole_batches(&bytes) {
            let records = batch::decode_records(batch).unwrap_or_default();
            for (i, record) in records.into_iter().enumerate() {
                let value = String::from_utf8_lossy(record.value.as_deref().unwrap_or_default()).into_owned();
                out.push((header.base_offset + i as i64, value));
            }
            next = header.next_offset();
        }
        if out.len() == before || max_bytes != usize::MAX {
            return Ok(out);
        }
    }
}
