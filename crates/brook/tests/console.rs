//! The web console's HTTP API and `/metrics`, over HTTP against a running `brook`, checked
//! against what real Kafka clients (librdkafka) see; and the console itself in headless
//! Chromium (`tests/browser/console.mjs`, driven by playwright-core).

use crate::common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use crate::common::http::{self, Sample, parse_prometheus};
use crate::common::{Brook, eventually};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(30);
/// Frequent samples, so that lag history and rates fill within a test.
const FAST_SAMPLES: &str = "console.sample.interval.ms=200";

fn console(brook: &Brook) -> &str {
    brook.console.as_deref().expect("the console is enabled")
}

fn producer(brook: &Brook) -> BaseProducer {
    ClientConfig::new().set("bootstrap.servers", &brook.addr).set("acks", "all").create().expect("producer")
}

fn produce(brook: &Brook, topic: &str, records: &[(Option<&str>, &[u8], Option<i32>)]) {
    let producer = producer(brook);
    for (key, value, partition) in records {
        let mut record = BaseRecord::<str, [u8]>::to(topic).payload(value);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(p) = partition {
            record = record.partition(*p);
        }
        producer.send(record).expect("enqueue");
        producer.poll(Duration::ZERO);
    }
    producer.flush(TIMEOUT).expect("flush");
}

fn consumer(brook: &Brook, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", &brook.addr)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer")
}

/// Commits `offset` for each listed partition of `topic` in `group`, as a consumer would.
fn commit(brook: &Brook, group: &str, topic: &str, offsets: &[(i32, i64)]) {
    let consumer = consumer(brook, group);
    let mut list = TopicPartitionList::new();
    for (p, o) in offsets {
        list.add_partition_offset(topic, *p, Offset::Offset(*o)).expect("offset");
    }
    consumer.commit(&list, CommitMode::Sync).expect("commit");
}

/// The first record a Kafka consumer reads from `partitions` of `topic`, from the beginning.
fn first_message(brook: &Brook, topic: &str, partitions: &[i32]) -> rdkafka::message::OwnedMessage {
    let reader = consumer(brook, "first-message-reader");
    let mut list = TopicPartitionList::new();
    for p in partitions {
        list.add_partition_offset(topic, *p, Offset::Beginning).unwrap();
    }
    reader.assign(&list).unwrap();
    eventually(TIMEOUT, "a record", || reader.poll(Duration::from_millis(100))).expect("no consumer error").detach()
}

fn create_topic(base: &str, name: &str, partitions: i32) -> Value {
    let created = http::post(base, "/api/topics", &json!({ "name": name, "partitions": partitions }).to_string());
    assert_eq!(created.status, 201, "{}", created.body);
    created.json()
}

fn topic_names(base: &str) -> Vec<String> {
    let list = http::get(base, "/api/topics").json();
    list["topics"].as_array().expect("topics").iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
}

