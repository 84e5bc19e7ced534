//! Client metrics (KIP-714): CLIENT_METRICS subscriptions made, validated, described, listed and
//! deleted as Kafka 4.4 does it (the same requests to both), kept across a restart; and
//! GetTelemetrySubscriptions / PushTelemetry with every refusal Kafka's ClientMetricsManager
//! makes, the pushed metrics on /metrics.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::{
    ApiKey, DescribeConfigsRequest, GetTelemetrySubscriptionsRequest, ListConfigResourcesRequest, PushTelemetryRequest,
    ResponseKind,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::common::http;
use crate::common::kafka::Kafka;
use crate::common::wire::{Conn, alter_config};
use crate::common::{self, Brook};

const CLIENT_METRICS: i8 = 16;
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;

/// A subscription's configs as DescribeConfigs lists them: key -> (value, source, type).
fn describe(conn: &mut Conn, name: &str) -> BTreeMap<String, (Option<String>, i8, i8)> {
    let request = DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(CLIENT_METRICS)
            .with_resource_name(StrBytes::from_string(name.to_string())),
    ]);
    let ResponseKind::DescribeConfigs(r) = conn.call(ApiKey::DescribeConfigs, 4, &request) else { panic!() };
    assert_eq!(r.results[0].error_code, 0, "{:?}", r.results[0].error_message);
    r.results[0]
        .configs
        .iter()
        .map(|c| (c.name.to_string(), (c.value.as_ref().map(|v| v.to_string()), c.config_source, c.config_type)))
        .collect()
}

fn listed(conn: &mut Conn) -> Vec<String> {
    let request = ListConfigResourcesRequest::default().with_resource_types(vec![CLIENT_METRICS]);
    let ResponseKind::ListConfigResources(r) = conn.call(ApiKey::ListConfigResources, 1, &request) else { panic!() };
    r.config_resources.iter().map(|c| c.resource_name.to_string()).collect()
}

/// Each step of making, changing and deleting subscriptions: (step, answer).
fn subscription_steps(addr: &str) -> Vec<(String, String)> {
    let mut conn = Conn::open(addr);
    let mut seen = Vec::new();
    let mut step = |conn: &mut Conn, what: &str, name: &str, op: (&str, i8, Option<&str>)| {
        let (code, message) = alter_config(conn, (CLIENT_METRICS, name), op, false);
        seen.push((what.to_string(), format!("{code} {}", message.unwrap_or_default())));
    };
    step(&mut conn, "metrics", "shop", ("metrics", SET, Some("org.apache.kafka.producer.")));
    step(&mut conn, "interval", "shop", ("interval.ms", SET, Some("1000")));
    step(&mut conn, "match", "shop", ("match", SET, Some("client_id=shop-.*,client_software_name=apache-kafka-java")));
    step(&mut conn, "append metrics", "shop", ("metrics", APPEND, Some("org.apache.kafka.consumer.")));
    step(&mut conn, "an unknown key", "shop", ("colour", SET, Some("red")));
    step(&mut conn, "an interval too short", "shop", ("interval.ms", SET, Some("50")));
    step(&mut conn, "an interval too long", "shop", ("interval.ms", SET, Some("3600001")));
    step(&mut conn, "an interval that is no number", "shop", ("interval.ms", SET, Some("soon")));
    step(&mut conn, "a match without =", "shop", ("match", SET, Some("client_id")));
    step(&mut conn, "a match on an unknown field", "shop", ("match", SET, Some("colour=red")));
    step(&mut conn, "a match that is no regex", "shop", ("match", SET, Some("client_id=(")));
    step(&mut conn, "an empty name", "", ("metrics", SET, Some("*")));
    step(&mut conn, "all metrics", "everything", ("metrics", SET, Some("*")));
    // A Kafka broker answers an alter once the controller committed it, and applies it to
    // what DescribeConfigs and ListConfigResources read a moment later: await the last one.
    common::eventually(Duration::from_secs(10), "the subscriptions applied", || {
        let everything = describe(&mut conn, "everything").get("metrics").and_then(|c| c.0.clone());
        (everything.as_deref() == Some("*") && listed(&mut conn).iter().any(|n| n == "everything")).then_some(())
    });
    let mut seen_describe = |name: &str| format!("{:?}", describe(&mut conn, name));
    let shop = seen_describe("shop");
    let unset = seen_describe("nobody");
    seen.push(("describe shop".into(), shop));
    seen.push(("describe a name never set".into(), unset));
    let mut names = listed(&mut conn);
    names.sort_unstable();
    seen.push(("list".into(), format!("{names:?}")));
    for key in ["metrics", "interval.ms", "match"] {
        let (code, _) = alter_config(&mut conn, (CLIENT_METRICS, "shop"), (key, DELETE, None), false);
        seen.push((format!("delete {key}"), code.to_string()));
    }
    common::eventually(Duration::from_secs(10), "the deletes applied", || {
        listed(&mut conn).iter().all(|n| n != "shop").then_some(())
    });
    seen.push(("list after deleting shop's configs".into(), format!("{:?}", listed(&mut conn))));
    seen
}

