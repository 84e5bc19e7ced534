//! Brook's Kafka-compatible tools as users type them, against a running broker: the overview's
//! three commands verbatim (names aside), kafka-topics' other actions, the aliases, and what
//! bad flags and unreachable brokers get.

use crate::common;

use std::process::{Command, Output, Stdio};

use crate::common::Brook;

fn brook(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_brook")).args(args).output().expect("run brook")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs a tool with `input` on its standard input.
fn with_input(args: &[&str], input: &str) -> Output {
    common::run_with_input(Command::new(env!("CARGO_BIN_EXE_brook")).args(args), input)
}

/// The Java client's default partitioner for keyed records: murmur2 of the key bytes, made
/// positive, modulo the partition count.
fn java_partition(key: &[u8], partitions: u32) -> u32 {
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = 0x9747_b28c ^ key.len() as u32;
    let mut chunks = key.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes(chunk.try_into().expect("4 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    (h & 0x7fff_ffff) % partitions
}

/// The overview's walk: kafka-topics --create, kafka-console-producer --broker-list with keys,
/// kafka-console-consumer --from-beginning; each key in the partition murmur2 gives it.
#[test]
fn overview_commands() {
    let broker = Brook::start(&[]);
    let server = broker.addr.as_str();
    let created = brook(&[
        "topics",
        "--create",
        "--topic",
        "purchases",
        "--partitions",
        "3",
        "--replication-factor",
        "1",
        "--bootstrap-server",
        server,
    ]);
    assert!(created.status.success(), "{}", stderr(&created));
    assert_eq!(stdout(&created), "Created topic purchases.\n");

    let lines: Vec<String> = (0..30).map(|i| format!("customer_{}\ttransaction_data_{i}", i % 7)).collect();
    let produced = with_input(
        &["console-producer", "--broker-list", server, "--topic", "purchases", "--property", "parse.key=true"],
        &(lines.join("\n") + "\n"),
    );
    assert!(produced.status.success(), "{}", stderr(&produced));

    let consumed = brook(&[
        "console-consumer",
        "--bootstrap-server",
        server,
        "--topic",
        "purchases",
        "--from-beginning",
        "--max-messages",
        "30",
        "--property",
        "print.key=true",
        "--property",
        "print.partition=true",
        "--property",
        "print.offset=true",
    ]);
    assert!(consumed.status.success(), "{}", stderr(&consumed));
    let out = stdout(&consumed);
    let mut got: Vec<(String, String)> = Vec::new();
    for line in out.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 4, "Partition, Offset, key, value: {line}");
        let partition: u32 = fields[0].strip_prefix("Partition:").expect("partition").parse().expect("number");
        assert!(fields[1].starts_with("Offset:"));
        assert_eq!(partition, java_partition(fields[2].as_bytes(), 3), "{} in the Java client's partition", fields[2]);
        got.push((fields[2].to_string(), fields[3].to_string()));
    }
    let mut want: Vec<(String, String)> =
        lines.iter().map(|l| l.split_once('\t').map(|(k, v)| (k.to_string(), v.to_string())).expect("tab")).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert!(stderr(&consumed).contains("Processed a total of 30 messages"));
}

/// kafka-topics: list with a pattern, describe with configs, alter partitions, --if-not-exists,
/// delete; the aliases run the same tool.
#[test]
fn topics_actions_and_aliases() {
    let broker = Brook::start(&[]);
    let server = broker.addr.as_str();
    for (topic, partitions) in [("orders.eu", "2"), ("orders.us", "1"), ("users", "1")] {
        let out = brook(&[
            "topics",
            "--create",
            "--topic",
            topic,
            "--partitions",
            partitions,
            "--bootstrap-server",
            server,
            "--config",
            "retention.ms=3600000",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let listed = brook(&["topics", "--list", "--topic", "orders.*", "--bootstrap-server", server]);
    assert_eq!(stdout(&listed), "orders.eu\norders.us\n");

    let again = brook(&["topics", "--create", "--topic", "users", "--bootstrap-server", server]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(stderr(&again).trim(), "Error while executing topic command : Topic 'users' already exists.");
    let quiet = brook(&["topics", "--create", "--if-not-exists", "--topic", "users", "--bootstrap-server", server]);
    assert!(quiet.status.success());

    let altered =
        brook(&["topics", "--alter", "--topic", "orders.us", "--partitions", "4", "--bootstrap-server", server]);
    assert!(altered.status.success(), "{}", stderr(&altered));
    let described = stdout(&brook(&["topics", "--describe", "--topic", "orders.us", "--bootstrap-server", server]));
    let mut lines = described.lines();
    let head = lines.next().expect("the topic line");
    let (name, rest) = head.split_once("\tTopicId: ").expect("a topic id");
    assert_eq!(name, "Topic: orders.us");
    let (id, rest) = rest.split_once('\t').expect("fields");
    assert_eq!(id.len(), 22, "a base64 topic id: {id}");
    assert_eq!(rest, "PartitionCount: 4\tReplicationFactor: 1\tConfigs: retention.ms=3600000");
    let partitions: Vec<&str> = lines.collect();
    assert_eq!(partitions.len(), 4);
    assert_eq!(
        partitions[3],
        "\tTopic: orders.us\tPartition: 3\tLeader: 1\tReplicas: 1\tIsr: 1\tElr: \tLastKnownElr: "
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let installed = brook(&["install-aliases", &dir.path().display().to_string()]);
    assert!(installed.status.success(), "{}", stderr(&installed));
    let deleted = Command::new(dir.path().join("kafka-topics.sh"))
        .args(["--delete", "--topic", "users", "--bootstrap-server", server])
        .output()
        .expect("kafka-topics.sh");
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    let listed = Command::new(dir.path().join("kafka-topics"))
        .args(["--list", "--bootstrap-server", server, "--exclude-internal"])
        .output()
        .expect("kafka-topics");
    assert_eq!(stdout(&listed), "orders.eu\norders.us\n");
    let missing = brook(&["topics", "--describe", "--topic", "users", "--bootstrap-server", server]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("Topic 'users' does not exist as expected"));
}

/// A consumer group's console consumer commits what it printed: the next run with the same
/// group prints only what came after.
#[test]
fn console_consumer_group_commits() {
    let broker = Brook::start(&["group.initial.rebalance.delay.ms=0"]);
    let server = broker.addr.as_str();
    let produce = |lines: &str| {
        let out = with_input(&["console-producer", "--bootstrap-server", server, "--topic", "events"], lines);
        assert!(out.status.success(), "{}", stderr(&out));
    };
    let consume = || {
        brook(&[
            "console-consumer",
            "--bootstrap-server",
            server,
            "--topic",
            "events",
            "--group",
            "readers",
            "--from-beginning",
            "--timeout-ms",
            "3000",
        ])
    };
    produce("one\ntwo\n");
    assert_eq!(stdout(&consume()), "one\ntwo\n");
    produce("three\n");
    assert_eq!(stdout(&consume()), "three\n");
}

/// A reader that stops early (`brook topics --describe ... | head -1`) ends the tool quietly
/// with 141, as SIGPIPE would, not with a panic's trace.
#[test]
fn a_closed_pipe_ends_a_tool_quietly() {
    let broker = Brook::start(&[]);
    let server = broker.addr.as_str();
    let created =
        brook(&["topics", "--bootstrap-server", server, "--create", "--topic", "wide", "--partitions", "3000"]);
    assert!(created.status.success(), "{}", stderr(&created));
    let mut child = Command::new(env!("CARGO_BIN_EXE_brook"))
        .args(["topics", "--bootstrap-server", server, "--describe", "--topic", "wide"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run brook");
    let mut first = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut first).unwrap();
    assert!(first.starts_with("Topic: wide"), "{first}");
    // The reader is gone: the rest of the 3,000 lines cannot be written.
    let out = child.wait_with_output().expect("wait for brook");
    assert_eq!(out.status.code(), Some(141), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

/// Bad flags get the message and the usage; an unreachable broker gets one line; both exit 1.
#[test]
fn bad_input_is_refused_clearly() {
    let bogus = brook(&["topics", "--bogus"]);
    assert_eq!(bogus.status.code(), Some(1));
    assert!(stderr(&bogus).starts_with("bogus is not a recognized option\n"));
    assert!(stderr(&bogus).contains("--bootstrap-server"));
    let no_action = brook(&["topics", "--bootstrap-server", "127.0.0.1:1"]);
    assert_eq!(no_action.status.code(), Some(1));
    assert!(stderr(&no_action).contains("exactly one action"));
    let unreachable = brook(&["topics", "--list", "--bootstrap-server", &format!("127.0.0.1:{}", common::free_port())]);
    assert_eq!(unreachable.status.code(), Some(1));
    let message = stderr(&unreachable);
    assert_eq!(message.lines().count(), 1, "one line: {message}");
    assert!(message.contains("cannot reach the cluster"), "{message}");
    let no_key = with_input(
        &["console-producer", "--bootstrap-server", "127.0.0.1:1", "--topic", "t", "--property", "parse.key=true"],
        "no separator here\n",
    );
    assert_eq!(no_key.status.code(), Some(1));
    assert!(stderr(&no_key).contains("No key separator found on line number 1"));
}

/// kafka-consumer-groups: list, describe with lag, reset-offsets (dry run, then execute) moving
/// a real group's position, delete.
#[test]
fn consumer_groups_tool() {
    let broker = Brook::start(&["group.initial.rebalance.delay.ms=0"]);
    let server = broker.addr.as_str();
    let created =
        brook(&["topics", "--create", "--topic", "ledger", "--partitions", "1", "--bootstrap-server", server]);
    assert!(created.status.success(), "{}", stderr(&created));
    let lines: String = (1..=10).map(|i| format!("entry-{i}\n")).collect();
    assert!(
        with_input(&["console-producer", "--bootstrap-server", server, "--topic", "ledger"], &lines).status.success()
    );
    let read = |extra: &[&str]| {
        let mut args = vec!["console-consumer", "--bootstrap-server", server, "--topic", "ledger", "--group", "audit"];
        args.extend_from_slice(extra);
        stdout(&brook(&args))
    };
    assert_eq!(read(&["--from-beginning", "--max-messages", "10"]).lines().count(), 10);

    let listed = brook(&["consumer-groups", "--list", "--bootstrap-server", server]);
    assert!(stdout(&listed).lines().any(|l| l == "audit"), "{}", stdout(&listed));
    let described =
        stdout(&brook(&["consumer-groups", "--describe", "--group", "audit", "--bootstrap-server", server]));
    let row: Vec<&str> =
        described.lines().find(|l| l.starts_with("audit ")).expect("a row").split_whitespace().collect();
    assert_eq!(&row[..6], ["audit", "ledger", "0", "10", "10", "0"], "{described}");

    let dry = stdout(&brook(&[
        "consumer-groups",
        "--reset-offsets",
        "--group",
        "audit",
        "--topic",
        "ledger",
        "--to-offset",
        "7",
        "--bootstrap-server",
        server,
    ]));
    assert!(dry.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["audit", "ledger", "0", "7"]), "{dry}");
    let unchanged =
        stdout(&brook(&["consumer-groups", "--describe", "--group", "audit", "--bootstrap-server", server]));
    assert!(unchanged.contains(" 10 "), "a dry run changes nothing: {unchanged}");
    let executed = brook(&[
        "consumer-groups",
        "--reset-offsets",
        "--group",
        "audit",
        "--topic",
        "ledger",
        "--to-offset",
        "7",
        "--execute",
        "--bootstrap-server",
        server,
    ]);
    assert!(executed.status.success(), "{}", stderr(&executed));
    assert_eq!(read(&["--max-messages", "3"]), "entry-8\nentry-9\nentry-10\n", "the group resumes at offset 7");

    let deleted = brook(&["consumer-groups", "--delete", "--group", "audit", "--bootstrap-server", server]);
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    let gone = brook(&["consumer-groups", "--describe", "--group", "audit", "--bootstrap-server", server]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(stderr(&gone).contains("Consumer group 'audit' does not exist."));
}

/// kafka-configs: describe a topic's overrides, add and delete configs, refuse an invalid value
/// (and say so), describe a broker's configs.
#[test]
fn configs_tool() {
    let broker = Brook::start(&[]);
    let server = broker.addr.as_str();
    let created = brook(&[
        "topics",
        "--create",
        "--topic",
        "orders",
        "--partitions",
        "1",
        "--config",
        "retention.ms=3600000",
        "--bootstrap-server",
        server,
    ]);
    assert!(created.status.success(), "{}", stderr(&created));
    let describe = || stdout(&brook(&["configs", "--describe", "--topic", "orders", "--bootstrap-server", server]));
    assert_eq!(
        describe(),
        "Dynamic configs for topic orders are:\n  retention.ms=3600000 sensitive=false \
         synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=3600000}\n"
    );
    let added = brook(&[
        "configs",
        "--alter",
        "--entity-type",
        "topics",
        "--entity-name",
        "orders",
        "--add-config",
        "segment.bytes=1048576,cleanup.policy=compact",
        "--bootstrap-server",
        server,
    ]);
    assert_eq!(stdout(&added), "Completed updating config for topic orders.\n", "{}", stderr(&added));
    let removed = brook(&[
        "configs",
        "--alter",
        "--topic",
        "orders",
        "--delete-config",
        "retention.ms",
        "--bootstrap-server",
        server,
    ]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    let now = describe();
    assert!(now.contains("segment.bytes=1048576") && now.contains("cleanup.policy=compact"), "{now}");
    assert!(!now.contains("retention.ms"), "{now}");
    let refused = brook(&[
        "configs",
        "--alter",
        "--topic",
        "orders",
        "--add-config",
        "retention.ms=-5",
        "--bootstrap-server",
        server,
    ]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("Invalid value -5 for configuration retention.ms"), "{}", stderr(&refused));
    assert!(!describe().contains("retention.ms"), "nothing applied");
    let brokers = stdout(&brook(&["configs", "--describe", "--broker", "1", "--all", "--bootstrap-server", server]));
    assert!(brokers.starts_with("All configs for broker 1 are:\n"), "{brokers}");
    assert!(brokers.contains("  num.partitions=1 sensitive=false synonyms={DEFAULT_CONFIG:num.partitions=1}"));

    // The brokers' cluster-wide default, changed at run time; the broker's describe shows it.
    let default = |args: &[&str]| {
        let mut all = vec!["configs", "--entity-type", "brokers", "--entity-default", "--bootstrap-server", server];
        all.extend_from_slice(args);
        brook(&all)
    };
    let set = default(&["--alter", "--add-config", "log.retention.ms=7200000"]);
    assert!(stdout(&set).contains("Completed updating default config for brokers in the cluster."));
    let shown = stdout(&default(&["--describe"]));
    assert!(shown.starts_with("Default configs for brokers in the cluster are:\n"), "{shown}");
    assert!(shown.contains("  log.retention.ms=7200000 "), "{shown}");
    let seen = common::eventually(std::time::Duration::from_secs(10), "the broker to apply it", || {
        let brokers = stdout(&brook(&["configs", "--describe", "--broker", "1", "--bootstrap-server", server]));
        brokers.contains("log.retention.ms=7200000").then_some(brokers)
    });
    assert!(seen.contains("synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=7200000}"), "{seen}");
    let refused = default(&["--alter", "--add-config", "num.partitions=3"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("Cannot update these configs dynamically: [num.partitions]"),
        "{}",
        stderr(&refused)
    );
}

/// brook perf produce / consume print Kafka's summary lines with figures that add up.
#[test]
fn perf_tools() {
    let broker = Brook::start(&["group.initial.rebalance.delay.ms=0"]);
    let server = broker.addr.as_str();
    let produced = brook(&[
        "perf",
        "produce",
        "--topic",
        "load",
        "--num-records",
        "2000",
        "--record-size",
        "100",
        "--throughput",
        "-1",
        "--producer-props",
        &format!("bootstrap.servers={server}"),
        "acks=all",
        "linger.ms=5",
    ]);
    assert!(produced.status.success(), "{}", stderr(&produced));
    let summary = stdout(&produced);
    let last = summary.lines().last().expect("a summary line");
    assert!(last.starts_with("2000 records sent, "), "{last}");
    for part in ["records/sec", "MB/sec", "ms avg latency", "ms max latency", "50th", "95th", "99th", "99.9th"] {
        assert!(last.contains(part), "{part} in {last}");
    }
    let consumed = brook(&["perf", "consume", "--topic", "load", "--messages", "2000", "--bootstrap-server", server]);
    assert!(consumed.status.success(), "{}", stderr(&consumed));
    let out = stdout(&consumed);
    let values: Vec<&str> = out.lines().nth(1).expect("a values line").split(", ").collect();
    assert_eq!(values[4], "2000", "records consumed: {out}");
    let too_many = brook(&[
        "perf",
        "consume",
        "--topic",
        "load",
        "--messages",
        "5000",
        "--timeout",
        "1000",
        "--bootstrap-server",
        server,
    ]);
    assert_eq!(too_many.status.code(), Some(1), "fewer records than asked is a failure");
}

/// Ctrl-C stops the console consumer cleanly: exit 0, the count on standard error, and the
/// offsets of what it printed committed for its group.
#[test]
fn console_consumer_ctrl_c_commits() {
    use std::io::{BufRead, BufReader};
    let broker = Brook::start(&["group.initial.rebalance.delay.ms=0"]);
    let server = broker.addr.as_str();
    let lines: String = (1..=5).map(|i| format!("line-{i}\n")).collect();
    assert!(
        with_input(&["console-producer", "--bootstrap-server", server, "--topic", "live"], &lines).status.success()
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_brook"))
        .args([
            "console-consumer",
            "--bootstrap-server",
            server,
            "--topic",
            "live",
            "--group",
            "watchers",
            "--from-beginning",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run brook");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    for i in 1..=5 {
        let mut line = String::new();
        out.read_line(&mut line).expect("read a record");
        assert_eq!(line, format!("line-{i}\n"));
    }
    let signalled = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill -INT");
    assert!(signalled.success());
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains("Processed a total of 5 messages"), "{}", stderr(&output));
    let described =
        stdout(&brook(&["consumer-groups", "--describe", "--group", "watchers", "--bootstrap-server", server]));
    let row: Vec<&str> =
        described.lines().find(|l| l.starts_with("watchers ")).expect("a row").split_whitespace().collect();
    assert_eq!(row[3], "5", "the printed records' offsets are committed: {described}");
}

/// consumer-groups --describe shows who owns what, for a consumer-protocol (KIP-848) group too.
#[test]
fn consumer_groups_describe_shows_owners_for_both_protocols() {
    use std::io::{BufRead, BufReader};
    let broker = Brook::start(&["group.initial.rebalance.delay.ms=0", "group.consumer.heartbeat.interval.ms=200"]);
    let server = broker.addr.as_str();
    let created = brook(&["topics", "--create", "--topic", "owned", "--partitions", "2", "--bootstrap-server", server]);
    assert!(created.status.success(), "{}", stderr(&created));
    let lines: String = (1..=4).map(|i| format!("k{i}\tv{i}\n")).collect();
    let produced = with_input(
        &["console-producer", "--bootstrap-server", server, "--topic", "owned", "--property", "parse.key=true"],
        &lines,
    );
    assert!(produced.status.success());
    for (group, protocol) in [("classic-readers", "classic"), ("kip848-readers", "consumer")] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_brook"))
            .args(["console-consumer", "--bootstrap-server", server, "--topic", "owned", "--from-beginning"])
            .args(["--group", group, "--consumer-property", &format!("group.protocol={protocol}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run brook");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        for _ in 0..4 {
            let mut line = String::new();
            out.read_line(&mut line).expect("a record");
        }
        let described =
            stdout(&brook(&["consumer-groups", "--describe", "--group", group, "--bootstrap-server", server]));
        let rows: Vec<Vec<&str>> =
            described.lines().filter(|l| l.starts_with(group)).map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(rows.len(), 2, "{protocol}: {described}");
        for row in &rows {
            assert_ne!(row[6], "-", "{protocol}: an owner for partition {}: {described}", row[2]);
        }
        let state = stdout(&brook(&[
            "consumer-groups",
            "--describe",
            "--state",
            "--group",
            group,
            "--bootstrap-server",
            server,
        ]));
        let row: Vec<&str> =
            state.lines().find(|l| l.starts_with(group)).expect("a state row").split_whitespace().collect();
        assert_eq!(row[row.len() - 2..], ["Stable", "1"], "{protocol}: {state}");
        let members = stdout(&brook(&[
            "consumer-groups",
            "--describe",
            "--members",
            "--verbose",
            "--group",
            group,
            "--bootstrap-server",
            server,
        ]));
        let row: Vec<&str> =
            members.lines().find(|l| l.starts_with(group)).expect("a member row").split_whitespace().collect();
        assert_eq!(row[row.len() - 2..], ["2", "owned(0,1)"], "{protocol}: {members}");
        let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
        assert_eq!(child.wait().expect("wait").code(), Some(0));
    }
}

/// `brook transactions` (kafka-transactions) on a transaction left open by a librdkafka
/// producer: list and describe show it, describe-producers shows where it starts in the
/// partition, and abort --start-offset writes its abort marker, after which read_committed
/// consumers read past it. Bad input gets clear messages.
#[test]
fn transactions_tool() {
    let broker = Brook::start(&[]);
    let server = broker.addr.as_str();
    let tool = |args: &[&str]| brook(&[&["transactions", "--bootstrap-server", server], args].concat());
    assert!(brook(&["topics", "--create", "--topic", "held", "--bootstrap-server", server]).status.success());
    let producer = common::clients::open_transaction(server, "stuck", "held");

    let listed = stdout(&tool(&["list"]));
    let row: Vec<&str> = listed.lines().nth(1).expect(&listed).split_whitespace().collect();
    assert_eq!((row[0], row[1], row[3]), ("stuck", "1", "Ongoing"), "{listed}");
    let described = stdout(&tool(&["describe", "--transactional-id", "stuck"]));
    let row: Vec<&str> = described.lines().nth(1).expect(&described).split_whitespace().collect();
    assert_eq!((row[1], row[4], row.last().copied()), ("stuck", "Ongoing", Some("held-0")), "{described}");
    let producers = stdout(&tool(&["describe-producers", "--topic", "held", "--partition", "0"]));
    let row: Vec<&str> = producers.lines().nth(1).expect(&producers).split_whitespace().collect();
    assert_eq!(row.last(), Some(&"0"), "the transaction starts at offset 0: {producers}");

    // Bad input.
    let unknown = tool(&["describe", "--transactional-id", "nobody"]);
    assert!(
        !unknown.status.success() && stderr(&unknown).contains("Transactional id 'nobody' not found"),
        "{unknown:?}"
    );
    let no_command = tool(&[]);
    assert!(!no_command.status.success() && stderr(&no_command).contains("Give one command"), "{no_command:?}");
    let nothing_there = tool(&["abort", "--topic", "held", "--partition", "0", "--start-offset", "5"]);
    assert!(
        !nothing_there.status.success() && stderr(&nothing_there).contains("Could not find any open transactions"),
        "{nothing_there:?}"
    );

    let aborted = tool(&["abort", "--topic", "held", "--partition", "0", "--start-offset", "0"]);
    assert!(aborted.status.success(), "{aborted:?}");
    assert_eq!(common::clients::stable_end(server, "held"), 2, "past the abort marker");
    let producers = stdout(&tool(&["describe-producers", "--topic", "held", "--partition", "0"]));
    let row: Vec<&str> = producers.lines().nth(1).expect(&producers).split_whitespace().collect();
    assert_eq!(row.last(), Some(&"-1"), "no open transaction: {producers}");
    drop(producer);
}
