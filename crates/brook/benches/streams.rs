//! Kafka Streams end to end: the overview's purchases (`BENCH_RECORDS`, default 200,000, for
//! 1,000 customers) are produced first, then `benches/streams/CountPurchases.java` (Kafka
//! Streams, the version `tests/kafka/pom.xml` names) counts them per customer through a
//! repartition topic and a state store, with `exactly_once_v2` and with `at_least_once`,
//! against Brook and then against one Apache Kafka node in the same run. The figure is the time
//! from the application's start until the counts it committed add up to every purchase.
//!
//!   cargo bench -p brook --bench streams        (BENCH_KAFKA=0 skips Kafka)

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::Brook;
use common::kafka::{Kafka, classpath};
use common::wire::{Conn, create_topic};
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

const GUARANTEES: [&str; 2] = ["exactly_once_v2", "at_least_once"];

fn main() {
    let records: u64 = std::env::var("BENCH_RECORDS").ok().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let classes = tempfile::tempdir().expect("temp dir");
    let cp = classpath();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/streams/CountPurchases.java");
    let compiled = Command::new("javac")
        .args(["-d", &classes.path().display().to_string(), "-cp", &cp])
        .arg(&source)
        .status()
        .expect("javac");
    assert!(compiled.success(), "compiling CountPurchases.java failed");
    let cp = format!("{}:{cp}", classes.path().display());
    let mut ours = Vec::new();
    for guarantee in GUARANTEES {
        let brook = Brook::start(&[]);
        ours.push(run("Brook", &brook.addr, &cp, records, guarantee));
    }
    if std::env::var("BENCH_KAFKA").as_deref() == Ok("0") {
        return;
    }
    for (guarantee, brook_ms) in GUARANTEES.iter().zip(ours) {
        let kafka = Kafka::start();
        let kafka_ms = run("Kafka", &kafka.addr, &cp, records, guarantee);
        println!(
            "Brook / Kafka, {guarantee}: time {:.2}x, throughput {:.2}x",
            brook_ms / kafka_ms,
            kafka_ms / brook_ms
        );
    }
}

/// Produces the purchases, counts them with Kafka Streams: the counting's milliseconds.
fn run(who: &str, bootstrap: &str, cp: &str, records: u64, guarantee: &str) -> f64 {
    let mut conn = Conn::open(bootstrap);
    create_topic(&mut conn, "purchases", 2);
    create_topic(&mut conn, "purchase-counts", 2);
    let producer: BaseProducer =
        ClientConfig::new().set("bootstrap.servers", bootstrap).set("linger.ms", "5").create().expect("producer");
    for i in 0..records {
        let (order, customer) = (format!("order-{i}"), format!("customer-{}", i % 1000));
        let mut record = BaseRecord::to("purchases").key(&order).payload(&customer);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    producer.poll(Duration::from_millis(1));
                    record = back;
                }
                Err((e, _)) => panic!("send: {e}"),
            }
        }
    }
    producer.flush(Duration::from_secs(60)).expect("flushed");
    let state = tempfile::tempdir().expect("state dir");
    let output = Command::new("java")
        .args(["-cp", cp, "CountPurchases", bootstrap, &records.to_string()])
        .arg(state.path())
        .arg(guarantee)
        .output()
        .expect("java");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let elapsed_ms: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("elapsed_ms="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{who} {guarantee}: {stdout}{}", String::from_utf8_lossy(&output.stderr)));
    println!(
        "{who}, {guarantee}: {records} purchases counted in {:.1} s ({:.0} records/s)",
        elapsed_ms / 1000.0,
        records as f64 / (elapsed_ms / 1000.0)
    );
    elapsed_ms
}