/// The same subscription requests to Kafka 4.4 and to Brook get the same answers, messages
/// included; what Brook keeps survives a restart.
#[test]
fn subscriptions_answer_as_kafka() {
    let kafka = Kafka::start();
    let expected = subscription_steps(&kafka.addr);
    drop(kafka);
    let mut brook = Brook::start(&[]);
    let seen = subscription_steps(&brook.addr);
    let differences: Vec<String> = expected
        .iter()
        .zip(&seen)
        .filter(|(k, b)| k != b)
        .map(|((step, k), (_, b))| format!("{step}:\n    Kafka {k}\n    Brook {b}"))
        .collect();
    assert!(differences.is_empty(), "Brook answers otherwise than Kafka:\n  {}", differences.join("\n  "));

    brook.kill();
    let brook = Brook::start_in(&brook.data, &[]);
    let mut conn = Conn::open(&brook.addr);
    assert_eq!(listed(&mut conn), ["everything"]);
    assert_eq!(describe(&mut conn, "everything")["metrics"].0.as_deref(), Some("*"));
}

fn get(conn: &mut Conn, id: Uuid) -> kafka_protocol::messages::GetTelemetrySubscriptionsResponse {
    let request = GetTelemetrySubscriptionsRequest::default().with_client_instance_id(id);
    let ResponseKind::GetTelemetrySubscriptions(r) = conn.call(ApiKey::GetTelemetrySubscriptions, 0, &request) else {
        panic!()
    };
    r
}

fn push(conn: &mut Conn, id: Uuid, subscription: i32, compression: i8, metrics: Vec<u8>, terminating: bool) -> i16 {
    let request = PushTelemetryRequest::default()
        .with_client_instance_id(id)
        .with_subscription_id(subscription)
        .with_compression_type(compression)
        .with_terminating(terminating)
        .with_metrics(metrics.into());
    let ResponseKind::PushTelemetry(r) = conn.call(ApiKey::PushTelemetry, 0, &request) else { panic!() };
    r.error_code
}

/// Protobuf encoding of a `MetricsData` holding one gauge point, for pushes.
fn metrics_data(name: &str, value: f64, topic: &str) -> Vec<u8> {
    fn field(number: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3 | 2) as u8];
        let mut len = payload.len();
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            out.push(if len == 0 { byte } else { byte | 0x80 });
            if len == 0 {
                break;
            }
        }
        out.extend_from_slice(payload);
        out
    }
    let attribute = [field(1, b"topic"), field(2, &field(1, topic.as_bytes()))].concat();
    let mut point = field(7, &attribute);
    point.push(4 << 3 | 1);
    point.extend_from_slice(&value.to_le_bytes());
    let metric = [field(1, name.as_bytes()), field(5, &field(1, &point))].concat();
    field(1, &field(2, &field(2, &metric)))
}

