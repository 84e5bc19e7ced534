//! Streams groups (KIP-1071) on the wire, against Apache Kafka 4.4 and Brook alike: a member
//! joining with a topology whose source topic is missing, then whose changelog topic the
//! broker creates, its tasks, the describe and list answers, fencing, leaving, and Kafka's
//! refusals of malformed heartbeats. The Java tests run Kafka Streams itself
//! (`group.protocol=streams`) against Brook.

use std::time::Duration;

use crate::common;
use crate::common::Brook;
use crate::common::kafka::Kafka;
use crate::common::wire::Conn;
use crate::differential::{Observations, assert_same, await_leader, create, name, settled};
use crate::share::text;
use kafka_protocol::messages::streams_group_heartbeat_request::{Subtopology, TaskIds, TopicInfo, Topology};
use kafka_protocol::messages::{
    ApiKey, ConsumerGroupHeartbeatRequest, FindCoordinatorRequest, GroupId, ListGroupsRequest, ResponseKind,
    StreamsGroupDescribeRequest, StreamsGroupHeartbeatRequest, StreamsGroupHeartbeatResponse,
    StreamsGroupTopologyDescriptionUpdateRequest,
};

const SOURCE: &str = "sg-purchases";

pub(crate) fn topology(source: &str, changelog: Option<&str>) -> Topology {
    let changelogs = changelog.map(|c| TopicInfo::default().with_name(name(c))).into_iter().collect();
    Topology::default().with_epoch(0).with_subtopologies(vec![
        Subtopology::default()
            .with_subtopology_id(text("0"))
            .with_source_topics(vec![name(source)])
            .with_state_changelog_topics(changelogs),
    ])
}

/// A join (epoch 0) as the Streams client sends it, for `edit` to spoil.
pub(crate) fn join(group: &str, member: &str, topology: Topology) -> StreamsGroupHeartbeatRequest {
    StreamsGroupHeartbeatRequest::default()
        .with_group_id(GroupId(text(group)))
        .with_member_id(text(member))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_topology(Some(topology))
        .with_process_id(Some(text("process-1")))
        .with_active_tasks(Some(vec![]))
        .with_standby_tasks(Some(vec![]))
        .with_warmup_tasks(Some(vec![]))
}

/// A heartbeat's answer once the group's coordinator is loaded (Kafka's may not be at first).
pub(crate) fn beat(conn: &mut Conn, request: &StreamsGroupHeartbeatRequest) -> StreamsGroupHeartbeatResponse {
    settled("a streams group heartbeat", || {
        let ResponseKind::StreamsGroupHeartbeat(r) = conn.call(ApiKey::StreamsGroupHeartbeat, 1, request) else {
            panic!()
        };
        (r.error_code, r)
    })
    .1
}

/// `text` with each parenthesized number as `(N)`.
fn without_numbers(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split('(').enumerate() {
        match part.split_once(')') {
            Some((n, rest)) if i > 0 && n.parse::<i64>().is_ok() => out.push_str(&format!("(N){rest}")),
            _ if i > 0 => out.push_str(&format!("({part}")),
            _ => out.push_str(part),
        }
    }
    out
}

/// What a heartbeat answer shows, but epochs' values (a new group's first join takes Kafka's
/// group epoch to 2, Brook's to 1: both only ever increase).
fn shown(r: &StreamsGroupHeartbeatResponse) -> String {
    let tasks = |t: &Option<Vec<kafka_protocol::messages::streams_group_heartbeat_response::TaskIds>>| {
        t.as_ref()
            .map(|t| t.iter().map(|t| format!("{}:{:?}", t.subtopology_id.as_str(), t.partitions)).collect::<Vec<_>>())
    };
    let statuses: Option<Vec<String>> = r
        .status
        .as_ref()
        .map(|s| s.iter().map(|s| format!("{} {}", s.status_code, s.status_detail.as_str())).collect());
    format!(
        "code={} message={:?} epoch>0={} interval={} lag={} offsets interval={} statuses={statuses:?} active={:?} standby={:?} warmup={:?} description required={}",
        r.error_code,
        r.error_message.as_deref().map(without_numbers),
        r.member_epoch > 0,
        r.heartbeat_interval_ms,
        r.acceptable_recovery_lag,
        r.task_offset_interval_ms,
        tasks(&r.active_tasks),
        tasks(&r.standby_tasks),
        tasks(&r.warmup_tasks),
        r.topology_description_required,
    )
}

