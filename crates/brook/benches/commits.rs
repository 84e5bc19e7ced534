//! Durable offset commits per second a broker sustains, measured with a lean client (raw
//! protocol frames, one synchronous OffsetCommit in flight per committer) so that the figure is
//! the broker's, not a client library's. Each committer is its own group, as separate
//! applications are; unless said otherwise, every commit is fsynced before it is answered.
//!
//!   cargo bench -p brook --bench commits

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::Brook;
use common::wire::{Conn, create_topic};
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::{ApiKey, GroupId, OffsetCommitRequest, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;

fn commit(conn: &mut Conn, group: &str, partition: i32, offset: i64) {
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("ledger")))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(partition)
                        .with_committed_offset(offset),
                ]),
        ]);
    match conn.call(ApiKey::OffsetCommit, 8, &request) {
        ResponseKind::OffsetCommit(r) => assert_eq!(r.topics[0].partitions[0].error_code, 0),
        other => panic!("unexpected {other:?}"),
    }
}

fn main() {
    // Kafka's default spreads groups over 50 partitions of __consumer_offsets (one fsync each
    // per group commit round); with one partition, one fsync covers every group's commits.
    // log.flush.on.ack=false answers from the page cache, as Kafka does: kill -9 loses nothing,
    // a power cut may.
    for setting in ["offsets.topic.num.partitions=50", "offsets.topic.num.partitions=1", "log.flush.on.ack=false"] {
        let brook = Brook::start(&[setting]);
        create_topic(&mut Conn::open(&brook.addr), "ledger", 10);
        println!("{setting}");
        run(&brook);
    }
}

fn run(brook: &Brook) {
    for committers in [1, 10, 50] {
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..committers)
            .map(|i| {
                let (addr, stop, count) = (brook.addr.clone(), stop.clone(), count.clone());
                std::thread::spawn(move || {
                    let mut conn = Conn::open(&addr);
                    let group = format!("bench-{committers}-{i}");
                    let mut offset = 0;
                    while !stop.load(Ordering::Relaxed) {
                        offset += 1;
                        commit(&mut conn, &group, i % 10, offset);
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(500)); // warm-up: groups and connections exist
        let (before, start) = (count.load(Ordering::Relaxed), Instant::now());
        std::thread::sleep(Duration::from_secs(3));
        let rate = (count.load(Ordering::Relaxed) - before) as f64 / start.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().expect("committer");
        }
        println!("{committers:>3} synchronous committers: {rate:>8.0} commits/s");
    }
}
