//! Transactions end to end with librdkafka against a real `brook server`: commit and abort as
//! `read_committed` and `read_uncommitted` consumers see them, fencing of a zombie producer,
//! the timeout that aborts an abandoned transaction, and a restart of the coordinator.

use std::time::Duration;

use crate::common::cluster::Cluster;
use crate::common::{Brook, eventually};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(30);
const TOPIC: &str = "payments";

fn transactional(brook: &Brook, id: &str, extra: &[(&str, &str)]) -> BaseProducer {
    transactional_at(&brook.addr, id, extra)
}

fn transactional_at(bootstrap: &str, id: &str, extra: &[(&str, &str)]) -> BaseProducer {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap).set("transactional.id", id);
    for (k, v) in extra {
        config.set(*k, *v);
    }
    let producer: BaseProducer = config.create().expect("producer");
    producer.init_transactions(TIMEOUT).expect("init_transactions");
    producer
}

fn send(producer: &BaseProducer, values: &[&str]) {
    for (i, value) in values.iter().enumerate() {
        let key = (i % 2).to_string();
        producer.send(BaseRecord::to(TOPIC).key(&key).payload(*value)).expect("queued");
    }
    producer.flush(TIMEOUT).expect("flushed");
}

/// Every value in `TOPIC` (2 partitions) as a consumer with `isolation` reads it from the
/// start up to the end it reports, sorted.
fn read_all(brook: &Brook, isolation: &str) -> Vec<String> {
    read_partitions(&brook.addr, 2, isolation)
}

/// Every value in `partitions` partitions of `TOPIC`, read with `isolation` to the end, sorted.
fn read_partitions(bootstrap: &str, partitions: i32, isolation: &str) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "reader")
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    let mut ends = Vec::new();
    for p in 0..partitions {
        assignment.add_partition_offset(TOPIC, p, Offset::Beginning).expect("assign");
        let (_, end) = consumer.fetch_watermarks(TOPIC, p, TIMEOUT).expect("watermarks");
        ends.push(end);
    }
    consumer.assign(&assignment).expect("assign");
    let mut values = Vec::new();
    let mut positions = vec![0i64; partitions as usize];
    eventually(TIMEOUT, "read to the end", || {
        // Errors are the client's news (a broker of the cluster is down); it carries on.
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            values.push(String::from_utf8(m.payload().unwrap_or_default().to_vec()).expect("utf8"));
            positions[m.partition() as usize] = m.offset() + 1;
        }
        let done = (0..partitions).all(|p| {
            let position = consumer.position().ok().and_then(|l| l.find_partition(TOPIC, p)?.offset().to_raw());
            positions[p as usize] >= ends[p as usize] || position.is_some_and(|o| o >= ends[p as usize])
        });
        done.then_some(())
    });
    values.sort();
    values
}

fn sorted(values: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = values.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

async fn create_topic(brook: &Brook) {
    create_topic_at(&brook.addr, 2, 1).await
}

async fn create_topic_at(bootstrap: &str, partitions: i32, replication: i32) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("admin");
    let created = admin
        .create_topics(&[NewTopic::new(TOPIC, partitions, TopicReplication::Fixed(replication))], &AdminOptions::new())
        .await
        .expect("create");
    assert_eq!(created, vec![Ok(TOPIC.to_string())]);
}

