//! A broker with several `log.dirs`: AlterReplicaLogDirs moves a replica between them while a
//! producer writes it (nothing acknowledged lost or duplicated, the old directory gone),
//! DescribeLogDirs lists where each replica lives, a move a stop interrupted finishes or
//! is carried on at the next start, and the answers to bad requests are Kafka 4.4's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kafka_protocol::messages::alter_replica_log_dirs_request::{AlterReplicaLogDir, AlterReplicaLogDirTopic};
use kafka_protocol::messages::{
    AlterReplicaLogDirsRequest, ApiKey, DescribeLogDirsRequest, MetadataRequest, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, FutureProducer, FutureRecord, Producer};

use crate::common::Brook;
use crate::common::clients::read_to_end;
use crate::common::kafka::Kafka;
use crate::common::wire::{Conn, alter_broker_config, create_topic};

const TOPIC: &str = "moving";

/// Where DescribeLogDirs places each replica: (log dir, topic, partition, is future) -> offset lag.
type Placement = BTreeMap<(String, String, i32, bool), i64>;

fn describe(conn: &mut Conn) -> Placement {
    let ResponseKind::DescribeLogDirs(r) =
        conn.call(ApiKey::DescribeLogDirs, 4, &DescribeLogDirsRequest::default().with_topics(None))
    else {
        panic!("not a DescribeLogDirs response")
    };
    assert_eq!(r.error_code, 0);
    let mut placed = Placement::new();
    for dir in r.results {
        assert_eq!(dir.error_code, 0);
        assert!(dir.total_bytes > 0 && dir.usable_bytes > 0, "{} has its disk's totals", dir.log_dir);
        // Internal topics (the consumer offsets the readers below create) are not the subject.
        for topic in dir.topics.into_iter().filter(|t| !t.name.0.starts_with("__")) {
            for p in topic.partitions {
                let key = (dir.log_dir.to_string(), topic.name.0.to_string(), p.partition_index, p.is_future_key);
                placed.insert(key, p.offset_lag);
            }
        }
    }
    placed
}

/// AlterReplicaLogDirs: each (dir, topic, partition) -> error code.
fn alter(conn: &mut Conn, moves: &[(&str, &str, i32)]) -> BTreeMap<(String, i32), i16> {
    let dirs = moves
        .iter()
        .map(|(dir, topic, index)| {
            AlterReplicaLogDir::default().with_path(StrBytes::from_string(dir.to_string())).with_topics(vec![
                AlterReplicaLogDirTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                    .with_partitions(vec![*index]),
            ])
        })
        .collect();
    let ResponseKind::AlterReplicaLogDirs(r) =
        conn.call(ApiKey::AlterReplicaLogDirs, 2, &AlterReplicaLogDirsRequest::default().with_dirs(dirs))
    else {
        panic!("not an AlterReplicaLogDirs response")
    };
    r.results
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| ((t.topic_name.0.to_string(), p.partition_index), p.error_code)))
        .collect()
}

/// Polls until `ready` gives a value, for at most `limit`.
fn eventually<T>(limit: Duration, what: &str, mut ready: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = ready() {
            return value;
        }
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn absolute(dir: &Path) -> String {
    std::path::absolute(dir).unwrap().display().to_string()
}

/// The entries of a log dir that belong to `topic` (partitions, copies, old directories).
fn entries(dir: &Path, topic: &str) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!("{topic}-")))
        .collect()
}

fn two_dirs() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (root.path().join("disk-a"), root.path().join("disk-b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    (root, a, b)
}

fn start(a: &Path, b: &Path) -> Brook {
    Brook::start_in(a, &[&format!("log.dirs={},{}", a.display(), b.display())])
}

/// Fills partition `partition` with `count` values `fill-<i>` (librdkafka, batched).
fn fill(addr: &str, partition: i32, count: usize) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("linger.ms", "20")
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    let value = "x".repeat(180);
    for i in 0..count {
        let payload = format!("fill-{i}-{value}");
        let mut record = BaseRecord::<(), _>::to(TOPIC).partition(partition).payload(&payload);
        while let Err((_, r)) = producer.send(record) {
            record = r;
            producer.poll(Duration::from_millis(5));
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(60)).expect("every fill record delivered");
}

/// An idempotent acks=all producer writing `live-<i>` values to partition 0, one at a time,
/// until `stop` (and at least 50): each acknowledged value by its offset.
fn produce_steadily(bootstrap: &str, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<BTreeMap<i64, String>> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "0")
        .set("message.timeout.ms", "60000")
        .create()
        .unwrap();
    tokio::spawn(async move {
        let mut acked = BTreeMap::new();
        let mut i = 0;
        while !stop.load(Ordering::Relaxed) || i < 50 {
            let value = format!("live-{i}");
            let record = FutureRecord::<(), _>::to(TOPIC).partition(0).payload(&value);
            let delivery = producer.send(record, Duration::from_secs(60)).await.map_err(|(e, _)| e);
            acked.insert(delivery.expect("acknowledged").offset, value);
            i += 1;
        }
        acked
    })
}

