//! `brook reassign-partitions` (kafka-reassign-partitions): `--generate` a plan moving topics
//! onto a list of brokers, `--execute` it, `--verify` it, `--list` the moves in progress, or
//! `--cancel` them (AlterPartitionReassignments, ListPartitionReassignments). A plan's
//! `log_dirs` also move replicas between a broker's log dirs (AlterReplicaLogDirs, checked with
//! DescribeLogDirs). Plans are Kafka's JSON, so either tool reads the other's.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
use kafka_protocol::messages::alter_replica_log_dirs_request::{AlterReplicaLogDir, AlterReplicaLogDirTopic};
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterReplicaLogDirsRequest, ApiKey, BrokerId, DescribeLogDirsRequest,
    ListPartitionReassignmentsRequest, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::ToolError;
use crate::args::{Opt, Parsed};
use crate::client::{self, TIMEOUT};
use crate::wire::{Wire, error_text};

pub const PURPOSE: &str =
    "Move partitions' replicas between brokers: generate, execute, verify, list or cancel a plan.";

pub const OPTS: &[Opt] = &[
    Opt { name: "bootstrap-server", value: true, help: "the broker(s) to connect to (host:port,...)" },
    Opt { name: "command-config", value: true, help: "a properties file of client settings" },
    Opt { name: "generate", value: false, help: "propose a plan for --topics-to-move-json-file onto --broker-list" },
    Opt { name: "execute", value: false, help: "start the moves in --reassignment-json-file" },
    Opt { name: "verify", value: false, help: "report whether the moves in --reassignment-json-file are done" },
    Opt { name: "list", value: false, help: "the moves in progress" },
    Opt { name: "cancel", value: false, help: "cancel the moves in --reassignment-json-file" },
    Opt { name: "topics-to-move-json-file", value: true, help: "{\"topics\": [{\"topic\": \"t\"}], \"version\": 1}" },
    Opt { name: "broker-list", value: true, help: "with --generate: the brokers to place replicas on, e.g. 1,2,3" },
    Opt { name: "reassignment-json-file", value: true, help: "a plan, as --generate prints it" },
    Opt { name: "throttle", value: true, help: "not supported: replicas copy between brokers at full speed" },
    Opt {
        name: "replica-alter-log-dirs-throttle",
        value: true,
        help: "with --execute: bytes/s for replicas moving between a broker's log dirs (--verify lifts it)",
    },
];

/// The broker config Kafka's tool sets for `--replica-alter-log-dirs-throttle`.
const LOG_DIRS_THROTTLE: &str = "replica.alter.log.dirs.io.max.bytes.per.second";
/// Kafka's `ConfigResource.Type.BROKER` and `AlterConfigOp` codes.
const BROKER: i8 = 4;
const SET: i8 = 0;
const DELETE: i8 = 1;

/// (topic, partition) -> replicas.
type Assignment = BTreeMap<(String, i32), Vec<i32>>;
/// (topic, partition, broker) -> the log dir a plan's `log_dirs` puts that replica in.
type LogDirMoves = BTreeMap<(String, i32, i32), String>;
/// (topic, partition, broker) -> the log dirs holding it: (dir, whether it is a moving copy).
type ReplicaDirs = BTreeMap<(String, i32, i32), Vec<(String, bool)>>;

pub fn run(parsed: &Parsed) -> Result<(), ToolError> {
    let actions = ["generate", "execute", "verify", "list", "cancel"];
    let chosen: Vec<&&str> = actions.iter().filter(|a| parsed.has(a)).collect();
    if chosen.len() != 1 {
        return Err(ToolError::usage(
            "Command must include exactly one action: --generate, --execute, --verify, --list or --cancel",
        ));
    }
    if parsed.has("throttle") {
        return Err(ToolError::failed("replication throttles are not supported: run --execute without --throttle"));
    }
    match *chosen[0] {
        "generate" => generate(parsed),
        "execute" => execute(parsed),
        "verify" => verify(parsed),
        "list" => list(parsed),
        _ => cancel(parsed),
    }
}

