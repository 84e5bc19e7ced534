//! A replicated cluster under faults, checked as Jepsen's Kafka workload checks Kafka:
//! idempotent acks=all producers send unique values while a reader polls every partition, and
//! a nemesis, on a seeded schedule, takes turns at:
//! - kill -9 and restart of a node, and of the active controller;
//! - SIGSTOP / SIGCONT of a node;
//! - isolating a leader: the other two freeze, then it freezes and they wake, so a leader that
//!   acknowledged what its followers never got is replaced by them;
//! - a power cut of one node, and of all three with the leader on the fastest disk coming back
//!   only once the others lead (each loses what it had not fdatasynced, on disks made slow to
//!   widen that window: `BROOK_TEST_POWER_CUT`);
//! - network partitions (each node in its own network namespace, `common/netns.rs`): a leader
//!   cut off both ways, a leader the others stop hearing, and two nodes that stop hearing each
//!   other while the third hears both;
//! - slow links: everything between a leader and the others delayed by 20 to 200 ms plus up to
//!   as much again, so packets also arrive out of order (NFQUEUE, `netns::SlowLink`).
//!
//! After the faults heal, every partition is read from its start, and the history checker
//! (`common/history.rs`) looks for lost, duplicated, moved, overwritten and phantom values and
//! for polls going backwards.
//!
//! `BROOK_FAULT_ROUNDS` (default: one per kind), or `BROOK_FAULT_SECONDS` (rounds until that
//! much time has passed), `BROOK_FAULT_SEED` (default: from the clock, printed) and
//! `BROOK_FAULT_KINDS` (default: all of `KINDS`) and `BROOK_FAULT_NODES` (default 3; the
//! topic keeps replication factor 3) set the run; `scripts/faults` runs it for
//! longer. Built with the `bugs` feature and a `BROOK_BUG`, the cluster is deliberately broken
//! and the run must fail: that is how the checker is shown to work.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::clients::{assigned_from_start, read_to_end};
use crate::common::cluster::{Cluster, SETTLE, Spec};
use crate::common::eventually;
use crate::common::history::{Anomaly, GroupEvent, History, check};
use crate::common::kafka::KafkaCluster;
use crate::common::wire::{Conn, topic_partitions};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use kafka_protocol::messages::{ApiKey, DescribeClusterRequest, ResponseKind};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

const TOPIC: &str = "jepsen";
const PARTITIONS: i32 = 3;
/// The consumer group that reads beside the assigned reader, committing as it goes.
const GROUP: &str = "jepsen-group";
const GROUP_MEMBERS: usize = 2;

/// Fast failure detection, so a round takes seconds; few `__consumer_offsets` partitions, so
/// that the controller's ISR changes after a fault (one commit each, on slow disks) do not
/// crowd out the heartbeats.
const SETTINGS: &[&str] = &[
    "broker.heartbeat.interval.ms=300",
    "broker.session.timeout.ms=2000",
    "replica.lag.time.max.ms=3000",
    "offsets.topic.num.partitions=3",
];

/// Slow disks of unequal speed (each node's fdatasyncs take this much longer), so that a
/// power cut finds unsynced writes to drop, and followers sync well after their leaders.
const FSYNC_DELAY_MS: [u64; 3] = [1, 10, 30];

/// splitmix64: a seeded schedule without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    Kill(i32),
    Pause(i32),
    KillController,
    Isolate(i32),
    PowerCut(i32),
    /// Every node loses power; all but this one (the leader on the fastest disk, whose
    /// followers had synced least) come back first, so they elect leaders among themselves
    /// from what they kept.
    PowerCutAll(i32),
    /// The node (a leader) and the other two no longer hear each other; clients reach all.
    Partition(i32),
    /// The other two no longer hear the node (a leader); it still hears them.
    PartitionOneWay(i32),
    /// These two no longer hear each other; the third hears both (Jepsen's "bridge").
    Bridge(i32, i32),
    /// Everything between the node (a leader) and the others is delayed by this many ms plus
    /// up to as many again, so packets also arrive out of order.
    SlowLinks(i32, u64),
}