/// GetTelemetrySubscriptions and PushTelemetry, refusal by refusal, as Kafka 4.4's
/// ClientMetricsManager decides them; a good push is on /metrics at once.
#[test]
fn pushes_are_checked_and_exported() {
    let brook = Brook::start(&[]);
    let mut conn = Conn::open(&brook.addr);
    for (key, value) in [("metrics", "*"), ("interval.ms", "60000")] {
        assert_eq!(alter_config(&mut conn, (CLIENT_METRICS, "all"), (key, SET, Some(value)), false).0, 0);
    }
    let code = |e: ResponseError| e.code();

    let first = get(&mut conn, Uuid::nil());
    assert_eq!(first.error_code, 0);
    assert!(!first.client_instance_id.is_nil(), "a new client gets an id");
    let requested: Vec<&str> = first.requested_metrics.iter().map(|m| m.as_str()).collect();
    assert_eq!(requested, ["*"]);
    assert_eq!((first.push_interval_ms, first.telemetry_max_bytes, first.delta_temporality), (60_000, 1 << 20, true));
    assert_eq!(first.accepted_compression_types, [4, 3, 1, 2], "zstd, lz4, gzip, snappy");
    let id = first.client_instance_id;
    assert_eq!(get(&mut conn, id).error_code, code(ResponseError::ThrottlingQuotaExceeded), "asked again too soon");

    let sub = first.subscription_id;
    assert_eq!(push(&mut conn, Uuid::nil(), sub, 0, vec![], false), code(ResponseError::InvalidRequest));
    assert_eq!(push(&mut conn, id, sub + 1, 0, vec![], false), code(ResponseError::UnknownSubscriptionId));
    // After an unknown subscription id, asking again is never too soon.
    assert_eq!(get(&mut conn, id).error_code, 0);
    // Each client's first push after it asked is never too soon.
    let fresh = |conn: &mut Conn| {
        let got = get(conn, Uuid::new_v4());
        assert_eq!(got.error_code, 0);
        (got.client_instance_id, got.subscription_id)
    };
    let (client, sub) = fresh(&mut conn);
    assert_eq!(push(&mut conn, client, sub, 9, vec![], false), code(ResponseError::UnsupportedCompressionType));
    assert_eq!(get(&mut conn, client).error_code, 0, "asking again after an unsupported compression");
    let (client, sub) = fresh(&mut conn);
    let too_large = vec![0; (1 << 20) + 1];
    assert_eq!(push(&mut conn, client, sub, 0, too_large, false), code(ResponseError::TelemetryTooLarge));
    assert_eq!(push(&mut conn, client, sub, 0, vec![], false), code(ResponseError::ThrottlingQuotaExceeded));

    let other = Uuid::new_v4();
    let got = get(&mut conn, other);
    assert_eq!((got.error_code, got.client_instance_id), (0, other), "a client's own id is kept");
    assert_eq!(
        push(&mut conn, other, got.subscription_id, 0, vec![0xff; 8], false),
        code(ResponseError::InvalidRecord)
    );

    let third = get(&mut conn, Uuid::new_v4());
    let metrics = metrics_data("org.apache.kafka.producer.record.queue.time.avg", 4.5, "orders");
    assert_eq!(push(&mut conn, third.client_instance_id, third.subscription_id, 0, metrics, false), 0);
    let page = http::get(brook.console.as_ref().unwrap(), "/metrics").body;
    let line = page
        .lines()
        .find(|l| l.starts_with("org_apache_kafka_producer_record_queue_time_avg{"))
        .unwrap_or_else(|| panic!("the pushed gauge on /metrics:\n{page}"));
    assert!(line.contains("topic=\"orders\"") && line.ends_with(" 4.5"), "{line}");
    // The last push of a client that is closing is never too soon; nothing may follow it.
    let (last, sub3) = (third.client_instance_id, third.subscription_id);
    assert_eq!(push(&mut conn, last, sub3, 0, vec![], true), 0);
    assert_eq!(push(&mut conn, last, sub3, 0, vec![], false), code(ResponseError::InvalidRequest));
}

/// librdkafka (2.5+) pushes its metrics too: a subscription matching its software name asks a
/// producer for them every half second, and they reach /metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_pushes_its_metrics() {
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let brook = Brook::start(&[]);
    let mut conn = Conn::open(&brook.addr);
    for (key, value) in [
        ("metrics", "org.apache.kafka.producer."),
        ("interval.ms", "500"),
        ("match", "client_software_name=librdkafka"),
    ] {
        assert_eq!(alter_config(&mut conn, (CLIENT_METRICS, "rd"), (key, SET, Some(value)), false).0, 0);
    }
    let producer: FutureProducer = ClientConfig::new().set("bootstrap.servers", &brook.addr).create().unwrap();
    for i in 0..10 {
        let value = format!("purchase-{i}");
        producer
            .send(FutureRecord::<(), _>::to("measured").payload(&value), std::time::Duration::from_secs(30))
            .await
            .unwrap();
    }
    let console = brook.console.clone().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let page = tokio::task::spawn_blocking({
            let console = console.clone();
            move || http::get(&console, "/metrics").body
        })
        .await
        .unwrap();
        let pushed: Vec<&str> = page.lines().filter(|l| l.starts_with("org_apache_kafka_producer_")).collect();
        if !pushed.is_empty() {
            assert!(pushed.iter().all(|l| l.contains("client_instance_id=\"")), "{pushed:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "librdkafka pushed nothing within 30 s:\n{page}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    drop(producer);
}
