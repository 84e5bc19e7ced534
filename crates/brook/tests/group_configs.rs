//! Group configs (the GROUP config resource) against Apache Kafka 4.4 and Brook alike: every
//! key with its default, type and synonyms, changes and their refusals (Kafka's own bounds,
//! then the broker's min/max keys), DELETE and APPEND, and ListConfigResources. Their effect
//! on share groups is checked by `ShareGroupTest.java`, on consumer groups below.

use std::collections::BTreeMap;

use crate::common::Brook;
use crate::common::kafka::Kafka;
use crate::common::wire::Conn;
use crate::differential::{Observations, assert_same, settled};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::{
    AlterConfigsRequest, ApiKey, ConsumerGroupHeartbeatRequest, DescribeConfigsRequest, FindCoordinatorRequest,
    GroupId, IncrementalAlterConfigsRequest, ListConfigResourcesRequest, ResponseKind, ShareGroupHeartbeatRequest,
    TopicName, alter_configs_request,
};
use kafka_protocol::protocol::StrBytes;

const GROUP: i8 = 32;
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// DescribeConfigs v4 of one group: "error" or each key's value, type, source, read-only and
/// synonyms (name@source).
fn describe(conn: &mut Conn, group: &str) -> BTreeMap<String, String> {
    let request = DescribeConfigsRequest::default().with_include_synonyms(true).with_resources(vec![
        DescribeConfigsResource::default().with_resource_type(GROUP).with_resource_name(text(group)),
    ]);
    let ResponseKind::DescribeConfigs(r) = conn.call(ApiKey::DescribeConfigs, 4, &request) else { panic!() };
    let result = &r.results[0];
    if result.error_code != 0 {
        return BTreeMap::from([("error".into(), format!("{} {:?}", result.error_code, result.error_message))]);
    }
    result
        .configs
        .iter()
        .map(|c| {
            let synonyms: Vec<String> = c
                .synonyms
                .iter()
                .map(|s| format!("{}={:?}@{}", s.name.as_str(), s.value.as_deref(), s.source))
                .collect();
            let view = format!(
                "{:?} type={} source={} read_only={} synonyms={synonyms:?}",
                c.value.as_deref(),
                c.config_type,
                c.config_source,
                c.read_only
            );
            (c.name.to_string(), view)
        })
        .collect()
}

/// The group's configs once `key` reads `value` as a group config (None: no longer one), or
/// as they are after 30 s. A Kafka broker answers an alter once the controller committed it
/// but fills its config cache a moment later, so a describe right after may miss it.
pub(crate) fn describe_after(conn: &mut Conn, group: &str, key: &str, value: Option<&str>) -> BTreeMap<String, String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let configs = describe(conn, group);
        let view = configs.get(key).map(String::as_str).unwrap_or_default();
        let applied = match value {
            Some(v) => view.starts_with(&format!("{:?} ", Some(v))) && view.contains(" source=8 "),
            None => !view.contains(" source=8 "),
        };
        if applied || std::time::Instant::now() > deadline {
            return configs;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// IncrementalAlterConfigs v1 of one group: "code message".
pub(crate) fn alter(conn: &mut Conn, group: &str, ops: &[(&str, i8, Option<&str>)]) -> String {
    let configs = ops
        .iter()
        .map(|(key, op, value)| {
            AlterableConfig::default().with_name(text(key)).with_config_operation(*op).with_value(value.map(text))
        })
        .collect();
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default().with_resource_type(GROUP).with_resource_name(text(group)).with_configs(configs),
    ]);
    let ResponseKind::IncrementalAlterConfigs(r) = conn.call(ApiKey::IncrementalAlterConfigs, 1, &request) else {
        panic!()
    };
    format!("{} {:?}", r.responses[0].error_code, r.responses[0].error_message.as_deref())
}

