//! Log compaction end to end: a compacted topic, written and read back with librdkafka (the
//! `rdkafka` crate), keeps the latest value per key and drops tombstones after
//! `delete.retention.ms`; records without a key are refused, as Kafka refuses them.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::{Brook, eventually};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(30);

async fn send(producer: &FutureProducer, key: Option<&str>, value: Option<&str>) -> Result<(), KafkaError> {
    let mut record: FutureRecord<'_, str, str> = FutureRecord::to("accounts");
    if let Some(k) = key {
        record = record.key(k);
    }
    if let Some(v) = value {
        record = record.payload(v);
    }
    producer.send(record, TIMEOUT).await.map(|_| ()).map_err(|(e, _)| e)
}

/// key -> every value read from the beginning, in order (`None` for a tombstone).
fn read_back(brook: &Brook) -> BTreeMap<String, Vec<Option<String>>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brook.addr)
        .set("group.id", "compaction-check")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset("accounts", 0, Offset::Beginning).expect("assign");
    consumer.assign(&assignment).expect("assign");
    let mut got: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
    eventually(TIMEOUT, "the end of the partition", || match consumer.poll(Duration::from_millis(100)) {
        Some(Ok(m)) => {
            let key = String::from_utf8(m.key().expect("every record has a key").to_vec()).expect("utf-8");
            let value = m.payload().map(|v| String::from_utf8(v.to_vec()).expect("utf-8"));
            got.entry(key).or_default().push(value);
            None
        }
        Some(Err(KafkaError::PartitionEOF(_))) => Some(()),
        Some(Err(e)) => panic!("consume: {e}"),
        None => None,
    });
    got
}

#[tokio::test(flavor = "multi_thread")]
async fn compacted_topic_keeps_the_latest_value_per_key() {
    let brook = Brook::start(&["log.cleaner.backoff.ms=100"]);
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", &brook.addr).create().expect("admin");
    let topic = NewTopic::new("accounts", 1, TopicReplication::Fixed(1))
        .set("cleanup.policy", "compact")
        .set("internal.segment.bytes", "1024")
        .set("min.cleanable.dirty.ratio", "0.01")
        .set("delete.retention.ms", "0");
    let created = admin.create_topics(&[topic], &AdminOptions::new()).await.expect("create");
    assert_eq!(created, vec![Ok("accounts".to_string())]);
    let producer: FutureProducer =
        ClientConfig::new().set("bootstrap.servers", &brook.addr).set("linger.ms", "0").create().expect("producer");
    for round in 0..30 {
        for customer in 0..5 {
            let value = format!("balance-{round}");
            send(&producer, Some(&format!("customer-{customer}")), Some(&value)).await.expect("produce");
        }
    }
    send(&producer, Some("customer-0"), None).await.expect("tombstone");
    // Enough later records to push everything above out of the active segment.
    for i in 0..20 {
        send(&producer, Some(&format!("later-{i}")), Some(&"x".repeat(100))).await.expect("produce");
    }
    let refused = send(&producer, None, Some("no key")).await.expect_err("a keyless record is refused");
    assert_eq!(refused.rdkafka_error_code(), Some(RDKafkaErrorCode::InvalidRecord));

    let mut last = BTreeMap::new();
    eventually(TIMEOUT, "the cleaner to compact the topic", || {
        last = read_back(&brook);
        let customers: Vec<&Vec<Option<String>>> = (1..5).filter_map(|c| last.get(&format!("customer-{c}"))).collect();
        (customers.len() == 4 && customers.iter().all(|v| v.len() == 1) && !last.contains_key("customer-0"))
            .then_some(())
    });
    for c in 1..5 {
        assert_eq!(last[&format!("customer-{c}")], vec![Some("balance-29".to_string())]);
    }
    for i in 0..20 {
        assert!(last.contains_key(&format!("later-{i}")), "later-{i} was lost");
    }
}
