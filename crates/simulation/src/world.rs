//! The event loop: a queue of deliveries and timers ordered by simulated time (ties by the
//! order they were scheduled), the fault schedule, and the report of one run.

use std::collections::BTreeMap;
use std::sync::Arc;

use brook_controller::MetadataRecord;
use brook_controller::requests::IsrChange;
use brook_log::ManualClock;
use brook_log::sim::Rng;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::PartitionData;

use crate::broker::Broker;
use crate::checker;
use crate::client::Client;
use crate::controller::Controller;
use crate::net::{CLIENT, CONTROLLER, Endpoint, Network};

/// The simulated brokers' settings (short, so that a run sees many elections).
pub(crate) const HEARTBEAT_MS: i64 = 300;
pub(crate) const SESSION_MS: i64 = 1_500;
pub(crate) const LAG_TIME_MAX_MS: i64 = 2_000;
pub(crate) const MIN_INSYNC: usize = 2;
pub(crate) const REPLICATION_FACTOR: usize = 3;
/// When the faults start, and how long the cluster has to settle once they stop.
const FAULTS_FROM_MS: i64 = 2_000;
const SETTLE_MS: i64 = 30_000;

#[derive(Debug, Clone)]
pub struct Config {
    pub brokers: i32,
    pub partitions: i32,
    /// How long faults are injected, in simulated ms.
    pub fault_ms: i64,
}

impl Default for Config {
    fn default() -> Config {
        Config { brokers: 3, partitions: 2, fault_ms: 20_000 }
    }
}

/// What one seed did and found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub seed: u64,
    pub anomalies: Vec<String>,
    pub faults: Vec<String>,
    pub sent: usize,
    pub acknowledged: usize,
    pub read: usize,
    pub simulated_ms: i64,
    pub events: u64,
    /// Controlled shutdowns that ended with the broker fenced and exiting by itself.
    pub clean_shutdowns: u64,
}

/// What travels between endpoints.
#[derive(Debug, Clone)]
pub(crate) enum Msg {
    Register,
    Registered { broker_epoch: i64 },
    Heartbeat { broker_epoch: i64, applied: u64, want_shutdown: bool },
    FetchMetadata { after: u64 },
    Metadata { commands: Vec<(u64, Vec<MetadataRecord>)> },
    Alter(IsrChange),
    AlterDone { partition: i32, leader_epoch: i32, ok: bool },
    Fetch { partition: i32, position: Position },
    FetchAnswer { partition: i32, leader_epoch: i32, data: Box<PartitionData> },
    Produce { id: u64, partition: i32, value: String },
    ProduceAnswer { id: u64, result: Result<i64, ResponseError> },
    Read { partition: i32, offset: i64 },
    ReadAnswer { partition: i32, offset: i64, result: Result<Vec<(i64, String)>, ResponseError> },
}

/// A follower's fetch position, as Kafka's Fetch names it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Position {
    pub(crate) broker_epoch: i64,
    pub(crate) current_leader_epoch: i32,
    pub(crate) fetch_offset: i64,
    pub(crate) last_fetched_epoch: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    Heartbeat,
    MetadataFetch,
    IsrCheck,
    Sync,
    Fetch(i32),
    AlterTimeout(i32),
    ControllerTick,
    Produce,
    Poll,
}

pub(crate) enum Event {
    Deliver { from: Endpoint, from_incarnation: u64, to: Endpoint, to_incarnation: u64, msg: Msg },
    Timer { at: Endpoint, incarnation: u64, timer: Timer },
    Fault(Fault),
    Heal(Fault),
    EndFaults,
    Settled,
}

/// What a handler asks the world to do.
#[derive(Default)]
pub(crate) struct Out {
    /// (to, the receiver's incarnation if this answers a request of it, message)
    sends: Vec<(Endpoint, Option<u64>, Msg)>,
    timers: Vec<(i64, Timer)>,
}

impl Out {
    /// A request: it reaches whichever incarnation of `to` runs when it is sent.
    pub(crate) fn send(&mut self, to: Endpoint, msg: Msg) {
        self.sends.push((to, None, msg));
    }

    /// An answer to a request from `incarnation` of `to`: lost if that process is gone.
    pub(crate) fn reply(&mut self, to: Endpoint, incarnation: u64, msg: Msg) {
        self.sends.push((to, Some(incarnation), msg));
    }

