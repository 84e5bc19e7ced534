//! Consumer groups end to end: librdkafka consumers (the `rdkafka` crate) and Debian's kcat
//! (librdkafka 2.0.2) in one group against a real `brook server`, plus Kafka's error codes for
//! bad commits and heartbeats over the raw protocol.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::wire::{Conn, create_topic};
use crate::common::{Brook, eventually};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(30);
/// Short sessions so that a dead member is noticed quickly; the broker's minimum is lowered.
const BROKER: &[&str] = &["group.initial.rebalance.delay.ms=0", "group.min.session.timeout.ms=1000"];
const SESSION_MS: &str = "3000";
/// The same, with fast consumer-protocol heartbeats.
const KIP848_BROKER: &[&str] = &[
    "group.initial.rebalance.delay.ms=0",
    "group.min.session.timeout.ms=1000",
    "group.consumer.heartbeat.interval.ms=100",
    "group.consumer.session.timeout.ms=3000",
];

fn consumer(brook: &Brook, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", &brook.addr)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", SESSION_MS)
        .set("heartbeat.interval.ms", "200")
        .create()
        .expect("consumer")
}

fn produce(brook: &Brook, topic: &str, count: usize) {
    let producer: BaseProducer = ClientConfig::new().set("bootstrap.servers", &brook.addr).create().expect("producer");
    for i in 0..count {
        let key = format!("customer-{}", i % 17);
        let value = format!("purchase-{i}");
        producer.send(BaseRecord::to(topic).key(&key).payload(&value)).expect("enqueue");
        producer.poll(Duration::ZERO);
    }
    producer.flush(TIMEOUT).expect("flush");
}

fn assigned(consumer: &BaseConsumer) -> BTreeSet<i32> {
    consumer.assignment().expect("assignment").elements().iter().map(|e| e.partition()).collect()
}

/// Polls every consumer until `done` holds for their assignments (records polled meanwhile are
/// dropped, so tests that count records produce them afterwards).
fn poll_until(consumers: &[&BaseConsumer], what: &str, done: impl Fn(&[BTreeSet<i32>]) -> bool) {
    eventually(TIMEOUT, what, || {
        for c in consumers {
            if let Some(Err(e)) = c.poll(Duration::from_millis(20)) {
                panic!("consumer error: {e}");
            }
        }
        let assignments: Vec<BTreeSet<i32>> = consumers.iter().map(|c| assigned(c)).collect();
        done(&assignments).then_some(())
    });
}

