//! Share groups (KIP-932) at the protocol level, against Apache Kafka 4.4 and Brook alike:
//! membership and its refusals, share sessions' epochs, acquisition and redelivery, and the
//! acknowledgements Kafka refuses (records not delivered to the member, already acknowledged,
//! past what was delivered, a session epoch out of turn). The Java client's end-to-end tests
//! are `ShareGroupTest.java`.

use std::time::Duration;

use crate::common;
use crate::common::Brook;
use crate::common::kafka::Kafka;
use crate::common::wire::{Conn, end_txn_at, init_txn, now_ms, produce_txn_at};
use crate::differential::{Observations, assert_same, await_leader, create, name, produce_to_new, settled};
use crate::group_configs::{alter, describe_after};
use brook_log::batch::build;
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, GroupId, MetadataRequest, ResponseKind, ShareAcknowledgeRequest, ShareFetchRequest,
    ShareGroupDescribeRequest, ShareGroupHeartbeatRequest, metadata_request::MetadataRequestTopic,
    share_acknowledge_request, share_fetch_request,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

pub(crate) const GROUP: &str = "diff-share";
pub(crate) const MEMBER: &str = "aaaaaaaaaaaaaaaaaaaaaa";

pub(crate) fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

pub(crate) fn topic_id(conn: &mut Conn, topic: &str) -> Uuid {
    let request = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(name(topic)))]));
    let ResponseKind::Metadata(m) = conn.call(ApiKey::Metadata, 12, &request) else { panic!() };
    m.topics[0].topic_id
}

/// ShareGroupHeartbeat v1: (error code, "epoch=.. partitions=.. message=..").
pub(crate) fn heartbeat(
    conn: &mut Conn,
    group: &str,
    member: &str,
    epoch: i32,
    topics: Option<&[&str]>,
) -> (i16, String) {
    let request = ShareGroupHeartbeatRequest::default()
        .with_group_id(GroupId(text(group)))
        .with_member_id(text(member))
        .with_member_epoch(epoch)
        .with_subscribed_topic_names(topics.map(|ts| ts.iter().map(|t| name(t)).collect()));
    let ResponseKind::ShareGroupHeartbeat(r) = conn.call(ApiKey::ShareGroupHeartbeat, 1, &request) else { panic!() };
    let partitions: Vec<i32> =
        r.assignment.iter().flat_map(|a| &a.topic_partitions).flat_map(|t| t.partitions.clone()).collect();
    let message = r.error_message.map(|m| m.to_string()).unwrap_or_default();
    (
        r.error_code,
        format!("code={} epoch={} partitions={partitions:?} message={message}", r.error_code, r.member_epoch),
    )
}

pub(crate) fn fetch_request(epoch: i32, topic: Uuid, acks: &[(i64, i64, &[i8])]) -> ShareFetchRequest {
    let partition =
        share_fetch_request::FetchPartition::default().with_partition_index(0).with_acknowledgement_batches(
            acks.iter()
                .map(|(first, last, types)| {
                    share_fetch_request::AcknowledgementBatch::default()
                        .with_first_offset(*first)
                        .with_last_offset(*last)
                        .with_acknowledge_types(types.to_vec())
                })
                .collect(),
        );
    ShareFetchRequest::default()
        .with_group_id(Some(GroupId(text(GROUP))))
        .with_member_id(Some(text(MEMBER)))
        .with_share_session_epoch(epoch)
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_max_records(100)
        .with_batch_size(100)
        .with_topics(vec![
            share_fetch_request::FetchTopic::default().with_topic_id(topic).with_partitions(vec![partition]),
        ])
}

/// ShareFetch v1: the top-level error, and each partition's errors and acquired ranges.
pub(crate) fn share_fetch(conn: &mut Conn, request: &ShareFetchRequest) -> String {
    let ResponseKind::ShareFetch(r) = conn.call(ApiKey::ShareFetch, 1, request) else { panic!() };
    let partitions: Vec<String> = r
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| {
            let acquired: Vec<String> = p
                .acquired_records
                .iter()
                .map(|a| format!("{}-{}x{}", a.first_offset, a.last_offset, a.delivery_count))
                .collect();
            format!(
                "p{} error={} ack_error={} acquired={acquired:?}",
                p.partition_index, p.error_code, p.acknowledge_error_code
            )
        })
        .collect();
    format!("code={} lock={} {}", r.error_code, r.acquisition_lock_timeout_ms, partitions.join(" | "))
}

