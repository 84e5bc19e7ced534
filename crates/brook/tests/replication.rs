//! Partition replication with real processes: topics with replication factor 3, followers
//! copying their leaders byte for byte, acks=all answered once the in-sync replicas hold a
//! batch, the ISR shrinking when a follower freezes and growing when it is back, and
//! `min.insync.replicas` refusing acks=all writes the ISR cannot cover.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::clients::{consume, read_to_end};
use crate::common::cluster::{Cluster, SETTLE, Spec};
use crate::common::eventually;
use crate::common::wire::partition_states;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Partition 0's high watermark as `bootstrap` answers ListOffsets (-1 if it cannot).
fn high_watermark(bootstrap: &str, topic: &str) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("consumer");
    consumer.fetch_watermarks(topic, 0, Duration::from_secs(5)).map_or(-1, |(_, high)| high)
}

async fn create_topic(bootstrap: &str, topic: NewTopic<'_>) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("admin");
    let results = admin.create_topics(&[topic], &AdminOptions::new()).await.expect("create topics");
    assert!(results.iter().all(Result::is_ok), "{results:?}");
}

fn producer(bootstrap: &str, acks: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", acks)
        .set("enable.idempotence", if acks == "all" { "true" } else { "false" })
        .set("message.timeout.ms", "20000")
        .create()
        .expect("producer")
}

/// Produces `count` keyed values; returns value -> (partition, offset).
async fn produce(producer: &FutureProducer, topic: &str, prefix: &str, count: usize) -> BTreeMap<String, (i32, i64)> {
    let sends: Vec<_> = (0..count)
        .map(|i| {
            let (key, value) = (format!("customer-{}", i % 23), format!("{prefix}-{i}"));
            async move {
                let record = FutureRecord::to(topic).key(&key).payload(&value);
                let delivery = producer.send(record, TIMEOUT).await.map_err(|(e, _)| e).expect("delivered");
                (value, (delivery.partition, delivery.offset))
            }
        })
        .collect();
    futures::future::join_all(sends).await.into_iter().collect()
}

/// Every `.log` segment of `dir`, by file name.
fn segments(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else { return BTreeMap::new() };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).expect("segment")))
        .collect()
}

/// RF 3, min ISR 2: librdkafka produces with acks=all and idempotence, every partition's ISR
/// is all three brokers, a consumer group reads every acknowledged value at its offset, and
/// each partition's segments are byte-identical on the three brokers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_hold_identical_logs() {
    let cluster = Cluster::start(3, &[]);
    let bootstrap = cluster.bootstrap();
    let topic = NewTopic::new("purchases", 3, TopicReplication::Fixed(3)).set("min.insync.replicas", "2");
    create_topic(&bootstrap, topic).await;
    let states = eventually(SETTLE, "every partition has its three replicas in sync", || {
        let states = partition_states(&cluster.node(1).addr(), "purchases");
        let all_three = |ids: &Vec<i32>| {
            let mut ids = ids.clone();
            ids.sort_unstable();
            ids == vec![1, 2, 3]
        };
        states.iter().all(|(_, r, isr)| all_three(r) && all_three(isr)).then_some(states)
    });
    let leaders: std::collections::BTreeSet<i32> = states.iter().map(|(l, _, _)| *l).collect();
    assert_eq!(leaders.len(), 3, "leadership is spread: {states:?}");

    let sent = produce(&producer(&bootstrap, "all"), "purchases", "buy", 600).await;
    assert_eq!(
        consume(&bootstrap, "purchases", "readers", sent.len()).await,
        sent,
        "every value at its acknowledged offset"
    );

    for p in 0..3 {
        eventually(SETTLE, "the replicas are byte-identical", || {
            let copies: Vec<_> =
                cluster.nodes.iter().map(|n| segments(&n.data.join(format!("purchases-{p}")))).collect();
            let all_data = copies.iter().all(|c| c.values().map(Vec::len).sum::<usize>() > 0);
            (all_data && copies.windows(2).all(|w| w[0] == w[1])).then_some(())
        });
    }
}

