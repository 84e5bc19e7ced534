//! A Brook cluster: three `brook server` processes started from three KRaft-style property
//! files, sharing one metadata quorum, with partitions spread over them; librdkafka clients
//! follow the metadata to each partition's broker. Faults: kill -9 of the active controller
//! and of a broker; bad configurations refused at start-up.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::clients::consume;
use crate::common::cluster::{Cluster, SETTLE};
use crate::common::kafka::classpath;
use crate::common::wire::{Conn, create_topic_code, topic_partitions};
use crate::common::{eventually, refused_start};
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId, CreateTopicsRequest, DescribeClusterRequest, FindCoordinatorRequest, GroupId, OffsetFetchRequest,
    ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Faster heartbeats and sessions than Kafka's defaults, so fencing shows within a test.
const FAST_SESSIONS: &[&str] = &["broker.heartbeat.interval.ms=300", "broker.session.timeout.ms=2000"];

/// DescribeCluster from the broker at `addr`: (cluster id, controller id, broker ids).
fn describe_cluster(addr: &str) -> (String, i32, BTreeSet<i32>) {
    let mut conn = Conn::open(addr);
    match conn.call(ApiKey::DescribeCluster, 0, &DescribeClusterRequest::default()) {
        ResponseKind::DescribeCluster(r) => {
            (r.cluster_id.to_string(), r.controller_id.0, r.brokers.iter().map(|b| b.broker_id.0).collect())
        }
        other => panic!("unexpected answer {other:?}"),
    }
}

/// Each partition's (error code, leader) in a Metadata answer from `addr`.
fn leaders(addr: &str, topic: &str) -> Vec<(i16, i32)> {
    let partitions = topic_partitions(addr, topic).expect("the topic");
    partitions.iter().map(|p| (p.error_code, p.leader_id.0)).collect()
}

/// CreateTopics through the broker at `addr`: the error code.
fn create_topic(addr: &str, name: &str, partitions: i32) -> i16 {
    create_topic_code(&mut Conn::open(addr), name, partitions).expect("an answer")
}

fn producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer")
}

/// Produces `count` keyed records; returns value -> (partition, offset).
async fn produce(bootstrap: &str, topic: &str, prefix: &str, count: usize) -> BTreeMap<String, (i32, i64)> {
    let producer = producer(bootstrap);
    let mut delivered = BTreeMap::new();
    for i in 0..count {
        let key = format!("customer-{}", i % 17);
        let value = format!("{prefix}-{i}");
        let record = FutureRecord::to(topic).key(&key).payload(&value);
        let delivery = producer.send(record, TIMEOUT).await.map_err(|(e, _)| e).expect("delivered");
        delivered.insert(value, (delivery.partition, delivery.offset));
    }
    delivered
}