/// kcat as a balanced-group member in its own process, so that it can be killed (no LeaveGroup).
fn kcat_member(brook: &Brook, group: &str, topic: &str) -> Child {
    Command::new("kcat")
        .args(["-b", &brook.addr, "-G", group, topic, "-q", "-o", "end"])
        .args(["-X", &format!("session.timeout.ms={SESSION_MS}"), "-X", "heartbeat.interval.ms=200"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("kcat is installed (scripts/test installs it)")
}

/// Three members on three partitions get one each; a killed member's partition moves to the
/// survivors within the session timeout; a fourth member on three partitions stays idle.
#[test]
fn members_share_partitions_and_take_over_from_a_dead_one() {
    let brook = Brook::start(BROKER);
    create_topic(&mut Conn::open(&brook.addr), "purchases", 3);
    let (a, b) = (consumer(&brook, "shop"), consumer(&brook, "shop"));
    a.subscribe(&["purchases"]).expect("subscribe");
    b.subscribe(&["purchases"]).expect("subscribe");
    let mut kcat = kcat_member(&brook, "shop", "purchases");
    poll_until(&[&a, &b], "a and b hold one partition each, kcat the third", |s| {
        s[0].len() == 1 && s[1].len() == 1 && s[0] != s[1]
    });
    kcat.kill().expect("kill kcat");
    kcat.wait().expect("reap kcat");
    poll_until(&[&a, &b], "the dead member's partition moves to a survivor", |s| {
        s[0].len() + s[1].len() == 3 && s[0].union(&s[1]).count() == 3
    });
    let (c, d) = (consumer(&brook, "shop"), consumer(&brook, "shop"));
    c.subscribe(&["purchases"]).expect("subscribe");
    d.subscribe(&["purchases"]).expect("subscribe");
    poll_until(&[&a, &b, &c, &d], "four members on three partitions: one idle", |s| {
        let sizes: Vec<usize> = s.iter().map(BTreeSet::len).collect();
        let all: BTreeSet<i32> = s.iter().flatten().copied().collect();
        all.len() == 3 && sizes.iter().filter(|&&n| n == 1).count() == 3 && sizes.contains(&0)
    });
}

/// Records are consumed exactly once across a group committing synchronously; after a
/// broker restart the group resumes from its committed offsets. Classic protocol.
#[test]
fn group_consumes_exactly_once_and_resumes_after_restart() {
    exactly_once_across_restart(consumer);
}

/// The same with the consumer protocol (KIP-848).
#[test]
fn consumer_protocol_group_consumes_exactly_once_and_resumes_after_restart() {
    exactly_once_across_restart(|brook, group| kip848_consumer(brook, group, "uniform"));
}

fn exactly_once_across_restart(consumer: impl Fn(&Brook, &str) -> BaseConsumer) {
    let mut brook = Brook::start(KIP848_BROKER);
    create_topic(&mut Conn::open(&brook.addr), "orders", 3);
    let members: Vec<BaseConsumer> = (0..3).map(|_| consumer(&brook, "billing")).collect();
    for m in &members {
        m.subscribe(&["orders"]).expect("subscribe");
    }
    let refs: Vec<&BaseConsumer> = members.iter().collect();
    // Produced once the group is settled: `poll_until` drops what it polls.
    poll_until(&refs, "three members, one partition each", |s| s.iter().all(|a| a.len() == 1));
    produce(&brook, "orders", 300);
    let mut seen: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    // Stop at 200 of the 300: the rest must come after the restart, and only the rest.
    eventually(TIMEOUT, "200 records consumed", || {
        for m in &members {
            if seen.len() >= 200 {
                break;
            }
            if let Some(message) = m.poll(Duration::from_millis(20)) {
                let message = message.expect("consume");
                *seen.entry((message.partition(), message.offset())).or_default() += 1;
                m.commit_message(&message, CommitMode::Sync).expect("sync commit");
            }
        }
        (seen.len() >= 200).then_some(())
    });
    assert!(seen.values().all(|&n| n == 1), "a record was delivered twice: {seen:?}");
    drop(members);
    let data = brook.data.clone();
    let dir = brook.take_dir();
    assert_eq!(brook.stop(), Some(0));
    let brook = Brook::start_in(&data, KIP848_BROKER);
    let resumed = consumer(&brook, "billing");
    resumed.subscribe(&["orders"]).expect("subscribe");
    eventually(TIMEOUT, "the other 100 records after the restart", || {
        if let Some(message) = resumed.poll(Duration::from_millis(50)) {
            let message = message.expect("consume");
            *seen.entry((message.partition(), message.offset())).or_default() += 1;
            resumed.commit_message(&message, CommitMode::Sync).expect("sync commit");
        }
        (seen.len() >= 300).then_some(())
    });
    assert_eq!(seen.len(), 300);
    assert!(seen.values().all(|&n| n == 1), "a record was read again after the restart");
    // The committed offsets are the log end offsets: nothing left to read.
    let mut wanted = TopicPartitionList::new();
    for p in 0..3 {
        wanted.add_partition("orders", p);
    }
    let committed = resumed.committed_offsets(wanted, TIMEOUT).expect("committed offsets");
    let total: i64 = committed.elements().iter().map(|e| if let Offset::Offset(o) = e.offset() { o } else { 0 }).sum();
    assert_eq!(total, 300);
    drop(dir);
}

fn join(conn: &mut Conn, group: &str, member_id: &str) -> JoinGroupResponse {
    join_as(conn, group, member_id, None)
}

/// JoinGroup v7 with the consumer protocol type and one "range" protocol.
fn join_as(conn: &mut Conn, group: &str, member_id: &str, instance_id: Option<&str>) -> JoinGroupResponse {
    let request = JoinGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(StrBytes::from_string(member_id.to_string()))
        .with_group_instance_id(instance_id.map(|i| StrBytes::from_string(i.to_string())))
        .with_protocol_type(StrBytes::from_static_str("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(StrBytes::from_static_str("range"))
                .with_metadata(bytes::Bytes::from_static(&[0, 0, 0, 0, 0, 0])),
        ]);
    match conn.call(ApiKey::JoinGroup, 7, &request) {
        ResponseKind::JoinGroup(r) => r,
        other => panic!("unexpected {other:?}"),
    }
}

fn commit(conn: &mut Conn, group: &str, member_id: &str, generation: i32, version: i16) -> i16 {
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(StrBytes::from_string(member_id.to_string()))
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![OffsetCommitRequestPartition::default().with_committed_offset(5)]),
        ]);
    match conn.call(ApiKey::OffsetCommit, version, &request) {
        ResponseKind::OffsetCommit(r) => r.topics[0].partitions[0].error_code,
        other => panic!("unexpected {other:?}"),
    }
}

