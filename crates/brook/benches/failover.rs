//! Failover as a producer sees it (issue 14's targets), on three real `brook server` processes
//! on loopback, then a three-node Apache Kafka cluster in the same run, both with
//! `broker.heartbeat.interval.ms=500` and `broker.session.timeout.ms=3000`:
//!
//! - kill -9 of the leader of the partition an idempotent acks=all librdkafka producer writes
//!   (one record at a time): the time from the kill to the producer's next acknowledgement;
//! - SIGTERM of that leader (controlled shutdown): the longest gap between two
//!   acknowledgements from the signal until a second after the process exited.
//!
//! Each round restarts the stopped node and waits until it is back in the ISR. p50 / p99 /
//! max over `BENCH_ROUNDS` rounds of each (default 50); `BENCH_KAFKA=0` skips Kafka.
//!
//! Then a reassignment: a partition on [1, 2] filled with `BENCH_REASSIGN_MIB` (1024) MiB moves
//! to [2, 3] while an acks=all producer writes to it one record at a time: the copy's time and
//! throughput, and the producer's latency before and during the move (`BENCH_REASSIGN_MIB=0`
//! skips it).
//!
//!   cargo bench -p brook --bench failover

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::eventually;
use common::kafka::KafkaCluster;
use common::wire::topic_partitions;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};

const TOPIC: &str = "failover";
const SETTINGS: &[&str] = &["broker.heartbeat.interval.ms=500", "broker.session.timeout.ms=3000"];

fn main() {
    let setting = |key: &str, default: u64| std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let (rounds, mib) = (setting("BENCH_ROUNDS", 50) as usize, setting("BENCH_REASSIGN_MIB", 1024));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let run = |system: System| runtime.block_on(measure(system, rounds, mib));
    let brook = run(System::Brook(Cluster::start(3, SETTINGS)));
    brook.print("Brook");
    if std::env::var("BENCH_KAFKA").as_deref() != Ok("0") {
        let kafka = run(System::Kafka(KafkaCluster::start(3, SETTINGS)));
        kafka.print("Kafka");
        if let (Some(b), Some(k)) = (&brook.rounds, &kafka.rounds) {
            println!(
                "Brook / Kafka: kill -9 p99 {:.2}x, SIGTERM p99 {:.2}x",
                b.kill.p99 / k.kill.p99,
                b.term.p99 / k.term.p99
            );
        }
        if let (Some(b), Some(k)) = (&brook.moved, &kafka.moved) {
            println!(
                "Brook / Kafka: reassignment copy throughput {:.2}x, producer p99 during the move {:.2}x",
                b.mib_per_s / k.mib_per_s,
                b.during.p99 / k.during.p99
            );
        }
    }
}

/// The cluster under test.
enum System {
    Brook(Cluster),
    Kafka(KafkaCluster),
}

impl System {
    fn bootstrap(&self) -> String {
        match self {
            System::Brook(c) => c.bootstrap(),
            System::Kafka(c) => c.bootstrap(),
        }
    }

    fn addr(&self, id: i32) -> String {
        match self {
            System::Brook(c) => c.node(id).addr(),
            System::Kafka(c) => c.nodes[(id - 1) as usize].addr.clone(),
        }
    }

    fn kill(&mut self, id: i32) {
        match self {
            System::Brook(c) => c.kill(id),
            System::Kafka(c) => c.kill(id),
        }
    }

    fn stop(&mut self, id: i32) {
        match self {
            System::Brook(c) => {
                c.stop(id);
            }
            System::Kafka(c) => c.stop(id),
        }
    }

    fn restart(&mut self, id: i32) {
        match self {
            System::Brook(c) => c.restart(id),
            System::Kafka(c) => c.restart(id),
        }
    }

    /// Partition 0's (leader, ISR size) as node `id` answers, once it answers.
    fn leader(&self, asked: i32) -> Option<(i32, usize)> {
        let p = topic_partitions(&self.addr(asked), TOPIC)?.into_iter().next()?;
        Some((p.leader_id.0, p.isr_nodes.len()))
    }
}

/// p50 / p99 / max of one kind of round, in milliseconds.
#[derive(Debug, Default)]
struct Spread {
    p50: f64,
    p99: f64,
    max: f64,
}