    pub(crate) fn timer(&mut self, after_ms: i64, timer: Timer) {
        self.timers.push((after_ms, timer));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    Kill(i32),
    /// SIGTERM: a controlled shutdown, then the process exits once fenced.
    Shutdown(i32),
    PowerCut(i32),
    PowerCutAll,
    Pause(i32),
    Isolate(i32),
    Partition(i32, i32),
    OneWay(i32, i32),
    Slow(i32),
    ControllerPause,
}

struct World {
    config: Config,
    now: i64,
    seq: u64,
    queue: BTreeMap<(i64, u64), Event>,
    rng: Rng,
    clock: Arc<ManualClock>,
    net: Network,
    controller: Controller,
    brokers: BTreeMap<i32, Broker>,
    client: Client,
    faults: Vec<String>,
    events: u64,
    settled: bool,
}

/// Runs one seed: the cluster starts, the workload runs through the faults, everything heals,
/// and the checker reads the history and every replica's log.
pub fn run(seed: u64, config: &Config) -> Report {
    let mut rng = Rng::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5eed);
    let clock = Arc::new(ManualClock::new(0));
    let brokers = (1..=config.brokers)
        .map(|id| {
            let disk_ms = [1, 5, 20][rng.below(3) as usize];
            (id, Broker::new(id, disk_ms, clock.clone()))
        })
        .collect();
    let mut world = World {
        config: config.clone(),
        now: 0,
        seq: 0,
        queue: BTreeMap::new(),
        controller: Controller::new(config.brokers, config.partitions, seed),
        client: Client::new(config.partitions),
        rng,
        clock,
        net: Network::default(),
        brokers,
        faults: Vec::new(),
        events: 0,
        settled: false,
    };
    world.start();
    let end = FAULTS_FROM_MS + config.fault_ms + SETTLE_MS;
    while let Some(((at, _), event)) = world.queue.pop_first() {
        if at > end || world.settled {
            break;
        }
        if std::env::var_os("BROOK_SIM_TRACE").is_some() && at / 1000 > world.now / 1000 {
            eprintln!("-- {at} ms");
        }
        world.clock.advance(at - world.now);
        world.now = at;
        world.events += 1;
        world.handle(event);
    }
    world.report(seed)
}

impl World {
    fn start(&mut self) {
        for id in self.broker_ids() {
            self.start_broker(id);
        }
        self.schedule(0, Event::Timer { at: CONTROLLER, incarnation: 0, timer: Timer::ControllerTick });
        for timer in [Timer::Produce, Timer::Poll] {
            self.schedule(0, Event::Timer { at: CLIENT, incarnation: 0, timer });
        }
        self.plan_faults();
    }

    fn broker_ids(&self) -> Vec<i32> {
        self.brokers.keys().copied().collect()
    }

    fn schedule(&mut self, at: i64, event: Event) {
        self.seq += 1;
        self.queue.insert((at, self.seq), event);
    }

    /// A seeded fault schedule: one fault (sometimes two together) at a time, each healed
    /// before the next begins.
    fn plan_faults(&mut self) {
        let ids = self.broker_ids();
        let mut t = FAULTS_FROM_MS;
        let until = FAULTS_FROM_MS + self.config.fault_ms;
        while t < until {
            let together = if self.rng.below(4) == 0 { 2 } else { 1 };
            let last = (400 + self.rng.below(3_600) as i64).min(until - t).max(1);
            for _ in 0..together {
                let fault = self.pick_fault(&ids);
                self.schedule(t, Event::Fault(fault));
                self.schedule(t + last, Event::Heal(fault));
            }
            t += last + 300 + self.rng.below(1_500) as i64;
        }
        self.schedule(until, Event::EndFaults);
    }