#[tokio::test(flavor = "multi_thread")]
async fn committed_and_aborted_transactions_as_consumers_see_them() {
    let mut brook = Brook::start(&["transaction.abort.timed.out.transaction.cleanup.interval.ms=200"]);
    create_topic(&brook).await;
    let producer = transactional(&brook, "payments-app", &[]);
    producer.begin_transaction().expect("begin");
    send(&producer, &["c1", "c2", "c3", "c4"]);
    producer.commit_transaction(TIMEOUT).expect("commit");
    producer.begin_transaction().expect("begin");
    send(&producer, &["a1", "a2", "a3"]);
    producer.abort_transaction(TIMEOUT).expect("abort");
    producer.begin_transaction().expect("begin");
    send(&producer, &["c5", "c6"]);
    producer.commit_transaction(TIMEOUT).expect("commit");

    let committed = sorted(&["c1", "c2", "c3", "c4", "c5", "c6"]);
    assert_eq!(read_all(&brook, "read_committed"), committed);
    let everything = sorted(&["c1", "c2", "c3", "c4", "a1", "a2", "a3", "c5", "c6"]);
    assert_eq!(read_all(&brook, "read_uncommitted"), everything);

    // A second producer with the same transactional id fences the first.
    let zombie = producer;
    let successor = transactional(&brook, "payments-app", &[]);
    zombie.begin_transaction().expect("begin");
    zombie.send(BaseRecord::to(TOPIC).key("0").payload("zombie")).expect("queued");
    let _ = zombie.flush(Duration::from_secs(10));
    match zombie.commit_transaction(Duration::from_secs(10)) {
        Err(KafkaError::Transaction(e)) => assert!(e.is_fatal(), "the zombie is fenced for good: {e}"),
        other => panic!("a fenced producer committed: {other:?}"),
    }
    successor.begin_transaction().expect("begin");
    send(&successor, &["c7"]);
    successor.commit_transaction(TIMEOUT).expect("commit");

    // An abandoned transaction is aborted at its timeout, and consumers move past it.
    let abandoned = transactional(&brook, "abandoned", &[("transaction.timeout.ms", "1500")]);
    abandoned.begin_transaction().expect("begin");
    send(&abandoned, &["hang"]);
    successor.begin_transaction().expect("begin");
    send(&successor, &["c8"]);
    successor.commit_transaction(TIMEOUT).expect("commit");
    let mut expected = sorted(&["c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"]);
    eventually(TIMEOUT, "the abandoned transaction aborted", || {
        (read_all(&brook, "read_committed") == expected).then_some(())
    });

    // The coordinator's state survives a restart: the id goes on, fenced producers stay fenced.
    drop((zombie, successor, abandoned));
    let dir = brook.take_dir().expect("dir");
    assert_eq!(brook.stop(), Some(0));
    let brook = Brook::start_in(dir.path(), &[]);
    let producer = transactional(&brook, "payments-app", &[]);
    producer.begin_transaction().expect("begin");
    send(&producer, &["c9"]);
    producer.commit_transaction(TIMEOUT).expect("commit");
    expected.push("c9".into());
    assert_eq!(read_all(&brook, "read_committed"), expected);
}

/// Consume-transform-produce: a consumer's offsets committed in the producer's transaction
/// (send_offsets_to_transaction) count only when the transaction commits.
#[tokio::test(flavor = "multi_thread")]
async fn offsets_commit_with_the_transaction() {
    let brook = Brook::start(&[]);
    create_topic(&brook).await;
    let plain: BaseProducer = ClientConfig::new().set("bootstrap.servers", &brook.addr).create().expect("producer");
    for i in 0..4 {
        plain.send(BaseRecord::to(TOPIC).partition(0).key("k").payload(&format!("in{i}"))).expect("queued");
    }
    plain.flush(TIMEOUT).expect("flushed");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brook.addr)
        .set("group.id", "copier")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(TOPIC, 0, Offset::Beginning).expect("assign");
    consumer.assign(&assignment).expect("assign");
    let producer = transactional(&brook, "copier-app", &[]);
    let committed = |consumer: &BaseConsumer| {
        let mut wanted = TopicPartitionList::new();
        wanted.add_partition(TOPIC, 0);
        let got = consumer.committed_offsets(wanted, TIMEOUT).expect("committed offsets");
        got.find_partition(TOPIC, 0).expect("partition").offset()
    };
    let offsets_at = |offset: i64| {
        let mut offsets = TopicPartitionList::new();
        offsets.add_partition_offset(TOPIC, 0, Offset::Offset(offset)).expect("offset");
        offsets
    };
    let metadata = consumer.group_metadata().expect("group metadata");

    producer.begin_transaction().expect("begin");
    producer.send_offsets_to_transaction(&offsets_at(2), &metadata, TIMEOUT).expect("offsets in the transaction");
    producer.abort_transaction(TIMEOUT).expect("abort");
    assert_eq!(committed(&consumer), Offset::Invalid, "an aborted transaction commits no offset");

    producer.begin_transaction().expect("begin");
    producer.send_offsets_to_transaction(&offsets_at(3), &metadata, TIMEOUT).expect("offsets in the transaction");
    producer.commit_transaction(TIMEOUT).expect("commit");
    eventually(TIMEOUT, "the committed transaction's offset", || {
        (committed(&consumer) == Offset::Offset(3)).then_some(())
    });
}

