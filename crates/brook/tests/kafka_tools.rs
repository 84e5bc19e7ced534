//! Kafka's own command-line tools (kafka-tools 4.4 from Maven Central, run with `java -cp`)
//! against Brook, and Brook's tools against Apache Kafka itself: users can mix them.

use crate::common;

use std::process::{Command, Output};

use crate::common::Brook;
use crate::common::kafka::{Kafka, classpath};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs one of Kafka's tools (a main class) with `input` on standard input.
fn kafka_tool(class: &str, args: &[&str], input: &str) -> Output {
    common::run_with_input(Command::new("java").args(["-cp", &classpath(), class]).args(args), input)
}

fn brook_tool(args: &[&str], input: &str) -> Output {
    common::run_with_input(Command::new(env!("CARGO_BIN_EXE_brook")).args(args), input)
}

fn ok(output: Output, what: &str) -> String {
    assert!(output.status.success(), "{what} failed: {}{}", text(&output.stdout), text(&output.stderr));
    text(&output.stdout)
}

/// key -> partition, from console-consumer lines `Partition:N<TAB>key<TAB>value`.
fn partitions_by_key(out: &str) -> std::collections::BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() == 3).then(|| (f[1].to_string(), f[0].to_string()))
        })
        .collect()
}

const KEYS: &str = "alice\t1\nbob\t2\ncarol\t3\ndave\t4\nerin\t5\nfrank\t6\n";

/// Kafka's kafka-topics, console producer and consumer, and consumer-groups work against
/// Brook; Kafka's producer and Brook's put each key in the same partition.
#[test]
fn kafkas_tools_against_brook() {
    let broker = Brook::start(&["group.initial.rebalance.delay.ms=0"]);
    let server = broker.addr.as_str();
    let created = ok(
        kafka_tool(
            "org.apache.kafka.tools.TopicCommand",
            &[
                "--bootstrap-server",
                server,
                "--create",
                "--topic",
                "mixed",
                "--partitions",
                "3",
                "--replication-factor",
                "1",
            ],
            "",
        ),
        "kafka-topics --create",
    );
    assert_eq!(created.trim(), "Created topic mixed.");
    let described = ok(
        kafka_tool(
            "org.apache.kafka.tools.TopicCommand",
            &["--bootstrap-server", server, "--describe", "--topic", "mixed"],
            "",
        ),
        "kafka-topics --describe",
    );
    assert!(described.starts_with("Topic: mixed\tTopicId: "), "{described}");
    assert!(described.contains("PartitionCount: 3\tReplicationFactor: 1"), "{described}");
    assert_eq!(described.lines().filter(|l| l.starts_with("\tTopic: mixed\tPartition: ")).count(), 3);
    // Empty ELR lists, not "N/A": Kafka's tool described the topic through DescribeTopicPartitions.
    assert!(described.contains("\tElr: \tLastKnownElr: "), "{described}");
    let ours =
        ok(brook_tool(&["topics", "--describe", "--topic", "mixed", "--bootstrap-server", server], ""), "brook topics");
    assert_eq!(ours, described, "Brook's kafka-topics --describe prints what Kafka's does");

    ok(
        kafka_tool(
            "org.apache.kafka.tools.ConsoleProducer",
            &["--bootstrap-server", server, "--topic", "mixed", "--property", "parse.key=true"],
            KEYS,
        ),
        "kafka-console-producer",
    );
    ok(
        brook_tool(&["topics", "--create", "--topic", "mixed2", "--partitions", "3", "--bootstrap-server", server], ""),
        "brook topics",
    );
    ok(
        brook_tool(
            &["console-producer", "--bootstrap-server", server, "--topic", "mixed2", "--property", "parse.key=true"],
            KEYS,
        ),
        "brook console-producer",
    );
    let read = |topic: &str| {
        ok(
            kafka_tool(
                "org.apache.kafka.tools.consumer.ConsoleConsumer",
                &[
                    "--bootstrap-server",
                    server,
                    "--topic",
                    topic,
                    "--from-beginning",
                    "--max-messages",
                    "6",
                    "--group",
                    &format!("readers-{topic}"),
                    "--property",
                    "print.key=true",
                    "--property",
                    "print.partition=true",
                ],
                "",
            ),
            "kafka-console-consumer",
        )
    };
    let by_kafka = partitions_by_key(&read("mixed"));
    let by_brook = partitions_by_key(&read("mixed2"));
    assert_eq!(by_kafka.len(), 6, "{by_kafka:?}");
    assert_eq!(by_kafka, by_brook, "the same key in the same partition with either producer");

    let groups = ok(
        kafka_tool(
            "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
            &["--bootstrap-server", server, "--describe", "--group", "readers-mixed"],
            "",
        ),
        "kafka-consumer-groups --describe",
    );
    let lag: Vec<Vec<&str>> =
        groups.lines().filter(|l| l.starts_with("readers-mixed ")).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lag.len(), 3, "{groups}");
    let committed: i64 = lag.iter().map(|r| r[3].parse::<i64>().expect("CURRENT-OFFSET")).sum();
    assert_eq!(committed, 6, "{groups}");
}

