//! `brook transactions` (kafka-transactions): `list` (every broker's transactional ids),
//! `describe --transactional-id ID` (its coordinator's view), `describe-producers --topic T
//! --partition P` (the partition's producers and open transactions), and `abort` of a
//! hanging transaction in a partition (`--start-offset N`, or `--producer-id`,
//! `--producer-epoch` and `--coordinator-epoch`), which writes its abort marker there.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::describe_producers_response::ProducerState;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
use kafka_protocol::messages::{
    ApiKey, DescribeProducersRequest, DescribeTransactionsRequest, FindCoordinatorRequest, ListTransactionsRequest,
    MetadataRequest, MetadataResponse, ProducerId, ResponseKind, TopicName, TransactionalId, WriteTxnMarkersRequest,
};
use kafka_protocol::protocol::StrBytes;

use crate::ToolError;
use crate::args::{Opt, Parsed};
use crate::wire::{Wire, error_text};

pub const PURPOSE: &str = "List, describe and abort transactions: `list`, `describe`, `describe-producers`, `abort`.";

pub const OPTS: &[Opt] = &[
    Opt { name: "bootstrap-server", value: true, help: "the broker(s) to connect to (host:port,...)" },
    Opt { name: "transactional-id", value: true, help: "describe: the transactional id" },
    Opt { name: "topic", value: true, help: "describe-producers, abort: the topic" },
    Opt { name: "partition", value: true, help: "describe-producers, abort: the partition" },
    Opt { name: "start-offset", value: true, help: "abort: the first offset of the transaction to abort" },
    Opt { name: "producer-id", value: true, help: "abort: the producer of the transaction" },
    Opt { name: "producer-epoch", value: true, help: "abort: its epoch" },
    Opt { name: "coordinator-epoch", value: true, help: "abort: its coordinator's epoch" },
];

const COMMANDS: &[&str] = &["list", "describe", "describe-producers", "abort"];

/// Kafka's tool takes its command among the options: the command, and the options.
pub fn split_command(args: &[String]) -> Result<(String, Vec<String>), ToolError> {
    let (commands, options): (Vec<&String>, Vec<&String>) = args.iter().partition(|a| COMMANDS.contains(&a.as_str()));
    match commands.as_slice() {
        [command] => Ok(((*command).clone(), options.into_iter().cloned().collect())),
        _ => Err(ToolError::usage(format!("Give one command: {}", COMMANDS.join(", ")))),
    }
}

pub fn run(parsed: &Parsed, command: &str) -> Result<(), ToolError> {
    let mut wire = Wire::connect(parsed)?;
    match command {
        "list" => list(&mut wire),
        "describe" => {
            let id = parsed.get("transactional-id").ok_or_else(|| required("transactional-id"))?;
            describe(&mut wire, id)
        }
        "describe-producers" => {
            let (topic, partition) = topic_partition(parsed)?;
            let producers = producers(&mut wire, topic, partition)?;
            print_table(
                &[
                    "ProducerId",
                    "ProducerEpoch",
                    "LatestCoordinatorEpoch",
                    "LastSequence",
                    "LastTimestamp",
                    "CurrentTransactionStartOffset",
                ],
                producers.iter().map(|p| {
                    vec![
                        p.producer_id.0.to_string(),
                        p.producer_epoch.to_string(),
                        p.coordinator_epoch.to_string(),
                        p.last_sequence.to_string(),
                        p.last_timestamp.to_string(),
                        p.current_txn_start_offset.to_string(),
                    ]
                }),
            );
            Ok(())
        }
        _ => abort(&mut wire, parsed),
    }
}

fn required(name: &str) -> ToolError {
    ToolError::usage(format!("Missing required argument \"[{name}]\""))
}

fn topic_partition(parsed: &Parsed) -> Result<(&str, i32), ToolError> {
    let topic = parsed.get("topic").ok_or_else(|| required("topic"))?;
    let partition = parsed.number("partition")?.ok_or_else(|| required("partition"))?;
    Ok((topic, partition))
}

