//! The simulated active controller: the metadata log (one ordered log standing for the
//! quorum), broker sessions, and Brook's controller decisions on every request.

use std::collections::BTreeMap;

use brook_controller::elections::ElectionPolicy;
use brook_controller::{MetadataImage, MetadataRecord, decisions};
use uuid::Uuid;

use crate::net::Endpoint;
use crate::world::{MIN_INSYNC, Msg, Out, REPLICATION_FACTOR, SESSION_MS, Timer};

pub(crate) const TOPIC: &str = "events";
const TICK_MS: i64 = 100;
/// At most this many commands per metadata answer.
const CATCHUP_COMMANDS: usize = 100;

pub(crate) fn topic_id() -> Uuid {
    Uuid::from_u128(0xb400c)
}

pub(crate) struct Controller {
    brokers: i32,
    partitions: i32,
    seed: u64,
    image: MetadataImage,
    /// Committed commands: (index, records).
    log: Vec<(u64, Vec<MetadataRecord>)>,
    last_heartbeat: BTreeMap<i32, i64>,
    /// Sessions count from here at the earliest (a new or woken controller's start).
    since: i64,
    last_tick: i64,
    pub(crate) paused: bool,
    pub(crate) deferred: Vec<(Endpoint, u64, Msg)>,
    pub(crate) deferred_tick: bool,
}

impl Controller {
    pub(crate) fn new(brokers: i32, partitions: i32, seed: u64) -> Controller {
        let mut c = Controller {
            brokers,
            partitions,
            seed,
            image: MetadataImage::default(),
            log: Vec::new(),
            last_heartbeat: BTreeMap::new(),
            since: 0,
            last_tick: 0,
            paused: false,
            deferred: Vec::new(),
            deferred_tick: false,
        };
        let cluster_id = format!("sim-{seed}");
        c.commit(vec![MetadataRecord::ClusterCreated { cluster_id }]);
        c
    }

    pub(crate) fn image(&self) -> &MetadataImage {
        &self.image
    }

    fn commit(&mut self, records: Vec<MetadataRecord>) -> u64 {
        let index = self.log.len() as u64 + 1;
        records.iter().for_each(|r| self.image.apply(index, r));
        self.image.applied_index = index;
        self.log.push((index, records));
        index
    }

    pub(crate) fn receive(&mut self, from: Endpoint, incarnation: u64, msg: Msg, now: i64, out: &mut Out) {
        match msg {
            Msg::Register => {
                let id = Uuid::from_u64_pair(from as u64, incarnation ^ self.seed);
                let index =
                    self.commit(decisions::register(&self.image, &ElectionPolicy::default(), from, id, vec![], None));
                self.last_heartbeat.insert(from, now);
                out.reply(from, incarnation, Msg::Registered { broker_epoch: index as i64 });
            }
            Msg::Heartbeat { broker_epoch, applied, want_shutdown } => {
                self.last_heartbeat.insert(from, now);
                let Some(broker) = self.image.brokers.get(&from).filter(|b| b.epoch == broker_epoch) else { return };
                let policy = ElectionPolicy::default();
                let records = decisions::heartbeat(&self.image, &policy, broker, applied, want_shutdown);
                if !records.is_empty() {
                    self.commit(records);
                }
            }
            Msg::Alter(change) => {
                let (partition, leader_epoch) = (change.partition, change.leader_epoch);
                let ok = match decisions::alter_partition(&self.image, change) {
                    Ok(records) => {
                        self.commit(records);
                        true
                    }
                    Err(_) => false,
                };
                out.reply(from, incarnation, Msg::AlterDone { partition, leader_epoch, ok });
            }
            Msg::FetchMetadata { after } => {
                let commands = self.log.iter().skip(after as usize).take(CATCHUP_COMMANDS).cloned().collect();
                out.reply(from, incarnation, Msg::Metadata { commands });
            }
            other => unreachable!("the controller got {other:?}"),
        }
    }

    /// Fences the brokers whose session ran out, and creates the topic once every broker is
    /// live. A controller that did not run for half a session (paused, or newly elected)
    /// first gives every broker a whole session, as the real one does.
    pub(crate) fn tick(&mut self, now: i64, out: &mut Out) {
        if now - self.last_tick > SESSION_MS / 2 {
            self.since = now;
        }
        self.last_tick = now;
        let expired: Vec<(i32, i64)> = self
            .image
            .live_brokers()
            .filter(|b| self.last_heartbeat.get(&b.node_id).copied().unwrap_or(0).max(self.since) + SESSION_MS < now)
            .map(|b| (b.node_id, b.epoch))
            .collect();
        let records = decisions::fence_expired(&self.image, &ElectionPolicy::default(), &expired);
        if !records.is_empty() {
            self.commit(records);
        }
        if self.image.topic(TOPIC).is_none() && self.image.live_brokers().count() == self.brokers as usize {
            self.create_topic();
        }
        out.timer(TICK_MS, Timer::ControllerTick);
    }

    /// Woken after a pause: what arrived meanwhile, then the housekeeping.
    pub(crate) fn resume(&mut self, now: i64, out: &mut Out) {
        for (from, incarnation, msg) in std::mem::take(&mut self.deferred) {
            self.receive(from, incarnation, msg, now, out);
        }
        if std::mem::take(&mut self.deferred_tick) {
            self.tick(now, out);
        }
    }

    /// The topic: partition `p` on brokers p+1, p+2, ... (wrapping), min ISR 2.
    fn create_topic(&mut self) {
        let configs = BTreeMap::from([("min.insync.replicas".to_string(), MIN_INSYNC.to_string())]);
        let mut records = vec![MetadataRecord::TopicCreated { name: TOPIC.into(), id: topic_id(), configs }];
        for p in 0..self.partitions {
            let replicas: Vec<i32> = (0..REPLICATION_FACTOR as i32).map(|k| (p + k) % self.brokers + 1).collect();
            records.push(MetadataRecord::PartitionCreated {
                topic_id: topic_id(),
                partition: p,
                isr: replicas.clone(),
                leader: replicas[0],
                replicas,
            });
        }
        self.commit(records);
    }
}
