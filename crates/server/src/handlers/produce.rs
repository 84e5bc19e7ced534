//! Produce: appends each partition's batch in request order, then (acks=all) waits for the
//! high watermark to cover it, within the request's `timeout_ms`. A transactional batch that
//! would open its producer's transaction in a partition is first checked with the
//! transaction coordinator (`transactions::verification`); when that means waiting, the whole
//! request appends after the answer.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use brook_log::batch::BatchHeader;
use brook_log::{Appended, Durability, TimestampType};
use brook_security::acl::{Operation, ResourceType};
use brook_transactions::transaction::TopicPartition;
use bytes::Bytes;
use futures::FutureExt;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, ResponseKind, TopicName};
use kafka_protocol::records::Compression;
use tracing::debug;

use super::{LeaderHints, Reply, text};
use crate::authorization::Access;
use crate::broker::TopicMeta;
use crate::broker::{ApiError, Broker};
use crate::partition::Partition;
use crate::records::{Fault, recompress, record_faults};
use crate::transactions::verification::{self, Gate, Need, Writer};
use uuid::Uuid;

/// A partition's error code and message, and (KIP-467) the records at fault: each one's index
/// in the batch and why.
struct Refusal {
    code: ResponseError,
    message: Option<String>,
    records: Vec<(i32, String)>,
}

impl From<(ResponseError, Option<String>)> for Refusal {
    fn from((code, message): (ResponseError, Option<String>)) -> Refusal {
        Refusal { code, message, records: Vec::new() }
    }
}

/// One partition's batch, checked and ready to append (or refused).
struct Checked {
    index: i32,
    result: Result<Ready, Refusal>,
}

struct Ready {
    partition: Arc<Partition>,
    records: Bytes,
    /// A transactional batch that may open its producer's transaction here: the partition's
    /// guard, and whether the coordinator must still be asked.
    txn: Option<(u64, bool)>,
}

/// One partition's outcome before any wait.
struct Outcome {
    index: i32,
    result: Result<(Arc<Partition>, (Appended, i32)), Refusal>,
}

/// A topic of the request: its name and id as sent, its id here, and its partitions.
type TopicOf<T> = (TopicName, Uuid, Option<Uuid>, Vec<T>);

