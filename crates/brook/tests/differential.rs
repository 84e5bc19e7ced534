//! Differential tests: the same request sequence against Apache Kafka (one KRaft node, from
//! Maven Central) and Brook, comparing error codes and offsets where behaviour is subtle: bad
//! topic names, replication factors, corrupt and oversized batches, out-of-range offsets,
//! idempotent sequences.

mod common;

use std::collections::BTreeMap;

use brook_log::batch::build;
use bytes::Bytes;
use common::Brook;
use common::kafka::Kafka;
use common::wire::{Conn, fetch_request, idempotent_batch, now_ms, produce};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId, CreateTopicsRequest, DeleteRecordsRequest, InitProducerIdRequest, ListOffsetsRequest,
    MetadataRequest, ResponseKind, TopicName, TransactionalId, metadata_request::MetadataRequestTopic,
};
use kafka_protocol::protocol::StrBytes;

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// What a broker answered, by step name.
type Observations = BTreeMap<String, String>;

fn create(conn: &mut Conn, topic: &str, partitions: i32, replication_factor: i16) -> i16 {
    let request = CreateTopicsRequest::default().with_timeout_ms(10_000).with_topics(vec![
        CreatableTopic::default()
            .with_name(name(topic))
            .with_num_partitions(partitions)
            .with_replication_factor(replication_factor),
    ]);
    let ResponseKind::CreateTopics(r) = conn.call(ApiKey::CreateTopics, 7, &request) else { panic!() };
    r.topics[0].error_code
}

fn list_offset(conn: &mut Conn, topic: &str, timestamp: i64) -> (i16, i64) {
    let (error, offset, _) = list_offset_at(conn, topic, timestamp, 8);
    (error, offset)
}

/// Waits until the broker's metadata shows a leader for every partition of `topic`: a fresh
/// Kafka node answers NOT_LEADER_OR_FOLLOWER to produces for a moment after CreateTopics.
fn await_leader(conn: &mut Conn, topic: &str) {
    let request = MetadataRequest::default()
        .with_allow_auto_topic_creation(false)
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(name(topic)))]));
    common::eventually(std::time::Duration::from_secs(30), "a leader for the new topic", || {
        let ResponseKind::Metadata(m) = conn.call(ApiKey::Metadata, 12, &request) else { panic!() };
        let t = m.topics.first()?;
        (t.error_code == 0 && !t.partitions.is_empty() && t.partitions.iter().all(|p| p.leader_id.0 >= 0)).then_some(())
    });
}

/// A produce retried while the partition answers NOT_LEADER_OR_FOLLOWER (6), as clients retry
/// it: Kafka's metadata can show the leader a moment before its replica manager takes over.
fn produce_to_new(conn: &mut Conn, topic: &str, batch: Bytes) -> Option<(i16, i64)> {
    common::eventually(std::time::Duration::from_secs(30), "the new topic's leader to accept", || {
        let answer = produce(conn, topic, -1, batch.clone());
        (answer.map(|r| r.0) != Some(6)).then_some(answer)
    })
}

/// ListOffsets at `version`: (error, offset, timestamp).
fn list_offset_at(conn: &mut Conn, topic: &str, timestamp: i64, version: i16) -> (i16, i64, i64) {
    let request = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
        ListOffsetsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![ListOffsetsPartition::default().with_timestamp(timestamp)]),
    ]);
    let ResponseKind::ListOffsets(r) = conn.call(ApiKey::ListOffsets, version, &request) else { panic!() };
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.offset, p.timestamp)
}