/// Kafka's kafka-configs changes broker configs at run time: a cluster-wide
/// `message.max.bytes` refuses a larger batch at once, this broker's own value wins over it,
/// and deleting them lets the batch through; a key Kafka cannot change at run time is refused
/// with Kafka's message.
#[test]
fn kafka_configs_changes_broker_configs_at_run_time() {
    use crate::common::wire::{Conn, create_topic, now_ms, produce};
    let broker = Brook::start(&[]);
    let server = broker.addr.as_str();
    let configs = |args: &[&str]| {
        let mut all = vec!["--bootstrap-server", server, "--entity-type", "brokers"];
        all.extend_from_slice(args);
        kafka_tool("org.apache.kafka.tools.ConfigCommand", &all, "")
    };
    let mut conn = Conn::open(server);
    create_topic(&mut conn, "sized", 1);
    let batch = brook_log::batch::build::simple(now_ms(), 1, 5_000);
    let code = |conn: &mut Conn| produce(conn, "sized", -1, batch.clone()).map(|(code, _)| code);
    assert_eq!(code(&mut conn), Some(0));

    let set = ok(configs(&["--entity-default", "--alter", "--add-config", "message.max.bytes=2000"]), "alter default");
    assert!(set.contains("Completed updating default config for brokers in the cluster."), "{set}");
    common::eventually(std::time::Duration::from_secs(10), "the cluster-wide limit applied", || {
        (code(&mut conn) == Some(10)).then_some(())
    });
    let described = ok(configs(&["--entity-default", "--describe"]), "describe default");
    assert!(described.contains("message.max.bytes=2000"), "{described}");

    ok(configs(&["--entity-name", "1", "--alter", "--add-config", "message.max.bytes=100000"]), "alter broker 1");
    common::eventually(std::time::Duration::from_secs(10), "this broker's own value applied", || {
        (code(&mut conn) == Some(0)).then_some(())
    });
    let described = ok(configs(&["--entity-name", "1", "--describe"]), "describe broker 1");
    assert!(described.contains("message.max.bytes=100000"), "{described}");

    ok(configs(&["--entity-name", "1", "--alter", "--delete-config", "message.max.bytes"]), "delete broker 1");
    common::eventually(std::time::Duration::from_secs(10), "the cluster-wide limit again", || {
        (code(&mut conn) == Some(10)).then_some(())
    });
    ok(configs(&["--entity-default", "--alter", "--delete-config", "message.max.bytes"]), "delete default");
    common::eventually(std::time::Duration::from_secs(10), "no dynamic limit", || {
        (code(&mut conn) == Some(0)).then_some(())
    });

    let refused = configs(&["--entity-name", "1", "--alter", "--add-config", "log.retention.hours=5"]);
    assert!(!refused.status.success());
    let said = format!("{}{}", text(&refused.stdout), text(&refused.stderr));
    assert!(said.contains("Cannot update these configs dynamically: [log.retention.hours]"), "{said}");

    // Kept in the metadata: a kill -9 and a restart keep the cluster-wide limit.
    ok(configs(&["--entity-default", "--alter", "--add-config", "message.max.bytes=2000"]), "alter default");
    common::eventually(std::time::Duration::from_secs(10), "the limit applied", || {
        (code(&mut conn) == Some(10)).then_some(())
    });
    let mut broker = broker;
    broker.kill();
    let restarted = Brook::start_in(&broker.data, &[]);
    let mut conn = Conn::open(&restarted.addr);
    let code = common::eventually(std::time::Duration::from_secs(10), "the partition led again", || {
        produce(&mut conn, "sized", -1, batch.clone()).map(|(code, _)| code).filter(|c| *c != 6)
    });
    assert_eq!(code, 10, "the limit holds after a restart");
}

/// Group configs with Kafka's kafka-configs and Brook's `configs` alike: set by one, shown by
/// the other, refused with Kafka's words, and kept across a restart.
#[test]
fn group_configs_with_either_tool() {
    let broker = Brook::start(&[]);
    let server = broker.addr.clone();
    let kafka = |args: &[&str]| {
        let mut all = vec!["--bootstrap-server", server.as_str(), "--entity-type", "groups"];
        all.extend_from_slice(args);
        kafka_tool("org.apache.kafka.tools.ConfigCommand", &all, "")
    };
    let brook = |server: &str, args: &[&str]| {
        let mut all = vec!["configs", "--bootstrap-server", server, "--entity-type", "groups"];
        all.extend_from_slice(args);
        brook_tool(&all, "")
    };
    let set = ok(
        kafka(&["--entity-name", "orders", "--alter", "--add-config", "share.auto.offset.reset=earliest"]),
        "kafka-configs alter",
    );
    assert!(set.contains("Completed updating config for group orders."), "{set}");
    ok(
        brook(&server, &["--entity-name", "orders", "--alter", "--add-config", "share.delivery.count.limit=3"]),
        "brook configs alter",
    );
    let shown = ok(kafka(&["--entity-name", "orders", "--describe"]), "kafka-configs describe");
    assert!(shown.contains("Dynamic configs for group orders are:"), "{shown}");
    assert!(shown.contains("share.delivery.count.limit=3 sensitive=false synonyms={DYNAMIC_GROUP_CONFIG:share.delivery.count.limit=3, DEFAULT_CONFIG:group.share.delivery.count.limit=5}"), "{shown}");
    let listed = ok(brook(&server, &["--describe"]), "brook configs describe (every group)");
    assert!(listed.contains("share.auto.offset.reset=earliest"), "{listed}");
    assert!(listed.contains("share.delivery.count.limit=3"), "{listed}");
    let all = ok(brook(&server, &["--entity-name", "other", "--describe", "--all"]), "brook configs --all");
    assert!(all.contains("share.record.lock.duration.ms=30000"), "{all}");
    let refused = kafka(&["--entity-name", "orders", "--alter", "--add-config", "share.session.timeout.ms=1"]);
    let said = format!("{}{}", text(&refused.stdout), text(&refused.stderr));
    assert!(
        !refused.status.success()
            && said.contains("share.session.timeout.ms must be in the range 45000 to 60000 inclusive."),
        "{said}"
    );
    let refused = brook(&server, &["--entity-name", "orders", "--alter", "--add-config", "nope=1"]);
    let said = text(&refused.stderr);
    assert!(!refused.status.success() && said.contains("Unknown group config name: nope"), "{said}");
    ok(kafka(&["--entity-name", "orders", "--alter", "--delete-config", "share.delivery.count.limit"]), "delete");

    let mut broker = broker;
    broker.kill();
    let restarted = Brook::start_in(&broker.data, &[]);
    let shown = common::eventually(std::time::Duration::from_secs(20), "the configs after a restart", || {
        let out = brook(&restarted.addr, &["--entity-name", "orders", "--describe"]);
        out.status.success().then(|| text(&out.stdout))
    });
    assert!(shown.contains("share.auto.offset.reset=earliest"), "{shown}");
    assert!(!shown.contains("share.delivery.count.limit"), "{shown}");
}