/// Three nodes from three property files form one cluster: every node lists the same three
/// brokers and cluster id; a 6-partition topic is led by all three, two partitions each, and
/// each node holds only its own partitions on disk; a producer bootstrapped from one node
/// reaches every leader and a consumer group reads everything back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_metadata_and_spread_partitions() {
    let cluster = Cluster::start(3, &[]);
    // Each node serves once it is itself unfenced; the others follow within moments.
    let views: Vec<(String, i32, BTreeSet<i32>)> = eventually(SETTLE, "every node listing every broker", || {
        let views: Vec<_> = cluster.nodes.iter().map(|n| describe_cluster(&n.addr())).collect();
        views.iter().all(|v| v.2 == BTreeSet::from([1, 2, 3])).then_some(views)
    });
    for view in &views {
        assert_eq!(view.0, views[0].0, "one cluster id");
        assert_eq!(view.1, views[0].1, "one controller");
        assert!(view.2.contains(&view.1), "the controller is a live broker");
    }
    assert_eq!(views[0].0.len(), 22, "a Kafka-style cluster id");

    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", cluster.node(2).addr()).create().expect("admin");
    let created = admin
        .create_topics(&[NewTopic::new("purchases", 6, TopicReplication::Fixed(1))], &AdminOptions::new())
        .await
        .expect("create topics");
    assert_eq!(created, vec![Ok("purchases".to_string())]);
    // Every node knows the topic at once: the creating broker answered only once it saw it,
    // and the others follow the quorum.
    for node in &cluster.nodes {
        eventually(SETTLE, "the topic on every node", || (leaders(&node.addr(), "purchases").len() == 6).then_some(()));
    }
    let led = leaders(&cluster.node(3).addr(), "purchases");
    for id in 1..=3 {
        assert_eq!(led.iter().filter(|(e, l)| *e == 0 && *l == id).count(), 2, "broker {id} leads two: {led:?}");
    }
    for node in &cluster.nodes {
        let local: BTreeSet<i32> = (0..6).filter(|p| node.data.join(format!("purchases-{p}")).exists()).collect();
        let expected: BTreeSet<i32> = (0..6).filter(|p| led[*p as usize].1 == node.id).collect();
        assert_eq!(local, expected, "node {} holds exactly its partitions", node.id);
    }

    let delivered = produce(&cluster.node(1).addr(), "purchases", "order", 300).await;
    let partitions: BTreeSet<i32> = delivered.values().map(|(p, _)| *p).collect();
    assert!(partitions.len() >= 3, "keys spread over partitions: {partitions:?}");
    let consumed = consume(&cluster.bootstrap(), "purchases", "billing", delivered.len()).await;
    assert_eq!(consumed, delivered, "every acknowledged record read back where it was written");

    // The group lives on the leader of its __consumer_offsets partition; the others send its
    // members back to FindCoordinator.
    let coordinator = find_coordinator(&cluster.node(1).addr(), "billing");
    for node in &cluster.nodes {
        let expected = if node.id == coordinator { 0 } else { 16 };
        assert_eq!(offset_fetch_error(&node.addr(), "billing"), expected, "OffsetFetch at node {}", node.id);
    }

    // A manual assignment places each partition where it says; one naming a broker that does
    // not exist is refused; a produce sent to a broker that does not lead the partition gets
    // NOT_LEADER_OR_FOLLOWER.
    assert_eq!(create_assigned(&cluster.node(1).addr(), "placed", &[2, 3, 1]), 0);
    let placed = leaders(&cluster.node(1).addr(), "placed");
    assert_eq!(placed, vec![(0, 2), (0, 3), (0, 1)]);
    assert_eq!(create_assigned(&cluster.node(1).addr(), "nowhere", &[2, 9]), 39, "INVALID_REPLICA_ASSIGNMENT");
    let batch = common::wire::idempotent_batch(-1, -1, -1, 1);
    let answer = |id: i32| common::wire::produce(&mut Conn::open(&cluster.node(id).addr()), "placed", 1, batch.clone());
    assert_eq!(answer(1).map(|(e, _)| e), Some(6), "partition 0 is led by broker 2");
    // Broker 2 serves the partition once its own image has it (clients retry until then).
    eventually(SETTLE, "broker 2 takes the produce", || (answer(2).map(|(e, _)| e) == Some(0)).then_some(()));

    // A dynamic broker config set through node 1 for every broker reaches broker 2 through
    // the metadata; broker 2's own value, set through it, wins there.
    use crate::common::wire::alter_broker_config;
    let big = brook_log::batch::build::simple(common::wire::now_ms(), 1, 5_000);
    let big_at_2 = || common::wire::produce(&mut Conn::open(&cluster.node(2).addr()), "placed", 1, big.clone());
    assert_eq!(alter_broker_config(&mut Conn::open(&cluster.node(1).addr()), "", "message.max.bytes", Some("2000")), 0);
    eventually(SETTLE, "broker 2 applies the cluster-wide limit", || {
        (big_at_2().map(|(e, _)| e) == Some(10)).then_some(())
    });
    let mut at_2 = Conn::open(&cluster.node(2).addr());
    assert_eq!(alter_broker_config(&mut at_2, "2", "message.max.bytes", Some("100000")), 0);
    eventually(SETTLE, "broker 2's own value wins", || (big_at_2().map(|(e, _)| e) == Some(0)).then_some(()));
    assert_eq!(alter_broker_config(&mut at_2, "3", "message.max.bytes", Some("100000")), 42, "another broker's, here");
}