/// Commits and heartbeats from unknown members or stale generations get Kafka's error codes,
/// and a member id is handed out first (JoinGroup v4+).
#[test]
fn stale_members_are_refused_with_kafkas_codes() {
    let brook = Brook::start(BROKER);
    let mut conn = Conn::open(&brook.addr);
    create_topic(&mut conn, "t", 1);
    let first = join(&mut conn, "g", "");
    assert_eq!(first.error_code, ResponseError::MemberIdRequired.code());
    let member = first.member_id.to_string();
    assert!(!member.is_empty());
    let joined = join(&mut conn, "g", &member);
    assert_eq!(joined.error_code, 0);
    assert_eq!(joined.leader.to_string(), member);
    let generation = joined.generation_id;
    assert_eq!(commit(&mut conn, "g", "someone-else", generation, 8), ResponseError::UnknownMemberId.code());
    assert_eq!(commit(&mut conn, "g", &member, generation + 1, 8), ResponseError::IllegalGeneration.code());
    assert_eq!(commit(&mut conn, "no-such-group", "m", 1, 8), ResponseError::IllegalGeneration.code());
    assert_eq!(commit(&mut conn, "no-such-group", "m", 1, 9), ResponseError::GroupIdNotFound.code());
    // Not synced yet: the generation is being completed.
    assert_eq!(commit(&mut conn, "g", &member, generation, 8), ResponseError::RebalanceInProgress.code());
    let heartbeat = HeartbeatRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("g")))
        .with_generation_id(generation - 1)
        .with_member_id(StrBytes::from_string(member.clone()));
    match conn.call(ApiKey::Heartbeat, 4, &heartbeat) {
        ResponseKind::Heartbeat(r) => assert_eq!(r.error_code, ResponseError::IllegalGeneration.code()),
        other => panic!("unexpected {other:?}"),
    }
    let too_short = JoinGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("g2")))
        .with_session_timeout_ms(10)
        .with_protocol_type(StrBytes::from_static_str("consumer"));
    match conn.call(ApiKey::JoinGroup, 7, &too_short) {
        ResponseKind::JoinGroup(r) => assert_eq!(r.error_code, ResponseError::InvalidSessionTimeout.code()),
        other => panic!("unexpected {other:?}"),
    }
    // A commit with no member and no generation is fine while the group has no members.
    assert_eq!(commit(&mut conn, "standalone", "", -1, 8), 0);
}