fn read_json(parsed: &Parsed, option: &str) -> Result<serde_json::Value, ToolError> {
    let path =
        parsed.get(option).ok_or_else(|| ToolError::usage(format!("Missing required argument \"[{option}]\"")))?;
    let text = std::fs::read_to_string(path).map_err(|e| ToolError::failed(format!("cannot read {path}: {e}")))?;
    serde_json::from_str(&text).map_err(|e| ToolError::failed(format!("{path} is not JSON: {e}")))
}

/// The plan in `--reassignment-json-file`: the replicas, and the log dirs it names for them
/// (`"any"` leaves a replica where the broker puts it).
fn plan(parsed: &Parsed) -> Result<(Assignment, LogDirMoves), ToolError> {
    let json = read_json(parsed, "reassignment-json-file")?;
    let bad = || ToolError::failed("the plan needs \"partitions\": [{\"topic\", \"partition\", \"replicas\"}, ...]");
    let mut plan = Assignment::new();
    let mut dirs = LogDirMoves::new();
    for p in json["partitions"].as_array().ok_or_else(bad)? {
        let topic = p["topic"].as_str().ok_or_else(bad)?;
        let partition = p["partition"].as_i64().and_then(|p| i32::try_from(p).ok()).ok_or_else(bad)?;
        let replicas = p["replicas"].as_array().ok_or_else(bad)?;
        let replicas: Vec<i32> = replicas
            .iter()
            .map(|r| r.as_i64().and_then(|r| i32::try_from(r).ok()).ok_or_else(bad))
            .collect::<Result<_, _>>()?;
        if let Some(log_dirs) = p.get("log_dirs") {
            let log_dirs: Vec<&str> = log_dirs.as_array().ok_or_else(bad)?.iter().filter_map(|d| d.as_str()).collect();
            if log_dirs.len() != replicas.len() {
                return Err(ToolError::failed(format!(
                    "Size of replicas list {replicas:?} is different from size of log dirs list {log_dirs:?} for \
                     partition {topic}-{partition}"
                )));
            }
            for (broker, dir) in replicas.iter().zip(log_dirs).filter(|(_, d)| *d != "any") {
                dirs.insert((topic.to_string(), partition, *broker), dir.to_string());
            }
        }
        if plan.insert((topic.to_string(), partition), replicas).is_some() {
            return Err(ToolError::failed(format!("the plan names {topic}-{partition} twice")));
        }
    }
    if plan.is_empty() {
        return Err(ToolError::failed("the plan moves no partition"));
    }
    Ok((plan, dirs))
}

/// Kafka's JSON for an assignment.
fn to_json(assignment: &Assignment) -> String {
    let partitions: Vec<serde_json::Value> = assignment
        .iter()
        .map(|((topic, partition), replicas)| {
            serde_json::json!({
                "topic": topic, "partition": partition, "replicas": replicas,
                "log_dirs": vec!["any"; replicas.len()],
            })
        })
        .collect();
    serde_json::json!({ "version": 1, "partitions": partitions }).to_string()
}

/// The current replicas of `topics`' partitions, and the brokers of the cluster.
fn current(parsed: &Parsed, topics: &[&str]) -> Result<(Assignment, Vec<i32>), ToolError> {
    let consumer: BaseConsumer =
        client::config(parsed, &[])?.create().map_err(|e| ToolError::failed(format!("cannot create a client: {e}")))?;
    let metadata = consumer.fetch_metadata(None, TIMEOUT).map_err(client::unreachable)?;
    let mut assignment = Assignment::new();
    for name in topics {
        let topic = metadata
            .topics()
            .iter()
            .find(|t| t.name() == *name && t.error().is_none())
            .ok_or_else(|| ToolError::failed(format!("Topic {name} not found")))?;
        for p in topic.partitions() {
            assignment.insert((name.to_string(), p.id()), p.replicas().to_vec());
        }
    }
    Ok((assignment, metadata.brokers().iter().map(|b| b.id()).collect()))
}