/// CreateTopics with one replica per partition on the given brokers: the error code.
fn create_assigned(addr: &str, name: &str, brokers: &[i32]) -> i16 {
    let assignments = brokers
        .iter()
        .enumerate()
        .map(|(p, b)| {
            CreatableReplicaAssignment::default().with_partition_index(p as i32).with_broker_ids(vec![BrokerId(*b)])
        })
        .collect();
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_string(name.into())))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
        .with_assignments(assignments);
    let request = CreateTopicsRequest::default().with_timeout_ms(30_000).with_topics(vec![topic]);
    match Conn::open(addr).call(ApiKey::CreateTopics, 7, &request) {
        ResponseKind::CreateTopics(r) => r.topics[0].error_code,
        other => panic!("unexpected answer {other:?}"),
    }
}

/// FindCoordinator for a group: the coordinator's node id.
fn find_coordinator(addr: &str, group: &str) -> i32 {
    let mut conn = Conn::open(addr);
    let request = FindCoordinatorRequest::default().with_key(StrBytes::from_string(group.into()));
    match conn.call(ApiKey::FindCoordinator, 3, &request) {
        ResponseKind::FindCoordinator(r) => {
            assert_eq!(r.error_code, 0);
            r.node_id.0
        }
        other => panic!("unexpected answer {other:?}"),
    }
}

/// OffsetFetch (v7, all topics) for a group at `addr`: the error code.
fn offset_fetch_error(addr: &str, group: &str) -> i16 {
    let mut conn = Conn::open(addr);
    let request =
        OffsetFetchRequest::default().with_group_id(GroupId(StrBytes::from_string(group.into()))).with_topics(None);
    match conn.call(ApiKey::OffsetFetch, 7, &request) {
        ResponseKind::OffsetFetch(r) => r.error_code,
        other => panic!("unexpected answer {other:?}"),
    }
}

/// kill -9 of the active controller: the other two elect a new one and CreateTopics succeeds
/// again; the killed broker is fenced after its session (its partitions show no leader), and
/// after a restart it is unfenced and serves them again with nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_and_broker_failure() {
    let mut cluster = Cluster::start(3, FAST_SESSIONS);
    assert_eq!(create_topic(&cluster.node(1).addr(), "events", 3), 0);
    let delivered = produce(&cluster.bootstrap(), "events", "before", 60).await;

    let (_, controller, _) = describe_cluster(&cluster.node(1).addr());
    let survivor = if controller == 1 { 2 } else { 1 };
    let survivor_addr = cluster.node(survivor).addr();
    let before = leaders(&survivor_addr, "events");
    let killed_at = Instant::now();
    cluster.kill(controller);
    let recreated = eventually(SETTLE, "CreateTopics after the controller died", || {
        (create_topic(&survivor_addr, "after-failover", 2) == 0).then(|| killed_at.elapsed())
    });
    eprintln!("CreateTopics succeeded again {recreated:?} after kill -9 of the active controller");
    let (_, new_controller, _) = describe_cluster(&survivor_addr);
    assert_ne!(new_controller, controller);

    // Fenced: it leaves the broker list and the partition it led loses its leader
    // (LEADER_NOT_AVAILABLE); the others keep theirs.
    eventually(SETTLE, "the dead broker fenced", || {
        let (_, _, brokers) = describe_cluster(&survivor_addr);
        (!brokers.contains(&controller)).then_some(())
    });
    let after = leaders(&survivor_addr, "events");
    for (p, ((_, was), (error, now))) in before.iter().zip(&after).enumerate() {
        if *was == controller {
            assert_eq!((*error, *now), (5, -1), "partition {p} led by the dead broker");
        } else {
            assert_eq!((*error, *now), (0, *was), "partition {p} keeps its leader");
        }
    }
    assert!(before.iter().any(|(_, l)| *l == controller), "the dead broker led a partition: {before:?}");

    cluster.restart(controller);
    eventually(SETTLE, "the restarted broker unfenced with its partitions led", || {
        let all_led = leaders(&survivor_addr, "events").iter().all(|(e, l)| *e == 0 && *l > 0);
        let (_, _, brokers) = describe_cluster(&survivor_addr);
        (all_led && brokers.len() == 3).then_some(())
    });
    let consumed = consume(&cluster.bootstrap(), "events", "audit", delivered.len()).await;
    assert_eq!(consumed, delivered, "nothing acknowledged before the kill is lost");
    assert_eq!(leaders(&cluster.node(controller).addr(), "after-failover").len(), 2, "it caught up");
}

