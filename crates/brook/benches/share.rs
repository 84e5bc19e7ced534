//! Share-group throughput with a lean client: `BENCH_RECORDS` records (default 1,000,000) of
//! 100 bytes in a one-partition topic, taken by `BENCH_MEMBERS` members (default 10) of one
//! share group, each acquired record accepted in the member's next ShareFetch; against Brook,
//! then against one Apache Kafka node (the version `tests/kafka/pom.xml` names), for
//! `BENCH_ROUNDS` rounds (default 3) in the same run, with the median ratio.
//!
//! The members are raw-protocol clients (ShareGroupHeartbeat, then ShareFetch with the
//! previous answer's acknowledgements, one thread and connection each), so that the figure is
//! the broker's: ten Java `KafkaShareConsumer`s (`scripts/bench-share`) keep both cores of a
//! small machine busy by themselves. The clock runs from the first record acquired to the last
//! acknowledgement answered; the broker's CPU seconds are taken over the same span.
//!
//!   cargo bench -p brook --bench share        (BENCH_KAFKA=0 skips Kafka)

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brook_log::batch::build;
use common::Brook;
use common::kafka::Kafka;
use common::wire::{Conn, alter_config, create_topic, now_ms, produce};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::share_acknowledge_request::{AcknowledgePartition, AcknowledgeTopic};
use kafka_protocol::messages::share_fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, GroupId, MetadataRequest, ResponseKind, ShareAcknowledgeRequest, ShareFetchRequest,
    ShareGroupHeartbeatRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

const TOPIC: &str = "bench-share";
const GROUP: &str = "bench-share";
const TIMEOUT: Duration = Duration::from_secs(300);
/// Kafka's AcknowledgeType ACCEPT.
const ACCEPT: i8 = 1;

struct Figures {
    records_per_s: f64,
    broker_cpu_s: f64,
    duplicates: u64,
}

fn main() {
    let records: u64 = env("BENCH_RECORDS", 1_000_000);
    let members: usize = env("BENCH_MEMBERS", 10) as usize;
    let rounds = env("BENCH_ROUNDS", 3).max(1);
    let with_kafka = std::env::var("BENCH_KAFKA").as_deref() != Ok("0");
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        println!("round {round} of {rounds}");
        let brook = Brook::start(&[]);
        let ours = run("Brook", &brook.addr, brook.pid(), records, members);
        drop(brook);
        if !with_kafka {
            continue;
        }
        let kafka = Kafka::start();
        let theirs = run("Kafka", &kafka.addr, kafka.pid(), records, members);
        drop(kafka);
        let ratio = ours.records_per_s / theirs.records_per_s;
        println!(
            "Brook / Kafka: records/s {ratio:.2}x, broker CPU seconds {:.2}x; delivered twice: Brook {}, Kafka {}",
            ours.broker_cpu_s / theirs.broker_cpu_s,
            ours.duplicates,
            theirs.duplicates
        );
        ratios.push(ratio);
    }
    if !ratios.is_empty() {
        ratios.sort_by(f64::total_cmp);
        println!(
            "median Brook / Kafka records/s over {} rounds: {:.2}x (target >= 2)",
            ratios.len(),
            ratios[ratios.len() / 2]
        );
    }
}

fn env(key: &str, default: u64) -> u64 {
    std::env::var(key).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Fills the topic, then times the share group taking every record.
fn run(label: &str, addr: &str, pid: u32, records: u64, members: usize) -> Figures {
    let mut conn = Conn::open(addr);
    create_topic(&mut conn, TOPIC, 1);
    let mut written = 0;
    while written < records {
        let count = (records - written).min(500);
        let (code, _) = produce(&mut conn, TOPIC, -1, build::simple(now_ms(), count as usize, 100)).expect("acks");
        // NOT_LEADER_OR_FOLLOWER: Kafka's new partition has no leader for a moment.
        if code == 6 && written == 0 {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        assert_eq!(code, 0, "produce at {written}");
        written += count;
    }
    let (code, message) = alter_config(&mut conn, (32, GROUP), ("share.auto.offset.reset", 0, Some("earliest")), false);
    assert_eq!(code, 0, "share.auto.offset.reset: {message:?}");
    let request = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(TopicName(text(TOPIC))))]));
    let ResponseKind::Metadata(metadata) = conn.call(ApiKey::Metadata, 12, &request) else { panic!() };
    let topic_id = metadata.topics[0].topic_id;
    // Kafka makes __consumer_offsets, where share groups live too, at the first FindCoordinator.
    let find = FindCoordinatorRequest::default().with_key_type(0).with_key(text(GROUP));
    common::eventually(Duration::from_secs(60), "the group coordinator", || {
        let ResponseKind::FindCoordinator(r) = conn.call(ApiKey::FindCoordinator, 3, &find) else { panic!() };
        (r.error_code == 0).then_some(())
    });

    let shared = Arc::new(Shared {
        seen: Mutex::new(HashSet::with_capacity(records as usize)),
        acquired: AtomicU64::new(0),
        first_at: Mutex::new(None),
        done: AtomicBool::new(false),
        records,
    });
    let cpu_before = common::cpu_seconds(pid);
    let threads: Vec<_> = (0..members)
        .map(|i| {
            let (addr, shared) = (addr.to_string(), shared.clone());
            std::thread::spawn(move || member(&addr, &format!("bench-member-{i:012}"), topic_id, &shared))
        })
        .collect();
    for t in threads {
        t.join().expect("a member");
    }
    let ended = Instant::now();
    let broker_cpu_s = common::cpu_seconds(pid) - cpu_before;
    let started = shared.first_at.lock().expect("lock").expect("a record acquired");
    let seconds = (ended - started).as_secs_f64();
    let acquired = shared.acquired.load(Ordering::Relaxed);
    let figures = Figures { records_per_s: records as f64 / seconds, broker_cpu_s, duplicates: acquired - records };
    println!(
        "{label}: {records} records, {members} share group members: {:.2} s, {:.0} records/s, broker CPU {:.2} s, \
         {} delivered twice",
        seconds, figures.records_per_s, figures.broker_cpu_s, figures.duplicates
    );
    figures
}