/// Kafka's kafka-configs, perf tests (the producer's in transactions) and kafka-transactions against Brook.
#[test]
fn kafkas_configs_and_perf_tools_against_brook() {
    let broker = Brook::start(&["group.initial.rebalance.delay.ms=0"]);
    let server = broker.addr.as_str();
    ok(
        brook_tool(&["topics", "--create", "--topic", "tuned", "--partitions", "1", "--bootstrap-server", server], ""),
        "create",
    );
    let altered = ok(
        kafka_tool(
            "org.apache.kafka.tools.ConfigCommand",
            &[
                "--bootstrap-server",
                server,
                "--alter",
                "--entity-type",
                "topics",
                "--entity-name",
                "tuned",
                "--add-config",
                "retention.ms=3600000",
            ],
            "",
        ),
        "kafka-configs --alter",
    );
    assert!(altered.contains("Completed updating config for topic tuned."), "{altered}");
    let described = ok(
        kafka_tool(
            "org.apache.kafka.tools.ConfigCommand",
            &["--bootstrap-server", server, "--describe", "--entity-type", "topics", "--entity-name", "tuned"],
            "",
        ),
        "kafka-configs --describe",
    );
    assert!(described.contains("retention.ms=3600000"), "{described}");
    let ours = ok(
        brook_tool(&["configs", "--describe", "--topic", "tuned", "--bootstrap-server", server], ""),
        "brook configs",
    );
    assert!(ours.contains("retention.ms=3600000"), "the change is what Brook's tool sees too: {ours}");

    let produced = ok(
        kafka_tool(
            "org.apache.kafka.tools.ProducerPerformance",
            &[
                "--topic",
                "tuned",
                "--num-records",
                "5000",
                "--record-size",
                "100",
                "--throughput",
                "-1",
                "--transactional-id",
                "perf-txn",
                "--transaction-duration-ms",
                "100",
                "--producer-props",
                &format!("bootstrap.servers={server}"),
            ],
            "",
        ),
        "kafka-producer-perf-test (transactional)",
    );
    assert!(produced.lines().last().is_some_and(|l| l.starts_with("5000 records sent")), "{produced}");
    let listed = ok(
        kafka_tool("org.apache.kafka.tools.TransactionsCommand", &["--bootstrap-server", server, "list"], ""),
        "kafka-transactions list",
    );
    let row: Vec<&str> =
        listed.lines().find(|l| l.starts_with("perf-txn")).expect(&listed).split_whitespace().collect();
    assert_eq!(row.get(1), Some(&"1"), "coordinated by node 1: {listed}");
    assert_eq!(row.last(), Some(&"CompleteCommit"), "{listed}");
    let described = ok(
        kafka_tool(
            "org.apache.kafka.tools.TransactionsCommand",
            &["--bootstrap-server", server, "describe", "--transactional-id", "perf-txn"],
            "",
        ),
        "kafka-transactions describe",
    );
    assert!(described.contains("CompleteCommit"), "{described}");
    let consumed = ok(
        kafka_tool(
            "org.apache.kafka.tools.ConsumerPerformance",
            &["--bootstrap-server", server, "--topic", "tuned", "--messages", "5000"],
            "",
        ),
        "kafka-consumer-perf-test",
    );
    let values: Vec<&str> = consumed.lines().last().expect("a values line").split(", ").collect();
    assert_eq!(values.get(4), Some(&"5000"), "{consumed}");
}

/// Brook's tools against Apache Kafka: the same commands give the same results.
#[test]
fn brooks_tools_against_kafka() {
    let kafka = Kafka::start();
    let server = kafka.addr.as_str();
    let created = ok(
        brook_tool(
            &[
                "topics",
                "--create",
                "--topic",
                "mixed",
                "--partitions",
                "3",
                "--replication-factor",
                "1",
                "--bootstrap-server",
                server,
            ],
            "",
        ),
        "brook topics --create",
    );
    assert_eq!(created, "Created topic mixed.\n");
    let listed = ok(brook_tool(&["topics", "--list", "--exclude-internal", "--bootstrap-server", server], ""), "list");
    assert_eq!(listed, "mixed\n");
    ok(
        brook_tool(
            &["console-producer", "--bootstrap-server", server, "--topic", "mixed", "--property", "parse.key=true"],
            KEYS,
        ),
        "brook console-producer",
    );
    let out = ok(
        brook_tool(
            &[
                "console-consumer",
                "--bootstrap-server",
                server,
                "--topic",
                "mixed",
                "--from-beginning",
                "--max-messages",
                "6",
                "--group",
                "readers",
                "--property",
                "print.key=true",
                "--property",
                "print.partition=true",
            ],
            "",
        ),
        "brook console-consumer",
    );
    let by_key = partitions_by_key(&out);
    assert_eq!(by_key.len(), 6, "{out}");
    let altered = ok(
        brook_tool(
            &[
                "configs",
                "--alter",
                "--topic",
                "mixed",
                "--add-config",
                "retention.ms=3600000",
                "--bootstrap-server",
                server,
            ],
            "",
        ),
        "brook configs --alter",
    );
    assert_eq!(altered, "Completed updating config for topic mixed.\n");
    let configs =
        ok(brook_tool(&["configs", "--describe", "--topic", "mixed", "--bootstrap-server", server], ""), "describe");
    let expected = "  retention.ms=3600000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=3600000}";
    assert!(configs.contains(expected), "{configs}");
    let groups =
        ok(brook_tool(&["consumer-groups", "--list", "--bootstrap-server", server], ""), "consumer-groups --list");
    assert!(groups.lines().any(|l| l == "readers"), "{groups}");
    let described = ok(
        brook_tool(&["consumer-groups", "--describe", "--group", "readers", "--bootstrap-server", server], ""),
        "consumer-groups --describe",
    );
    let committed: i64 = described
        .lines()
        .filter(|l| l.starts_with("readers "))
        .map(|l| l.split_whitespace().nth(3).expect("CURRENT-OFFSET").parse::<i64>().unwrap_or(0))
        .sum();
    assert_eq!(committed, 6, "{described}");
}

