//! `brook topics` (kafka-topics): create, list, describe, alter and delete topics, with Kafka's
//! flags and output format.

use std::collections::BTreeMap;

use futures::executor::block_on;
use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::metadata::Metadata;

use base64::Engine;
use kafka_protocol::messages::{ApiKey, BrokerId, DescribeTopicPartitionsRequest, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::ToolError;
use crate::args::{Opt, Parsed};
use crate::client::{self, TIMEOUT};
use crate::wire::Wire;

pub const PURPOSE: &str = "Create, delete, describe, or change a topic.";

pub const OPTS: &[Opt] = &[
    Opt { name: "bootstrap-server", value: true, help: "the broker(s) to connect to (host:port,...)" },
    Opt { name: "command-config", value: true, help: "a properties file of client settings" },
    Opt { name: "create", value: false, help: "create a topic" },
    Opt { name: "list", value: false, help: "list topics" },
    Opt { name: "describe", value: false, help: "describe topics: partitions, leaders, replicas, ISR, configs" },
    Opt { name: "alter", value: false, help: "change a topic's partition count" },
    Opt { name: "delete", value: false, help: "delete a topic" },
    Opt { name: "topic", value: true, help: "the topic; a regular expression for --list, --describe, --delete" },
    Opt { name: "partitions", value: true, help: "the partition count (create, alter)" },
    Opt { name: "replication-factor", value: true, help: "the replication factor (create)" },
    Opt { name: "config", value: true, help: "a topic config key=value (create; repeatable)" },
    Opt { name: "if-not-exists", value: false, help: "create only if the topic does not exist" },
    Opt { name: "if-exists", value: false, help: "alter or delete only if the topic exists" },
    Opt { name: "exclude-internal", value: false, help: "leave out internal topics (list, describe)" },
    Opt {
        name: "under-replicated-partitions",
        value: false,
        help: "describe only partitions whose ISR lacks a replica",
    },
    Opt { name: "unavailable-partitions", value: false, help: "describe only partitions without a live leader" },
    Opt {
        name: "under-min-isr-partitions",
        value: false,
        help: "describe only partitions whose ISR is below min.insync.replicas",
    },
    Opt {
        name: "at-min-isr-partitions",
        value: false,
        help: "describe only partitions whose ISR is at min.insync.replicas",
    },
];

/// `--describe`'s partition filters, as Kafka's tool names them.
const FILTERS: [&str; 4] =
    ["under-replicated-partitions", "unavailable-partitions", "under-min-isr-partitions", "at-min-isr-partitions"];

pub fn run(parsed: &Parsed) -> Result<(), ToolError> {
    let actions = ["create", "list", "describe", "alter", "delete"].iter().filter(|a| parsed.has(a)).count();
    if actions != 1 {
        return Err(ToolError::usage(
            "Command must include exactly one action: --list, --describe, --create, --alter or --delete",
        ));
    }
    let admin = client::admin(parsed)?;
    if parsed.has("create") {
        create(&admin, parsed)
    } else if parsed.has("list") {
        for name in matching(&admin, parsed)?.0 {
            println!("{name}");
        }
        Ok(())
    } else if parsed.has("describe") {
        describe(&admin, parsed)
    } else if parsed.has("alter") {
        alter(&admin, parsed)
    } else {
        delete(&admin, parsed)
    }
}

fn required<'a>(parsed: &'a Parsed, name: &str) -> Result<&'a str, ToolError> {
    parsed.get(name).ok_or_else(|| ToolError::usage(format!("Missing required argument \"[{name}]\"")))
}

fn create(admin: &AdminClient<DefaultClientContext>, parsed: &Parsed) -> Result<(), ToolError> {
    let topic = required(parsed, "topic")?;
    let partitions: i32 = parsed.number("partitions")?.unwrap_or(-1);
    let replication: i32 = parsed.number("replication-factor")?.unwrap_or(-1);
    if parsed.has("partitions") && partitions < 1 {
        return Err(ToolError::failed("The partitions must be greater than 0"));
    }
    if parsed.has("replication-factor") && !(1..=i32::from(i16::MAX)).contains(&replication) {
        return Err(ToolError::failed("The replication factor must be between 1 and 32767 inclusive"));
    }
    let configs = parsed.pairs("config")?;
    let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
    for (k, v) in &configs {
        new = new.set(k, v);
    }
    let results = block_on(admin.create_topics(&[new], &AdminOptions::new().operation_timeout(Some(TIMEOUT))))
        .map_err(|e| ToolError::failed(e.to_string()))?;
    match results.into_iter().next() {
        Some(Ok(_)) => {
            println!("Created topic {topic}.");
            Ok(())
        }
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) if parsed.has("if-not-exists") => Ok(()),
        Some(Err((_, code))) => Err(ToolError::failed(describe_error(code, topic))),
        None => Err(ToolError::failed("no answer to CreateTopics")),
    }
}