/// Asserts a JSON error answer: the status, a message, and (when given) Kafka's error name.
fn assert_error(response: &http::Response, status: u16, kafka_error: Option<&str>) {
    assert_eq!(response.status, status, "{}", response.body);
    assert!(response.content_type.starts_with("application/json"), "{}", response.content_type);
    let body = response.json();
    assert!(body["error"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    if let Some(name) = kafka_error {
        assert_eq!(body["kafka_error"], name, "{body}");
    }
}

#[test]
fn topics_are_created_described_changed_and_deleted_over_http() {
    let brook = Brook::start(&[]);
    let base = console(&brook);
    let topic = create_topic(base, "purchases", 3);
    assert_eq!(topic["partitions"].as_array().unwrap().len(), 3);

    // A Kafka client sees the topic the API created.
    let admin: BaseProducer = ClientConfig::new().set("bootstrap.servers", &brook.addr).create().unwrap();
    let metadata = admin.client().fetch_metadata(Some("purchases"), TIMEOUT).expect("metadata");
    assert_eq!(metadata.topics()[0].partitions().len(), 3);

    // Bad input: Kafka's codes, a JSON body, and nothing created.
    let cases: [(&str, u16, Option<&str>); 7] = [
        (r#"{"name":"purchases","partitions":1}"#, 409, Some("TOPIC_ALREADY_EXISTS")),
        (r#"{"name":"bad name!"}"#, 400, Some("INVALID_TOPIC_EXCEPTION")),
        (r#"{"name":"t1","partitions":0}"#, 400, Some("INVALID_PARTITIONS")),
        (r#"{"name":"t2","replication_factor":3}"#, 400, Some("INVALID_REPLICATION_FACTOR")),
        (r#"{"name":"t3","configs":{"retention.ms":"soon"}}"#, 400, Some("INVALID_CONFIG")),
        (r#"{"name":"t4","partitions":"three"}"#, 400, None),
        (r#"{"name":"#, 400, None),
    ];
    for (body, status, code) in cases {
        assert_error(&http::post(base, "/api/topics", body), status, code);
    }
    assert_eq!(topic_names(base), ["purchases"]);

    let search = http::get(base, "/api/topics?search=PURCH").json();
    assert_eq!(search["topics"].as_array().unwrap().len(), 1);
    assert_eq!(http::get(base, "/api/topics?search=nothing").json()["topics"], json!([]));

    // Configs: set one, refuse a bad value without changing anything, reset to the default.
    let configs = |topic: &Value| -> BTreeMap<String, (String, String)> {
        topic["configs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().into(),
                    (c["value"].as_str().unwrap().into(), c["source"].as_str().unwrap().into()),
                )
            })
            .collect()
    };
    let changed =
        http::request(base, "PUT", "/api/topics/purchases/configs", Some(r#"{"configs":{"retention.ms":"3600000"}}"#));
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(configs(&changed.json())["retention.ms"], ("3600000".into(), "topic".into()));
    let refused = http::request(
        base,
        "PUT",
        "/api/topics/purchases/configs",
        Some(r#"{"configs":{"retention.ms":"-5","segment.ms":"x"}}"#),
    );
    assert_error(&refused, 400, Some("INVALID_CONFIG"));
    let now = configs(&http::get(base, "/api/topics/purchases").json());
    assert_eq!(now["retention.ms"], ("3600000".into(), "topic".into()));
    assert_eq!(now["segment.ms"].1, "default");
    let reset =
        http::request(base, "PUT", "/api/topics/purchases/configs", Some(r#"{"configs":{"retention.ms":null}}"#));
    assert_eq!(configs(&reset.json())["retention.ms"], ("604800000".into(), "default".into()));
    assert_error(
        &http::request(base, "PUT", "/api/topics/purchases/configs", Some(r#"{"configs":{"no.such":"1"}}"#)),
        400,
        None,
    );

    assert_error(&http::get(base, "/api/topics/missing"), 404, None);
    assert_error(&http::request(base, "DELETE", "/api/topics/missing", None), 404, None);
    assert_error(&http::get(base, "/api/nothing-here"), 404, None);
    assert_error(&http::request(base, "PATCH", "/api/topics", None), 405, None);
    let deleted = http::request(base, "DELETE", "/api/topics/purchases", None);
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert!(topic_names(base).is_empty());
    let metadata = admin.client().fetch_metadata(None, TIMEOUT).expect("metadata");
    assert!(metadata.topics().iter().all(|t| t.name() != "purchases"));
}

#[test]
fn messages_are_produced_and_browsed_over_http() {
    let brook = Brook::start(&[]);
    let base = console(&brook);
    create_topic(base, "orders", 2);

    // The produce form's endpoint: a Kafka consumer reads exactly what was sent.
    let sent = json!({
        "key": "customer_7",
        "value": "{\"item\":\"book\",\"amount\":12}",
        "headers": [{ "key": "source", "value": "web" }],
        "partition": 1,
    });
    let produced = http::post(base, "/api/topics/orders/messages", &sent.to_string());
    assert_eq!(produced.status, 200, "{}", produced.body);
    let produced = produced.json();
    assert_eq!((produced["partition"].as_i64(), produced["offset"].as_i64()), (Some(1), Some(0)));
    let message = first_message(&brook, "orders", &[1]);
    assert_eq!(message.key(), Some(&b"customer_7"[..]));
    assert_eq!(message.payload(), Some(&br#"{"item":"book","amount":12}"#[..]));
    let header = message.headers().expect("headers").get(0);
    assert_eq!((header.key, header.value), ("source", Some(&b"web"[..])));
    assert_eq!(message.timestamp().to_millis(), produced["timestamp"].as_i64());

    // Records from a Kafka client, including binary values and headers.
    let mut records: Vec<(Option<&str>, Vec<u8>, Option<i32>)> = (0..30)
        .map(|i| (Some(if i % 2 == 0 { "even" } else { "odd" }), format!("order-{i}").into_bytes(), Some(0)))
        .collect();
    records.push((None, vec![0xff, 0x00, 0x7f], Some(0)));
    let borrowed: Vec<(Option<&str>, &[u8], Option<i32>)> = records.iter().map(|(k, v, p)| (*k, &v[..], *p)).collect();
    produce(&brook, "orders", &borrowed);
    let with_header = producer(&brook);
    with_header
        .send(
            BaseRecord::<str, str>::to("orders")
                .partition(0)
                .payload("with-header")
                .headers(OwnedHeaders::new().insert(Header { key: "trace", value: Some("abc") })),
        )
        .unwrap();
    with_header.flush(TIMEOUT).unwrap();
    // A compressed batch, which the browser must decompress to show.
    let zipped: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &brook.addr)
        .set("compression.type", "lz4")
        .set("linger.ms", "50")
        .create()
        .expect("producer");
    for i in 0..5 {
        zipped.send(BaseRecord::<str, str>::to("orders").partition(1).payload(&format!("zipped-{i}"))).unwrap();
    }
    zipped.flush(TIMEOUT).unwrap();

    let browse = |query: &str| -> Vec<Value> {
        let response = http::get(base, &format!("/api/topics/orders/messages?{query}"));
        assert_eq!(response.status, 200, "{query}: {}", response.body);
        response.json()["messages"].as_array().unwrap().clone()
    };
    let offsets = |messages: &[Value]| messages.iter().map(|m| m["offset"].as_i64().unwrap()).collect::<Vec<_>>();
    let newest = browse("partition=0&newest=3");
    assert_eq!(offsets(&newest), [29, 30, 31]);
    assert_eq!(newest[1]["value"]["format"], "binary");
    assert_eq!(newest[1]["value"]["text"], "ff 00 7f");
    assert_eq!(newest[1]["key"], Value::Null);
    assert_eq!(
        newest[2]["headers"],
        json!([{ "key": "trace", "value": { "format": "text", "text": "abc", "size": 3, "truncated": false } }])
    );
    assert_eq!(offsets(&browse("partition=0&offset=10&limit=4")), [10, 11, 12, 13]);
    let odd = browse("partition=0&offset=0&key=ODD&limit=100");
    assert_eq!(odd.len(), 15);
    assert!(odd.iter().all(|m| m["key"]["text"] == "odd"));
    assert_eq!(offsets(&browse("value=order-17")), [17]);
    // JSON values come back pretty-printed, across all partitions when none is named.
    let json_value = browse("key=customer_7");
    assert_eq!(json_value.len(), 1);
    assert_eq!(json_value[0]["value"]["format"], "json");
    assert!(json_value[0]["value"]["text"].as_str().unwrap().contains("\n  \"amount\": 12"));

    // From a timestamp: everything at or after the produce form's message, by time.
    let since = produced["timestamp"].as_i64().unwrap();
    let zipped_back = browse("partition=1&offset=1&limit=10");
    let values: Vec<&str> = zipped_back.iter().map(|m| m["value"]["text"].as_str().unwrap()).collect();
    assert_eq!(values, ["zipped-0", "zipped-1", "zipped-2", "zipped-3", "zipped-4"]);
    assert_eq!(offsets(&browse("partition=1&newest=2&value=zipped")), [4, 5]);
    let from_time = browse(&format!("timestamp={since}&limit=1000"));
    assert_eq!(from_time.len(), 38);
    assert!(from_time.iter().all(|m| m["timestamp"].as_i64().unwrap() >= since));
    assert!(browse(&format!("timestamp={}", since + 3_600_000)).is_empty());

    // Keyed messages without a partition go where Kafka's Java client puts them (murmur2):
    // the same key always lands in the same partition.
    let partition_of = |key: &str| {
        let r = http::post(base, "/api/topics/orders/messages", &json!({ "key": key, "value": "v" }).to_string());
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["partition"].as_i64().unwrap()
    };
    for key in ["a", "customer_1", "customer_2"] {
        assert_eq!(partition_of(key), partition_of(key));
    }

    // Bad input: clear errors, nothing written.
    let end_offsets = || {
        let t = http::get(base, "/api/topics/orders").json();
        t["partitions"].as_array().unwrap().iter().map(|p| p["end_offset"].as_i64().unwrap()).collect::<Vec<_>>()
    };
    let before = end_offsets();
    assert_error(&http::post(base, "/api/topics/orders/messages", r#"{"value":"x","partition":5}"#), 400, None);
    assert_error(&http::post(base, "/api/topics/orders/messages", r#"{"value":"x","partition":-1}"#), 400, None);
    assert_error(&http::post(base, "/api/topics/orders/messages", r#"{"value":5}"#), 400, None);
    assert_error(
        &http::post(base, "/api/topics/orders/messages", r#"{"value":"x","headers":[{"key":""}]}"#),
        400,
        None,
    );
    assert_error(&http::post(base, "/api/topics/orders/messages", ""), 400, None);
    assert_error(&http::post(base, "/api/topics/nowhere/messages", r#"{"value":"x"}"#), 404, None);
    let small =
        http::request(base, "PUT", "/api/topics/orders/configs", Some(r#"{"configs":{"max.message.bytes":"200"}}"#));
    assert_eq!(small.status, 200, "{}", small.body);
    let big = json!({ "value": "x".repeat(1000), "partition": 0 }).to_string();
    assert_error(&http::post(base, "/api/topics/orders/messages", &big), 413, Some("MESSAGE_TOO_LARGE"));
    assert_eq!(end_offsets(), before);
    for query in ["offset=-1", "offset=x", "limit=0", "limit=100000", "offset=1&timestamp=1", "partition=9"] {
        assert_error(&http::get(base, &format!("/api/topics/orders/messages?{query}")), 400, None);
    }
    assert_error(&http::get(base, "/api/topics/nowhere/messages"), 404, None);
}

#[test]
fn share_groups_show_members_start_offsets_and_lag() {
    use crate::common::wire::Conn;
    use crate::share::{GROUP, MEMBER, fetch_request, heartbeat, share_acknowledge, share_fetch, topic_id};
    let brook = Brook::start(&[]);
    let base = console(&brook);
    create_topic(base, "tasks", 1);
    let mut conn = Conn::open(&brook.addr);
    let topic = topic_id(&mut conn, "tasks");
    eventually(TIMEOUT, "a share group member", || {
        (heartbeat(&mut conn, GROUP, MEMBER, 0, Some(&["tasks"])).0 == 0).then_some(())
    });
    // The share-partition starts at the log end: records written after the first fetch.
    eventually(TIMEOUT, "the share-partition", || {
        let answer = share_fetch(&mut conn, &fetch_request(0, topic, &[]));
        (!answer.contains("error=") || answer.contains("error=0")).then_some(())
    });
    let records: Vec<(Option<&str>, &[u8], Option<i32>)> = (0..10).map(|_| (None, &b"task"[..], Some(0))).collect();
    produce(&brook, "tasks", &records);
    eventually(TIMEOUT, "ten records", || {
        share_fetch(&mut conn, &fetch_request(1, topic, &[])).contains("0-9x1").then_some(())
    });
    assert!(share_acknowledge(&mut conn, 2, topic, &[(0, 2, &[1])]).contains("error=0"));

    let g = http::get(base, &format!("/api/groups/{GROUP}")).json();
    assert_eq!((g["type"].as_str(), g["state"].as_str()), (Some("share"), Some("Stable")), "{g}");
    assert_eq!(g["members"][0]["member_id"], MEMBER);
    assert_eq!(g["members"][0]["assignments"][0], json!({ "topic": "tasks", "partition": 0 }));
    // 0-2 accepted: the start is 3, 7 records left to deliver.
    let row = &g["offsets"][0];
    assert_eq!(
        (row["topic"].as_str(), row["start_offset"].as_i64(), row["lag"].as_i64()),
        (Some("tasks"), Some(3), Some(7)),
        "{g}"
    );
    assert_eq!((row["end_offset"].as_i64(), g["total_lag"].as_i64()), (Some(10), Some(7)));
    let list = http::get(base, "/api/groups").json();
    let listed = list["groups"].as_array().unwrap().iter().find(|l| l["group_id"] == GROUP).cloned().expect("listed");
    assert_eq!(
        (listed["type"].as_str(), listed["members"].as_i64(), listed["total_lag"].as_i64()),
        (Some("share"), Some(1), Some(7))
    );
    assert_eq!(listed["topics"], json!(["tasks"]));
}

#[test]
fn consumer_groups_show_members_lag_and_lag_history() {
    let brook = Brook::start(&["group.initial.rebalance.delay.ms=0", FAST_SAMPLES]);
    let base = console(&brook);
    create_topic(base, "clicks", 2);
    let records: Vec<(Option<&str>, &[u8], Option<i32>)> =
        (0..10).map(|i| (None, &b"click"[..], Some(i % 2))).collect();
    produce(&brook, "clicks", &records);

    // An active member: the API shows it with its assignment.
    let member = consumer(&brook, "dashboard");
    member.subscribe(&["clicks"]).unwrap();
    let group = eventually(TIMEOUT, "the member to be assigned", || {
        member.poll(Duration::from_millis(50));
        let g = http::get(base, "/api/groups/dashboard");
        let g = (g.status == 200).then(|| g.json())?;
        (g["state"] == "Stable" && g["members"][0]["assignments"].as_array().is_some_and(|a| a.len() == 2)).then_some(g)
    });
    assert_eq!(group["type"], "classic");
    assert_eq!(group["members"][0]["client_id"], "rdkafka");
    let mut list = TopicPartitionList::new();
    list.add_partition_offset("clicks", 0, Offset::Offset(2)).unwrap();
    list.add_partition_offset("clicks", 1, Offset::Offset(5)).unwrap();
    member.commit(&list, CommitMode::Sync).expect("commit");
    drop(member);

    // Lag per partition: end offset minus committed offset.
    let described = eventually(TIMEOUT, "lag after the commit", || {
        let g = http::get(base, "/api/groups/dashboard").json();
        (g["total_lag"] == 3).then_some(g)
    });
    let offsets = described["offsets"].as_array().unwrap();
    assert_eq!(offsets[0]["committed_offset"], 2);
    assert_eq!(offsets[0]["end_offset"], 5);
    assert_eq!(offsets[0]["lag"], 3);
    assert_eq!(offsets[1]["lag"], 0);

    // The history holds samples taken at different times, and follows the lag as it grows.
    let sampled = |lag: i64| {
        let g = http::get(base, "/api/groups/dashboard").json();
        g["lag_history"].as_array().unwrap().iter().any(|s| s["lag"] == lag).then_some(())
    };
    eventually(TIMEOUT, "a sample of the lag after the commit", || sampled(3));
    produce(&brook, "clicks", &[(None, &b"more"[..], Some(1)); 4]);
    let history = eventually(TIMEOUT, "lag history to show the growth", || {
        let g = http::get(base, "/api/groups/dashboard").json();
        let h = g["lag_history"].as_array().unwrap().clone();
        (h.iter().any(|s| s["lag"] == 3) && h.last().is_some_and(|s| s["lag"] == 7)).then_some(h)
    });
    let times: Vec<i64> = history.iter().map(|s| s["time"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");

    // A KIP-848 group (group.protocol=consumer) shows in the same shape.
    let modern: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brook.addr)
        .set("group.id", "modern")
        .set("group.protocol", "consumer")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    modern.subscribe(&["clicks"]).unwrap();
    let g = eventually(TIMEOUT, "the KIP-848 member to be assigned", || {
        modern.poll(Duration::from_millis(50));
        let g = http::get(base, "/api/groups/modern");
        let g = (g.status == 200).then(|| g.json())?;
        (g["members"][0]["assignments"].as_array().is_some_and(|a| a.len() == 2)).then_some(g)
    });
    assert_eq!(g["type"], "consumer");
    assert_eq!(g["members"][0]["assignments"][0], json!({ "topic": "clicks", "partition": 0 }));
    drop(modern);

    let list = http::get(base, "/api/groups").json();
    assert_eq!(list["groups"][0]["group_id"], "dashboard");
    assert_eq!(list["groups"][0]["total_lag"], 7);
    assert_eq!(list["groups"][1]["group_id"], "modern");
    assert_eq!(list["groups"][1]["type"], "consumer");
    assert_error(&http::get(base, "/api/groups/nobody"), 404, None);

    // The overview's rates come from the same samples.
    let overview = eventually(TIMEOUT, "a produce rate", || {
        produce(&brook, "clicks", &[(None, &b"tick"[..], Some(0))]);
        let o = http::get(base, "/api/overview").json();
        (o["rates"]["produce_records_per_sec"].as_f64()? > 0.0).then_some(o)
    });
    assert_eq!(overview["brokers"][0]["node_id"], 1);
    assert_eq!(overview["brokers"][0]["controller"], true);
    assert_eq!(overview["quorum"]["leader"], 1);
    assert_eq!(overview["quorum"]["voters"][0]["lag"], 0);
    assert!(overview["topics"].as_i64().unwrap() >= 1);
    assert_eq!(overview["consumer_groups"], 2);
}

fn scrape(base: &str) -> Vec<Sample> {
    let page = http::get(base, "/metrics");
    assert_eq!(page.status, 200);
    assert!(page.content_type.starts_with("text/plain; version=0.0.4"), "{}", page.content_type);
    parse_prometheus(&page.body)
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples.iter().find(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(v))).map(|s| s.value)
}

/// A histogram's buckets in order of their bounds, checked to be cumulative and to end in the
/// count.
fn buckets(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Vec<(f64, f64)> {
    let mut buckets: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.name == format!("{name}_bucket") && labels.iter().all(|(k, v)| s.label(k) == Some(v)))
        .map(|s| {
            let le = s.label("le").expect("le");
            (if le == "+Inf" { f64::INFINITY } else { le.parse().expect("le bound") }, s.value)
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(buckets.len() > 5, "{name} has too few buckets: {buckets:?}");
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{name} buckets are not cumulative: {buckets:?}");
    let count = value(samples, &format!("{name}_count"), labels).expect("count");
    assert_eq!(buckets.last().unwrap(), &(f64::INFINITY, count));
    buckets
}

#[test]
fn metrics_are_scraped_and_move_with_traffic() {
    let brook = Brook::start(&[]);
    let base = console(&brook);
    create_topic(base, "metered", 1);
    let before = scrape(base);
    let labels = [("topic", "metered"), ("partition", "0")];
    assert_eq!(value(&before, "brook_partition_records_in_total", &labels), Some(0.0));

    let records: Vec<(Option<&str>, &[u8], Option<i32>)> =
        (0..25).map(|_| (Some("k"), &[7u8; 100][..], None)).collect();
    produce(&brook, "metered", &records);
    let reader = consumer(&brook, "metrics-reader");
    let mut list = TopicPartitionList::new();
    list.add_partition_offset("metered", 0, Offset::Beginning).unwrap();
    reader.assign(&list).unwrap();
    let mut read = 0;
    eventually(TIMEOUT, "all 25 records read", || {
        if let Some(Ok(_)) = reader.poll(Duration::from_millis(100)) {
            read += 1;
        }
        (read == 25).then_some(())
    });

    let after = scrape(base);
    assert_eq!(value(&after, "brook_partition_records_in_total", &labels), Some(25.0));
    assert!(value(&after, "brook_partition_bytes_in_total", &labels).unwrap() > 2500.0);
    assert!(value(&after, "brook_partition_records_out_total", &labels).unwrap() >= 25.0);
    assert!(value(&after, "brook_partition_bytes_out_total", &labels).unwrap() > 2500.0);
    assert_eq!(value(&after, "brook_log_end_offset", &labels), Some(25.0));
    assert!(value(&after, "brook_log_size_bytes", &labels).unwrap() > 2500.0);
    assert!(value(&after, "brook_connections", &[]).unwrap() >= 1.0, "the reader is connected");
    assert!(value(&after, "brook_connections_accepted_total", &[]).unwrap() >= 2.0);
    // A cluster of one: one live broker, leading its own quorum, with entries applied.
    assert_eq!(value(&after, "brook_brokers", &[]), Some(1.0));
    assert_eq!(value(&after, "brook_quorum_leader", &[]), Some(1.0));
    assert!(value(&after, "brook_quorum_term", &[]).unwrap() >= 1.0);
    assert!(value(&after, "brook_quorum_applied_index", &[]).unwrap() >= 3.0);

    // Latency histograms with real buckets that fill: Produce moved, and the acks=all produce
    // was fdatasynced.
    let produce = buckets(&after, "brook_request_duration_seconds", &[("api", "Produce")]);
    let count = produce.last().unwrap().1;
    assert!(count >= 1.0);
    assert!(produce.iter().any(|(le, n)| le.is_finite() && *n > 0.0), "no finite bucket filled: {produce:?}");
    assert!(value(&after, "brook_request_duration_seconds_sum", &[("api", "Produce")]).unwrap() > 0.0);
    buckets(&after, "brook_request_duration_seconds", &[("api", "Fetch")]);
    let fsync = buckets(&after, "brook_fsync_duration_seconds", &[]);
    let syncs_before = value(&before, "brook_fsync_duration_seconds_count", &[]).unwrap();
    assert!(fsync.last().unwrap().1 > syncs_before, "acks=all produce must have synced");

    // Group figures.
    commit(&brook, "metrics-group", "metered", &[(0, 20)]);
    let groups = scrape(base);
    assert_eq!(
        value(&groups, "brook_consumer_group_lag", &[("group", "metrics-group"), ("topic", "metered")]),
        Some(5.0)
    );
    assert_eq!(value(&groups, "brook_consumer_groups", &[("type", "classic"), ("state", "Empty")]), Some(1.0));
    assert!(value(&groups, "brook_topics", &[]).unwrap() >= 2.0, "metered and __consumer_offsets");
}

#[test]
fn console_can_be_turned_off_and_a_taken_port_stops_start_up() {
    let port = common::free_port();
    let listener = format!("console.listener=127.0.0.1:{port}");
    let brook = Brook::start(&["console.enabled=false", &listener]);
    assert!(brook.console.is_none());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "nothing listens on the console port");
    drop(brook);

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_brook"))
        .args(["server", "--override", "listeners=PLAINTEXT://127.0.0.1:0"])
        .args(["--override", &format!("console.listener={address}")])
        .args(["--override", &format!("log.dirs={}", dir.path().display())])
        .output()
        .expect("run brook");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("console.listener"), "{stderr}");

    let bad = Command::new(env!("CARGO_BIN_EXE_brook"))
        .args(["server", "--override", "console.listener=nowhere"])
        .output()
        .expect("run brook");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("console.listener"));
}

/// The console in headless Chromium: create a topic, produce from the form, find the message,
/// and watch a consumer group's lag. Screenshots go to `target/console-screenshots/`.
#[test]
fn console_works_in_a_browser() {
    let brook = Brook::start(&["group.initial.rebalance.delay.ms=0", FAST_SAMPLES]);
    let base = console(&brook);
    // A group that is behind, 12 records with 4 committed, and falls further behind while
    // the browser looks (so the chart has a slope to draw).
    create_topic(base, "payments", 1);
    let records: Vec<(Option<&str>, &[u8], Option<i32>)> = (0..12).map(|_| (Some("p"), &b"paid"[..], None)).collect();
    produce(&brook, "payments", &records);
    commit(&brook, "billing", "payments", &[(0, 4)]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trickle = {
        let (stop, producer) = (stop.clone(), producer(&brook));
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                producer.send(BaseRecord::<str, str>::to("payments").key("p").payload("paid")).expect("enqueue");
                producer.poll(Duration::from_millis(150));
            }
            producer.flush(TIMEOUT).expect("flush");
        })
    };

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = root.join("tests/browser/console.mjs");
    assert!(
        root.join("tests/browser/node_modules/playwright-core").exists(),
        "run `npm ci --prefix tests/browser` (./scripts/test does) to install playwright-core"
    );
    let screenshots = root.join("target/console-screenshots");
    let status = Command::new("node")
        .arg(&script)
        .env("BROOK_CONSOLE", base)
        .env("SCREENSHOTS", &screenshots)
        .env("GROUP", "billing")
        .env("GROUP_LAG", "8")
        .status()
        .expect("run node");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    trickle.join().expect("the producing thread");
    assert!(status.success(), "the browser test failed: {status}");
    for page in ["overview", "topics", "topic", "messages", "group"] {
        let file = screenshots.join(format!("{page}.png"));
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "{} is missing or blank", file.display());
    }
    // What the browser did, seen by a Kafka client: the form's message is in the topic.
    let message = first_message(&brook, "web-orders", &[0, 1]);
    assert_eq!(message.key(), Some(&b"customer_42"[..]));
    assert_eq!(message.payload(), Some(&br#"{"item":"book","amount":12}"#[..]));
    let header = message.headers().expect("headers").get(0);
    assert_eq!((header.key, header.value), ("source", Some(&b"web"[..])));
}

/// In a cluster the console shows the cluster as the metadata has it, on any node: every
/// broker with its status and how many partitions it leads, each partition's leader, replicas
/// and ISR; after kill -9 of a broker it shows that broker fenced and the partitions it
/// replicated under-replicated, on the overview, the topic list and the topic's page.
#[test]
fn the_console_shows_the_clusters_brokers_and_under_replicated_partitions() {
    use crate::common::cluster::{Cluster, SETTLE, Spec};
    let fast = ["broker.heartbeat.interval.ms=300", "broker.session.timeout.ms=2000"];
    let mut cluster = Cluster::start_with(Spec::combined(3, &fast).with_consoles());
    let base = cluster.node(1).brook.as_ref().and_then(|b| b.console.clone()).expect("node 1's console");
    let created = http::post(&base, "/api/topics", r#"{"name":"ledger","partitions":2,"replication_factor":3}"#);
    assert_eq!(created.status, 201, "{}", created.body);
    let in_sync = |t: &Value| {
        t["partitions"]
            .as_array()
            .is_some_and(|ps| ps.iter().all(|p| p["isr"].as_array().is_some_and(|i| i.len() == 3)))
    };
    let topic = eventually(SETTLE, "every replica in sync", || {
        Some(http::get(&base, "/api/topics/ledger").json()).filter(in_sync)
    });
    assert_eq!(topic["replication_factor"], 3);
    for p in topic["partitions"].as_array().expect("partitions") {
        assert_eq!(p["replicas"].as_array().map(Vec::len), Some(3), "{p}");
        assert_eq!((p["under_replicated"].as_bool(), p["hosted"].as_bool()), (Some(false), Some(true)), "{p}");
        assert!(p["end_offset"].is_i64(), "this broker's copy: {p}");
    }
    let overview = http::get(&base, "/api/overview").json();
    let brokers = overview["brokers"].as_array().expect("brokers");
    assert_eq!(brokers.len(), 3);
    assert!(brokers.iter().all(|b| b["status"] == "live"), "{overview}");
    assert_eq!(brokers.iter().map(|b| b["leads"].as_i64().unwrap_or(0)).sum::<i64>(), 2, "{overview}");
    assert_eq!(overview["under_replicated_partitions"], 0);

    cluster.kill(3);
    let overview = eventually(SETTLE, "broker 3 fenced, both partitions under-replicated", || {
        let o = http::get(&base, "/api/overview").json();
        let fenced = o["brokers"].as_array()?.iter().any(|b| b["node_id"] == 3 && b["status"] == "fenced");
        (fenced && o["under_replicated_partitions"] == 2).then_some(o)
    });
    assert_eq!(overview["offline_partitions"], 0, "{overview}");
    let listed = http::get(&base, "/api/topics").json();
    let ledger =
        listed["topics"].as_array().and_then(|ts| ts.iter().find(|t| t["name"] == "ledger")).cloned().expect("ledger");
    assert_eq!((ledger["under_replicated"].as_i64(), ledger["replication_factor"].as_i64()), (Some(2), Some(3)));
    let topic = http::get(&base, "/api/topics/ledger").json();
    for p in topic["partitions"].as_array().expect("partitions") {
        assert_eq!(p["under_replicated"], true, "{p}");
        assert!(!p["isr"].as_array().expect("isr").contains(&json!(3)) && p["leader"] != 3, "{p}");
    }
}

/// A streams group (KIP-1071) on the Groups page: its type, state, and each member's tasks
/// as the input partitions they read.
#[test]
fn streams_groups_show_members_and_their_partitions() {
    use crate::common::wire::Conn;
    use crate::streams_groups::{beat, join, topology};
    let brook = Brook::start(&[]);
    let base = console(&brook);
    create_topic(base, "clicks", 2);
    let mut conn = Conn::open(&brook.addr);
    let first = beat(&mut conn, &join("clicks-app", "member-1", topology("clicks", None)));
    assert_eq!(first.error_code, 0, "{first:?}");
    // A new group is assigned once its initial delay (3 s) is over, at a heartbeat.
    let next = join("clicks-app", "member-1", topology("clicks", None))
        .with_member_epoch(first.member_epoch)
        .with_topology(None)
        .with_rebalance_timeout_ms(-1);
    let g = eventually(TIMEOUT, "the group on the console", || {
        beat(&mut conn, &next);
        let g = http::get(base, "/api/groups/clicks-app").json();
        (g["state"] == "Stable").then_some(g)
    });
    assert_eq!(g["type"], "streams", "{g}");
    assert_eq!(g["members"][0]["member_id"], "member-1");
    assert_eq!(
        g["members"][0]["assignments"],
        json!([{ "topic": "clicks", "partition": 0 }, { "topic": "clicks", "partition": 1 }]),
        "{g}"
    );
}