/// Kafka's kafka-transactions on a transaction left open: describe-producers shows the
/// producer and where its transaction starts, and abort writes the abort marker, after which
/// read_committed consumers read past it.
#[test]
fn kafka_transactions_describes_producers_and_aborts() {
    let broker = Brook::start(&[]);
    let server = broker.addr.as_str();
    ok(brook_tool(&["topics", "--create", "--topic", "held", "--bootstrap-server", server], ""), "create");
    let producer = common::clients::open_transaction(server, "stuck", "held");
    let stable_end = || common::clients::stable_end(server, "held");
    assert_eq!(stable_end(), 0, "read_committed stops at the open transaction");
    // The web console shows the same.
    let console = broker.console.as_deref().expect("console");
    let partition = || common::http::get(console, "/api/topics/held").json()["partitions"][0].clone();
    assert_eq!((partition()["stable_offset"].as_i64(), partition()["open_transactions"].as_i64()), (Some(0), Some(1)));
    let producers = ok(
        kafka_tool(
            "org.apache.kafka.tools.TransactionsCommand",
            &["--bootstrap-server", server, "describe-producers", "--topic", "held", "--partition", "0"],
            "",
        ),
        "kafka-transactions describe-producers",
    );
    let row: Vec<&str> = producers.lines().nth(1).expect(&producers).split_whitespace().collect();
    assert_eq!(row.last(), Some(&"0"), "the transaction starts at offset 0: {producers}");
    ok(
        kafka_tool(
            "org.apache.kafka.tools.TransactionsCommand",
            &["--bootstrap-server", server, "abort", "--topic", "held", "--partition", "0", "--start-offset", "0"],
            "",
        ),
        "kafka-transactions abort",
    );
    assert_eq!(stable_end(), 2, "past the record and the abort marker");
    assert_eq!((partition()["stable_offset"].as_i64(), partition()["open_transactions"].as_i64()), (Some(2), Some(0)));
    drop(producer);
}

/// Kafka's kafka-share-groups and `brook share-groups` against Brook, one after the other on
/// the same group: list, describe (members, state, offsets with lag), reset offsets (refused
/// while a member is active), delete offsets, delete the group.
#[test]
fn share_groups_with_either_tool() {
    let broker = Brook::start(&[]);
    let server = broker.addr.as_str();
    ok(brook_tool(&["topics", "--create", "--topic", "jobs", "--bootstrap-server", server], ""), "create");
    ok(
        brook_tool(&["console-producer", "--topic", "jobs", "--bootstrap-server", server], &"job\n".repeat(10)),
        "produce",
    );
    let earliest = ["--entity-type", "groups", "--entity-name", crate::share::GROUP, "--alter", "--add-config"];
    let mut args = vec!["configs", "--bootstrap-server", server];
    args.extend_from_slice(&earliest);
    args.push("share.auto.offset.reset=earliest");
    ok(brook_tool(&args, ""), "share.auto.offset.reset=earliest");
    let kafka = |args: &[&str]| {
        let mut all = vec!["--bootstrap-server", server];
        all.extend_from_slice(args);
        kafka_tool("org.apache.kafka.tools.consumer.group.ShareGroupCommand", &all, "")
    };
    share_groups_scenario(server, &kafka);
    let brook = |args: &[&str]| {
        let mut all = vec!["share-groups", "--bootstrap-server", server];
        all.extend_from_slice(args);
        brook_tool(&all, "")
    };
    // The group was deleted: it starts again from the earliest offset.
    share_groups_scenario(server, &brook);
}

fn share_groups_scenario(server: &str, tool: &dyn Fn(&[&str]) -> Output) {
    use crate::common::wire::Conn;
    use crate::share::{GROUP, MEMBER, fetch_request, heartbeat, share_acknowledge, share_fetch, topic_id};
    use std::time::Duration;
    let mut conn = Conn::open(server);
    let topic = topic_id(&mut conn, "jobs");
    let join = |conn: &mut Conn| {
        common::eventually(Duration::from_secs(30), "a share group member", || {
            (heartbeat(conn, GROUP, MEMBER, 0, Some(&["jobs"])).0 == 0).then_some(())
        })
    };
    let fetch = |conn: &mut Conn| {
        common::eventually(Duration::from_secs(30), "records", || {
            let answer = share_fetch(conn, &fetch_request(0, topic, &[]));
            answer.contains("acquired=[\"").then_some(answer)
        })
    };
    let leave = |conn: &mut Conn| {
        share_acknowledge(conn, -1, topic, &[]);
        heartbeat(conn, GROUP, MEMBER, -1, None);
    };
    join(&mut conn);
    assert!(fetch(&mut conn).ends_with("acquired=[\"0-9x1\"]"));
    assert!(share_acknowledge(&mut conn, 1, topic, &[(0, 5, &[1])]).contains("error=0"));

    assert!(ok(tool(&["--list"]), "--list").lines().any(|l| l == GROUP));
    let members = ok(tool(&["--describe", "--group", GROUP, "--members"]), "--members");
    assert!(members.lines().any(|l| l.starts_with(GROUP) && l.contains(MEMBER) && l.ends_with("jobs:0")), "{members}");
    let state = ok(tool(&["--describe", "--group", GROUP, "--state"]), "--state");
    assert!(state.lines().any(|l| l.starts_with(GROUP) && l.split_whitespace().skip(3).eq(["Stable", "1"])), "{state}");
    // 0-5 accepted: the start is 6, and 4 records are left to deliver.
    let offsets = |verbose: bool| {
        let mut args = vec!["--describe", "--group", GROUP, "--offsets"];
        args.extend(verbose.then_some("--verbose"));
        let out = ok(tool(&args), "--offsets");
        let row = out.lines().find(|l| l.starts_with(GROUP)).map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>());
        row.unwrap_or_default().join(" ")
    };
    assert_eq!(offsets(false), "jobs 0 6 4");
    assert_eq!(offsets(true), "jobs 0 0 6 4", "with the leader epoch");
    let reset = ["--reset-offsets", "--group", GROUP, "--topic", "jobs", "--to-earliest", "--execute"];
    let refused = tool(&reset);
    let said = text(&refused.stderr);
    assert!(!refused.status.success() && said.contains("Share group 'diff-share' is not empty."), "{said}");

    leave(&mut conn);
    let reset = ok(tool(&reset), "--reset-offsets --to-earliest");
    assert!(reset.lines().any(|l| l.split_whitespace().eq([GROUP, "jobs", "0", "0"])), "{reset}");
    assert_eq!(offsets(false), "jobs 0 0 10");
    let to_4 = ["--reset-offsets", "--group", GROUP, "--topic", "jobs:0", "--to-offset", "4", "--execute"];
    ok(tool(&to_4), "--reset-offsets --to-offset");
    assert_eq!(offsets(false), "jobs 0 4 6");
    // A member joining now starts where the offsets were set, though the partition's leader
    // had delivered past it.
    join(&mut conn);
    assert!(fetch(&mut conn).ends_with("acquired=[\"4-9x1\"]"));
    leave(&mut conn);

    let deleted = ok(tool(&["--delete-offsets", "--group", GROUP, "--topic", "jobs"]), "--delete-offsets");
    assert!(deleted.lines().any(|l| l.split_whitespace().eq(["jobs", "Successful"])), "{deleted}");
    let none = ok(tool(&["--describe", "--group", GROUP, "--offsets"]), "--offsets");
    assert!(none.contains("has no offset information"), "{none}");
    let gone = ok(tool(&["--delete", "--group", GROUP]), "--delete");
    assert!(gone.contains("Deletion of requested share groups ('diff-share') was successful."), "{gone}");
    assert!(!ok(tool(&["--list"]), "--list").lines().any(|l| l == GROUP));
}

