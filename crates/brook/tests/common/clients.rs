//! Kafka clients (librdkafka through the `rdkafka` crate) as tests use them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

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

/// A consumer in group `group` (committing nothing) assigned `partitions` of `topic`, each from
/// its start.
pub fn assigned_from_start(
    bootstrap: &str,
    group: &str,
    topic: &str,
    partitions: impl IntoIterator<Item = i32>,
) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for p in partitions {
        assignment.add_partition_offset(topic, p, Offset::Beginning).expect("assign");
    }
    consumer.assign(&assignment).expect("assign");
    consumer
}

/// Every record of `topic`'s partition `partition` from its start to the high watermark it had
/// when the read began: offset -> value. A read that stops short for a minute returns what it
/// got, so that the records it could not read count as lost in the caller's check.
pub fn read_to_end(bootstrap: &str, topic: &str, partition: i32) -> BTreeMap<i64, String> {
    let consumer = assigned_from_start(bootstrap, "read-to-end", topic, partition..partition + 1);
    let (_, end) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(10)).expect("watermarks");
    let mut out = BTreeMap::new();
    let mut next = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while next < end {
        if Instant::now() > deadline {
            eprintln!("the read of {topic}-{partition} did not reach its high watermark {end}: stopped at {next}");
            break;
        }
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let value = String::from_utf8(m.payload().unwrap_or_default().to_vec()).expect("utf-8");
            out.insert(m.offset(), value);
            next = m.offset() + 1;
        }
    }
    out
}

/// A librdkafka producer with transactional id `id` that wrote one record to partition 0 of
/// `topic` in a transaction it leaves open (a hanging transaction, for the tools that find and
/// abort one). Keep it alive while the transaction must stay open.
pub fn open_transaction(bootstrap: &str, id: &str, topic: &str) -> rdkafka::producer::BaseProducer {
    use rdkafka::producer::{BaseRecord, Producer};
    let timeout = Duration::from_secs(30);
    let producer: rdkafka::producer::BaseProducer =
        ClientConfig::new().set("bootstrap.servers", bootstrap).set("transactional.id", id).create().expect("producer");
    producer.init_transactions(timeout).expect("init");
    producer.begin_transaction().expect("begin");
    producer.send(BaseRecord::to(topic).partition(0).key("k").payload("undecided")).expect("queued");
    producer.flush(timeout).expect("flushed");
    producer
}

/// The offset below which a read_committed consumer reads partition 0 of `topic` (its last
/// stable offset).
pub fn stable_end(bootstrap: &str, topic: &str) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("isolation.level", "read_committed")
        .create()
        .expect("consumer");
    consumer.fetch_watermarks(topic, 0, Duration::from_secs(30)).expect("watermarks").1
}
