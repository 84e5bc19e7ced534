//! Differential tests: the same request sequence against Apache Kafka (one KRaft node, from
//! Maven Central) and Brook, comparing error codes and offsets where behaviour is subtle: bad
//! topic names, replication factors, corrupt and oversized batches, KIP-467's per-record errors,
//! out-of-range offsets, idempotent sequences, SASL on a listener without it and with it (PLAIN,
//! SCRAM and its user management), the transaction APIs misused, config validation,
//! DescribeTopicPartitions' pages and ListConfigResources.

use crate::common;

use std::collections::BTreeMap;

use crate::common::Brook;
use crate::common::kafka::Kafka;
use crate::common::wire::{
    Conn, end_txn_at, fetch_request, idempotent_batch, init_txn, now_ms, produce, produce_txn_at, txn_id,
};
use brook_log::batch::build::{self, Record};
use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, ApiKey, BrokerId, CreateTopicsRequest, DeleteRecordsRequest,
    DescribeTransactionsRequest, FindCoordinatorRequest, GroupId, InitProducerIdRequest, ListOffsetsRequest,
    ListTransactionsRequest, MetadataRequest, ProducerId, ResponseKind, SaslAuthenticateRequest, SaslHandshakeRequest,
    TopicName, TransactionalId, TxnOffsetCommitRequest, add_partitions_to_txn_request,
    metadata_request::MetadataRequestTopic, txn_offset_commit_request,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

pub(crate) fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// What a broker answered, by step name.
pub(crate) type Observations = BTreeMap<String, String>;

pub(crate) fn create(conn: &mut Conn, topic: &str, partitions: i32, replication_factor: i16) -> i16 {
    let request = CreateTopicsRequest::default().with_timeout_ms(10_000).with_topics(vec![
        CreatableTopic::default()
            .with_name(name(topic))
            .with_num_partitions(partitions)
            .with_replication_factor(replication_factor),
    ]);
    let ResponseKind::CreateTopics(r) = conn.call(ApiKey::CreateTopics, 7, &request) else { panic!() };
    r.topics[0].error_code
}

/// CreateTopics of one partition with one config set: the error code.
fn create_with_config(conn: &mut Conn, topic: &str, key: &str, value: &str) -> i16 {
    create_with_config_at(conn, topic, key, value, false).0
}

/// CreateTopics (`validate_only`, or not) of one partition with one config: code and message.
fn create_with_config_at(conn: &mut Conn, topic: &str, key: &str, value: &str, validate_only: bool) -> (i16, String) {
    use kafka_protocol::messages::create_topics_request::CreatableTopicConfig;
    let config = CreatableTopicConfig::default()
        .with_name(StrBytes::from_string(key.to_string()))
        .with_value(Some(StrBytes::from_string(value.to_string())));
    let request =
        CreateTopicsRequest::default().with_timeout_ms(10_000).with_validate_only(validate_only).with_topics(vec![
            CreatableTopic::default()
                .with_name(name(topic))
                .with_num_partitions(1)
                .with_replication_factor(1)
                .with_configs(vec![config]),
        ]);
    let ResponseKind::CreateTopics(r) = conn.call(ApiKey::CreateTopics, 7, &request) else { panic!() };
    (r.topics[0].error_code, answer(r.topics[0].error_code, r.topics[0].error_message.as_deref()))
}

fn list_offset(conn: &mut Conn, topic: &str, timestamp: i64) -> (i16, i64) {
    let (error, offset, _) = list_offset_at(conn, topic, timestamp, 8);
    (error, offset)
}

/// Waits until the broker's metadata shows a leader for every partition of `topic`: a fresh
/// Kafka node answers NOT_LEADER_OR_FOLLOWER to produces for a moment after CreateTopics.
pub(crate) fn await_leader(conn: &mut Conn, topic: &str) {
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
pub(crate) fn produce_to_new(conn: &mut Conn, topic: &str, batch: Bytes) -> Option<(i16, i64)> {
    common::eventually(std::time::Duration::from_secs(30), "the new topic's leader to accept", || {
        let answer = produce(conn, topic, -1, batch.clone());
        (answer.map(|r| r.0) != Some(6)).then_some(answer)
    })
}

/// A batch of five records, the second, fourth and fifth without a key, to a new compacted
/// topic at Produce v9: the error code, each record error, and the message.
fn keyless_to_compacted(conn: &mut Conn) -> String {
    assert_eq!(create_with_config(conn, "keys", "cleanup.policy", "compact"), 0);
    await_leader(conn, "keys");
    let records: Vec<Record> = [Some("a"), None, Some("b"), None, None]
        .iter()
        .map(|k| Record { timestamp_delta: 0, key: k.map(|k| k.as_bytes().to_vec()), value: Some(b"v".to_vec()) })
        .collect();
    let now = now_ms();
    produce_answer(conn, "keys", build::batch(now, &records), now)
}

/// Produce v9 of one batch to `topic`'s partition 0: the error code, each record error and
/// the message, with times relative to `now`.
fn produce_answer(conn: &mut Conn, topic: &str, batch: Bytes, now: i64) -> String {
    let request = kafka_protocol::messages::ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            kafka_protocol::messages::produce_request::TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(vec![
                    kafka_protocol::messages::produce_request::PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(batch)),
                ]),
        ]);
    let p = common::eventually(std::time::Duration::from_secs(30), "the topic's leader", || {
        let ResponseKind::Produce(r) = conn.call(ApiKey::Produce, 9, &request) else { panic!() };
        let p = r.responses[0].partition_responses[0].clone();
        (p.error_code != 6).then_some(p)
    });
    let errors: Vec<String> = p
        .record_errors
        .iter()
        .map(|e| format!("{}: {}", e.batch_index, e.batch_index_error_message.as_deref().unwrap_or("-")))
        .collect();
    relative_times(&format!("error={} records={errors:?} message={:?}", p.error_code, p.error_message.as_deref()), now)
}

/// `text` with each millisecond timestamp (13 digits) written relative to `now` in whole
/// seconds, since the two brokers' clocks read a few milliseconds apart, and longer numbers
/// (a bound `now - i64::MAX`) as N.
fn relative_times(text: &str, now: i64) -> String {
    let mut out = String::new();
    let mut digits = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        match digits.parse::<i64>() {
            Ok(t) if digits.len() == 13 => out.push_str(&format!("now{:+}s", ((t - now) as f64 / 1000.0).round())),
            _ if digits.len() > 13 => out.push('N'),
            _ => out.push_str(&digits),
        }
        digits.clear();
        out.push(c);
    }
    out.pop();
    out
}

/// KIP-467 for timestamps: batches whose records fall outside a topic's
/// `message.timestamp.before/after.max.ms` (here one minute and Kafka 4's default hour), one
/// record at a time, compressed or not, and with keyless records on a compacted topic.
fn timestamp_record_errors(conn: &mut Conn) -> Vec<(String, String)> {
    assert_eq!(create_with_config(conn, "stamps", "message.timestamp.before.max.ms", "60000"), 0);
    await_leader(conn, "stamps");
    let now = now_ms();
    let records = |deltas: &[i64], keys: &[bool]| -> Vec<Record> {
        let key = |i: usize| keys.get(i).copied().unwrap_or(true).then(|| b"k".to_vec());
        let record = |(i, &d): (usize, &i64)| Record { timestamp_delta: d, key: key(i), value: Some(b"v".to_vec()) };
        deltas.iter().enumerate().map(record).collect()
    };
    let (hour, minutes_ago) = (3_600_000, -600_000);
    let mut seen = Vec::new();
    for (step, topic, base, batch) in [
        ("a middle record too old", "stamps", now, records(&[0, minutes_ago, 0, 1], &[])),
        ("first too old, last too new", "stamps", now + minutes_ago, records(&[0, 600_000, 600_000 + 2 * hour], &[])),
        ("all in range", "stamps", now, records(&[0, -1_000, 1_000], &[])),
        ("two too new", "stamps", now, records(&[0, 2 * hour, 1, 2 * hour + 1], &[])),
        (
            "too new or keyless, compacted",
            "keys",
            now,
            records(&[2 * hour, 2 * hour, 0, 0], &[true, false, false, true]),
        ),
    ] {
        let answer = produce_answer(conn, topic, build::batch(base, &batch), now);
        seen.push((format!("timestamps: {step}"), answer));
    }
    let gzip = gzip_batch(now + minutes_ago, &records(&[0, 600_000, 600_000 + 2 * hour], &[]));
    seen.push(("timestamps: gzip".into(), produce_answer(conn, "stamps", gzip, now)));
    let stamped = brook_log::batch::with_log_append_time(&build::simple(now, 2, 3), now);
    seen.push(("timestamps: producer set LogAppendTime".into(), produce_answer(conn, "stamps", stamped, now)));
    let refused = seen.iter().filter(|(_, answer)| answer.starts_with("error=32 ")).count();
    assert_eq!(refused, 5, "five batches hold bad timestamps: {seen:#?}");
    seen
}

/// `records` as a gzip-compressed batch stamped from `base`.
fn gzip_batch(base: i64, records: &[Record]) -> Bytes {
    let offsets: Vec<i64> = (0..records.len() as i64).collect();
    encoded_batch(base, records, &offsets, kafka_protocol::records::Compression::Gzip)
}

/// `records` at the given offsets, encoded by the protocol crate in `compression`.
fn encoded_batch(
    base: i64,
    records: &[Record],
    offsets: &[i64],
    compression: kafka_protocol::records::Compression,
) -> Bytes {
    use kafka_protocol::records::{self as kafka, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
    let records: Vec<kafka::Record> = records
        .iter()
        .zip(offsets)
        .map(|(r, &offset)| kafka::Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset,
            // One batch needs offset - sequence constant; its base sequence is then -1.
            sequence: offset as i32 - 1,
            timestamp: base + r.timestamp_delta,
            key: r.key.clone().map(Bytes::from),
            value: r.value.clone().map(Bytes::from),
            headers: Default::default(),
            delete_horizon: false,
        })
        .collect();
    let mut out = bytes::BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression };
    RecordBatchEncoder::encode(&mut out, records.iter(), &options).expect("encode");
    out.freeze()
}

/// Batches whose header Kafka's log validator refuses before it reads a record: offsets that
/// do not start at 0 or disagree with the count (compressed or not), no records, a producer id
/// without a sequence.
fn misshapen_batches(conn: &mut Conn) -> Vec<(String, String)> {
    use kafka_protocol::records::Compression;
    assert_eq!(create(conn, "shapes", 1, 1), 0);
    await_leader(conn, "shapes");
    let now = now_ms();
    let records = |n: usize| -> Vec<Record> {
        (0..n).map(|_| Record { timestamp_delta: 0, key: Some(b"k".to_vec()), value: Some(b"v".to_vec()) }).collect()
    };
    let mut seen = Vec::new();
    for (step, offsets) in [("a gap", vec![0, 2, 3]), ("an offset twice", vec![0, 1, 1]), ("from 5", vec![5, 6, 7])] {
        for codec in [Compression::None, Compression::Gzip] {
            let batch = encoded_batch(now, &records(offsets.len()), &offsets, codec);
            seen.push((format!("batch offsets: {step}, {codec:?}"), produce_answer(conn, "shapes", batch, now)));
        }
    }
    let batches =
        [("no records", build::simple(now, 0, 1)), ("a producer without a sequence", idempotent_batch(5, 0, -1, 2))];
    for (step, batch) in batches {
        seen.push((format!("batch: {step}"), produce_answer(conn, "shapes", batch, now)));
    }
    assert!(seen.iter().all(|(_, answer)| answer.starts_with("error=87 ")), "INVALID_RECORD for each: {seen:#?}");
    seen
}

