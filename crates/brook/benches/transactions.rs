//! Transactions: one producer commits transactions of 100 records (100-byte values, one batch)
//! back to back for `BENCH_SECONDS` (default 10), against Brook and then against one Apache
//! Kafka node (the version `tests/kafka/pom.xml` names) in the same run; then the same data is
//! read with librdkafka, `read_committed` and `read_uncommitted`.
//!
//! The producer is a lean client (raw protocol frames: AddPartitionsToTxn, Produce with acks=all,
//! EndTxn, one at a time), so that the figure is the broker's: librdkafka itself commits about
//! ten transactions a second against either broker. Like the Java client it retries
//! CONCURRENT_TRANSACTIONS (the previous transaction's markers not yet written) after 20 ms.
//!
//!   cargo bench -p brook --bench transactions        (BENCH_KAFKA=0 skips Kafka)

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use brook_log::batch::Producer;
use brook_log::batch::build::{self, Record};
use common::Brook;
use common::kafka::Kafka;
use common::wire::{Conn, create_topic, now_ms};
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, ApiKey, EndTxnRequest, FindCoordinatorRequest, InitProducerIdRequest, ProduceRequest,
    ProducerId, ResponseKind, TopicName, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

const TOPIC: &str = "bench-txn";
const PER_TRANSACTION: usize = 100;
const TIMEOUT: Duration = Duration::from_secs(60);
/// Kafka's "try again": COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE,
/// NOT_COORDINATOR, CONCURRENT_TRANSACTIONS.
const RETRIABLE: [i16; 4] = [14, 15, 16, 51];

struct Figures {
    transactions_per_s: f64,
    committed_records_per_s: f64,
}

fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let brook = Brook::start(&[]);
    let ours = run("Brook", &brook.addr, seconds);
    drop(brook);
    if std::env::var("BENCH_KAFKA").as_deref() == Ok("0") {
        return;
    }
    let kafka = Kafka::start();
    let theirs = run("Kafka", &kafka.addr, seconds);
    drop(kafka);
    println!(
        "Brook / Kafka: transactions/s {:.2}x, read_committed records/s {:.2}x",
        ours.transactions_per_s / theirs.transactions_per_s,
        ours.committed_records_per_s / theirs.committed_records_per_s
    );
}

fn id() -> TransactionalId {
    TransactionalId(StrBytes::from_static_str("bench"))
}

/// Repeats `call` while it answers a retriable error, 20 ms apart; its last answer.
fn retried<T>(mut call: impl FnMut() -> (i16, T)) -> T {
    let started = Instant::now();
    loop {
        let (code, answer) = call();
        if code == 0 {
            return answer;
        }
        assert!(RETRIABLE.contains(&code) && started.elapsed() < TIMEOUT, "error {code}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run(who: &str, bootstrap: &str, seconds: u64) -> Figures {
    let mut conn = Conn::open(bootstrap);
    create_topic(&mut conn, TOPIC, 1);
    // One node: it is the coordinator once FindCoordinator has created __transaction_state.
    let find = FindCoordinatorRequest::default().with_key_type(1).with_key(StrBytes::from_static_str("bench"));
    retried(|| match conn.call(ApiKey::FindCoordinator, 3, &find) {
        ResponseKind::FindCoordinator(r) => (r.error_code, ()),
        other => panic!("{other:?}"),
    });
    let init = InitProducerIdRequest::default().with_transactional_id(Some(id())).with_transaction_timeout_ms(60_000);
    let (pid, epoch) = retried(|| match conn.call(ApiKey::InitProducerId, 4, &init) {
        ResponseKind::InitProducerId(r) => (r.error_code, (r.producer_id.0, r.producer_epoch)),
        other => panic!("{other:?}"),
    });
    let records: Vec<Record> =
        (0..PER_TRANSACTION).map(|_| Record { timestamp_delta: 0, key: None, value: Some(vec![b'x'; 100]) }).collect();
    let add = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(id())
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![
            AddPartitionsToTxnTopic::default()
                .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
                .with_partitions(vec![0]),
        ]);
    let end = EndTxnRequest::default()
        .with_transactional_id(id())
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(true);
    let (mut transactions, mut sequence) = (0u64, 0i32);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(seconds) {
        retried(|| match conn.call(ApiKey::AddPartitionsToTxn, 3, &add) {
            ResponseKind::AddPartitionsToTxn(r) => {
                (r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code, ())
            }
            other => panic!("{other:?}"),
        });
        let batch = build::from_producer(now_ms(), &records, Producer::transactional(pid, epoch, sequence));
        let produce = ProduceRequest::default()
            .with_transactional_id(Some(id()))
            .with_acks(-1)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
                    .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(batch))]),
            ]);
        match conn.call(ApiKey::Produce, 9, &produce) {
            ResponseKind::Produce(r) => assert_eq!(r.responses[0].partition_responses[0].error_code, 0),
            other => panic!("{other:?}"),
        }
        retried(|| match conn.call(ApiKey::EndTxn, 3, &end) {
            ResponseKind::EndTxn(r) => (r.error_code, ()),
            other => panic!("{other:?}"),
        });
        transactions += 1;
        sequence += PER_TRANSACTION as i32;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let records = transactions * PER_TRANSACTION as u64;
    let committed = read(bootstrap, "read_committed", records);
    let uncommitted = read(bootstrap, "read_uncommitted", records);
    println!(
        "{who}: {transactions} transactions of {PER_TRANSACTION} records in {elapsed:.1} s: {:.0} transactions/s, {:.0} \
         records/s; reading them: read_committed {committed:.0} records/s, read_uncommitted {uncommitted:.0} records/s \
         ({:.2}x)",
        transactions as f64 / elapsed,
        records as f64 / elapsed,
        committed / uncommitted
    );
    Figures { transactions_per_s: transactions as f64 / elapsed, committed_records_per_s: committed }
}

/// Reads every record of the topic from the start with `isolation`: records per second, from
/// the first record to the last (the consumer's start-up is not counted).
fn read(bootstrap: &str, isolation: &str, expected: u64) -> f64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench-reader")
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
        // librdkafka stops fetching for this long (default 1 s) whenever its prefetch queue
        // holds 100,000 messages, which a broker that serves fast enough makes it do.
        .set("fetch.queue.backoff.ms", "1")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(TOPIC, 0, Offset::Beginning).expect("assign");
    consumer.assign(&assignment).expect("assign");
    let deadline = Instant::now() + TIMEOUT;
    let mut first = None;
    let mut seen = 0u64;
    while seen < expected {
        assert!(Instant::now() < deadline, "{isolation}: {seen} of {expected} records read");
        if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
            first.get_or_insert_with(Instant::now);
            seen += 1;
        }
    }
    (expected - 1) as f64 / first.expect("a record").elapsed().as_secs_f64()
}
