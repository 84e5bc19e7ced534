//! The coordinators' internal topics (`__consumer_offsets`, `__transaction_state`,
//! `__share_group_state`): created on
//! first use as Kafka creates them, appended to durably, and the key hash that places a group
//! or a transactional id on one of their partitions.

use std::collections::BTreeMap;
use std::time::Duration;

use brook_log::{Appended, Durability, LogError, ReadBound, batch};
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tracing::{info, warn};

use brook_controller::ControllerRequest;

use crate::broker::{ApiError, Broker};

/// How an internal topic is created.
#[derive(Debug, Clone)]
pub struct InternalTopic {
    pub name: &'static str,
    pub partitions: i32,
    /// Kafka's default is 3; capped at the brokers registered when the topic is created, so
    /// that a one-broker Brook needs no setting.
    pub replication_factor: i16,
    pub segment_bytes: i32,
    /// `min.insync.replicas` for the topic, capped at its replication factor.
    pub min_insync_replicas: Option<i16>,
}

/// Whether `topic` is one of the coordinators' own topics, which clients may read but not
/// write (Kafka's internal topics).
pub fn is_internal(topic: &str) -> bool {
    topic == crate::group::OFFSETS_TOPIC
        || topic == crate::transactions::TRANSACTION_STATE_TOPIC
        || topic == crate::share::SHARE_STATE_TOPIC
}

/// The partition of `key` among `partitions`: the Java hash of the key, as Kafka's
/// coordinators place groups and transactional ids.
pub fn partition_of(key: &str, partitions: i32) -> i32 {
    let hash = key.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    let positive = if hash == i32::MIN { 0 } else { hash.abs() };
    positive % partitions.max(1)
}

impl Broker {
    /// Creates `topic` if it does not exist yet: compacted, with its partition count.
    pub async fn ensure_internal_topic(&self, topic: &InternalTopic) -> Result<(), ApiError> {
        if self.image().topic(topic.name).is_some() {
            return Ok(());
        }
        let registered = i16::try_from(self.image().brokers.len()).unwrap_or(i16::MAX).max(1);
        let replication_factor = topic.replication_factor.min(registered);
        let mut configs = BTreeMap::from([
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("compression.type".to_string(), "producer".to_string()),
            ("segment.bytes".to_string(), topic.segment_bytes.to_string()),
        ]);
        if let Some(min) = topic.min_insync_replicas {
            configs.insert("min.insync.replicas".into(), min.min(replication_factor).to_string());
        }
        let request = ControllerRequest::CreateTopic {
            name: topic.name.into(),
            partitions: topic.partitions,
            replication_factor,
            assignment: Vec::new(),
            configs,
            validate_only: false,
        };
        match self.ask_controller(request).await {
            Ok(_) => {
                info!(partitions = topic.partitions, "created {}", topic.name);
                Ok(())
            }
            // Another broker or request created it meanwhile.
            Err(e) if e.code == ResponseError::TopicAlreadyExists => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Appends a coordinator's batch to a partition of an internal topic this broker leads,
    /// fsynced, and waits until the in-sync replicas have it (or `timeout`). Errors are what
    /// the coordinator's clients are told: look the coordinator up again, or retry later.
    pub async fn append_internal(
        &self,
        topic: &str,
        partition: i32,
        batch: Bytes,
        timeout: Duration,
    ) -> Result<Appended, ApiError> {
        let p = match self.partition(topic, partition) {
            Some(p) => p,
            // The topic was just created (by this request or another) and the partitions are
            // still being opened: wait for that, once.
            None => {
                self.reconcile().map_err(|e| ApiError::new(ResponseError::CoordinatorNotAvailable, e.to_string()))?;
                self.partition(topic, partition).ok_or_else(|| {
                    ApiError::new(
                        ResponseError::NotCoordinator,
                        format!("this broker does not host {topic} {partition}"),
                    )
                })?
            }
        };
        let (appended, leader_epoch) = p.append_internal(batch, Durability::Sync).map_err(|e| {
            let code = ResponseError::try_from_code(e.code()).unwrap_or(ResponseError::UnknownServerError);
            ApiError::new(coordinator_error(code), e.to_string())
        })?;
        match tokio::time::timeout(timeout, p.wait_committed(appended.last_offset + 1, leader_epoch)).await {
            Ok(Ok(())) => Ok(appended),
            Ok(Err(code)) => Err(ApiError::new(coordinator_error(code), format!("{code:?}"))),
            Err(_) => Err(ApiError::new(ResponseError::CoordinatorNotAvailable, "the write timed out")),
        }
    }
}

impl Broker {
    /// Reads a coordinator's partition back below `end`, handing each record's key, value and
    /// offset to `apply` in log order. Unreadable batches are skipped with a warning, as a
    /// coordinator skips records it cannot decode.
    pub fn replay_internal(
        &self,
        topic: &str,
        partition: i32,
        end: i64,
        mut apply: impl FnMut(Option<&[u8]>, Option<&[u8]>, i64),
    ) -> Result<(), LogError> {
        let Some(p) = self.partition(topic, partition) else { return Ok(()) };
        let mut offset = p.log.log_start_offset();
        while offset < end {
            let bytes = p.log.read(offset, 1 << 20, ReadBound::LogEnd)?;
            if bytes.is_empty() {
                break;
            }
            for (header, bytes) in batch::whole_batches(&bytes) {
                // Compaction leaves gaps and may re-encode batches: read real offsets.
                let records = crate::records::decode_all(bytes).unwrap_or_else(|e| {
                    warn!(topic, offset = header.base_offset, error = e, "skipping an unreadable batch");
                    Vec::new()
                });
                for r in records.into_iter().filter(|r| r.offset >= offset && r.offset < end) {
                    apply(r.key.as_deref(), r.value.as_deref(), r.offset);
                }
                offset = header.next_offset();
            }
        }
        Ok(())
    }
}

/// Kafka's translation of a failed internal-topic append into what coordinator clients are
/// told: look the coordinator up again, or retry it later.
fn coordinator_error(code: ResponseError) -> ResponseError {
    match code {
        ResponseError::NotLeaderOrFollower | ResponseError::KafkaStorageError => ResponseError::NotCoordinator,
        ResponseError::MessageTooLarge | ResponseError::RecordListTooLarge => ResponseError::InvalidCommitOffsetSize,
        _ => ResponseError::CoordinatorNotAvailable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's placement (`Utils.abs(key.hashCode()) % partitions`), checked against values
    /// the Java hash gives.
    #[test]
    fn keys_land_where_kafka_puts_them() {
        assert_eq!(partition_of("", 50), 0);
        // "my-group".hashCode() == -1_906_497_762 in Java: abs, then modulo.
        assert_eq!(partition_of("my-group", 50), 12);
        assert_eq!(partition_of("anything", 1), 0);
    }
}
