//! ListOffsets: earliest (-2), latest (-1), the first offset at or after a timestamp, and
//! KIP-734's max timestamp (-3) with the local (-4), tiered (-5) and pending upload (-6, v11)
//! specs of tiered storage.
//! Latest is the high watermark, or for `read_committed` (v2+) the last stable offset.

use std::sync::Arc;

use brook_log::TimestampLookup;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::records::RecordBatchDecoder;

use crate::authorization::Access;
use brook_security::acl::{Operation, ResourceType};

use crate::broker::Broker;
use crate::partition::Partition;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;
/// KIP-1023 (v11): the earliest offset not yet uploaded to tiered storage.
const EARLIEST_PENDING_UPLOAD: i64 = -6;

pub(super) fn handle(
    broker: &Arc<Broker>,
    request: ListOffsetsRequest,
    version: i16,
    access: &Access,
) -> ListOffsetsResponse {
    // Leader epochs exist from v4 on; earlier versions must leave the field at its default.
    let committed = version >= 2 && request.isolation_level == 1;
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let meta = broker.topic(&topic.name.0);
            let allowed = access.allows(broker, Operation::Describe, ResourceType::Topic, &topic.name.0);
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let response = ListOffsetsPartitionResponse::default().with_partition_index(p.partition_index);
                    let found = super::authorized(meta.as_ref(), allowed, ResponseError::UnknownTopicOrPartition)
                        .and_then(|m| broker.leader_partition_in(m, p.partition_index, p.current_leader_epoch));
                    match found {
                        Err(code) => response.with_error_code(code.code()).with_offset(-1).with_timestamp(-1),
                        Ok(partition) => match lookup(&partition, p.timestamp, committed, version) {
                            Ok((offset, timestamp)) => {
                                let epoch = meta
                                    .as_ref()
                                    .and_then(|m| m.partition(p.partition_index))
                                    .map_or(0, |p| p.leader_epoch);
                                let leader_epoch = if version >= 4 { epoch } else { -1 };
                                response.with_offset(offset).with_timestamp(timestamp).with_leader_epoch(leader_epoch)
                            }
                            Err(code) => response.with_error_code(code.code()).with_offset(-1).with_timestamp(-1),
                        },
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default().with_name(topic.name).with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

/// (offset, timestamp) for a ListOffsets target; -1/-1 when no record is that new.
fn lookup(partition: &Partition, target: i64, committed: bool, version: i16) -> Result<(i64, i64), ResponseError> {
    let log = &partition.log;
    match target {
        LATEST if committed => Ok((partition.last_stable_offset(), -1)),
        LATEST => Ok((log.high_watermark(), -1)),
        EARLIEST => Ok((log.log_start_offset(), -1)),
        // The first record carrying the newest timestamp, as Kafka answers it.
        MAX_TIMESTAMP => log.max_timestamp().map_or(Ok((-1, -1)), |t| by_timestamp(partition, t)),
        // Without tiered storage every segment is local and nothing is tiered (Kafka's answers).
        EARLIEST_LOCAL => Ok((log.log_start_offset(), -1)),
        LATEST_TIERED => Ok((-1, -1)),
        EARLIEST_PENDING_UPLOAD if version >= 11 => Ok((-1, -1)),
        t if t >= 0 => by_timestamp(partition, t),
        _ => Err(ResponseError::UnsupportedVersion),
    }
}

/// The first record at or after timestamp `t`: (offset, its timestamp), or -1/-1.
pub(super) fn by_timestamp(partition: &Partition, t: i64) -> Result<(i64, i64), ResponseError> {
    match partition.log.offset_for_timestamp(t) {
        Ok(None) => Ok((-1, -1)),
        Ok(Some(TimestampLookup::Found { offset, timestamp })) => Ok((offset, timestamp)),
        Ok(Some(TimestampLookup::InCompressedBatch(batch))) => {
            let mut buf = batch;
            let set = RecordBatchDecoder::decode(&mut buf).map_err(|_| ResponseError::CorruptMessage)?;
            let hit = set.records.iter().find(|r| r.timestamp >= t).ok_or(ResponseError::CorruptMessage)?;
            Ok((hit.offset, hit.timestamp))
        }
        Err(e) => Err(ResponseError::try_from_code(e.kafka_error_code()).unwrap_or(ResponseError::UnknownServerError)),
    }
}
