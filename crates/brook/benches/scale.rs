//! Scale on one node (issue 19's targets), on a real `brook server` process:
//!
//! - partitions: for each count in `BENCH_PARTITIONS` (default 1000,10000,100000; 0 skips), topics of
//!   1,000 partitions are created and each partition gets one record; the broker is stopped
//!   and started again, and the figures are the time from the start until Metadata lists every
//!   partition and until every log is open (DescribeLogDirs answers: Brook opens the logs on
//!   disk in the background once it serves), RSS and open files then (the log files under the
//!   ceiling `log.max.open.files`), and how long the clean stop before took;
//! - active partitions: an acks=all librdkafka producer writes `BENCH_RECORDS` (default 200,000; 0 skips)
//!   records of 100 bytes round robin over 10,000 partitions, then over 1: records/s and p99
//!   acknowledgement latency, and a consumer reading them all back, records/s;
//! - connections: 10,000 idle connections (each asked ApiVersions once): RSS per connection;
//! - log size: for each size in `BENCH_LOG_GIB` (default 1,4; 0 skips) one partition with 64 MiB
//!   segments and an index entry every 512 bytes (1 KiB batches, one entry each), restarted and
//!   read at 2,000 random offsets: RSS then.
//!
//! Apache Kafka 4.4 (one node, default settings) runs the partitions part beside it, where the
//! open-file limit lets it (`BENCH_KAFKA=0` skips it); Brook's log files open are under its
//! ceiling `log.max.open.files=4000`, Kafka has none. `BENCH_KEEP=1` keeps (and prints) the
//! data directory of Brook's partitions part, to start a broker on it by hand.
//!
//!   cargo bench -p brook --bench scale

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use brook_log::batch::build;
use common::kafka::KafkaCluster;
use common::wire::{Conn, now_ms};
use common::{Brook, open_files_under};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, CreatePartitionsRequest, CreateTopicsRequest, DescribeLogDirsRequest, MetadataRequest,
    ProduceRequest, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const PER_TOPIC: i32 = 1000;

fn setting(key: &str, default: &str) -> Vec<u64> {
    std::env::var(key).unwrap_or_else(|_| default.into()).split(',').filter_map(|v| v.trim().parse().ok()).collect()
}

fn main() {
    let records = setting("BENCH_RECORDS", "200000")[0] as usize;
    println!(
        "broker partitions   start-up to Metadata   to every log open   RSS        open log files       clean stop before"
    );
    let kafka = std::env::var("BENCH_KAFKA").as_deref() != Ok("0");
    for count in setting("BENCH_PARTITIONS", "1000,10000,100000").into_iter().filter(|c| *c > 0) {
        partitions(count as usize);
        if kafka {
            partitions_kafka(count as usize);
        }
    }
    if records > 0 {
        active_partitions(records);
    }
    connections(10_000);
    println!("log size   RSS after 2,000 random reads   segments");
    for gib in setting("BENCH_LOG_GIB", "1,4").into_iter().filter(|g| *g > 0) {
        log_size(gib);
    }
}

fn name(text: &str) -> TopicName {
    TopicName(StrBytes::from_string(text.to_string()))
}

/// Resident memory of a process, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    line.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()).expect("kB") * 1024
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1 << 20) as f64)
}

fn listed_partitions(conn: &mut Conn) -> usize {
    let ResponseKind::Metadata(m) = conn.call(ApiKey::Metadata, 12, &MetadataRequest::default().with_topics(None))
    else {
        panic!("not metadata")
    };
    m.topics.iter().filter(|t| t.name.as_ref().is_some_and(|n| n.starts_with("p-"))).map(|t| t.partitions.len()).sum()
}

