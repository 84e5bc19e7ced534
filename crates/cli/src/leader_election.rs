//! `brook leader-election` (kafka-leader-election): elect the preferred replica, or any live
//! replica (UNCLEAN), as the leader of some or all partitions (ElectLeaders).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::{ApiKey, ElectLeadersRequest, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::ToolError;
use crate::args::{Opt, Parsed};
use crate::wire::{Wire, error_text};

pub const PURPOSE: &str = "Elect the preferred (or, with UNCLEAN, any live) replica as the leader of partitions.";

pub const OPTS: &[Opt] = &[
    Opt { name: "bootstrap-server", value: true, help: "the broker(s) to connect to (host:port,...)" },
    Opt { name: "election-type", value: true, help: "PREFERRED or UNCLEAN" },
    Opt { name: "all-topic-partitions", value: false, help: "every partition of every topic" },
    Opt { name: "topic", value: true, help: "the topic (with --partition)" },
    Opt { name: "partition", value: true, help: "the partition of --topic" },
    Opt { name: "path-to-json-file", value: true, help: "{\"partitions\": [{\"topic\": \"t\", \"partition\": 0}]}" },
];

pub fn run(parsed: &Parsed) -> Result<(), ToolError> {
    let kind = match parsed.get("election-type").map(str::to_ascii_uppercase).as_deref() {
        Some("PREFERRED") => ("PREFERRED", 0),
        Some("UNCLEAN") => ("UNCLEAN", 1),
        Some(other) => return Err(ToolError::usage(format!("Unknown election type: {other}"))),
        None => return Err(ToolError::usage("Missing required option(s) [election-type]")),
    };
    let partitions = partitions(parsed)?;
    let request = ElectLeadersRequest::default()
        .with_election_type(kind.1)
        .with_timeout_ms(30_000)
        .with_topic_partitions(partitions.map(|ps| {
            ps.into_iter()
                .map(|(topic, partitions)| {
                    TopicPartitions::default()
                        .with_topic(TopicName(StrBytes::from_string(topic)))
                        .with_partitions(partitions)
                })
                .collect()
        }));
    let ResponseKind::ElectLeaders(response) = Wire::connect(parsed)?.call(ApiKey::ElectLeaders, 1, &request)? else {
        return Err(ToolError::failed("unexpected answer to ElectLeaders"));
    };
    if response.error_code != 0 {
        return Err(ToolError::failed(error_text(response.error_code, None)));
    }
    let (mut elected, mut already, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    for topic in &response.replica_election_results {
        for p in &topic.partition_result {
            let name = format!("{}-{}", topic.topic.as_str(), p.partition_id);
            match p.error_code {
                0 => elected.push(name),
                code if code == ResponseError::ElectionNotNeeded.code() => already.push(name),
                code => failed.push(format!("{name}: {}", error_text(code, p.error_message.as_ref()))),
            }
        }
    }
    if !elected.is_empty() {
        println!("Successfully completed leader election ({}) for partitions {}", kind.0, elected.join(", "));
    }
    if !already.is_empty() {
        println!("Valid replica already elected for partitions {}", already.join(", "));
    }
    if failed.is_empty() {
        return Ok(());
    }
    println!("Error completing leader election ({}) for partitions: {}", kind.0, failed.join(", "));
    Err(ToolError::failed(format!("{} replica(s) could not be elected", failed.len())))
}

/// Partitions by topic.
type ByTopic = Vec<(String, Vec<i32>)>;

/// The partitions asked for; `None` for all.
fn partitions(parsed: &Parsed) -> Result<Option<ByTopic>, ToolError> {
    let chosen = ["all-topic-partitions", "topic", "path-to-json-file"].iter().filter(|o| parsed.has(o)).count();
    if chosen != 1 {
        return Err(ToolError::usage(
            "One and only one of --all-topic-partitions, --topic or --path-to-json-file is needed",
        ));
    }
    if parsed.has("all-topic-partitions") {
        return Ok(None);
    }
    if let Some(topic) = parsed.get("topic") {
        let partition = parsed.number("partition")?.ok_or_else(|| ToolError::usage("--topic needs --partition"))?;
        return Ok(Some(vec![(topic.to_string(), vec![partition])]));
    }
    let path = parsed.get("path-to-json-file").expect("counted above");
    let text = std::fs::read_to_string(path).map_err(|e| ToolError::failed(format!("cannot read {path}: {e}")))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ToolError::failed(format!("{path} is not JSON: {e}")))?;
    let mut by_topic = ByTopic::new();
    for p in
        json["partitions"].as_array().ok_or_else(|| ToolError::failed(format!("{path} has no \"partitions\" list")))?
    {
        let (Some(topic), Some(partition)) = (p["topic"].as_str(), p["partition"].as_i64()) else {
            return Err(ToolError::failed(format!("{path}: each partition needs \"topic\" and \"partition\"")));
        };
        let partition =
            i32::try_from(partition).map_err(|_| ToolError::failed(format!("{path}: bad partition {partition}")))?;
        match by_topic.iter_mut().find(|(t, _)| t == topic) {
            Some((_, ps)) => ps.push(partition),
            None => by_topic.push((topic.to_string(), vec![partition])),
        }
    }
    Ok(Some(by_topic))
}