/// KIP-848 joins with topic names, a regex, both or neither, and bad regexes: the code and the
/// message up to the regex library's own words (RE2/J's and Rust's differ).
fn consumer_joins(conn: &mut Conn) -> Vec<(String, String)> {
    use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, GroupId};
    let names = |v: &[&str]| Some(v.iter().map(|s| name(s)).collect::<Vec<_>>());
    let regex = |r: &'static str| Some(StrBytes::from_static_str(r));
    let join = |member: &str| {
        ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(StrBytes::from_static_str("joins")))
            .with_member_id(StrBytes::from_string(format!("member-{member}-0123456789")))
            .with_member_epoch(0)
            .with_rebalance_timeout_ms(30_000)
            .with_topic_partitions(Some(vec![]))
    };
    // The group's coordinator first (Kafka creates its offsets topic on this).
    let find = FindCoordinatorRequest::default().with_key_type(0).with_key(StrBytes::from_static_str("joins"));
    let (code, _) = settled("the group coordinator", || {
        let ResponseKind::FindCoordinator(r) = conn.call(ApiKey::FindCoordinator, 3, &find) else { panic!() };
        (r.error_code, ())
    });
    assert_eq!(code, 0);
    let mut seen = Vec::new();
    for (step, request) in [
        ("neither", join("a")),
        ("empty names", join("b").with_subscribed_topic_names(names(&[]))),
        ("empty regex", join("c").with_subscribed_topic_regex(regex(""))),
        ("an unclosed group", join("d").with_subscribed_topic_regex(regex("diff("))),
        ("a reversed range", join("e").with_subscribed_topic_regex(regex("[z-a]"))),
        (
            "names and a regex",
            join("f").with_subscribed_topic_names(names(&["diff"])).with_subscribed_topic_regex(regex("ti.*")),
        ),
    ] {
        // A fresh Kafka answers LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE or NOT_COORDINATOR
        // while it creates its offsets topic.
        let (code, message) = common::eventually(std::time::Duration::from_secs(60), "a coordinator", || {
            let ResponseKind::ConsumerGroupHeartbeat(r) = conn.call(ApiKey::ConsumerGroupHeartbeat, 1, &request) else {
                panic!()
            };
            (![14, 15, 16].contains(&r.error_code)).then(|| (r.error_code, r.error_message.map(|m| m.to_string())))
        });
        let gist = message.map(|m| m.split_once("regular expression:").map_or(m.clone(), |(gist, _)| gist.to_string()));
        seen.push((format!("consumer join with {step}"), format!("{code} {gist:?}")));
    }
    seen
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
    // By topic id, with the empty name the Java client sends alongside (as for a consumer's
    // regex subscription), and by an unknown id.
    let id_of = |m: &kafka_protocol::messages::MetadataResponse| m.topics[0].topic_id;
    let by_name = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(name("diff")))]));
    let ResponseKind::Metadata(m) = conn.call(ApiKey::Metadata, 12, &by_name) else { panic!() };
    for (step, id) in [("metadata by id, empty name", id_of(&m)), ("metadata by unknown id", Uuid::from_u128(7))] {
        let topic = MetadataRequestTopic::default().with_name(Some(name(""))).with_topic_id(id);
        let request = MetadataRequest::default().with_topics(Some(vec![topic]));
        let ResponseKind::Metadata(m) = conn.call(ApiKey::Metadata, 12, &request) else { panic!() };
        let t = &m.topics[0];
        note(step, format!("{} {:?} {}", t.error_code, t.name.as_ref().map(|n| n.to_string()), t.partitions.len()));
    }

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

    // KIP-467: a compacted topic refuses keyless records, naming each one.
    note("produce keyless records to a compacted topic", keyless_to_compacted(&mut conn));
    let checks = [timestamp_record_errors(&mut conn), misshapen_batches(&mut conn), consumer_joins(&mut conn)];
    for (step, answer) in checks.into_iter().flatten() {
        note(&step, answer);
    }

    // Produce from v0 as Kafka 4 lists it (KAFKA-18659: older librdkafka compresses only then).
    let versions = kafka_protocol::messages::ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("differential"))
        .with_client_software_version(StrBytes::from_static_str("1"));
    let ResponseKind::ApiVersions(v) = conn.call(ApiKey::ApiVersions, 3, &versions) else { panic!() };
    let listed = v.api_keys.iter().find(|k| k.api_key == ApiKey::Produce as i16).expect("Produce listed");
    note("produce versions listed", format!("{}..{}", listed.min_version, listed.max_version));
    for (name, version) in [("", ""), ("-x", "1"), ("a b", "1"), ("ok", "")] {
        let nameless = kafka_protocol::messages::ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str(name))
            .with_client_software_version(StrBytes::from_static_str(version));
        let ResponseKind::ApiVersions(v) = conn.call(ApiKey::ApiVersions, 3, &nameless) else { panic!() };
        note(&format!("api versions v3 from {name:?} {version:?}"), format!("{} {}", v.error_code, v.api_keys.len()));
    }

    // A client configured for SASL on a listener without it: refused at once.
    let handshake = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN"));
    let ResponseKind::SaslHandshake(h) = conn.call(ApiKey::SaslHandshake, 1, &handshake) else { panic!() };
    note("sasl handshake without SASL", format!("error={} mechanisms={:?}", h.error_code, h.mechanisms));
    let token = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(b"\0u\0p"));
    let ResponseKind::SaslAuthenticate(a) = conn.call(ApiKey::SaslAuthenticate, 2, &token) else { panic!() };
    note("sasl authenticate without SASL", format!("error={} message={:?}", a.error_code, a.error_message));

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

const TXN_ID: &str = "diff-txn";

/// A call repeated while it answers one of Kafka's "try again" codes (COORDINATOR_LOAD_IN_PROGRESS,
/// COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR, CONCURRENT_TRANSACTIONS), as clients repeat it:
/// how long a coordinator takes to load or to finish a transaction is not the point here.
pub(crate) fn settled<T>(what: &str, mut call: impl FnMut() -> (i16, T)) -> (i16, T) {
    common::eventually(std::time::Duration::from_secs(60), what, || {
        let (code, answer) = call();
        (![14, 15, 16, 51].contains(&code)).then_some((code, answer))
    })
}

/// AddPartitionsToTxn v3: each partition's error code, in request order.
fn add_partitions(conn: &mut Conn, id: &str, pid: i64, epoch: i16, partitions: &[(&str, i32)]) -> Vec<i16> {
    let topics = partitions
        .iter()
        .map(|(t, p)| {
            add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                .with_name(name(t))
                .with_partitions(vec![*p])
        })
        .collect();
    let request = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(txn_id(id))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(topics);
    let ResponseKind::AddPartitionsToTxn(r) = conn.call(ApiKey::AddPartitionsToTxn, 3, &request) else { panic!() };
    r.results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| t.results_by_partition.iter().map(|p| p.partition_error_code))
        .collect()
}

fn end_txn(conn: &mut Conn, id: &str, pid: i64, epoch: i16, commit: bool) -> i16 {
    end_txn_at(conn, 3, id, pid, epoch, commit).0
}

/// A transactional batch produced with the transactional id, to partition `partition`.
fn produce_txn(conn: &mut Conn, topic: &str, partition: i32, pid: i64, epoch: i16, sequence: i32) -> i16 {
    produce_txn_at(conn, 9, TXN_ID, (topic, partition), (pid, epoch, sequence))
}

/// The transaction APIs misused, step by step, against one coordinator.
fn transaction_scenario(addr: &str) -> Observations {
    let mut seen = Observations::new();
    let mut note = |step: &str, value: String| {
        seen.insert(step.to_string(), value);
    };
    let mut conn = Conn::open(addr);
    assert_eq!(create(&mut conn, "txd", 2, 1), 0);
    await_leader(&mut conn, "txd");
    let find = FindCoordinatorRequest::default().with_key_type(1).with_key(StrBytes::from_static_str(TXN_ID));
    let (code, _) = settled("the transaction coordinator", || {
        let ResponseKind::FindCoordinator(r) = conn.call(ApiKey::FindCoordinator, 3, &find) else { panic!() };
        (r.error_code, ())
    });
    note("find transaction coordinator", code.to_string());
    note("init, timeout 0", init_txn(&mut conn, TXN_ID, 0).0.to_string());
    note("init, timeout above the maximum", init_txn(&mut conn, TXN_ID, 900_001).0.to_string());
    let (code, (pid, epoch)) = settled("a transactional producer id", || init_txn(&mut conn, TXN_ID, 60_000));
    note("init", format!("error={code} epoch={epoch}"));
    note("end without a transaction", end_txn(&mut conn, TXN_ID, pid, epoch, true).to_string());
    note("add, stale epoch", format!("{:?}", add_partitions(&mut conn, TXN_ID, pid, epoch - 1, &[("txd", 0)])));
    note("add, other producer id", format!("{:?}", add_partitions(&mut conn, TXN_ID, pid + 1, epoch, &[("txd", 0)])));
    note(
        "add, one unknown",
        format!("{:?}", add_partitions(&mut conn, TXN_ID, pid, epoch, &[("txd", 0), ("nowhere", 0)])),
    );
    note("add", format!("{:?}", add_partitions(&mut conn, TXN_ID, pid, epoch, &[("txd", 0)])));
    note("produce in the transaction", produce_txn(&mut conn, "txd", 0, pid, epoch, 0).to_string());
    note("produce to a partition not added", produce_txn(&mut conn, "txd", 1, pid, epoch, 0).to_string());
    note("end, stale epoch", end_txn(&mut conn, TXN_ID, pid, epoch - 1, true).to_string());
    note("commit", end_txn(&mut conn, TXN_ID, pid, epoch, true).to_string());
    let (code, _) = settled("the commit to complete", || (end_txn(&mut conn, TXN_ID, pid, epoch, true), ()));
    note("commit again", code.to_string());
    note("abort after the commit", end_txn(&mut conn, TXN_ID, pid, epoch, false).to_string());
    let describe = DescribeTransactionsRequest::default()
        .with_transactional_ids(vec![TransactionalId(StrBytes::from_static_str("nobody"))]);
    let ResponseKind::DescribeTransactions(d) = conn.call(ApiKey::DescribeTransactions, 0, &describe) else { panic!() };
    note("describe unknown id", d.transaction_states[0].error_code.to_string());
    // A new producer takes the id while a transaction is open: the old one is aborted first.
    assert_eq!(add_partitions(&mut conn, TXN_ID, pid, epoch, &[("txd", 1)]), vec![0]);
    let (first, _) = init_txn(&mut conn, TXN_ID, 60_000);
    note("init over an open transaction, first answer", first.to_string());
    let (code, (_, new_epoch)) = settled("the fenced transaction to abort", || init_txn(&mut conn, TXN_ID, 60_000));
    note("init over an open transaction", format!("error={code} epochs later={}", new_epoch - epoch));
    note("add, fenced producer", format!("{:?}", add_partitions(&mut conn, TXN_ID, pid, epoch, &[("txd", 0)])));
    // ListTransactions v2 (KIP-1152): a pattern the whole transactional id must match.
    for (step, version, pattern) in [
        ("list v1", 1, None),
        ("list v2, no pattern", 2, None),
        ("list v2, empty pattern", 2, Some("")),
        ("list v2, matching pattern", 2, Some("diff-.*")),
        ("list v2, pattern matching part of the id", 2, Some("diff")),
        ("list v2, pattern matching none", 2, Some("x.*")),
        ("list v2, invalid pattern", 2, Some("diff-[")),
    ] {
        let request = ListTransactionsRequest::default()
            .with_transactional_id_pattern(pattern.map(|p| StrBytes::from_string(p.to_string())));
        let ResponseKind::ListTransactions(r) = conn.call(ApiKey::ListTransactions, version, &request) else {
            panic!()
        };
        let ids: Vec<&str> = r.transaction_states.iter().map(|t| t.transactional_id.as_str()).collect();
        note(step, format!("error={} ids={ids:?}", r.error_code));
    }
    seen
}