/// Creates `count` partitions (topics of `PER_TOPIC`) and writes one record to each; the
/// number of topics.
fn fill(addr: &str, count: usize) -> usize {
    let mut conn = Conn::open(addr);
    let topics = count.div_ceil(PER_TOPIC as usize);
    for t in 0..topics {
        let topic = format!("p-{t}");
        let request = CreateTopicsRequest::default().with_timeout_ms(600_000).with_topics(vec![
            CreatableTopic::default().with_name(name(&topic)).with_num_partitions(PER_TOPIC).with_replication_factor(1),
        ]);
        let ResponseKind::CreateTopics(r) = conn.call(ApiKey::CreateTopics, 7, &request) else { panic!() };
        assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
        let data = (0..PER_TOPIC)
            .map(|p| PartitionProduceData::default().with_index(p).with_records(Some(build::simple(now_ms(), 1, 10))))
            .collect();
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(60_000)
            .with_topic_data(vec![TopicProduceData::default().with_name(name(&topic)).with_partition_data(data)]);
        // A broker that has just created the topic may not lead its partitions yet (Kafka).
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let ResponseKind::Produce(r) = conn.call(ApiKey::Produce, 9, &request) else { panic!() };
            if r.responses[0].partition_responses.iter().all(|p| p.error_code == 0) {
                break;
            }
            assert!(Instant::now() < deadline, "{topic} not writable after 120 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    topics
}

/// Waits until Metadata at `addr` (a broker that serves) lists `partitions` partitions of the
/// filled topics.
fn await_listed(addr: &str, partitions: usize) {
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut conn = Conn::open(addr);
    while listed_partitions(&mut conn) < partitions {
        assert!(Instant::now() < deadline, "{addr} does not list {partitions} partitions after 600 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until every log at `addr` is open: DescribeLogDirs lists all (Brook answers it once
/// its background opener is done; Kafka opens all before it serves).
fn await_every_log_open(addr: &str) {
    let mut conn = Conn::open(addr);
    let request = DescribeLogDirsRequest::default().with_topics(None);
    let ResponseKind::DescribeLogDirs(r) = conn.call(ApiKey::DescribeLogDirs, 4, &request) else { panic!() };
    assert_eq!(r.error_code, 0);
}

/// One row; `started` holds the times from the start to Metadata listing all and to every log
/// open. RSS and open files are taken once every log is open.
fn print_partitions_row(
    broker: &str,
    partitions: usize,
    started: (Duration, Duration),
    pid: u32,
    data: &std::path::Path,
    stopped: Duration,
) {
    let (rss, open) = (rss(pid), open_files_under(pid, data));
    println!(
        "{broker:<6} {partitions:>10}   {:>17.2} s   {:>14.2} s   {:>9}  {open:>15}       {:>6.2} s",
        started.0.as_secs_f64(),
        started.1.as_secs_f64(),
        mib(rss),
        stopped.as_secs_f64()
    );
}

fn partitions(count: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    if std::env::var_os("BENCH_KEEP").is_some() {
        println!("the broker's data stays in {}", dir.path().display());
    }
    let overrides = ["console.enabled=false", "log.max.open.files=4000"];
    let mut brook = Brook::start_in(dir.path(), &overrides);
    let topics = fill(&brook.addr, count);
    let stopping = Instant::now();
    assert_eq!(brook.stop_within(Duration::from_secs(600)), Some(0));
    let stopped = stopping.elapsed();
    let started = Instant::now();
    let brook = Brook::start_in(dir.path(), &overrides);
    await_listed(&brook.addr, topics * PER_TOPIC as usize);
    let listed = started.elapsed();
    await_every_log_open(&brook.addr);
    let times = (listed, started.elapsed());
    print_partitions_row("Brook", topics * PER_TOPIC as usize, times, brook.pid(), dir.path(), stopped);
    if std::env::var_os("BENCH_KEEP").is_some() {
        drop(brook);
        let _ = dir.keep();
    }
}

/// The same with one Apache Kafka 4.4 node (default settings, 512 MiB heap). Kafka keeps every
/// segment of every partition open, so it cannot hold more partitions than the open-file limit.
fn partitions_kafka(count: usize) {
    let soft = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft);
    if count as u64 + 1000 > soft {
        println!("Kafka  {count:>10}   not run: one open file per partition passes the open-file limit of {soft}");
        return;
    }
    let mut kafka = KafkaCluster::start(1, &["offsets.topic.replication.factor=1"]);
    let addr = kafka.nodes[0].addr.clone();
    let topics = fill(&addr, count);
    let stopping = Instant::now();
    kafka.stop(1);
    let stopped = stopping.elapsed();
    let started = Instant::now();
    kafka.restart(1);
    await_listed(&addr, topics * PER_TOPIC as usize);
    let listed = started.elapsed();
    await_every_log_open(&addr);
    let node = &kafka.nodes[0];
    print_partitions_row(
        "Kafka",
        topics * PER_TOPIC as usize,
        (listed, started.elapsed()),
        node.pid(),
        &node.data_dir(),
        stopped,
    );
}

fn active_partitions(records: usize) {
    let brook = Brook::start(&["console.enabled=false", "num.partitions=1"]);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut conn = Conn::open(&brook.addr);
    for (topic, partitions) in [("wide", 10_000), ("narrow", 1)] {
        // A request creates at most 10,000 metadata records (Kafka's bound): the topic first,
        // then its other partitions.
        let first = partitions.min(5_000);
        let request = CreateTopicsRequest::default().with_timeout_ms(600_000).with_topics(vec![
            CreatableTopic::default().with_name(name(topic)).with_num_partitions(first).with_replication_factor(1),
        ]);
        let ResponseKind::CreateTopics(r) = conn.call(ApiKey::CreateTopics, 7, &request) else { panic!() };
        assert_eq!(r.topics[0].error_code, 0);
        if partitions > first {
            let request = CreatePartitionsRequest::default()
                .with_timeout_ms(600_000)
                .with_topics(vec![CreatePartitionsTopic::default().with_name(name(topic)).with_count(partitions)]);
            let ResponseKind::CreatePartitions(r) = conn.call(ApiKey::CreatePartitions, 3, &request) else { panic!() };
            assert_eq!(r.results[0].error_code, 0, "{:?}", r.results[0].error_message);
        }
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &brook.addr)
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("queue.buffering.max.messages", "1000000")
            .create()
            .expect("producer");
        let value = vec![b'x'; 100];
        let started = Instant::now();
        let mut latencies: Vec<Duration> = runtime.block_on(async {
            let mut sends = Vec::with_capacity(records);
            for i in 0..records {
                let record =
                    FutureRecord::<(), _>::to(topic).payload(&value).partition((i % partitions as usize) as i32);
                let sent_at = Instant::now();
                let delivery = producer.send_result(record).expect("queue");
                sends.push(async move {
                    delivery.await.expect("delivered").expect("acknowledged");
                    sent_at.elapsed()
                });
            }
            futures::future::join_all(sends).await
        });
        let produce_rate = records as f64 / started.elapsed().as_secs_f64();
        latencies.sort();
        let p99 = latencies[latencies.len() * 99 / 100];
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brook.addr)
            .set("group.id", "scale-bench")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut assignment = TopicPartitionList::new();
        for p in 0..partitions {
            assignment.add_partition_offset(topic, p, Offset::Beginning).expect("assign");
        }
        consumer.assign(&assignment).expect("assign");
        let started = Instant::now();
        let mut read = 0;
        while read < records {
            if let Some(message) = consumer.poll(Duration::from_secs(10)) {
                message.expect("message");
                read += 1;
            }
            assert!(started.elapsed() < Duration::from_secs(600), "read {read} of {records}");
        }
        let fetch_rate = records as f64 / started.elapsed().as_secs_f64();
        println!(
            "{partitions:>6} active partitions: produce {produce_rate:>9.0} records/s (acks=all, p99 {:.1} ms), fetch {fetch_rate:>9.0} records/s",
            p99.as_secs_f64() * 1000.0
        );
    }
}

fn connections(count: usize) {
    let brook = Brook::start(&["console.enabled=false"]);
    let before = rss(brook.pid());
    let mut conns: Vec<Conn> = Vec::with_capacity(count);
    for _ in 0..count {
        let mut conn = Conn::open(&brook.addr);
        let ResponseKind::ApiVersions(_) = conn.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()) else {
            panic!()
        };
        conns.push(conn);
    }
    let after = rss(brook.pid());
    println!(
        "{count} idle connections: RSS {} -> {}, {:.1} KiB per connection",
        mib(before),
        mib(after),
        after.saturating_sub(before) as f64 / count as f64 / 1024.0
    );
}

fn log_size(gib: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let overrides = ["console.enabled=false", "log.segment.bytes=67108864", "log.index.interval.bytes=512"];
    let mut brook = Brook::start_in(dir.path(), &overrides);
    let mut conn = Conn::open(&brook.addr);
    common::wire::create_topic(&mut conn, "big", 1);
    // Batches of ~1 KiB (one index entry each), 64 requests in flight at a time.
    let batch = build::simple(now_ms(), 10, 90);
    let requests = (gib << 30) / batch.len() as u64;
    let request = ProduceRequest::default().with_acks(1).with_timeout_ms(60_000).with_topic_data(vec![
        TopicProduceData::default()
            .with_name(name("big"))
            .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(batch))]),
    ]);
    let mut in_flight = 0;
    for sent in 0..requests {
        conn.send(ApiKey::Produce, 9, &request);
        in_flight += 1;
        if in_flight == 64 || sent + 1 == requests {
            for _ in 0..in_flight {
                let (_, ResponseKind::Produce(r)) = conn.receive(ApiKey::Produce, 9).expect("answer") else { panic!() };
                assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
            }
            in_flight = 0;
        }
    }
    drop(conn);
    assert_eq!(brook.stop(), Some(0));
    let brook = Brook::start_in(dir.path(), &overrides);
    let mut conn = Conn::open(&brook.addr);
    let end = requests as i64 * 10;
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..2000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let offset = (state % end as u64) as i64;
        let ResponseKind::Fetch(f) = conn.call(ApiKey::Fetch, 12, &common::wire::fetch_request("big", offset, 0))
        else {
            panic!()
        };
        assert_eq!(f.responses[0].partitions[0].error_code, 0);
    }
    let segments = std::fs::read_dir(dir.path().join("big-0"))
        .expect("partition dir")
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".log")))
        .count();
    println!("{gib:>5} GiB   {:>27}   {segments}", mib(rss(brook.pid())));
}