/// The cluster's metadata, for `topics` (none: brokers only).
fn metadata(wire: &mut Wire, topics: &[&str]) -> Result<MetadataResponse, ToolError> {
    let topics = topics
        .iter()
        .map(|t| MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_string(t.to_string())))))
        .collect();
    match wire.call(ApiKey::Metadata, 9, &MetadataRequest::default().with_topics(Some(topics)))? {
        ResponseKind::Metadata(m) => Ok(m),
        _ => Err(ToolError::failed("unexpected answer to Metadata")),
    }
}

/// A connection to broker `node` as `metadata` lists it, made as `wire` was.
fn broker(wire: &Wire, metadata: &MetadataResponse, node: i32) -> Result<Wire, ToolError> {
    let b = metadata
        .brokers
        .iter()
        .find(|b| b.node_id.0 == node)
        .ok_or_else(|| ToolError::failed(format!("broker {node} is not in the cluster's metadata")))?;
    wire.connect_to(&format!("{}:{}", b.host.as_str(), b.port))
}

fn list(wire: &mut Wire) -> Result<(), ToolError> {
    let metadata = metadata(wire, &[])?;
    let mut rows = Vec::new();
    for b in &metadata.brokers {
        let request = ListTransactionsRequest::default();
        let ResponseKind::ListTransactions(r) =
            broker(wire, &metadata, b.node_id.0)?.call(ApiKey::ListTransactions, 0, &request)?
        else {
            return Err(ToolError::failed("unexpected answer to ListTransactions"));
        };
        if r.error_code != 0 {
            return Err(ToolError::failed(format!("broker {}: {}", b.node_id.0, error_text(r.error_code, None))));
        }
        rows.extend(r.transaction_states.iter().map(|t| {
            vec![
                t.transactional_id.to_string(),
                b.node_id.0.to_string(),
                t.producer_id.0.to_string(),
                t.transaction_state.to_string(),
            ]
        }));
    }
    rows.sort();
    print_table(&["TransactionalId", "Coordinator", "ProducerId", "TransactionState"], rows);
    Ok(())
}

fn describe(wire: &mut Wire, id: &str) -> Result<(), ToolError> {
    let find = FindCoordinatorRequest::default().with_key_type(1).with_key(StrBytes::from_string(id.to_string()));
    let ResponseKind::FindCoordinator(found) = wire.call(ApiKey::FindCoordinator, 3, &find)? else {
        return Err(ToolError::failed("unexpected answer to FindCoordinator"));
    };
    if found.error_code != 0 {
        return Err(ToolError::failed(error_text(found.error_code, found.error_message.as_ref())));
    }
    let mut coordinator = wire.connect_to(&format!("{}:{}", found.host.as_str(), found.port))?;
    let request = DescribeTransactionsRequest::default()
        .with_transactional_ids(vec![TransactionalId(StrBytes::from_string(id.to_string()))]);
    let ResponseKind::DescribeTransactions(r) = coordinator.call(ApiKey::DescribeTransactions, 0, &request)? else {
        return Err(ToolError::failed("unexpected answer to DescribeTransactions"));
    };
    let state = r.transaction_states.first().ok_or_else(|| ToolError::failed("DescribeTransactions answered none"))?;
    if state.error_code == ResponseError::TransactionalIdNotFound.code() {
        return Err(ToolError::failed(format!("Transactional id '{id}' not found")));
    } else if state.error_code != 0 {
        return Err(ToolError::failed(error_text(state.error_code, None)));
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let start = state.transaction_start_time_ms;
    let partitions: Vec<String> = state
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| format!("{}-{p}", t.topic.as_str())))
        .collect();
    print_table(
        &[
            "CoordinatorId",
            "TransactionalId",
            "ProducerId",
            "ProducerEpoch",
            "TransactionState",
            "TransactionTimeoutMs",
            "CurrentTransactionStartTimeMs",
            "TransactionDurationMs",
            "TopicPartitions",
        ],
        [vec![
            found.node_id.0.to_string(),
            id.to_string(),
            state.producer_id.0.to_string(),
            state.producer_epoch.to_string(),
            state.transaction_state.to_string(),
            state.transaction_timeout_ms.to_string(),
            if start < 0 { "None".to_string() } else { start.to_string() },
            if start < 0 { "None".to_string() } else { (now_ms - start).max(0).to_string() },
            partitions.join(","),
        ]],
    );
    Ok(())
}