fn describe(conn: &mut Conn, group: &str) -> String {
    let request = StreamsGroupDescribeRequest::default().with_group_ids(vec![GroupId(text(group))]);
    let ResponseKind::StreamsGroupDescribe(r) = conn.call(ApiKey::StreamsGroupDescribe, 1, &request) else { panic!() };
    let g = &r.groups[0];
    let subtopologies: Vec<String> = g
        .topology
        .iter()
        .flat_map(|t| t.subtopologies.iter().flatten())
        .map(|s| {
            let changelogs: Vec<&str> = s.state_changelog_topics.iter().map(|c| c.name.as_str()).collect();
            format!("{} sources={:?} changelogs={changelogs:?}", s.subtopology_id.as_str(), s.source_topics)
        })
        .collect();
    let members: Vec<String> = g
        .members
        .iter()
        .map(|m| {
            let active: Vec<String> = m
                .assignment
                .active_tasks
                .iter()
                .map(|t| format!("{}:{:?}", t.subtopology_id.as_str(), t.partitions))
                .collect();
            format!("{} process={} active={active:?}", m.member_id.as_str(), m.process_id.as_str())
        })
        .collect();
    format!(
        "code={} message={:?} state={} subtopologies={subtopologies:?} members={members:?} description status={} assignor={:?}",
        g.error_code,
        g.error_message.as_deref(),
        g.group_state.as_str(),
        g.topology_description_status,
        g.assignor_name.as_deref(),
    )
}

/// OffsetFetch v9 of a group as a member names itself: the group's error code.
fn offset_fetch(conn: &mut Conn, group: &str, member: Option<&str>, epoch: i32) -> String {
    use kafka_protocol::messages::OffsetFetchRequest;
    use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
    let request = OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(text(group)))
            .with_member_id(member.map(text))
            .with_member_epoch(epoch)
            .with_topics(None),
    ]);
    let ResponseKind::OffsetFetch(r) = conn.call(ApiKey::OffsetFetch, 9, &request) else { panic!() };
    format!("code={}", r.groups[0].error_code)
}

fn listed(conn: &mut Conn, group: &str) -> String {
    let request = ListGroupsRequest::default().with_types_filter(vec![text("streams")]);
    let ResponseKind::ListGroups(r) = conn.call(ApiKey::ListGroups, 5, &request) else { panic!() };
    let g: Vec<String> = r
        .groups
        .iter()
        .filter(|g| g.group_id.as_str() == group)
        .map(|g| {
            format!(
                "{} {} {} {}",
                g.group_id.as_str(),
                g.protocol_type.as_str(),
                g.group_state.as_str(),
                g.group_type.as_str()
            )
        })
        .collect();
    format!("code={} groups={g:?}", r.error_code)
}