fn kip848_consumer(brook: &Brook, group: &str, assignor: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", &brook.addr)
        .set("group.id", group)
        .set("group.protocol", "consumer")
        .set("group.remote.assignor", assignor)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer")
}

/// A raw ConsumerGroupHeartbeat: (error, member id, epoch, assigned partitions of topic `t`).
fn consumer_heartbeat(conn: &mut Conn, group: &str, member: &str, epoch: i32) -> (i16, String, i32, BTreeSet<i32>) {
    use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
    let mut request = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_member_id(StrBytes::from_string(member.to_string()))
        .with_member_epoch(epoch)
        .with_rebalance_timeout_ms(-1);
    if epoch == 0 {
        request = request
            .with_rebalance_timeout_ms(5000)
            .with_subscribed_topic_names(Some(vec![TopicName(StrBytes::from_static_str("shared"))]))
            .with_topic_partitions(Some(Vec::<TopicPartitions>::new()));
    }
    match conn.call(ApiKey::ConsumerGroupHeartbeat, 1, &request) {
        ResponseKind::ConsumerGroupHeartbeat(r) => {
            let partitions = r
                .assignment
                .map(|a| a.topic_partitions.iter().flat_map(|t| t.partitions.clone()).collect())
                .unwrap_or_default();
            (r.error_code, r.member_id.map(|m| m.to_string()).unwrap_or_default(), r.member_epoch, partitions)
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// The consumer protocol (KIP-848) with librdkafka, for both server-side assignors: members get
/// balanced assignments; with `uniform`, a joining member takes only the partitions that must
/// move; a member that stops heartbeating is dropped after the session timeout and its
/// partitions go to the others.
#[test]
fn consumer_protocol_assigns_on_the_server() {
    let brook = Brook::start(KIP848_BROKER);
    create_topic(&mut Conn::open(&brook.addr), "shared", 6);
    for assignor in ["uniform", "range"] {
        let group = format!("kip848-{assignor}");
        let members: Vec<BaseConsumer> = (0..3).map(|_| kip848_consumer(&brook, &group, assignor)).collect();
        for m in &members {
            m.subscribe(&["shared"]).expect("subscribe");
        }
        let refs: Vec<&BaseConsumer> = members.iter().collect();
        poll_until(&refs, "two partitions each", |s| s.iter().all(|a| a.len() == 2) && disjoint_cover(s, 6));
        let before: Vec<BTreeSet<i32>> = members.iter().map(assigned).collect();
        let fourth = kip848_consumer(&brook, &group, assignor);
        fourth.subscribe(&["shared"]).expect("subscribe");
        let mut all = refs.clone();
        all.push(&fourth);
        poll_until(&all, "four members, balanced", |s| {
            let mut sizes: Vec<usize> = s.iter().map(BTreeSet::len).collect();
            sizes.sort();
            sizes == [1, 1, 2, 2] && disjoint_cover(s, 6)
        });
        if assignor == "uniform" {
            let after: Vec<BTreeSet<i32>> = members.iter().map(assigned).collect();
            let moved: usize = before.iter().zip(&after).map(|(b, a)| b.difference(a).count()).sum();
            assert_eq!(
                moved,
                assigned(&fourth).len(),
                "only the new member's partitions moved: {before:?} -> {after:?}"
            );
            silent_member_is_dropped(&group, &brook, &all);
            // The fourth leaves: only its partitions move.
            let before: Vec<BTreeSet<i32>> = members.iter().map(assigned).collect();
            let orphaned = assigned(&fourth);
            drop(fourth);
            poll_until(&refs, "the leaver's partitions taken over", |s| disjoint_cover(s, 6));
            let after: Vec<BTreeSet<i32>> = members.iter().map(assigned).collect();
            for (b, a) in before.iter().zip(&after) {
                assert!(b.is_subset(a), "a member lost a partition it did not have to: {before:?} -> {after:?}");
            }
            let gained: BTreeSet<i32> = before.iter().zip(&after).flat_map(|(b, a)| a.difference(b).copied()).collect();
            assert_eq!(gained, orphaned);
        }
    }
}

/// A member joins over the raw protocol, gets partitions, then goes silent: after the session
/// timeout its partitions belong to the librdkafka members again.
fn silent_member_is_dropped(group: &str, brook: &Brook, others: &[&BaseConsumer]) {
    let mut conn = Conn::open(&brook.addr);
    let (error, member, mut epoch, _) = consumer_heartbeat(&mut conn, group, "", 0);
    assert_eq!(error, 0);
    let mut mine = BTreeSet::new();
    eventually(TIMEOUT, "the raw member gets a partition", || {
        for c in others {
            c.poll(Duration::from_millis(20));
        }
        let (error, _, e, partitions) = consumer_heartbeat(&mut conn, group, &member, epoch);
        assert_eq!(error, 0);
        epoch = e;
        if !partitions.is_empty() {
            mine = partitions;
        }
        (!mine.is_empty()).then_some(())
    });
    let (fenced, ..) = consumer_heartbeat(&mut conn, group, &member, epoch + 5);
    assert_eq!(fenced, ResponseError::FencedMemberEpoch.code());
    let (unknown, ..) = consumer_heartbeat(&mut conn, group, "nobody", 3);
    assert_eq!(unknown, ResponseError::UnknownMemberId.code());
    poll_until(others, "the silent member's partitions return to the others", |s| disjoint_cover(s, 6));
}

fn disjoint_cover(sets: &[BTreeSet<i32>], partitions: i32) -> bool {
    let all: Vec<i32> = sets.iter().flatten().copied().collect();
    all.len() == partitions as usize && all.iter().copied().collect::<BTreeSet<i32>>().len() == partitions as usize
}

/// Every acknowledged commit survives kill -9: commits are fsynced before they are answered.
#[test]
fn commits_survive_kill_9() {
    let mut brook = Brook::start(BROKER);
    create_topic(&mut Conn::open(&brook.addr), "ledger", 4);
    let committer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brook.addr)
        .set("group.id", "auditors")
        .create()
        .expect("consumer");
    let mut last = TopicPartitionList::new();
    for round in 1..=50 {
        let mut offsets = TopicPartitionList::new();
        for p in 0..4 {
            offsets.add_partition_offset("ledger", p, Offset::Offset(round * 10 + i64::from(p))).expect("offset");
        }
        committer.commit(&offsets, CommitMode::Sync).expect("sync commit");
        last = offsets;
    }
    drop(committer);
    let data = brook.data.clone();
    let dir = brook.take_dir();
    brook.kill();
    let brook = Brook::start_in(&data, BROKER);
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brook.addr)
        .set("group.id", "auditors")
        .create()
        .expect("consumer");
    let mut wanted = TopicPartitionList::new();
    for p in 0..4 {
        wanted.add_partition("ledger", p);
    }
    let committed = reader.committed_offsets(wanted, TIMEOUT).expect("committed offsets");
    let offsets = |l: &TopicPartitionList| l.elements().iter().map(|e| e.offset()).collect::<Vec<_>>();
    assert_eq!(offsets(&committed), offsets(&last));
    drop(dir);
}

/// A static member (group.instance.id) that comes back with a new member id takes its old
/// place without a rebalance: same generation, same assignment.
#[test]
fn static_member_rejoins_without_rebalance() {
    let brook = Brook::start(BROKER);
    let mut conn = Conn::open(&brook.addr);
    let join = |conn: &mut Conn, member: &str| join_as(conn, "static", member, Some("worker-1"));
    let first = join(&mut conn, "");
    assert_eq!(first.error_code, 0, "static members join at once, no member id round trip");
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("static")))
        .with_generation_id(first.generation_id)
        .with_member_id(first.member_id.clone())
        .with_group_instance_id(Some(StrBytes::from_static_str("worker-1")))
        .with_assignments(vec![
            sync_group_request::SyncGroupRequestAssignment::default()
                .with_member_id(first.member_id.clone())
                .with_assignment(bytes::Bytes::from_static(b"mine")),
        ]);
    match conn.call(ApiKey::SyncGroup, 3, &sync) {
        ResponseKind::SyncGroup(r) => assert_eq!((r.error_code, &r.assignment[..]), (0, &b"mine"[..])),
        other => panic!("unexpected {other:?}"),
    }
    // The process restarts: a new connection, no member id, the same instance id.
    let mut again = Conn::open(&brook.addr);
    let second = join(&mut again, "");
    assert_eq!(second.error_code, 0);
    assert_ne!(second.member_id, first.member_id);
    assert_eq!(second.generation_id, first.generation_id, "no rebalance");
    let resync = sync.with_member_id(second.member_id.clone()).with_assignments(vec![]);
    match again.call(ApiKey::SyncGroup, 3, &resync) {
        ResponseKind::SyncGroup(r) => assert_eq!((r.error_code, &r.assignment[..]), (0, &b"mine"[..])),
        other => panic!("unexpected {other:?}"),
    }
    // The old member id is fenced.
    let heartbeat = HeartbeatRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("static")))
        .with_generation_id(first.generation_id)
        .with_member_id(first.member_id.clone())
        .with_group_instance_id(Some(StrBytes::from_static_str("worker-1")));
    match conn.call(ApiKey::Heartbeat, 3, &heartbeat) {
        ResponseKind::Heartbeat(r) => assert_eq!(r.error_code, ResponseError::FencedInstanceId.code()),
        other => panic!("unexpected {other:?}"),
    }
}