struct Shared {
    /// Offsets acquired so far.
    seen: Mutex<HashSet<i64>>,
    /// Records acquired, repeats included.
    acquired: AtomicU64,
    first_at: Mutex<Option<Instant>>,
    done: AtomicBool,
    records: u64,
}

/// An acknowledgement batch of `module` accepting offsets `first` to `last`.
macro_rules! ack_batch {
    ($module:ident, $first:expr, $last:expr) => {
        kafka_protocol::messages::$module::AcknowledgementBatch::default()
            .with_first_offset($first)
            .with_last_offset($last)
            .with_acknowledge_types(vec![ACCEPT])
    };
}

/// One member: joins, then fetches with the last answer's acknowledgements until every record
/// was acquired by someone; its last acknowledgements close its share session.
fn member(addr: &str, member_id: &str, topic_id: Uuid, shared: &Shared) {
    let mut conn = Conn::open(addr);
    let deadline = Instant::now() + TIMEOUT;
    let joined_by = Instant::now() + Duration::from_secs(30);
    let mut epoch = 0;
    loop {
        let request = ShareGroupHeartbeatRequest::default()
            .with_group_id(GroupId(text(GROUP)))
            .with_member_id(text(member_id))
            .with_member_epoch(epoch)
            .with_subscribed_topic_names(Some(vec![TopicName(text(TOPIC))]));
        let ResponseKind::ShareGroupHeartbeat(r) = conn.call(ApiKey::ShareGroupHeartbeat, 1, &request) else {
            panic!()
        };
        // COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE: still loading.
        if ![14, 15, 16].contains(&r.error_code) {
            assert_eq!(r.error_code, 0, "heartbeat: {:?}", r.error_message);
            epoch = r.member_epoch;
        }
        if r.assignment.is_some_and(|a| !a.topic_partitions.is_empty()) {
            break;
        }
        assert!(Instant::now() < joined_by, "no assignment within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut session_epoch = 0;
    let mut pending: Vec<(i64, i64)> = Vec::new();
    loop {
        if shared.done.load(Ordering::Relaxed) {
            // The last acknowledgements close the share session (epoch -1), as a closing
            // KafkaShareConsumer's do.
            let partition = AcknowledgePartition::default().with_partition_index(0).with_acknowledgement_batches(
                pending.iter().map(|(first, last)| ack_batch!(share_acknowledge_request, *first, *last)).collect(),
            );
            let topics = match pending.is_empty() {
                true => vec![],
                false => vec![AcknowledgeTopic::default().with_topic_id(topic_id).with_partitions(vec![partition])],
            };
            let request = ShareAcknowledgeRequest::default()
                .with_group_id(Some(GroupId(text(GROUP))))
                .with_member_id(Some(text(member_id)))
                .with_share_session_epoch(-1)
                .with_topics(topics);
            let ResponseKind::ShareAcknowledge(r) = conn.call(ApiKey::ShareAcknowledge, 1, &request) else { panic!() };
            assert_eq!(r.error_code, 0, "share acknowledge: {:?}", r.error_message);
            let refused = r.responses.iter().flat_map(|t| &t.partitions).any(|p| p.error_code != 0);
            assert!(!refused, "an acknowledgement was refused: {r:?}");
            return;
        }
        let partition = FetchPartition::default().with_partition_index(0).with_acknowledgement_batches(
            pending.drain(..).map(|(first, last)| ack_batch!(share_fetch_request, first, last)).collect(),
        );
        let request = ShareFetchRequest::default()
            .with_group_id(Some(GroupId(text(GROUP))))
            .with_member_id(Some(text(member_id)))
            .with_share_session_epoch(session_epoch)
            .with_max_wait_ms(200)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_max_records(500)
            .with_batch_size(500)
            .with_topics(vec![FetchTopic::default().with_topic_id(topic_id).with_partitions(vec![partition])]);
        let ResponseKind::ShareFetch(r) = conn.call(ApiKey::ShareFetch, 1, &request) else { panic!() };
        assert_eq!(r.error_code, 0, "share fetch: {:?}", r.error_message);
        session_epoch += 1;
        for p in r.responses.iter().flat_map(|t| &t.partitions) {
            assert_eq!(p.error_code, 0, "share fetch partition");
            assert_eq!(p.acknowledge_error_code, 0, "acknowledgement");
            if p.acquired_records.is_empty() {
                continue;
            }
            shared.first_at.lock().expect("lock").get_or_insert_with(Instant::now);
            let mut seen = shared.seen.lock().expect("lock");
            for range in &p.acquired_records {
                pending.push((range.first_offset, range.last_offset));
                let count = (range.last_offset - range.first_offset + 1) as u64;
                shared.acquired.fetch_add(count, Ordering::Relaxed);
                seen.extend(range.first_offset..=range.last_offset);
            }
            if seen.len() as u64 >= shared.records {
                shared.done.store(true, Ordering::Relaxed);
            }
        }
        assert!(Instant::now() < deadline, "the records were not all taken within {TIMEOUT:?}");
    }
}
