//! Scale on one node: many partitions under a low open-file limit, and topic creation that
//! is all or nothing. The large figures are in `scripts/bench-scale`; these are the small
//! versions that CI runs.

use std::path::Path;
use std::time::Instant;

use crate::common::wire::{Conn, create_topic, create_topic_code, now_ms};
use crate::common::{Brook, open_files_under};
use brook_log::batch::{self, build};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, DeleteTopicsRequest, DescribeLogDirsRequest, FetchRequest, MetadataRequest,
    ProduceRequest, ResponseKind, TopicName, create_topics_request::CreatableTopic,
};
use kafka_protocol::protocol::StrBytes;

const TOPICS: usize = 200;
const PARTITIONS: i32 = 100;
const RECORDS: usize = 3;

fn name(text: &str) -> TopicName {
    TopicName(StrBytes::from_string(text.to_string()))
}

/// Produces `RECORDS` records to every partition of `topic`, acks=all.
fn produce_all(conn: &mut Conn, topic: &str) {
    let partitions = (0..PARTITIONS)
        .map(|p| PartitionProduceData::default().with_index(p).with_records(Some(build::simple(now_ms(), RECORDS, 8))))
        .collect();
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default().with_name(name(topic)).with_partition_data(partitions)]);
    let ResponseKind::Produce(response) = conn.call(ApiKey::Produce, 9, &request) else { panic!("not produce") };
    for p in &response.responses[0].partition_responses {
        assert_eq!((p.error_code, p.base_offset), (0, 0), "{topic}-{}", p.index);
    }
}

/// Reads every partition of `topic` from offset 0: each holds exactly `RECORDS` records.
fn read_all(conn: &mut Conn, topic: &str) {
    let partitions = (0..PARTITIONS)
        .map(|p| FetchPartition::default().with_partition(p).with_fetch_offset(0).with_partition_max_bytes(1 << 16))
        .collect();
    let request = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(64 << 20)
        .with_topics(vec![FetchTopic::default().with_topic(name(topic)).with_partitions(partitions)]);
    let ResponseKind::Fetch(response) = conn.call(ApiKey::Fetch, 12, &request) else { panic!("not fetch") };
    let answered = &response.responses[0].partitions;
    assert_eq!(answered.len(), PARTITIONS as usize, "{topic}");
    for p in answered {
        let records = p.records.as_deref().unwrap_or_default();
        let counted: i32 = batch::whole_batches(records).map(|(h, _)| h.records_count).sum();
        assert_eq!(
            (p.error_code, p.high_watermark, counted),
            (0, RECORDS as i64, RECORDS as i32),
            "{topic}-{}",
            p.partition_index
        );
    }
}

/// How many partitions Metadata lists for the topics named `s<i>`.
fn partitions_listed(conn: &mut Conn) -> usize {
    let ResponseKind::Metadata(m) = conn.call(ApiKey::Metadata, 12, &MetadataRequest::default().with_topics(None))
    else {
        panic!("not metadata")
    };
    m.topics.iter().filter(|t| t.name.as_ref().is_some_and(|n| n.starts_with('s'))).map(|t| t.partitions.len()).sum()
}

/// 20,000 partitions on a broker that may hold only 4,096 open files (Brook once stopped
/// creating them at about 20,000 / 1 file each, and then could not restart): all are created,
/// written and read back, after a clean restart and after kill -9, while the broker never holds
/// more log files open than its ceiling.
#[test]
fn twenty_thousand_partitions_under_a_low_file_limit() {
    const CEILING: usize = 1000;
    let dir = tempfile::tempdir().expect("temp dir");
    let overrides = ["log.max.open.files=1000", "console.enabled=false", "num.partitions=1"];
    let mut brook = Brook::start_in_under_file_limit(dir.path(), 4096, &overrides);
    let mut conn = Conn::open(&brook.addr);
    let started = Instant::now();
    let mut most_open = 0;
    for t in 0..TOPICS {
        create_topic(&mut conn, &format!("s{t}"), PARTITIONS);
        produce_all(&mut conn, &format!("s{t}"));
        if t % 20 == 0 {
            most_open = most_open.max(open_files_under(brook.pid(), dir.path()));
        }
    }
    eprintln!("created and wrote {} partitions in {:?}", TOPICS * PARTITIONS as usize, started.elapsed());
    assert_eq!(partitions_listed(&mut conn), TOPICS * PARTITIONS as usize);
    most_open = most_open.max(open_files_under(brook.pid(), dir.path()));
    assert!(most_open <= CEILING, "{most_open} log files open, above the ceiling of {CEILING}");
    assert!(most_open >= CEILING / 2, "the ceiling is used ({most_open} open): the count looks at the right files");

    // The first clean stop writes every partition's first snapshot and index files.
    assert_eq!(brook.stop_within(std::time::Duration::from_secs(120)), Some(0));
    let mut brook = Brook::start_in_under_file_limit(dir.path(), 4096, &overrides);
    let mut conn = Conn::open(&brook.addr);
    // A restart serves before it opened the partitions on disk (the background opener takes
    // them in name order, `s99` last). Topics deleted meanwhile leave nothing on disk, and one
    // created again under the same name starts empty.
    for topic in ["s98", "s99"] {
        let request = DeleteTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![DeleteTopicState::default().with_name(Some(name(topic)))]);
        let ResponseKind::DeleteTopics(r) = conn.call(ApiKey::DeleteTopics, 6, &request) else { panic!() };
        assert_eq!(r.responses[0].error_code, 0, "{topic}: {:?}", r.responses[0].error_message);
        let left = std::fs::read_dir(dir.path()).expect("data dir").filter_map(|e| e.ok()).filter(|e| {
            e.file_name().to_str().is_some_and(|n| n.strip_prefix(topic).is_some_and(|rest| rest.starts_with('-')))
        });
        assert_eq!(left.count(), 0, "{topic}'s partition directories are gone");
    }
    create_topic(&mut conn, "s99", PARTITIONS);
    produce_all(&mut conn, "s99");
    for t in (0..TOPICS).filter(|t| *t != 98) {
        read_all(&mut conn, &format!("s{t}"));
    }
    assert_eq!(partitions_listed(&mut conn), (TOPICS - 1) * PARTITIONS as usize);
    let ResponseKind::DescribeLogDirs(dirs) =
        conn.call(ApiKey::DescribeLogDirs, 4, &DescribeLogDirsRequest::default().with_topics(None))
    else {
        panic!("not DescribeLogDirs")
    };
    let described: usize = dirs.results.iter().flat_map(|d| &d.topics).map(|t| t.partitions.len()).sum();
    assert_eq!(described, (TOPICS - 1) * PARTITIONS as usize, "DescribeLogDirs lists every partition hosted");
    let open = open_files_under(brook.pid(), dir.path());
    assert!(open <= CEILING, "{open} log files open after reading all, above {CEILING}");

    // After kill -9 every partition's tail is verified again, under the same limit.
    brook.kill();
    let brook = Brook::start_in_under_file_limit(dir.path(), 4096, &overrides);
    let mut conn = Conn::open(&brook.addr);
    assert_eq!(partitions_listed(&mut conn), (TOPICS - 1) * PARTITIONS as usize);
    for t in (0..TOPICS).step_by(10) {
        read_all(&mut conn, &format!("s{t}"));
    }
}

