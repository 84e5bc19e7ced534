//! Finalized features (KIP-584) against Apache Kafka 4.4 and Brook alike: what ApiVersions
//! lists, UpdateFeatures' refusals (unknown feature, level out of range, a downgrade asked as
//! an upgrade and the reverse, validate-only), and what turning `share.version` and
//! `group.version` off does to share and consumer groups. `kafka_tools` runs Kafka's own
//! `kafka-features` against Brook.

use std::time::Duration;

use crate::common;
use crate::common::Brook;
use crate::common::kafka::Kafka;
use crate::common::wire::Conn;
use crate::differential::{Observations, assert_same};
use crate::share::{heartbeat, text};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ConsumerGroupHeartbeatRequest, FindCoordinatorRequest, GroupId, ResponseKind,
    TopicName, UpdateFeaturesRequest, update_features_request::FeatureUpdateKey,
};

/// The features Brook lists; Kafka's others (metadata.version, kraft.version, ...) are left out.
const FEATURES: [&str; 3] = ["group.version", "share.version", "transaction.version"];

/// ApiVersions: each listed feature's supported range and finalized level, and whether the
/// share and consumer group heartbeats are advertised.
fn api_versions(conn: &mut Conn) -> String {
    let request = ApiVersionsRequest::default()
        .with_client_software_name(text("brook-test"))
        .with_client_software_version(text("1"));
    let ResponseKind::ApiVersions(r) = conn.call(ApiKey::ApiVersions, 4, &request) else { panic!() };
    let mut out = Vec::new();
    for name in FEATURES {
        let supported = r.supported_features.iter().find(|f| f.name.as_str() == name);
        let finalized = r.finalized_features.iter().find(|f| f.name.as_str() == name);
        out.push(format!(
            "{name}: supported={:?} finalized={:?}",
            supported.map(|f| (f.min_version, f.max_version)),
            finalized.map(|f| (f.min_version_level, f.max_version_level))
        ));
    }
    let advertised = |key: ApiKey| r.api_keys.iter().any(|a| a.api_key == key as i16);
    out.push(format!(
        "share heartbeat={} consumer heartbeat={}",
        advertised(ApiKey::ShareGroupHeartbeat),
        advertised(ApiKey::ConsumerGroupHeartbeat)
    ));
    out.join("; ")
}

fn update(conn: &mut Conn, version: i16, updates: &[(&str, i16, i8)], validate_only: bool) -> String {
    let request =
        UpdateFeaturesRequest::default().with_validate_only(validate_only && version >= 1).with_feature_updates(
            updates
                .iter()
                .map(|&(name, level, kind)| {
                    let key = FeatureUpdateKey::default().with_feature(text(name)).with_max_version_level(level);
                    match version {
                        0 => key.with_allow_downgrade(kind != 1),
                        _ => key.with_upgrade_type(kind),
                    }
                })
                .collect(),
        );
    let ResponseKind::UpdateFeatures(r) = conn.call(ApiKey::UpdateFeatures, version, &request) else { panic!() };
    let results: Vec<String> =
        r.results.iter().map(|f| format!("{}={} {:?}", f.feature.as_str(), f.error_code, f.error_message)).collect();
    format!("code={} message={:?} results={results:?}", r.error_code, r.error_message)
}

/// A refusal's message with the controller's node id (Kafka's and Brook's differ) left out.
fn without_node(answer: String) -> String {
    let mut words: Vec<String> = answer.split(' ').map(String::from).collect();
    for i in 1..words.len() {
        if words[i - 1] == "controller" {
            words[i] = "N".into();
        }
    }
    words.join(" ")
}

fn consumer_heartbeat(conn: &mut Conn) -> String {
    let request = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(text("features-consumer")))
        .with_member_id(text("cccccccccccccccccccccc"))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![TopicName(text("t"))]))
        .with_topic_partitions(Some(vec![]));
    let ResponseKind::ConsumerGroupHeartbeat(r) = conn.call(ApiKey::ConsumerGroupHeartbeat, 0, &request) else {
        panic!()
    };
    format!("code={} message={:?}", r.error_code, r.error_message)
}