/// The kinds of fault, by the names `BROOK_FAULT_KINDS` takes.
const KINDS: [&str; 10] = [
    "kill",
    "pause",
    "kill-controller",
    "isolate",
    "power-cut",
    "power-cut-all",
    "partition",
    "partition-one-way",
    "bridge",
    "slow-links",
];

/// The index in `KINDS` of the kind `name`.
fn kind(name: &str) -> usize {
    KINDS.iter().position(|k| *k == name.trim()).unwrap_or_else(|| panic!("no fault kind {name:?}: {KINDS:?}"))
}

/// The kinds that take turns: `BROOK_FAULT_KINDS` (names, comma-separated), else all.
fn kinds() -> Vec<usize> {
    let Ok(names) = std::env::var("BROOK_FAULT_KINDS") else { return (0..KINDS.len()).collect() };
    names.split(',').map(kind).collect()
}

/// The leader of a seeded partition, as `node` sees it (else `node`), so that a fault meets a
/// leader taking writes.
fn leader_of_some_partition(target: &dyn Target, node: i32, rng: &mut Rng) -> i32 {
    let current = leaders(&target.addr(node)).unwrap_or_default();
    current.get(rng.below(PARTITIONS as u64) as usize).copied().filter(|l| *l > 0).unwrap_or(node)
}

/// Node `id`'s fdatasync delay (the last figure for nodes beyond the list, as `Spec` has it).
fn disk_delay_ms(id: i32) -> u64 {
    FSYNC_DELAY_MS.get((id - 1) as usize).or(FSYNC_DELAY_MS.last()).copied().unwrap_or(0)
}

/// Of the partitions' leaders as `node` sees them, the one on the fastest disk (else `node`).
fn fastest_leader(target: &dyn Target, node: i32) -> i32 {
    let current = leaders(&target.addr(node)).unwrap_or_default();
    current.into_iter().filter(|l| *l > 0).min_by_key(|l| disk_delay_ms(*l)).unwrap_or(node)
}

fn env(key: &str) -> Option<u64> {
    std::env::var(key).ok().and_then(|v| v.parse().ok())
}

/// The active controller, as a live node answers DescribeCluster.
fn active_controller(cluster: &Cluster) -> Option<i32> {
    cluster.nodes.iter().filter(|n| n.brook.is_some()).find_map(|n| {
        let mut conn = Conn::try_open(&n.addr())?;
        match conn.call(ApiKey::DescribeCluster, 0, &DescribeClusterRequest::default()) {
            ResponseKind::DescribeCluster(r) if r.controller_id.0 > 0 => Some(r.controller_id.0),
            _ => None,
        }
    })
}

/// Each partition's (leader, ISR size), as `addr` answers Metadata.
fn partitions(addr: &str) -> Option<Vec<(i32, usize)>> {
    Some(topic_partitions(addr, TOPIC)?.iter().map(|p| (p.leader_id.0, p.isr_nodes.len())).collect())
}

/// Each partition's leader.
fn leaders(addr: &str) -> Option<Vec<i32>> {
    partitions(addr).map(|p| p.into_iter().map(|(l, _)| l).collect())
}

/// Whether every partition has a leader and all three replicas in sync, as every node sees it
/// (a node that just woke may still answer from an old image).
fn healthy(target: &dyn Target) -> bool {
    target.ids().iter().all(|id| {
        partitions(&target.addr(*id))
            .is_some_and(|p| p.len() == PARTITIONS as usize && p.iter().all(|(leader, isr)| *leader > 0 && *isr == 3))
    })
}

fn producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "20000")
        .set("linger.ms", "2")
        .create()
        .expect("producer")
}

/// When each acknowledgement arrived, per partition, for the availability figures.
type AckTimes = Arc<Mutex<BTreeMap<i32, Vec<Instant>>>>;