/// The producers of a partition, from its leader.
fn producers(wire: &mut Wire, topic: &str, partition: i32) -> Result<Vec<ProducerState>, ToolError> {
    let (mut leader, _) = leader_of(wire, topic, partition)?;
    let request = DescribeProducersRequest::default().with_topics(vec![
        TopicRequest::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_indexes(vec![partition]),
    ]);
    let ResponseKind::DescribeProducers(r) = leader.call(ApiKey::DescribeProducers, 0, &request)? else {
        return Err(ToolError::failed("unexpected answer to DescribeProducers"));
    };
    let p = r
        .topics
        .into_iter()
        .flat_map(|t| t.partitions)
        .next()
        .ok_or_else(|| ToolError::failed("DescribeProducers answered no partition"))?;
    if p.error_code != 0 {
        return Err(ToolError::failed(error_text(p.error_code, p.error_message.as_ref())));
    }
    Ok(p.active_producers)
}

/// A connection to the leader of a partition, and its id.
fn leader_of(wire: &mut Wire, topic: &str, partition: i32) -> Result<(Wire, i32), ToolError> {
    let metadata = metadata(wire, &[topic])?;
    let t = metadata.topics.first().ok_or_else(|| ToolError::failed(format!("Topic '{topic}' does not exist")))?;
    if t.error_code != 0 {
        return Err(ToolError::failed(format!("{topic}: {}", error_text(t.error_code, None))));
    }
    let leader = t
        .partitions
        .iter()
        .find(|p| p.partition_index == partition)
        .map(|p| p.leader_id.0)
        .ok_or_else(|| ToolError::failed(format!("Partition {topic}-{partition} does not exist")))?;
    Ok((broker(wire, &metadata, leader)?, leader))
}

/// Writes an abort marker for a hanging transaction, as `kafka-transactions abort` does (the
/// Admin client's abortTransaction: WriteTxnMarkers to the partition's leader).
fn abort(wire: &mut Wire, parsed: &Parsed) -> Result<(), ToolError> {
    let (topic, partition) = topic_partition(parsed)?;
    let (producer_id, epoch, coordinator_epoch) = match parsed.number::<i64>("start-offset")? {
        Some(start) => {
            let open = producers(wire, topic, partition)?.into_iter().find(|p| p.current_txn_start_offset == start);
            let p = open.ok_or_else(|| {
                ToolError::failed(format!(
                    "Could not find any open transactions starting at offset {start} on partition {topic}-{partition}"
                ))
            })?;
            (p.producer_id.0, p.producer_epoch as i16, p.coordinator_epoch.max(0))
        }
        None => (
            parsed.number("producer-id")?.ok_or_else(|| required("producer-id"))?,
            parsed.number("producer-epoch")?.ok_or_else(|| required("producer-epoch"))?,
            parsed.number("coordinator-epoch")?.ok_or_else(|| required("coordinator-epoch"))?,
        ),
    };
    let (mut leader, _) = leader_of(wire, topic, partition)?;
    let request = WriteTxnMarkersRequest::default().with_markers(vec![
        WritableTxnMarker::default()
            .with_producer_id(ProducerId(producer_id))
            .with_producer_epoch(epoch)
            .with_transaction_result(false)
            .with_coordinator_epoch(coordinator_epoch)
            .with_topics(vec![
                WritableTxnMarkerTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                    .with_partition_indexes(vec![partition]),
            ]),
    ]);
    let ResponseKind::WriteTxnMarkers(r) = leader.call(ApiKey::WriteTxnMarkers, 1, &request)? else {
        return Err(ToolError::failed("unexpected answer to WriteTxnMarkers"));
    };
    let code = r.markers.iter().flat_map(|m| &m.topics).flat_map(|t| &t.partitions).map(|p| p.error_code).next();
    match code {
        Some(0) => Ok(()),
        Some(code) => Err(ToolError::failed(error_text(code, None))),
        None => Err(ToolError::failed("WriteTxnMarkers answered no partition")),
    }
}

/// Columns padded to their widest cell, as Kafka's tool prints them.
fn print_table(headers: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    let rows: Vec<Vec<String>> = rows.into_iter().collect();
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| rows.iter().map(|r| r[i].len()).chain([headers[i].len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", padded.join("\t").trim_end());
    };
    line(headers.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
}
