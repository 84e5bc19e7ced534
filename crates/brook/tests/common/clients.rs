//! Kafka clients (librdkafka through the `rdkafka` crate) as tests use them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;

/// Reads `topic` in consumer group `group` until `expected` distinct values arrived (within a
/// minute): value -> (partition, offset).
pub async fn consume(bootstrap: &str, topic: &str, group: &str, expected: usize) -> BTreeMap<String, (i32, i64)> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut got = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() < expected {
        assert!(Instant::now() < deadline, "consumed {} of {expected}", got.len());
        if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(1), consumer.recv()).await {
            let value = String::from_utf8(m.payload().unwrap_or_default().to_vec()).expect("utf-8");
            got.insert(value, (m.partition(), m.offset()));
        }
    }
    got
}

/// Every record of `topic`'s partition `partition` from its start to the high watermark it had
/// when the read began (within a minute): offset -> value.
pub fn read_to_end(bootstrap: &str, topic: &str, partition: i32) -> BTreeMap<i64, String> {
    use rdkafka::consumer::BaseConsumer;
    use rdkafka::{Offset, TopicPartitionList};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "read-to-end")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, partition, Offset::Beginning).expect("assign");
    consumer.assign(&assignment).expect("assign");
    let (_, end) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(10)).expect("watermarks");
    let mut out = BTreeMap::new();
    let mut next = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while next < end {
        assert!(Instant::now() < deadline, "the read of {topic}-{partition} did not reach {end}: at {next}");
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let value = String::from_utf8(m.payload().unwrap_or_default().to_vec()).expect("utf-8");
            out.insert(m.offset(), value);
            next = m.offset() + 1;
        }
    }
    out
}