/// One partition on brokers 2, 3 and 4 (the quorum is node 1 alone, so it survives the
/// brokers' pauses). A frozen follower leaves the ISR and acks=all carries on with two;
/// thawed, it catches up and rejoins. With two followers frozen, acks=all is refused with
/// NOT_ENOUGH_REPLICAS while acks=1 is still taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_followers_leave_the_isr_and_min_isr_guards_acks_all() {
    let settings =
        ["broker.heartbeat.interval.ms=300", "broker.session.timeout.ms=2000", "replica.lag.time.max.ms=2000"];
    let cluster = Cluster::start_split(1, 3, &settings);
    let bootstrap = cluster.bootstrap();
    let assignment: &[&[i32]] = &[&[2, 3, 4]];
    let topic = NewTopic::new("orders", 1, TopicReplication::Variable(assignment)).set("min.insync.replicas", "2");
    create_topic(&bootstrap, topic).await;
    let isr = |want: Vec<i32>| {
        let addr = cluster.node(1 + 1).addr();
        let what = format!("ISR {want:?}");
        eventually(SETTLE, &what, || (partition_states(&addr, "orders")[0].2 == want).then_some(()))
    };
    isr(vec![2, 3, 4]);
    let all = producer(&bootstrap, "all");
    let mut sent = produce(&all, "orders", "before", 50).await;

    cluster.pause(4, true);
    let paused = Instant::now();
    isr(vec![2, 3]);
    assert!(paused.elapsed() < Duration::from_secs(2 + 1) + Duration::from_secs(2), "left the ISR in time");
    sent.extend(produce(&all, "orders", "two-in-sync", 50).await);
    cluster.pause(4, false);
    isr(vec![2, 3, 4]);

    cluster.pause(3, true);
    cluster.pause(4, true);
    isr(vec![2]);
    let refused = all.send(FutureRecord::to("orders").key("k").payload("refused"), TIMEOUT).await;
    match refused {
        Err((KafkaError::MessageProduction(code), _)) => {
            assert!(matches!(code, RDKafkaErrorCode::NotEnoughReplicas | RDKafkaErrorCode::MessageTimedOut), "{code:?}")
        }
        other => panic!("acks=all must fail with one replica in sync: {other:?}"),
    }
    let one = producer(&bootstrap, "1");
    let taken = one.send(FutureRecord::to("orders").key("k").payload("acks-1"), TIMEOUT).await;
    assert!(taken.is_ok(), "acks=1 is still taken: {taken:?}");
    cluster.pause(3, false);
    cluster.pause(4, false);
    isr(vec![2, 3, 4]);
    let got = consume(&bootstrap, "orders", "readers", sent.len() + 1).await;
    for (value, at) in &sent {
        assert_eq!(got.get(value), Some(at), "{value} kept at its offset");
    }
    assert!(got.contains_key("acks-1"));
}

