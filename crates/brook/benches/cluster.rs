//! The cluster's figures (issue 11's targets), on real `brook server` processes on loopback:
//!
//! - failover: kill -9 of the active controller until CreateTopics succeeds again through a
//!   survivor, p50/p99/max over `BENCH_ROUNDS` rounds (default 50);
//! - churn: 1,000 topic creations while the active controller is killed and restarted 20
//!   times; every acknowledged topic must be in every node's metadata, and the three nodes'
//!   metadata (as Metadata answers it) must hash the same;
//! - restart: a node of a cluster whose metadata holds 10,000 partitions, from spawn to serving;
//! - produce: `brook perf produce` into a 6-partition RF=1 topic on three nodes and on one,
//!   with the brokers' CPU seconds per million records (read from /proc).
//!
//!   cargo bench -p brook --bench cluster

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::cluster::{Cluster, SETTLE};
use common::wire::{Conn, create_topic_code};
use common::{Brook, cpu_seconds, eventually};
use kafka_protocol::messages::{ApiKey, DescribeClusterRequest, MetadataRequest, ResponseKind};

fn main() {
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(50);
    failover(rounds);
    churn(1_000, 20);
    restart(10_000);
    produce(1_000_000);
}

/// (controller id, live broker ids) as the broker at `addr` answers DescribeCluster.
fn describe(addr: &str) -> Option<(i32, BTreeSet<i32>)> {
    let mut conn = Conn::try_open(addr)?;
    match conn.call(ApiKey::DescribeCluster, 0, &DescribeClusterRequest::default()) {
        ResponseKind::DescribeCluster(r) => {
            Some((r.controller_id.0, r.brokers.iter().map(|b| b.broker_id.0).collect()))
        }
        _ => None,
    }
}

/// CreateTopics of one topic: the error code (-1 if the broker could not be reached).
fn create(addr: &str, name: &str, partitions: i32) -> i16 {
    Conn::try_open(addr).and_then(|mut conn| create_topic_code(&mut conn, name, partitions)).unwrap_or(-1)
}

fn wait_all_live(cluster: &Cluster) {
    let addr = cluster.nodes.iter().find(|n| n.brook.is_some()).expect("a running node").addr();
    eventually(SETTLE, "every broker live", || describe(&addr).filter(|(_, b)| b.len() == cluster.nodes.len()));
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn failover(rounds: usize) {
    let mut cluster = Cluster::start(3, &[]);
    wait_all_live(&cluster);
    let mut times = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let (controller, _) = describe(&cluster.node(1).addr()).expect("describe");
        let survivor = cluster.nodes.iter().find(|n| n.id != controller).expect("a survivor").addr();
        let killed = Instant::now();
        cluster.kill(controller);
        let mut attempt = 0;
        while create(&survivor, &format!("failover-{round}-{attempt}"), 1) != 0 {
            attempt += 1;
        }
        times.push(killed.elapsed());
        cluster.restart(controller);
        wait_all_live(&cluster);
    }
    times.sort();
    println!(
        "failover: kill -9 of the active controller to CreateTopics succeeding, {rounds} rounds: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times.last().expect("rounds").as_secs_f64() * 1e3,
    );
}

/// Every topic with its id and each partition's replicas, as a node's Metadata answers.
fn metadata_view(addr: &str) -> BTreeMap<String, (String, Vec<Vec<i32>>)> {
    let mut conn = Conn::open(addr);
    match conn.call(ApiKey::Metadata, 12, &MetadataRequest::default().with_topics(None)) {
        ResponseKind::Metadata(r) => r
            .topics
            .iter()
            .map(|t| {
                let mut partitions: Vec<_> = t
                    .partitions
                    .iter()
                    .map(|p| (p.partition_index, p.replica_nodes.iter().map(|b| b.0).collect::<Vec<_>>()))
                    .collect();
                partitions.sort();
                let name = t.name.as_ref().map(|n| n.to_string()).unwrap_or_default();
                (name, (t.topic_id.to_string(), partitions.into_iter().map(|(_, r)| r).collect()))
            })
            .collect(),
        other => panic!("unexpected {other:?}"),
    }
}