fn scenario(addr: &str) -> Observations {
    let mut seen = Observations::new();
    let mut conn = Conn::open(addr);
    assert_eq!(create(&mut conn, SOURCE, 3, 1), 0);
    await_leader(&mut conn, SOURCE);
    for group in ["sg-app", "sg-missing", "sg-refusals"] {
        let find = FindCoordinatorRequest::default().with_key_type(0).with_key(text(group));
        common::eventually(Duration::from_secs(60), "the group coordinator", || {
            let ResponseKind::FindCoordinator(r) = conn.call(ApiKey::FindCoordinator, 3, &find) else { panic!() };
            (r.error_code == 0).then_some(())
        });
    }

    // Malformed heartbeats, refused before any group is made.
    let good = || join("sg-refusals", "member-r", topology(SOURCE, None));
    let spoiled: [(&str, StreamsGroupHeartbeatRequest); 7] = [
        ("empty member id", good().with_member_id(text(""))),
        ("no topology", good().with_topology(None)),
        ("no process id", good().with_process_id(None)),
        ("no rebalance timeout", good().with_rebalance_timeout_ms(-1)),
        (
            "owned tasks",
            good().with_active_tasks(Some(vec![
                TaskIds::default().with_subtopology_id(text("0")).with_partitions(vec![0]),
            ])),
        ),
        ("bad epoch", good().with_member_epoch(-3)),
        ("empty instance id", good().with_instance_id(Some(text("")))),
    ];
    for (step, request) in spoiled {
        seen.insert(format!("join: {step}"), shown(&beat(&mut conn, &request)));
    }
    let bad_changelog = {
        let mut t = topology(SOURCE, Some("sg-refusals-changelog"));
        t.subtopologies[0].state_changelog_topics[0].partitions = 5;
        good().with_topology(Some(t))
    };
    seen.insert("join: changelog with partitions".into(), shown(&beat(&mut conn, &bad_changelog)));
    let unknown = good().with_member_epoch(3).with_topology(None);
    seen.insert("heartbeat: unknown member".into(), shown(&beat(&mut conn, &unknown)));
    seen.insert("describe: unknown group".into(), describe(&mut conn, "sg-nobody"));

    // A source topic that does not exist: the group is not ready, no tasks.
    let missing = beat(&mut conn, &join("sg-missing", "member-m", topology("sg-nosuch", None)));
    seen.insert("join: missing source topic".into(), shown(&missing));
    seen.insert("describe: missing source topic".into(), describe(&mut conn, "sg-missing"));

    // A changelog topic the broker creates; the member waits for it, then runs every task.
    let first = beat(&mut conn, &join("sg-app", "member-a", topology(SOURCE, Some("sg-app-counts-changelog"))));
    seen.insert("join: changelog missing".into(), shown(&first));
    let epoch = first.member_epoch;
    let next = |epoch: i32| {
        StreamsGroupHeartbeatRequest::default()
            .with_group_id(GroupId(text("sg-app")))
            .with_member_id(text("member-a"))
            .with_member_epoch(epoch)
            .with_rebalance_timeout_ms(-1)
    };
    let running = common::eventually(Duration::from_secs(30), "the changelog topic", || {
        let r = beat(&mut conn, &next(epoch));
        (r.status.as_ref().is_some_and(|s| s.is_empty()) && r.error_code == 0).then_some(r)
    });
    seen.insert("heartbeat: topics in place".into(), shown(&running));
    let owned = next(running.member_epoch).with_active_tasks(Some(vec![
        TaskIds::default().with_subtopology_id(text("0")).with_partitions(vec![0, 1, 2]),
    ]));
    seen.insert("heartbeat: owning its tasks".into(), shown(&beat(&mut conn, &owned)));
    seen.insert("describe: running".into(), describe(&mut conn, "sg-app"));
    let epoch = running.member_epoch;
    for (step, group, member, member_epoch) in [
        ("member at its epoch", "sg-app", Some("member-a"), epoch),
        ("stale epoch", "sg-app", Some("member-a"), epoch - 1),
        ("unknown member", "sg-app", Some("member-z"), epoch),
        ("admin", "sg-app", None, -1),
        ("member of a group that does not exist", "sg-nobody", Some("member-a"), 3),
    ] {
        seen.insert(format!("offset fetch v9: {step}"), offset_fetch(&mut conn, group, member, member_epoch));
    }
    seen.insert("list: running".into(), listed(&mut conn, "sg-app"));
    seen.insert("heartbeat: epoch ahead".into(), shown(&beat(&mut conn, &next(running.member_epoch + 10))));
    let consumer = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(text("sg-app")))
        .with_member_id(text("cccccccccccccccccccccc"))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![name(SOURCE)]))
        .with_topic_partitions(Some(vec![]));
    let ResponseKind::ConsumerGroupHeartbeat(c) = conn.call(ApiKey::ConsumerGroupHeartbeat, 1, &consumer) else {
        panic!()
    };
    seen.insert(
        "consumer heartbeat to a streams group".into(),
        format!("code={} message={:?}", c.error_code, c.error_message),
    );
    let update = StreamsGroupTopologyDescriptionUpdateRequest::default()
        .with_group_id(GroupId(text("sg-app")))
        .with_member_id(text("member-z"))
        .with_topology_epoch(0);
    let ResponseKind::StreamsGroupTopologyDescriptionUpdate(u) =
        conn.call(ApiKey::StreamsGroupTopologyDescriptionUpdate, 0, &update)
    else {
        panic!()
    };
    seen.insert("topology description from a stranger".into(), format!("code={}", u.error_code));
    let leave = next(-1);
    let left = beat(&mut conn, &leave);
    seen.insert("leave".into(), format!("code={} epoch={}", left.error_code, left.member_epoch));
    seen.insert("describe: after leaving".into(), describe(&mut conn, "sg-app"));
    seen.insert("list: after leaving".into(), listed(&mut conn, "sg-app"));
    seen
}