/// Kafka's placement, without racks: partition `p`'s replicas are `rf` brokers of the list in
/// a row, starting at the `p`-th.
fn generate(parsed: &Parsed) -> Result<(), ToolError> {
    let json = read_json(parsed, "topics-to-move-json-file")?;
    let topics: Vec<&str> = json["topics"]
        .as_array()
        .ok_or_else(|| ToolError::failed("the topics file needs \"topics\": [{\"topic\": ...}]"))?
        .iter()
        .filter_map(|t| t["topic"].as_str())
        .collect();
    let brokers: Vec<i32> = parsed
        .get("broker-list")
        .ok_or_else(|| ToolError::usage("--generate needs --broker-list"))?
        .split(',')
        .map(|b| b.trim().parse().map_err(|_| ToolError::usage(format!("'{b}' is not a broker id"))))
        .collect::<Result<_, _>>()?;
    let (current, live) = current(parsed, &topics)?;
    if let Some(missing) = brokers.iter().find(|b| !live.contains(b)) {
        return Err(ToolError::failed(format!(
            "The given broker list contains broker {missing}, which is not in the cluster"
        )));
    }
    let mut proposed = Assignment::new();
    for ((topic, partition), replicas) in &current {
        if replicas.len() > brokers.len() {
            return Err(ToolError::failed(format!(
                "{topic} has replication factor {} but only {} brokers are listed",
                replicas.len(),
                brokers.len()
            )));
        }
        let start = *partition as usize;
        let placed = (0..replicas.len()).map(|k| brokers[(start + k) % brokers.len()]).collect();
        proposed.insert((topic.clone(), *partition), placed);
    }
    println!("Current partition replica assignment\n{}\n", to_json(&current));
    println!("Proposed partition reassignment configuration\n{}", to_json(&proposed));
    Ok(())
}

/// AlterPartitionReassignments: `targets` (None cancels); per partition, the error if any.
fn alter(
    parsed: &Parsed,
    targets: &BTreeMap<(String, i32), Option<Vec<i32>>>,
) -> Result<Vec<(String, i16, String)>, ToolError> {
    let mut topics: BTreeMap<&str, Vec<ReassignablePartition>> = BTreeMap::new();
    for ((topic, partition), replicas) in targets {
        let replicas = replicas.as_ref().map(|r| r.iter().copied().map(BrokerId).collect());
        topics
            .entry(topic)
            .or_default()
            .push(ReassignablePartition::default().with_partition_index(*partition).with_replicas(replicas));
    }
    let request = AlterPartitionReassignmentsRequest::default().with_timeout_ms(30_000).with_topics(
        topics
            .into_iter()
            .map(|(name, partitions)| {
                ReassignableTopic::default()
                    .with_name(TopicName(StrBytes::from_string(name.to_string())))
                    .with_partitions(partitions)
            })
            .collect(),
    );
    let ResponseKind::AlterPartitionReassignments(response) =
        Wire::connect(parsed)?.call(ApiKey::AlterPartitionReassignments, 0, &request)?
    else {
        return Err(ToolError::failed("unexpected answer to AlterPartitionReassignments"));
    };
    if response.error_code != 0 {
        return Err(ToolError::failed(error_text(response.error_code, response.error_message.as_ref())));
    }
    Ok(response
        .responses
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    format!("{}-{}", t.name.as_str(), p.partition_index),
                    p.error_code,
                    error_text(p.error_code, p.error_message.as_ref()),
                )
            })
        })
        .collect())
}

