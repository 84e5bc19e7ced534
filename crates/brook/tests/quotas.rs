//! Client quotas with real clients: set with `brook configs` and Kafka's kafka-configs, a
//! librdkafka producer over its quota slowed to it while another client keeps its speed, a
//! consumer's fetch rate held to its quota, and a client over its request quota (the broker's
//! time) throttled while another is not.

use crate::common;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::wire::{Conn, create_topic};
use crate::common::{Brook, brook_bin};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext};

const RECORD: usize = 1024;
/// The limited client's quota: 200 KiB/s.
const QUOTA: f64 = 200.0 * 1024.0;
/// How long the producers run, and from when the limited one is measured: after the first
/// quota window (3 samples of 1 s here), whose burst Kafka's rate also lets through.
const RUN: Duration = Duration::from_secs(12);
const WARM_UP: Duration = Duration::from_secs(4);

/// A broker measuring rates over 3 s, as short a window as the test can use.
fn broker() -> Brook {
    Brook::start(&["quota.window.num=3", "quota.window.size.seconds=1"])
}

fn configs(brook: &Brook, args: &str) -> String {
    let output = Command::new(brook_bin())
        .args(["configs", "--bootstrap-server", &brook.addr])
        .args(args.split_whitespace())
        .output()
        .expect("run brook configs");
    assert!(output.status.success(), "brook configs {args}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Counts acknowledged bytes, and those acknowledged after the warm-up.
struct Acked {
    started: Instant,
    total: AtomicUsize,
    after_warm_up: AtomicUsize,
}

impl ClientContext for Acked {}

impl ProducerContext for Acked {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if result.is_ok() {
            self.total.fetch_add(RECORD, Ordering::Relaxed);
            if self.started.elapsed() >= WARM_UP {
                self.after_warm_up.fetch_add(RECORD, Ordering::Relaxed);
            }
        }
    }
}

/// Produces as fast as the client lets it for `RUN` as `client_id`; bytes per second
/// acknowledged after the warm-up.
fn produce_flat_out(addr: &str, client_id: &str, topic: &str) -> f64 {
    let started = Instant::now();
    let context = Acked { started, total: AtomicUsize::new(0), after_warm_up: AtomicUsize::new(0) };
    let producer: ThreadedProducer<Acked> = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("client.id", client_id)
        .set("linger.ms", "5")
        .set("queue.buffering.max.kbytes", "512")
        .create_with_context(context)
        .expect("producer");
    let value = vec![b'q'; RECORD];
    while started.elapsed() < RUN {
        if producer.send(BaseRecord::<(), _>::to(topic).payload(&value)).is_err() {
            // The queue is full: the client is being held back.
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let bytes = producer.context().after_warm_up.load(Ordering::Relaxed);
    bytes as f64 / (RUN - WARM_UP).as_secs_f64()
}

/// One client over its produce quota is held to it (within 10%) while another, without a
/// quota, produces at the same time many times faster.
#[test]
fn a_producer_over_its_quota_is_held_to_it() {
    let brook = broker();
    let mut conn = Conn::open(&brook.addr);
    create_topic(&mut conn, "metered", 1);
    let quota = QUOTA as u64;
    configs(
        &brook,
        &format!("--alter --entity-type clients --entity-name limited --add-config producer_byte_rate={quota}"),
    );
    let described = configs(&brook, "--describe --entity-type clients");
    assert!(described.contains(&format!("client-id 'limited' are producer_byte_rate={quota}.0")), "{described}");

    let addr = brook.addr.clone();
    let free = std::thread::spawn(move || produce_flat_out(&addr, "free", "metered"));
    let limited = produce_flat_out(&brook.addr, "limited", "metered");
    let free = free.join().expect("free producer");
    println!("limited {limited:.0} B/s (quota {QUOTA:.0}), free {free:.0} B/s");
    assert!((limited - QUOTA).abs() <= QUOTA * 0.1, "limited to {limited:.0} B/s, quota {QUOTA:.0}");
    assert!(free > QUOTA * 4.0, "the client without a quota kept its speed: {free:.0} B/s");
}

/// A consumer's fetches are held to its consumer_byte_rate, set for its user (every client of
/// a PLAINTEXT listener is User:ANONYMOUS) with Kafka's own kafka-configs.
#[test]
fn a_consumer_is_held_to_its_fetch_quota() {
    let brook = broker();
    let mut conn = Conn::open(&brook.addr);
    create_topic(&mut conn, "backlog", 1);
    // A backlog of 4 MiB, far more than the quota lets through in the run, in batches of
    // 16 KiB (a fetch returns whole batches).
    let producer: ThreadedProducer<Acked> = ClientConfig::new()
        .set("bootstrap.servers", &brook.addr)
        .set("batch.size", "16384")
        .create_with_context(Acked {
            started: Instant::now(),
            total: AtomicUsize::new(0),
            after_warm_up: AtomicUsize::new(0),
        })
        .expect("producer");
    let value = vec![b'b'; RECORD];
    for _ in 0..4096 {
        while producer.send(BaseRecord::<(), _>::to("backlog").payload(&value)).is_err() {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    producer.flush(Duration::from_secs(30)).expect("backlog written");
    assert_eq!(producer.context().total.load(Ordering::Relaxed), 4096 * RECORD);

    let output = Command::new("java")
        .args(["-cp", &common::kafka::classpath(), "org.apache.kafka.tools.ConfigCommand"])
        .args(["--bootstrap-server", &brook.addr, "--alter", "--entity-type", "users", "--entity-name", "ANONYMOUS"])
        .args(["--add-config", &format!("consumer_byte_rate={}", QUOTA as u64)])
        .output()
        .expect("run kafka-configs");
    assert!(output.status.success(), "kafka-configs: {}", String::from_utf8_lossy(&output.stderr));

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brook.addr)
        .set("group.id", "metered-readers")
        // Responses of 64 KiB, so that the rate measured over a few seconds is not one
        // megabyte response more or less.
        .set("fetch.max.bytes", "65536")
        .set("message.max.bytes", "65536")
        .set("max.partition.fetch.bytes", "65536")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&["backlog"]).expect("subscribe");
    let started = Instant::now();
    let mut after_warm_up = 0usize;
    while started.elapsed() < RUN {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(50)) {
            if started.elapsed() >= WARM_UP {
                after_warm_up += m.payload().map_or(0, <[u8]>::len);
            }
        }
    }
    let rate = after_warm_up as f64 / (RUN - WARM_UP).as_secs_f64();
    println!("consumer {rate:.0} B/s (quota {QUOTA:.0})");
    assert!(rate <= QUOTA * 1.1, "the consumer read {rate:.0} B/s, quota {QUOTA:.0}");
    assert!(rate >= QUOTA * 0.5, "the consumer was not stopped altogether: {rate:.0} B/s");
}

/// Sends Metadata requests (all topics) one after another for `run`, ignoring the throttle it
/// is told (the broker mutes the connection anyway): the requests answered, and the longest
/// throttle_time_ms seen.
fn metadata_flat_out(addr: &str, client_id: &'static str, run: Duration) -> (usize, i32) {
    use kafka_protocol::messages::{ApiKey, MetadataRequest, ResponseKind};
    let mut conn = Conn::open_as(addr, client_id);
    let (started, mut answered, mut longest) = (Instant::now(), 0, 0);
    while started.elapsed() < run {
        let ResponseKind::Metadata(r) = conn.call(ApiKey::Metadata, 12, &MetadataRequest::default()) else {
            panic!("a Metadata response")
        };
        answered += 1;
        longest = longest.max(r.throttle_time_ms);
    }
    (answered, longest)
}

/// request_percentage: a client whose requests take more of the broker's time than its quota
/// (0.2% of a thread: 2 ms a second) is told to back off and muted, while a client without a
/// quota sending the same requests is answered at once.
#[test]
fn a_client_over_its_request_quota_is_throttled() {
    let brook = broker();
    let mut conn = Conn::open(&brook.addr);
    for i in 0..50 {
        create_topic(&mut conn, &format!("catalog-{i}"), 4);
    }
    configs(&brook, "--alter --entity-type clients --entity-name chatty --add-config request_percentage=0.2");
    let described = configs(&brook, "--describe --entity-type clients --entity-name chatty");
    assert!(described.contains("request_percentage=0.2"), "{described}");

    let addr = brook.addr.clone();
    let run = Duration::from_secs(6);
    let chatty = std::thread::spawn(move || metadata_flat_out(&addr, "chatty", run));
    let free = metadata_flat_out(&brook.addr, "free", run);
    let chatty = chatty.join().expect("chatty client");
    println!("chatty {chatty:?}, free {free:?} (requests answered, longest throttle ms)");
    assert!(chatty.1 > 0, "the chatty client was told to back off");
    assert_eq!(free.1, 0, "the client without a quota was never throttled");
    assert!(chatty.0 * 8 < free.0, "the chatty client was held back: {} vs {} requests", chatty.0, free.0);
}