/// A CreateTopics whose partitions cannot all be made on disk (here a file already holds one
/// partition's directory name) is refused with KAFKA_STORAGE_ERROR naming the partition, and
/// leaves no trace: not in Metadata, not on disk, and the broker restarts. The same topic is
/// created whole once the obstacle is gone.
#[test]
fn failing_create_topics_leaves_no_trace() {
    let dir = tempfile::tempdir().expect("temp dir");
    let brook = Brook::start_in(dir.path(), &["console.enabled=false"]);
    std::fs::write(dir.path().join("doomed-3"), b"in the way").expect("plant");
    let mut conn = Conn::open(&brook.addr);
    let request = CreateTopicsRequest::default().with_timeout_ms(30_000).with_topics(vec![
        CreatableTopic::default().with_name(name("doomed")).with_num_partitions(6).with_replication_factor(1),
    ]);
    let ResponseKind::CreateTopics(response) = conn.call(ApiKey::CreateTopics, 7, &request) else { panic!() };
    let result = &response.topics[0];
    assert_eq!(result.error_code, 56, "KAFKA_STORAGE_ERROR");
    let message = result.error_message.as_deref().unwrap_or_default().to_string();
    assert!(message.contains("doomed was not created") && message.contains("partition 3"), "{message}");

    let listed = |conn: &mut Conn| {
        let request = MetadataRequest::default().with_topics(None);
        let ResponseKind::Metadata(m) = conn.call(ApiKey::Metadata, 12, &request) else { panic!() };
        m.topics.iter().filter_map(|t| t.name.as_ref().map(|n| n.to_string())).collect::<Vec<_>>()
    };
    // The topic's deletion is applied by the time the refusal is answered.
    assert!(!listed(&mut conn).contains(&"doomed".to_string()));
    let leftovers = |data: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(data)
            .expect("data dir")
            .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
            .filter(|n| n.starts_with("doomed"))
            .collect();
        names.sort();
        names
    };
    assert_eq!(leftovers(dir.path()), ["doomed-3"], "only the planted file remains");

    drop(conn);
    drop(brook);
    let brook = Brook::start_in(dir.path(), &["console.enabled=false"]);
    let mut conn = Conn::open(&brook.addr);
    assert!(!listed(&mut conn).contains(&"doomed".to_string()));
    std::fs::remove_file(dir.path().join("doomed-3")).expect("clear");
    assert_eq!(create_topic_code(&mut conn, "doomed", 6), Some(0));
    assert!(listed(&mut conn).contains(&"doomed".to_string()));
}

/// The metadata log is snapshotted by bytes (`metadata.log.max.record.bytes.between.snapshots`),
/// not only after `metadata.log.snapshot.interval.records` entries: a few entries for many
/// partitions (each clean restart moves every partition's leader twice) once grew the log by
/// megabytes per restart with no snapshot in sight. The broker restarts from the snapshot.
#[test]
fn metadata_log_is_snapshotted_by_bytes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let overrides = ["console.enabled=false", "metadata.log.max.record.bytes.between.snapshots=50000"];
    let mut brook = Brook::start_in(dir.path(), &overrides);
    let mut conn = Conn::open(&brook.addr);
    let snapshot = dir.path().join("__cluster_metadata-0").join("snapshot.bin");
    assert!(!snapshot.exists(), "a new broker has nothing to snapshot");
    create_topic(&mut conn, "s-wide", 2000);
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    while !snapshot.exists() {
        assert!(Instant::now() < deadline, "no metadata snapshot after 2,000 partitions' records");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(conn);
    assert_eq!(brook.stop(), Some(0));
    let brook = Brook::start_in(dir.path(), &overrides);
    let mut conn = Conn::open(&brook.addr);
    assert_eq!(partitions_listed(&mut conn), 2000);
}