/// FindCoordinator v4 for a group, until it is found (Kafka creates its offsets topic then).
fn find_coordinator(conn: &mut Conn, group: &str) {
    let request = FindCoordinatorRequest::default().with_key_type(0).with_coordinator_keys(vec![text(group)]);
    settled("the group coordinator", || {
        let ResponseKind::FindCoordinator(r) = conn.call(ApiKey::FindCoordinator, 4, &request) else { panic!() };
        (r.coordinators[0].error_code, ())
    });
}

fn scenario(addr: &str) -> Observations {
    let mut seen = Observations::new();
    let mut conn = Conn::open(addr);
    for (key, view) in describe(&mut conn, "gc") {
        seen.insert(format!("default {key}"), view);
    }
    seen.insert("describe empty group id".into(), format!("{:?}", describe(&mut conn, "").get("error")));
    let lock = [("share.record.lock.duration.ms", SET, Some("20000"))];
    seen.insert("set on empty group id".into(), alter(&mut conn, "", &lock));
    let values: &[(&str, &[&str])] = &[
        ("consumer.session.timeout.ms", &["x", "-1", "1", "50000", "60001"]),
        ("consumer.heartbeat.interval.ms", &["0", "20000", "6000"]),
        ("consumer.assignment.interval.ms", &["-1", "20000", "0"]),
        ("share.auto.offset.reset", &["bogus", "EARLIEST", "by_duration:xx", "by_duration:PT1H", "earliest"]),
        ("share.delivery.count.limit", &["1", "11", "7"]),
        ("share.heartbeat.interval.ms", &["50000", "10000"]),
        ("share.isolation.level", &["bogus", "read_committed", "read_uncommitted"]),
        ("share.partition.max.record.locks", &["50", "5000", "300"]),
        ("share.record.lock.duration.ms", &["100", "5000", "15000"]),
        ("share.renew.acknowledge.enable", &["maybe", "true"]),
        ("share.session.timeout.ms", &["1", "50000"]),
        ("streams.assignor.name", &["range", "sticky"]),
        ("streams.num.standby.replicas", &["-1", "5", "1"]),
        ("streams.initial.rebalance.delay.ms", &["-1", "999999"]),
        ("errors.deadletterqueue.copy.record.enable", &["true"]),
        ("no.such.key", &["1"]),
    ];
    let mut last_set = None;
    for (key, values) in values {
        for value in *values {
            let answer = alter(&mut conn, "gc", &[(key, SET, Some(value))]);
            if answer == "0 None" {
                last_set = Some((*key, *value));
            }
            seen.insert(format!("set {key}={value}"), answer);
        }
    }
    let (last_key, last_value) = last_set.expect("some change taken");

    describe_after(&mut conn, "gc", last_key, Some(last_value));
    // Members are told their group's heartbeat interval.
    let request = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(text("gc")))
        .with_member_id(text("bbbbbbbbbbbbbbbbbbbbbb"))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![TopicName(text("nothing-here"))]))
        .with_topic_partitions(Some(vec![]));
    find_coordinator(&mut conn, "gc");
    let interval = settled("a consumer group heartbeat", || {
        let ResponseKind::ConsumerGroupHeartbeat(r) = conn.call(ApiKey::ConsumerGroupHeartbeat, 1, &request) else {
            panic!()
        };
        (r.error_code, r.heartbeat_interval_ms)
    });
    seen.insert("consumer heartbeat interval".into(), format!("{interval:?}"));
    assert_eq!(alter(&mut conn, "gs", &[("share.heartbeat.interval.ms", SET, Some("7000"))]), "0 None");
    describe_after(&mut conn, "gs", "share.heartbeat.interval.ms", Some("7000"));
    let request = ShareGroupHeartbeatRequest::default()
        .with_group_id(GroupId(text("gs")))
        .with_member_id(text("cccccccccccccccccccccc"))
        .with_member_epoch(0)
        .with_subscribed_topic_names(Some(vec![TopicName(text("nothing-here"))]));
    find_coordinator(&mut conn, "gs");
    let interval = settled("a share group heartbeat", || {
        let ResponseKind::ShareGroupHeartbeat(r) = conn.call(ApiKey::ShareGroupHeartbeat, 1, &request) else {
            panic!()
        };
        (r.error_code, r.heartbeat_interval_ms)
    });
    seen.insert("share heartbeat interval".into(), format!("{interval:?}"));
    // All or nothing: one bad value refuses the others.
    let mixed = [("share.auto.offset.reset", SET, Some("latest")), ("share.record.lock.duration.ms", SET, Some("1"))];
    seen.insert("set good and bad".into(), alter(&mut conn, "gc", &mixed));
    seen.insert(
        "append to a list".into(),
        alter(&mut conn, "gc", &[("streams.rack.aware.assignment.tags", APPEND, Some("a,b"))]),
    );
    seen.insert(
        "append to an int".into(),
        alter(&mut conn, "gc", &[("share.delivery.count.limit", APPEND, Some("3"))]),
    );
    for (key, view) in describe(&mut conn, "gc") {
        seen.insert(format!("changed {key}"), view);
    }
    seen.insert("delete a key".into(), alter(&mut conn, "gc", &[("share.delivery.count.limit", DELETE, None)]));
    let after = describe_after(&mut conn, "gc", "share.delivery.count.limit", None);
    seen.insert("after delete".into(), after["share.delivery.count.limit"].clone());
    let request = ListConfigResourcesRequest::default().with_resource_types(vec![GROUP]);
    let ResponseKind::ListConfigResources(r) = conn.call(ApiKey::ListConfigResources, 1, &request) else { panic!() };
    let listed: Vec<String> = r.config_resources.iter().map(|c| c.resource_name.to_string()).collect();
    seen.insert("list group config resources".into(), format!("{} {listed:?}", r.error_code));
    // The legacy AlterConfigs replaces the group's whole set.
    let request = AlterConfigsRequest::default().with_resources(vec![
        alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(GROUP)
            .with_resource_name(text("gc"))
            .with_configs(vec![
                alter_configs_request::AlterableConfig::default()
                    .with_name(text("share.auto.offset.reset"))
                    .with_value(Some(text("earliest"))),
            ]),
    ]);
    let ResponseKind::AlterConfigs(r) = conn.call(ApiKey::AlterConfigs, 2, &request) else { panic!() };
    seen.insert("legacy alter".into(), format!("{} {:?}", r.responses[0].error_code, r.responses[0].error_message));
    // It removed every other key, the last one set above among them.
    let after = describe_after(&mut conn, "gc", last_key, None);
    seen.insert("after legacy alter".into(), format!("{:?}", after.get("share.delivery.count.limit")));
    seen
}