fn execute(parsed: &Parsed) -> Result<(), ToolError> {
    let (plan, dirs) = plan(parsed)?;
    let topics: Vec<&str> =
        plan.keys().map(|(t, _)| t.as_str()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let (current, _) = current(parsed, &topics)?;
    let before: Assignment = current.into_iter().filter(|(k, _)| plan.contains_key(k)).collect();
    println!("Current partition replica assignment\n\n{}\n", to_json(&before));
    println!("Save this to use as the --reassignment-json-file option during rollback");
    let targets = plan.into_iter().map(|(k, r)| (k, Some(r))).collect();
    let results = alter(parsed, &targets)?;
    let (started, failed): (Vec<_>, Vec<_>) = results.into_iter().partition(|(_, code, _)| *code == 0);
    if !failed.is_empty() {
        let lines: Vec<String> = failed.iter().map(|(p, _, e)| format!("{p}: {e}")).collect();
        return Err(ToolError::failed(format!("Error reassigning partition(s):\n{}", lines.join("\n"))));
    }
    let names: Vec<String> = started.into_iter().map(|(p, ..)| p).collect();
    println!("Successfully started partition reassignments for {}", names.join(","));
    if let Some(rate) = parsed.get("replica-alter-log-dirs-throttle") {
        let rate: u64 = rate.parse().map_err(|_| ToolError::usage(format!("'{rate}' is not a number of bytes/s")))?;
        let mut wire = Wire::connect(parsed)?;
        for broker in dirs.keys().map(|(_, _, b)| *b).collect::<std::collections::BTreeSet<_>>() {
            wire.alter_configs(BROKER, &broker.to_string(), &[(LOG_DIRS_THROTTLE, SET, Some(rate.to_string()))])?;
        }
        println!("The replica-alter-dir throttle limit was set to {rate} B/s");
        println!(
            "Warning: You must run --verify periodically, until the reassignment completes, to ensure the throttle is removed."
        );
    }
    move_log_dirs(parsed, &dirs)
}

/// AlterReplicaLogDirs at each broker for the replicas the plan puts in a log dir. A replica
/// the reassignment is still creating is asked again, for up to 10 s (as Kafka's tool).
fn move_log_dirs(parsed: &Parsed, dirs: &LogDirMoves) -> Result<(), ToolError> {
    if dirs.is_empty() {
        return Ok(());
    }
    let mut wire = Wire::connect(parsed)?;
    let brokers: BTreeMap<i32, String> = wire.brokers()?.into_iter().collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut pending: LogDirMoves = dirs.clone();
    while !pending.is_empty() {
        let mut retry = LogDirMoves::new();
        for broker in pending.keys().map(|(_, _, b)| *b).collect::<std::collections::BTreeSet<_>>() {
            let addr = brokers.get(&broker).ok_or_else(|| ToolError::failed(format!("no broker {broker}")))?;
            let mine: Vec<_> = pending.iter().filter(|((_, _, b), _)| *b == broker).collect();
            let mut by_dir: BTreeMap<&str, BTreeMap<&str, Vec<i32>>> = BTreeMap::new();
            for ((topic, partition, _), dir) in &mine {
                by_dir.entry(dir.as_str()).or_default().entry(topic.as_str()).or_default().push(*partition);
            }
            let request = AlterReplicaLogDirsRequest::default().with_dirs(
                by_dir
                    .into_iter()
                    .map(|(dir, topics)| {
                        AlterReplicaLogDir::default().with_path(StrBytes::from_string(dir.to_string())).with_topics(
                            topics
                                .into_iter()
                                .map(|(t, ps)| {
                                    AlterReplicaLogDirTopic::default()
                                        .with_name(TopicName(StrBytes::from_string(t.to_string())))
                                        .with_partitions(ps)
                                })
                                .collect(),
                        )
                    })
                    .collect(),
            );
            let ResponseKind::AlterReplicaLogDirs(response) =
                wire.connect_to(addr)?.call(ApiKey::AlterReplicaLogDirs, 1, &request)?
            else {
                return Err(ToolError::failed("unexpected answer to AlterReplicaLogDirs"));
            };
            for t in &response.results {
                for p in &t.partitions {
                    let key = (t.topic_name.0.to_string(), p.partition_index, broker);
                    let dir = &pending[&key];
                    let name = format!("{}-{}", key.0, key.1);
                    match p.error_code {
                        0 => println!(
                            "Successfully started moving log directory to {dir} for replica {name} with broker {broker} "
                        ),
                        code if code == ResponseError::ReplicaNotAvailable.code()
                            && std::time::Instant::now() < deadline =>
                        {
                            retry.insert(key.clone(), dir.clone());
                        }
                        code => {
                            return Err(ToolError::failed(format!(
                                "Failed to move replica {name} on broker {broker} to {dir}: {}",
                                error_text(code, None)
                            )));
                        }
                    }
                }
            }
        }
        if !retry.is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        pending = retry;
    }
    Ok(())
}

/// Where each broker keeps the replicas of `partitions` (DescribeLogDirs): (topic, partition,
/// broker) -> (log dir, whether it is the copy of a replica moving there), one entry per dir.
fn replica_dirs(parsed: &Parsed, brokers: &std::collections::BTreeSet<i32>) -> Result<ReplicaDirs, ToolError> {
    let mut wire = Wire::connect(parsed)?;
    let addrs: BTreeMap<i32, String> = wire.brokers()?.into_iter().collect();
    let mut found = ReplicaDirs::new();
    for broker in brokers {
        let Some(addr) = addrs.get(broker) else { continue };
        let request = DescribeLogDirsRequest::default().with_topics(None);
        let ResponseKind::DescribeLogDirs(response) =
            wire.connect_to(addr)?.call(ApiKey::DescribeLogDirs, 1, &request)?
        else {
            return Err(ToolError::failed("unexpected answer to DescribeLogDirs"));
        };
        for dir in &response.results {
            for t in &dir.topics {
                for p in &t.partitions {
                    let key = (t.name.0.to_string(), p.partition_index, *broker);
                    found.entry(key).or_default().push((dir.log_dir.to_string(), p.is_future_key));
                }
            }
        }
    }
    Ok(found)
}

/// The moves in progress: "topic-partition" -> (replicas, adding, removing).
fn ongoing(parsed: &Parsed, of: Option<&Assignment>) -> Result<BTreeMap<String, [Vec<i32>; 3]>, ToolError> {
    let topics = of.map(|plan| {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (topic, partition) in plan.keys() {
            by_topic.entry(topic).or_default().push(*partition);
        }
        by_topic
            .into_iter()
            .map(|(t, ps)| {
                ListPartitionReassignmentsTopics::default()
                    .with_name(TopicName(StrBytes::from_string(t.to_string())))
                    .with_partition_indexes(ps)
            })
            .collect()
    });
    let request = ListPartitionReassignmentsRequest::default().with_timeout_ms(30_000).with_topics(topics);
    let ResponseKind::ListPartitionReassignments(response) =
        Wire::connect(parsed)?.call(ApiKey::ListPartitionReassignments, 0, &request)?
    else {
        return Err(ToolError::failed("unexpected answer to ListPartitionReassignments"));
    };
    if response.error_code != 0 {
        return Err(ToolError::failed(error_text(response.error_code, response.error_message.as_ref())));
    }
    let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
    Ok(response
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                let key = format!("{}-{}", t.name.as_str(), p.partition_index);
                (key, [ids(&p.replicas), ids(&p.adding_replicas), ids(&p.removing_replicas)])
            })
        })
        .collect())
}