/// Transactions version 2 (KIP-890 part 2), as Kafka 4 clients use it: partitions added by
/// their leaders on Produce v12, an epoch bump at every EndTxn v5, and the misuses around it.
fn transaction_v2_scenario(addr: &str) -> Observations {
    const ID: &str = "diff-txn-v2";
    let mut seen = Observations::new();
    let mut note = |step: &str, value: String| {
        seen.insert(format!("v2: {step}"), value);
    };
    let mut conn = Conn::open(addr);
    assert_eq!(create(&mut conn, "txd2", 2, 1), 0);
    await_leader(&mut conn, "txd2");
    let (code, (pid, e0)) = settled("a transactional producer id", || init_txn(&mut conn, ID, 60_000));
    assert_eq!(code, 0);
    let produce = |conn: &mut Conn, version: i16, partition: i32, epoch: i16, sequence: i32| {
        let code = produce_txn_at(conn, version, ID, ("txd2", partition), (pid, epoch, sequence));
        // The coordinator's retriable troubles reach producers as NOT_ENOUGH_REPLICAS (and
        // Kafka answers NOT_LEADER_OR_FOLLOWER for a moment after the topic is created).
        if code == 19 || code == 6 {
            settled_produce(conn, version, ID, ("txd2", partition), (pid, epoch, sequence))
        } else {
            code
        }
    };
    let end = |conn: &mut Conn, epoch: i16, commit: bool| {
        let (code, (id, next)) = settled("an EndTxn answer", || {
            let (code, ids) = end_txn_at(conn, 5, ID, pid, epoch, commit);
            (code, ids)
        });
        format!("error={code} same id={} epochs later={}", id == pid, i32::from(next) - i32::from(e0))
    };
    note("produce v12, partition not added", produce(&mut conn, 12, 0, e0, 0).to_string());
    note("produce v11, partition not added", produce(&mut conn, 11, 1, e0, 0).to_string());
    note("produce v12 again", produce(&mut conn, 12, 0, e0, 1).to_string());
    note("commit", end(&mut conn, e0, true));
    note("commit retried", end(&mut conn, e0, true));
    note("abort with the old epoch", end(&mut conn, e0, false));
    note("produce v12 with the old epoch", produce(&mut conn, 12, 1, e0, 2).to_string());
    note("commit with no transaction", end(&mut conn, e0 + 1, true));
    note("abort with no transaction", end(&mut conn, e0 + 1, false));
    note("produce v12 under the new epoch", produce(&mut conn, 12, 1, e0 + 2, 0).to_string());
    // Offsets committed in the transaction: TxnOffsetCommit v6 names topics by id (KIP-1319).
    let group = StrBytes::from_static_str("diff-txn-v2-group");
    let find = FindCoordinatorRequest::default().with_key_type(0).with_key(group.clone());
    settled("the group coordinator", || {
        let ResponseKind::FindCoordinator(r) = conn.call(ApiKey::FindCoordinator, 3, &find) else { panic!() };
        (r.error_code, ())
    });
    let txd2 = crate::share::topic_id(&mut conn, "txd2");
    for (step, version, name, id) in [
        ("txn offset commit v5, by name", 5, "txd2", Uuid::nil()),
        ("txn offset commit v6, by id", 6, "", txd2),
        ("txn offset commit v6, unknown id", 6, "", Uuid::from_u128(7)),
    ] {
        let request = TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(StrBytes::from_static_str(ID)))
            .with_group_id(GroupId(group.clone()))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(e0 + 2)
            .with_topics(vec![
                txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                    .with_name(TopicName(StrBytes::from_static_str(name)))
                    .with_topic_id(id)
                    .with_partitions(vec![
                        txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(1),
                    ]),
            ]);
        let (_, answer) = settled("a transactional offset commit", || {
            let ResponseKind::TxnOffsetCommit(r) = conn.call(ApiKey::TxnOffsetCommit, version, &request) else {
                panic!()
            };
            let t = &r.topics[0];
            let code = t.partitions[0].error_code;
            (code, format!("name={} id_back={} error={code}", t.name.as_str(), t.topic_id == id))
        });
        note(step, answer);
    }
    // A new producer takes the id while this transaction is open: it is aborted, and the
    // old producer's writes and end are fenced.
    let (first, _) = init_txn(&mut conn, ID, 60_000);
    note("init over an open transaction, first answer", first.to_string());
    let (code, (_, e_new)) = settled("the fenced transaction to abort", || init_txn(&mut conn, ID, 60_000));
    note("init over an open transaction", format!("error={code} epochs later={}", e_new - e0));
    note("produce v12, fenced producer", produce(&mut conn, 12, 0, e0 + 2, 1).to_string());
    note("commit, fenced producer", end(&mut conn, e0 + 2, true));
    seen
}

/// A Produce repeated while it answers NOT_ENOUGH_REPLICAS or NOT_LEADER_OR_FOLLOWER (what a
/// client does).
fn settled_produce(conn: &mut Conn, version: i16, id: &str, at: (&str, i32), producer: (i64, i16, i32)) -> i16 {
    common::eventually(std::time::Duration::from_secs(60), "a produce answer", || {
        let code = produce_txn_at(conn, version, id, at, producer);
        (code != 19 && code != 6).then_some(code)
    })
}

/// Kafka and Brook answer the same sequence the same way.
#[test]
fn brook_answers_like_kafka() {
    let kafka = Kafka::start();
    let mut kafka_seen = scenario(&kafka.addr);
    kafka_seen.extend(transaction_scenario(&kafka.addr));
    kafka_seen.extend(transaction_v2_scenario(&kafka.addr));
    drop(kafka);
    let brook = Brook::start(&[]);
    let mut brook_seen = scenario(&brook.addr);
    brook_seen.extend(transaction_scenario(&brook.addr));
    brook_seen.extend(transaction_v2_scenario(&brook.addr));
    assert_same(&kafka_seen, &brook_seen);
}

/// One config as DescribeConfigs v4 answers it.
#[derive(Debug, Clone, PartialEq)]
struct ConfigView {
    value: Option<String>,
    config_type: i8,
    source: i8,
    read_only: bool,
    sensitive: bool,
    /// name@source, in order.
    synonyms: Vec<String>,
    documented: bool,
}

/// DescribeConfigs v4 of a topic (with one override) and of the broker, synonyms and
/// documentation included, by "topic KEY" and "broker KEY".
fn describe_configs(addr: &str, broker_id: &str) -> BTreeMap<String, ConfigView> {
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    let mut conn = Conn::open(addr);
    assert_eq!(create_with_config(&mut conn, "cfg", "retention.ms", "3600000"), 0);
    let request = kafka_protocol::messages::DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_include_documentation(true)
        .with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("cfg")),
            DescribeConfigsResource::default()
                .with_resource_type(4)
                .with_resource_name(StrBytes::from_string(broker_id.to_string())),
        ]);
    let ResponseKind::DescribeConfigs(r) = conn.call(ApiKey::DescribeConfigs, 4, &request) else { panic!() };
    let mut seen = BTreeMap::new();
    for result in r.results {
        assert_eq!(result.error_code, 0, "{:?}", result.error_message);
        let kind = if result.resource_type == 2 { "topic" } else { "broker" };
        for c in result.configs {
            let view = ConfigView {
                value: c.value.as_deref().map(str::to_string),
                config_type: c.config_type,
                source: c.config_source,
                read_only: c.read_only,
                sensitive: c.is_sensitive,
                synonyms: c.synonyms.iter().map(|s| format!("{}@{}", s.name.as_str(), s.source)).collect(),
                documented: c.documentation.as_deref().is_some_and(|d| !d.is_empty()),
            };
            seen.insert(format!("{kind} {}", c.name.as_str()), view);
        }
    }
    seen
}

/// Topic configs Kafka 4.4 has and Brook does not (yet): each with why.
const TOPIC_CONFIGS_NOT_BUILT: &[(&str, &str)] = &[
    ("compression.gzip.level", "per-codec compression levels (KIP-390): Brook compresses at each codec's default"),
    ("compression.lz4.level", "as above"),
    ("compression.zstd.level", "as above"),
    ("errors.deadletterqueue.group.enable", "share groups' dead-letter queues (issue 16)"),
    ("file.delete.delay.ms", "Brook deletes a segment at once, without Kafka's .deleted rename"),
    ("follower.replication.throttled.replicas", "replication quotas (issue 15)"),
    ("leader.replication.throttled.replicas", "replication quotas (issue 15)"),
    ("local.retention.bytes", "tiered storage"),
    ("local.retention.ms", "tiered storage"),
    ("max.compaction.lag.ms", "compaction is triggered by the dirty ratio only"),
    ("max.decompressed.message.bytes", "no decompressed-size ceiling"),
    ("min.compaction.lag.ms", "compaction is triggered by the dirty ratio only"),
    ("preallocate", "segment files grow as written"),
    ("remote.copy.lag.bytes", "tiered storage"),
    ("remote.copy.lag.ms", "tiered storage"),
    ("remote.log.copy.disable", "tiered storage"),
    ("remote.log.delete.on.disable", "tiered storage"),
    ("remote.storage.enable", "tiered storage"),
    ("segment.index.bytes", "offset indexes are sized by their segment"),
    ("segment.jitter.ms", "segments roll at segment.ms exactly"),
];

/// Topic config values at and around Kafka 4.4's validators' bounds: below and at each
/// minimum, the largest INT and one past it, wrong types, list and enum spellings.
const CONFIG_VALUES: &[(&str, &[&str])] = &[
    ("cleanup.policy", &["shred", "", "compact, delete", "COMPACT", "compact,compact"]),
    ("compression.type", &["brotli", "ZSTD", " zstd "]),
    ("delete.retention.ms", &["-1", "0", "abc", "1.5", "9223372036854775808"]),
    ("flush.messages", &["-1", "0", "1"]),
    ("flush.ms", &["-1", "0"]),
    ("index.interval.bytes", &["-1", "0", "2147483648"]),
    ("internal.segment.bytes", &["-1", "13", "x"]),
    ("max.message.bytes", &["-1", "0", "2147483647", "2147483648", " 100 "]),
    ("message.timestamp.after.max.ms", &["-1", "0"]),
    ("message.timestamp.before.max.ms", &["-1", "0"]),
    ("message.timestamp.type", &["CreateTime", "createtime", "NoTime"]),
    ("min.cleanable.dirty.ratio", &["-0.1", "0", "1", "1.1", "x", "NaN"]),
    ("min.insync.replicas", &["0", "1", "2"]),
    ("no.such.config", &["1"]),
    ("retention.bytes", &["-2", "-1", "0"]),
    ("retention.ms", &["-2", "-1", "0"]),
    ("segment.bytes", &["14", "1048575", "1048576", "2147483647", "2147483648"]),
    ("segment.ms", &["0", "1"]),
    ("unclean.leader.election.enable", &["yes", "TRUE", "true"]),
];

/// Where Brook answers otherwise on purpose: each step with why. Each is Brook refusing what
/// Kafka accepts, or refusing with other words.
const VALIDATION_DIFFERENCES: &[(&str, &str)] = &[
    ("config min.cleanable.dirty.ratio=\"NaN\"", "Kafka's range check lets NaN through; Brook refuses it"),
    ("alter broker unknown key", "Kafka stores broker keys it does not know; Brook refuses what it would not apply"),
    ("alter cluster default Kafka-only dynamic key", "as above: Brook has no such setting (thread pools)"),
    ("alter broker logger", "no broker loggers (kafka-configs --entity-type broker-loggers)"),
];

/// "code message" of one answer.
fn answer(code: i16, message: Option<&str>) -> String {
    format!("{code} {message:?}")
}

/// CreateTopics of `topic` with a manual assignment (partition index, replicas) or a count.
fn create_assigned(conn: &mut Conn, topic: &str, assignment: &[(i32, &[i32])], count: i32, rf: i16) -> String {
    use kafka_protocol::messages::create_topics_request::CreatableReplicaAssignment;
    let assignments = assignment
        .iter()
        .map(|(index, replicas)| {
            CreatableReplicaAssignment::default()
                .with_partition_index(*index)
                .with_broker_ids(replicas.iter().copied().map(BrokerId).collect())
        })
        .collect();
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_validate_only(topic != "assigned")
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(name(topic))
                .with_num_partitions(count)
                .with_replication_factor(rf)
                .with_assignments(assignments),
        ]);
    let ResponseKind::CreateTopics(r) = conn.call(ApiKey::CreateTopics, 7, &request) else { panic!() };
    answer(r.topics[0].error_code, r.topics[0].error_message.as_deref())
}