/// Two partitions swap log dirs while an idempotent acks=all producer writes one of them:
/// every acknowledged value is read back once, at the offset it was acknowledged at, before
/// and after a kill -9 and restart; each log dir then holds only the live partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_move_between_log_dirs_under_a_producer() {
    let (_root, a, b) = two_dirs();
    let mut brook = start(&a, &b);
    let mut conn = Conn::open(&brook.addr);
    create_topic(&mut conn, TOPIC, 2);
    let (dir_a, dir_b) = (absolute(&a), absolute(&b));
    let placed = describe(&mut conn);
    // Brook spreads partitions over the dirs by index.
    assert!(placed.contains_key(&(dir_a.clone(), TOPIC.into(), 0, false)), "{placed:?}");
    assert!(placed.contains_key(&(dir_b.clone(), TOPIC.into(), 1, false)), "{placed:?}");
    fill(&brook.addr, 0, 60_000);
    // Copies go at 4 MB/s (a dynamic config, as Kafka's), so the 11 MB partition's copy is seen.
    let rate = "replica.alter.log.dirs.io.max.bytes.per.second";
    assert_eq!(alter_broker_config(&mut conn, "", rate, Some("0")), 42, "INVALID_REQUEST");
    assert_eq!(alter_broker_config(&mut conn, "", rate, Some("4000000")), 0);

    let stop = Arc::new(AtomicBool::new(false));
    let live = produce_steadily(&brook.addr, stop.clone());
    let moved = tokio::task::spawn_blocking({
        let (addr, dir_a, dir_b) = (brook.addr.clone(), dir_a.clone(), dir_b.clone());
        move || {
            let mut conn = Conn::open(&addr);
            let codes = alter(&mut conn, &[(&dir_b, TOPIC, 0), (&dir_a, TOPIC, 1)]);
            assert_eq!(codes, BTreeMap::from([((TOPIC.into(), 0), 0), ((TOPIC.into(), 1), 0)]));
            // Asked again while it moves: nothing changes.
            assert_eq!(alter(&mut conn, &[(&dir_b, TOPIC, 0)]), BTreeMap::from([((TOPIC.into(), 0), 0)]));
            let (started, mut lags) = (Instant::now(), Vec::new());
            let placed = eventually(Duration::from_secs(120), "both replicas moved", || {
                let placed = describe(&mut conn);
                lags.extend(placed.iter().filter(|(k, _)| k.3 && k.0 == dir_b && k.2 == 0).map(|(_, lag)| *lag));
                let done = placed.contains_key(&(dir_b.clone(), TOPIC.into(), 0, false))
                    && placed.contains_key(&(dir_a.clone(), TOPIC.into(), 1, false))
                    && !placed.keys().any(|k| k.3);
                done.then_some(placed)
            });
            (placed, lags, started.elapsed())
        }
    })
    .await
    .unwrap();
    let (placed, lags, took) = moved;
    assert_eq!(placed.len(), 2, "each partition listed once: {placed:?}");
    stop.store(true, Ordering::Relaxed);
    let acked = live.await.unwrap();
    assert!(took >= Duration::from_millis(1500), "11 MB at 4 MB/s took {took:?}");
    assert!(lags.len() >= 2 && lags[0] > lags[lags.len() - 1], "the copy's lag shrank: {lags:?}");

    assert_eq!(entries(&a, TOPIC), BTreeSet::from([format!("{TOPIC}-1")]));
    assert_eq!(entries(&b, TOPIC), BTreeSet::from([format!("{TOPIC}-0")]));
    let check = |addr: &str| {
        let read = read_to_end(addr, TOPIC, 0);
        assert_eq!(read.len(), 60_000 + acked.len(), "every record once");
        for (offset, value) in &acked {
            assert_eq!(read.get(offset), Some(value), "acknowledged at {offset}");
        }
        assert!(read.values().take(60_000).enumerate().all(|(i, v)| v.starts_with(&format!("fill-{i}-"))));
    };
    check(&brook.addr);

    brook.kill();
    let brook = start(&a, &b);
    check(&brook.addr);
    let mut conn = Conn::open(&brook.addr);
    let placed = describe(&mut conn);
    assert!(placed.contains_key(&(dir_b.clone(), TOPIC.into(), 0, false)), "{placed:?}");
    assert!(placed.contains_key(&(dir_a.clone(), TOPIC.into(), 1, false)), "{placed:?}");
}

