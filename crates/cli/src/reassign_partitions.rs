//! `brook reassign-partitions` (kafka-reassign-partitions): `--generate` a plan moving topics
//! onto a list of brokers, `--execute` it, `--verify` it, `--list` the moves in progress, or
//! `--cancel` them (AlterPartitionReassignments, ListPartitionReassignments). Plans are Kafka's
//! JSON, so either tool reads the other's.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, ApiKey, BrokerId, ListPartitionReassignmentsRequest, ResponseKind, TopicName,
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
    Opt { name: "throttle", value: true, help: "not supported: replicas copy at full speed" },
];

/// (topic, partition) -> replicas.
type Assignment = BTreeMap<(String, i32), Vec<i32>>;

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

/// The plan in `--reassignment-json-file`.
fn plan(parsed: &Parsed) -> Result<Assignment, ToolError> {
    let json = read_json(parsed, "reassignment-json-file")?;
    let bad = || ToolError::failed("the plan needs \"partitions\": [{\"topic\", \"partition\", \"replicas\"}, ...]");
    let mut plan = Assignment::new();
    for p in json["partitions"].as_array().ok_or_else(bad)? {
        let topic = p["topic"].as_str().ok_or_else(bad)?;
        let partition = p["partition"].as_i64().and_then(|p| i32::try_from(p).ok()).ok_or_else(bad)?;
        let replicas = p["replicas"].as_array().ok_or_else(bad)?;
        let replicas: Vec<i32> = replicas
            .iter()
            .map(|r| r.as_i64().and_then(|r| i32::try_from(r).ok()).ok_or_else(bad))
            .collect::<Result<_, _>>()?;
        if plan.insert((topic.to_string(), partition), replicas).is_some() {
            return Err(ToolError::failed(format!("the plan names {topic}-{partition} twice")));
        }
    }
    if plan.is_empty() {
        return Err(ToolError::failed("the plan moves no partition"));
    }
    Ok(plan)
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
    let plan = plan(parsed)?;
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
    Ok(())
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
    let plan = plan(parsed)?;
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
    let plan = plan(parsed)?;
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
