//! OffsetForLeaderEpoch (KIP-320): where a leader epoch ends in the leader's log. A consumer
//! asks it after the leader changes, with the epoch of the last record it read: if the log
//! moved past that epoch before the consumer's position, records it read were truncated away
//! (an unclean election), and the consumer resets or reports it.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use brook_security::acl::{Operation, ResourceType};

use crate::authorization::Access;
use crate::broker::Broker;

pub(super) fn handle(
    broker: &Arc<Broker>,
    request: OffsetForLeaderEpochRequest,
    access: &Access,
) -> OffsetForLeaderEpochResponse {
    // A follower's request needs CLUSTER_ACTION, a consumer's DESCRIBE on each topic.
    let follower = request.replica_id.0 >= 0;
    let follower_allowed = follower && access.allows_cluster(broker, Operation::ClusterAction);
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let meta = broker.topic(&topic.topic.0);
            let allowed = match follower {
                true => follower_allowed,
                false => access.allows(broker, Operation::Describe, ResourceType::Topic, &topic.topic.0),
            };
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let answer = EpochEndOffset::default().with_partition(p.partition);
                    let led = super::authorized(meta.as_ref(), allowed, ResponseError::UnknownTopicOrPartition)
                        .and_then(|m| broker.leader_partition_in(m, p.partition, p.current_leader_epoch));
                    match led {
                        Ok(partition) => {
                            let (epoch, end_offset) = partition.log.end_offset_for_epoch(p.leader_epoch);
                            answer.with_leader_epoch(epoch).with_end_offset(end_offset)
                        }
                        Err(code) => answer.with_error_code(code.code()).with_leader_epoch(-1).with_end_offset(-1),
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default().with_topic(topic.topic).with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
