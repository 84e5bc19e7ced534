//! A data directory written by a Brook from before the metadata quorum (its metadata log one
//! JSON record per batch) starts with today's Brook: topics, ids, cluster id, configs and data
//! carry over, and the old log is imported once.

use crate::common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::common::Brook;
use crate::common::wire::Conn;
use brook_log::batch::build::{self, Record};
use brook_log::storage::OsStorage;
use brook_log::{Durability, Log, LogConfig, LogEnv, SystemClock};
use kafka_protocol::messages::{
    ApiKey, DescribeClusterRequest, DescribeConfigsRequest, MetadataRequest, ResponseKind,
    describe_configs_request::DescribeConfigsResource,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

const CLUSTER_ID: &str = "old-brook-cluster-id-1";
const TOPIC_ID: &str = "6f1c0c4e-3b8a-4f7e-9a0b-2d5e8c1f7a90";

/// Appends records, one per batch, each value as given, and syncs.
fn write_log(dir: &Path, values: &[Vec<u8>]) {
    let env = LogEnv::new(Arc::new(OsStorage::default()), Arc::new(SystemClock), None);
    let config = LogConfig { retention_ms: -1, ..LogConfig::default() };
    let log = Log::open(dir, config, env).expect("open log");
    for value in values {
        let batch = build::batch(
            common::wire::now_ms(),
            &[Record { timestamp_delta: 0, key: None, value: Some(value.clone()) }],
        );
        log.append(batch, Durability::Async).expect("append");
    }
    log.close().expect("close");
}

/// The metadata log and one topic's data as the old Brook left them.
fn old_data_dir(data: &Path) {
    let records = [
        format!(r#"{{"type":"ClusterCreated","cluster_id":"{CLUSTER_ID}"}}"#),
        format!(
            r#"{{"type":"TopicCreated","name":"orders","id":"{TOPIC_ID}","partitions":1,"configs":{{"retention.ms":"86400000"}}}}"#
        ),
        format!(r#"{{"type":"PartitionsCreated","id":"{TOPIC_ID}","partitions":2}}"#),
        r#"{"type":"TopicCreated","name":"gone","id":"00000000-0000-0000-0000-000000000007","partitions":1,"configs":{}}"#.into(),
        r#"{"type":"TopicDeleted","id":"00000000-0000-0000-0000-000000000007"}"#.into(),
        r#"{"type":"ProducerIdsReserved","next":5000}"#.into(),
    ];
    write_log(&data.join("__cluster_metadata-0"), &records.map(String::into_bytes));
    write_log(&data.join("orders-0"), &[b"first".to_vec(), b"second".to_vec()]);
    write_log(&data.join("orders-1"), &[b"third".to_vec()]);
}

fn read_partition(bootstrap: &str, partition: i32, count: usize) -> Vec<String> {
    let consumer: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", bootstrap).set("group.id", "upgrade").create().expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset("orders", partition, Offset::Beginning).expect("assign");
    consumer.assign(&assignment).expect("assign");
    common::eventually(Duration::from_secs(30), "the old records", || {
        let mut got = Vec::new();
        while got.len() < count {
            let m = consumer.poll(Duration::from_millis(200))?.expect("consume");
            got.push(String::from_utf8(m.payload().unwrap_or_default().to_vec()).expect("utf-8"));
        }
        Some(got)
    })
}

/// The old topics, ids, configs, cluster id and records are all there after the upgrade, the
/// deleted topic stays deleted, the old log is gone, and a restart finds everything again.
#[test]
fn old_metadata_log_is_imported() {
    let dir = tempfile::tempdir().expect("temp dir");
    old_data_dir(dir.path());
    for round in 0..2 {
        let mut brook = Brook::start_in(dir.path(), &["console.enabled=false"]);
        let mut conn = Conn::open(&brook.addr);
        let metadata = match conn.call(ApiKey::Metadata, 12, &MetadataRequest::default().with_topics(None)) {
            ResponseKind::Metadata(m) => m,
            other => panic!("unexpected {other:?}"),
        };
        // The first round's consumer created __consumer_offsets.
        let topics: Vec<_> = metadata.topics.iter().filter(|t| !t.is_internal).collect();
        let names: Vec<String> = topics.iter().filter_map(|t| t.name.as_ref().map(|n| n.to_string())).collect();
        assert_eq!(names, vec!["orders".to_string()], "round {round}");
        let orders = topics[0];
        assert_eq!(orders.topic_id.to_string(), TOPIC_ID);
        assert_eq!(orders.partitions.len(), 2);
        let cluster = match conn.call(ApiKey::DescribeCluster, 0, &DescribeClusterRequest::default()) {
            ResponseKind::DescribeCluster(c) => c,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(cluster.cluster_id.as_str(), CLUSTER_ID);
        let resource = DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("orders"))
            .with_configuration_keys(Some(vec![StrBytes::from_static_str("retention.ms")]));
        let configs = match conn.call(
            ApiKey::DescribeConfigs,
            4,
            &DescribeConfigsRequest::default().with_resources(vec![resource]),
        ) {
            ResponseKind::DescribeConfigs(c) => c,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(configs.results[0].configs[0].value.as_deref().map(|v| v.to_string()), Some("86400000".into()));
        assert_eq!(read_partition(&brook.addr, 0, 2), vec!["first", "second"]);
        assert_eq!(read_partition(&brook.addr, 1, 1), vec!["third"]);
        assert!(!dir.path().join("__cluster_metadata-0.pre-quorum").exists());
        assert_eq!(brook.stop(), Some(0));
    }
}

/// A broker whose metadata log was lost while its data and `meta.properties` stayed refuses to
/// start as a new, empty cluster beside them, naming cluster.id; its data stays as it was.
#[test]
fn lost_metadata_log_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut brook = Brook::start_in(dir.path(), &["console.enabled=false"]);
    common::wire::create_topic(&mut Conn::open(&brook.addr), "kept", 1);
    assert_eq!(brook.stop(), Some(0));
    std::fs::remove_dir_all(dir.path().join("__cluster_metadata-0")).expect("lose the metadata log");
    let overrides: Vec<String> = ["listeners=PLAINTEXT://127.0.0.1:0", "console.enabled=false"]
        .iter()
        .map(|o| o.to_string())
        .chain([format!("log.dirs={}", dir.path().display())])
        .collect();
    let (code, stderr) = common::refused_start(None, &overrides, Duration::from_secs(30));
    assert_ne!(code, Some(0));
    assert!(stderr.contains("cluster.id") && stderr.contains("metadata log"), "{stderr}");
    assert!(dir.path().join("kept-0").exists(), "the data is left alone");
}