/// Kafka's kafka-features against Brook: describe, downgrade, upgrade and a refusal; the
/// levels survive a kill -9 and a restart.
#[test]
fn kafka_features_against_brook() {
    let mut broker = Brook::start(&[]);
    let features = |server: &str, args: &[&str]| {
        let mut all = vec!["--bootstrap-server", server];
        all.extend_from_slice(args);
        kafka_tool("org.apache.kafka.tools.FeatureCommand", &all, "")
    };
    let described = ok(features(&broker.addr, &["describe"]), "describe");
    let level = |described: &str, name: &str| {
        let line = described.lines().find(|l| l.starts_with(&format!("Feature: {name} "))).expect(described);
        line.split("FinalizedVersionLevel:").nth(1).and_then(|r| r.split_whitespace().next()).map(String::from)
    };
    assert_eq!(level(&described, "share.version").as_deref(), Some("2"), "{described}");
    assert_eq!(level(&described, "transaction.version").as_deref(), Some("2"));
    assert!(described.contains("SupportedMaxVersion: 1"), "{described}");
    let down = ok(features(&broker.addr, &["downgrade", "--feature", "share.version=0"]), "downgrade");
    assert!(down.contains("share.version was downgraded to 0."), "{down}");
    let refused = features(&broker.addr, &["upgrade", "--feature", "transaction.version=9"]);
    let said = text(&refused.stdout) + &text(&refused.stderr);
    assert!(!refused.status.success() && said.contains("only supports versions 0-2"), "{said}");
    broker.kill();
    let broker = Brook::start_in(&broker.data, &[]);
    let described = ok(features(&broker.addr, &["describe"]), "describe after a restart");
    assert_eq!(level(&described, "share.version").as_deref(), Some("0"), "{described}");
    let up = ok(features(&broker.addr, &["upgrade", "--feature", "share.version=2"]), "upgrade");
    assert!(up.contains("share.version was upgraded to 2."), "{up}");
}