/// Returns the reply, and whether the connection must hold its next requests until it is
/// answered: a transactional write that waits for its coordinator appends later, and the
/// producer's next batches must not overtake it.
pub(super) fn handle(
    broker: &Arc<Broker>,
    request: ProduceRequest,
    version: i16,
    listener: Arc<str>,
    access: &Access,
) -> (Reply, bool) {
    let acks = request.acks;
    let durability = if acks == -1 { Durability::Sync } else { Durability::Async };
    let transactional_id = request.transactional_id.as_ref().map(|id| id.to_string()).filter(|id| !id.is_empty());
    // Transactions version 2 producers (Produce v12+) leave adding partitions to the leader;
    // v11 clients know TRANSACTION_ABORTABLE.
    let need = if version >= 12 { Need::Add } else { Need::Verify };
    let abortable = version == 11;
    let mut writer: Option<(i64, i16)> = None;
    let mut asks = BTreeSet::new();
    let mut topics: Vec<TopicOf<Checked>> = Vec::with_capacity(request.topic_data.len());
    // Kafka checks WRITE on the transactional id first, then on each topic.
    let txn_denied = transactional_id
        .as_deref()
        .is_some_and(|id| !access.allows(broker, Operation::Write, ResourceType::TransactionalId, id));
    for topic in request.topic_data {
        let meta = if version >= 13 { broker.topic_by_id(&topic.topic_id) } else { broker.topic(&topic.name.0) };
        let unknown =
            if version >= 13 { ResponseError::UnknownTopicId } else { ResponseError::UnknownTopicOrPartition };
        let denied = txn_denied.then_some(ResponseError::TransactionalIdAuthorizationFailed).or_else(|| {
            let name = meta.as_ref().map_or(topic.name.0.as_str(), |m| m.name.as_str());
            let known = meta.is_some() || version < 13;
            (known && !access.allows(broker, Operation::Write, ResourceType::Topic, name))
                .then_some(ResponseError::TopicAuthorizationFailed)
        });
        let checked: Vec<Checked> = topic
            .partition_data
            .into_iter()
            .map(|p| {
                let result = if !matches!(acks, -1..=1) {
                    Err((ResponseError::InvalidRequiredAcks, None).into())
                } else if let Some(code) = denied {
                    Err((code, None).into())
                } else if meta.as_ref().is_some_and(|m| crate::internal_topic::is_internal(&m.name)) {
                    // Only the coordinators write there, as in Kafka.
                    Err((ResponseError::InvalidTopicException, Some("Cannot append to internal topic".into())).into())
                } else {
                    match meta.as_ref().map(|m| (m, broker.leader_partition(m, p.index))) {
                        None => Err((unknown, None).into()),
                        Some((_, Err(code))) => Err((code, None).into()),
                        Some((meta, Ok(partition))) => {
                            let enough = if acks == -1 { partition.check_enough_replicas() } else { Ok(()) };
                            enough.map_err(|(code, message)| (code, Some(message)).into()).and_then(|()| {
                                let records = check(p.records, &topic_rules(meta), &partition)?;
                                let txn =
                                    TxnWrite { id: transactional_id.as_deref(), need, abortable, writer: &mut writer };
                                let txn = gate(broker, &partition, &records, txn, &mut asks)?;
                                Ok(Ready { partition, records, txn })
                            })
                        }
                    }
                };
                Checked { index: p.index, result }
            })
            .collect();
        topics.push((topic.name, topic.topic_id, meta.map(|m| m.id), checked));
    }
    let broker = broker.clone();
    match (transactional_id, writer) {
        (Some(id), Some((producer_id, epoch))) if !asks.is_empty() => {
            let reply = async move {
                let writer = Writer { transactional_id: &id, producer_id, epoch };
                let refused = verification::ask(&broker, writer, asks, need).await;
                let outcomes = append_all(topics, durability, abortable, |partition| {
                    refused.get(&(partition.topic.clone(), partition.index)).copied()
                });
                respond(broker, outcomes, acks, request.timeout_ms, version, LeaderHints::on(listener)).await
            };
            (reply.boxed(), true)
        }
        _ => {
            let outcomes = append_all(topics, durability, abortable, |_| None);
            (respond(broker, outcomes, acks, request.timeout_ms, version, LeaderHints::on(listener)).boxed(), false)
        }
    }
}

/// Appends each ready batch in request order; `refused` gives a partition's coordinator
/// refusal, if any.
fn append_all(
    topics: Vec<TopicOf<Checked>>,
    durability: Durability,
    abortable: bool,
    refused: impl Fn(&Partition) -> Option<ResponseError>,
) -> Vec<TopicOf<Outcome>> {
    let append_one = |ready: Ready| {
        if let Some(code) = ready.txn.and_then(|_| refused(&ready.partition)) {
            return Err(verification::for_producer(code, abortable).into());
        }
        let guard = ready.txn.map(|(guard, _)| guard);
        append(&ready.partition, ready.records, durability, guard).map(|a| (ready.partition, a))
    };
    topics
        .into_iter()
        .map(|(name, topic_id, id, checked)| {
            let outcomes = checked
                .into_iter()
                .map(|c| Outcome { index: c.index, result: c.result.and_then(append_one) })
                .collect();
            (name, topic_id, id, outcomes)
        })
        .collect()
}

/// The answer, once acks=all writes are committed (or the request's `timeout_ms` passed).
async fn respond(
    broker: Arc<Broker>,
    topics: Vec<TopicOf<Outcome>>,
    acks: i16,
    timeout_ms: i32,
    version: i16,
    mut hints: LeaderHints,
) -> Option<ResponseKind> {
    if acks == 0 {
        return None;
    }
    let timeout = Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(0));
    let deadline = tokio::time::Instant::now() + timeout;
    let mut responses = Vec::with_capacity(topics.len());
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
                        Err(_) => response.with_error_code(ResponseError::RequestTimedOut.code()).with_base_offset(-1),
                    }
                }
                Err(Refusal { code, message, records }) => {
                    let records = records
                        .into_iter()
                        .map(|(index, why)| {
                            BatchIndexAndErrorMessage::default()
                                .with_batch_index(index)
                                .with_batch_index_error_message(Some(text(why)))
                        })
                        .collect();
                    response
                        .with_error_code(code.code())
                        .with_base_offset(-1)
                        .with_error_message(message.map(text))
                        .with_record_errors(records)
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

/// The request's transactional id and what its coordinator is asked, for [`gate`].
struct TxnWrite<'a> {
    id: Option<&'a str>,
    need: Need,
    abortable: bool,
    /// The producer of the request's transactional batches (one per request, as in Kafka).
    writer: &'a mut Option<(i64, i16)>,
}