/// Hundreds of members heartbeating as fast as they can do not stall produce and fetch.
#[test]
fn heartbeat_storm_does_not_stall_the_data_path() {
    let brook = Brook::start(BROKER);
    let mut conn = Conn::open(&brook.addr);
    create_topic(&mut conn, "busy", 1);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let beats = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let storm: Vec<_> = (0..8)
        .map(|t| {
            let (addr, stop, beats) = (brook.addr.clone(), stop.clone(), beats.clone());
            std::thread::spawn(move || {
                let mut conn = Conn::open(&addr);
                let members: Vec<String> = (0..25)
                    .map(|i| {
                        let group = format!("storm-{t}-{i}");
                        let (error, member, ..) = consumer_heartbeat(&mut conn, &group, "", 0);
                        assert_eq!(error, 0);
                        member
                    })
                    .collect();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    for (i, member) in members.iter().enumerate() {
                        let (error, ..) = consumer_heartbeat(&mut conn, &format!("storm-{t}-{i}"), member, 1);
                        assert_eq!(error, 0);
                        beats.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    eventually(TIMEOUT, "the storm to get going", || {
        (beats.load(std::sync::atomic::Ordering::Relaxed) > 1000).then_some(())
    });
    let producer: BaseProducer = ClientConfig::new().set("bootstrap.servers", &brook.addr).create().expect("producer");
    for i in 0..500 {
        producer.send(BaseRecord::to("busy").key("k").payload(&format!("v{i}"))).expect("enqueue");
    }
    producer.flush(TIMEOUT).expect("every record acknowledged during the storm");
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brook.addr)
        .set("group.id", "storm-reader")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("busy", 0, Offset::Beginning).expect("assign");
    reader.assign(&tpl).expect("assign");
    let mut read = 0;
    eventually(TIMEOUT, "every record fetched during the storm", || {
        if let Some(m) = reader.poll(Duration::from_millis(50)) {
            m.expect("fetch");
            read += 1;
        }
        (read == 500).then_some(())
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in storm {
        t.join().expect("storm thread");
    }
    assert!(beats.load(std::sync::atomic::Ordering::Relaxed) > 1000);
}
