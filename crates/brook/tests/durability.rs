//! Crashes and retention with real clients: kill -9 under idempotent acks=all producers, and
//! time-based retention moving the log start under a consumer.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::{Brook, eventually, free_port};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(60);

async fn create_topic(bootstrap: &str, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("admin");
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let results = admin.create_topics(&[topic], &AdminOptions::new()).await.expect("create");
    assert_eq!(results, vec![Ok(name.to_string())]);
}

fn consumer(bootstrap: &str, reset: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "durability")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", reset)
        .create()
        .expect("consumer")
}

/// Several idempotent acks=all producers keep sending while the broker is killed with -9 and
/// restarted on the same port; they retry, and afterwards every acknowledged record is there
/// exactly once, in each producer's order.
#[tokio::test(flavor = "multi_thread")]
async fn kill_nine_under_idempotent_producers() {
    let port = free_port();
    let listener = format!("listeners=PLAINTEXT://127.0.0.1:{port}");
    let mut brook = Brook::start(&[&listener]);
    let dir = brook.take_dir().expect("dir");
    create_topic(&brook.addr, "crash", 3, &[]).await;
    let producers = 3;
    let per_producer = 400;
    let bootstrap = brook.addr.clone();
    let tasks: Vec<_> = (0..producers)
        .map(|p| {
            let producer: FutureProducer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("enable.idempotence", "true")
                .set("acks", "all")
                .set("linger.ms", "2")
                .set("message.timeout.ms", "60000")
                .set("reconnect.backoff.max.ms", "200")
                .create()
                .expect("producer");
            tokio::spawn(async move {
                let key = format!("producer-{p}");
                let sends: Vec<_> = (0..per_producer)
                    .map(|i| {
                        let (producer, key) = (producer.clone(), key.clone());
                        async move {
                            let value = format!("{i}");
                            let sent =
                                producer.send(FutureRecord::to("crash").key(&key).payload(&value), TIMEOUT).await;
                            (i, sent.is_ok())
                        }
                    })
                    .collect();
                let mut acked = Vec::new();
                for (i, ok) in futures::future::join_all(sends).await {
                    if ok {
                        acked.push(i);
                    }
                }
                (key, acked)
            })
        })
        .collect();
    // Let some records land, then kill the broker mid-stream and bring it back.
    let probe = consumer(&brook.addr, "earliest");
    eventually(TIMEOUT, "some records acknowledged", || {
        let mut stored = 0;
        for p in 0..3 {
            stored += probe.fetch_watermarks("crash", p, Duration::from_secs(1)).ok()?.1;
        }
        (stored > 100).then_some(())
    });
    drop(probe);
    brook.kill();
    let brook = Brook::start_in(dir.path(), &[&listener]);
    let mut acked: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for task in tasks {
        let (key, ids) = task.await.expect("producer task");
        acked.insert(key, ids);
    }
    let total: usize = acked.values().map(Vec::len).sum();
    assert!(total > 0, "nothing was acknowledged");

    let consumer = consumer(&brook.addr, "earliest");
    let mut assignment = TopicPartitionList::new();
    for p in 0..3 {
        assignment.add_partition_offset("crash", p, Offset::Beginning).expect("assign");
    }
    consumer.assign(&assignment).expect("assign");
    let mut seen: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut stored = 0;
    let expected_max = producers * per_producer;
    eventually(TIMEOUT, "every acknowledged record read back", || {
        while let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let m = message.expect("consume");
            let key = String::from_utf8_lossy(m.key().expect("key")).to_string();
            let value: usize = String::from_utf8_lossy(m.payload().expect("value")).parse().expect("number");
            seen.entry(key).or_default().push(value);
            stored += 1;
        }
        let complete = acked.iter().all(|(key, ids)| {
            let got = seen.get(key).map(Vec::as_slice).unwrap_or_default();
            ids.iter().all(|i| got.contains(i))
        });
        (complete || stored > expected_max).then_some(())
    });
    for (key, ids) in &acked {
        let got = &seen[key];
        assert!(got.windows(2).all(|w| w[0] < w[1]), "{key}: duplicates or reordering in {got:?}");
        for i in ids {
            assert!(got.contains(i), "{key}: acknowledged record {i} lost");
        }
    }
}

/// Old segments go by retention.ms; the log start moves; a consumer asking for a deleted
/// offset gets OFFSET_OUT_OF_RANGE, or with auto.offset.reset=earliest resets and reads on.
#[tokio::test(flavor = "multi_thread")]
async fn retention_moves_log_start() {
    let brook = Brook::start(&["log.retention.check.interval.ms=100"]);
    create_topic(&brook.addr, "expiring", 1, &[("segment.ms", "1000"), ("retention.ms", "5000")]).await;
    let producer: FutureProducer =
        ClientConfig::new().set("bootstrap.servers", &brook.addr).create().expect("producer");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    for (value, timestamp) in [("old", now - 60_000), ("new", now)] {
        producer
            .send(FutureRecord::<(), _>::to("expiring").payload(value).timestamp(timestamp), TIMEOUT)
            .await
            .expect("delivered");
    }
    let probe = consumer(&brook.addr, "earliest");
    eventually(TIMEOUT, "retention to delete the old segment", || {
        let (low, high) = probe.fetch_watermarks("expiring", 0, Duration::from_secs(1)).ok()?;
        (low == 1 && high == 2).then_some(())
    });

    let strict = consumer(&brook.addr, "error");
    let mut at_zero = TopicPartitionList::new();
    at_zero.add_partition_offset("expiring", 0, Offset::Offset(0)).expect("assign");
    strict.assign(&at_zero).expect("assign");
    let error = eventually(TIMEOUT, "an out-of-range error", || match strict.poll(Duration::from_millis(200)) {
        Some(Err(e)) => Some(e),
        _ => None,
    });
    assert!(
        matches!(
            error,
            KafkaError::MessageConsumption(RDKafkaErrorCode::AutoOffsetReset | RDKafkaErrorCode::OffsetOutOfRange)
        ),
        "{error:?}"
    );

    let resetting = consumer(&brook.addr, "earliest");
    resetting.assign(&at_zero).expect("assign");
    let message =
        eventually(TIMEOUT, "a record after the reset", || match resetting.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => Some((m.offset(), m.payload().map(<[u8]>::to_vec))),
            _ => None,
        });
    assert_eq!(message, (1, Some(b"new".to_vec())));
}
