//! Produce: appends each partition's batch in request order, then (acks=all) waits for the
//! high watermark to cover it, within the request's `timeout_ms`.

use std::sync::Arc;
use std::time::Duration;

use brook_log::batch::BatchHeader;
use brook_log::{Appended, Durability};
use bytes::Bytes;
use futures::FutureExt;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, ResponseKind};
use kafka_protocol::records::Compression;
use tracing::debug;

use super::{LeaderHints, Reply, text};
use crate::broker::TopicMeta;
use crate::broker::{ApiError, Broker};
use crate::partition::Partition;
use crate::records::{has_keyless_record, recompress};
use crate::transactions::TransactionCoordinator;

/// A partition's error code and message.
type Refusal = (ResponseError, Option<String>);

/// One partition's outcome before any wait.
struct Outcome {
    index: i32,
    result: Result<(Arc<Partition>, (Appended, i32)), Refusal>,
}

pub(super) fn handle(broker: &Arc<Broker>, request: ProduceRequest, version: i16) -> Reply {
    let acks = request.acks;
    let durability = if acks == -1 { Durability::Sync } else { Durability::Async };
    let mut topics = Vec::with_capacity(request.topic_data.len());
    let transactional_id = request.transactional_id.as_ref().map(|id| id.to_string()).filter(|id| !id.is_empty());
    let txn = transactional_id.as_deref().map(|id| TxnCheck { id, coordinator: &broker.transactions });
    for topic in request.topic_data {
        let meta = if version >= 13 { broker.topic_by_id(&topic.topic_id) } else { broker.topic(&topic.name.0) };
        let unknown =
            if version >= 13 { ResponseError::UnknownTopicId } else { ResponseError::UnknownTopicOrPartition };
        let outcomes: Vec<Outcome> = topic
            .partition_data
            .into_iter()
            .map(|p| {
                let result = if !matches!(acks, -1..=1) {
                    Err((ResponseError::InvalidRequiredAcks, None))
                } else if meta.as_ref().is_some_and(|m| crate::internal_topic::is_internal(&m.name)) {
                    // Only the coordinators write there, as in Kafka.
                    Err((ResponseError::InvalidTopicException, Some("Cannot append to internal topic".into())))
                } else {
                    match meta.as_ref().map(|m| (m, broker.leader_partition(m, p.index))) {
                        None => Err((unknown, None)),
                        Some((_, Err(code))) => Err((code, None)),
                        Some((meta, Ok(partition))) => {
                            let enough = if acks == -1 { partition.check_enough_replicas() } else { Ok(()) };
                            enough
                                .map_err(|(code, message)| (code, Some(message)))
                                .and_then(|()| append(&partition, p.records, &topic_rules(meta), txn, durability))
                                .map(|a| (partition, a))
                        }
                    }
                };
                Outcome { index: p.index, result }
            })
            .collect();
        topics.push((topic.name, topic.topic_id, meta.map(|m| m.id), outcomes));
    }
    if acks == 0 {
        return futures::future::ready(None).boxed();
    }
    let timeout = Duration::from_millis(u64::try_from(request.timeout_ms).unwrap_or(0));
    let broker = broker.clone();
    async move {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut responses = Vec::with_capacity(topics.len());
        let mut hints = LeaderHints::default();
        for (name, topic_id, id, outcomes) in topics {
            let mut partitions = Vec::with_capacity(outcomes.len());
            for outcome in outcomes {
                let response = PartitionProduceResponse::default().with_index(outcome.index);
                partitions.push(match outcome.result {
                    Ok((partition, (appended, leader_epoch))) => {
                        let waited = if acks == -1 {
                            let wait = partition.wait_committed(appended.last_offset + 1, leader_epoch);
                            tokio::time::timeout_at(deadline, wait).await
                        } else {
                            Ok(Ok(()))
                        };
                        match waited {
                            Ok(Ok(())) => response
                                .with_base_offset(appended.base_offset)
                                .with_log_append_time_ms(appended.log_append_time_ms)
                                .with_log_start_offset(appended.log_start_offset),
                            Ok(Err(code)) => response.with_error_code(code.code()).with_base_offset(-1),
                            Err(_) => {
                                response.with_error_code(ResponseError::RequestTimedOut.code()).with_base_offset(-1)
                            }
                        }
                    }
                    Err((code, message)) => {
                        response.with_error_code(code.code()).with_base_offset(-1).with_error_message(message.map(text))
                    }
                });
                // KIP-951: the partition's leader now, read after any wait.
                if let (Some(response), Some(id)) = (partitions.last_mut(), id)
                    && version >= 10
                    && response.error_code == ResponseError::NotLeaderOrFollower.code()
                {
                    let (leader, epoch) = hints.leader(&broker, &id, response.index);
                    response.current_leader =
                        LeaderIdAndEpoch::default().with_leader_id(leader.into()).with_leader_epoch(epoch);
                }
            }
            responses.push(
                TopicProduceResponse::default()
                    .with_name(name)
                    .with_topic_id(topic_id)
                    .with_partition_responses(partitions),
            );
        }
        let endpoints = hints.endpoints(|node_id, host, port, rack| {
            NodeEndpoint::default().with_node_id(node_id).with_host(host).with_port(port).with_rack(rack)
        });
        Some(ResponseKind::Produce(ProduceResponse::default().with_responses(responses).with_node_endpoints(endpoints)))
    }
    .boxed()
}