/// The larger shape, KRaft's isolated mode: three controller-only nodes hold the quorum and two
/// broker-only nodes follow its metadata. Clients see only the brokers; partitions spread over
/// them; records flow; the controllers hold no partition data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controllers_and_brokers_apart() {
    let cluster = Cluster::start_split(3, 2, &[]);
    let (b4, b5) = (cluster.node(4).addr(), cluster.node(5).addr());
    let (cluster_id, controller, _) = eventually(SETTLE, "both brokers listed", || {
        let views = [describe_cluster(&b4), describe_cluster(&b5)];
        views.iter().all(|v| v.2 == BTreeSet::from([4, 5])).then(|| views[0].clone())
    });
    assert!([4, 5].contains(&controller), "clients are told a broker, as KRaft does: {controller}");
    assert_eq!(describe_cluster(&b5).0, cluster_id);

    assert_eq!(create_topic(&b5, "isolated", 4), 0);
    eventually(SETTLE, "the topic on both brokers", || (leaders(&b4, "isolated").len() == 4).then_some(()));
    let led = leaders(&b4, "isolated");
    assert_eq!(led.iter().filter(|(e, l)| *e == 0 && *l == 4).count(), 2, "{led:?}");
    assert_eq!(led.iter().filter(|(e, l)| *e == 0 && *l == 5).count(), 2, "{led:?}");

    let delivered = produce(&b4, "isolated", "event", 100).await;
    let consumed = consume(&format!("{b4},{b5}"), "isolated", "readers", delivered.len()).await;
    assert_eq!(consumed, delivered);
    for id in 1..=3 {
        let data = &cluster.node(id).data;
        assert!(data.join("__cluster_metadata-0").exists(), "controller {id} holds the metadata log");
        assert!(!data.join("isolated-0").exists() && !data.join("isolated-1").exists(), "controller {id}");
    }
}

/// A node that was down while many topics were created (more metadata entries than the leader
/// keeps behind its snapshot) catches up from the snapshot: it lists every topic and opens its
/// own partitions of them.
#[test]
fn lagging_node_catches_up_from_a_snapshot() {
    let mut cluster = Cluster::start(3, &["metadata.log.snapshot.interval.records=20"]);
    assert_eq!(cluster.stop(3), Some(0));
    let addr = cluster.node(1).addr();
    for t in 0..60 {
        assert_eq!(create_topic(&addr, &format!("while-away-{t}"), 3), 0);
    }
    assert!(cluster.node(1).data.join("__cluster_metadata-0/snapshot.bin").exists());
    cluster.restart(3);
    let node3 = cluster.node(3).addr();
    eventually(SETTLE, "node 3 knows every topic", || {
        (0..60).all(|t| leaders(&node3, &format!("while-away-{t}")).len() == 3).then_some(())
    });
    assert!(cluster.node(3).data.join("__cluster_metadata-0/snapshot.bin").exists());
    for t in 0..60 {
        let name = format!("while-away-{t}");
        for (p, (_, leader)) in leaders(&node3, &name).into_iter().enumerate() {
            let local = cluster.node(3).data.join(format!("{name}-{p}")).exists();
            assert_eq!(local, leader == 3, "{name}-{p} led by {leader}");
        }
    }
}