fn verify(parsed: &Parsed) -> Result<(), ToolError> {
    let (plan, dirs) = plan(parsed)?;
    let moving = ongoing(parsed, Some(&plan))?;
    let topics: Vec<&str> =
        plan.keys().map(|(t, _)| t.as_str()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let (current, _) = current(parsed, &topics)?;
    println!("Status of partition reassignment:");
    for ((topic, partition), target) in &plan {
        let name = format!("{topic}-{partition}");
        if moving.contains_key(&name) {
            println!("Reassignment of partition {name} is still in progress.");
        } else if current.get(&(topic.clone(), *partition)) == Some(target) {
            println!("Reassignment of partition {name} is completed.");
        } else {
            let now = current.get(&(topic.clone(), *partition)).cloned().unwrap_or_default();
            println!(
                "There is no active reassignment of partition {name}, but replica set is {now:?} rather than {target:?}."
            );
        }
    }
    if dirs.is_empty() {
        return Ok(());
    }
    // Kafka's words for each replica's move between log dirs.
    let brokers: std::collections::BTreeSet<i32> = dirs.keys().map(|(_, _, b)| *b).collect();
    let found = replica_dirs(parsed, &brokers)?;
    let mut done = moving.is_empty();
    for (key @ (topic, partition, broker), dir) in &dirs {
        let (name, replica) = (format!("{topic}-{partition}"), format!("{topic}-{partition}-{broker}"));
        let places = found.get(key).map(Vec::as_slice).unwrap_or_default();
        let current = places.iter().find(|(_, future)| !future).map(|(d, _)| d.as_str());
        let moving_to = places.iter().find(|(_, future)| *future).map(|(d, _)| d.as_str());
        done &= current == Some(dir.as_str());
        match (current, moving_to) {
            (Some(d), _) if d == dir => println!("Reassignment of replica {replica} completed successfully."),
            (_, Some(d)) if d == dir => println!("Reassignment of replica {replica} is still in progress."),
            (_, Some(d)) => {
                println!("Partition {name} on broker {broker} is being moved to log dir {d} instead of {dir}.")
            }
            (Some(d), _) => {
                println!("Partition {name} on broker {broker} is not being moved from log dir {d} to {dir}.")
            }
            (None, _) => println!(
                "Partition {name} is not found in any live log dir on broker {broker}. There is likely an offline log \
                 directory on the broker."
            ),
        }
    }
    // Once every move is done, the log-dir throttle goes, as Kafka's --verify lifts it.
    if done {
        let mut wire = Wire::connect(parsed)?;
        for broker in &brokers {
            wire.alter_configs(BROKER, &broker.to_string(), &[(LOG_DIRS_THROTTLE, DELETE, None)])?;
        }
        let ids: Vec<String> = brokers.iter().map(i32::to_string).collect();
        let plural = if ids.len() > 1 { "s" } else { "" };
        println!("Clearing broker-level throttles on broker{plural} {}", ids.join(","));
    }
    Ok(())
}

fn list(parsed: &Parsed) -> Result<(), ToolError> {
    let moving = ongoing(parsed, None)?;
    if moving.is_empty() {
        println!("No partition reassignments found.");
        return Ok(());
    }
    println!("Current partition reassignments:");
    let join = |v: &[i32]| v.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    for (name, [replicas, adding, removing]) in moving {
        println!("{name}: replicas: {}. adding: {}. removing: {}.", join(&replicas), join(&adding), join(&removing));
    }
    Ok(())
}

fn cancel(parsed: &Parsed) -> Result<(), ToolError> {
    let (plan, _) = plan(parsed)?;
    let targets = plan.into_keys().map(|k| (k, None)).collect();
    let results = alter(parsed, &targets)?;
    let not_moving = ResponseError::NoReassignmentInProgress.code();
    let cancelled: Vec<&str> = results.iter().filter(|(_, code, _)| *code == 0).map(|(p, ..)| p.as_str()).collect();
    let failed: Vec<String> = results
        .iter()
        .filter(|(_, code, _)| *code != 0 && *code != not_moving)
        .map(|(p, _, e)| format!("{p}: {e}"))
        .collect();
    if cancelled.is_empty() {
        println!("None of the specified partition reassignments are active.");
    } else {
        println!("Successfully cancelled partition reassignments for: {}", cancelled.join(","));
    }
    if failed.is_empty() {
        return Ok(());
    }
    Err(ToolError::failed(format!("Error cancelling partition reassignment(s):\n{}", failed.join("\n"))))
}