/// ShareAcknowledge v1: the top-level error and each partition's.
pub(crate) fn share_acknowledge(conn: &mut Conn, epoch: i32, topic: Uuid, acks: &[(i64, i64, &[i8])]) -> String {
    let partition = share_acknowledge_request::AcknowledgePartition::default()
        .with_partition_index(0)
        .with_acknowledgement_batches(
            acks.iter()
                .map(|(first, last, types)| {
                    share_acknowledge_request::AcknowledgementBatch::default()
                        .with_first_offset(*first)
                        .with_last_offset(*last)
                        .with_acknowledge_types(types.to_vec())
                })
                .collect(),
        );
    let topics = if acks.is_empty() {
        vec![]
    } else {
        vec![
            share_acknowledge_request::AcknowledgeTopic::default()
                .with_topic_id(topic)
                .with_partitions(vec![partition]),
        ]
    };
    let request = ShareAcknowledgeRequest::default()
        .with_group_id(Some(GroupId(text(GROUP))))
        .with_member_id(Some(text(MEMBER)))
        .with_share_session_epoch(epoch)
        .with_topics(topics);
    let ResponseKind::ShareAcknowledge(r) = conn.call(ApiKey::ShareAcknowledge, 1, &request) else { panic!() };
    let partitions: Vec<String> = r
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| format!("p{} error={}", p.partition_index, p.error_code))
        .collect();
    format!("code={} {}", r.error_code, partitions.join(" | "))
}

pub(crate) fn describe(conn: &mut Conn, group: &str) -> String {
    let request = ShareGroupDescribeRequest::default().with_group_ids(vec![GroupId(text(group))]);
    let ResponseKind::ShareGroupDescribe(r) = conn.call(ApiKey::ShareGroupDescribe, 1, &request) else { panic!() };
    let g = &r.groups[0];
    let members: Vec<String> = g
        .members
        .iter()
        .map(|m| {
            let parts: Vec<i32> = m.assignment.topic_partitions.iter().flat_map(|t| t.partitions.clone()).collect();
            format!(
                "{} epoch={} subscribed={:?} partitions={parts:?}",
                m.member_id, m.member_epoch, m.subscribed_topic_names
            )
        })
        .collect();
    format!(
        "code={} message={:?} state={} epoch={} assignment_epoch={} assignor={} members={members:?}",
        g.error_code, g.error_message, g.group_state, g.group_epoch, g.assignment_epoch, g.assignor_name
    )
}

/// The member epoch in a heartbeat answer.
pub(crate) fn member_epoch(answer: &str) -> i32 {
    let at = answer.find(" epoch=").expect("an epoch") + 7;
    answer[at..].split(' ').next().and_then(|e| e.parse().ok()).expect("a number")
}

/// An answer with its epochs left out: Kafka and Brook count group epochs differently (both
/// move them on every change, which is what members rely on).
pub(crate) fn without_epochs(answer: &str) -> String {
    answer.split(' ').filter(|w| !w.contains("epoch=")).collect::<Vec<_>>().join(" ")
}