/// CreatePartitions (validate only) of `topic` to `count`, with assignments if given.
fn add_partitions_to(conn: &mut Conn, topic: &str, count: i32, assignment: Option<&[&[i32]]>) -> String {
    use kafka_protocol::messages::CreatePartitionsRequest;
    use kafka_protocol::messages::create_partitions_request::{CreatePartitionsAssignment, CreatePartitionsTopic};
    let assignments = assignment.map(|a| {
        a.iter()
            .map(|r| CreatePartitionsAssignment::default().with_broker_ids(r.iter().copied().map(BrokerId).collect()))
            .collect()
    });
    let request =
        CreatePartitionsRequest::default().with_timeout_ms(10_000).with_validate_only(true).with_topics(vec![
            CreatePartitionsTopic::default().with_name(name(topic)).with_count(count).with_assignments(assignments),
        ]);
    let ResponseKind::CreatePartitions(r) = conn.call(ApiKey::CreatePartitions, 3, &request) else { panic!() };
    answer(r.results[0].error_code, r.results[0].error_message.as_deref())
}

/// IncrementalAlterConfigs (validate only) of one key of one resource.
fn alter_config(conn: &mut Conn, resource: (i8, &str), key: &str, op: i8, value: Option<&str>) -> String {
    alter_config_at(conn, resource, (key, op, value), true)
}

/// IncrementalAlterConfigs of one config, (key, operation, value), validate-only or not.
fn alter_config_at(conn: &mut Conn, resource: (i8, &str), op: (&str, i8, Option<&str>), validate_only: bool) -> String {
    let (code, message) = common::wire::alter_config(conn, resource, op, validate_only);
    answer(code, message.as_deref())
}

/// DescribeConfigs of one resource, (type, name): its error code and message.
fn describe_error(conn: &mut Conn, resource: (i8, &str)) -> String {
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    let request = kafka_protocol::messages::DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(resource.0)
            .with_resource_name(StrBytes::from_string(resource.1.to_string())),
    ]);
    let ResponseKind::DescribeConfigs(r) = conn.call(ApiKey::DescribeConfigs, 4, &request) else { panic!() };
    answer(r.results[0].error_code, r.results[0].error_message.as_deref())
}

/// Dynamic broker configs set for real (the cluster-wide default and this broker's), then
/// what DescribeConfigs says of topics and brokers: value, source and synonyms by step.
fn dynamic_broker_configs(addr: &str) -> Observations {
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    let mut conn = Conn::open(addr);
    let mut seen = Observations::new();
    assert_eq!(create_with_config(&mut conn, "dyn", "retention.ms", "5000"), 0);
    assert_eq!(create(&mut conn, "dyn-plain", 1, 1), 0);
    for (resource, key, value) in [
        ("", "log.retention.ms", "7200000"),
        ("", "log.segment.bytes", "2000000"),
        ("1", "log.retention.ms", "3600000"),
        ("", "log.cleanup.policy", "compact,delete"),
        // A broker config only, not a topic default: the log-dir move throttle.
        ("1", "replica.alter.log.dirs.io.max.bytes.per.second", "fast"),
        ("1", "replica.alter.log.dirs.io.max.bytes.per.second", "-1"),
        ("1", "replica.alter.log.dirs.io.max.bytes.per.second", "0"),
        ("1", "replica.alter.log.dirs.io.max.bytes.per.second", "1000000"),
    ] {
        let answer = alter_config_at(&mut conn, (4, resource), (key, 0, Some(value)), false);
        seen.insert(format!("set [{resource}] {key}"), answer);
    }
    let describe = |conn: &mut Conn, seen: &mut Observations, step: &str, kind: i8, name: &str, keys: &[&str]| {
        let keys = keys.iter().map(|k| StrBytes::from_string(k.to_string())).collect();
        let request = kafka_protocol::messages::DescribeConfigsRequest::default()
            .with_include_synonyms(true)
            .with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(kind)
                    .with_resource_name(StrBytes::from_string(name.to_string()))
                    .with_configuration_keys(Some(keys)),
            ]);
        let ResponseKind::DescribeConfigs(r) = conn.call(ApiKey::DescribeConfigs, 4, &request) else { panic!() };
        let configs = r.results[0].configs.clone();
        for c in configs {
            let synonyms: Vec<String> = c
                .synonyms
                .iter()
                .map(|s| format!("{}={}@{}", s.name.as_str(), s.value.as_deref().unwrap_or("null"), s.source))
                .collect();
            let view =
                format!("{:?} source={} read_only={} {synonyms:?}", c.value.as_deref(), c.config_source, c.read_only);
            seen.insert(format!("{step}: {}", c.name.as_str()), view);
        }
    };
    // The broker applies metadata as it arrives, and Kafka shows a new value a moment after
    // its source: wait until every value shows.
    let with_override = ["retention.ms", "segment.bytes", "cleanup.policy"];
    let broker_keys = ["log.retention.ms", "log.segment.bytes", "log.cleanup.policy"];
    let expected = [
        ("cluster default: log.cleanup.policy", "compact,delete"),
        ("topic with an override: cleanup.policy", "compact,delete"),
        ("topic without: retention.ms", "3600000"),
        ("topic without: segment.bytes", "2000000"),
        ("broker: log.retention.ms", "3600000"),
        ("broker: log.cleanup.policy", "compact,delete"),
    ];
    common::eventually(std::time::Duration::from_secs(10), "the dynamic configs applied", || {
        describe(&mut conn, &mut seen, "cluster default", 4, "", &[]);
        describe(&mut conn, &mut seen, "topic with an override", 2, "dyn", &with_override);
        describe(&mut conn, &mut seen, "topic without", 2, "dyn-plain", &["retention.ms", "segment.bytes"]);
        describe(&mut conn, &mut seen, "broker", 4, "1", &broker_keys);
        let shown =
            |(step, value): &(&str, &str)| seen.get(*step).is_some_and(|v| v.starts_with(&format!("Some({value:?})")));
        expected.iter().all(shown).then_some(())
    });
    // Kafka 4's storage format sets this one cluster-wide; Brook does not (see the README).
    seen.remove("cluster default: min.insync.replicas");
    let answer = alter_config_at(&mut conn, (4, "1"), ("log.retention.ms", 1, None), false);
    seen.insert("delete [1] log.retention.ms".into(), answer);
    common::eventually(std::time::Duration::from_secs(10), "the delete applied", || {
        describe(&mut conn, &mut seen, "after the delete, broker", 4, "1", &["log.retention.ms"]);
        // Kafka's entry shows the new source a moment before the new value.
        seen["after the delete, broker: log.retention.ms"].starts_with("Some(\"7200000\") source=3").then_some(())
    });
    seen
}