/// Kafka's own `kafka-topics --describe` and `kafka-metadata-quorum describe` (kafka-tools from
/// Maven Central) run unchanged against the cluster: partitions on all three brokers, the
/// quorum's leader, its three voters and their progress; `brook metadata-quorum` shows the same.
#[test]
fn kafkas_tools_describe_the_cluster() {
    let cluster = Cluster::start(3, &[]);
    let bootstrap = cluster.node(3).addr();
    let run = |mut command: Command, args: &[&str]| {
        let output = command.args(["--bootstrap-server", &bootstrap]).args(args).output().expect("run a tool");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "{command:?}: {stdout}{}", String::from_utf8_lossy(&output.stderr));
        stdout
    };
    let kafka = |class: &str| {
        let mut command = Command::new("java");
        command.args(["-cp", &classpath(), class]);
        command
    };
    let tool = |class: &str, args: &[&str]| run(kafka(class), args);
    let topics = "org.apache.kafka.tools.TopicCommand";
    let created = tool(topics, &["--create", "--topic", "spread", "--partitions", "6", "--replication-factor", "1"]);
    assert_eq!(created.trim(), "Created topic spread.");
    let described = tool(topics, &["--describe", "--topic", "spread"]);
    for id in 1..=3 {
        let led = described.lines().filter(|l| l.contains(&format!("Leader: {id}\t"))).count();
        assert_eq!(led, 2, "broker {id} leads two partitions:\n{described}");
    }

    // kafka-topics --replica-assignment: one broker per partition, as listed.
    let placed = tool(topics, &["--create", "--topic", "placed", "--replica-assignment", "3,1,2"]);
    assert_eq!(placed.trim(), "Created topic placed.");
    let described = tool(topics, &["--describe", "--topic", "placed"]);
    let leaders: Vec<&str> = described.lines().filter_map(|l| l.split("Leader: ").nth(1)?.split('\t').next()).collect();
    assert_eq!(leaders, vec!["3", "1", "2"], "{described}");

    // Kafka's kafka-metadata-quorum, then Brook's.
    for brook in [false, true] {
        let quorum = || match brook {
            false => kafka("org.apache.kafka.tools.MetadataQuorumCommand"),
            true => {
                let mut command = Command::new(common::brook_bin());
                command.arg("metadata-quorum");
                command
            }
        };
        let status = run(quorum(), &["describe", "--status"]);
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
                .unwrap_or_else(|| panic!("no {name} in:\n{status}"))
        };
        let leader: i32 = field("LeaderId:").parse().expect("a leader id");
        assert!((1..=3).contains(&leader), "{status}");
        assert!(field("HighWatermark:").parse::<i64>().expect("a number") > 0, "{status}");
        let voters = field("CurrentVoters:");
        for id in 1..=3 {
            assert!(voters.contains(&format!("\"id\": {id}")), "{status}");
        }
        assert_eq!(field("ClusterId:"), describe_cluster(&bootstrap).0);

        let replication = run(quorum(), &["describe", "--replication"]);
        let rows: Vec<&str> = replication.lines().skip(1).filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(rows.len(), 3, "one row per voter:\n{replication}");
        assert!(rows.iter().any(|r| r.contains("Leader")), "{replication}");
        assert_eq!(rows.iter().filter(|r| r.contains("Follower")).count(), 2, "{replication}");
    }
    // The voters are static (controller.quorum.voters): Kafka's remove-controller gets the
    // answer Kafka gives for such a quorum.
    let directory = "PpvLUgRUTXmtgKx1AXjIjA";
    let output = kafka("org.apache.kafka.tools.MetadataQuorumCommand")
        .args(["--bootstrap-server", &bootstrap, "remove-controller", "--controller-id", "2"])
        .args(["--controller-directory-id", directory])
        .output()
        .expect("run kafka-metadata-quorum");
    let said = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{said}");
    assert!(said.contains("Cluster doesn't support removing voter because the kraft.version feature is 0"), "{said}");
}