/// The `__transaction_state` partition of a transactional id among `partitions` (Kafka's
/// placement: the Java hash of the id).
fn state_partition(id: &str, partitions: i32) -> i32 {
    let hash = id.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    (if hash == i32::MIN { 0 } else { hash.abs() }) % partitions
}

/// The leader of a partition as the cluster at `bootstrap` reports it.
fn leader_of(bootstrap: &str, topic: &str, partition: i32) -> i32 {
    let client: BaseConsumer = ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("client");
    eventually(TIMEOUT, "a leader", || {
        let metadata = client.fetch_metadata(Some(topic), Duration::from_secs(5)).ok()?;
        let leader = metadata.topics().first()?.partitions().iter().find(|p| p.id() == partition)?.leader();
        (leader > 0).then_some(leader)
    })
}

/// In a 3-node cluster a transaction spans partitions led by every broker (markers go to each
/// leader with WriteTxnMarkers); kill -9 of the coordinator moves its ids to the next leader of
/// their partition, which reads them back and, when a new producer takes the id, aborts the
/// transaction the old one left open.
#[tokio::test(flavor = "multi_thread")]
async fn transactions_across_brokers_survive_the_coordinator() {
    let mut cluster = Cluster::start(3, &["transaction.state.log.num.partitions=5"]);
    let bootstrap = cluster.bootstrap();
    create_topic_at(&bootstrap, 3, 3).await;
    let leaders: std::collections::BTreeSet<i32> = (0..3).map(|p| leader_of(&bootstrap, TOPIC, p)).collect();
    assert_eq!(leaders.len(), 3, "the partitions are led by every broker");
    let first = transactional_at(&bootstrap, "ledger", &[]);
    let values: Vec<String> = (0..9).map(|i| format!("c{i}")).collect();
    let to_all = |producer: &BaseProducer, values: &[String]| {
        for (i, value) in values.iter().enumerate() {
            producer.send(BaseRecord::to(TOPIC).partition(i as i32 % 3).key("k").payload(value)).expect("queued");
        }
        producer.flush(TIMEOUT).expect("flushed");
    };
    first.begin_transaction().expect("begin");
    to_all(&first, &values);
    first.commit_transaction(TIMEOUT).expect("commit");
    first.begin_transaction().expect("begin");
    to_all(&first, &["a0".to_string(), "a1".to_string(), "a2".to_string()]);
    first.abort_transaction(TIMEOUT).expect("abort");
    let mut expected = values.clone();
    expected.sort();
    assert_eq!(read_partitions(&bootstrap, 3, "read_committed"), expected);

    // A transaction left open when its coordinator dies.
    first.begin_transaction().expect("begin");
    to_all(&first, &["open0".to_string(), "open1".to_string(), "open2".to_string()]);
    let coordinator = leader_of(&bootstrap, "__transaction_state", state_partition("ledger", 5));
    cluster.kill(coordinator);
    let successor = transactional_at(&bootstrap, "ledger", &[]);
    successor.begin_transaction().expect("begin");
    to_all(&successor, &["after0".to_string(), "after1".to_string(), "after2".to_string()]);
    successor.commit_transaction(TIMEOUT).expect("commit");
    expected.extend(["after0", "after1", "after2"].map(String::from));
    expected.sort();
    assert_eq!(read_partitions(&bootstrap, 3, "read_committed"), expected);
    let everything = read_partitions(&bootstrap, 3, "read_uncommitted");
    assert!(everything.contains(&"open1".to_string()) && everything.contains(&"a1".to_string()), "{everything:?}");
    drop(first);
}