fn churn(creations: usize, kills: usize) {
    let mut cluster = Cluster::start(3, &[]);
    wait_all_live(&cluster);
    let addrs: Vec<String> = cluster.nodes.iter().map(|n| n.addr()).collect();
    let created = Arc::new(AtomicUsize::new(0));
    let creator = {
        let created = created.clone();
        std::thread::spawn(move || {
            let mut acknowledged = Vec::new();
            let started = Instant::now();
            for i in 0..creations {
                let name = format!("churn-{i}");
                // Round robin over the nodes; a dead one or an error is retried on the next. An
                // unacknowledged attempt may still have created the topic: TOPIC_ALREADY_EXISTS
                // on a retry counts as created.
                for attempt in 0.. {
                    match create(&addrs[(i + attempt) % addrs.len()], &name, 1) {
                        0 | 36 => break,
                        _ => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
                acknowledged.push(name);
                created.fetch_add(1, Ordering::Relaxed);
            }
            (acknowledged, started.elapsed())
        })
    };
    // One kill -9 of the active controller (and its restart) every creations / kills topics.
    let mut killed = 0;
    while killed < kills {
        if created.load(Ordering::Relaxed) < (killed + 1) * creations / (kills + 1) {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let running = cluster.nodes.iter().filter(|n| n.brook.is_some());
        let Some((controller, _)) = running.clone().find_map(|n| describe(&n.addr())).filter(|(c, _)| *c > 0) else {
            continue;
        };
        cluster.kill(controller);
        killed += 1;
        cluster.restart(controller);
    }
    let (acknowledged, elapsed) = creator.join().expect("creator");
    wait_all_live(&cluster);
    let views: Vec<_> = eventually(SETTLE, "the same metadata on every node", || {
        let views: Vec<_> = cluster.nodes.iter().map(|n| metadata_view(&n.addr())).collect();
        views.iter().all(|v| *v == views[0]).then_some(views)
    });
    let missing = acknowledged.iter().filter(|name| !views[0].contains_key(*name)).count();
    let hashes: Vec<u64> = views
        .iter()
        .map(|v| {
            let mut h = DefaultHasher::new();
            v.hash(&mut h);
            h.finish()
        })
        .collect();
    println!(
        "churn: {} topics acknowledged in {:.1} s across {killed} controller kills; missing afterwards: {missing}; \
         metadata hashes {:x?} ({})",
        acknowledged.len(),
        elapsed.as_secs_f64(),
        hashes,
        if hashes.iter().all(|h| *h == hashes[0]) { "identical" } else { "DIFFERENT" },
    );
}

fn restart(partitions: i32) {
    let mut cluster = Cluster::start(3, &[]);
    wait_all_live(&cluster);
    let addr = cluster.node(1).addr();
    let per_topic = 100;
    for t in 0..partitions / per_topic {
        assert_eq!(create(&addr, &format!("wide-{t}"), per_topic), 0);
    }
    let mut times = Vec::new();
    for _ in 0..5 {
        assert_eq!(cluster.stop(3), Some(0));
        let started = Instant::now();
        cluster.restart(3);
        times.push(started.elapsed());
        wait_all_live(&cluster);
    }
    times.sort();
    let local = std::fs::read_dir(&cluster.node(3).data).expect("data dir").count();
    println!(
        "restart: a node of a cluster whose metadata holds {partitions} partitions ({local} entries in its data dir), spawn to serving: median {:.0} ms, max {:.0} ms",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        times.last().expect("runs").as_secs_f64() * 1e3,
    );
}

fn perf_produce(bootstrap: &str, records: usize) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_brook"))
        .args(["perf", "produce", "--topic", "load", "--num-records", &records.to_string(), "--record-size", "100"])
        .args(["--throughput", "-1", "--producer-props", &format!("bootstrap.servers={bootstrap}"), "acks=all"])
        .output()
        .expect("brook perf produce");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().last().unwrap_or_default().to_string()
}

fn produce(records: usize) {
    let single = Brook::start(&["console.enabled=false"]);
    assert_eq!(create(&single.addr, "load", 6), 0);
    let pids = [single.pid()];
    let before: f64 = pids.iter().map(|p| cpu_seconds(*p)).sum();
    let summary = perf_produce(&single.addr, records);
    let cpu = pids.iter().map(|p| cpu_seconds(*p)).sum::<f64>() - before;
    println!("produce, one node: {summary}; broker CPU {:.2} s per million records", cpu * 1e6 / records as f64);
    drop(single);

    let cluster = Cluster::start(3, &[]);
    wait_all_live(&cluster);
    assert_eq!(create(&cluster.node(1).addr(), "load", 6), 0);
    let pids: Vec<u32> = cluster.nodes.iter().map(|n| n.brook.as_ref().expect("running").pid()).collect();
    let before: f64 = pids.iter().map(|p| cpu_seconds(*p)).sum();
    let summary = perf_produce(&cluster.bootstrap(), records);
    let cpu = pids.iter().map(|p| cpu_seconds(*p)).sum::<f64>() - before;
    println!("produce, three nodes: {summary}; brokers' CPU {:.2} s per million records", cpu * 1e6 / records as f64);
}
