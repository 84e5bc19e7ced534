//! CreateTopics, with `validate_only` and manual replica assignments; decided by the active
//! controller. With an authorizer, creating needs CREATE on the cluster or the topic, and the
//! answer shows the topic's configs only with DESCRIBE_CONFIGS on it.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use brook_controller::controller::{MAX_PARTITIONS_PER_REQUEST, MAX_RECORDS_PER_REQUEST};
use brook_security::acl::{Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::{error_message, text};
use crate::authorization::Access;
use crate::broker::{ApiError, Broker};
use crate::topic_config::{TOPIC_CONFIGS, default_value};

/// Kafka's `ConfigSource` values.
const SOURCE_TOPIC: i8 = 1;
const SOURCE_DEFAULT: i8 = 5;

pub(super) async fn handle(
    broker: &Arc<Broker>,
    request: CreateTopicsRequest,
    _version: i16,
    access: Access,
) -> CreateTopicsResponse {
    let mut seen = HashSet::new();
    let duplicates: HashSet<String> =
        request.topics.iter().map(|t| t.name.0.to_string()).filter(|n| !seen.insert(n.clone())).collect();
    let too_large = too_large(&request, broker.config.num_partitions);
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let result = CreatableTopicResult::default().with_name(topic.name.clone()).with_error_message(None);
        let outcome = if let Some(e) = &too_large {
            Err(e.clone())
        } else if !access.may_create_topic(broker, &name) {
            Err(ApiError::new(ResponseError::TopicAuthorizationFailed, "Authorization failed."))
        } else if duplicates.contains(&name) {
            Err(ApiError::new(
                ResponseError::InvalidRequest,
                format!("Create topics request from client contains a duplicate topic {name}"),
            ))
        } else {
            let configs: BTreeMap<String, String> = topic
                .configs
                .iter()
                .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
                .collect();
            let mut assignments: Vec<_> = topic.assignments.iter().collect();
            let mut indexes = HashSet::new();
            let repeated = assignments.iter().find(|a| !indexes.insert(a.partition_index)).map(|a| a.partition_index);
            assignments.sort_by_key(|a| a.partition_index);
            let assignment: Vec<Vec<i32>> =
                assignments.iter().map(|a| a.broker_ids.iter().map(|b| b.0).collect()).collect();
            let manual = |what: &str| {
                Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    format!("A manual partition assignment was specified, but {what} was not set to -1."),
                ))
            };
            if !assignment.is_empty() && topic.replication_factor != -1 {
                manual("replication factor")
            } else if !assignment.is_empty() && topic.num_partitions != -1 {
                manual("numPartitions")
            } else if let Some(index) = repeated {
                Err(ApiError::new(
                    ResponseError::InvalidReplicaAssignment,
                    format!("Found multiple manual partition assignments for partition {index}"),
                ))
            } else if assignments.iter().enumerate().any(|(i, a)| a.partition_index != i as i32) {
                Err(ApiError::new(
                    ResponseError::InvalidReplicaAssignment,
                    "partitions should be a consecutive 0-based integer sequence",
                ))
            } else {
                broker
                    .create_topic(
                        &name,
                        topic.num_partitions,
                        topic.replication_factor,
                        assignment,
                        configs,
                        request.validate_only,
                    )
                    .await
            }
        };
        results.push(match outcome {
            Ok(meta) => {
                let defaults = broker.topic_defaults();
                let configs = TOPIC_CONFIGS
                    .iter()
                    .map(|(key, _)| {
                        let (value, source) = match meta.configs.get(*key) {
                            Some(v) => (v.clone(), SOURCE_TOPIC),
                            None => (default_value(key, &defaults), SOURCE_DEFAULT),
                        };
                        CreatableTopicConfigs::default()
                            .with_name(text(*key))
                            .with_value(Some(text(value)))
                            .with_config_source(source)
                    })
                    .collect();
                let replication_factor = meta.assignments.first().map_or(1, |p| p.replicas.len() as i16);
                let result = result
                    .with_topic_id(meta.id)
                    .with_num_partitions(meta.partitions)
                    .with_replication_factor(replication_factor);
                match access.sees(broker, Operation::DescribeConfigs, ResourceType::Topic, &name) {
                    true => result.with_configs(Some(configs)),
                    false => result.with_topic_config_error_code(ResponseError::TopicAuthorizationFailed.code()),
                }
            }
            Err(e) => result
                .with_error_code(e.code.code())
                .with_error_message(error_message(e))
                .with_num_partitions(-1)
                .with_replication_factor(-1),
        });
    }
    CreateTopicsResponse::default().with_topics(results)
}

/// Kafka's bounds on one request, checked before anything else: the partitions of all its
/// topics, then the metadata records they would take (a topic, its partitions, its configs).
fn too_large(request: &CreateTopicsRequest, default_partitions: i32) -> Option<ApiError> {
    let partitions = |t: &CreatableTopic| match (t.assignments.len(), t.num_partitions) {
        (0, -1) => default_partitions.max(0) as usize,
        (0, n) => n.max(0) as usize,
        (assigned, _) => assigned,
    };
    let total: usize = request.topics.iter().map(partitions).sum();
    let records: usize = request.topics.iter().map(|t| 1 + partitions(t) + t.configs.len()).sum();
    if total > MAX_PARTITIONS_PER_REQUEST as usize {
        Some(ApiError::new(ResponseError::PolicyViolation, "Excessively large number of partitions per request."))
    } else if records > MAX_RECORDS_PER_REQUEST {
        Some(ApiError::new(ResponseError::PolicyViolation, "Unable to perform excessively large batch operation."))
    } else {
        None
    }
}