/// kill -9 of the broker with a transaction open and its producer gone with it: after the
/// restart the coordinator reads the transaction back, aborts it at its timeout, and
/// read_committed consumers move past it.
#[tokio::test(flavor = "multi_thread")]
async fn an_open_transaction_is_aborted_after_a_crash() {
    let settings = ["transaction.abort.timed.out.transaction.cleanup.interval.ms=200"];
    let mut brook = Brook::start(&settings);
    create_topic(&brook).await;
    let producer = transactional(&brook, "crashing", &[("transaction.timeout.ms", "2000")]);
    producer.begin_transaction().expect("begin");
    send(&producer, &["lost0", "lost1"]);
    let dir = brook.take_dir().expect("dir");
    brook.kill();
    drop(producer);
    let brook = Brook::start_in(dir.path(), &settings);
    let plain: BaseProducer = ClientConfig::new().set("bootstrap.servers", &brook.addr).create().expect("producer");
    for (i, value) in ["after0", "after1"].iter().enumerate() {
        plain.send(BaseRecord::to(TOPIC).key(&i.to_string()).payload(*value)).expect("queued");
    }
    plain.flush(TIMEOUT).expect("flushed");
    eventually(TIMEOUT, "read_committed past the crashed transaction", || {
        (read_all(&brook, "read_committed") == sorted(&["after0", "after1"])).then_some(())
    });
    assert_eq!(read_all(&brook, "read_uncommitted"), sorted(&["after0", "after1", "lost0", "lost1"]));
}

/// An id idle for `transactional.id.expiration.ms` is forgotten (a tombstone in
/// `__transaction_state`, gone after a restart too), and the id can be used again.
#[tokio::test(flavor = "multi_thread")]
async fn an_idle_transactional_id_expires() {
    use crate::common::wire::Conn;
    use kafka_protocol::messages::{ApiKey, DescribeTransactionsRequest, ResponseKind, TransactionalId};
    use kafka_protocol::protocol::StrBytes;
    let settings =
        ["transactional.id.expiration.ms=1000", "transaction.remove.expired.transaction.cleanup.interval.ms=100"];
    let mut brook = Brook::start(&settings);
    create_topic(&brook).await;
    let producer = transactional(&brook, "short-lived", &[]);
    producer.begin_transaction().expect("begin");
    send(&producer, &["kept"]);
    producer.commit_transaction(TIMEOUT).expect("commit");
    drop(producer);
    let described = |brook: &Brook| {
        let request = DescribeTransactionsRequest::default()
            .with_transactional_ids(vec![TransactionalId(StrBytes::from_static_str("short-lived"))]);
        let ResponseKind::DescribeTransactions(r) =
            Conn::open(&brook.addr).call(ApiKey::DescribeTransactions, 0, &request)
        else {
            panic!()
        };
        r.transaction_states[0].error_code
    };
    assert_eq!(described(&brook), 0, "known right after its commit");
    eventually(TIMEOUT, "the id forgotten", || (described(&brook) == 105).then_some(()));
    let dir = brook.take_dir().expect("dir");
    assert_eq!(brook.stop(), Some(0));
    let brook = Brook::start_in(dir.path(), &settings);
    assert_eq!(described(&brook), 105, "TRANSACTIONAL_ID_NOT_FOUND after a restart too");
    let again = transactional(&brook, "short-lived", &[]);
    again.begin_transaction().expect("begin");
    send(&again, &["again"]);
    again.commit_transaction(TIMEOUT).expect("commit");
    assert_eq!(read_all(&brook, "read_committed"), sorted(&["again", "kept"]));
}