/// Kafka's KIP-101 case. The leader takes an acks=1 write its followers have not fetched
/// (they are frozen), then freezes itself; the followers wake, one of them is elected and
/// takes acks=all writes at the same offsets. When the old leader wakes it follows, finds
/// where its log diverged, truncates exactly the unreplicated batch and ends up byte-identical
/// to the others; every acks=all write is there, the acks=1 one is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diverged_former_leader_truncates_its_unreplicated_batch() {
    let settings =
        ["broker.heartbeat.interval.ms=300", "broker.session.timeout.ms=4000", "replica.fetch.wait.max.ms=100"];
    let cluster = Cluster::start_split(1, 3, &settings);
    let bootstrap = cluster.bootstrap();
    let assignment: &[&[i32]] = &[&[2, 3, 4]];
    let topic = NewTopic::new("ledger", 1, TopicReplication::Variable(assignment)).set("min.insync.replicas", "2");
    create_topic(&bootstrap, topic).await;
    let state = |node: i32, want: (i32, Vec<i32>)| {
        let addr = cluster.node(node).addr();
        let what = format!("leader and ISR {want:?}");
        eventually(SETTLE, &what, || {
            let (leader, _, isr) = partition_states(&addr, "ledger").remove(0);
            (leader == want.0 && isr == want.1).then_some(())
        })
    };
    state(2, (2, vec![2, 3, 4]));
    let mut sent = produce(&producer(&bootstrap, "all"), "ledger", "committed", 20).await;

    let one = producer(&cluster.node(2).addr(), "1");
    cluster.pause(3, true);
    cluster.pause(4, true);
    // A fetch the followers sent before they froze may still be waiting at the leader and
    // would carry the next batch into their socket buffers. An absence cannot be awaited:
    // outlast `replica.fetch.wait.max.ms`.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let unreplicated = FutureRecord::to("ledger").key("k").payload("unreplicated");
    let delivery = one.send(unreplicated, TIMEOUT).await.expect("acks=1 is taken by the leader alone");
    assert_eq!(delivery.offset, 20);
    cluster.pause(2, true);
    cluster.pause(3, false);
    cluster.pause(4, false);
    state(3, (3, vec![3, 4]));

    let survivors = format!("{},{}", cluster.node(3).addr(), cluster.node(4).addr());
    let after = produce(&producer(&survivors, "all"), "ledger", "new-leader", 20).await;
    let first = after.values().map(|(_, o)| *o).min();
    assert_eq!(first, Some(20), "the new leader never had the unreplicated batch");
    sent.extend(after);
    cluster.pause(2, false);
    state(3, (3, vec![2, 3, 4]));
    eventually(SETTLE, "the former leader's copy is identical", || {
        let copies = [2, 3, 4].map(|id| segments(&cluster.node(id).data.join("ledger-0")));
        copies.windows(2).all(|w| w[0] == w[1]).then_some(())
    });
    let got = consume(&bootstrap, "ledger", "readers", sent.len()).await;
    assert_eq!(got, sent, "every acks=all value at its offset, and nothing else");
}

/// Brook's durability rule across a power cut of every replica at once. The leader syncs
/// fast, its followers slowly, and acks=all writes keep coming when all three lose what they
/// had not fdatasynced. The followers come back first and one of them leads: the high
/// watermark counted only what each of them had synced, so every acknowledged record is
/// still there, at its offset. The former leader then returns and follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_power_cut_of_every_replica_keeps_what_was_acknowledged() {
    let settings = ["broker.heartbeat.interval.ms=300", "broker.session.timeout.ms=3000"];
    // Node 1 is the controller, 2 the leader on a fast disk, 3 and 4 followers on slow ones.
    let mut cluster = Cluster::start_with(Spec::split(1, 3, &settings).slow_disks(&[0, 0, 30, 30]));
    let bootstrap = cluster.bootstrap();
    let assignment: &[&[i32]] = &[&[2, 3, 4]];
    let topic = NewTopic::new("receipts", 1, TopicReplication::Variable(assignment)).set("min.insync.replicas", "2");
    create_topic(&bootstrap, topic).await;
    let addr = cluster.node(3).addr();
    eventually(SETTLE, "node 2 leads with all three in sync", || {
        let (leader, _, isr) = partition_states(&addr, "receipts").remove(0);
        (leader == 2 && isr == vec![2, 3, 4]).then_some(())
    });

    let acked = Arc::new(Mutex::new(BTreeMap::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acked, stop, producer) = (acked.clone(), stop.clone(), producer(&bootstrap, "all"));
        tokio::spawn(async move {
            let mut sends = FuturesUnordered::new();
            for i in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let value = format!("receipt-{i}");
                let record = FutureRecord::to("receipts").key("k").payload(&value).partition(0);
                if let Ok(delivery) = producer.send_result(record) {
                    sends.push(async move { (value, delivery.await) });
                }
                while sends.len() >= 8 {
                    if let Some((value, Ok(Ok(d)))) = sends.next().await {
                        acked.lock().unwrap().insert(d.offset, value);
                    }
                }
            }
        })
    };
    eventually(TIMEOUT, "200 acknowledged writes", || (acked.lock().unwrap().len() >= 200).then_some(()));
    cluster.power_cut(&[2, 3, 4]);
    stop.store(true, Ordering::Relaxed);
    writer.await.expect("writer");
    let acked = acked.lock().unwrap().clone();

    cluster.restart_all(&[3, 4]);
    // Which replica the ISR keeps depends on the order the controller fences the three. When
    // it fenced the former leader last, only that one may lead (as in Kafka): it comes back
    // too, and the followers' copies are checked against it below.
    let followers_lead = eventually(SETTLE, "a follower leading, or the former leader alone in the ISR", || {
        let (leader, _, isr) = partition_states(&addr, "receipts").remove(0);
        if [3, 4].contains(&leader) && isr == vec![3, 4] {
            Some(true)
        } else {
            (leader == -1 && isr == vec![2]).then_some(false)
        }
    });
    if !followers_lead {
        eprintln!("the ISR kept only the former leader; it is restarted first");
        cluster.restart(2);
    }
    // The new leader's high watermark moves once its follower has fetched; a lost record
    // shows as a mark that never gets there.
    let survivors = format!("{},{}", cluster.node(3).addr(), cluster.node(4).addr());
    let end = acked.keys().next_back().map_or(0, |last| last + 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while high_watermark(&survivors, "receipts") < end && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let kept = tokio::task::spawn_blocking(move || read_to_end(&survivors, "receipts", 0)).await.expect("read");
    let lost: Vec<_> = acked.iter().filter(|(offset, value)| kept.get(offset) != Some(value)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged records lost or moved, first {:?}",
        lost.len(),
        acked.len(),
        lost.first()
    );

    if followers_lead {
        cluster.restart(2);
    }
    eventually(SETTLE, "the former leader is back in sync", || {
        let (_, _, isr) = partition_states(&addr, "receipts").remove(0);
        (isr == vec![2, 3, 4]).then_some(())
    });
    eventually(SETTLE, "the three copies are identical", || {
        let copies = [2, 3, 4].map(|id| segments(&cluster.node(id).data.join("receipts-0")));
        copies.windows(2).all(|w| w[0] == w[1]).then_some(())
    });
}

