//! Partition replication's figures (issue 12's targets), on three real `brook server`
//! processes on loopback, side by side with a three-node Apache Kafka cluster in the same run:
//!
//! - throughput: `brook perf produce`, 100-byte records, acks=all, into 6 partitions with
//!   replication factor 1 and with replication factor 3 (`min.insync.replicas=2`);
//! - latency: produce-to-acknowledge p50 / p99 at 10,000 records/s, RF 3, acks=all;
//! - the brokers' CPU seconds per million records (all three processes, so every replica's
//!   work counts);
//! - catch-up: a follower killed while `BENCH_CATCHUP_MB` (default 1024) MB are produced,
//!   restarted, timed until it is back in the ISR.
//!
//!   cargo bench -p brook --bench replication
//!
//! `BENCH_RECORDS` sets the throughput runs' size (default 2,000,000); `BENCH_KAFKA=0` skips
//! Kafka; `BENCH_BROOK_SETTINGS` (comma-separated `key=value`) configures Brook's nodes.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::cluster::{Cluster, SETTLE};
use common::kafka::KafkaCluster;
use common::wire::topic_partitions;
use common::{cpu_seconds, eventually};

fn main() {
    let env = |key: &str, default: usize| std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let records = env("BENCH_RECORDS", 2_000_000);
    let brook = brook_figures(records);
    print_figures("Brook", &brook);
    if std::env::var("BENCH_KAFKA").as_deref() != Ok("0") {
        let kafka = kafka_figures(records);
        print_figures("Kafka", &kafka);
        println!(
            "Brook / Kafka: RF=3 throughput {:.2}x, p99 latency {:.2}x, CPU per million {:.2}x",
            brook.rf3.rate / kafka.rf3.rate,
            brook.latency.p99 / kafka.latency.p99,
            brook.rf3.cpu_per_million / kafka.rf3.cpu_per_million,
        );
    }
    catch_up(env("BENCH_CATCHUP_MB", 1024));
}

#[derive(Debug, Default)]
struct Run {
    rate: f64,
    p50: f64,
    p99: f64,
    cpu_per_million: f64,
}

struct Figures {
    rf1: Run,
    rf3: Run,
    latency: Run,
}

fn print_figures(name: &str, f: &Figures) {
    println!(
        "{name}: acks=all RF=1 {:.0} records/s ({:.2} CPU-s per million); RF=3 {:.0} records/s ({:.2} CPU-s per \
         million), RF=3 / RF=1 {:.2}; at 10,000 records/s RF=3 p50 {:.2} ms, p99 {:.2} ms",
        f.rf1.rate,
        f.rf1.cpu_per_million,
        f.rf3.rate,
        f.rf3.cpu_per_million,
        f.rf3.rate / f.rf1.rate,
        f.latency.p50,
        f.latency.p99,
    );
}

fn brook_figures(records: usize) -> Figures {
    let settings = std::env::var("BENCH_BROOK_SETTINGS").unwrap_or_default();
    let settings: Vec<&str> = settings.split(',').filter(|s| !s.is_empty()).collect();
    let cluster = Cluster::start(3, &settings);
    let bootstrap = cluster.bootstrap();
    let pids: Vec<u32> = cluster.nodes.iter().map(|n| n.brook.as_ref().expect("running").pid()).collect();
    figures(&bootstrap, &pids, records)
}

fn kafka_figures(records: usize) -> Figures {
    let kafka = KafkaCluster::start(3, &[]);
    let pids: Vec<u32> = kafka.nodes.iter().map(|n| n.pid()).collect();
    figures(&kafka.bootstrap(), &pids, records)
}

/// The three runs against one cluster, whichever it is.
fn figures(bootstrap: &str, pids: &[u32], records: usize) -> Figures {
    create_topic(bootstrap, "rf1", 6, 1);
    create_topic(bootstrap, "rf3", 6, 3);
    create_topic(bootstrap, "latency", 6, 3);
    // The clients find the leaders and the followers start fetching before anything is timed.
    for topic in ["rf1", "rf3", "latency"] {
        perf_produce(bootstrap, topic, 1_000, 100, -1, "all");
    }
    let latency = measured(pids, 100_000, || perf_produce(bootstrap, "latency", 100_000, 100, 10_000, "all"));
    Figures {
        rf1: measured(pids, records, || perf_produce(bootstrap, "rf1", records, 100, -1, "all")),
        rf3: measured(pids, records, || perf_produce(bootstrap, "rf3", records, 100, -1, "all")),
        latency,
    }
}