/// A CreateTopics step: name, manual assignment (partition, replicas), count, replication factor.
type CreateStep = (&'static str, &'static [(i32, &'static [i32])], i32, i16);
/// A CreatePartitions step: name, topic, new count, assignments of the new partitions.
type AddStep = (&'static str, &'static str, i32, Option<&'static [&'static [i32]]>);
/// An IncrementalAlterConfigs step: name, (resource type, name), key, operation, value.
type AlterStep = (&'static str, (i8, &'static str), &'static str, i8, Option<&'static str>);

/// What a broker answers to configs, assignments and partition counts at and past Kafka's
/// limits, by step.
fn validation(addr: &str) -> Observations {
    let mut seen = Observations::new();
    let mut conn = Conn::open(addr);
    for (key, values) in CONFIG_VALUES {
        for value in *values {
            seen.insert(format!("config {key}={value:?}"), create_with_config_at(&mut conn, "v", key, value, true).1);
        }
    }
    let assignments: &[CreateStep] = &[
        ("unknown broker", &[(0, &[5])], -1, -1),
        ("a broker twice", &[(0, &[1, 1])], -1, -1),
        ("no replicas", &[(0, &[])], -1, -1),
        ("a gap", &[(1, &[1])], -1, -1),
        ("a partition twice", &[(0, &[1]), (0, &[1])], -1, -1),
        ("and a count", &[(0, &[1])], 1, -1),
        ("and a replication factor", &[(0, &[1])], -1, 1),
        ("a later partition unknown", &[(0, &[1]), (1, &[5, 1])], -1, -1),
        ("10000 partitions", &[], 10_000, 1),
        ("10001 partitions", &[], 10_001, 1),
        ("valid", &[(0, &[1])], -1, -1),
    ];
    for (step, assignment, count, rf) in assignments {
        let topic = if *step == "valid" { "assigned" } else { "v" };
        seen.insert(format!("create with {step}"), create_assigned(&mut conn, topic, assignment, *count, *rf));
    }
    await_leader(&mut conn, "assigned");
    let additions: &[AddStep] = &[
        ("as many", "assigned", 1, None),
        ("fewer", "assigned", 0, None),
        ("an unknown broker", "assigned", 3, Some(&[&[5], &[1]])),
        ("too few assignments", "assigned", 3, Some(&[&[1]])),
        ("a broker twice", "assigned", 2, Some(&[&[1, 1]])),
        ("no replicas", "assigned", 2, Some(&[&[]])),
        ("10000 more", "assigned", 10_001, None),
        ("10001 more", "assigned", 10_002, None),
        ("an unknown topic", "nope", 2, None),
    ];
    for (step, topic, count, assignment) in additions {
        seen.insert(format!("add partitions, {step}"), add_partitions_to(&mut conn, topic, *count, *assignment));
    }
    const SET: i8 = 0;
    const DELETE: i8 = 1;
    const APPEND: i8 = 2;
    const SUBTRACT: i8 = 3;
    let topic = (2, "assigned");
    let broker = (4, "1");
    let alters: &[AlterStep] = &[
        ("alter topic below a minimum", topic, "segment.bytes", SET, Some("100")),
        ("alter topic unknown key", topic, "no.such", SET, Some("1")),
        ("alter topic delete unknown key", topic, "no.such", DELETE, None),
        ("alter topic append a bad entry", topic, "cleanup.policy", APPEND, Some("shred")),
        ("alter topic append", topic, "cleanup.policy", APPEND, Some("compact")),
        ("alter topic subtract from a non-list", topic, "retention.ms", SUBTRACT, Some("1")),
        ("alter topic append to a non-list", topic, "retention.ms", APPEND, Some("1")),
        ("alter topic set null", topic, "retention.ms", SET, None),
        ("alter unknown topic", (2, "nope"), "retention.ms", SET, Some("1")),
        ("alter broker dynamic key", broker, "log.retention.ms", SET, Some("1000")),
        ("alter broker read-only key", broker, "node.id", SET, Some("5")),
        ("alter broker unknown key", broker, "no.such", SET, Some("5")),
        ("alter broker bad value", broker, "log.retention.ms", SET, Some("x")),
        ("alter broker delete", broker, "log.retention.ms", DELETE, None),
        ("alter cluster default dynamic key", (4, ""), "log.retention.ms", SET, Some("7200000")),
        ("alter cluster default below a minimum", (4, ""), "log.segment.bytes", SET, Some("100")),
        ("alter cluster default not a number", (4, ""), "log.retention.bytes", SET, Some("x")),
        ("alter cluster default bad enum", (4, ""), "compression.type", SET, Some("zip")),
        ("alter cluster default append to a list", (4, ""), "log.cleanup.policy", APPEND, Some("compact")),
        ("alter cluster default append a bad entry", (4, ""), "log.cleanup.policy", APPEND, Some("shred")),
        ("alter cluster default static key", (4, ""), "log.retention.hours", SET, Some("5")),
        ("alter cluster default Kafka-only dynamic key", (4, ""), "num.io.threads", SET, Some("4")),
        ("alter another broker", (4, "7"), "log.retention.ms", SET, Some("1000")),
        ("alter a broker id that is not a number", (4, "one"), "log.retention.ms", SET, Some("1000")),
        ("alter broker logger", (8, "1"), "kafka", SET, Some("DEBUG")),
    ];
    for (step, resource, key, op, value) in alters {
        seen.insert(step.to_string(), alter_config(&mut conn, *resource, key, *op, *value));
    }
    let long = "x".repeat(250);
    for (step, resource) in [
        ("an unknown topic", (2, "nope")),
        ("a bad topic name", (2, "bad name!")),
        ("an empty topic name", (2, "")),
        ("topic ..", (2, "..")),
        ("a 250-character topic name", (2, long.as_str())),
        ("another broker", (4, "7")),
        ("a broker id that is not a number", (4, "one")),
    ] {
        seen.insert(format!("describe configs of {step}"), describe_error(&mut conn, resource));
    }
    seen
}

/// Every validation step answered alike, but the deliberate differences, which must still be
/// refusals.
fn compare_validation(kafka: &Observations, brook: &Observations) {
    let mut differences = Vec::new();
    for (step, theirs) in kafka {
        let mine = brook.get(step).map_or("-", String::as_str);
        if VALIDATION_DIFFERENCES.iter().any(|(s, _)| s == step) {
            if mine.starts_with("0 ") {
                differences.push(format!("{step}: Brook accepts it, a refusal was expected"));
            }
        } else if mine != theirs {
            differences.push(format!("{step}:\n    Kafka {theirs}\n    Brook {mine}"));
        }
    }
    assert!(differences.is_empty(), "Brook validates otherwise than Kafka:\n  {}", differences.join("\n  "));
}

/// Validation answers as Kafka 4.4's (see `validation`), and DescribeConfigs too: for each topic config both have, the same default,
/// type, source, flags, synonyms and documentation presence; for the broker configs Brook
/// lists, the same type and documentation presence and the same value where it does not
/// depend on the machine. Differences on purpose are listed with their reasons.
#[test]
fn configs_and_validation_answer_like_kafka() {
    let kafka = Kafka::start();
    let k = describe_configs(&kafka.addr, "1");
    let mut kafka_validation = validation(&kafka.addr);
    kafka_validation.extend(dynamic_broker_configs(&kafka.addr));
    drop(kafka);
    let brook = Brook::start(&[]);
    let b = describe_configs(&brook.addr, "1");
    let mut brook_validation = validation(&brook.addr);
    brook_validation.extend(dynamic_broker_configs(&brook.addr));
    compare_validation(&kafka_validation, &brook_validation);
    let mut differences = Vec::new();
    for (key, mine) in &b {
        let Some(theirs) = k.get(key) else {
            // Brook's own keys.
            if key != "broker log.flush.on.ack" {
                differences.push(format!("{key}: Brook only"));
            }
            continue;
        };
        let same = if key.starts_with("topic ") {
            match key.as_str() {
                // Kafka 4 formats its storage with a cluster-wide dynamic min.insync.replicas
                // (source 3); Brook has no dynamic broker configs yet.
                "topic min.insync.replicas" => mine.value == theirs.value && mine.config_type == theirs.config_type,
                _ => mine == theirs,
            }
        } else {
            // The sources and synonyms depend on which keys each test harness sets.
            let machine_specific = ["broker advertised.listeners", "broker log.dirs"].contains(&key.as_str());
            mine.config_type == theirs.config_type
                && mine.documented == theirs.documented
                && mine.read_only == theirs.read_only
                && (machine_specific || mine.value == theirs.value)
        };
        if !same {
            differences.push(format!("{key}:\n    Kafka {theirs:?}\n    Brook {mine:?}"));
        }
    }
    let missing: Vec<&str> = k
        .keys()
        .filter_map(|key| key.strip_prefix("topic "))
        .filter(|key| !b.contains_key(&format!("topic {key}")))
        .collect();
    let expected: Vec<&str> = TOPIC_CONFIGS_NOT_BUILT.iter().map(|(key, _)| *key).collect();
    assert_eq!(missing, expected, "Kafka's topic configs Brook lacks changed");
    assert!(differences.is_empty(), "DescribeConfigs differs from Kafka's:\n  {}", differences.join("\n  "));
}

/// The SASL exchange and SCRAM credential management on a SASL_PLAINTEXT listener with PLAIN
/// (users from the JAAS line) and SCRAM-SHA-256: step -> what the broker answered.
fn sasl_scenario(plain: &str, sasl: &str) -> BTreeMap<String, String> {
    use brook_security::scram::{ScramClient, ScramMechanism};
    use kafka_protocol::messages::alter_user_scram_credentials_request::{
        ScramCredentialDeletion, ScramCredentialUpsertion,
    };
    use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
    use kafka_protocol::messages::{AlterUserScramCredentialsRequest, DescribeUserScramCredentialsRequest};

    let mut seen = BTreeMap::new();
    let handshake = |conn: &mut Conn, mechanism: &'static str| -> String {
        let request = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism));
        match conn.try_call(ApiKey::SaslHandshake, 1, &request) {
            Some(ResponseKind::SaslHandshake(r)) => {
                let mut offered: Vec<String> = r.mechanisms.iter().map(|m| m.to_string()).collect();
                offered.sort();
                format!("{} {offered:?}", r.error_code)
            }
            Some(other) => format!("{other:?}"),
            None => "closed".into(),
        }
    };
    let authenticate = |conn: &mut Conn, token: Vec<u8>| -> (String, Vec<u8>) {
        let request = SaslAuthenticateRequest::default().with_auth_bytes(token.into());
        match conn.try_call(ApiKey::SaslAuthenticate, 2, &request) {
            Some(ResponseKind::SaslAuthenticate(r)) => (
                format!(
                    "{} {:?} lifetime {}",
                    r.error_code,
                    r.error_message.map(|m| m.to_string()),
                    r.session_lifetime_ms
                ),
                r.auth_bytes.to_vec(),
            ),
            Some(other) => (format!("{other:?}"), vec![]),
            None => ("closed".into(), vec![]),
        }
    };
    let mut conn = Conn::open(sasl);
    seen.insert("handshake for a mechanism not enabled".into(), handshake(&mut conn, "SCRAM-SHA-512"));
    let mut conn = Conn::open(sasl);
    let answered = conn.try_call(ApiKey::Metadata, 12, &MetadataRequest::default()).is_some();
    seen.insert("metadata before authenticating".into(), if answered { "answered" } else { "closed" }.into());
    let mut conn = Conn::open(sasl);
    seen.insert("PLAIN handshake".into(), handshake(&mut conn, "PLAIN"));
    seen.insert("PLAIN wrong password".into(), authenticate(&mut conn, b"\0alice\0wrong".to_vec()).0);
    let mut conn = Conn::open(sasl);
    handshake(&mut conn, "PLAIN");
    seen.insert("PLAIN unknown user".into(), authenticate(&mut conn, b"\0mallory\0x".to_vec()).0);
    let mut conn = Conn::open(sasl);
    handshake(&mut conn, "PLAIN");
    seen.insert("PLAIN right password".into(), authenticate(&mut conn, b"\0alice\0alice-secret".to_vec()).0);
    let answered = conn.try_call(ApiKey::Metadata, 12, &MetadataRequest::default()).is_some();
    seen.insert("metadata after authenticating".into(), if answered { "answered" } else { "closed" }.into());

    // SCRAM users, managed on the plaintext listener.
    let mut admin = Conn::open(plain);
    let m = ScramMechanism::Sha256;
    let upsert = |name: &str, mechanism: i8, iterations: i32| {
        let salt = vec![3u8; 16];
        ScramCredentialUpsertion::default()
            .with_name(StrBytes::from_string(name.to_string()))
            .with_mechanism(mechanism)
            .with_iterations(iterations)
            .with_salted_password(m.salted_password("bob-secret", &salt, iterations.unsigned_abs()).into())
            .with_salt(salt.into())
    };
    let request = AlterUserScramCredentialsRequest::default()
        .with_upsertions(vec![
            upsert("bob", 1, 4096),
            upsert("few", 1, 100),
            upsert("many", 1, 100_000),
            upsert("odd", 7, 4096),
            upsert("", 1, 4096),
            upsert("twice", 1, 4096),
            upsert("twice", 2, 4096),
        ])
        .with_deletions(vec![
            ScramCredentialDeletion::default().with_name(StrBytes::from_static_str("ghost")).with_mechanism(1),
        ]);
    if let ResponseKind::AlterUserScramCredentials(r) = admin.call(ApiKey::AlterUserScramCredentials, 0, &request) {
        for result in r.results {
            let message = result.error_message.map(|m| m.to_string());
            seen.insert(
                format!("alter SCRAM {:?}", result.user.to_string()),
                format!("{} {message:?}", result.error_code),
            );
        }
    }
    let users = Some(vec![
        UserName::default().with_name(StrBytes::from_static_str("bob")),
        UserName::default().with_name(StrBytes::from_static_str("nobody")),
    ]);
    let request = DescribeUserScramCredentialsRequest::default().with_users(users);
    // Kafka answers AlterUserScramCredentials once the controller committed it; the broker that
    // describes may learn of it a little later: ask until bob is known (or 10 s have passed).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let described = loop {
        let ResponseKind::DescribeUserScramCredentials(r) =
            admin.call(ApiKey::DescribeUserScramCredentials, 0, &request)
        else {
            panic!("a DescribeUserScramCredentials response")
        };
        let bob_known = r.results.iter().any(|u| u.user.as_str() == "bob" && u.error_code == 0);
        if bob_known || std::time::Instant::now() >= deadline {
            break r;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    for result in described.results {
        let infos: Vec<(i8, i32)> = result.credential_infos.iter().map(|c| (c.mechanism, c.iterations)).collect();
        let message = result.error_message.map(|m| m.to_string());
        seen.insert(format!("describe SCRAM {}", result.user), format!("{} {message:?} {infos:?}", result.error_code));
    }
    let mut conn = Conn::open(sasl);
    handshake(&mut conn, "SCRAM-SHA-256");
    let client = ScramClient::new(m, "nobody", "x");
    seen.insert("SCRAM unknown user".into(), authenticate(&mut conn, client.first()).0);
    for (step, password) in [("SCRAM right password", "bob-secret"), ("SCRAM wrong password", "wrong")] {
        // The credential reaches the listener's broker through the metadata: wait for it.
        let mut outcome = String::new();
        for _ in 0..100 {
            let mut conn = Conn::open(sasl);
            handshake(&mut conn, "SCRAM-SHA-256");
            let mut client = ScramClient::new(m, "bob", password);
            let (first, server_first) = authenticate(&mut conn, client.first());
            outcome = match client.final_message(&server_first) {
                Ok(last) => authenticate(&mut conn, last).0,
                Err(_) => format!("first message refused: {first}"),
            };
            if !(password == "bob-secret" && outcome.starts_with("first message refused")) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        seen.insert(step.into(), outcome);
    }
    seen
}

/// SASL and SCRAM user management answer as Kafka 4.4's do, message for message.
#[test]
fn sasl_answers_like_kafka() {
    let jaas = "org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"alice-secret\";";
    let lines = [
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256".to_string(),
        format!("listener.name.sasl_plaintext.plain.sasl.jaas.config={jaas}"),
        "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;".to_string(),
    ];
    let port = common::free_port();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let kafka = Kafka::start_with(&[("SASL_PLAINTEXT", port, "SASL_PLAINTEXT")], &refs);
    let kafka_seen = sasl_scenario(&kafka.addr, &format!("127.0.0.1:{port}"));
    drop(kafka);
    let port = common::free_port();
    let mut overrides = vec![format!("listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:{port}")];
    overrides.extend(lines.iter().take(2).cloned());
    let refs: Vec<&str> = overrides.iter().map(String::as_str).collect();
    let brook = Brook::start(&refs);
    let brook_seen = sasl_scenario(&brook.addr, &format!("127.0.0.1:{port}"));
    assert!(kafka_seen.len() >= 15, "{kafka_seen:?}");
    assert_same(&kafka_seen, &brook_seen);
}

/// Fails naming every step where Brook answered otherwise than Kafka.
pub(crate) fn assert_same(kafka_seen: &Observations, brook_seen: &Observations) {
    let differences: Vec<String> = kafka_seen
        .iter()
        .filter(|(step, kafka)| brook_seen.get(*step) != Some(kafka))
        .map(|(step, kafka)| {
            format!("{step}: Kafka {kafka}, Brook {}", brook_seen.get(step).map_or("-", String::as_str))
        })
        .collect();
    assert!(differences.is_empty(), "Brook differs from Kafka:\n  {}", differences.join("\n  "));
}

/// ACLs and client quotas answered as Kafka 4.4 answers them, with the StandardAuthorizer and
/// the PLAINTEXT listener's User:ANONYMOUS as a super user: valid and invalid ACLs, filters,
/// deletion, and quota changes and filters with their errors, codes and messages alike.
#[test]
fn acls_and_quotas_answer_like_kafka() {
    let lines =
        ["authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer", "super.users=User:ANONYMOUS"];
    let kafka = Kafka::start_with(&[], &lines);
    let kafka_seen = acl_and_quota_scenario(&kafka.addr);
    drop(kafka);
    let brook = Brook::start(&lines);
    let brook_seen = acl_and_quota_scenario(&brook.addr);
    assert!(kafka_seen.len() >= 25, "{kafka_seen:?}");
    assert_same(&kafka_seen, &brook_seen);
}

fn acl_and_quota_scenario(addr: &str) -> Observations {
    use kafka_protocol::messages::create_acls_request::AclCreation;
    use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
    use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
    use kafka_protocol::messages::{
        AlterClientQuotasRequest, CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest,
        DescribeClientQuotasRequest, alter_client_quotas_request as alter,
    };
    let mut conn = Conn::open(addr);
    let mut seen = Observations::new();
    let s = |t: &str| StrBytes::from_string(t.to_string());
    let message = |m: &Option<StrBytes>| m.as_ref().map_or("null".to_string(), |m| m.to_string());
    let acl = |kind: i8, name: &str, pattern: i8, principal: &str, op: i8, permission: i8| {
        AclCreation::default()
            .with_resource_type(kind)
            .with_resource_name(s(name))
            .with_resource_pattern_type(pattern)
            .with_principal(s(principal))
            .with_host(s("*"))
            .with_operation(op)
            .with_permission_type(permission)
    };
    let creations = [
        ("create topic literal", acl(2, "orders", 3, "User:alice", 3, 3)),
        ("create group prefixed deny", acl(3, "app-", 4, "User:*", 7, 2)),
        ("create cluster", acl(4, "kafka-cluster", 3, "User:bob", 8, 3)),
        ("create again", acl(2, "orders", 3, "User:alice", 3, 3)),
        ("create type any", acl(1, "orders", 3, "User:alice", 3, 3)),
        ("create type unknown", acl(0, "orders", 3, "User:alice", 3, 3)),
        ("create pattern match", acl(2, "orders", 2, "User:alice", 3, 3)),
        ("create pattern any", acl(2, "orders", 1, "User:alice", 3, 3)),
        ("create operation any", acl(2, "orders", 3, "User:alice", 1, 3)),
        ("create permission any", acl(2, "orders", 3, "User:alice", 3, 1)),
        ("create other cluster name", acl(4, "other", 3, "User:alice", 8, 3)),
        ("create empty name", acl(2, "", 3, "User:alice", 3, 3)),
    ];
    for (step, creation) in creations {
        let request = CreateAclsRequest::default().with_creations(vec![creation]);
        // Kafka closes the connection on some entries it cannot parse.
        let answer = match conn.try_call(ApiKey::CreateAcls, 3, &request) {
            Some(ResponseKind::CreateAcls(r)) => {
                let results: Vec<String> =
                    r.results.iter().map(|r| format!("{} {}", r.error_code, message(&r.error_message))).collect();
                results.join("; ")
            }
            Some(other) => format!("{other:?}"),
            None => {
                conn = Conn::open(addr);
                "closed".to_string()
            }
        };
        seen.insert(format!("acl {step}"), answer);
    }
    let describe = |conn: &mut Conn, kind: i8, name: Option<&str>, pattern: i8, principal: Option<&str>| {
        let request = DescribeAclsRequest::default()
            .with_resource_type_filter(kind)
            .with_resource_name_filter(name.map(s))
            .with_pattern_type_filter(pattern)
            .with_principal_filter(principal.map(s))
            .with_host_filter(None)
            .with_operation(1)
            .with_permission_type(1);
        let Some(ResponseKind::DescribeAcls(r)) = conn.try_call(ApiKey::DescribeAcls, 3, &request) else {
            *conn = Conn::open(addr);
            return "closed".to_string();
        };
        let mut found: Vec<String> = r
            .resources
            .iter()
            .flat_map(|res| {
                res.acls.iter().map(move |a| {
                    format!(
                        "{}/{}/{} {} {} {} {}",
                        res.resource_type,
                        res.resource_name,
                        res.pattern_type,
                        a.principal,
                        a.host,
                        a.operation,
                        a.permission_type
                    )
                })
            })
            .collect();
        found.sort();
        format!("{} {} {found:?}", r.error_code, message(&r.error_message))
    };
    // A Kafka broker answers a change once the controller committed it and applies it to its
    // authorizer and quota cache a moment later: await the last one taken.
    common::eventually(std::time::Duration::from_secs(10), "the ACLs applied", || {
        describe(&mut conn, 1, None, 1, None).contains("4/kafka-cluster/3 User:bob * 8 3").then_some(())
    });
    seen.insert("acl describe all".into(), describe(&mut conn, 1, None, 1, None));
    seen.insert("acl describe match app-x".into(), describe(&mut conn, 3, Some("app-x"), 2, None));
    seen.insert("acl describe literal app-".into(), describe(&mut conn, 3, Some("app-"), 3, None));
    seen.insert("acl describe by principal".into(), describe(&mut conn, 1, None, 1, Some("User:alice")));
    seen.insert("acl describe unknown type".into(), describe(&mut conn, 0, None, 1, None));
    seen.insert("acl describe unknown pattern".into(), describe(&mut conn, 1, None, 0, None));
    let delete = |conn: &mut Conn, kind: i8, name: Option<&str>, pattern: i8| {
        let filter = DeleteAclsFilter::default()
            .with_resource_type_filter(kind)
            .with_resource_name_filter(name.map(s))
            .with_pattern_type_filter(pattern)
            .with_operation(1)
            .with_permission_type(1);
        let request = DeleteAclsRequest::default().with_filters(vec![filter]);
        let Some(ResponseKind::DeleteAcls(r)) = conn.try_call(ApiKey::DeleteAcls, 3, &request) else {
            *conn = Conn::open(addr);
            return "closed".to_string();
        };
        let results: Vec<String> = r
            .filter_results
            .iter()
            .map(|f| {
                let mut matching: Vec<String> = f
                    .matching_acls
                    .iter()
                    .map(|m| format!("{} {}/{}", m.error_code, m.resource_type, m.resource_name))
                    .collect();
                matching.sort();
                format!("{} {} {matching:?}", f.error_code, message(&f.error_message))
            })
            .collect();
        results.join("; ")
    };
    seen.insert("acl delete nothing".into(), delete(&mut conn, 2, Some("absent"), 3));
    seen.insert("acl delete match".into(), delete(&mut conn, 3, Some("app-x"), 2));
    seen.insert("acl delete unknown pattern".into(), delete(&mut conn, 1, None, 0));
    seen.insert("acl describe after delete".into(), describe(&mut conn, 1, None, 1, None));

    let entity = |parts: &[(&str, Option<&str>)]| {
        parts
            .iter()
            .map(|(t, n)| alter::EntityData::default().with_entity_type(s(t)).with_entity_name(n.map(s)))
            .collect()
    };
    let set = |key: &str, value: f64| alter::OpData::default().with_key(s(key)).with_value(value);
    let quota_changes: Vec<(&str, Vec<alter::EntityData>, Vec<alter::OpData>, bool)> = vec![
        ("quota user", entity(&[("user", Some("alice"))]), vec![set("producer_byte_rate", 1024.0)], false),
        ("quota default client", entity(&[("client-id", None)]), vec![set("consumer_byte_rate", 2048.0)], false),
        (
            "quota user and client",
            entity(&[("user", Some("alice")), ("client-id", Some("etl"))]),
            vec![set("producer_byte_rate", 4096.0)],
            false,
        ),
        ("quota validate only", entity(&[("user", Some("carol"))]), vec![set("producer_byte_rate", 10.0)], true),
        ("quota unknown key", entity(&[("user", Some("alice"))]), vec![set("bogus", 1.0)], false),
        ("quota fractional rate", entity(&[("user", Some("alice"))]), vec![set("producer_byte_rate", 1.5)], false),
        ("quota unknown entity type", entity(&[("group", Some("g"))]), vec![set("producer_byte_rate", 1.0)], false),
        ("quota empty entity", entity(&[]), vec![set("producer_byte_rate", 1.0)], false),
        (
            "quota duplicate entity type",
            entity(&[("user", Some("a")), ("user", Some("b"))]),
            vec![set("producer_byte_rate", 1.0)],
            false,
        ),
        ("quota zero rate", entity(&[("user", Some("erin"))]), vec![set("producer_byte_rate", 0.0)], false),
        ("quota request percentage", entity(&[("user", Some("alice"))]), vec![set("request_percentage", 12.5)], false),
        (
            "quota zero request percentage",
            entity(&[("user", Some("erin"))]),
            vec![set("request_percentage", 0.0)],
            false,
        ),
        (
            "quota negative request percentage",
            entity(&[("user", Some("erin"))]),
            vec![set("request_percentage", -1.0)],
            false,
        ),
        ("quota negative rate", entity(&[("user", Some("erin"))]), vec![set("producer_byte_rate", -5.0)], false),
        (
            "quota remove absent",
            entity(&[("user", Some("dave"))]),
            vec![alter::OpData::default().with_key(s("producer_byte_rate")).with_remove(true)],
            false,
        ),
    ];
    for (step, parts, ops, validate_only) in quota_changes {
        let request = AlterClientQuotasRequest::default()
            .with_entries(vec![alter::EntryData::default().with_entity(parts).with_ops(ops)])
            .with_validate_only(validate_only);
        let ResponseKind::AlterClientQuotas(r) = conn.call(ApiKey::AlterClientQuotas, 1, &request) else {
            panic!("{step}")
        };
        let results: Vec<String> =
            r.entries.iter().map(|e| format!("{} {}", e.error_code, message(&e.error_message))).collect();
        seen.insert(step.to_string(), results.join("; "));
    }
    let describe_quotas = |conn: &mut Conn, components: Vec<(&str, i8, Option<&str>)>, strict: bool| {
        let components = components
            .into_iter()
            .map(|(t, m, name)| {
                ComponentData::default().with_entity_type(s(t)).with_match_type(m).with_match(name.map(s))
            })
            .collect();
        let request = DescribeClientQuotasRequest::default().with_components(components).with_strict(strict);
        let ResponseKind::DescribeClientQuotas(r) = conn.call(ApiKey::DescribeClientQuotas, 1, &request) else {
            panic!()
        };
        let mut entries: Vec<String> = r
            .entries
            .iter()
            .flatten()
            .map(|e| {
                let mut parts: Vec<String> = e
                    .entity
                    .iter()
                    .map(|p| {
                        format!("{}={}", p.entity_type, p.entity_name.as_ref().map_or("<default>", |n| n.as_str()))
                    })
                    .collect();
                parts.sort();
                let values: Vec<String> = e.values.iter().map(|v| format!("{}={}", v.key, v.value)).collect();
                format!("{parts:?} {values:?}")
            })
            .collect();
        entries.sort();
        format!("{} {} {entries:?}", r.error_code, message(&r.error_message))
    };
    common::eventually(std::time::Duration::from_secs(10), "the quotas applied", || {
        describe_quotas(&mut conn, vec![], false).contains("request_percentage=12.5").then_some(())
    });
    seen.insert("quotas all".into(), describe_quotas(&mut conn, vec![], false));
    seen.insert("quotas user alice".into(), describe_quotas(&mut conn, vec![("user", 0, Some("alice"))], false));
    seen.insert("quotas user alice strict".into(), describe_quotas(&mut conn, vec![("user", 0, Some("alice"))], true));
    seen.insert("quotas default client".into(), describe_quotas(&mut conn, vec![("client-id", 1, None)], true));
    seen.insert("quotas any user".into(), describe_quotas(&mut conn, vec![("user", 2, None)], false));
    seen.insert("quotas unknown type".into(), describe_quotas(&mut conn, vec![("group", 2, None)], false));
    seen.insert(
        "quotas repeated type".into(),
        describe_quotas(&mut conn, vec![("user", 2, None), ("user", 1, None)], false),
    );
    seen
}

/// DescribeTopicPartitions (KIP-966, what Kafka 4's `kafka-topics --describe` sends) answered as
/// Kafka 4.4 answers it: name order, pages of `response_partition_limit` partitions with a
/// cursor, unknown and invalid names, a cursor outside the topics asked for, limits of 0 and -1.
#[test]
fn topic_partitions_are_paged_like_kafka() {
    same_as_kafka(topic_partitions_scenario, 8);
}

/// Runs `scenario` against a default Kafka node, then a default Brook, and compares: Kafka
/// must have answered at least `steps` steps.
pub(crate) fn same_as_kafka(scenario: fn(&str) -> Observations, steps: usize) {
    let kafka = Kafka::start();
    let kafka_seen = scenario(&kafka.addr);
    drop(kafka);
    let brook = Brook::start(&[]);
    let brook_seen = scenario(&brook.addr);
    assert!(kafka_seen.len() >= steps, "{kafka_seen:?}");
    assert_same(&kafka_seen, &brook_seen);
}

fn topic_partitions_scenario(addr: &str) -> Observations {
    use kafka_protocol::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
    use kafka_protocol::messages::{DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse};
    let mut conn = Conn::open(addr);
    for (topic, partitions) in [("dtp-b", 5), ("dtp-a", 3), ("dtp-c", 1)] {
        assert_eq!(create(&mut conn, topic, partitions, 1), 0, "{topic}");
        await_leader(&mut conn, topic);
    }
    let request = |topics: &[&str], limit: i32, cursor: Option<(&str, i32)>| {
        DescribeTopicPartitionsRequest::default()
            .with_topics(topics.iter().map(|t| TopicRequest::default().with_name(name(t))).collect())
            .with_response_partition_limit(limit)
            .with_cursor(cursor.map(|(t, p)| Cursor::default().with_topic_name(name(t)).with_partition_index(p)))
    };
    // Everything but the topic ids and broker ids, which differ between the two brokers.
    let shown = |r: &DescribeTopicPartitionsResponse| {
        let topics: Vec<String> = r
            .topics
            .iter()
            .map(|t| {
                let partitions: Vec<String> = t
                    .partitions
                    .iter()
                    .map(|p| {
                        format!(
                            "{}:{} leader={} epoch={} replicas={} isr={} elr={:?} last_elr={:?} offline={}",
                            p.partition_index,
                            p.error_code,
                            p.replica_nodes.first() == Some(&p.leader_id),
                            p.leader_epoch,
                            p.replica_nodes.len(),
                            p.isr_nodes.len(),
                            p.eligible_leader_replicas.as_ref().map(Vec::len),
                            p.last_known_elr.as_ref().map(Vec::len),
                            p.offline_replicas.len()
                        )
                    })
                    .collect();
                format!(
                    "{:?} error={} id={} internal={} ops={} [{}]",
                    t.name.as_ref().map(|n| n.0.to_string()),
                    t.error_code,
                    if t.topic_id.is_nil() { "none" } else { "set" },
                    t.is_internal,
                    t.topic_authorized_operations,
                    partitions.join(", ")
                )
            })
            .collect();
        let cursor = r.next_cursor.as_ref().map(|c| format!("{}@{}", c.topic_name.0, c.partition_index));
        format!("{} next={cursor:?}", topics.join(" | "))
    };
    let mut call = |request: DescribeTopicPartitionsRequest| {
        let ResponseKind::DescribeTopicPartitions(r) = conn.call(ApiKey::DescribeTopicPartitions, 0, &request) else {
            panic!("not DescribeTopicPartitions")
        };
        r
    };
    let mut seen = Observations::new();
    let named = ["dtp-c", "dtp-b", "nope", "dtp-a", "bad name!", "dtp-b"];
    let mut cursor: Option<(String, i32)> = None;
    for page in 0..6 {
        let r = call(request(&named, 4, cursor.as_ref().map(|(t, p)| (t.as_str(), *p))));
        seen.insert(format!("named page {page}"), shown(&r));
        let Some(next) = r.next_cursor else { break };
        cursor = Some((next.topic_name.0.to_string(), next.partition_index));
    }
    seen.insert("all, limit 2".into(), shown(&call(request(&[], 2, None))));
    seen.insert("all from dtp-b@3".into(), shown(&call(request(&[], 3, Some(("dtp-b", 3))))));
    seen.insert("all from a missing topic".into(), shown(&call(request(&[], 10, Some(("dtp-bb", 0))))));
    seen.insert("cursor outside the list".into(), shown(&call(request(&["dtp-a", "dtp-b"], 10, Some(("dtp-c", 0))))));
    seen.insert("cursor past the end".into(), shown(&call(request(&["dtp-c"], 10, Some(("dtp-c", 7))))));
    seen.insert("negative cursor".into(), shown(&call(request(&["dtp-a"], 10, Some(("dtp-a", -2))))));
    seen.insert("limit 0".into(), shown(&call(request(&["dtp-a", "nope"], 0, None))));
    seen.insert("limit -1".into(), shown(&call(request(&["dtp-a", "nope"], -1, None))));
    seen.insert("limit above 2000".into(), shown(&call(request(&["dtp-a"], 5000, None))));
    seen
}

/// ListConfigResources (KIP-1142; v0 is KIP-714's ListClientMetricsResources) answered as Kafka
/// 4.4 answers it: every type, a filter (repeated, reordered), unknown types, and v0.
#[test]
fn config_resources_are_listed_like_kafka() {
    same_as_kafka(config_resources_scenario, 8);
}

fn config_resources_scenario(addr: &str) -> Observations {
    use kafka_protocol::messages::ListConfigResourcesRequest;
    let mut conn = Conn::open(addr);
    for topic in ["lcr-b", "lcr-a"] {
        assert_eq!(create(&mut conn, topic, 1, 1), 0, "{topic}");
        // Kafka's broker learns of a new topic a moment after its creation is answered.
        await_leader(&mut conn, topic);
    }
    let mut seen = Observations::new();
    let cases: [(&str, i16, &[i8]); 8] = [
        ("every type", 1, &[]),
        ("topics", 1, &[2]),
        ("topics twice", 1, &[2, 2]),
        ("brokers and their loggers, reordered", 1, &[4, 8, 2]),
        ("groups and client metrics", 1, &[32, 16]),
        ("an unknown type", 1, &[64]),
        ("an unknown type among known ones", 1, &[2, 64, 4]),
        ("v0", 0, &[]),
    ];
    for (step, version, types) in cases {
        let request = ListConfigResourcesRequest::default().with_resource_types(types.to_vec());
        let ResponseKind::ListConfigResources(r) = conn.call(ApiKey::ListConfigResources, version, &request) else {
            panic!("not ListConfigResources")
        };
        let listed: Vec<String> =
            r.config_resources.iter().map(|c| format!("{}:{}", c.resource_type, c.resource_name)).collect();
        seen.insert(step.to_string(), format!("error={} {}", r.error_code, listed.join(" ")));
    }
    seen
}

/// The newest versions of older APIs (Kafka 4.4's) answered as Kafka 4.4 answers them:
/// ListOffsets 11's earliest-pending-upload spec, ApiVersions 5's cluster and node check
/// (KIP-1242), OffsetCommit and OffsetFetch 10 by topic id, DeleteGroups 3's error message and
/// DescribeLogDirs 5's cordoned flag.
#[test]
fn newest_versions_answer_like_kafka() {
    same_as_kafka(newest_versions_scenario, 19);
}

fn newest_versions_scenario(addr: &str) -> Observations {
    use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
    use kafka_protocol::messages::offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopics};
    use kafka_protocol::messages::{
        ApiVersionsRequest, DeleteGroupsRequest, DescribeClusterRequest, DescribeLogDirsRequest, GroupId,
        OffsetCommitRequest, OffsetFetchRequest,
    };
    use uuid::Uuid;
    let mut conn = Conn::open(addr);
    let mut seen = Observations::new();
    assert_eq!(create(&mut conn, "nv-a", 2, 1), 0);
    await_leader(&mut conn, "nv-a");
    let now = common::wire::now_ms();
    assert_eq!(produce_to_new(&mut conn, "nv-a", build::simple(now, 3, 10)).map(|r| r.0), Some(0));
    for (spec, version) in [(-6, 11), (-6, 10), (-5, 11), (-4, 11), (-2, 11), (-1, 11), (-7, 11)] {
        let (error, offset, timestamp) = list_offset_at(&mut Conn::open(addr), "nv-a", spec, version);
        seen.insert(format!("list offsets {spec} at v{version}"), format!("{error} {offset} {}", timestamp > 0));
    }

    let ResponseKind::DescribeCluster(cluster) =
        conn.call(ApiKey::DescribeCluster, 0, &DescribeClusterRequest::default())
    else {
        panic!()
    };
    let (cluster_id, node) =
        (cluster.cluster_id.to_string(), cluster.controller_id.0.max(cluster.brokers[0].broker_id.0));
    let versions = |cluster: Option<&str>, node: i32| {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("brook-test"))
            .with_client_software_version(StrBytes::from_static_str("1.0"))
            .with_cluster_id(cluster.map(|c| StrBytes::from_string(c.to_string())))
            .with_node_id(node);
        let mut conn = Conn::open(addr);
        let Some(ResponseKind::ApiVersions(r)) = conn.try_call(ApiKey::ApiVersions, 5, &request) else {
            return "closed".to_string();
        };
        let listed = r.api_keys.iter().find(|k| k.api_key == ApiKey::ApiVersions as i16).map(|k| k.max_version);
        format!("error={} apiversions max={listed:?} keys={}", r.error_code, !r.api_keys.is_empty())
    };
    seen.insert("api versions, both right".into(), versions(Some(&cluster_id), node));
    seen.insert("api versions, neither".into(), versions(None, -1));
    seen.insert("api versions, another cluster".into(), versions(Some("AAAAAAAAAAAAAAAAAAAAAA"), node));
    seen.insert("api versions, another node".into(), versions(Some(&cluster_id), node + 7));
    seen.insert("api versions, cluster only".into(), versions(Some(&cluster_id), -1));
    seen.insert("api versions, node only".into(), versions(None, node + 7));
    seen.insert("api versions, empty cluster".into(), versions(Some(""), node));

    let request = MetadataRequest::default()
        .with_allow_auto_topic_creation(false)
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(name("nv-a")))]));
    let ResponseKind::Metadata(m) = conn.call(ApiKey::Metadata, 12, &request) else { panic!() };
    let id = m.topics[0].topic_id;
    let unknown = Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0);
    let find = FindCoordinatorRequest::default().with_key_type(0).with_key(StrBytes::from_static_str("nv-group"));
    let (code, _) = settled("the group coordinator", || {
        let ResponseKind::FindCoordinator(r) = conn.call(ApiKey::FindCoordinator, 3, &find) else { panic!() };
        (r.error_code, ())
    });
    assert_eq!(code, 0);
    let group = GroupId(StrBytes::from_static_str("nv-group"));
    let commit_topic = |id: Uuid, partitions: &[i32]| {
        OffsetCommitRequestTopic::default().with_topic_id(id).with_partitions(
            partitions
                .iter()
                .map(|&p| OffsetCommitRequestPartition::default().with_partition_index(p).with_committed_offset(2))
                .collect(),
        )
    };
    let commit = OffsetCommitRequest::default()
        .with_group_id(group.clone())
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![commit_topic(id, &[0, 1, 5]), commit_topic(unknown, &[0]), commit_topic(Uuid::nil(), &[0])]);
    let shown_commit = |r: &kafka_protocol::messages::OffsetCommitResponse| {
        let topics: Vec<String> = r
            .topics
            .iter()
            .map(|t| {
                let who = if t.topic_id == id {
                    "ours"
                } else if t.topic_id == unknown {
                    "unknown"
                } else {
                    "other"
                };
                let parts: Vec<String> =
                    t.partitions.iter().map(|p| format!("{}:{}", p.partition_index, p.error_code)).collect();
                format!("{who} name={:?} {}", t.name.0.to_string(), parts.join(","))
            })
            .collect();
        topics.join(" | ")
    };
    let (_, answer) = settled("an offset commit", || {
        let ResponseKind::OffsetCommit(r) = conn.call(ApiKey::OffsetCommit, 10, &commit) else { panic!() };
        let loading =
            r.topics.iter().flat_map(|t| &t.partitions).map(|p| p.error_code).find(|c| [14, 15, 16].contains(c));
        (loading.unwrap_or(0), shown_commit(&r))
    });
    seen.insert("offset commit v10".into(), answer);
    let fetch = |topics: Option<Vec<OffsetFetchRequestTopics>>| {
        OffsetFetchRequest::default().with_groups(vec![
            OffsetFetchRequestGroup::default().with_group_id(group.clone()).with_member_epoch(-1).with_topics(topics),
        ])
    };
    let fetch_topic = |id: Uuid, partitions: Vec<i32>| {
        OffsetFetchRequestTopics::default().with_topic_id(id).with_partition_indexes(partitions)
    };
    for (step, request) in [
        ("offset fetch v10 by id", fetch(Some(vec![fetch_topic(id, vec![1, 0, 3]), fetch_topic(unknown, vec![0])]))),
        ("offset fetch v10, all", fetch(None)),
    ] {
        let ResponseKind::OffsetFetch(r) = conn.call(ApiKey::OffsetFetch, 10, &request) else { panic!() };
        let groups: Vec<String> = r
            .groups
            .iter()
            .map(|g| {
                let topics: Vec<String> = g
                    .topics
                    .iter()
                    .map(|t| {
                        let who = if t.topic_id == id {
                            "ours"
                        } else if t.topic_id == unknown {
                            "unknown"
                        } else {
                            "other"
                        };
                        let parts: Vec<String> = t
                            .partitions
                            .iter()
                            .map(|p| format!("{}:{}@{}", p.partition_index, p.error_code, p.committed_offset))
                            .collect();
                        format!("{who} name={:?} {}", t.name.0.to_string(), parts.join(","))
                    })
                    .collect();
                format!("{} error={} {}", g.group_id.0, g.error_code, topics.join(" | "))
            })
            .collect();
        seen.insert(step.into(), groups.join(" || "));
    }

    let delete = DeleteGroupsRequest::default()
        .with_groups_names(vec![group.clone(), GroupId(StrBytes::from_static_str("nv-none"))]);
    let ResponseKind::DeleteGroups(r) = conn.call(ApiKey::DeleteGroups, 3, &delete) else { panic!() };
    let results: Vec<String> = r
        .results
        .iter()
        .map(|g| format!("{} {} {:?}", g.group_id.0, g.error_code, g.error_message.as_ref().map(|m| m.to_string())))
        .collect();
    seen.insert("delete groups v3".into(), results.join(" | "));

    let ResponseKind::DescribeLogDirs(r) =
        conn.call(ApiKey::DescribeLogDirs, 5, &DescribeLogDirsRequest::default().with_topics(Some(vec![])))
    else {
        panic!()
    };
    let dirs: Vec<String> = r
        .results
        .iter()
        .map(|d| format!("error={} cordoned={} topics={}", d.error_code, d.is_cordoned, d.topics.len()))
        .collect();
    seen.insert("describe log dirs v5".into(), format!("error={} {}", r.error_code, dirs.join(" ")));
    seen
}