/// Kafka and Brook answer the same streams group heartbeats and describes the same way.
#[test]
fn streams_groups_like_kafka() {
    let kafka = Kafka::start();
    let kafka_seen = scenario(&kafka.addr);
    drop(kafka);
    let brook = Brook::start(&[]);
    let brook_seen = scenario(&brook.addr);
    assert!(kafka_seen.len() >= 20, "{kafka_seen:?}");
    assert_same(&kafka_seen, &brook_seen);
}

/// A streams group is kept in `__consumer_offsets` in Kafka's records: after kill -9 and a
/// restart its member carries on at its epoch with its tasks (no rejoin), and a member that
/// left before the kill stays gone.
#[test]
fn streams_groups_outlive_a_restart() {
    let mut brook = Brook::start(&["group.streams.initial.rebalance.delay.ms=0"]);
    let mut conn = Conn::open(&brook.addr);
    assert_eq!(create(&mut conn, "sg-kept", 2, 1), 0);
    await_leader(&mut conn, "sg-kept");
    let first = beat(&mut conn, &join("sg-kept-app", "member-a", topology("sg-kept", Some("sg-kept-app-changelog"))));
    let next = |member: &str, epoch: i32| {
        StreamsGroupHeartbeatRequest::default()
            .with_group_id(GroupId(text("sg-kept-app")))
            .with_member_id(text(member))
            .with_member_epoch(epoch)
            .with_rebalance_timeout_ms(-1)
    };
    let running = common::eventually(Duration::from_secs(30), "the member's tasks", || {
        let r = beat(&mut conn, &next("member-a", first.member_epoch));
        r.active_tasks.as_ref().is_some_and(|t| !t.is_empty()).then_some(r)
    });
    let b = beat(&mut conn, &join("sg-kept-app", "member-b", topology("sg-kept", Some("sg-kept-app-changelog"))));
    assert_eq!(beat(&mut conn, &next("member-b", -1).with_member_epoch(-1)).error_code, 0, "{b:?}");
    let owned = next("member-a", running.member_epoch)
        .with_active_tasks(Some(vec![TaskIds::default().with_subtopology_id(text("0")).with_partitions(vec![0, 1])]));
    let owned = owned.with_standby_tasks(Some(vec![])).with_warmup_tasks(Some(vec![]));
    let before = beat(&mut conn, &owned);
    assert_eq!(before.error_code, 0, "{before:?}");
    let described = describe(&mut conn, "sg-kept-app");

    brook.kill();
    let brook = Brook::start_in(&brook.data, &[]);
    let mut conn = Conn::open(&brook.addr);
    let after = common::eventually(Duration::from_secs(30), "the group loaded", || {
        let r = beat(&mut conn, &next("member-a", before.member_epoch));
        (r.error_code == 0).then_some(r)
    });
    assert!(after.member_epoch >= before.member_epoch, "{after:?}");
    let reloaded = common::eventually(Duration::from_secs(30), "the member's tasks again", || {
        let r = beat(&mut conn, &owned.clone().with_member_epoch(after.member_epoch));
        let d = describe(&mut conn, "sg-kept-app");
        (r.error_code == 0 && d.contains("Stable")).then_some(d)
    });
    assert_eq!(reloaded, described, "the same member, topology and tasks");
    assert!(described.contains("member-a process=process-1") && described.contains("0:[0, 1]"), "{described}");
    let gone = beat(&mut conn, &next("member-b", b.member_epoch));
    assert_eq!(gone.error_code, 25, "UNKNOWN_MEMBER_ID: {gone:?}");
}