/// What a topic's configs ask of each batch before it is appended.
struct TopicRules {
    /// The codec `compression.type` asks for; `None` keeps the producer's (`producer`, Kafka's
    /// default).
    codec: Option<Compression>,
    /// `cleanup.policy` includes `compact`: every record needs a key.
    compacted: bool,
}

fn topic_rules(topic: &TopicMeta) -> TopicRules {
    let codec = match topic.configs.get("compression.type").map(String::as_str) {
        Some("uncompressed") => Some(Compression::None),
        Some("gzip") => Some(Compression::Gzip),
        Some("snappy") => Some(Compression::Snappy),
        Some("lz4") => Some(Compression::Lz4),
        Some("zstd") => Some(Compression::Zstd),
        _ => None,
    };
    let compacted = topic.configs.get("cleanup.policy").is_some_and(|p| p.contains("compact"));
    TopicRules { codec, compacted }
}

/// Validates that `records` is exactly one batch (Kafka's rule for magic 2) and appends it.
fn append(
    partition: &Partition,
    records: Option<Bytes>,
    topic: &TopicRules,
    txn: Option<TxnCheck<'_>>,
    durability: Durability,
) -> Result<(Appended, i32), (ResponseError, Option<String>)> {
    let records = records.unwrap_or_default();
    let header = BatchHeader::parse(&records).ok_or((ResponseError::CorruptMessage, Some("no record batch".into())))?;
    if header.size_bytes() < records.len() {
        return Err((
            ResponseError::InvalidRecord,
            Some("a produce request must carry exactly one record batch".into()),
        ));
    }
    if header.is_control() {
        return Err((ResponseError::InvalidRecord, Some("Clients are not allowed to write control records".into())));
    }
    if header.is_transactional() {
        // As Kafka: a transactional batch comes with the transactional id that owns it, and
        // the partition must be in that id's transaction.
        let Some(txn) = txn else {
            let message = "a transactional batch needs the producer's transactional.id";
            return Err((ResponseError::TransactionalIdAuthorizationFailed, Some(message.into())));
        };
        let place = (partition.topic.clone(), partition.index);
        txn.coordinator.verify(txn.id, header.producer_id, header.producer_epoch, &place).map_err(|code| {
            let code = if code == ResponseError::ProducerFenced { ResponseError::InvalidProducerEpoch } else { code };
            (code, Some("the transaction coordinator does not know this write's transaction".to_string()))
        })?;
    }
    let corrupt = |e: String| (ResponseError::CorruptMessage, Some(e));
    if topic.compacted && has_keyless_record(&records).map_err(corrupt)? {
        let message = "Compacted topic cannot accept message without key".to_string();
        return Err((ResponseError::InvalidRecord, Some(message)));
    }
    let records = match topic.codec {
        Some(codec) if header.compression() != codec as i16 => recompress(&records, codec).map_err(corrupt)?,
        _ => records,
    };
    let (count, bytes) = (header.records_count.max(0) as u64, records.len() as u64);
    let appended = partition.append(records, durability).map_err(|e| {
        debug!(topic = partition.topic, partition = partition.index, error = %e, "produce refused");
        let code = ResponseError::try_from_code(e.code()).unwrap_or(ResponseError::UnknownServerError);
        (code, Some(e.to_string()))
    })?;
    partition.stats.records_in.add(count);
    partition.stats.bytes_in.add(bytes);
    Ok(appended)
}

/// The transactional id a Produce request names, to verify its transactional batches with.
#[derive(Clone, Copy)]
struct TxnCheck<'a> {
    id: &'a str,
    coordinator: &'a TransactionCoordinator,
}

/// Appends one batch built outside the Kafka protocol (the console's produce form) under the
/// same rules as a Produce request: the topic's compression and compaction, idempotence.
/// Returns the leader epoch it was appended in, as `Partition::append`.
pub fn append_batch(
    partition: &Partition,
    topic: &TopicMeta,
    batch: Bytes,
    durability: Durability,
) -> Result<(Appended, i32), ApiError> {
    append(partition, Some(batch), &topic_rules(topic), None, durability)
        .map_err(|(code, message)| ApiError::new(code, message.unwrap_or_else(|| code.to_string())))
}