/// Start-up refuses, naming the key, a node whose voter list differs from the one its
/// metadata log was formed with, and one whose node.id is not among the voters; the refused
/// node's data is untouched and it starts normally with its own file afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_cluster_configs_are_refused() {
    let mut cluster = Cluster::start(3, &[]);
    assert_eq!(create_topic(&cluster.node(1).addr(), "kept", 1), 0);
    assert_eq!(cluster.stop(3), Some(0));
    let voters = std::fs::read_to_string(cluster.properties(3)).expect("properties");
    let voters = voters.lines().find_map(|l| l.strip_prefix("controller.quorum.voters=")).expect("voters").to_string();

    let changed = format!("controller.quorum.voters={voters},4@127.0.0.1:1");
    let (code, stderr) = refused_start(Some(cluster.properties(3)), &[changed], TIMEOUT);
    assert_ne!(code, Some(0));
    assert!(stderr.contains("controller.quorum.voters"), "{stderr}");

    let (code, stderr) = refused_start(Some(cluster.properties(3)), &["node.id=7".to_string()], TIMEOUT);
    assert_ne!(code, Some(0));
    assert!(stderr.contains("controller.quorum.voters") && stderr.contains("node.id 7"), "{stderr}");

    // Its log directory says which cluster and node it belongs to: another cluster's id, or
    // another node's directory, stops start-up naming the key.
    let meta_path = cluster.node(3).data.join("meta.properties");
    let meta = std::fs::read_to_string(&meta_path).expect("meta.properties written once the node joined");
    let cluster_id = describe_cluster(&cluster.node(1).addr()).0;
    assert!(meta.contains("node.id=3") && meta.contains(&format!("cluster.id={cluster_id}")), "{meta}");
    let other_cluster = meta.replace(&cluster_id, "AnotherClusterIdxxxxxx");
    std::fs::write(&meta_path, other_cluster).expect("write");
    let (code, stderr) = refused_start(Some(cluster.properties(3)), &[], TIMEOUT);
    assert_ne!(code, Some(0));
    assert!(stderr.contains("cluster.id") && stderr.contains("another cluster"), "{stderr}");
    std::fs::write(&meta_path, meta.replace("node.id=3", "node.id=2")).expect("write");
    let (code, stderr) = refused_start(Some(cluster.properties(3)), &[], TIMEOUT);
    assert_ne!(code, Some(0));
    assert!(stderr.contains("node.id") && stderr.contains("belongs to node 2"), "{stderr}");
    std::fs::write(&meta_path, &meta).expect("write");

    cluster.restart(3);
    eventually(SETTLE, "node 3 back with the topic", || {
        (leaders(&cluster.node(3).addr(), "kept").len() == 1).then_some(())
    });
}

/// A second broker-only node with a node.id that a live broker already has is refused once the
/// other's session shows it is not a restart of the same node, naming node.id.
#[test]
fn duplicate_node_id_is_refused() {
    let cluster = Cluster::start_split(1, 1, FAST_SESSIONS);
    let data = tempfile::tempdir().expect("temp dir");
    let properties = std::fs::read_to_string(cluster.properties(2)).expect("properties");
    let port = common::free_port();
    let copy: Vec<String> = properties
        .lines()
        .map(|l| match l.split_once('=') {
            Some(("log.dirs", _)) => format!("log.dirs={}", data.path().display()),
            Some(("listeners", _)) => format!("listeners=PLAINTEXT://127.0.0.1:{port}"),
            Some(("advertised.listeners", _)) => format!("advertised.listeners=PLAINTEXT://127.0.0.1:{port}"),
            _ => l.to_string(),
        })
        .collect();
    let file = data.path().join("duplicate.properties");
    std::fs::write(&file, copy.join("\n")).expect("write");
    let (code, stderr) = refused_start(Some(&file), &["console.enabled=false".to_string()], TIMEOUT);
    assert_ne!(code, Some(0));
    assert!(stderr.contains("node.id 2") && stderr.contains("its own node.id"), "{stderr}");
    assert_eq!(describe_cluster(&cluster.node(2).addr()).2, BTreeSet::from([2]), "the first broker serves on");
}