/// librdkafka's view of who serves a partition: (the broker fetched from, the leader).
#[derive(Default)]
struct FetchedFrom(Mutex<Option<(i32, i32)>>);

impl rdkafka::ClientContext for FetchedFrom {
    fn stats(&self, statistics: rdkafka::Statistics) {
        if let Some(p) = statistics.topics.get("nearby").and_then(|t| t.partitions.get(&0)) {
            *self.0.lock().expect("stats lock") = Some((p.broker, p.leader));
        }
    }
}

impl rdkafka::consumer::ConsumerContext for FetchedFrom {}

/// Fetching from the closest replica (KIP-392): with Kafka's RackAwareReplicaSelector and a
/// broker per rack, the leader points a consumer from another rack at the in-sync follower
/// there (preferred_read_replica, no records), that follower serves it up to its own high
/// watermark, and librdkafka with `client.rack` reads every record from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_read_from_the_follower_in_their_rack() {
    use crate::common::wire::{Conn, fetch_request};
    use kafka_protocol::error::ResponseError;
    use kafka_protocol::messages::{ApiKey, ResponseKind};
    use kafka_protocol::protocol::StrBytes;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Message, Offset, TopicPartitionList};

    let selector = "replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector";
    let cluster = Cluster::start_with(Spec::combined(3, &[selector]).racked());
    let bootstrap = cluster.bootstrap();
    let assignment: &[&[i32]] = &[&[1, 2, 3]];
    create_topic(&bootstrap, NewTopic::new("nearby", 1, TopicReplication::Variable(assignment))).await;
    let sent = produce(&producer(&bootstrap, "all"), "nearby", "order", 200).await;
    let end = sent.len() as i64;
    let leader = cluster.node(1).addr();
    eventually(SETTLE, "every replica in sync", || (partition_states(&leader, "nearby")[0].2.len() == 3).then_some(()));

    // (error, preferred read replica, bytes of records, high watermark) of a Fetch from 0.
    let fetch = |addr: &str, version: i16, rack: &str| {
        let request = fetch_request("nearby", 0, 0).with_rack_id(StrBytes::from_string(rack.into()));
        let ResponseKind::Fetch(r) = Conn::open(addr).call(ApiKey::Fetch, version, &request) else { panic!() };
        let p = &r.responses[0].partitions[0];
        (p.error_code, p.preferred_read_replica.0, p.records.as_ref().map_or(0, |r| r.len()), p.high_watermark)
    };
    assert_eq!(fetch(&leader, 12, "rack-2"), (0, 2, 0, end), "sent to the follower in rack-2");
    let (code, preferred, bytes, _) = fetch(&leader, 12, "rack-1");
    assert_eq!((code, preferred), (0, -1), "the leader is in rack-1 itself");
    assert!(bytes > 0);
    assert_eq!(fetch(&leader, 12, "rack-9").1, -1, "no replica in rack-9: the leader serves");
    let follower = cluster.node(2).addr();
    eventually(SETTLE, "the follower serves a consumer up to its high watermark", || {
        let (code, preferred, bytes, hw) = fetch(&follower, 12, "rack-2");
        (code == 0 && preferred == -1 && bytes > 0 && hw == end).then_some(())
    });
    // Before version 11 a consumer names no rack, and only the leader serves it.
    assert_eq!(fetch(&follower, 10, "").0, ResponseError::NotLeaderOrFollower.code());

    let consumer: BaseConsumer<FetchedFrom> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "nearby-readers")
        .set("client.rack", "rack-3")
        .set("statistics.interval.ms", "100")
        .create_with_context(FetchedFrom::default())
        .expect("consumer");
    let mut partitions = TopicPartitionList::new();
    partitions.add_partition_offset("nearby", 0, Offset::Beginning).expect("partition");
    consumer.assign(&partitions).expect("assign");
    let mut read = Vec::new();
    eventually(SETTLE, "every record read", || {
        while let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.expect("a record");
            read.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string());
        }
        (read.len() >= sent.len()).then_some(())
    });
    let mut expected: Vec<&String> = sent.keys().collect();
    expected.sort();
    read.sort();
    assert_eq!(read.iter().collect::<Vec<_>>(), expected, "each record once");
    eventually(SETTLE, "librdkafka fetches from broker 3, the leader being 1", || {
        consumer.poll(Duration::from_millis(50));
        (*consumer.context().0.lock().expect("stats lock") == Some((3, 1))).then_some(())
    });
}