    fn pick_fault(&mut self, ids: &[i32]) -> Fault {
        let node = |rng: &mut Rng| ids[rng.below(ids.len() as u64) as usize];
        let a = node(&mut self.rng);
        let b = loop {
            let b = node(&mut self.rng);
            if b != a {
                break b;
            }
        };
        match self.rng.below(10) {
            0 => Fault::Kill(a),
            9 => Fault::Shutdown(a),
            1 => Fault::PowerCut(a),
            2 => Fault::PowerCutAll,
            3 => Fault::Pause(a),
            4 => Fault::Isolate(a),
            5 => Fault::Partition(a, b),
            6 => Fault::OneWay(a, b),
            7 => Fault::Slow(a),
            _ => Fault::ControllerPause,
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Deliver { from, from_incarnation, to, to_incarnation, msg } => {
                let mut out = Out::default();
                match to {
                    CONTROLLER => {
                        if self.controller.paused {
                            self.controller.deferred.push((from, from_incarnation, msg));
                            return;
                        }
                        self.controller.receive(from, from_incarnation, msg, self.now, &mut out);
                    }
                    CLIENT => self.client.receive(msg, self.now, &mut out),
                    id => {
                        let broker = self.brokers.get_mut(&id).expect("a broker");
                        if broker.incarnation != to_incarnation || !broker.is_up() {
                            return;
                        }
                        if broker.paused {
                            broker.deferred.push(Event::Deliver { from, from_incarnation, to, to_incarnation, msg });
                            return;
                        }
                        broker.receive(from, from_incarnation, msg, self.now, &mut out);
                    }
                }
                self.perform(to, out);
            }
            Event::Timer { at, incarnation, timer } => {
                let mut out = Out::default();
                match at {
                    CONTROLLER => {
                        if self.controller.paused {
                            self.controller.deferred_tick = true;
                            return;
                        }
                        self.controller.tick(self.now, &mut out);
                    }
                    CLIENT => {
                        let image = self.controller.image();
                        self.client.timer(timer, image, self.now, &mut out);
                    }
                    id => {
                        let broker = self.brokers.get_mut(&id).expect("a broker");
                        if broker.incarnation != incarnation || !broker.is_up() {
                            return;
                        }
                        if broker.paused {
                            broker.deferred.push(Event::Timer { at, incarnation, timer });
                            return;
                        }
                        broker.timer(timer, self.now, &mut out);
                    }
                }
                self.perform(at, out);
            }
            Event::Fault(fault) => self.inject(fault),
            Event::Heal(fault) => self.heal(fault),
            Event::EndFaults => {
                self.client.producing = false;
                self.schedule(self.now + 500, Event::Settled);
            }
            Event::Settled => {
                if self.converged() {
                    self.settled = true;
                } else {
                    self.schedule(self.now + 500, Event::Settled);
                }
            }
        }
    }

    /// Sends and arms what a handler at `from` asked for.
    fn perform(&mut self, from: Endpoint, out: Out) {
        let from_incarnation = self.incarnation(from);
        for (to, answers, msg) in out.sends {
            let to_incarnation = answers.unwrap_or_else(|| self.incarnation(to));
            if let Some(at) = self.net.delivery(from, to, self.now, &mut self.rng) {
                self.schedule(at, Event::Deliver { from, from_incarnation, to, to_incarnation, msg });
            }
        }
        for (after, timer) in out.timers {
            self.schedule(self.now + after.max(0), Event::Timer { at: from, incarnation: from_incarnation, timer });
        }
    }

    fn incarnation(&self, endpoint: Endpoint) -> u64 {
        self.brokers.get(&endpoint).map_or(0, |b| b.incarnation)
    }

    fn start_broker(&mut self, id: i32) {
        let mut out = Out::default();
        self.brokers.get_mut(&id).expect("a broker").start(self.now, &mut out);
        self.perform(id, out);
    }

    fn inject(&mut self, fault: Fault) {
        self.faults.push(format!("{} ms: {fault:?}", self.now));
        if std::env::var_os("BROOK_SIM_TRACE").is_some() {
            eprintln!("{} ms: {fault:?}", self.now);
        }
        match fault {
            Fault::Kill(id) => self.brokers.get_mut(&id).expect("a broker").stop(None),
            Fault::Shutdown(id) => self.brokers.get_mut(&id).expect("a broker").leave(),
            Fault::PowerCut(id) => {
                let seed = self.rng.below(u64::MAX);
                self.brokers.get_mut(&id).expect("a broker").stop(Some(seed));
            }
            Fault::PowerCutAll => {
                for id in self.broker_ids() {
                    let seed = self.rng.below(u64::MAX);
                    self.brokers.get_mut(&id).expect("a broker").stop(Some(seed));
                }
            }
            Fault::Pause(id) => self.brokers.get_mut(&id).expect("a broker").paused = true,
            Fault::Isolate(id) => {
                for other in self.broker_ids().into_iter().chain([CONTROLLER, CLIENT]).filter(|o| *o != id) {
                    self.net.cut(id, other);
                    self.net.cut(other, id);
                }
            }
            Fault::Partition(a, b) => {
                self.net.cut(a, b);
                self.net.cut(b, a);
            }
            Fault::OneWay(a, b) => self.net.cut(a, b),
            Fault::Slow(id) => {
                for other in self.broker_ids().into_iter().filter(|o| *o != id) {
                    let delay = 20 + self.rng.below(200) as i64;
                    self.net.slow(id, other, delay, delay / 2);
                }
            }
            Fault::ControllerPause => self.controller.paused = true,
        }
    }