impl Spread {
    fn of(mut ms: Vec<f64>) -> Spread {
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms[((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1];
        Spread { p50: at(0.5), p99: at(0.99), max: ms[ms.len() - 1] }
    }
}

struct Rounds {
    kill: Spread,
    term: Spread,
    errors: u64,
}

/// A reassignment under load: the copy, and the producer's latency (ms) before and during it.
struct Moved {
    mib: u64,
    secs: f64,
    mib_per_s: f64,
    before: Spread,
    during: Spread,
    errors: u64,
}

struct Figures {
    rounds: Option<Rounds>,
    moved: Option<Moved>,
}

impl Figures {
    fn print(&self, name: &str) {
        if let Some(r) = &self.rounds {
            println!(
                "{name}: kill -9 of the leader, time to the next ack: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
                r.kill.p50, r.kill.p99, r.kill.max
            );
            println!(
                "{name}: SIGTERM of the leader, longest gap between acks: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
                r.term.p50, r.term.p99, r.term.max
            );
            println!("{name}: delivery errors seen by the producer: {}", r.errors);
        }
        if let Some(m) = &self.moved {
            println!(
                "{name}: reassignment of a {} MiB partition to a new broker: {:.1} s, {:.0} MiB/s",
                m.mib, m.secs, m.mib_per_s
            );
            println!(
                "{name}: acks=all latency before the move p50 {:.1} ms p99 {:.1} ms; during it p50 {:.1} ms p99 {:.1} ms; errors {}",
                m.before.p50, m.before.p99, m.during.p50, m.during.p99, m.errors
            );
        }
    }
}

async fn measure(mut system: System, rounds: usize, mib: u64) -> Figures {
    let rounds = if rounds > 0 { Some(failovers(&mut system, rounds).await) } else { None };
    let moved = if mib > 0 { Some(reassignment(&system, mib).await) } else { None };
    Figures { rounds, moved }
}

async fn failovers(system: &mut System, rounds: usize) -> Rounds {
    let bootstrap = system.bootstrap();
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", &bootstrap).create().expect("admin");
    let topic = NewTopic::new(TOPIC, 1, TopicReplication::Fixed(3)).set("min.insync.replicas", "2");
    let created = admin.create_topics(&[topic], &AdminOptions::new()).await.expect("create");
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "0")
        .create()
        .expect("producer");
    // (sent, acknowledged) of each record.
    let acks: Arc<Mutex<Vec<(Instant, Instant)>>> = Arc::default();
    let errors = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let producing = tokio::spawn(produce(producer, acks.clone(), errors.clone(), done.clone()));
    let (mut kill, mut term) = (Vec::new(), Vec::new());
    for round in 0..2 * rounds {
        let (leader, asked) = settled(system);
        let signalled = Instant::now();
        if round % 2 == 0 {
            system.kill(leader);
            // The first ack of a record sent after the kill: an answer the dead leader had sent
            // before dying may still arrive after it, and says nothing about the failover.
            let next = eventually(Duration::from_secs(120), "an ack after the kill", || {
                acks.lock().expect("acks").iter().find(|(sent, _)| *sent > signalled).map(|(_, acked)| *acked)
            });
            kill.push((next - signalled).as_secs_f64() * 1e3);
        } else {
            system.stop(leader);
            tokio::time::sleep(Duration::from_secs(1)).await;
            let until = Instant::now();
            let seen: Vec<Instant> = acks.lock().expect("acks").iter().map(|(_, acked)| *acked).collect();
            let before = seen.iter().copied().rfind(|t| *t <= signalled).unwrap_or(signalled);
            let window: Vec<Instant> =
                std::iter::once(before).chain(seen.iter().copied().filter(|t| *t > signalled && *t <= until)).collect();
            let gap = window.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(until - before);
            term.push(gap.as_secs_f64() * 1e3);
        }
        let (what, ms) = if round % 2 == 0 { ("kill -9", kill.last()) } else { ("SIGTERM", term.last()) };
        eprintln!("round {round}: {what} of node {leader} (leader as node {asked} said): {:.0} ms", ms.unwrap_or(&0.0));
        system.restart(leader);
    }
    done.store(true, Ordering::Relaxed);
    producing.await.expect("producer");
    Rounds { kill: Spread::of(kill), term: Spread::of(term), errors: errors.load(Ordering::Relaxed) }
}

/// Fills partition 0 of a topic on [1, 2] with `mib` MiB, then moves it to [2, 3] (Kafka's
/// AlterPartitionReassignments) while an acks=all producer writes to it one record at a time.
async fn reassignment(system: &System, mib: u64) -> Moved {
    use kafka_protocol::messages::alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
    use kafka_protocol::messages::{AlterPartitionReassignmentsRequest, ApiKey, BrokerId, ResponseKind, TopicName};
    use kafka_protocol::protocol::StrBytes;
    const MOVING: &str = "moving";
    let bootstrap = system.bootstrap();
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", &bootstrap).create().expect("admin");
    let assignment: &[&[i32]] = &[&[1, 2]];
    let topic = NewTopic::new(MOVING, 1, TopicReplication::Variable(assignment));
    let created = admin.create_topics(&[topic], &AdminOptions::new()).await.expect("create");
    assert!(created.iter().all(Result::is_ok), "{created:?}");

    let filler: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("acks", "1")
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.kbytes", "262144")
        .create()
        .expect("producer");
    let payload = vec![b'x'; 16 * 1024];
    let records = mib * 64;
    let started = Instant::now();
    for chunk in 0..records.div_ceil(4096) {
        let sends: Vec<_> = (0..4096.min(records - chunk * 4096))
            .map(|_| {
                filler.send(FutureRecord::<(), _>::to(MOVING).partition(0).payload(&payload), Duration::from_secs(60))
            })
            .collect();
        for sent in futures::future::join_all(sends).await {
            sent.map_err(|(e, _)| e).expect("filled");
        }
    }
    eprintln!("filled {mib} MiB in {:.1} s", started.elapsed().as_secs_f64());

    // (sent at, latency ms) of each acks=all record, one at a time.
    let latencies: Arc<Mutex<Vec<(Instant, f64)>>> = Arc::default();
    let (errors, done) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
    let producer: FutureProducer =
        ClientConfig::new().set("bootstrap.servers", &bootstrap).set("linger.ms", "0").create().expect("producer");
    let writing = {
        let (latencies, errors, done) = (latencies.clone(), errors.clone(), done.clone());
        tokio::spawn(async move {
            let value = vec![b'y'; 1024];
            while !done.load(Ordering::Relaxed) {
                let sent = Instant::now();
                match producer
                    .send(FutureRecord::<(), _>::to(MOVING).partition(0).payload(&value), Duration::from_secs(60))
                    .await
                {
                    Ok(_) => latencies.lock().expect("latencies").push((sent, sent.elapsed().as_secs_f64() * 1e3)),
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(5)).await;

    let target =
        ReassignablePartition::default().with_partition_index(0).with_replicas(Some(vec![BrokerId(2), BrokerId(3)]));
    let request = AlterPartitionReassignmentsRequest::default().with_topics(vec![
        ReassignableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str(MOVING)))
            .with_partitions(vec![target]),
    ]);
    let start = Instant::now();
    let ResponseKind::AlterPartitionReassignments(r) =
        common::wire::Conn::open(&system.addr(1)).call(ApiKey::AlterPartitionReassignments, 0, &request)
    else {
        panic!("unexpected answer")
    };
    assert!(r.error_code == 0 && r.responses.iter().all(|t| t.partitions.iter().all(|p| p.error_code == 0)), "{r:?}");
    eventually(Duration::from_secs(600), "the partition on [2, 3]", || {
        let p = topic_partitions(&system.addr(2), MOVING)?.into_iter().next()?;
        let on: Vec<i32> = p.replica_nodes.iter().map(|b| b.0).collect();
        (on == [2, 3]).then_some(())
    });
    let end = Instant::now();
    done.store(true, Ordering::Relaxed);
    writing.await.expect("producer");
    let secs = (end - start).as_secs_f64();
    let seen = latencies.lock().expect("latencies");
    let window =
        |from: Instant, to: Instant| seen.iter().filter(|(t, _)| *t >= from && *t < to).map(|(_, ms)| *ms).collect();
    Moved {
        mib,
        secs,
        mib_per_s: mib as f64 / secs,
        before: Spread::of(window(start - Duration::from_secs(5), start)),
        during: Spread::of(window(start, end)),
        errors: errors.load(Ordering::Relaxed),
    }
}

/// Waits until partition 0 has a leader and a full ISR: (leader, the node that said so).
fn settled(system: &System) -> (i32, i32) {
    eventually(Duration::from_secs(120), "partition 0 led and in sync", || {
        (1..=3).find_map(|asked| match system.leader(asked) {
            Some((leader, 3)) if leader > 0 => Some((leader, asked)),
            _ => None,
        })
    })
}

/// Writes to partition 0 one record at a time, noting when each was sent and acknowledged.
async fn produce(
    producer: FutureProducer,
    acks: Arc<Mutex<Vec<(Instant, Instant)>>>,
    errors: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
) {
    let mut i = 0u64;
    while !done.load(Ordering::Relaxed) {
        let value = i.to_string();
        let record = FutureRecord::<(), _>::to(TOPIC).partition(0).payload(&value);
        let sent = Instant::now();
        match producer.send(record, Duration::from_secs(60)).await {
            Ok(_) => acks.lock().expect("acks").push((sent, Instant::now())),
            Err(_) => {
                errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        i += 1;
    }
}