/// Sends unique values (up to 16 in flight) until `stop`, recording each outcome.
async fn produce(
    bootstrap: String,
    stop: Arc<AtomicBool>,
    next: Arc<AtomicU64>,
    history: Arc<Mutex<History>>,
    ack_times: AckTimes,
) {
    let mut client = producer(&bootstrap);
    let mut in_flight = FuturesUnordered::new();
    while !stop.load(Ordering::Relaxed) || !in_flight.is_empty() {
        if !stop.load(Ordering::Relaxed) && in_flight.len() < 16 {
            if client.client().fatal_error().is_some() {
                client = producer(&bootstrap);
            }
            let value = next.fetch_add(1, Ordering::Relaxed);
            history.lock().unwrap().sent.insert(value);
            let payload = value.to_string();
            let record = FutureRecord::to(TOPIC).key(&payload[payload.len() - 1..]).payload(&payload);
            let delivery = client.send_result(record).map_err(|(e, _)| e);
            in_flight.push(async move {
                match delivery {
                    Ok(future) => (value, future.await.ok().and_then(|r| r.ok())),
                    Err(_) => (value, None),
                }
            });
            continue;
        }
        if let Some((value, outcome)) = in_flight.next().await {
            let mut h = history.lock().unwrap();
            match outcome {
                Some(delivery) => {
                    h.acked.insert(value, (delivery.partition, delivery.offset));
                    ack_times.lock().unwrap().entry(delivery.partition).or_default().push(Instant::now());
                }
                None => {
                    h.failed.insert(value);
                }
            }
        }
    }
}

fn reader(bootstrap: &str) -> BaseConsumer {
    assigned_from_start(bootstrap, "jepsen-reader", TOPIC, 0..PARTITIONS)
}

fn value_of(m: &rdkafka::message::BorrowedMessage<'_>) -> u64 {
    let payload = std::str::from_utf8(m.payload().unwrap_or_default()).expect("utf-8");
    payload.parse().unwrap_or(u64::MAX)
}

/// Polls every partition until `stop`, as one reader session.
fn read(bootstrap: String, stop: Arc<AtomicBool>, history: Arc<Mutex<History>>) {
    let consumer = reader(&bootstrap);
    let mut session = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            session.push((m.partition(), m.offset(), value_of(&m)));
        }
    }
    history.lock().unwrap().reads.push(session);
}

/// A member of the consumer group: polls its assignment until `stop`, committing its
/// position every 20 records and whenever a poll comes back empty, recording each poll and
/// each successful commit as it happens.
fn group_member(bootstrap: String, member: usize, stop: Arc<AtomicBool>, history: Arc<Mutex<History>>) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create()
        .expect("group member");
    consumer.subscribe(&[TOPIC]).expect("subscribe");
    let mut uncommitted = 0;
    while !stop.load(Ordering::Relaxed) {
        let polled = consumer.poll(Duration::from_millis(100));
        if let Some(Ok(m)) = &polled {
            let event = GroupEvent::Poll { member, at: (m.partition(), m.offset()), value: value_of(m) };
            history.lock().unwrap().group.push(event);
            uncommitted += 1;
        }
        let due = uncommitted >= 20 || (polled.is_none() && uncommitted > 0);
        if due && commit(&consumer, &history) {
            uncommitted = 0;
        }
    }
}

/// Commits the member's positions synchronously; records them once the commit succeeded.
fn commit(consumer: &BaseConsumer, history: &Mutex<History>) -> bool {
    let Ok(positions) = consumer.position() else { return false };
    let positions: Vec<(i32, i64)> = positions
        .elements()
        .iter()
        .filter_map(|e| e.offset().to_raw().filter(|o| *o >= 0).map(|o| (e.partition(), o)))
        .collect();
    let mut list = TopicPartitionList::new();
    for &(partition, offset) in &positions {
        list.add_partition_offset(TOPIC, partition, Offset::Offset(offset)).expect("offset");
    }
    if positions.is_empty() || consumer.commit(&list, CommitMode::Sync).is_err() {
        return positions.is_empty();
    }
    history.lock().unwrap().group.extend(positions.into_iter().map(|at| GroupEvent::Committed { at }));
    true
}