/// Kafka's `kafka-streams-groups` against a streams group on Brook: listed, described with
/// its members, tasks and state, its offsets reset while it is empty, then deleted with its
/// internal topics.
#[test]
fn kafka_streams_groups_against_brook() {
    use crate::common::wire::Conn;
    use crate::streams_groups::{beat, join, topology};
    use kafka_protocol::messages::streams_group_heartbeat_request::TaskIds;
    use std::time::Duration;
    let broker = Brook::start(&[]);
    let server = broker.addr.as_str();
    ok(
        brook_tool(&["topics", "--create", "--topic", "orders", "--partitions", "3", "--bootstrap-server", server], ""),
        "create",
    );
    ok(
        brook_tool(&["console-producer", "--topic", "orders", "--bootstrap-server", server], &"order\n".repeat(9)),
        "produce",
    );
    let tool = |args: &[&str]| {
        let mut all = vec!["--bootstrap-server", server];
        all.extend_from_slice(args);
        kafka_tool("org.apache.kafka.tools.streams.StreamsGroupCommand", &all, "")
    };
    let mut conn = Conn::open(server);
    let changelog = "orders-app-counts-changelog";
    let first = beat(&mut conn, &join("orders-app", "member-1", topology("orders", Some(changelog))));
    let running = common::eventually(Duration::from_secs(30), "the member's tasks", || {
        let next = join("orders-app", "member-1", topology("orders", None))
            .with_member_epoch(first.member_epoch)
            .with_topology(None)
            .with_rebalance_timeout_ms(-1)
            .with_active_tasks(Some(vec![
                TaskIds::default().with_subtopology_id(crate::share::text("0")).with_partitions(vec![0, 1, 2]),
            ]));
        let r = beat(&mut conn, &next);
        r.active_tasks.as_ref().is_some_and(|t| !t.is_empty()).then_some(r)
    });
    // The member commits in its epoch (a stale epoch is refused, as Kafka refuses it).
    let commit = |epoch: i32| {
        use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
        use kafka_protocol::messages::{ApiKey, GroupId, OffsetCommitRequest, ResponseKind, TopicName};
        let partitions = (0..3)
            .map(|p| OffsetCommitRequestPartition::default().with_partition_index(p).with_committed_offset(3))
            .collect();
        let request = OffsetCommitRequest::default()
            .with_group_id(GroupId(crate::share::text("orders-app")))
            .with_generation_id_or_member_epoch(epoch)
            .with_member_id(crate::share::text("member-1"))
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(crate::share::text("orders")))
                    .with_partitions(partitions),
            ]);
        let ResponseKind::OffsetCommit(r) = Conn::open(server).call(ApiKey::OffsetCommit, 9, &request) else {
            panic!()
        };
        r.topics[0].partitions.iter().map(|p| p.error_code).collect::<Vec<_>>()
    };
    assert_eq!(commit(running.member_epoch - 1), vec![113; 3], "STALE_MEMBER_EPOCH");
    assert_eq!(commit(running.member_epoch), vec![0; 3]);
    let listed = ok(tool(&["--list"]), "list");
    assert!(listed.lines().any(|l| l.trim() == "orders-app"), "{listed}");
    let current = || {
        let offsets = ok(tool(&["--describe", "--offsets", "--verbose", "--group", "orders-app"]), "describe offsets");
        // GROUP TOPIC PARTITION CURRENT-OFFSET ...
        let rows: Vec<String> = offsets
            .lines()
            .filter_map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                (cols.get(1) == Some(&"orders")).then(|| format!("{}={}", cols[2], cols[3]))
            })
            .collect();
        rows.join(" ")
    };
    assert_eq!(current(), "0=3 1=3 2=3");
    // Brook's own tool shows the same group.
    let brook = |args: &[&str]| {
        let mut all = vec!["streams-groups", "--bootstrap-server", server];
        all.extend_from_slice(args);
        ok(brook_tool(&all, ""), &format!("brook streams-groups {args:?}"))
    };
    assert_eq!(brook(&["--list"]).trim(), "orders-app");
    let members = brook(&["--describe", "--members", "--group", "orders-app"]);
    assert!(members.contains("member-1") && members.contains("ACTIVE: 0:[0,1,2];"), "{members}");
    let state = brook(&["--describe", "--state", "--group", "orders-app"]);
    assert!(state.contains("Stable"), "{state}");
    // partition=committed offset, as Brook's tool shows them.
    let committed = || {
        let offsets = brook(&["--describe", "--group", "orders-app"]);
        let rows: Vec<String> = offsets
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|c| c.get(1) == Some(&"orders"))
            .map(|c| format!("{}={}", c[2], c[3]))
            .collect();
        rows.join(" ")
    };
    assert_eq!(committed(), "0=3 1=3 2=3");
    let brook_reset = ["--reset-offsets", "--to-latest", "--all-input-topics", "--execute", "--group", "orders-app"];
    let mut args = vec!["streams-groups", "--bootstrap-server", server];
    args.extend_from_slice(&brook_reset);
    let refused = brook_tool(&args, "");
    assert!(!refused.status.success() && text(&refused.stderr).contains("is inactive"), "{refused:?}");
    let refused =
        brook_tool(&["streams-groups", "--bootstrap-server", server, "--delete", "--group", "orders-app"], "");
    assert!(!refused.status.success() && text(&refused.stderr).contains("NonEmptyGroup"), "{refused:?}");
    let members = ok(tool(&["--describe", "--members", "--group", "orders-app"]), "describe members");
    assert!(members.contains("member-1") && members.contains("ACTIVE: 0:[0,1,2]"), "{members}");
    let state = ok(tool(&["--describe", "--state", "--group", "orders-app"]), "describe state");
    assert!(state.contains("Stable"), "{state}");
    // Offsets change only while the group is empty, as in Kafka.
    let reset = ["--reset-offsets", "--to-earliest", "--input-topic", "orders", "--execute", "--group", "orders-app"];
    let refused = ok(tool(&reset), "reset offsets of a running group");
    assert!(refused.contains("can only be reset if the group 'orders-app' is inactive"), "{refused}");
    let leave = join("orders-app", "member-1", topology("orders", None))
        .with_member_epoch(-1)
        .with_topology(None)
        .with_rebalance_timeout_ms(-1);
    assert_eq!(beat(&mut conn, &leave).member_epoch, -1, "{running:?}");
    brook(&brook_reset);
    // Each partition's committed offset is now its log end (CURRENT-OFFSET = LOG-END-OFFSET).
    let offsets = brook(&["--describe", "--group", "orders-app"]);
    let at_end =
        offsets.lines().map(|l| l.split_whitespace().collect::<Vec<_>>()).filter(|c| c.get(1) == Some(&"orders"));
    assert_eq!(at_end.filter(|c| c[3] == c[4] && c[5] == "0").count(), 3, "{offsets}");
    ok(tool(&reset), "reset offsets");
    assert_eq!(committed(), "0=0 1=0 2=0");
    ok(tool(&["--delete", "--delete-all-internal-topics", "--group", "orders-app"]), "delete");
    let listed = ok(tool(&["--list"]), "list after delete");
    assert!(!listed.contains("orders-app"), "{listed}");
    let topics = ok(brook_tool(&["topics", "--list", "--bootstrap-server", server], ""), "topics");
    assert!(!topics.contains(changelog) && topics.contains("orders"), "{topics}");
}

