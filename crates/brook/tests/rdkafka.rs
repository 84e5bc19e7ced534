//! End to end with librdkafka (the `rdkafka` crate, bundled librdkafka) against a real
//! `brook server` process over TCP.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::clients::assigned_from_start;
use crate::common::{Brook, eventually};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};

const TIMEOUT: Duration = Duration::from_secs(30);

fn admin(brook: &Brook) -> AdminClient<DefaultClientContext> {
    ClientConfig::new().set("bootstrap.servers", &brook.addr).create().expect("admin client")
}

fn producer(brook: &Brook, extra: &[(&str, &str)]) -> FutureProducer {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &brook.addr).set("message.timeout.ms", "20000");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    config.create().expect("producer")
}

async fn create_topic(brook: &Brook, name: &str, partitions: i32) {
    let results = admin(brook)
        .create_topics(&[NewTopic::new(name, partitions, TopicReplication::Fixed(1))], &AdminOptions::new())
        .await
        .expect("create topics");
    assert_eq!(results, vec![Ok(name.to_string())]);
}

/// Reads `count` messages from every partition of `topic` from the beginning:
/// partition -> [(offset, key, value)].
fn consume(brook: &Brook, topic: &str, partitions: i32, count: usize) -> BTreeMap<i32, Vec<(i64, String, String)>> {
    let consumer = assigned_from_start(&brook.addr, "brook-test", topic, 0..partitions);
    let mut got: BTreeMap<i32, Vec<(i64, String, String)>> = BTreeMap::new();
    let mut seen = 0;
    eventually(TIMEOUT, "all messages consumed", || {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let m = message.expect("consume");
            let key = String::from_utf8(m.key().unwrap_or_default().to_vec()).expect("utf8 key");
            let value = String::from_utf8(m.payload().unwrap_or_default().to_vec()).expect("utf8 value");
            got.entry(m.partition()).or_default().push((m.offset(), key, value));
            seen += 1;
        }
        (seen >= count).then_some(())
    });
    got
}

/// The overview's walk: a 3-partition topic, keyed messages with delivery reports (one
/// customer's transactions in one partition), read back from the beginning in order.
#[tokio::test(flavor = "multi_thread")]
async fn overview_walk_with_keys() {
    let brook = Brook::start(&[]);
    create_topic(&brook, "purchases", 3).await;
    let producer = producer(&brook, &[("enable.idempotence", "true"), ("acks", "all")]);
    let mut delivered = BTreeMap::new();
    for i in 0..60 {
        let key = format!("customer-{}", i % 7);
        let value = format!("transaction-{i}");
        let delivery =
            producer.send(FutureRecord::to("purchases").key(&key).payload(&value), TIMEOUT).await.expect("delivered");
        assert!(delivery.offset >= 0);
        let previous = delivered.insert(key.clone(), delivery.partition);
        assert!(previous.is_none_or(|p| p == delivery.partition), "{key} moved partitions");
    }
    let got = consume(&brook, "purchases", 3, 60);
    assert_eq!(got.values().map(Vec::len).sum::<usize>(), 60);
    for (partition, messages) in &got {
        let offsets: Vec<i64> = messages.iter().map(|m| m.0).collect();
        assert_eq!(offsets, (0..messages.len() as i64).collect::<Vec<_>>(), "offsets of partition {partition}");
        for (_, key, _) in messages {
            assert_eq!(delivered[key], *partition, "{key} read from another partition");
        }
        // Within a partition, each customer's transactions keep their order.
        let numbers: Vec<usize> =
            messages.iter().map(|(_, _, v)| v.trim_start_matches("transaction-").parse().expect("n")).collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "partition {partition} out of order: {numbers:?}");
    }
}

/// Every compression codec librdkafka has, stored as sent and read back.
#[tokio::test(flavor = "multi_thread")]
async fn every_compression_codec() {
    let brook = Brook::start(&[]);
    create_topic(&brook, "codecs", 1).await;
    let codecs = ["none", "gzip", "snappy", "lz4", "zstd"];
    for codec in codecs {
        let producer = producer(&brook, &[("compression.type", codec), ("linger.ms", "20")]);
        let sends: Vec<_> = (0..50)
            .map(|i| {
                let value = format!("{codec}-{i}-{}", "x".repeat(100));
                let producer = producer.clone();
                async move { producer.send(FutureRecord::<(), _>::to("codecs").payload(&value), TIMEOUT).await }
            })
            .collect();
        for result in futures::future::join_all(sends).await {
            result.expect("delivered");
        }
    }
    let got = consume(&brook, "codecs", 1, 250);
    let values: Vec<&str> = got[&0].iter().map(|(_, _, v)| v.as_str()).collect();
    for codec in codecs {
        assert_eq!(values.iter().filter(|v| v.starts_with(&format!("{codec}-"))).count(), 50, "{codec}");
    }
}

