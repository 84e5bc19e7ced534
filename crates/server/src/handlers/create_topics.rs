//! CreateTopics, with `validate_only`; one broker means a replication factor of 1.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::text;
use crate::broker::{ApiError, Broker};
use crate::topic_config::{TOPIC_CONFIGS, default_value};

/// Kafka's `ConfigSource` values.
const SOURCE_TOPIC: i8 = 1;
const SOURCE_DEFAULT: i8 = 5;

pub(super) async fn handle(broker: &Arc<Broker>, request: CreateTopicsRequest, _version: i16) -> CreateTopicsResponse {
    let mut seen = HashSet::new();
    let duplicates: HashSet<String> =
        request.topics.iter().map(|t| t.name.0.to_string()).filter(|n| !seen.insert(n.clone())).collect();
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let result = CreatableTopicResult::default().with_name(topic.name.clone());
        let outcome = if duplicates.contains(&name) {
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
            let (partitions, replication_factor) = if topic.assignments.is_empty() {
                (topic.num_partitions, topic.replication_factor)
            } else {
                let replicas = topic.assignments.iter().map(|a| a.broker_ids.len()).max().unwrap_or(0);
                (topic.assignments.len() as i32, replicas as i16)
            };
            broker.create_topic(&name, partitions, replication_factor, configs, request.validate_only).await
        };
        results.push(match outcome {
            Ok(meta) => {
                let log = broker.config.log.clone();
                let configs = TOPIC_CONFIGS
                    .iter()
                    .map(|(key, _)| {
                        let (value, source) = match meta.configs.get(*key) {
                            Some(v) => (v.clone(), SOURCE_TOPIC),
                            None => (default_value(key, &log), SOURCE_DEFAULT),
                        };
                        CreatableTopicConfigs::default()
                            .with_name(text(*key))
                            .with_value(Some(text(value)))
                            .with_config_source(source)
                    })
                    .collect();
                result
                    .with_topic_id(meta.id)
                    .with_num_partitions(meta.partitions)
                    .with_replication_factor(1)
                    .with_configs(Some(configs))
            }
            Err(e) => result
                .with_error_code(e.code.code())
                .with_error_message(Some(text(e.message)))
                .with_num_partitions(-1)
                .with_replication_factor(-1),
        });
    }
    CreateTopicsResponse::default().with_topics(results)
}