fn share_scenario(addr: &str) -> Observations {
    let mut seen = Observations::new();
    let mut conn = Conn::open(addr);
    assert_eq!(create(&mut conn, "sq", 1, 1), 0);
    await_leader(&mut conn, "sq");
    let topic = topic_id(&mut conn, "sq");
    let sq: &[&str] = &["sq"];
    // As a client does: the group's coordinator first (which creates `__consumer_offsets`).
    let find = FindCoordinatorRequest::default().with_key_type(0).with_key(text(GROUP));
    common::eventually(Duration::from_secs(60), "the group coordinator", || {
        let ResponseKind::FindCoordinator(r) = conn.call(ApiKey::FindCoordinator, 3, &find) else { panic!() };
        (r.error_code == 0).then_some(())
    });
    for (step, group, member, epoch, topics) in [
        ("heartbeat: empty group", "", MEMBER, 0, Some(sq)),
        ("heartbeat: empty member", GROUP, "", 0, Some(sq)),
        ("heartbeat: join without topics", GROUP, MEMBER, 0, None),
        ("heartbeat: epoch -2", GROUP, MEMBER, -2, Some(sq)),
    ] {
        seen.insert(step.into(), heartbeat(&mut conn, group, member, epoch, topics).1);
    }
    // A member of a group the coordinator does not have: Kafka answers NOT_COORDINATOR (its
    // groups survive a coordinator change); Brook, whose share group membership does not,
    // tells the member to join again, which the client does (NOT_COORDINATOR would send it
    // looking for another coordinator forever).
    let unknown = heartbeat(&mut conn, "never-joined", MEMBER, 3, Some(sq));
    seen.insert("heartbeat: unknown group".into(), format!("{}", [16, 25].contains(&unknown.0)));
    let (_, joined) = settled("a share group join", || heartbeat(&mut conn, GROUP, MEMBER, 0, Some(sq)));
    let epoch = member_epoch(&joined);
    // Kafka assigns a partition once its share state is initialized, a moment after the join;
    // Brook at once (the state is initialized by the first fetch, in both).
    seen.insert("heartbeat: join".into(), without_epochs(&joined).replace("partitions=[0]", "partitions=[]"));
    seen.insert(
        "heartbeat: unknown member of the group".into(),
        heartbeat(&mut conn, GROUP, "bbbbbbbbbbbbbbbbbbbbbb", 1, None).1,
    );
    let fenced = heartbeat(&mut conn, GROUP, MEMBER, epoch + 5, None).1;
    seen.insert(
        "heartbeat: fenced epoch".into(),
        fenced.replace(&format!("({})", epoch + 5), "(E+5)").replace(&format!("({epoch})"), "(E)"),
    );
    let mut epoch = epoch;
    if !joined.contains("partitions=[0]") {
        common::eventually(Duration::from_secs(30), "the partition assigned", || {
            let answer = heartbeat(&mut conn, GROUP, MEMBER, epoch, None).1;
            epoch = member_epoch(&answer);
            answer.contains("partitions=[0]").then_some(())
        });
    }
    seen.insert("describe".into(), without_epochs(&describe(&mut conn, GROUP)));
    seen.insert("describe: unknown group".into(), describe(&mut conn, "no-such-share-group"));
    let request = ShareGroupDescribeRequest::default()
        .with_group_ids(vec![GroupId(text(GROUP))])
        .with_include_authorized_operations(true);
    let ResponseKind::ShareGroupDescribe(r) = conn.call(ApiKey::ShareGroupDescribe, 1, &request) else { panic!() };
    seen.insert("describe with authorized operations".into(), format!("{:#x}", r.groups[0].authorized_operations));

    seen.insert("fetch: no session".into(), share_fetch(&mut conn, &fetch_request(1, topic, &[])));
    // The first fetch opens the session; the share-partition starts at the log end (latest).
    // Written after the assignment, before the first fetch.
    produce_to_new(&mut conn, "sq", build::simple(now_ms(), 2, 10)).expect("produced");
    let opened = common::eventually(Duration::from_secs(30), "the share-partition to initialize", || {
        let answer = share_fetch(&mut conn, &fetch_request(0, topic, &[]));
        (!answer.contains("error=") || answer.contains("error=0")).then_some(answer)
    });
    seen.insert("fetch: open".into(), opened);
    produce_to_new(&mut conn, "sq", build::simple(now_ms(), 5, 10)).expect("produced");
    seen.insert("fetch: epoch out of turn".into(), share_fetch(&mut conn, &fetch_request(5, topic, &[])));
    seen.insert("fetch: five records".into(), share_fetch(&mut conn, &fetch_request(1, topic, &[])));
    // Offsets 0-1 were written before the first fetch: the share-partition starts at 2.
    seen.insert(
        "acknowledge: accept 2-3, release 4, reject 5-6".into(),
        share_acknowledge(&mut conn, 2, topic, &[(2, 3, &[1]), (4, 4, &[2]), (5, 6, &[3])]),
    );
    seen.insert(
        "acknowledge: 2 again (below the start)".into(),
        share_acknowledge(&mut conn, 3, topic, &[(2, 2, &[1])]),
    );
    seen.insert("acknowledge: 5 again (rejected)".into(), share_acknowledge(&mut conn, 4, topic, &[(5, 5, &[1])]));
    seen.insert("acknowledge: past what was delivered".into(), share_acknowledge(&mut conn, 5, topic, &[(9, 9, &[1])]));
    seen.insert("acknowledge: a bad type".into(), share_acknowledge(&mut conn, 6, topic, &[(4, 4, &[9])]));
    seen.insert("acknowledge: epoch 0".into(), share_acknowledge(&mut conn, 0, topic, &[(4, 4, &[1])]));
    seen.insert("fetch: the released record again".into(), share_fetch(&mut conn, &fetch_request(7, topic, &[])));
    seen.insert(
        "fetch: accepting it, nothing more".into(),
        share_fetch(&mut conn, &fetch_request(8, topic, &[(4, 4, &[1])])),
    );
    // KIP-1206 (ShareFetch v2): record-limit keeps to max_records; batch-optimized may pass it
    // to end at a batch boundary.
    produce_to_new(&mut conn, "sq", build::simple(now_ms(), 5, 10)).expect("produced");
    for (step, epoch, mode) in
        [("fetch v2: record limit, 2 records", 9, 1), ("fetch v2: batch-optimized, 2 records", 10, 0)]
    {
        let request = fetch_request(epoch, topic, &[]).with_max_records(2).with_share_acquire_mode(mode);
        let ResponseKind::ShareFetch(r) = conn.call(ApiKey::ShareFetch, 2, &request) else { panic!() };
        let acquired: Vec<String> = r
            .responses
            .iter()
            .flat_map(|t| &t.partitions)
            .flat_map(|p| &p.acquired_records)
            .map(|a| format!("{}-{}x{}", a.first_offset, a.last_offset, a.delivery_count))
            .collect();
        seen.insert(step.into(), format!("code={} acquired={acquired:?}", r.error_code));
    }
    seen.insert("acknowledge: close".into(), share_acknowledge(&mut conn, -1, topic, &[]));
    seen.insert("acknowledge: close again".into(), share_acknowledge(&mut conn, -1, topic, &[]));
    seen.insert("heartbeat: leave".into(), heartbeat(&mut conn, GROUP, MEMBER, -1, None).1);
    let left = describe(&mut conn, GROUP);
    seen.insert("describe: after leaving".into(), left.replace(&format!("epoch={}", epoch + 1), "epoch=E+1"));
    seen
}