/// Whether the group's commits reached `ends` (each partition's next offset).
fn group_caught_up(history: &Mutex<History>, ends: &BTreeMap<i32, i64>) -> bool {
    let h = history.lock().unwrap();
    ends.iter().all(|(partition, end)| {
        h.group.iter().any(|e| matches!(e, GroupEvent::Committed { at: (p, o) } if p == partition && o >= end))
    })
}

/// Reads every partition from its start to its high watermark.
fn read_everything(bootstrap: &str) -> BTreeMap<(i32, i64), u64> {
    let mut out = BTreeMap::new();
    for p in 0..PARTITIONS {
        for (offset, value) in read_to_end(bootstrap, TOPIC, p) {
            out.insert((p, offset), value.parse().unwrap_or(u64::MAX));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_write_is_lost_under_faults() {
    let nodes = env("BROOK_FAULT_NODES").unwrap_or(3) as i32;
    assert!(nodes >= 3, "BROOK_FAULT_NODES: at least 3, for replication factor 3");
    let mut cluster = Cluster::start_with(Spec::combined(nodes, SETTINGS).slow_disks(&FSYNC_DELAY_MS).in_namespaces());
    run(&mut cluster, kinds()).await;
}

/// The reference run: the same workload and checker against a 3-node Apache Kafka 4 cluster
/// (acks=all, `min.insync.replicas=2`) under pauses, isolation and kill -9 with a restart,
/// which Kafka passes cleanly; so an anomaly Brook shows is Brook's, not the checker's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apache_kafka_is_clean_under_the_same_checker() {
    let mut kafka = KafkaCluster::start(3, SETTINGS);
    run(&mut kafka, vec![kind("pause"), kind("isolate"), kind("kill")]).await;
}

/// What the nemesis acts on: a Brook cluster, or Apache Kafka for the reference run.
trait Target {
    fn ids(&self) -> Vec<i32>;
    fn addr(&self, id: i32) -> String;
    fn bootstrap(&self) -> String;
    /// SIGSTOP (`true`) or SIGCONT.
    fn pause(&self, id: i32, pause: bool);
    /// kill -9, and a start on the same data.
    fn kill(&mut self, id: i32);
    fn restart(&mut self, id: i32);
    /// For the kinds only a Brook cluster takes (restarts, power cuts, network cuts).
    fn brook(&mut self) -> Option<&mut Cluster>;
}

impl Target for Cluster {
    fn ids(&self) -> Vec<i32> {
        self.nodes.iter().map(|n| n.id).collect()
    }
    fn addr(&self, id: i32) -> String {
        self.node(id).addr()
    }
    fn bootstrap(&self) -> String {
        Cluster::bootstrap(self)
    }
    fn pause(&self, id: i32, pause: bool) {
        Cluster::pause(self, id, pause)
    }
    fn kill(&mut self, id: i32) {
        Cluster::kill(self, id)
    }
    fn restart(&mut self, id: i32) {
        Cluster::restart(self, id)
    }
    fn brook(&mut self) -> Option<&mut Cluster> {
        Some(self)
    }
}

impl Target for KafkaCluster {
    fn ids(&self) -> Vec<i32> {
        (1..=self.nodes.len() as i32).collect()
    }
    fn addr(&self, id: i32) -> String {
        self.nodes[(id - 1) as usize].addr.clone()
    }
    fn bootstrap(&self) -> String {
        KafkaCluster::bootstrap(self)
    }
    fn pause(&self, id: i32, pause: bool) {
        KafkaCluster::pause(self, id, pause)
    }
    fn kill(&mut self, id: i32) {
        KafkaCluster::kill(self, id)
    }
    fn restart(&mut self, id: i32) {
        KafkaCluster::restart(self, id)
    }
    fn brook(&mut self) -> Option<&mut Cluster> {
        None
    }
}

/// The Brook cluster under test, for the kinds only it takes.
fn brook(target: &mut dyn Target) -> &mut Cluster {
    target.brook().expect("this kind of fault needs a Brook cluster")
}

/// The workload under `kinds` of fault (indexes into `KINDS`) against `target`, then the checker.
async fn run(target: &mut dyn Target, kinds: Vec<usize>) {
    let rounds = env("BROOK_FAULT_ROUNDS").unwrap_or(kinds.len() as u64);
    let until = env("BROOK_FAULT_SECONDS").map(|s| Instant::now() + Duration::from_secs(s));
    let seed = env("BROOK_FAULT_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos() as u64
    });
    match until {
        Some(_) => println!("fault schedule: until BROOK_FAULT_SECONDS pass, seed {seed} (BROOK_FAULT_SEED={seed})"),
        None => println!("fault schedule: {rounds} rounds, seed {seed} (BROOK_FAULT_SEED={seed} repeats it)"),
    }
    let mut rng = Rng(seed);
    let all = target.ids();
    let nodes = all.len() as i32;
    let bootstrap = target.bootstrap();
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", &bootstrap).create().expect("admin");
    let topic = NewTopic::new(TOPIC, PARTITIONS, TopicReplication::Fixed(3)).set("min.insync.replicas", "2");
    let created = admin.create_topics(&[topic], &AdminOptions::new()).await.expect("create");
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    eventually(Duration::from_secs(60), "the topic is in sync", || healthy(target).then_some(()));

    let history = Arc::new(Mutex::new(History::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let ack_times = AckTimes::default();
    let producers: Vec<_> = (0..2)
        .map(|_| {
            let (bootstrap, stop, next, history) = (bootstrap.clone(), stop.clone(), next.clone(), history.clone());
            tokio::spawn(produce(bootstrap, stop, next, history, ack_times.clone()))
        })
        .collect();
    let reader = {
        let (bootstrap, stop, history) = (bootstrap.clone(), stop.clone(), history.clone());
        std::thread::spawn(move || read(bootstrap, stop, history))
    };
    // The group stops only once it has caught up after the faults.
    let group_stop = Arc::new(AtomicBool::new(false));
    let members: Vec<_> = (0..GROUP_MEMBERS)
        .map(|member| {
            let (bootstrap, stop, history) = (bootstrap.clone(), group_stop.clone(), history.clone());
            std::thread::spawn(move || group_member(bootstrap, member, stop, history))
        })
        .collect();

    let mut faults = Vec::new();
    let mut recoveries = Vec::new();
    // Each round's kind and its window, from the fault to every replica back in sync.
    let mut windows: Vec<(usize, Instant, Instant)> = Vec::new();
    let mut lagging = Vec::new();
    let first_kind = rng.below(kinds.len() as u64) as usize;
    let started = Instant::now();
    for round in 0.. {
        let done = match until {
            Some(until) => Instant::now() >= until,
            None => round >= rounds,
        };
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500 + rng.below(1000))).await;
        let node = 1 + rng.below(nodes as u64) as i32;
        let kind = kinds[(first_kind + round as usize) % kinds.len()];
        let fault = match kind {
            0 => Fault::Kill(node),
            1 => Fault::Pause(node),
            2 => Fault::KillController,
            3 => Fault::Isolate(leader_of_some_partition(target, node, &mut rng)),
            4 => Fault::PowerCut(node),
            5 => Fault::PowerCutAll(fastest_leader(target, node)),
            6 => Fault::Partition(leader_of_some_partition(target, node, &mut rng)),
            7 => Fault::PartitionOneWay(leader_of_some_partition(target, node, &mut rng)),
            8 => Fault::Bridge(node % nodes + 1, (node + 1) % nodes + 1),
            _ => Fault::SlowLinks(leader_of_some_partition(target, node, &mut rng), 20 + rng.below(180)),
        };
        let hold = Duration::from_millis(1000 + rng.below(3000));
        println!("round {round}: {fault:?} for {} ms", hold.as_millis());
        let fault_began = Instant::now();
        match fault {
            Fault::Pause(id) => {
                target.pause(id, true);
                tokio::time::sleep(hold).await;
                target.pause(id, false);
            }
            Fault::Isolate(id) => {
                let others: Vec<i32> = all.iter().copied().filter(|o| *o != id).collect();
                others.iter().for_each(|o| target.pause(*o, true));
                tokio::time::sleep(hold).await;
                target.pause(id, true);
                others.iter().for_each(|o| target.pause(*o, false));
                let addr = target.addr(others[0]);
                eventually(Duration::from_secs(60), "the others lead without it", || {
                    leaders(&addr).filter(|l| l.iter().all(|leader| *leader > 0 && *leader != id))
                });
                target.pause(id, false);
            }
            Fault::Kill(id) => {
                target.kill(id);
                tokio::time::sleep(hold).await;
                target.restart(id);
            }
            Fault::KillController => {
                let cluster = brook(target);
                let id = active_controller(cluster).unwrap_or(node);
                cluster.kill(id);
                tokio::time::sleep(hold).await;
                cluster.restart(id);
            }
            Fault::PowerCut(id) => {
                let cluster = brook(target);
                cluster.power_cut(&[id]);
                tokio::time::sleep(hold).await;
                cluster.restart(id);
            }
            Fault::PowerCutAll(late) => {
                let cluster = brook(target);
                cluster.power_cut(&all);
                tokio::time::sleep(hold).await;
                let early: Vec<i32> = all.iter().copied().filter(|id| *id != late).collect();
                cluster.restart_all(&early);
                let addr = cluster.node(early[0]).addr();
                // A partition whose ISR held only the late node waits for it (no unclean election).
                eventually(Duration::from_secs(60), "the others lead without it", || {
                    leaders(&addr).filter(|l| l.iter().all(|leader| *leader != late))
                });
                cluster.restart(late);
            }
            Fault::Partition(id) | Fault::PartitionOneWay(id) => {
                let cluster = brook(target);
                for other in all.iter().copied().filter(|o| *o != id) {
                    cluster.cut(id, other);
                    if matches!(fault, Fault::Partition(_)) {
                        cluster.cut(other, id);
                    }
                }
                tokio::time::sleep(hold).await;
                cluster.heal();
            }
            Fault::SlowLinks(id, ms) => {
                let cluster = brook(target);
                let (delay, seed) = (Duration::from_millis(ms), rng.next());
                let links: Vec<_> = all
                    .iter()
                    .filter(|o| **o != id)
                    .flat_map(|o| [(id, *o), (*o, id)])
                    .map(|(from, to)| cluster.slow(from, to, delay, delay, seed ^ (from * 10 + to) as u64))
                    .collect();
                tokio::time::sleep(hold).await;
                drop(links);
            }
            Fault::Bridge(a, c) => {
                let cluster = brook(target);
                cluster.cut(a, c);
                cluster.cut(c, a);
                tokio::time::sleep(hold).await;
                cluster.heal();
            }
        }
        let healed = Instant::now();
        // Liveness is reported, safety is asserted: a replica that does not rejoin its ISR in
        // time is a finding to print (every partition must still have a leader), not a
        // reason to stop checking the history.
        let in_sync = Instant::now() + Duration::from_secs(30);
        while !healthy(target) && Instant::now() < in_sync {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if !healthy(target) {
            let views: Vec<_> = all.iter().map(|id| (*id, partitions(&target.addr(*id)))).collect();
            println!("round {round}: not all replicas back in sync after 30 s: (leader, ISR size) per node {views:?}");
            lagging.push(round);
            eventually(SETTLE, "every partition has a leader", || {
                leaders(&target.addr(1)).filter(|l| l.iter().all(|leader| *leader > 0))
            });
        }
        faults.push(format!("{fault:?} for {} ms", hold.as_millis()));
        recoveries.push(healed.elapsed());
        windows.push((kind, fault_began, Instant::now()));
    }

    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for p in producers {
        p.await.expect("producer task");
    }
    reader.join().expect("reader");
    let final_read = {
        let bootstrap = bootstrap.clone();
        tokio::task::spawn_blocking(move || read_everything(&bootstrap)).await.expect("final read")
    };
    let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
    for &(partition, offset) in final_read.keys() {
        ends.insert(partition, offset + 1);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !group_caught_up(&history, &ends) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let caught_up = group_caught_up(&history, &ends);
    group_stop.store(true, Ordering::Relaxed);
    for member in members {
        member.join().expect("group member");
    }
    let mut history = history.lock().unwrap().clone();
    history.final_read = final_read;
    history.group_caught_up = caught_up;
    let anomalies = check(&history);
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} faults in {seconds:.0} s: {}\nsent {}, acknowledged {}, failed {}, polled {}, polled by the group {} ({} commits), final read {}; back in sync after each fault: {:?}; rounds after which a replica stayed out of its ISR for 30 s: {:?}",
        faults.len(),
        faults.join(", "),
        history.sent.len(),
        history.acked.len(),
        history.failed.len(),
        history.reads.iter().map(Vec::len).sum::<usize>(),
        history.group.iter().filter(|e| matches!(e, GroupEvent::Poll { .. })).count(),
        history.group.iter().filter(|e| matches!(e, GroupEvent::Committed { .. })).count(),
        history.final_read.len(),
        recoveries,
        lagging,
    );
    println!("{}", availability(&windows, &ack_times.lock().unwrap()));
    assert!(history.acked.len() > 100, "the workload made progress: {} acknowledged", history.acked.len());
    let report: Vec<String> = anomalies.iter().take(20).map(Anomaly::to_string).collect();
    assert!(anomalies.is_empty(), "{} anomalies (seed {seed}):\n{}", anomalies.len(), report.join("\n"));
}

/// Per fault kind, the p50 / p99 / max over its rounds of the longest time any partition went
/// without an acknowledged write, from the fault until every replica was back in sync.
fn availability(windows: &[(usize, Instant, Instant)], ack_times: &BTreeMap<i32, Vec<Instant>>) -> String {
    let mut by_kind: BTreeMap<usize, Vec<Duration>> = BTreeMap::new();
    for &(kind, from, to) in windows {
        let worst = ack_times.values().map(|times| longest_gap(times, from, to)).max().unwrap_or(to - from);
        by_kind.entry(kind).or_default().push(worst);
    }
    let mut lines = vec!["longest time without an acknowledged write on a partition, per fault kind:".to_string()];
    for (kind, mut gaps) in by_kind {
        gaps.sort();
        let at = |q: f64| gaps[((gaps.len() - 1) as f64 * q).round() as usize].as_secs_f64();
        lines.push(format!(
            "  {:<18} {:>3} rounds: p50 {:.2} s, p99 {:.2} s, max {:.2} s",
            KINDS[kind],
            gaps.len(),
            at(0.5),
            at(0.99),
            at(1.0)
        ));
    }
    lines.join("\n")
}

/// The longest stretch within [`from`, `to`] with no time in `times` (sorted).
fn longest_gap(times: &[Instant], from: Instant, to: Instant) -> Duration {
    let inside = times.iter().copied().filter(|t| *t > from && *t < to);
    let mut last = from;
    let mut longest = Duration::ZERO;
    for t in inside.chain(std::iter::once(to)) {
        longest = longest.max(t - last);
        last = t;
    }
    longest
}

mod checker {
    use crate::common::history::*;

    fn clean() -> History {
        let mut h = History::default();
        for v in 0..6 {
            h.sent.insert(v);
            h.acked.insert(v, ((v % 2) as i32, (v / 2) as i64));
            h.final_read.insert(((v % 2) as i32, (v / 2) as i64), v);
        }
        h.sent.insert(6);
        h.failed.insert(6);
        h.reads.push(vec![(0, 0, 0), (1, 0, 1), (0, 1, 2)]);
        h
    }

    #[test]
    fn a_correct_history_is_clean() {
        assert_eq!(check(&clean()), vec![]);
    }

    #[test]
    fn an_acknowledgement_without_an_offset_checks_the_partition() {
        let mut h = clean();
        h.acked.insert(5, (1, -1001));
        assert_eq!(check(&h), vec![]);
        h.acked.insert(5, (0, -1001));
        assert_eq!(check(&h), vec![Anomaly::WrongOffset { value: 5, acked_at: (0, -1001), read_at: (1, 2) }]);
        h.final_read.remove(&(1, 2));
        assert_eq!(check(&h), vec![Anomaly::Lost { value: 5, acked_at: (0, -1001) }]);
    }

    #[test]
    fn each_anomaly_is_found() {
        let mut lost = clean();
        lost.final_read.remove(&(1, 2));
        assert_eq!(check(&lost), vec![Anomaly::Lost { value: 5, acked_at: (1, 2) }]);

        let mut moved = clean();
        moved.final_read.remove(&(1, 2));
        moved.final_read.insert((1, 3), 5);
        let found = check(&moved);
        assert!(found.contains(&Anomaly::WrongOffset { value: 5, acked_at: (1, 2), read_at: (1, 3) }), "{found:?}");
        assert!(found.iter().any(|a| matches!(a, Anomaly::Duplicate { value: 5, .. })), "{found:?}");

        let mut overwritten = clean();
        overwritten.final_read.insert((0, 1), 6);
        let found = check(&overwritten);
        assert!(found.iter().any(|a| matches!(a, Anomaly::InconsistentOffset { at: (0, 1), .. })), "{found:?}");

        let mut phantom = clean();
        phantom.final_read.insert((0, 3), 99);
        assert_eq!(check(&phantom), vec![Anomaly::Phantom { value: 99, at: (0, 3) }]);

        let mut backwards = clean();
        backwards.reads.push(vec![(0, 1, 2), (0, 0, 0)]);
        assert_eq!(check(&backwards), vec![Anomaly::NonMonotonic { reader: 1, partition: 0, after: 1, got: 0 }]);
    }

    /// The group's anomalies: a poll below what the group had committed, an acknowledged value
    /// it never polled, and a group that never caught up. Re-reading after a rebalance (at
    /// least once) is none.
    #[test]
    fn group_anomalies_are_found() {
        let poll = |member, partition: i32, offset: i64| GroupEvent::Poll {
            member,
            at: (partition, offset),
            value: (offset * 2 + i64::from(partition)) as u64,
        };
        let mut h = clean();
        h.group_caught_up = true;
        h.group = vec![
            poll(0, 0, 0),
            poll(0, 0, 1),
            GroupEvent::Committed { at: (0, 2) },
            poll(0, 1, 0),
            poll(1, 1, 0),
            poll(1, 1, 1),
            poll(1, 1, 2),
            poll(1, 0, 2),
        ];
        assert_eq!(check(&h), vec![], "member 1 re-read partition 1 from its start: nothing was committed there");
        let mut backwards = h.clone();
        backwards.group.push(poll(1, 0, 1));
        assert_eq!(check(&backwards), vec![Anomaly::BelowCommitted { member: 1, partition: 0, committed: 2, got: 1 }]);
        let mut missed = h.clone();
        missed.group.pop();
        assert_eq!(check(&missed), vec![Anomaly::GroupMissed { value: 4, acked_at: (0, 2) }]);
        let mut stalled = h;
        stalled.group_caught_up = false;
        assert_eq!(check(&stalled), vec![Anomaly::GroupStalled]);
    }

    /// A failed (indefinite) send that was written after all is no anomaly.
    #[test]
    fn a_failed_send_may_be_written() {
        let mut h = clean();
        h.final_read.insert((0, 3), 6);
        assert_eq!(check(&h), vec![]);
    }
}

/// The longest gap counts from the window's start and to its end, and an empty window is one
/// gap.
#[test]
fn longest_gap_within_a_window() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let times = [at(50), at(100), at(400), at(450)];
    assert_eq!(longest_gap(&times, at(0), at(1000)), Duration::from_millis(550));
    assert_eq!(longest_gap(&times, at(90), at(300)), Duration::from_millis(200));
    assert_eq!(longest_gap(&[], at(0), at(70)), Duration::from_millis(70));
}