fn scenario(addr: &str) -> Observations {
    let mut seen = Observations::new();
    let mut note = |step: &str, value: String| {
        seen.insert(step.to_string(), value);
    };
    let mut conn = Conn::open(addr);
    for (step, topic, partitions, rf) in [
        ("create valid", "diff", 1, 1),
        ("create existing", "diff", 1, 1),
        ("create bad character", "bad name!", 1, 1),
        ("create empty name", "", 1, 1),
        ("create dot-dot", "..", 1, 1),
        ("create 250 chars", &"x".repeat(250), 1, 1),
        ("create replication factor 3", "rf3", 1, 3),
        ("create 0 partitions", "zero", 0, 1),
        ("create -5 partitions", "negative", -5, 1),
    ] {
        note(step, create(&mut conn, topic, partitions, rf).to_string());
    }
    await_leader(&mut conn, "diff");
    let metadata = MetadataRequest::default()
        .with_allow_auto_topic_creation(false)
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(name("missing")))]));
    let ResponseKind::Metadata(m) = conn.call(ApiKey::Metadata, 12, &metadata) else { panic!() };
    note("metadata unknown topic", m.topics[0].error_code.to_string());

    let good = build::simple(now_ms(), 2, 10);
    // acks=all: the reads below see the high watermark past it on both brokers at once.
    note("produce valid", format!("{:?}", produce_to_new(&mut conn, "diff", good.clone())));
    let mut corrupt = good.to_vec();
    *corrupt.last_mut().expect("bytes") ^= 1;
    note("produce corrupt crc", format!("{:?}", produce(&mut conn, "diff", 1, Bytes::from(corrupt))));
    note("produce oversized", format!("{:?}", produce(&mut conn, "diff", 1, build::simple(now_ms(), 1, 2_000_000))));
    note("produce unknown topic", format!("{:?}", produce(&mut conn, "missing", 1, good.clone())));
    note("produce acks 5", format!("{:?}", produce(&mut conn, "diff", 5, good.clone())));
    let future = build::simple(now_ms() + 2 * 3_600_000, 1, 10);
    note("produce 2h in the future", format!("{:?}", produce(&mut conn, "diff", 1, future)));

    let ResponseKind::Fetch(f) = conn.call(ApiKey::Fetch, 12, &fetch_request("diff", 100, 0)) else { panic!() };
    let p = &f.responses[0].partitions[0];
    note("fetch beyond the end", format!("{} hw={}", p.error_code, p.high_watermark));
    note("list earliest", format!("{:?}", list_offset(&mut conn, "diff", -2)));
    note("list latest", format!("{:?}", list_offset(&mut conn, "diff", -1)));
    note("list far future timestamp", format!("{:?}", list_offset(&mut conn, "diff", now_ms() + 86_400_000)));

    // KIP-734's max timestamp (-3), earliest local (-4) and latest tiered (-5), on an empty
    // partition and on one whose newest timestamp sits in the middle batch.
    for topic in ["times", "times-empty"] {
        assert_eq!(create(&mut conn, topic, 1, 1), 0);
        await_leader(&mut conn, topic);
    }
    let base = now_ms() - 60_000;
    for (offset_ms, count) in [(0, 3), (20_000, 2), (10_000, 4)] {
        assert_eq!(
            produce_to_new(&mut conn, "times", build::simple(base + offset_ms, count, 10)).map(|r| r.0),
            Some(0)
        );
    }
    for target in [-3, -4, -5] {
        for topic in ["times", "times-empty"] {
            let (error, offset, timestamp) = list_offset_at(&mut conn, topic, target, 9);
            let relative = if timestamp >= base { format!("base+{}", timestamp - base) } else { timestamp.to_string() };
            note(&format!("list {target} on {topic}"), format!("error={error} offset={offset} timestamp={relative}"));
        }
    }

    let request = DeleteRecordsRequest::default().with_timeout_ms(5_000).with_topics(vec![
        DeleteRecordsTopic::default()
            .with_name(name("diff"))
            .with_partitions(vec![DeleteRecordsPartition::default().with_offset(50)]),
    ]);
    let ResponseKind::DeleteRecords(d) = conn.call(ApiKey::DeleteRecords, 2, &request) else { panic!() };
    note("delete records beyond the high watermark", d.topics[0].partitions[0].error_code.to_string());

    let empty_id =
        InitProducerIdRequest::default().with_transactional_id(Some(TransactionalId(StrBytes::from_static_str(""))));
    let ResponseKind::InitProducerId(init) = conn.call(ApiKey::InitProducerId, 4, &empty_id) else { panic!() };
    note("init producer id, empty transactional id", init.error_code.to_string());
    let idempotent = InitProducerIdRequest::default().with_transactional_id(None).with_transaction_timeout_ms(60_000);
    // A freshly started Kafka answers COORDINATOR_LOAD_IN_PROGRESS for a while: retry, as clients do.
    let init = common::eventually(std::time::Duration::from_secs(60), "a producer id", || {
        match conn.call(ApiKey::InitProducerId, 4, &idempotent) {
            ResponseKind::InitProducerId(init) if init.error_code != 14 => Some(init),
            _ => None,
        }
    });
    note("init producer id", format!("error={} epoch={}", init.error_code, init.producer_epoch));
    let pid = init.producer_id.0;
    assert_eq!(create(&mut conn, "idem", 1, 1), 0);
    await_leader(&mut conn, "idem");
    for (step, epoch, sequence, records) in [
        ("idempotent first", 0, 0, 3),
        ("idempotent next", 0, 3, 2),
        ("idempotent duplicate of next", 0, 3, 2),
        ("idempotent duplicate of first", 0, 0, 3),
        ("idempotent gap", 0, 9, 1),
        ("idempotent new epoch from 0", 1, 0, 1),
        ("idempotent old epoch", 0, 5, 1),
    ] {
        let batch = idempotent_batch(pid, epoch, sequence, records);
        let answer = if step == "idempotent first" {
            produce_to_new(&mut conn, "idem", batch)
        } else {
            produce(&mut conn, "idem", -1, batch)
        };
        note(step, format!("{answer:?}"));
    }
    seen
}

/// Kafka and Brook answer the same sequence the same way.
#[test]
fn brook_answers_like_kafka() {
    let kafka = Kafka::start();
    let kafka_seen = scenario(&kafka.addr);
    drop(kafka);
    let brook = Brook::start(&[]);
    let brook_seen = scenario(&brook.addr);
    let differences: Vec<String> = kafka_seen
        .iter()
        .filter(|(step, kafka)| brook_seen.get(*step) != Some(kafka))
        .map(|(step, kafka)| {
            format!("{step}: Kafka {kafka}, Brook {}", brook_seen.get(step).map_or("-", String::as_str))
        })
        .collect();
    assert!(differences.is_empty(), "Brook differs from Kafka:\n  {}", differences.join("\n  "));
}