/// A cluster whose only Kafka listener (the inter-broker one) is SASL_SSL, with an authorizer:
/// followers fetch, transaction markers and checks cross it as `User:broker` (PLAIN over TLS,
/// the CA from the listener's truststore), so acks=all with every replica in sync, a
/// transaction over partitions led by different brokers, and a read after the leader's
/// kill -9 all work for clients allowed by ACLs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_and_transactions_cross_a_sasl_ssl_listener_under_acls() {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::message::Message;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

    let pki = common::certs::Pki::new("cluster");
    let keystore = pki.server_pem("broker");
    let users = r#"user_broker="broker-secret" user_admin="admin-secret" user_alice="alice-secret""#;
    let extra = [
        // The listener named PLAINTEXT speaks SASL_SSL: the harness's names, secured.
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:SASL_SSL".to_string(),
        format!("ssl.keystore.location={}", keystore.display()),
        format!("ssl.truststore.location={}", pki.ca_file.display()),
        "sasl.enabled.mechanisms=PLAIN".into(),
        "sasl.mechanism.inter.broker.protocol=PLAIN".into(),
        format!(
            "listener.name.plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule \
             required username=\"broker\" password=\"broker-secret\" {users};"
        ),
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer".into(),
        "super.users=User:broker;User:admin".into(),
    ];
    let mut cluster = Cluster::start(3, &extra.iter().map(String::as_str).collect::<Vec<_>>());
    let bootstrap = cluster.bootstrap();
    let ca = pki.ca_file.display().to_string();
    let client = |user: &str| {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &bootstrap)
            .set("security.protocol", "sasl_ssl")
            .set("ssl.ca.location", &ca)
            .set("sasl.mechanism", "PLAIN")
            .set("sasl.username", user)
            .set("sasl.password", format!("{user}-secret"))
            .set("message.timeout.ms", "20000");
        config
    };

    let admin: AdminClient<DefaultClientContext> = client("admin").create().expect("admin");
    let topic = NewTopic::new("ledger", 3, TopicReplication::Fixed(3)).set("min.insync.replicas", "2");
    let created = admin.create_topics(&[topic], &AdminOptions::new()).await.expect("create topics");
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    let properties = pki.dir().join("admin.properties");
    std::fs::write(
        &properties,
        format!(
            "security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nssl.truststore.type=PEM\nssl.truststore.location={ca}\n\
             sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"admin-secret\";\n"
        ),
    )
    .expect("admin properties");
    for grant in [&["--producer", "--topic", "ledger"][..], &["--consumer", "--topic", "ledger", "--group", "auditors"]]
    {
        let output = std::process::Command::new(common::brook_bin())
            .args(["acls", "--bootstrap-server", &bootstrap, "--command-config"])
            .arg(&properties)
            .args(["--add", "--allow-principal", "User:alice"])
            .args(grant)
            .output()
            .expect("brook acls");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }

    // Every replica in sync: the followers log in to the leaders and fetch.
    let isr = |config: &ClientConfig| -> Vec<(i32, usize)> {
        let consumer: rdkafka::consumer::BaseConsumer = config.create().expect("client");
        let Ok(metadata) = consumer.fetch_metadata(Some("ledger"), Duration::from_secs(10)) else { return Vec::new() };
        metadata.topics()[0].partitions().iter().map(|p| (p.leader(), p.isr().len())).collect()
    };
    let all_in_sync = |states: &Vec<(i32, usize)>| states.len() == 3 && states.iter().all(|(_, n)| *n == 3);
    let states =
        eventually(SETTLE, "every replica of ledger in sync", || Some(isr(&client("admin"))).filter(all_in_sync));
    let leaders: std::collections::BTreeSet<i32> = states.iter().map(|(l, _)| *l).collect();
    assert_eq!(leaders.len(), 3, "leadership is spread: {states:?}");

    // alice writes with acks=all; the ISR stays whole (no follower was cut off).
    let producer: FutureProducer = client("alice").set("acks", "all").create().expect("producer");
    let sent = produce(&producer, "ledger", "entry", 300).await;
    assert!(all_in_sync(&isr(&client("admin"))), "a follower fell out of the ISR");

    // A transaction over the three partitions, each led by another broker: the coordinator's
    // markers reach the other two over SASL_SSL.
    let transactional: BaseProducer = client("admin").set("transactional.id", "ledger-txn").create().expect("producer");
    transactional.init_transactions(TIMEOUT).expect("init transactions");
    transactional.begin_transaction().expect("begin");
    for p in 0..3 {
        let value = format!("txn-{p}");
        transactional.send(BaseRecord::<(), _>::to("ledger").partition(p).payload(&value)).expect("queued");
    }
    transactional.commit_transaction(TIMEOUT).expect("committed on every partition's leader");

    // The leader of partition 0 dies; alice reads everything, committed, from the others.
    cluster.kill(states[0].0);
    let consumer: StreamConsumer = client("alice")
        .set("bootstrap.servers", cluster.bootstrap())
        .set("group.id", "auditors")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .create()
        .expect("consumer");
    consumer.subscribe(&["ledger"]).expect("subscribe");
    let mut read = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while read.len() < sent.len() + 3 {
        assert!(Instant::now() < deadline, "read {} of {} after the leader died", read.len(), sent.len() + 3);
        if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(1), consumer.recv()).await {
            read.insert(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    assert!(sent.keys().all(|v| read.contains(v)) && (0..3).all(|p| read.contains(&format!("txn-{p}"))));
}