/// The APIs a broker lists in ApiVersions, with their version ranges.
fn listed_apis(addr: &str) -> BTreeMap<i16, (i16, i16)> {
    let request = kafka_protocol::messages::ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("differential"))
        .with_client_software_version(StrBytes::from_static_str("1"));
    let ResponseKind::ApiVersions(v) = Conn::open(addr).call(ApiKey::ApiVersions, 3, &request) else { panic!() };
    v.api_keys.iter().map(|k| (k.api_key, (k.min_version, k.max_version))).collect()
}

/// Every API Kafka 4.4 lists on its broker listener, Brook lists too, with the same newest
/// version; what Brook lists beyond Kafka is only the client metrics pair, which Kafka lists
/// once a metrics reporter receives client metrics. Voter changes and controller
/// unregistrations get Kafka's answers.
#[test]
fn brook_lists_the_apis_kafka_lists() {
    let kafka = Kafka::start();
    let theirs = listed_apis(&kafka.addr);
    let kafka_unregisters = unregister_unknown(&kafka.addr);
    let kafka_quorum = quorum_changes(&kafka.addr);
    drop(kafka);
    let brook = Brook::start(&[]);
    let mine = listed_apis(&brook.addr);
    assert_eq!(unregister_unknown(&brook.addr), kafka_unregisters);
    assert_same(&kafka_quorum, &quorum_changes(&brook.addr));
    let name = |k: &i16| ApiKey::try_from(*k).map_or_else(|_| format!("api {k}"), |k| format!("{k:?}"));
    let missing: Vec<String> = theirs.keys().filter(|k| !mine.contains_key(k)).map(name).collect();
    assert!(missing.is_empty(), "Kafka 4.4 lists APIs Brook does not: {missing:?}");
    let older: Vec<String> = theirs
        .iter()
        // WriteTxnMarkers is broker to broker: v2's transaction version (KIP-1228) is not sent
        // between Brook's brokers, and no client sends it.
        .filter(|(k, (_, max))| mine[k].1 != *max && **k != ApiKey::WriteTxnMarkers as i16)
        .map(|(k, range)| format!("{}: Kafka {range:?}, Brook {:?}", name(k), mine[k]))
        .collect();
    assert!(older.is_empty(), "newest versions differ: {older:?}");
    let extra: Vec<String> = mine.keys().filter(|k| !theirs.contains_key(k)).map(name).collect();
    assert_eq!(extra, ["GetTelemetrySubscriptions", "PushTelemetry"]);
}

