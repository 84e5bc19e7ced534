//! `brook log-dirs` (kafka-log-dirs): `--describe` each broker's log dirs and the replicas in
//! them (size, offset lag, whether it is the copy of a replica moving there), printed as Kafka's
//! tool prints them: one JSON document. DescribeLogDirs goes to each broker, since each answers
//! for its own disks.

use std::collections::BTreeSet;

use kafka_protocol::messages::describe_log_dirs_response::DescribeLogDirsResult;
use kafka_protocol::messages::{ApiKey, DescribeLogDirsRequest, ResponseKind};
use serde_json::json;

use crate::ToolError;
use crate::args::{Opt, Parsed};
use crate::wire::{Wire, error_text};

pub const PURPOSE: &str = "Describe brokers' log dirs: the replicas in each, their sizes and the moves in progress.";

pub const OPTS: &[Opt] = &[
    Opt { name: "bootstrap-server", value: true, help: "the broker(s) to connect to (host:port,...)" },
    Opt { name: "command-config", value: true, help: "a properties file of client settings" },
    Opt { name: "describe", value: false, help: "describe the log dirs of --broker-list (default: every broker)" },
    Opt { name: "broker-list", value: true, help: "the brokers to query, e.g. 0,1,2" },
    Opt { name: "topic-list", value: true, help: "only these topics' replicas, e.g. t1,t2" },
];

pub fn run(parsed: &Parsed) -> Result<(), ToolError> {
    if !parsed.has("describe") {
        return Err(ToolError::usage("Command must include exactly one action: --describe"));
    }
    let topics: Option<BTreeSet<&str>> =
        parsed.get("topic-list").map(|list| list.split(',').map(str::trim).filter(|t| !t.is_empty()).collect());
    let mut wire = Wire::connect(parsed)?;
    let all = wire.brokers()?;
    let chosen: Vec<&(i32, String)> = match parsed.get("broker-list") {
        None => all.iter().collect(),
        Some(list) => {
            let ids: Vec<i32> = list
                .split(',')
                .map(|b| b.trim().parse().map_err(|_| ToolError::usage(format!("'{b}' is not a broker id"))))
                .collect::<Result<_, _>>()?;
            let missing: Vec<String> =
                ids.iter().filter(|id| !all.iter().any(|(b, _)| b == *id)).map(i32::to_string).collect();
            if !missing.is_empty() {
                let existing: Vec<String> = all.iter().map(|(b, _)| b.to_string()).collect();
                return Err(ToolError::failed(format!(
                    "ERROR: The given brokers do not exist from --broker-list: {}. Current existent brokers: {}",
                    missing.join(","),
                    existing.join(",")
                )));
            }
            all.iter().filter(|(b, _)| ids.contains(b)).collect()
        }
    };
    println!("Querying brokers for log directories information");
    let mut brokers = Vec::new();
    for (id, addr) in &chosen {
        let mut conn = wire.connect_to(addr)?;
        let request = DescribeLogDirsRequest::default().with_topics(None);
        let ResponseKind::DescribeLogDirs(response) = conn.call(ApiKey::DescribeLogDirs, 1, &request)? else {
            return Err(ToolError::failed("unexpected answer to DescribeLogDirs"));
        };
        if response.error_code != 0 {
            return Err(ToolError::failed(format!("broker {id}: {}", error_text(response.error_code, None))));
        }
        let dirs: Vec<_> = response.results.iter().map(|dir| log_dir(dir, topics.as_ref())).collect();
        brokers.push(json!({ "broker": id, "logDirs": dirs }));
    }
    let ids: Vec<String> = chosen.iter().map(|(id, _)| id.to_string()).collect();
    println!("Received log directory information from brokers {}", ids.join(","));
    println!("{}", json!({ "brokers": brokers, "version": 1 }));
    Ok(())
}

/// One log dir as Kafka's tool prints it.
fn log_dir(dir: &DescribeLogDirsResult, topics: Option<&BTreeSet<&str>>) -> serde_json::Value {
    let partitions: Vec<_> = dir
        .topics
        .iter()
        .filter(|t| topics.is_none_or(|wanted| wanted.contains(t.name.0.as_str())))
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                json!({
                    "partition": format!("{}-{}", t.name.0, p.partition_index),
                    "size": p.partition_size,
                    "offsetLag": p.offset_lag,
                    "isFuture": p.is_future_key,
                })
            })
        })
        .collect();
    let error = (dir.error_code != 0).then(|| error_text(dir.error_code, None));
    json!({ "partitions": partitions, "error": error, "logDir": dir.log_dir.to_string() })
}
