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