/// Kafka's message for the errors a topic command meets most.
fn describe_error(code: RDKafkaErrorCode, topic: &str) -> String {
    match code {
        RDKafkaErrorCode::TopicAlreadyExists => format!("Topic '{topic}' already exists."),
        RDKafkaErrorCode::UnknownTopicOrPartition => format!("Topic '{topic}' does not exist as expected"),
        other => other.to_string(),
    }
}

/// Topic names from the cluster's metadata, sorted, filtered by `--topic` as a regular
/// expression (anchored, as Kafka's) and `--exclude-internal`; with the metadata they came from.
fn matching(admin: &AdminClient<DefaultClientContext>, parsed: &Parsed) -> Result<(Vec<String>, Metadata), ToolError> {
    let metadata = admin.inner().fetch_metadata(None, TIMEOUT).map_err(client::unreachable)?;
    let pattern = parsed.get("topic").map(anchored).transpose()?;
    let mut names: Vec<String> = metadata
        .topics()
        .iter()
        .map(|t| t.name().to_string())
        .filter(|n| pattern.as_ref().is_none_or(|p| p.is_match(n)))
        .filter(|n| !(parsed.has("exclude-internal") && n.starts_with("__")))
        .collect();
    names.sort();
    Ok((names, metadata))
}

fn anchored(pattern: &str) -> Result<regex_lite::Regex, ToolError> {
    regex_lite::Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| ToolError::usage(format!("--topic is not a valid regular expression: {e}")))
}

/// Fails with Kafka's message when `--topic` names nothing (unless `--if-exists`).
fn ensure_found(names: &[String], parsed: &Parsed) -> Result<(), ToolError> {
    match parsed.get("topic") {
        Some(topic) if names.is_empty() && !parsed.has("if-exists") => {
            Err(ToolError::failed(format!("Topic '{topic}' does not exist as expected")))
        }
        _ => Ok(()),
    }
}

fn describe(admin: &AdminClient<DefaultClientContext>, parsed: &Parsed) -> Result<(), ToolError> {
    let (names, metadata) = matching(admin, parsed)?;
    ensure_found(&names, parsed)?;
    let specs: Vec<ResourceSpecifier<'_>> = names.iter().map(|n| ResourceSpecifier::Topic(n)).collect();
    let configs = block_on(admin.describe_configs(&specs, &AdminOptions::new().request_timeout(Some(TIMEOUT))))
        .map_err(|e| ToolError::failed(e.to_string()))?;
    let mut overrides: BTreeMap<&str, String> = BTreeMap::new();
    let mut min_isr: BTreeMap<&str, usize> = BTreeMap::new();
    for (name, result) in names.iter().zip(&configs) {
        if let Ok(resource) = result {
            let min = resource.get("min.insync.replicas").and_then(|e| e.value.as_deref()?.parse().ok());
            min_isr.insert(name, min.unwrap_or(1));
            let set: Vec<String> = resource
                .entries
                .iter()
                .filter(|e| !e.is_default)
                .map(|e| format!("{}={}", e.name, e.value.as_deref().unwrap_or("")))
                .collect();
            overrides.insert(name, set.join(","));
        }
    }
    let described = topic_partitions(admin, parsed, &names, &metadata)?;
    let join = |ids: &[i32]| ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    let listed = |ids: &Option<Vec<i32>>| ids.as_deref().map_or_else(|| "N/A".to_string(), join);
    // With a filter, Kafka's tool prints only the matching partitions, without topic lines.
    let filters: Vec<&str> = FILTERS.into_iter().filter(|f| parsed.has(f)).collect();
    let live: Vec<i32> = metadata.brokers().iter().map(|b| b.id()).collect();
    for name in &names {
        let Some((id, partitions)) = described.get(name) else { continue };
        let replication = partitions.first().map_or(0, |p| p.replicas.len());
        let id = id.as_ref().map_or_else(String::new, |id| format!("\tTopicId: {id}"));
        if filters.is_empty() {
            println!(
                "Topic: {name}{id}\tPartitionCount: {}\tReplicationFactor: {replication}\tConfigs: {}",
                partitions.len(),
                overrides.get(name.as_str()).map_or("", String::as_str)
            );
        }
        let min = min_isr.get(name.as_str()).copied().unwrap_or(1);
        let wanted = |p: &&PartitionView| {
            filters.iter().any(|f| match *f {
                "under-replicated-partitions" => p.isr.len() < p.replicas.len(),
                "unavailable-partitions" => p.leader < 0 || !live.contains(&p.leader),
                "under-min-isr-partitions" => p.isr.len() < min,
                _ => p.isr.len() == min,
            })
        };
        for p in partitions.iter().filter(|p| filters.is_empty() || wanted(p)) {
            let leader = if p.leader >= 0 { p.leader.to_string() } else { "none".into() };
            println!(
                "\tTopic: {name}\tPartition: {}\tLeader: {leader}\tReplicas: {}\tIsr: {}\tElr: {}\tLastKnownElr: {}",
                p.id,
                join(&p.replicas),
                join(&p.isr),
                listed(&p.elr),
                listed(&p.last_known_elr)
            );
        }
    }
    Ok(())
}