/// UnregisterBroker for an id that was never registered: Kafka 4.4's error and message.
fn unregister_unknown(addr: &str) -> String {
    let request = kafka_protocol::messages::UnregisterBrokerRequest::default().with_broker_id(BrokerId(7));
    let ResponseKind::UnregisterBroker(r) = Conn::open(addr).call(ApiKey::UnregisterBroker, 0, &request) else {
        panic!()
    };
    answer(r.error_code, r.error_message.as_deref())
}

/// Voter changes asked of a quorum of static voters (`controller.quorum.voters`, kraft.version
/// 0), and controller unregistrations: step -> answer.
fn quorum_changes(addr: &str) -> BTreeMap<String, String> {
    use kafka_protocol::messages::add_raft_voter_request::Listener;
    use kafka_protocol::messages::{AddRaftVoterRequest, RemoveRaftVoterRequest, UnregisterControllerRequest};
    let mut conn = Conn::open(addr);
    let mut seen = BTreeMap::new();
    let ResponseKind::Metadata(metadata) = conn.call(ApiKey::Metadata, 12, &MetadataRequest::default()) else {
        panic!("a Metadata answer")
    };
    let cluster = metadata.cluster_id.map(|c| c.to_string()).expect("a cluster id");
    // The cluster ids differ: answers name the one there is as "<cluster>".
    let answer =
        |code: i16, message: Option<&str>| answer(code, message.map(|m| m.replace(&cluster, "<cluster>")).as_deref());
    let listener = Listener::default()
        .with_name(StrBytes::from_static_str("CONTROLLER"))
        .with_host(StrBytes::from_static_str("127.0.0.1"))
        .with_port(9);
    let add_with = |conn: &mut Conn, version: i16, cluster: Option<&str>, voter: i32, directory: Uuid, listeners| {
        let request = AddRaftVoterRequest::default()
            .with_cluster_id(cluster.map(|c| StrBytes::from_string(c.to_string())))
            .with_timeout_ms(5_000)
            .with_voter_id(voter)
            .with_voter_directory_id(directory)
            .with_listeners(listeners);
        let Some(ResponseKind::AddRaftVoter(r)) = conn.try_call(ApiKey::AddRaftVoter, version, &request) else {
            return "no AddRaftVoter answer".to_string();
        };
        answer(r.error_code, r.error_message.as_deref())
    };
    let add = |conn: &mut Conn, version: i16, cluster: Option<&str>, voter: i32| {
        add_with(conn, version, cluster, voter, Uuid::new_v4(), vec![listener.clone()])
    };
    seen.insert(
        "add without a directory id".to_string(),
        add_with(&mut conn, 1, None, 2, Uuid::nil(), vec![listener.clone()]),
    );
    seen.insert("add without listeners".to_string(), add_with(&mut conn, 1, None, 2, Uuid::new_v4(), vec![]));
    let other = Listener::default()
        .with_name(StrBytes::from_static_str("OTHER"))
        .with_host(StrBytes::from_static_str("localhost"))
        .with_port(19);
    seen.insert(
        "add with other listeners".to_string(),
        add_with(
            &mut conn,
            1,
            None,
            2,
            Uuid::new_v4(),
            vec![other.clone(), other.with_port(20).with_name(StrBytes::from_static_str("B"))],
        ),
    );
    seen.insert("add a negative id".to_string(), add(&mut conn, 1, None, -2));
    seen.insert("add a voter v0".to_string(), add(&mut conn, 0, None, 2));
    seen.insert("add a voter v1".to_string(), add(&mut conn, 1, None, 2));
    seen.insert("add a voter to this cluster".to_string(), add(&mut conn, 1, Some(&cluster), 2));
    seen.insert("add a voter to another cluster".to_string(), add(&mut conn, 1, Some("another-cluster"), 2));
    seen.insert("add the voter there is".to_string(), add(&mut conn, 1, None, 1));
    let remove = |conn: &mut Conn, cluster: Option<&str>, voter: i32, directory: Uuid| {
        let request = RemoveRaftVoterRequest::default()
            .with_cluster_id(cluster.map(|c| StrBytes::from_string(c.to_string())))
            .with_voter_id(voter)
            .with_voter_directory_id(directory);
        let Some(ResponseKind::RemoveRaftVoter(r)) = conn.try_call(ApiKey::RemoveRaftVoter, 0, &request) else {
            return "no RemoveRaftVoter answer".to_string();
        };
        answer(r.error_code, r.error_message.as_deref())
    };
    let any = Uuid::new_v4();
    seen.insert("remove without a cluster id".to_string(), remove(&mut conn, None, 7, any));
    seen.insert("remove without a directory id".to_string(), remove(&mut conn, Some(&cluster), 7, Uuid::nil()));
    seen.insert("remove a negative id".to_string(), remove(&mut conn, Some(&cluster), -1, any));
    seen.insert("remove an unknown voter".to_string(), remove(&mut conn, Some(&cluster), 7, any));
    seen.insert("remove the only voter".to_string(), remove(&mut conn, Some(&cluster), 1, any));
    seen.insert("remove from another cluster".to_string(), remove(&mut conn, Some("another-cluster"), 1, any));
    let unregister = |conn: &mut Conn, id: i32| {
        let request = UnregisterControllerRequest::default().with_controller_id(id);
        let Some(ResponseKind::UnregisterController(r)) = conn.try_call(ApiKey::UnregisterController, 0, &request)
        else {
            return "no UnregisterController answer".to_string();
        };
        answer(r.error_code, r.error_message.as_deref())
    };
    seen.insert("unregister an unknown controller".to_string(), unregister(&mut conn, 7));
    seen.insert("unregister the active controller".to_string(), unregister(&mut conn, 1));
    seen
}
