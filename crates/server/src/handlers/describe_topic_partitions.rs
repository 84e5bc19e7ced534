//! DescribeTopicPartitions (KIP-966): Metadata's topic description, paged. Topics are answered
//! in name order, at most `response_partition_limit` partitions (and Kafka's 2,000) per answer,
//! with a cursor naming where the next page starts. As Kafka: a full listing skips topics the
//! client may not DESCRIBE, named ones come back TOPIC_AUTHORIZATION_FAILED after the others,
//! and a cursor must name one of the topics asked for and a partition index of at least 0.

use std::collections::BTreeSet;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName};
use uuid::Uuid;

use brook_security::acl::{Operation, ResourceType};

use super::text;
use crate::authorization::Access;
use crate::broker::{Broker, MetadataImage, TopicMeta, validate_topic_name};
use crate::internal_topic::is_internal;

/// Kafka's `max.request.partition.size.limit` default: the most partitions one answer holds.
const MAX_PARTITIONS_PER_ANSWER: i32 = 2000;

pub(super) fn handle(
    broker: &Arc<Broker>,
    request: DescribeTopicPartitionsRequest,
    access: &Access,
) -> DescribeTopicPartitionsResponse {
    let all = request.topics.is_empty();
    let cursor_topic = request.cursor.as_ref().map(|c| c.topic_name.0.to_string()).unwrap_or_default();
    let image = broker.image();
    let names: BTreeSet<String> = if all {
        image.topics().map(|t| t.name.clone()).filter(|n| *n >= cursor_topic).collect()
    } else {
        request.topics.iter().map(|t| t.name.0.to_string()).filter(|n| *n >= cursor_topic).collect()
    };
    let cursor_outside = !all && request.cursor.is_some() && !names.contains(&cursor_topic);
    if cursor_outside || request.cursor.as_ref().is_some_and(|c| c.partition_index < 0) {
        // Kafka answers an InvalidRequestException with the error on every topic asked for.
        let topics = request.topics.iter().map(|t| error_topic(t.name.0.to_string(), ResponseError::InvalidRequest));
        return DescribeTopicPartitionsResponse::default().with_topics(topics.collect());
    }
    let (allowed, denied): (Vec<String>, Vec<String>) =
        names.into_iter().partition(|name| access.allows(broker, Operation::Describe, ResourceType::Topic, name));
    let first_partition = match &request.cursor {
        Some(c)
            if !cursor_topic.is_empty()
                && access.allows(broker, Operation::Describe, ResourceType::Topic, &cursor_topic) =>
        {
            c.partition_index
        }
        _ => 0,
    };
    // Kafka 4.4 answers at least one partition, whatever the limit asked.
    let mut remaining = request.response_partition_limit.clamp(1, MAX_PARTITIONS_PER_ANSWER);
    let mut topics = Vec::new();
    let mut next_cursor = None;
    for name in allowed {
        if remaining == 0 {
            // The next page starts at this topic (which may not exist, as in Kafka).
            next_cursor = Some(Cursor::default().with_topic_name(TopicName(text(name))).with_partition_index(0));
            break;
        }
        let start = if name == cursor_topic { first_partition } else { 0 };
        let Some(topic) = image.topic(&name) else {
            if !all {
                let code =
                    validate_topic_name(&name).map_or_else(|e| e.code, |_| ResponseError::UnknownTopicOrPartition);
                let internal = is_internal(&name);
                topics.push(error_topic(name, code).with_is_internal(internal));
            }
            continue;
        };
        let (partitions, next) = page(&image, topic, start, remaining);
        remaining -= partitions.len() as i32;
        topics.push(
            DescribeTopicPartitionsResponseTopic::default()
                .with_name(Some(TopicName(text(name.clone()))))
                .with_topic_id(topic.id)
                .with_is_internal(is_internal(&name))
                .with_partitions(partitions),
        );
        if let Some(next) = next {
            next_cursor = Some(Cursor::default().with_topic_name(TopicName(text(name))).with_partition_index(next));
            break;
        }
    }
    drop(image);
    for topic in &mut topics {
        let name = topic.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
        topic.topic_authorized_operations = access.operations(broker, ResourceType::Topic, &name);
    }
    // A full listing does not disclose the topics it leaves out.
    if !all {
        topics.extend(denied.into_iter().map(|name| error_topic(name, ResponseError::TopicAuthorizationFailed)));
    }
    DescribeTopicPartitionsResponse::default().with_topics(topics).with_next_cursor(next_cursor)
}

/// The partitions of `topic` from `start`, at most `most` of them, and the index the next page
/// starts at if any are left.
fn page(
    image: &MetadataImage,
    topic: &TopicMeta,
    start: i32,
    most: i32,
) -> (Vec<DescribeTopicPartitionsResponsePartition>, Option<i32>) {
    let count = topic.partitions;
    let upper = count.min(start.saturating_add(most));
    let ids = |nodes: &[i32]| nodes.iter().map(|id| BrokerId(*id)).collect::<Vec<_>>();
    let partitions = (start..upper)
        .filter_map(|index| Some((index, topic.partition(index)?)))
        .map(|(index, p)| {
            let offline: Vec<i32> =
                p.replicas.iter().copied().filter(|id| image.brokers.get(id).is_none_or(|b| b.fenced)).collect();
            // A leader Kafka has no registration for is shown as none.
            let leader = if image.brokers.contains_key(&p.leader) { p.leader } else { brook_controller::NO_LEADER };
            DescribeTopicPartitionsResponsePartition::default()
                .with_partition_index(index)
                .with_leader_id(BrokerId(leader))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(ids(&p.replicas))
                .with_isr_nodes(ids(&p.isr))
                .with_eligible_leader_replicas(Some(Vec::new()))
                .with_last_known_elr(Some(Vec::new()))
                .with_offline_replicas(ids(&offline))
        })
        .collect();
    (partitions, (upper < count).then_some(upper))
}

fn error_topic(name: String, code: ResponseError) -> DescribeTopicPartitionsResponseTopic {
    DescribeTopicPartitionsResponseTopic::default()
        .with_error_code(code.code())
        .with_name(Some(TopicName(text(name))))
        .with_topic_id(Uuid::nil())
}