/// Waits until ApiVersions shows `wanted` in its answer (a change reaches the broker from the
/// metadata log), then returns the answer.
fn listed(conn: &mut Conn, wanted: &str) -> String {
    common::eventually(Duration::from_secs(30), wanted, || {
        let answer = api_versions(conn);
        answer.contains(wanted).then_some(answer)
    })
}

fn features_scenario(addr: &str) -> Observations {
    let mut seen = Observations::new();
    let mut conn = Conn::open(addr);
    for group in ["features-share", "features-consumer"] {
        let find = FindCoordinatorRequest::default().with_key_type(0).with_key(text(group));
        common::eventually(Duration::from_secs(60), "the group coordinator", || {
            let ResponseKind::FindCoordinator(r) = conn.call(ApiKey::FindCoordinator, 3, &find) else { panic!() };
            (r.error_code == 0).then_some(())
        });
    }
    seen.insert("api versions".into(), api_versions(&mut conn));
    for (step, updates, validate_only) in [
        ("unknown feature", vec![("nosuch.version", 1, 1)], false),
        ("level out of range", vec![("transaction.version", 9, 1)], false),
        ("downgrade asked as an upgrade", vec![("share.version", 0, 1)], false),
        ("upgrade asked as a downgrade", vec![("group.version", 1, 2)], false),
        ("one bad of two", vec![("share.version", 1, 2), ("nosuch.version", 1, 1)], false),
        ("validate only", vec![("share.version", 0, 2)], true),
    ] {
        seen.insert(format!("update v2: {step}"), without_node(update(&mut conn, 2, &updates, validate_only)));
    }
    seen.insert(
        "update v1: unknown feature".into(),
        without_node(update(&mut conn, 1, &[("nosuch.version", 1, 1)], false)),
    );
    seen.insert("api versions after validate only".into(), api_versions(&mut conn));

    seen.insert("share.version off".into(), update(&mut conn, 2, &[("share.version", 0, 2)], false));
    seen.insert(
        "api versions, share.version off".into(),
        listed(&mut conn, "share.version: supported=Some((0, 2)) finalized=None"),
    );
    let refused = heartbeat(&mut conn, "features-share", "ssssssssssssssssssssss", 0, Some(&["t"])).1;
    seen.insert("share heartbeat, share.version off".into(), refused);
    seen.insert("share.version on".into(), update(&mut conn, 2, &[("share.version", 2, 1)], false));
    listed(&mut conn, "share.version: supported=Some((0, 2)) finalized=Some((2, 2))");

    seen.insert("group.version off".into(), update(&mut conn, 2, &[("group.version", 0, 2)], false));
    seen.insert(
        "api versions, group.version off".into(),
        listed(&mut conn, "group.version: supported=Some((0, 1)) finalized=None"),
    );
    seen.insert("consumer heartbeat, group.version off".into(), consumer_heartbeat(&mut conn));
    seen.insert("group.version on".into(), update(&mut conn, 2, &[("group.version", 1, 1)], false));
    listed(&mut conn, "group.version: supported=Some((0, 1)) finalized=Some((1, 1))");

    seen.insert("transaction.version to 1".into(), update(&mut conn, 1, &[("transaction.version", 1, 2)], false));
    seen.insert(
        "api versions, transaction.version 1".into(),
        listed(&mut conn, "transaction.version: supported=Some((0, 2)) finalized=Some((1, 1))"),
    );
    seen.insert("transaction.version to 2".into(), update(&mut conn, 0, &[("transaction.version", 2, 1)], false));
    seen
}

#[test]
fn features_answer_like_kafka() {
    let kafka = Kafka::start();
    let kafka_seen = features_scenario(&kafka.addr);
    drop(kafka);
    let brook = Brook::start(&[]);
    let brook_seen = features_scenario(&brook.addr);
    assert!(kafka_seen.len() >= 18, "{kafka_seen:?}");
    assert_same(&kafka_seen, &brook_seen);
}
