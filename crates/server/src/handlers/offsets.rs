//! OffsetCommit, OffsetFetch (one group before v8, many after) and OffsetDelete.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use kafka_protocol::messages::*;

use super::text;
use crate::broker::Broker;
use crate::group::{CommitPartition, Committer};

fn partition_exists(broker: &Broker, topic: &str, partition: i32) -> bool {
    broker.topic(topic).is_some_and(|t| (0..t.partitions).contains(&partition))
}

pub(super) async fn commit(broker: &Arc<Broker>, request: OffsetCommitRequest, version: i16) -> OffsetCommitResponse {
    let not_coordinator = broker.check_coordinator(&request.group_id).err();
    // (topic, partition, error known before the coordinator sees it)
    let mut slots: Vec<(String, i32, Option<ResponseError>)> = Vec::new();
    let mut commits = Vec::new();
    for topic in &request.topics {
        for p in &topic.partitions {
            if let Some(e) = not_coordinator {
                slots.push((topic.name.to_string(), p.partition_index, Some(e)));
            } else if partition_exists(broker, &topic.name, p.partition_index) {
                commits.push(CommitPartition {
                    topic: topic.name.to_string(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: if version >= 6 { p.committed_leader_epoch } else { -1 },
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                });
                slots.push((topic.name.to_string(), p.partition_index, None));
            } else {
                slots.push((topic.name.to_string(), p.partition_index, Some(ResponseError::UnknownTopicOrPartition)));
            }
        }
    }
    let committer = Committer {
        member_id: &request.member_id,
        instance_id: request.group_instance_id.as_deref(),
        generation: request.generation_id_or_member_epoch,
        version,
    };
    let results = broker.groups.commit(broker, &request.group_id, committer, commits).await;
    let mut results = match results {
        Ok(per_partition) => per_partition.into_iter(),
        Err(e) => vec![Some(e); slots.iter().filter(|s| s.2.is_none()).count()].into_iter(),
    };
    let answers = slots.into_iter().map(|(topic, p, early)| (topic, (p, early.or_else(|| results.next().flatten()))));
    let topics = by_topic(answers)
        .into_iter()
        .map(|(topic, answers)| {
            OffsetCommitResponseTopic::default().with_name(TopicName(text(topic))).with_partitions(
                answers
                    .into_iter()
                    .map(|(p, error)| {
                        OffsetCommitResponsePartition::default()
                            .with_partition_index(p)
                            .with_error_code(error.map_or(0, |e| e.code()))
                    })
                    .collect(),
            )
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

/// Groups (topic, item) pairs by topic, keeping their order (responses list each topic once).
fn by_topic<T>(items: impl IntoIterator<Item = (String, T)>) -> Vec<(String, Vec<T>)> {
    let mut topics: Vec<(String, Vec<T>)> = Vec::new();
    for (topic, item) in items {
        match topics.last_mut() {
            Some((t, list)) if *t == topic => list.push(item),
            _ => topics.push((topic, vec![item])),
        }
    }
    topics
}

pub(super) fn fetch(broker: &Broker, request: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
    if version < 8 {
        if let Err(e) = broker.check_coordinator(&request.group_id) {
            return OffsetFetchResponse::default().with_error_code(e.code());
        }
        let wanted =
            request.topics.map(|ts| ts.into_iter().map(|t| (t.name.to_string(), t.partition_indexes)).collect());
        let offsets = broker.groups.fetch_offsets(&request.group_id, wanted);
        let topics = by_topic(offsets.into_iter().map(|o| (o.topic.clone(), o)))
            .into_iter()
            .map(|(topic, list)| {
                OffsetFetchResponseTopic::default().with_name(TopicName(text(topic))).with_partitions(
                    list.into_iter()
                        .map(|o| {
                            OffsetFetchResponsePartition::default()
                                .with_partition_index(o.partition)
                                .with_committed_offset(o.offset)
                                .with_committed_leader_epoch(o.leader_epoch)
                                .with_metadata(Some(text(o.metadata)))
                        })
                        .collect(),
                )
            })
            .collect();
        return OffsetFetchResponse::default().with_topics(topics);
    }
    let groups = request
        .groups
        .into_iter()
        .map(|g| {
            if let Err(e) = broker.check_coordinator(&g.group_id) {
                return OffsetFetchResponseGroup::default().with_group_id(g.group_id).with_error_code(e.code());
            }
            let wanted = g.topics.map(|ts| ts.into_iter().map(|t| (t.name.to_string(), t.partition_indexes)).collect());
            let offsets = broker.groups.fetch_offsets(&g.group_id, wanted);
            let topics = by_topic(offsets.into_iter().map(|o| (o.topic.clone(), o)))
                .into_iter()
                .map(|(topic, list)| {
                    OffsetFetchResponseTopics::default().with_name(TopicName(text(topic))).with_partitions(
                        list.into_iter()
                            .map(|o| {
                                OffsetFetchResponsePartitions::default()
                                    .with_partition_index(o.partition)
                                    .with_committed_offset(o.offset)
                                    .with_committed_leader_epoch(o.leader_epoch)
                                    .with_metadata(Some(text(o.metadata)))
                            })
                            .collect(),
                    )
                })
                .collect();
            OffsetFetchResponseGroup::default().with_group_id(g.group_id).with_topics(topics)
        })
        .collect();
    OffsetFetchResponse::default().with_groups(groups)
}

pub(super) async fn delete(broker: &Arc<Broker>, request: OffsetDeleteRequest) -> OffsetDeleteResponse {
    if let Err(e) = broker.check_coordinator(&request.group_id) {
        return OffsetDeleteResponse::default().with_error_code(e.code());
    }
    let mut slots: Vec<(String, i32, Option<ResponseError>)> = Vec::new();
    let mut doomed = Vec::new();
    for topic in &request.topics {
        for p in &topic.partitions {
            if partition_exists(broker, &topic.name, p.partition_index) {
                doomed.push((topic.name.to_string(), p.partition_index));
                slots.push((topic.name.to_string(), p.partition_index, None));
            } else {
                slots.push((topic.name.to_string(), p.partition_index, Some(ResponseError::UnknownTopicOrPartition)));
            }
        }
    }
    let mut results = match broker.groups.delete_offsets(broker, &request.group_id, &doomed).await {
        Ok(results) => results.into_iter(),
        Err(e) => return OffsetDeleteResponse::default().with_error_code(e.code()),
    };
    let answers = slots.into_iter().map(|(topic, p, early)| (topic, (p, early.or_else(|| results.next().flatten()))));
    let topics = by_topic(answers)
        .into_iter()
        .map(|(topic, answers)| {
            OffsetDeleteResponseTopic::default().with_name(TopicName(text(topic))).with_partitions(
                answers
                    .into_iter()
                    .map(|(p, error)| {
                        OffsetDeleteResponsePartition::default()
                            .with_partition_index(p)
                            .with_error_code(error.map_or(0, |e| e.code()))
                    })
                    .collect(),
            )
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}