/// Where Brook answers otherwise on purpose: it refuses values whose behaviour it does not
/// have, rather than store them and act otherwise.
const NOT_BUILT: &[(&str, &str, &str)] = &[
    ("errors.deadletterqueue.topic.name", "dlq.orders", "dead-letter queues for share groups"),
    ("share.renew.acknowledge.enable", "false", "refusing RENEW acknowledgements"),
];

#[test]
fn group_configs_answer_like_kafka() {
    let kafka = Kafka::start();
    let kafka_seen = scenario(&kafka.addr);
    let mut kafka_conn = Conn::open(&kafka.addr);
    for (key, value, _) in NOT_BUILT {
        assert_eq!(alter(&mut kafka_conn, "other", &[(key, SET, Some(value))]), "0 None", "Kafka takes {key}={value}");
    }
    drop(kafka);
    let brook = Brook::start(&[]);
    let brook_seen = scenario(&brook.addr);
    assert_same(&kafka_seen, &brook_seen);
    assert_eq!(kafka_seen.len(), brook_seen.len(), "Brook lists other keys: {brook_seen:#?}");
    let mut conn = Conn::open(&brook.addr);
    for (key, value, what) in NOT_BUILT {
        let answer = alter(&mut conn, "other", &[(key, SET, Some(value))]);
        assert!(answer.starts_with("40 ") && answer.contains("not built"), "{key}={value} ({what}): {answer}");
    }
}