/// Kafka's `kafka-cluster unregister` (UnregisterBroker) removes a dead broker's registration:
/// DescribeCluster and Metadata stop listing it, the partitions it led have another leader, an
/// unknown id gets Kafka's BROKER_ID_NOT_REGISTERED; started again, the broker registers anew.
/// `kafka-cluster unregister-controller` does the same for its controller registration.
#[test]
fn kafka_cluster_unregisters_a_dead_broker() {
    let mut cluster = Cluster::start(3, FAST_SESSIONS);
    let addr = cluster.node(1).addr();
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_static_str("spread")))
        .with_num_partitions(3)
        .with_replication_factor(3);
    let request = CreateTopicsRequest::default().with_timeout_ms(30_000).with_topics(vec![topic]);
    let ResponseKind::CreateTopics(created) = Conn::open(&addr).call(ApiKey::CreateTopics, 7, &request) else {
        panic!()
    };
    assert_eq!(created.topics[0].error_code, 0);
    eventually(SETTLE, "every partition has a leader", || {
        leaders(&addr, "spread").iter().all(|(e, l)| *e == 0 && *l > 0).then_some(())
    });
    let cluster_tool = |command: &str, args: &[&str]| {
        let out = Command::new("java")
            .args(["-cp", &classpath(), "org.apache.kafka.tools.ClusterTool", command, "--bootstrap-server", &addr])
            .args(args)
            .output()
            .expect("run kafka-cluster");
        let said = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), said)
    };
    cluster.kill(3);
    let (gone, said) = cluster_tool("unregister", &["--id", "3"]);
    assert!(gone, "kafka-cluster unregister --id 3: {said}");
    assert_eq!(describe_cluster(&addr).2, BTreeSet::from([1, 2]));
    let mut seen = Vec::new();
    let settled = std::time::Instant::now() + SETTLE;
    while std::time::Instant::now() < settled {
        seen = leaders(&addr, "spread");
        if seen.iter().all(|(e, l)| *e == 0 && *l != 3) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(seen.iter().all(|(e, l)| *e == 0 && *l != 3), "no partition led by the unregistered broker: {seen:?}");
    let (unknown, said) = cluster_tool("unregister", &["--id", "7"]);
    assert!(!unknown && said.contains("Broker ID 7 is not currently registered"), "{said}");

    // The dead node was also a voter: `kafka-cluster unregister-controller` removes its
    // controller registration once, as Kafka does; the active controller and unknown ids are
    // refused with Kafka's words.
    let (removed, said) = cluster_tool("unregister-controller", &["--id", "3"]);
    assert!(removed, "kafka-cluster unregister-controller --id 3: {said}");
    let (again, said) = cluster_tool("unregister-controller", &["--id", "3"]);
    assert!(!again && said.contains("Controller ID 3 is not currently registered."), "{said}");
    let (unknown, said) = cluster_tool("unregister-controller", &["--id", "7"]);
    assert!(!unknown && said.contains("Controller ID 7 is not currently registered."), "{said}");
    let active = quorum_leader(&addr).to_string();
    let (itself, said) = cluster_tool("unregister-controller", &["--id", &active]);
    assert!(!itself && said.contains("Controller cannot unregister itself while it is active."), "{said}");

    cluster.restart(3);
    eventually(SETTLE, "the broker registered again", || (describe_cluster(&addr).2.len() == 3).then_some(()));
    // Running again, the controller registers anew: it can be unregistered again.
    eventually(SETTLE, "the controller registered again", || {
        cluster_tool("unregister-controller", &["--id", "3"]).0.then_some(())
    });
}

/// The metadata quorum's leader (the active controller), from DescribeQuorum.
fn quorum_leader(addr: &str) -> i32 {
    use kafka_protocol::messages::DescribeQuorumRequest;
    use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
    let topic = TopicData::default()
        .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
        .with_partitions(vec![PartitionData::default().with_partition_index(0)]);
    let request = DescribeQuorumRequest::default().with_topics(vec![topic]);
    let ResponseKind::DescribeQuorum(r) = Conn::open(addr).call(ApiKey::DescribeQuorum, 2, &request) else {
        panic!("a DescribeQuorum answer")
    };
    r.topics[0].partitions[0].leader_id.0
}
