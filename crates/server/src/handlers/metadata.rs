//! Metadata: the live brokers, topics and partitions with their leaders, replicas and ISR, as
//! this broker's metadata image has them; auto-creation as Kafka's `auto.create.topics.enable`
//! allows. With an authorizer, a topic the client may not DESCRIBE is left out of a full
//! listing and TOPIC_AUTHORIZATION_FAILED when named; auto-creation needs CREATE.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use uuid::Uuid;

use brook_security::acl::{Operation, ResourceType};

use super::text;
use crate::authorization::Access;
use crate::broker::{Broker, validate_topic_name};
use crate::broker::{MetadataImage, TopicMeta};

pub(super) async fn handle(
    broker: &Arc<Broker>,
    request: MetadataRequest,
    version: i16,
    listener: &str,
    access: Access,
) -> MetadataResponse {
    let describable = |name: &str| access.allows(broker, Operation::Describe, ResourceType::Topic, name);
    let mut topics: Vec<MetadataResponseTopic> = match request.topics {
        None => {
            let image = broker.image();
            let visible =
                |t: &&TopicMeta| access.sees_in(&image.acls, Operation::Describe, ResourceType::Topic, &t.name);
            image.topics().filter(visible).map(|t| describe(&image, t)).collect()
        }
        Some(wanted) => {
            let mut out = Vec::with_capacity(wanted.len());
            for topic in wanted {
                let name = topic.name.as_ref().map(|n| n.0.to_string());
                // A topic id, when given, is what is asked for (the Java client sends "" as
                // the name then, as Kafka reads it).
                out.push(match (name, topic.topic_id) {
                    (_, id) if !id.is_nil() => match broker.topic_by_id(&id) {
                        Some(t) if !describable(&t.name) => {
                            error_topic(None, id, ResponseError::TopicAuthorizationFailed)
                        }
                        Some(t) => describe(&broker.image(), &t),
                        None => error_topic(None, id, ResponseError::UnknownTopicId),
                    },
                    (Some(name), _) if !describable(&name) => {
                        error_topic(Some(&name), Uuid::nil(), ResponseError::TopicAuthorizationFailed)
                    }
                    (Some(name), _) => {
                        let auto_create = request.allow_auto_topic_creation || version < 4;
                        by_name(broker, &name, auto_create, &access).await
                    }
                    (None, id) => error_topic(None, id, ResponseError::InvalidRequest),
                });
            }
            out
        }
    };
    if request.include_topic_authorized_operations {
        for topic in topics.iter_mut().filter(|t| t.error_code == 0) {
            let name = topic.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
            topic.topic_authorized_operations = access.operations(broker, ResourceType::Topic, &name);
        }
    }
    let (brokers, controller) = live_brokers(broker, listener);
    let cluster_operations = match request.include_cluster_authorized_operations {
        true => access.operations(broker, ResourceType::Cluster, brook_security::acl::CLUSTER_NAME),
        false => i32::MIN,
    };
    MetadataResponse::default()
        .with_cluster_authorized_operations(cluster_operations)
        .with_brokers(brokers)
        .with_cluster_id(Some(text(broker.cluster_id())))
        .with_controller_id(controller)
        .with_topics(topics)
}

/// The live brokers, and the controller id clients are told.
fn live_brokers(broker: &Broker, listener: &str) -> (Vec<MetadataResponseBroker>, BrokerId) {
    let live = broker.live_brokers_on(listener);
    let controller = BrokerId(broker.controller_id_for_clients(&live));
    let brokers = live
        .into_iter()
        .map(|b| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.node_id))
                .with_host(text(b.host))
                .with_port(i32::from(b.port))
                .with_rack(b.rack.map(text))
        })
        .collect();
    (brokers, controller)
}

async fn by_name(broker: &Arc<Broker>, name: &str, allow_auto_create: bool, access: &Access) -> MetadataResponseTopic {
    if let Some(topic) = broker.topic(name) {
        return describe(&broker.image(), &topic);
    }
    if let Err(e) = validate_topic_name(name) {
        return error_topic(Some(name), Uuid::nil(), e.code);
    }
    if !(allow_auto_create && broker.config.auto_create_topics_enable) {
        return error_topic(Some(name), Uuid::nil(), ResponseError::UnknownTopicOrPartition);
    }
    if !access.may_create_topic(broker, name) {
        return error_topic(Some(name), Uuid::nil(), ResponseError::TopicAuthorizationFailed);
    }
    match broker.create_topic(name, -1, -1, Vec::new(), BTreeMap::new(), false).await {
        Ok(topic) => describe(&broker.image(), &topic),
        // Another request created it meanwhile.
        Err(e) if e.code == ResponseError::TopicAlreadyExists => match broker.topic(name) {
            Some(topic) => describe(&broker.image(), &topic),
            None => error_topic(Some(name), Uuid::nil(), ResponseError::UnknownTopicOrPartition),
        },
        Err(e) => error_topic(Some(name), Uuid::nil(), e.code),
    }
}

/// Whether the client may create the topic `name`: CREATE on the cluster or on the topic.
fn describe(image: &MetadataImage, topic: &TopicMeta) -> MetadataResponseTopic {
    let live = |id: &i32| image.brokers.get(id).is_some_and(|b| !b.fenced);
    let ids = |nodes: &[i32]| nodes.iter().map(|id| BrokerId(*id)).collect::<Vec<_>>();
    let partitions = topic
        .assignments
        .iter()
        .enumerate()
        .map(|(index, p)| {
            let offline: Vec<i32> = p.replicas.iter().copied().filter(|id| !live(id)).collect();
            // A partition without a leader is LEADER_NOT_AVAILABLE, as Kafka answers it.
            let error =
                if p.leader == brook_controller::NO_LEADER { ResponseError::LeaderNotAvailable.code() } else { 0 };
            MetadataResponsePartition::default()
                .with_error_code(error)
                .with_partition_index(index as i32)
                .with_leader_id(BrokerId(p.leader))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(ids(&p.replicas))
                .with_isr_nodes(ids(&p.isr))
                .with_offline_replicas(ids(&offline))
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(text(topic.name.clone()))))
        .with_topic_id(topic.id)
        .with_is_internal(crate::internal_topic::is_internal(&topic.name))
        .with_partitions(partitions)
}

fn error_topic(name: Option<&str>, id: Uuid, code: ResponseError) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(code.code())
        .with_name(name.map(|n| TopicName(text(n))))
        .with_topic_id(id)
}
