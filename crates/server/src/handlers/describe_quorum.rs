//! DescribeQuorum (`kafka-metadata-quorum describe`): the metadata quorum's leader, epoch,
//! high watermark and each voter's progress, from the quorum's leader wherever it runs.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_quorum_response::{Listener, Node, PartitionData, ReplicaState, TopicData};
use kafka_protocol::messages::{BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName};

use super::text;
use crate::broker::Broker;

/// The metadata log's topic, as KRaft names it.
const METADATA_TOPIC: &str = "__cluster_metadata";

/// Version 2 added the error message and the voters' endpoints (`nodes`); version 1 cannot
/// carry them.
pub(super) async fn handle(
    broker: &Arc<Broker>,
    request: DescribeQuorumRequest,
    version: i16,
) -> DescribeQuorumResponse {
    let asks_for_metadata_log = matches!(request.topics.as_slice(), [topic]
        if &*topic.topic_name.0 == METADATA_TOPIC
            && matches!(topic.partitions.as_slice(), [p] if p.partition_index == 0));
    if !asks_for_metadata_log {
        return DescribeQuorumResponse::default().with_error_code(ResponseError::UnknownTopicOrPartition.code());
    }
    let description = match broker.describe_quorum().await {
        Ok(d) => d,
        Err(e) => {
            let message = (version >= 2).then(|| text(e.message));
            return DescribeQuorumResponse::default().with_error_code(e.code.code()).with_error_message(message);
        }
    };
    let voters = description
        .voters
        .iter()
        .map(|v| {
            ReplicaState::default()
                .with_replica_id(BrokerId(v.node_id))
                .with_log_end_offset(v.log_end_offset)
                .with_last_fetch_timestamp(v.last_fetch_timestamp)
                .with_last_caught_up_timestamp(v.last_caught_up_timestamp)
        })
        .collect();
    let partition = PartitionData::default()
        .with_partition_index(0)
        .with_leader_id(BrokerId(description.leader_id))
        .with_leader_epoch(description.leader_epoch)
        .with_high_watermark(description.high_watermark)
        .with_current_voters(voters);
    let topic = TopicData::default().with_topic_name(TopicName(text(METADATA_TOPIC))).with_partitions(vec![partition]);
    let response = DescribeQuorumResponse::default().with_topics(vec![topic]);
    if version < 2 {
        return response;
    }
    let name = &broker.config.controller_listener_name;
    let nodes = broker
        .config
        .quorum_voters
        .keys()
        .filter_map(|id| {
            let (host, port) = broker.config.voter_address(*id)?;
            let listener = Listener::default().with_name(text(name.clone())).with_host(text(host)).with_port(port);
            Some(Node::default().with_node_id(BrokerId(*id)).with_listeners(vec![listener]))
        })
        .collect();
    response.with_nodes(nodes)
}