/// Kafka's `kafka-log-dirs` and `kafka-reassign-partitions` with `log_dirs` in its plan (and
/// its log-dir throttle) move replicas between a Brook broker's two log dirs; Brook's
/// `log-dirs` and `reassign-partitions` move them back. Both tools report the same placement,
/// and every record is still there.
#[test]
fn log_dirs_with_either_tool() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (root.path().join("disk-a"), root.path().join("disk-b"));
    let broker = Brook::start_in(root.path(), &[&format!("log.dirs={},{}", a.display(), b.display())]);
    let server = broker.addr.as_str();
    let (a, b) = (a.display().to_string(), b.display().to_string());
    let topics = |args: &[&str]| {
        let mut all = vec!["--bootstrap-server", server];
        all.extend_from_slice(args);
        kafka_tool("org.apache.kafka.tools.TopicCommand", &all, "")
    };
    ok(topics(&["--create", "--topic", "disks", "--partitions", "2"]), "create");
    ok(
        brook_tool(&["console-producer", "--bootstrap-server", server, "--topic", "disks"], "1\n2\n3\n4\n5\n6\n"),
        "produce",
    );
    // partition -> (log dir, size), from either tool's JSON.
    let placement = |out: &str| -> std::collections::BTreeMap<String, (String, i64)> {
        let json: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).expect(out);
        assert_eq!(json["brokers"][0]["broker"], 1, "{out}");
        let mut placed = std::collections::BTreeMap::new();
        for dir in json["brokers"][0]["logDirs"].as_array().unwrap() {
            assert_eq!(dir["error"], serde_json::Value::Null);
            for p in dir["partitions"].as_array().unwrap() {
                assert_eq!(p["isFuture"], false, "{out}");
                let entry = (dir["logDir"].as_str().unwrap().to_string(), p["size"].as_i64().unwrap());
                placed.insert(p["partition"].as_str().unwrap().to_string(), entry);
            }
        }
        placed
    };
    let kafka_dirs = || {
        let args = ["--bootstrap-server", server, "--describe", "--topic-list", "disks"];
        placement(&ok(kafka_tool("org.apache.kafka.tools.LogDirsCommand", &args, ""), "kafka-log-dirs"))
    };
    let brook_dirs = || {
        let args = ["log-dirs", "--bootstrap-server", server, "--describe", "--topic-list", "disks"];
        placement(&ok(brook_tool(&args, ""), "brook log-dirs"))
    };
    let before = kafka_dirs();
    assert_eq!(before.keys().collect::<Vec<_>>(), ["disks-0", "disks-1"]);
    assert_eq!((before["disks-0"].0.as_str(), before["disks-1"].0.as_str()), (a.as_str(), b.as_str()));
    assert!(before.values().map(|(_, size)| size).sum::<i64>() > 0);
    assert_eq!(brook_dirs(), before);

    let plan = root.path().join("plan.json");
    let write_plan = |first: &str, second: &str| {
        let json = serde_json::json!({"version": 1, "partitions": [
            {"topic": "disks", "partition": 0, "replicas": [1], "log_dirs": [first]},
            {"topic": "disks", "partition": 1, "replicas": [1], "log_dirs": [second]},
        ]});
        std::fs::write(&plan, json.to_string()).unwrap();
    };
    let plan_arg = plan.display().to_string();
    let kafka_reassign = |action: &str, extra: &[&str]| {
        let mut args = vec!["--bootstrap-server", server, action, "--reassignment-json-file", plan_arg.as_str()];
        args.extend_from_slice(extra);
        ok(kafka_tool("org.apache.kafka.tools.reassign.ReassignPartitionsCommand", &args, ""), action)
    };
    let brook_reassign = |action: &str, extra: &[&str]| {
        let mut args = vec!["reassign-partitions", "--bootstrap-server", server, action, "--reassignment-json-file"];
        args.push(&plan_arg);
        args.extend_from_slice(extra);
        ok(brook_tool(&args, ""), action)
    };
    let rate = "replica.alter.log.dirs.io.max.bytes.per.second";
    let broker_configs = || {
        let args = ["--bootstrap-server", server, "--describe", "--entity-type", "brokers", "--entity-name", "1"];
        ok(kafka_tool("org.apache.kafka.tools.ConfigCommand", &args, ""), "describe broker configs")
    };
    let await_verified = |verify: &dyn Fn() -> String| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let out = verify();
            let done = ["disks-0-1", "disks-1-1"]
                .iter()
                .all(|r| out.contains(&format!("Reassignment of replica {r} completed successfully.")));
            if done {
                return out;
            }
            assert!(std::time::Instant::now() < deadline, "the replicas did not move: {out}");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    };

    write_plan(&b, &a);
    let started = kafka_reassign("--execute", &["--replica-alter-log-dirs-throttle", "50000000"]);
    assert!(
        started.contains(&format!("Successfully started moving log directory to {b} for replica disks-0")),
        "{started}"
    );
    let configs = broker_configs();
    assert!(configs.contains(&format!("{rate}=50000000")), "Kafka's tool set the throttle: {configs}");
    await_verified(&|| kafka_reassign("--verify", &[]));
    assert!(!broker_configs().contains(rate), "Kafka's --verify cleared the throttle once done");
    let moved = kafka_dirs();
    assert_eq!((moved["disks-0"].0.as_str(), moved["disks-1"].0.as_str()), (b.as_str(), a.as_str()));
    assert_eq!(brook_dirs(), moved);

    write_plan(&a, &b);
    let started = brook_reassign("--execute", &["--replica-alter-log-dirs-throttle", "40000000"]);
    assert!(
        started.contains(&format!("Successfully started moving log directory to {a} for replica disks-0")),
        "{started}"
    );
    assert!(started.contains("The replica-alter-dir throttle limit was set to 40000000 B/s"), "{started}");
    assert!(broker_configs().contains(&format!("{rate}=40000000")), "Brook's tool set the throttle");
    let verified = await_verified(&|| brook_reassign("--verify", &[]));
    assert!(verified.contains("Clearing broker-level throttles on broker 1"), "{verified}");
    assert!(!broker_configs().contains(rate), "Brook's --verify cleared the throttle once done");
    assert_eq!(kafka_dirs(), before);

    let consumed = ok(
        brook_tool(
            &[
                "console-consumer",
                "--bootstrap-server",
                server,
                "--topic",
                "disks",
                "--from-beginning",
                "--max-messages",
                "6",
            ],
            "",
        ),
        "consume",
    );
    let mut values: Vec<&str> = consumed.lines().collect();
    values.sort_unstable();
    assert_eq!(values, ["1", "2", "3", "4", "5", "6"]);
}