/// Runs `run`, adding the brokers' CPU seconds per million of `records`.
fn measured(pids: &[u32], records: usize, run: impl FnOnce() -> Run) -> Run {
    let before: f64 = pids.iter().map(|p| cpu_seconds(*p)).sum();
    let mut figures = run();
    let cpu = pids.iter().map(|p| cpu_seconds(*p)).sum::<f64>() - before;
    figures.cpu_per_million = cpu * 1e6 / records as f64;
    figures
}

/// `brook topics --create` (Kafka's flags; it works against either cluster), retried until
/// every broker has registered; replicated topics get `min.insync.replicas=2`.
fn create_topic(bootstrap: &str, topic: &str, partitions: u32, replication_factor: u32) {
    let min_isr = if replication_factor > 1 { "min.insync.replicas=2" } else { "min.insync.replicas=1" };
    eventually(SETTLE, "the topic is created", || {
        let output = Command::new(env!("CARGO_BIN_EXE_brook"))
            .args(["topics", "--create", "--topic", topic, "--bootstrap-server", bootstrap])
            .args(["--partitions", &partitions.to_string(), "--replication-factor", &replication_factor.to_string()])
            .args(["--config", min_isr])
            .output()
            .expect("brook topics");
        output.status.success().then_some(())
    });
}

/// `brook perf produce`: its summary's rate and p50 / p99 latencies.
fn perf_produce(bootstrap: &str, topic: &str, records: usize, size: usize, throughput: i64, acks: &str) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_brook"))
        .args(["perf", "produce", "--topic", topic, "--num-records", &records.to_string()])
        .args(["--record-size", &size.to_string(), "--throughput", &throughput.to_string()])
        .args(["--producer-props", &format!("bootstrap.servers={bootstrap}"), &format!("acks={acks}")])
        .output()
        .expect("brook perf produce");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout.lines().last().unwrap_or_default();
    // "N records sent, R records/sec (M MB/sec), A ms avg latency, X ms max latency, P ms 50th, ..."
    let field = |suffix: &str| -> f64 {
        summary
            .split(", ")
            .find_map(|part| part.strip_suffix(suffix).or_else(|| part.split(" (").next()?.strip_suffix(suffix)))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {suffix:?} in {summary:?}"))
    };
    Run { rate: field(" records/sec"), p50: field(" ms 50th"), p99: field(" ms 99th"), cpu_per_million: 0.0 }
}

/// (leader, ISR) of a one-partition topic as the broker at `addr` answers Metadata.
fn leader_and_isr(addr: &str, topic: &str) -> Option<(i32, Vec<i32>)> {
    let p = topic_partitions(addr, topic)?.into_iter().next()?;
    Some((p.leader_id.0, p.isr_nodes.iter().map(|b| b.0).collect()))
}

/// A follower misses `megabytes` of 10 KiB records while dead, then catches up.
fn catch_up(megabytes: usize) {
    let mut cluster = Cluster::start(3, &[]);
    let bootstrap = cluster.bootstrap();
    create_topic(&bootstrap, "catchup", 1, 3);
    let addr = cluster.node(1).addr();
    let (leader, _) =
        eventually(SETTLE, "three in sync", || leader_and_isr(&addr, "catchup").filter(|(_, isr)| isr.len() == 3));
    let follower = [1, 2, 3].into_iter().find(|id| *id != leader).expect("a follower");
    cluster.kill(follower);
    let survivor = cluster.node(leader).addr();
    let size = 10 * 1024;
    let records = megabytes * 1024 * 1024 / size;
    perf_produce(&survivor, "catchup", records, size, -1, "1");
    eventually(SETTLE, "the follower left the ISR", || {
        leader_and_isr(&survivor, "catchup").filter(|(_, isr)| !isr.contains(&follower))
    });
    let started = Instant::now();
    cluster.restart(follower);
    eventually(Duration::from_secs(600), "the follower rejoined the ISR", || {
        leader_and_isr(&survivor, "catchup").filter(|(_, isr)| isr.contains(&follower))
    });
    let seconds = started.elapsed().as_secs_f64();
    let mb = (records * size) as f64 / 1e6;
    println!(
        "catch-up: a follower {mb:.0} MB behind rejoined the ISR {seconds:.2} s after its restart: {:.0} MB/s",
        mb / seconds
    );
}