#[test]
fn share_groups_answer_like_kafka() {
    let kafka = Kafka::start();
    let kafka_seen = share_scenario(&kafka.addr);
    drop(kafka);
    let brook = Brook::start(&[]);
    let brook_seen = share_scenario(&brook.addr);
    assert!(kafka_seen.len() >= 25, "{kafka_seen:?}");
    assert_same(&kafka_seen, &brook_seen);
}

/// One record of `id`'s transactional producer (transactions version 2: the leader adds the
/// partition), repeated while the previous transaction's markers are still being written.
fn produce_in_transaction(conn: &mut Conn, id: &str, topic: &str, (pid, epoch, sequence): (i64, i16, i32)) {
    let code = common::eventually(Duration::from_secs(30), "a transactional produce", || {
        let code = produce_txn_at(conn, 12, id, (topic, 0), (pid, epoch, sequence));
        (code != 51).then_some(code)
    });
    assert_eq!(code, 0, "produce in {id}'s transaction");
}

/// A group reading committed records only (`share.isolation.level=read_committed`): what it
/// acquires around a committed, an aborted and an open transaction, and once that commits.
fn read_committed_scenario(addr: &str) -> Observations {
    const ID: &str = "diff-share-txn";
    const GROUP_RC: &str = "diff-share-rc";
    let mut seen = Observations::new();
    let mut conn = Conn::open(addr);
    assert_eq!(create(&mut conn, "sqc", 1, 1), 0);
    await_leader(&mut conn, "sqc");
    let topic = topic_id(&mut conn, "sqc");
    let settings =
        [("share.isolation.level", 0, Some("read_committed")), ("share.auto.offset.reset", 0, Some("earliest"))];
    assert_eq!(alter(&mut conn, GROUP_RC, &settings), "0 None");
    describe_after(&mut conn, GROUP_RC, "share.isolation.level", Some("read_committed"));
    describe_after(&mut conn, GROUP_RC, "share.auto.offset.reset", Some("earliest"));
    let find = FindCoordinatorRequest::default().with_key_type(1).with_key(text(ID));
    settled("the transaction coordinator", || {
        let ResponseKind::FindCoordinator(r) = conn.call(ApiKey::FindCoordinator, 3, &find) else { panic!() };
        (r.error_code, ())
    });
    let (code, (pid, mut epoch)) = settled("a transactional producer id", || init_txn(&mut conn, ID, 60_000));
    assert_eq!(code, 0);
    // Offsets 0-1 committed (marker 2), 3-4 aborted (marker 5), 6 open, 7 outside transactions.
    for commit in [true, false] {
        for sequence in 0..2 {
            produce_in_transaction(&mut conn, ID, "sqc", (pid, epoch, sequence));
        }
        let (code, (_, next)) = end_txn_at(&mut conn, 5, ID, pid, epoch, commit);
        assert_eq!(code, 0, "end transaction (commit: {commit})");
        epoch = next;
    }
    produce_in_transaction(&mut conn, ID, "sqc", (pid, epoch, 0));
    produce_to_new(&mut conn, "sqc", build::simple(now_ms(), 1, 10)).expect("produced");

    let find = FindCoordinatorRequest::default().with_key_type(0).with_key(text(GROUP_RC));
    settled("the group coordinator", || {
        let ResponseKind::FindCoordinator(r) = conn.call(ApiKey::FindCoordinator, 3, &find) else { panic!() };
        (r.error_code, ())
    });
    let sqc: &[&str] = &["sqc"];
    let (_, joined) = settled("a share group join", || heartbeat(&mut conn, GROUP_RC, MEMBER, 0, Some(sqc)));
    let mut member_epoch_now = member_epoch(&joined);
    if !joined.contains("partitions=[0]") {
        common::eventually(Duration::from_secs(30), "the partition assigned", || {
            let answer = heartbeat(&mut conn, GROUP_RC, MEMBER, member_epoch_now, None).1;
            member_epoch_now = member_epoch(&answer);
            answer.contains("partitions=[0]").then_some(())
        });
    }
    let in_group = |request: ShareFetchRequest| request.with_group_id(Some(GroupId(text(GROUP_RC))));
    let first = common::eventually(Duration::from_secs(30), "the share-partition to initialize", || {
        let answer = share_fetch(&mut conn, &in_group(fetch_request(0, topic, &[])));
        answer.contains("acquired=[\"").then_some(answer)
    });
    seen.insert("fetch: below the open transaction".into(), first);
    // Accept the records, acknowledge the markers as gaps (what the Java client does).
    let acks: &[(i64, i64, &[i8])] = &[(0, 1, &[1]), (2, 2, &[0]), (5, 5, &[0])];
    seen.insert(
        "fetch: acknowledged, the transaction still open".into(),
        share_fetch(&mut conn, &in_group(fetch_request(1, topic, acks))),
    );
    let (code, _) = end_txn_at(&mut conn, 5, ID, pid, epoch, true);
    assert_eq!(code, 0, "commit the open transaction");
    let after = common::eventually(Duration::from_secs(30), "the committed records", || {
        let answer = share_fetch(&mut conn, &in_group(fetch_request(2, topic, &[])));
        answer.contains("acquired=[\"").then_some(answer)
    });
    seen.insert("fetch: after the commit".into(), after);
    seen
}

/// `share.isolation.level=read_committed` as Kafka 4.4 applies it: acquisition stops at the
/// last stable offset and records of aborted transactions are archived, never acquired.
#[test]
fn read_committed_share_groups_answer_like_kafka() {
    let kafka = Kafka::start();
    let kafka_seen = read_committed_scenario(&kafka.addr);
    drop(kafka);
    let brook = Brook::start(&[]);
    let brook_seen = read_committed_scenario(&brook.addr);
    assert_eq!(kafka_seen.len(), 3, "{kafka_seen:?}");
    assert_same(&kafka_seen, &brook_seen);
}
