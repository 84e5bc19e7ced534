//! DescribeCluster and DescribeLogDirs (which needs DESCRIBE on the cluster).

use std::collections::BTreeMap;
use std::sync::Arc;

use brook_security::acl::{CLUSTER_NAME, Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, DescribeLogDirsRequest, DescribeLogDirsResponse,
    TopicName,
};

use super::text;
use crate::authorization::Access;
use crate::broker::Broker;

pub(super) fn describe_cluster(
    broker: &Arc<Broker>,
    request: DescribeClusterRequest,
    listener: &str,
    access: &Access,
) -> DescribeClusterResponse {
    // Kafka reports no operations to a client that may not describe the cluster.
    let operations = match request.include_cluster_authorized_operations {
        false => i32::MIN,
        true if !access.sees(broker, Operation::Describe, ResourceType::Cluster, CLUSTER_NAME) => 0,
        true => access.operations(broker, ResourceType::Cluster, CLUSTER_NAME),
    };
    let live = broker.live_brokers_on(listener);
    let controller = broker.controller_id_for_clients(&live);
    let brokers = live
        .into_iter()
        .map(|b| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(b.node_id))
                .with_host(text(b.host))
                .with_port(i32::from(b.port))
                .with_rack(b.rack.map(text))
        })
        .collect();
    DescribeClusterResponse::default()
        .with_endpoint_type(request.endpoint_type)
        .with_cluster_id(text(broker.cluster_id()))
        .with_controller_id(BrokerId(controller))
        .with_brokers(brokers)
        .with_cluster_authorized_operations(operations)
}

pub(super) fn describe_log_dirs(
    broker: &Arc<Broker>,
    request: DescribeLogDirsRequest,
    access: &Access,
) -> DescribeLogDirsResponse {
    if !access.allows_cluster(broker, Operation::Describe) {
        return DescribeLogDirsResponse::default().with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    let wanted = |topic: &str, index: i32| {
        request
            .topics
            .as_ref()
            .is_none_or(|topics| topics.iter().any(|t| &*t.topic.0 == topic && t.partitions.contains(&index)))
    };
    let results = broker
        .config
        .log_dirs
        .iter()
        .map(|dir| {
            let mut topics: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
            for partition in broker.partitions() {
                if partition.log.dir().parent() != Some(dir.as_path()) || !wanted(&partition.topic, partition.index) {
                    continue;
                }
                topics.entry(partition.topic.clone()).or_default().push(
                    DescribeLogDirsPartition::default()
                        .with_partition_index(partition.index)
                        .with_partition_size(partition.log.size_bytes() as i64),
                );
            }
            let topics = topics
                .into_iter()
                .map(|(name, partitions)| {
                    DescribeLogDirsTopic::default().with_name(TopicName(text(name))).with_partitions(partitions)
                })
                .collect();
            DescribeLogDirsResult::default()
                .with_log_dir(text(dir.display().to_string()))
                .with_topics(topics)
                .with_total_bytes(-1)
                .with_usable_bytes(-1)
        })
        .collect();
    DescribeLogDirsResponse::default().with_results(results)
}
