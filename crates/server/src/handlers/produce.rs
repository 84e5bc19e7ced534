//! Produce: appends each partition's batch in request order, then (acks=all) waits for the
//! high watermark to cover it, within the request's `timeout_ms`.

use std::sync::Arc;
use std::time::Duration;

use brook_log::batch::{self, BatchHeader};
use brook_log::{Appended, Durability};
use bytes::{Bytes, BytesMut};
use futures::FutureExt;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, ResponseKind};
use kafka_protocol::records::{Compression, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions};
use tracing::debug;

use super::{Reply, text};
use crate::broker::Broker;
use crate::metadata::TopicMeta;
use crate::partition::Partition;

/// One partition's outcome before any wait.
struct Outcome {
    index: i32,
    result: Result<(Arc<Partition>, Appended), (ResponseError, Option<String>)>,
}

pub(super) fn handle(broker: &Arc<Broker>, request: ProduceRequest, version: i16) -> Reply {
    let acks = request.acks;
    let durability = if acks == -1 { Durability::Sync } else { Durability::Async };
    let mut topics = Vec::with_capacity(request.topic_data.len());
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
                } else if request.transactional_id.is_some() {
                    Err((
                        ResponseError::TransactionalIdAuthorizationFailed,
                        Some("transactions are not supported by Brook yet".into()),
                    ))
                } else if meta.as_ref().is_some_and(|m| m.name == crate::group::OFFSETS_TOPIC) {
                    // Only the group coordinator writes there, as in Kafka.
                    Err((ResponseError::InvalidTopicException, Some("Cannot append to internal topic".into())))
                } else {
                    match meta.as_ref().and_then(|m| broker.partition(&m.name, p.index)) {
                        None => Err((unknown, None)),
                        Some(partition) => {
                            let codec = meta.as_ref().and_then(topic_compression);
                            append(&partition, p.records, codec, durability).map(|a| (partition, a))
                        }
                    }
                };
                Outcome { index: p.index, result }
            })
            .collect();
        topics.push((topic.name, topic.topic_id, outcomes));
    }
    if acks == 0 {
        return futures::future::ready(None).boxed();
    }
    let timeout = Duration::from_millis(u64::try_from(request.timeout_ms).unwrap_or(0));
    async move {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut responses = Vec::with_capacity(topics.len());
        for (name, topic_id, outcomes) in topics {
            let mut partitions = Vec::with_capacity(outcomes.len());
            for outcome in outcomes {
                let response = PartitionProduceResponse::default().with_index(outcome.index);
                partitions.push(match outcome.result {
                    Ok((partition, appended)) => {
                        let waited = if acks == -1 {
                            let wait = partition.log.wait_for_high_watermark(appended.last_offset + 1);
                            tokio::time::timeout_at(deadline, wait).await
                        } else {
                            Ok(Ok(()))
                        };
                        match waited {
                            Ok(Ok(())) => response
                                .with_base_offset(appended.base_offset)
                                .with_log_append_time_ms(appended.log_append_time_ms)
                                .with_log_start_offset(appended.log_start_offset),
                            Ok(Err(e)) => response.with_error_code(e.kafka_error_code()).with_base_offset(-1),
                            Err(_) => {
                                response.with_error_code(ResponseError::RequestTimedOut.code()).with_base_offset(-1)
                            }
                        }
                    }
                    Err((code, message)) => {
                        response.with_error_code(code.code()).with_base_offset(-1).with_error_message(message.map(text))
                    }
                });
            }
            responses.push(
                TopicProduceResponse::default()
                    .with_name(name)
                    .with_topic_id(topic_id)
                    .with_partition_responses(partitions),
            );
        }
        Some(ResponseKind::Produce(ProduceResponse::default().with_responses(responses)))
    }
    .boxed()
}

/// The codec a topic's `compression.type` asks for; `None` keeps the producer's (`producer`,
/// Kafka's default).
fn topic_compression(topic: &TopicMeta) -> Option<Compression> {
    match topic.configs.get("compression.type").map(String::as_str)? {
        "uncompressed" => Some(Compression::None),
        "gzip" => Some(Compression::Gzip),
        "snappy" => Some(Compression::Snappy),
        "lz4" => Some(Compression::Lz4),
        "zstd" => Some(Compression::Zstd),
        _ => None,
    }
}

/// Rewrites a batch in another codec, as Kafka does for a topic whose `compression.type` is not
/// `producer`: records, timestamps, producer id, epoch and sequences are kept. The CRC is
/// checked first, so a corrupt batch is refused rather than re-encoded with a fresh CRC.
fn recompress(records: Bytes, codec: Compression) -> Result<Bytes, (ResponseError, Option<String>)> {
    let corrupt = |e: &dyn std::fmt::Display| (ResponseError::CorruptMessage, Some(e.to_string()));
    batch::validate(&records, u32::MAX).map_err(|e| corrupt(&e))?;
    let mut input = records;
    let set = RecordBatchDecoder::decode(&mut input).map_err(|e| corrupt(&e))?;
    let mut out = BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression: codec };
    RecordBatchEncoder::encode(&mut out, set.records.iter(), &options).map_err(|e| corrupt(&e))?;
    Ok(out.freeze())
}

/// Validates that `records` is exactly one batch (Kafka's rule for magic 2) and appends it.
fn append(
    partition: &Partition,
    records: Option<Bytes>,
    codec: Option<Compression>,
    durability: Durability,
) -> Result<Appended, (ResponseError, Option<String>)> {
    let records = records.unwrap_or_default();
    let header = BatchHeader::parse(&records).ok_or((ResponseError::CorruptMessage, Some("no record batch".into())))?;
    if header.size_bytes() < records.len() {
        return Err((
            ResponseError::InvalidRecord,
            Some("a produce request must carry exactly one record batch".into()),
        ));
    }
    let records = match codec {
        Some(codec) if header.compression() != codec as i16 => recompress(records, codec)?,
        _ => records,
    };
    partition.append(records, durability).map_err(|e| {
        debug!(topic = partition.topic, partition = partition.index, error = %e, "produce refused");
        let code = ResponseError::try_from_code(e.code()).unwrap_or(ResponseError::UnknownServerError);
        (code, Some(e.to_string()))
    })
}