/// A partition as `--describe` prints it; the ELR lists are unknown (N/A) from Metadata.
struct PartitionView {
    id: i32,
    leader: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    elr: Option<Vec<i32>>,
    last_known_elr: Option<Vec<i32>>,
}

/// Each topic's id (when known) and partitions in order, by name. As Kafka 4's tool: through
/// DescribeTopicPartitions, a page of at most 2,000 partitions at a time, where the cluster
/// serves it; else from `metadata`, with the ids DescribeTopics gives (none from a cluster too
/// old to have it).
type Described = BTreeMap<String, (Option<String>, Vec<PartitionView>)>;

fn topic_partitions(
    admin: &AdminClient<DefaultClientContext>,
    parsed: &Parsed,
    names: &[String],
    metadata: &Metadata,
) -> Result<Described, ToolError> {
    let mut wire = Wire::connect(parsed)?;
    if wire.supports(ApiKey::DescribeTopicPartitions, 0)? {
        return paged_partitions(&mut wire, names);
    }
    let ids = crate::native::topic_ids(admin.inner(), names, TIMEOUT).unwrap_or_default();
    let mut described = Described::new();
    for topic in metadata.topics().iter().filter(|t| names.iter().any(|n| n == t.name())) {
        let mut partitions: Vec<PartitionView> = topic
            .partitions()
            .iter()
            .map(|p| PartitionView {
                id: p.id(),
                leader: p.leader(),
                replicas: p.replicas().to_vec(),
                isr: p.isr().to_vec(),
                elr: None,
                last_known_elr: None,
            })
            .collect();
        partitions.sort_by_key(|p| p.id);
        described.insert(topic.name().to_string(), (ids.get(topic.name()).cloned(), partitions));
    }
    Ok(described)
}

fn paged_partitions(wire: &mut Wire, names: &[String]) -> Result<Described, ToolError> {
    use kafka_protocol::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
    let topic_name = |n: &str| TopicName(StrBytes::from_string(n.to_string()));
    let nodes = |ids: &[BrokerId]| ids.iter().map(|b| b.0).collect::<Vec<_>>();
    let mut described = Described::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let request = DescribeTopicPartitionsRequest::default()
            .with_topics(names.iter().map(|n| TopicRequest::default().with_name(topic_name(n))).collect())
            .with_response_partition_limit(2000)
            .with_cursor(cursor.take());
        let ResponseKind::DescribeTopicPartitions(r) = wire.call(ApiKey::DescribeTopicPartitions, 0, &request)? else {
            return Err(ToolError::failed("the broker answered DescribeTopicPartitions with something else"));
        };
        // A topic deleted since it was listed is left out, as the Metadata path leaves it.
        for topic in r.topics.into_iter().filter(|t| t.error_code == 0) {
            let Some(name) = topic.name else { continue };
            let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(topic.topic_id.as_bytes());
            let entry = described.entry(name.0.to_string()).or_insert_with(|| (Some(id), Vec::new()));
            entry.1.extend(topic.partitions.into_iter().map(|p| PartitionView {
                id: p.partition_index,
                leader: p.leader_id.0,
                replicas: nodes(&p.replica_nodes),
                isr: nodes(&p.isr_nodes),
                elr: p.eligible_leader_replicas.as_deref().map(nodes),
                last_known_elr: p.last_known_elr.as_deref().map(nodes),
            }));
        }
        match r.next_cursor {
            Some(next) => {
                cursor =
                    Some(Cursor::default().with_topic_name(next.topic_name).with_partition_index(next.partition_index))
            }
            None => return Ok(described),
        }
    }
}

fn alter(admin: &AdminClient<DefaultClientContext>, parsed: &Parsed) -> Result<(), ToolError> {
    let (names, _) = matching(admin, parsed)?;
    ensure_found(&names, parsed)?;
    let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    if parsed.has("config") {
        // As Kafka 4's kafka-topics: config changes belong to kafka-configs.
        return Err(ToolError::usage("Option \"[config]\" can't be used with option \"[alter]\": use brook configs"));
    }
    if let Some(count) = parsed.number::<usize>("partitions")? {
        let wanted: Vec<NewPartitions<'_>> = names.iter().map(|n| NewPartitions::new(n, count)).collect();
        let results =
            block_on(admin.create_partitions(&wanted, &options)).map_err(|e| ToolError::failed(e.to_string()))?;
        for result in results {
            if let Err((topic, code)) = result {
                return Err(ToolError::failed(format!("{topic}: {code}")));
            }
        }
    }
    Ok(())
}

fn delete(admin: &AdminClient<DefaultClientContext>, parsed: &Parsed) -> Result<(), ToolError> {
    let (names, _) = matching(admin, parsed)?;
    ensure_found(&names, parsed)?;
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    let results = block_on(admin.delete_topics(&refs, &options)).map_err(|e| ToolError::failed(e.to_string()))?;
    for result in results {
        if let Err((topic, code)) = result {
            return Err(ToolError::failed(describe_error(code, &topic)));
        }
    }
    Ok(())
}