    fn heal(&mut self, fault: Fault) {
        match fault {
            Fault::Kill(id) | Fault::PowerCut(id) => self.restart(id),
            // A shutdown the controller did not complete in time ends the process anyway, as
            // the real broker's timeout does.
            Fault::Shutdown(id) => {
                self.brokers.get_mut(&id).expect("a broker").stop(None);
                self.restart(id);
            }
            Fault::PowerCutAll => {
                // The brokers come back one by one, in a seeded order.
                let mut ids = self.broker_ids();
                while !ids.is_empty() {
                    let id = ids.remove(self.rng.below(ids.len() as u64) as usize);
                    self.restart(id);
                }
            }
            Fault::Pause(id) => {
                let broker = self.brokers.get_mut(&id).expect("a broker");
                broker.paused = false;
                let deferred = std::mem::take(&mut broker.deferred);
                for event in deferred {
                    self.schedule(self.now, event);
                }
            }
            Fault::Isolate(_) | Fault::Partition(..) | Fault::OneWay(..) | Fault::Slow(_) => self.net.heal(),
            Fault::ControllerPause => {
                self.controller.paused = false;
                let mut out = Out::default();
                self.controller.resume(self.now, &mut out);
                self.perform(CONTROLLER, out);
            }
        }
    }

    fn restart(&mut self, id: i32) {
        if !self.brokers[&id].is_up() {
            self.start_broker(id);
        }
    }

    /// Every broker up, every partition led with its whole ISR, every replica's log and high
    /// watermark equal to the leader's, and the consumer has read up to them.
    fn converged(&self) -> bool {
        let image = self.controller.image();
        let Some(topic) = image.topic(crate::controller::TOPIC) else { return false };
        if self.brokers.values().any(|b| !b.is_up() || b.paused) {
            return false;
        }
        topic.assignments.iter().enumerate().all(|(p, meta)| {
            let p = p as i32;
            let full = meta.leader >= 0 && meta.isr.len() == meta.replicas.len();
            let ends: Vec<(i64, i64)> = meta.replicas.iter().filter_map(|id| self.brokers[id].ends(p)).collect();
            full && ends.len() == meta.replicas.len()
                && ends.windows(2).all(|w| w[0] == w[1])
                && ends.first().is_some_and(|(end, hw)| end == hw && self.client.position(p) >= *hw)
        })
    }

    /// What a run that did not settle was stuck in.
    fn state(&self) -> String {
        let image = self.controller.image();
        let brokers: Vec<String> = image
            .brokers
            .values()
            .map(|b| format!("{}:{}", b.node_id, if b.fenced { "fenced" } else { "live" }))
            .collect();
        let partitions: Vec<String> = image
            .topic(crate::controller::TOPIC)
            .map(|t| {
                t.assignments
                    .iter()
                    .enumerate()
                    .map(|(p, m)| {
                        let ends: Vec<String> = m
                            .replicas
                            .iter()
                            .map(|id| {
                                let b = &self.brokers[id];
                                format!("{id}={:?} {}", b.ends(p as i32), b.fetcher(p as i32))
                            })
                            .collect();
                        format!(
                            "p{p} leader {} epoch {} isr {:?} ends/hw {} read to {}",
                            m.leader,
                            m.leader_epoch,
                            m.isr,
                            ends.join(" "),
                            self.client.position(p as i32)
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        format!("brokers {}; {}", brokers.join(" "), partitions.join("; "))
    }

    fn report(&self, seed: u64) -> Report {
        let mut anomalies = Vec::new();
        if !self.settled {
            anomalies
                .push(format!("the cluster did not settle within {SETTLE_MS} ms of the last fault: {}", self.state()));
        }
        let logs: checker::Replicas = (0..self.config.partitions)
            .map(|p| (p, self.brokers.iter().filter_map(|(id, b)| b.contents(p).map(|c| (*id, c))).collect()))
            .collect();
        anomalies.extend(checker::check(self.client.history(), &logs));
        let history = self.client.history();
        Report {
            seed,
            anomalies,
            faults: self.faults.clone(),
            sent: history.sent.len(),
            acknowledged: history.acked.len(),
            read: history.reads.len(),
            simulated_ms: self.now,
            events: self.events,
            clean_shutdowns: self.brokers.values().map(|b| b.clean_shutdowns).sum(),
        }
    }
}