/// A transactional batch's check before it may open its producer's transaction in
/// `partition`: `None` for other batches; else the guard, and whether the coordinator must
/// be asked (the partition is then added to `asks`).
fn gate(
    broker: &Broker,
    partition: &Partition,
    records: &Bytes,
    txn: TxnWrite<'_>,
    asks: &mut BTreeSet<TopicPartition>,
) -> Result<Option<(u64, bool)>, Refusal> {
    let header = BatchHeader::parse(records).ok_or((ResponseError::CorruptMessage, None))?;
    if !header.is_transactional() {
        return Ok(None);
    }
    // As Kafka: a transactional batch comes with the transactional id that owns it.
    let Some(id) = txn.id else {
        let message = "a transactional batch needs the producer's transactional.id";
        return Err((ResponseError::TransactionalIdAuthorizationFailed, Some(message.into())).into());
    };
    let producer = (header.producer_id, header.producer_epoch);
    if *txn.writer.get_or_insert(producer) != producer {
        let message = "Transactional records contained more than one producer ID";
        return Err((ResponseError::InvalidProducerIdMapping, Some(message.into())).into());
    }
    let Some(guard) = partition.txn_guard(header.producer_id, header.producer_epoch) else { return Ok(None) };
    let writer = Writer { transactional_id: id, producer_id: header.producer_id, epoch: header.producer_epoch };
    let place = (partition.topic.clone(), partition.index);
    match broker.transactions.gate(writer, &place, txn.need) {
        Gate::Open => Ok(Some((guard, false))),
        Gate::Refused(code) => Err(verification::for_producer(code, txn.abortable).into()),
        Gate::Ask => {
            asks.insert(place);
            Ok(Some((guard, true)))
        }
    }
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

/// Validates that `records` is exactly one batch (Kafka's rule for magic 2) that the topic
/// accepts, recompressed as the topic asks.
fn check(records: Option<Bytes>, topic: &TopicRules, partition: &Partition) -> Result<Bytes, Refusal> {
    let records = records.unwrap_or_default();
    let header = BatchHeader::parse(&records).ok_or((ResponseError::CorruptMessage, Some("no record batch".into())))?;
    if header.size_bytes() < records.len() {
        let message = "a produce request must carry exactly one record batch".to_string();
        return Err((ResponseError::InvalidRecord, Some(message)).into());
    }
    if let Some(why) = misshapen(&header) {
        // Kafka answers these INVALID_RECORD with no message; the reason goes to the log.
        debug!(topic = partition.topic, partition = partition.index, why, "produce refused");
        return Err((ResponseError::InvalidRecord, None).into());
    }
    let corrupt = |e: String| Refusal::from((ResponseError::CorruptMessage, Some(e)));
    let bounds = timestamp_bounds(&header, partition);
    if topic.compacted || bounds.is_some() {
        // KIP-467: Kafka names each record at fault, so that a client fails exactly those.
        let faults = record_faults(&records, topic.compacted, bounds).map_err(corrupt)?;
        if !faults.is_empty() {
            return Err(refused_records(faults, partition, bounds.unwrap_or_default()));
        }
    }
    match topic.codec {
        Some(codec) if header.compression() != codec as i16 => recompress(&records, codec).map_err(corrupt),
        _ => Ok(records),
    }
}

/// What Kafka's log validator refuses in a client's batch header before it looks at the
/// records, in its order: a base offset other than 0 (the broker assigns offsets), offsets that
/// disagree with the record count, control batches, a producer id without a sequence.
fn misshapen(header: &BatchHeader) -> Option<String> {
    let count_from_offsets = i64::from(header.last_offset_delta) + 1;
    let count = header.records_count;
    if header.base_offset != 0 {
        return Some(format!("the batch's base offset is {}, not 0", header.base_offset));
    }
    if count_from_offsets <= 0 || count <= 0 || count_from_offsets != i64::from(count) {
        return Some(format!("{count} records with offsets 0..={}", header.last_offset_delta));
    }
    if header.is_control() {
        return Some("clients may not write control records".into());
    }
    if header.producer_id >= 0 && header.base_sequence < 0 {
        return Some(format!("sequence {} from producer {}", header.base_sequence, header.producer_id));
    }
    None
}

/// A CreateTime topic's bounds (earliest, latest) for this batch's record timestamps, when
/// its records need a look one by one: always when `message.timestamp.before.max.ms` is set,
/// else only when the header's newest timestamp is past the `after` bound.
fn timestamp_bounds(header: &BatchHeader, partition: &Partition) -> Option<(i64, i64)> {
    let config = partition.log.config();
    if config.message_timestamp_type != TimestampType::CreateTime {
        return None;
    }
    let now = partition.log.now_ms();
    let latest = now.saturating_add(config.message_timestamp_after_max_ms);
    let unbounded_before = config.message_timestamp_before_max_ms == i64::MAX;
    (!unbounded_before || header.max_timestamp > latest)
        .then(|| (now.saturating_sub(config.message_timestamp_before_max_ms), latest))
}

/// The refusal of a batch with records at fault, as Kafka words it: INVALID_TIMESTAMP when
/// any timestamp is at fault, else INVALID_RECORD with a summary of the first three.
fn refused_records(faults: Vec<(i32, Fault)>, partition: &Partition, (earliest, latest): (i64, i64)) -> Refusal {
    let any_timestamp = faults.iter().any(|(_, f)| matches!(f, Fault::Timestamp { .. }));
    let records: Vec<(i32, String)> = faults
        .into_iter()
        .map(|(index, fault)| {
            let why = match fault {
                Fault::Keyless => format!(
                    "Compacted topic cannot accept message without key in topic partition {}-{}",
                    partition.topic, partition.index
                ),
                Fault::Timestamp { timestamp, offset } => format!(
                    "Timestamp {timestamp} of message with offset {offset} is out of range. \
                     The timestamp should be within [{earliest}, {latest}]"
                ),
            };
            (index, why)
        })
        .collect();
    if any_timestamp {
        let message = "One or more records have been rejected due to invalid timestamp".to_string();
        return Refusal { code: ResponseError::InvalidTimestamp, message: Some(message), records };
    }
    let shown: Vec<String> = records
        .iter()
        .take(3)
        .map(|(index, why)| format!("RecordError(batchIndex={index}, message='{why}')"))
        .collect();
    let message = format!(
        "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
        records.len(),
        shown.join(", ")
    );
    Refusal { code: ResponseError::InvalidRecord, message: Some(message), records }
}

/// Appends a checked batch; `guard` for a transactional batch that may open a transaction.
fn append(
    partition: &Partition,
    records: Bytes,
    durability: Durability,
    guard: Option<u64>,
) -> Result<(Appended, i32), Refusal> {
    let header = BatchHeader::parse(&records).ok_or((ResponseError::CorruptMessage, None))?;
    let (count, bytes) = (header.records_count.max(0) as u64, records.len() as u64);
    let appended = partition.append(records, durability, guard).map_err(|e| {
        debug!(topic = partition.topic, partition = partition.index, error = %e, "produce refused");
        let code = ResponseError::try_from_code(e.code()).unwrap_or(ResponseError::UnknownServerError);
        Refusal::from((code, Some(e.to_string())))
    })?;
    partition.stats.records_in.add(count);
    partition.stats.bytes_in.add(bytes);
    Ok(appended)
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
    let refusal = |r: Refusal| ApiError::new(r.code, r.message.unwrap_or_else(|| r.code.to_string()));
    let records = check(Some(batch), &topic_rules(topic), partition).map_err(refusal)?;
    if BatchHeader::parse(&records).is_some_and(|h| h.is_transactional()) {
        let message = "transactional batches need a producer".to_string();
        return Err(refusal((ResponseError::InvalidRecord, Some(message)).into()));
    }
    append(partition, records, durability, None).map_err(refusal)
}
