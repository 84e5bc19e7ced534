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
    let rounds = std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let brook = runtime.block_on(measure(System::Brook(Cluster::start(3, SETTINGS)), rounds));
    brook.print("Brook");
    if std::env::var("BENCH_KAFKA").as_deref() != Ok("0") {
        let kafka = runtime.block_on(measure(System::Kafka(KafkaCluster::start(3, SETTINGS)), rounds));
        kafka.print("Kafka");
        println!(
            "Brook / Kafka: kill -9 p99 {:.2}x, SIGTERM p99 {:.2}x",
            brook.kill.p99 / kafka.kill.p99,
            brook.term.p99 / kafka.term.p99
        );
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

struct Figures {
    kill: Spread,
    term: Spread,
    errors: u64,
}

impl Figures {
    fn print(&self, name: &str) {
        println!(
            "{name}: kill -9 of the leader, time to the next ack: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            self.kill.p50, self.kill.p99, self.kill.max
        );
        println!(
            "{name}: SIGTERM of the leader, longest gap between acks: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            self.term.p50, self.term.p99, self.term.max
        );
        println!("{name}: delivery errors seen by the producer: {}", self.errors);
    }
}

async fn measure(mut system: System, rounds: usize) -> Figures {
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
    let acks: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let errors = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let producing = tokio::spawn(produce(producer, acks.clone(), errors.clone(), done.clone()));
    let (mut kill, mut term) = (Vec::new(), Vec::new());
    for round in 0..2 * rounds {
        let (leader, asked) = settled(&system);
        let signalled = Instant::now();
        if round % 2 == 0 {
            system.kill(leader);
            let next = eventually(Duration::from_secs(120), "an ack after the kill", || {
                acks.lock().expect("acks").iter().copied().find(|t| *t > signalled)
            });
            kill.push((next - signalled).as_secs_f64() * 1e3);
        } else {
            system.stop(leader);
            tokio::time::sleep(Duration::from_secs(1)).await;
            let until = Instant::now();
            let seen = acks.lock().expect("acks");
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
    Figures { kill: Spread::of(kill), term: Spread::of(term), errors: errors.load(Ordering::Relaxed) }
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

/// Writes to partition 0 one record at a time, noting when each is acknowledged.
async fn produce(
    producer: FutureProducer,
    acks: Arc<Mutex<Vec<Instant>>>,
    errors: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
) {
    let mut i = 0u64;
    while !done.load(Ordering::Relaxed) {
        let value = i.to_string();
        let record = FutureRecord::<(), _>::to(TOPIC).partition(0).payload(&value);
        match producer.send(record, Duration::from_secs(60)).await {
            Ok(_) => acks.lock().expect("acks").push(Instant::now()),
            Err(_) => {
                errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        i += 1;
    }
}