/// What a stop leaves in the middle of moves: a copy whose log was already renamed away is
/// put in its place, the old directory of a finished move is removed, a copy made for another
/// topic of the same name is removed, and a copy beside its live log is carried on and finishes.
#[test]
fn moves_a_stop_interrupted_are_finished_at_the_next_start() {
    let (_root, a, b) = two_dirs();
    let mut brook = start(&a, &b);
    let mut conn = Conn::open(&brook.addr);
    create_topic(&mut conn, TOPIC, 4);
    let ResponseKind::Metadata(m) = conn.call(ApiKey::Metadata, 12, &MetadataRequest::default().with_topics(None))
    else {
        panic!()
    };
    let id = m.topics.iter().find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == TOPIC)).unwrap().topic_id;
    let id = id.simple().to_string();
    for p in 0..4 {
        fill(&brook.addr, p, 500);
    }
    let before: Vec<_> = (0..4).map(|p| read_to_end(&brook.addr, TOPIC, p)).collect();
    drop(conn);
    assert_eq!(brook.stop(), Some(0));

    // Partition 0 (in a): its swap stopped between the renames.
    std::fs::rename(a.join("moving-0"), a.join(format!("moving-0.{id}00000001-delete"))).unwrap();
    copy_dir(&a.join(format!("moving-0.{id}00000001-delete")), &b.join(format!("moving-0.{id}00000001-future")));
    // Partition 1 (in b): a copy made for a deleted topic of the same name.
    copy_dir(&b.join("moving-1"), &a.join("moving-1.0123456789abcdef0123456789abcdef00000000-future"));
    // Partition 2 (in a): a copy beside its live log, half made.
    copy_dir(&a.join("moving-2"), &b.join(format!("moving-2.{id}00000002-future")));
    let brook = start(&a, &b);
    let mut conn = Conn::open(&brook.addr);
    let dir_b = absolute(&b);
    let placed = eventually(Duration::from_secs(30), "partition 2 moved to b", || {
        let placed = describe(&mut conn);
        placed.contains_key(&(dir_b.clone(), TOPIC.into(), 2, false)).then_some(placed)
    });
    let expected = Placement::from([
        ((dir_b.clone(), TOPIC.into(), 0, false), 0),
        ((dir_b.clone(), TOPIC.into(), 1, false), 0),
        ((dir_b.clone(), TOPIC.into(), 2, false), 0),
        ((dir_b.clone(), TOPIC.into(), 3, false), 0),
    ]);
    assert_eq!(placed, expected);
    assert!(entries(&a, TOPIC).is_empty(), "{:?}", entries(&a, TOPIC));
    let names: BTreeSet<String> = (0..4).map(|p| format!("{TOPIC}-{p}")).collect();
    assert_eq!(entries(&b, TOPIC), names);
    for (p, records) in before.iter().enumerate() {
        assert_eq!(&read_to_end(&brook.addr, TOPIC, p as i32), records, "partition {p}");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().filter_map(Result::ok) {
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// The same AlterReplicaLogDirs and DescribeLogDirs requests to Kafka 4.4 and to Brook, each
/// with two log dirs: the same error codes, and the replica ends in the dir asked for.
#[test]
fn alter_replica_log_dirs_answers_as_kafka() {
    let (_kafka_root, ka, kb) = two_dirs();
    let kafka = Kafka::start_with(&[], &[&format!("log.dirs={},{}", ka.display(), kb.display())]);
    let (_root, a, b) = two_dirs();
    let brook = start(&a, &b);
    let run = |addr: &str, a: &Path, b: &Path| {
        let mut conn = Conn::open(addr);
        create_topic(&mut conn, "t", 1);
        let placed = eventually(Duration::from_secs(30), "the partition is listed", || {
            let placed = describe(&mut conn);
            (!placed.is_empty()).then_some(placed)
        });
        let here = placed.keys().next().unwrap().0.clone();
        let (a, b) = (absolute(a), absolute(b));
        let other = if here == a { b } else { a };
        let mut seen = Vec::new();
        for (name, dir, topic, index) in [
            ("an unknown dir", "/no/such/dir", "t", 0),
            ("a relative path", "disk-a", "t", 0),
            ("an unknown topic", other.as_str(), "unknown", 0),
            ("an unknown partition", other.as_str(), "t", 7),
            ("the dir it is in", here.as_str(), "t", 0),
            ("the other dir", other.as_str(), "t", 0),
        ] {
            seen.push((name, alter(&mut conn, &[(dir, topic, index)])));
        }
        // Kafka lists both replicas as current for a moment during its swap.
        eventually(Duration::from_secs(30), "the replica moved", || {
            let placed = describe(&mut conn);
            (placed.len() == 1 && placed.contains_key(&(other.clone(), "t".into(), 0, false))).then_some(())
        });
        seen
    };
    let expected = run(&kafka.addr, &ka, &kb);
    assert_eq!(expected[0].1.values().next(), Some(&57), "Kafka: LOG_DIR_NOT_FOUND");
    assert_eq!(run(&brook.addr, &a, &b), expected);
}

/// In a cluster (RF 3, min ISR 2), every replica of a partition moves to its broker's second
/// log dir, throttled, while an idempotent acks=all producer writes it; the leader is killed
/// halfway and started again (its move carries on at start-up). Every acknowledged record is
/// read back once at its offset, and each broker ends with the partition in its second dir
/// and nothing left in the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_move_between_log_dirs_in_a_cluster() {
    use crate::common::cluster::{Cluster, SETTLE, Spec};
    use crate::common::wire::partition_states;
    use kafka_protocol::messages::CreateTopicsRequest;
    use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};

    let sessions = ["broker.heartbeat.interval.ms=300", "broker.session.timeout.ms=2000"];
    let mut cluster = Cluster::start_with(Spec::combined(3, &sessions).two_log_dirs());
    let addr = cluster.node(1).addr();
    let mut conn = Conn::open(&addr);
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
        .with_num_partitions(1)
        .with_replication_factor(3)
        .with_configs(vec![
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("min.insync.replicas"))
                .with_value(Some(StrBytes::from_static_str("2"))),
        ]);
    let request = CreateTopicsRequest::default().with_timeout_ms(30_000).with_topics(vec![topic]);
    let ResponseKind::CreateTopics(created) = conn.call(ApiKey::CreateTopics, 7, &request) else { panic!() };
    assert_eq!(created.topics[0].error_code, 0);
    eventually(SETTLE, "three replicas in sync", || {
        partition_states(&addr, TOPIC).first().filter(|(l, _, isr)| *l > 0 && isr.len() == 3).map(|_| ())
    });
    let bootstrap = (1..=3).map(|id| cluster.node(id).addr()).collect::<Vec<_>>().join(",");
    fill(&bootstrap, 0, 20_000);
    // 1 MB/s on every broker: the 4 MB copies take seconds, and the kill lands mid-move.
    let rate = "replica.alter.log.dirs.io.max.bytes.per.second";
    assert_eq!(alter_broker_config(&mut conn, "", rate, Some("1000000")), 0);

    let stop = Arc::new(AtomicBool::new(false));
    let live = produce_steadily(&bootstrap, stop.clone());
    let seconds: Vec<String> = (1..=3).map(|id| format!("{}-b", cluster.node(id).data.display())).collect();
    let second = |id: i32| seconds[id as usize - 1].clone();
    let leader = partition_states(&addr, TOPIC)[0].0;
    for id in 1..=3 {
        let dir = absolute(Path::new(&second(id)));
        let codes = alter(&mut Conn::open(&cluster.node(id).addr()), &[(&dir, TOPIC, 0)]);
        assert_eq!(codes, BTreeMap::from([((TOPIC.into(), 0), 0)]), "node {id}");
    }
    let leader_addr = cluster.node(leader).addr();
    eventually(SETTLE, "the leader copies its replica", || {
        describe(&mut Conn::open(&leader_addr)).keys().any(|k| k.3).then_some(())
    });
    cluster.kill(leader);
    cluster.restart(leader);
    for id in 1..=3 {
        let (node_addr, dir) = (cluster.node(id).addr(), absolute(Path::new(&second(id))));
        eventually(Duration::from_secs(90), &format!("node {id}'s replica in its second dir"), || {
            let placed = describe(&mut Conn::open(&node_addr));
            (placed.keys().map(|k| (k.0.as_str(), k.3)).collect::<Vec<_>>() == [(dir.as_str(), false)]).then_some(())
        });
        assert!(entries(&cluster.node(id).data, TOPIC).is_empty(), "node {id}'s first dir");
        assert_eq!(entries(Path::new(&second(id)), TOPIC), BTreeSet::from([format!("{TOPIC}-0")]));
    }
    stop.store(true, Ordering::Relaxed);
    let acked = live.await.unwrap();
    assert!(!acked.is_empty());
    eventually(SETTLE, "three replicas in sync again", || {
        partition_states(&addr, TOPIC).first().filter(|(l, _, isr)| *l > 0 && isr.len() == 3).map(|_| ())
    });
    let read = read_to_end(&bootstrap, TOPIC, 0);
    assert_eq!(read.len(), 20_000 + acked.len(), "every record once");
    for (offset, value) in &acked {
        assert_eq!(read.get(offset), Some(value), "acknowledged at {offset}");
    }
}