/// Kafka's `kafka-client-metrics` and Brook's `client-metrics` against Brook, step by step with
/// the same arguments: a subscription made, changed, described, listed, a bad interval refused
/// with Kafka's message, reset and deleted. Both print the same lines.
#[test]
fn client_metrics_with_either_tool() {
    let broker = Brook::start(&[]);
    let run = |tool: &dyn Fn(&[&str]) -> Output| -> Vec<String> {
        let steps: [&[&str]; 9] = [
            &["--alter", "--name", "producers", "--metrics", "org.apache.kafka.producer.", "--interval", "5000"],
            &["--alter", "--name", "producers", "--match", "client_software_name=apache-kafka-java"],
            &["--describe", "--name", "producers"],
            &["--list"],
            &["--alter", "--name", "producers", "--interval", "10"],
            &["--alter", "--name", "producers", "--interval", ""],
            &["--describe"],
            &["--delete", "--name", "producers"],
            &["--describe", "--name", "producers"],
        ];
        steps
            .iter()
            .map(|args| {
                let out = tool(args);
                let said = text(&out.stdout) + &text(&out.stderr);
                if out.status.success() {
                    text(&out.stdout)
                } else {
                    // Kafka's tool prints its usage after the error; the first line is the error.
                    let error = said.lines().find(|l| l.contains("interval must be")).unwrap_or(&said).to_string();
                    format!("failed: {error}")
                }
            })
            .collect()
    };
    let server = broker.addr.as_str();
    let kafka = run(&|args: &[&str]| {
        let mut all = vec!["--bootstrap-server", server];
        all.extend_from_slice(args);
        kafka_tool("org.apache.kafka.tools.ClientMetricsCommand", &all, "")
    });
    assert!(kafka[0].contains("Altered client metrics config for producers."), "{kafka:?}");
    assert!(kafka[2].contains("  match=client_software_name=apache-kafka-java"), "{kafka:?}");
    assert!(kafka[4].contains("interval must be between 100 and 3600000"), "{kafka:?}");
    assert_eq!(kafka[8], "The client metric resource producers doesn't exist and doesn't have dynamic config.\n");
    let brook = run(&|args: &[&str]| {
        let mut all = vec!["client-metrics", "--bootstrap-server", server];
        all.extend_from_slice(args);
        brook_tool(&all, "")
    });
    assert_eq!(brook, kafka, "Brook's tool prints what Kafka's does");
}

/// Kafka's kafka-delegation-tokens (DelegationTokenCommand) prints the same against Brook as
/// against Kafka 4.4: create with a renewer, describe, renew, expire, and a renew once gone.
#[test]
fn kafka_delegation_tokens_against_brook() {
    const JAAS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule required \
        user_alice=\"alice-secret\";";
    let lines = [
        "sasl.enabled.mechanisms=PLAIN".to_string(),
        format!("listener.name.sasl_plaintext.plain.sasl.jaas.config={JAAS}"),
        "delegation.token.secret.key=tool-secret".to_string(),
    ];
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let config = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(
        config.path(),
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.jaas.config=org.apache.kafka.common.\
         security.plain.PlainLoginModule required username=\"alice\" password=\"alice-secret\";\n",
    )
    .expect("command config");
    let config = config.path().to_str().expect("path");
    let run = |server: &str, ours: bool| -> Vec<String> {
        let tool = |args: &[&str]| {
            let mut all = vec!["--bootstrap-server", server, "--command-config", config];
            all.extend_from_slice(args);
            let out = match ours {
                true => brook_tool(&[&["delegation-tokens"][..], &all].concat(), ""),
                false => kafka_tool("org.apache.kafka.tools.DelegationTokenCommand", &all, ""),
            };
            // Kafka's tool ends some lines without a newline: stderr goes on a line of its own.
            let said = text(&out.stdout) + "\n" + &text(&out.stderr);
            let said: Vec<&str> = said.lines().filter(|l| !l.starts_with("SLF4J")).collect();
            format!("{} {}", out.status.code().unwrap_or(-1), said.join("\n"))
        };
        let created = tool(&["--create", "--max-life-time-period", "-1", "--renewer-principal", "User:bob"]);
        let id =
            created.rsplit("tokenId : ").next().and_then(|s| s.split_whitespace().next()).unwrap_or("?").to_string();
        let hmac = created.lines().last().and_then(|l| l.split_whitespace().nth(1)).unwrap_or("?").to_string();
        // The token reaches the broker's metadata just after the answer: await it there.
        let described = common::eventually(std::time::Duration::from_secs(10), "the token described", || {
            let out = tool(&["--describe", "--owner-principal", "User:alice"]);
            out.contains(&id).then_some(out)
        });
        // Without an owner the tool sends an empty owner list, which Kafka answers with none.
        let described_without_owner = tool(&["--describe"]);
        let renewed = tool(&["--renew", "--hmac", &hmac, "--renew-time-period", "-1"]);
        let expired = tool(&["--expire", "--hmac", &hmac, "--expiry-time-period", "-1"]);
        let gone = common::eventually(std::time::Duration::from_secs(10), "the token gone", || {
            let out = tool(&["--describe", "--owner-principal", "User:alice"]);
            (!out.contains(&id)).then_some(out)
        });
        let renew_gone = tool(&["--renew", "--hmac", &hmac, "--renew-time-period", "-1"]);
        // Ids, HMACs and dates differ by nature; spacing follows their lengths.
        [created, described, described_without_owner, renewed, expired, gone, renew_gone]
            .iter()
            .map(|out| {
                out.split_whitespace()
                    .map(|w| match w {
                        w if w == id => "<id>",
                        w if w.contains(&hmac) => "<hmac>",
                        w if w.starts_with("20") && w.contains('T') => "<date>",
                        w => w,
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    };
    let port = common::free_port();
    let kafka = Kafka::start_with(&[("SASL_PLAINTEXT", port, "SASL_PLAINTEXT")], &lines);
    let kafka_said = run(&format!("127.0.0.1:{port}"), false);
    drop(kafka);
    let port = common::free_port();
    let mut brook_lines = vec![format!("listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:{port}")];
    brook_lines.extend(lines.iter().map(|l| l.to_string()));
    let brook = Brook::start(&brook_lines.iter().map(String::as_str).collect::<Vec<_>>());
    let brook_said = run(&format!("127.0.0.1:{port}"), false);
    // Brook's own tool, against Brook: the same lines, but for how a failure is worded (Kafka's
    // prints the exception's stack).
    let brook_tool_said = run(&format!("127.0.0.1:{port}"), true);
    drop(brook);
    assert!(kafka_said[0].starts_with("0 ") && kafka_said[0].contains("User:bob"), "{kafka_said:#?}");
    assert_eq!(brook_said, kafka_said, "Brook: {brook_said:#?}\nKafka: {kafka_said:#?}");
    let (failure, lines) = brook_tool_said.split_last().expect("steps");
    assert_eq!(lines, &kafka_said[..kafka_said.len() - 1], "brook delegation-tokens: {brook_tool_said:#?}");
    assert!(failure.starts_with("1 ") && failure.contains("DelegationTokenNotFound"), "{failure}");
}
