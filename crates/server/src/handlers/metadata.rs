//! Metadata: brokers (this one), topics and partitions, with auto-creation as Kafka's
//! `auto.create.topics.enable` allows. One broker leads every partition and is its only replica.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use uuid::Uuid;

use super::text;
use crate::broker::{Broker, validate_topic_name};
use crate::metadata::TopicMeta;

pub(super) async fn handle(broker: &Arc<Broker>, request: MetadataRequest, version: i16) -> MetadataResponse {
    let node = BrokerId(broker.config.node_id);
    let topics = match request.topics {
        None => broker.metadata().topics().map(|t| describe(t, node)).collect(),
        Some(wanted) => {
            let mut out = Vec::with_capacity(wanted.len());
            for topic in wanted {
                let name = topic.name.as_ref().map(|n| n.0.to_string());
                out.push(match (name, topic.topic_id) {
                    (Some(name), _) => by_name(broker, &name, request.allow_auto_topic_creation || version < 4).await,
                    (None, id) if !id.is_nil() => match broker.topic_by_id(&id) {
                        Some(t) => describe(&t, node),
                        None => error_topic(None, id, ResponseError::UnknownTopicId),
                    },
                    (None, id) => error_topic(None, id, ResponseError::InvalidRequest),
                });
            }
            out
        }
    };
    let self_broker = MetadataResponseBroker::default()
        .with_node_id(node)
        .with_host(text(broker.config.advertised_host.clone()))
        .with_port(i32::from(broker.config.advertised_port));
    MetadataResponse::default()
        .with_brokers(vec![self_broker])
        .with_cluster_id(Some(text(broker.cluster_id())))
        .with_controller_id(node)
        .with_topics(topics)
}

async fn by_name(broker: &Arc<Broker>, name: &str, allow_auto_create: bool) -> MetadataResponseTopic {
    let node = BrokerId(broker.config.node_id);
    if let Some(topic) = broker.topic(name) {
        return describe(&topic, node);
    }
    if let Err(e) = validate_topic_name(name) {
        return error_topic(Some(name), Uuid::nil(), e.code);
    }
    if !(allow_auto_create && broker.config.auto_create_topics_enable) {
        return error_topic(Some(name), Uuid::nil(), ResponseError::UnknownTopicOrPartition);
    }
    match broker.create_topic(name, -1, -1, BTreeMap::new(), false).await {
        Ok(topic) => describe(&topic, node),
        // Another request created it meanwhile.
        Err(e) if e.code == ResponseError::TopicAlreadyExists => match broker.topic(name) {
            Some(topic) => describe(&topic, node),
            None => error_topic(Some(name), Uuid::nil(), ResponseError::UnknownTopicOrPartition),
        },
        Err(e) => error_topic(Some(name), Uuid::nil(), e.code),
    }
}

fn describe(topic: &TopicMeta, node: BrokerId) -> MetadataResponseTopic {
    let partitions = (0..topic.partitions)
        .map(|index| {
            MetadataResponsePartition::default()
                .with_partition_index(index)
                .with_leader_id(node)
                .with_leader_epoch(0)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(text(topic.name.clone()))))
        .with_topic_id(topic.id)
        .with_is_internal(topic.name == crate::group::OFFSETS_TOPIC)
        .with_partitions(partitions)
}

fn error_topic(name: Option<&str>, id: Uuid, code: ResponseError) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(code.code())
        .with_name(name.map(|n| TopicName(text(n))))
        .with_topic_id(id)
}
