//! Failover as clients see it: a consumer group outlives the broker that coordinates it. The
//! coordinator is the leader of the group's `__consumer_offsets` partition; when that broker
//! dies, the partition's next leader loads the group's committed offsets from its copy and
//! coordinates it, and the group's consumers carry on from where they committed.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::cluster::{Cluster, SETTLE};
use common::eventually;
use common::wire::Conn;
use kafka_protocol::messages::{ApiKey, FindCoordinatorRequest, ResponseKind};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};

const TOPIC: &str = "orders";
const PARTITIONS: i32 = 3;
const RECORDS: usize = 300;

/// Fast sessions, so a dead broker is fenced (and its leaderships move) within the test; a
/// small `__consumer_offsets` replicated on all three.
const SETTINGS: &[&str] = &[
    "broker.heartbeat.interval.ms=300",
    "broker.session.timeout.ms=2000",
    "offsets.topic.num.partitions=3",
    "offsets.topic.replication.factor=3",
];

/// FindCoordinator for `group` at `addr`: (error code, node id).
fn find_coordinator(addr: &str, group: &str) -> (i16, i32) {
    let request = FindCoordinatorRequest::default().with_key(StrBytes::from_string(group.into()));
    match Conn::open(addr).call(ApiKey::FindCoordinator, 3, &request) {
        ResponseKind::FindCoordinator(r) => (r.error_code, r.node_id.0),
        other => panic!("unexpected answer {other:?}"),
    }
}

fn consumer(bootstrap: &str, group: &str, protocol: &str) -> StreamConsumer {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("group.protocol", protocol)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false");
    if protocol == "classic" {
        config.set("session.timeout.ms", "6000");
    }
    config.create().expect("consumer")
}

/// Reads from `consumer` until `wanted` records arrived: (partition, offset) -> value.
async fn read(consumer: &StreamConsumer, wanted: usize) -> BTreeMap<(i32, i64), String> {
    let mut got = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while got.len() < wanted {
        assert!(Instant::now() < deadline, "read {} of {wanted}", got.len());
        if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(1), consumer.recv()).await {
            let value = String::from_utf8(m.payload().unwrap_or_default().to_vec()).expect("utf-8");
            got.insert((m.partition(), m.offset()), value);
        }
    }
    got
}

/// kill -9 of a group's coordinator, for the classic protocol and KIP-848's: another broker
/// takes the group over with every committed offset, and a consumer of the group resumes
/// exactly at them (nothing before a committed offset is read again, nothing is skipped).
async fn committed_offsets_survive_the_coordinator(protocol: &str) {
    let mut cluster = Cluster::start(3, SETTINGS);
    let bootstrap = cluster.bootstrap();
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", &bootstrap).create().expect("admin");
    let topic = NewTopic::new(TOPIC, PARTITIONS, TopicReplication::Fixed(3)).set("min.insync.replicas", "2");
    let created = admin.create_topics(&[topic], &AdminOptions::new()).await.expect("create");
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("enable.idempotence", "true")
        .create()
        .expect("producer");
    let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
    for i in 0..RECORDS {
        let (key, value) = (format!("customer-{}", i % 17), format!("order-{i}"));
        let record = FutureRecord::to(TOPIC).key(&key).payload(&value);
        let delivery = producer.send(record, Duration::from_secs(30)).await.map_err(|(e, _)| e).expect("delivered");
        ends.insert(delivery.partition, delivery.offset + 1);
    }

    // The first consumer reads half and commits where it is.
    let group = format!("billing-{protocol}");
    let first = consumer(&bootstrap, &group, protocol);
    first.subscribe(&[TOPIC]).expect("subscribe");
    let before = read(&first, RECORDS / 2).await;
    first.commit_consumer_state(CommitMode::Sync).expect("commit");
    let committed: BTreeMap<i32, i64> = first
        .position()
        .expect("position")
        .elements()
        .iter()
        .filter_map(|e| e.offset().to_raw().filter(|o| *o >= 0).map(|o| (e.partition(), o)))
        .collect();
    drop(first);

    let (error, coordinator) = find_coordinator(&cluster.node(1).addr(), &group);
    assert_eq!(error, 0);
    cluster.kill(coordinator);
    let survivor = cluster.node(if coordinator == 1 { 2 } else { 1 }).addr();
    let moved_at = Instant::now();
    let next = eventually(SETTLE, "another coordinator", || {
        let (error, node) = find_coordinator(&survivor, &group);
        (error == 0 && node != coordinator).then_some(node)
    });
    eprintln!("{protocol}: coordinator {coordinator} killed; {next} coordinates after {:?}", moved_at.elapsed());

    // The second consumer of the group starts at the committed offsets, on the new coordinator.
    let second = consumer(&cluster.bootstrap(), &group, protocol);
    second.subscribe(&[TOPIC]).expect("subscribe");
    let after = read(&second, RECORDS - before.len()).await;
    for (partition, offset) in &committed {
        let first_read = after.keys().filter(|(p, _)| p == partition).map(|(_, o)| *o).min();
        let expected = (*offset < ends[partition]).then_some(*offset);
        assert_eq!(first_read, expected, "partition {partition} resumes at its committed offset {offset}");
    }
    let mut all: Vec<&String> = before.values().chain(after.values()).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), RECORDS, "every record read, none twice across the coordinator change");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_classic_group_survives_its_coordinator() {
    committed_offsets_survive_the_coordinator("classic").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_protocol_group_survives_its_coordinator() {
    committed_offsets_survive_the_coordinator("consumer").await;
}
