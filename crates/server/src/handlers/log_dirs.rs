//! DescribeLogDirs (DESCRIBE on the cluster) and AlterReplicaLogDirs (ALTER on the cluster):
//! where each replica here lives among the configured `log.dirs`, and moving one to another.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use brook_security::acl::Operation;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_replica_log_dirs_response::{
    AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult,
};
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{
    AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse, DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName,
};

use super::text;
use crate::authorization::Access;
use crate::broker::{Broker, absolute};

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
    // (log dir, topic) -> partitions: the replicas, then the copies of those moving.
    let mut listed: BTreeMap<(&Path, String), Vec<DescribeLogDirsPartition>> = BTreeMap::new();
    let partitions = broker.partitions();
    let dirs = &broker.config.log_dirs;
    for partition in &partitions {
        let dir = partition.log.dir();
        let Some(log_dir) = dirs.iter().find(|d| dir.parent() == Some(d.as_path())) else { continue };
        if wanted(&partition.topic, partition.index) {
            listed.entry((log_dir, partition.topic.clone())).or_default().push(
                DescribeLogDirsPartition::default()
                    .with_partition_index(partition.index)
                    .with_partition_size(partition.log.size_bytes() as i64)
                    .with_offset_lag(0),
            );
        }
    }
    for ((topic, index), dest, future) in broker.moves.futures() {
        let (Some(log_dir), Some(future)) = (dirs.iter().find(|d| **d == dest), future) else { continue };
        let Some(current) = partitions.iter().find(|p| p.topic == topic && p.index == index) else { continue };
        if wanted(&topic, index) {
            let lag = (current.log.log_end_offset() - future.log_end_offset()).max(0);
            listed.entry((log_dir, topic)).or_default().push(
                DescribeLogDirsPartition::default()
                    .with_partition_index(index)
                    .with_partition_size(future.size_bytes() as i64)
                    .with_offset_lag(lag)
                    .with_is_future_key(true),
            );
        }
    }
    let results = dirs
        .iter()
        .map(|dir| {
            let topics = listed
                .iter()
                .filter(|((d, _), _)| *d == dir.as_path())
                .map(|((_, name), partitions)| {
                    DescribeLogDirsTopic::default()
                        .with_name(TopicName(text(name.clone())))
                        .with_partitions(partitions.clone())
                })
                .collect();
            let (total, usable) =
                brook_log::storage::disk_space(dir).map_or((-1, -1), |(total, usable)| (total as i64, usable as i64));
            DescribeLogDirsResult::default()
                .with_log_dir(text(absolute(dir).display().to_string()))
                .with_topics(topics)
                .with_total_bytes(total)
                .with_usable_bytes(usable)
        })
        .collect();
    DescribeLogDirsResponse::default().with_results(results)
}

pub(super) fn alter_replica_log_dirs(
    broker: &Arc<Broker>,
    request: AlterReplicaLogDirsRequest,
    access: &Access,
) -> AlterReplicaLogDirsResponse {
    let allowed = access.allows_cluster(broker, Operation::Alter);
    let mut results: BTreeMap<String, Vec<AlterReplicaLogDirPartitionResult>> = BTreeMap::new();
    for dir in request.dirs {
        let dest = broker.log_dir_named(&dir.path);
        for topic in dir.topics {
            for index in topic.partitions {
                let outcome = match &dest {
                    _ if !allowed => Err(ResponseError::ClusterAuthorizationFailed),
                    None => Err(ResponseError::LogDirNotFound),
                    Some(dest) => broker.alter_replica_log_dir(&topic.name, index, dest),
                };
                results.entry(topic.name.to_string()).or_default().push(
                    AlterReplicaLogDirPartitionResult::default()
                        .with_partition_index(index)
                        .with_error_code(outcome.err().map_or(0, |e| e.code())),
                );
            }
        }
    }
    let results = results
        .into_iter()
        .map(|(name, partitions)| {
            AlterReplicaLogDirTopicResult::default().with_topic_name(TopicName(text(name))).with_partitions(partitions)
        })
        .collect();
    AlterReplicaLogDirsResponse::default().with_results(results)
}