/// Transactions version 2 (KIP-890) across brokers, in the raw protocol as Kafka 4 clients
/// send it: Produce v12 to partitions led by other brokers than the coordinator has each
/// leader add its partition (AddPartitionsToTxn v5 to the coordinator); EndTxn v5 bumps the
/// epoch; a remote leader refuses a write to a partition not in the transaction (v11:
/// TRANSACTION_ABORTABLE, older: INVALID_TXN_STATE) and one under the ended epoch.
#[tokio::test(flavor = "multi_thread")]
async fn version_2_transactions_are_added_and_verified_by_remote_leaders() {
    use crate::common::wire::{Conn, end_txn_at, init_txn, produce_txn_at};
    use kafka_protocol::messages::{ApiKey, FindCoordinatorRequest, ResponseKind};
    use kafka_protocol::protocol::StrBytes;
    const ID: &str = "remote-ledger";
    let cluster = Cluster::start(3, &["transaction.state.log.num.partitions=5"]);
    let bootstrap = cluster.bootstrap();
    create_topic_at(&bootstrap, 3, 3).await;
    let leaders: Vec<i32> = (0..3).map(|p| leader_of(&bootstrap, TOPIC, p)).collect();
    let at = |node: i32| Conn::open(&cluster.node(node).addr());
    // Until the coordinator has loaded its partition (or the topic is created) it answers
    // a retriable code.
    let find = FindCoordinatorRequest::default().with_key_type(1).with_key(StrBytes::from_static_str(ID));
    let coordinator = eventually(TIMEOUT, "the transaction coordinator", || {
        let ResponseKind::FindCoordinator(found) = at(1).call(ApiKey::FindCoordinator, 3, &find) else { panic!() };
        let node = found.node_id.0;
        if found.error_code != 0 {
            return None;
        }
        let (code, ids) = init_txn(&mut at(node), ID, 60_000);
        (code == 0).then_some((node, ids))
    });
    let (node, (pid, epoch)) = coordinator;
    assert!(leaders.iter().filter(|l| **l != node).count() >= 2, "leaders {leaders:?}, coordinator {node}");
    let remote = (0..3).find(|p| leaders[*p as usize] != node).expect("a remote partition");
    let produce = |conn: &mut Conn, version: i16, partition: i32, epoch: i16, sequence: i32| {
        eventually(TIMEOUT, "a produce answer", || {
            let code = produce_txn_at(conn, version, ID, (TOPIC, partition), (pid, epoch, sequence));
            (code != 19).then_some(code)
        })
    };
    for partition in 0..3 {
        let code = produce(&mut at(leaders[partition as usize]), 12, partition, epoch, 0);
        assert_eq!(code, 0, "partition {partition}, led by {}", leaders[partition as usize]);
    }
    assert_eq!(end_txn_at(&mut at(node), 5, ID, pid, epoch, true), (0, (pid, epoch + 1)));
    assert_eq!(read_partitions(&bootstrap, 3, "read_committed"), vec!["v", "v", "v"]);

    // The next transaction, under the bumped epoch, holds nothing yet.
    let epoch = epoch + 1;
    let mut leader = at(leaders[remote as usize]);
    assert_eq!(produce(&mut leader, 11, remote, epoch, 0), 120, "TRANSACTION_ABORTABLE");
    assert_eq!(produce(&mut leader, 10, remote, epoch, 0), 48, "INVALID_TXN_STATE");
    assert_eq!(produce(&mut leader, 12, remote, epoch - 1, 1), 47, "INVALID_PRODUCER_EPOCH");
    assert_eq!(produce(&mut leader, 12, remote, epoch, 0), 0);
    assert_eq!(end_txn_at(&mut at(node), 5, ID, pid, epoch, false), (0, (pid, epoch + 1)));
    assert_eq!(read_partitions(&bootstrap, 3, "read_committed"), vec!["v", "v", "v"]);
    assert_eq!(read_partitions(&bootstrap, 3, "read_uncommitted").len(), 4);
}