/// acks=0 gets no response yet lands; acks=1 answers with offsets.
#[tokio::test(flavor = "multi_thread")]
async fn acks_zero_and_one() {
    let brook = Brook::start(&[]);
    create_topic(&brook, "acks", 1).await;
    for acks in ["0", "1"] {
        let producer = producer(&brook, &[("acks", acks)]);
        for i in 0..10 {
            let value = format!("acks{acks}-{i}");
            producer.send(FutureRecord::<(), _>::to("acks").payload(&value), TIMEOUT).await.expect("sent");
        }
    }
    let got = consume(&brook, "acks", 1, 20);
    assert_eq!(got[&0].len(), 20);
}

/// Bad requests get Kafka's error codes: replication factor above the broker count, an
/// invalid name, a duplicate topic.
#[tokio::test(flavor = "multi_thread")]
async fn create_topic_errors() {
    let brook = Brook::start(&[]);
    let admin = admin(&brook);
    let options = AdminOptions::new();
    let results = admin
        .create_topics(
            &[
                NewTopic::new("replicated", 1, TopicReplication::Fixed(3)),
                NewTopic::new("bad name!", 1, TopicReplication::Fixed(1)),
                NewTopic::new("fine", 2, TopicReplication::Fixed(1)),
            ],
            &options,
        )
        .await
        .expect("request");
    assert_eq!(results[0], Err(("replicated".into(), RDKafkaErrorCode::InvalidReplicationFactor)));
    assert_eq!(results[1], Err(("bad name!".into(), RDKafkaErrorCode::InvalidTopic)));
    assert_eq!(results[2], Ok("fine".into()));
    let again = admin.create_topics(&[NewTopic::new("fine", 2, TopicReplication::Fixed(1))], &options).await;
    assert_eq!(again.expect("request")[0], Err(("fine".into(), RDKafkaErrorCode::TopicAlreadyExists)));
    let deleted = admin.delete_topics(&["fine", "missing"], &options).await.expect("request");
    assert_eq!(deleted[0], Ok("fine".into()));
    assert_eq!(deleted[1], Err(("missing".into(), RDKafkaErrorCode::UnknownTopicOrPartition)));
}

/// Data survives a clean restart (SIGTERM) and a crash (kill -9) of the broker.
#[tokio::test(flavor = "multi_thread")]
async fn data_survives_restart_and_crash() {
    let mut brook = Brook::start(&[]);
    let dir = brook.take_dir().expect("data dir");
    create_topic(&brook, "durable", 2).await;
    let send_all = |brook: &Brook, from: usize| {
        let producer = producer(brook, &[("acks", "all"), ("enable.idempotence", "true")]);
        async move {
            for i in from..from + 20 {
                let key = format!("k{}", i % 4);
                let value = format!("v{i}");
                producer.send(FutureRecord::to("durable").key(&key).payload(&value), TIMEOUT).await.expect("delivered");
            }
        }
    };
    send_all(&brook, 0).await;
    assert_eq!(brook.stop(), Some(0), "clean shutdown exits 0");
    let mut brook = Brook::start_in(dir.path(), &[]);
    send_all(&brook, 20).await;
    brook.kill();
    let brook = Brook::start_in(dir.path(), &[]);
    let got = consume(&brook, "durable", 2, 40);
    let mut values: Vec<usize> =
        got.values().flatten().map(|(_, _, v)| v.trim_start_matches('v').parse().expect("n")).collect();
    values.sort_unstable();
    assert_eq!(values, (0..40).collect::<Vec<_>>(), "every acknowledged record, once");
}

/// Producing to a topic that does not exist (auto-creation off) fails cleanly.
#[tokio::test(flavor = "multi_thread")]
async fn unknown_topic_without_auto_create() {
    let brook = Brook::start(&["auto.create.topics.enable=false"]);
    let producer = producer(&brook, &[("message.timeout.ms", "2000")]);
    let result = producer.send(FutureRecord::<(), _>::to("nowhere").payload("x"), Duration::from_secs(5)).await;
    match result {
        Err((KafkaError::MessageProduction(code), _)) => {
            assert!(
                matches!(
                    code,
                    RDKafkaErrorCode::UnknownTopicOrPartition
                        | RDKafkaErrorCode::MessageTimedOut
                        | RDKafkaErrorCode::UnknownTopic
                ),
                "{code:?}"
            );
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}
