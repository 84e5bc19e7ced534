//! Topics: list (with search), create, describe (partitions and configs), change configs,
//! delete. Changes go through the broker's metadata log exactly as the Kafka APIs' do.

use std::collections::{BTreeMap, HashMap};

use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use brook_security::acl::{Operation, ResourceType};
use brook_server::authorization::Access;
use brook_server::broker::Broker;
use brook_server::broker::{PartitionMeta, TopicMeta};

use brook_server::topic_config::{self, TOPIC_CONFIGS};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::http::{ApiResult, HttpError, forbidden, ok_json, parse_body, read_body, require};

/// A topic's offsets and size, summed over its partitions.
pub(crate) struct TopicTotals {
    pub(crate) messages: i64,
    pub(crate) size_bytes: u64,
}

pub(crate) fn totals(broker: &Broker, topic: &TopicMeta) -> TopicTotals {
    let mut totals = TopicTotals { messages: 0, size_bytes: 0 };
    for p in (0..topic.partitions).filter_map(|i| broker.partition(&topic.name, i)) {
        totals.messages += p.log.high_watermark() - p.log.log_start_offset();
        totals.size_bytes += p.log.size_bytes();
    }
    totals
}

pub(crate) fn is_internal(name: &str) -> bool {
    brook_server::internal_topic::is_internal(name)
}

/// The replication factor the topic's partitions have (or will have once a move ends).
fn replication_factor(topic: &TopicMeta) -> usize {
    topic.assignments.first().map_or(0, |p| p.replicas.len() - p.removing.len())
}

/// A partition is under-replicated when some replica is out of its ISR, offline when nobody
/// leads it (the `kafka-topics --describe` filters).
pub(crate) fn under_replicated(p: &PartitionMeta) -> bool {
    p.isr.len() < p.replicas.len()
}

pub(crate) fn offline(p: &PartitionMeta) -> bool {
    p.leader < 0
}

/// The topics the user may describe (all of them without an authorizer), as Metadata lists them.
pub(crate) fn visible(broker: &Broker, access: &Access) -> Vec<TopicMeta> {
    let image = broker.image();
    let visible = |t: &&TopicMeta| access.sees_in(&image.acls, Operation::Describe, ResourceType::Topic, &t.name);
    image.topics().filter(visible).cloned().collect()
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let search = query.get("search").map(|s| s.to_lowercase()).unwrap_or_default();
    let mut topics = visible(&state.broker, &access);
    topics.retain(|t| t.name.to_lowercase().contains(&search));
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    let rows: Vec<Value> = topics
        .iter()
        .map(|t| {
            let totals = totals(&state.broker, t);
            json!({
                "name": t.name,
                "id": t.id.to_string(),
                "partitions": t.partitions,
                "replication_factor": replication_factor(t),
                "under_replicated": t.assignments.iter().filter(|p| under_replicated(p)).count(),
                "offline": t.assignments.iter().filter(|p| offline(p)).count(),
                "internal": is_internal(&t.name),
                "messages": totals.messages,
                "size_bytes": totals.size_bytes,
            })
        })
        .collect();
    Ok(ok_json(json!({ "topics": rows })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTopic {
    name: String,
    #[serde(default = "default_count")]
    partitions: i32,
    #[serde(default = "default_count")]
    replication_factor: i16,
    #[serde(default)]
    configs: BTreeMap<String, String>,
}

/// `-1`: the broker's `num.partitions` / `default.replication.factor`, as in CreateTopics.
fn default_count<T: From<i8>>() -> T {
    T::from(-1)
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    body: Body,
) -> ApiResult {
    let request: CreateTopic = parse_body(&read_body(body).await?)?;
    if !access.may_create_topic(&state.broker, request.name.trim()) {
        let message = format!("Not authorized to CREATE topic '{}'.", request.name.trim());
        return Err(forbidden(ResourceType::Topic, message));
    }
    let topic = state
        .broker
        .create_topic(
            request.name.trim(),
            request.partitions,
            request.replication_factor,
            Vec::new(),
            request.configs,
            false,
        )
        .await?;
    Ok((StatusCode::CREATED, describe_json(&state.broker, &access, &topic)).into_response())
}

pub(crate) async fn describe(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    Path(name): Path<String>,
) -> ApiResult {
    let topic = find(&state.broker, &access, Operation::Describe, &name)?;
    Ok(describe_json(&state.broker, &access, &topic))
}

/// The topic, if the user may do `operation` on it; as Kafka does, one the user may not
/// touch is refused the same whether it exists or not.
pub(crate) fn find(broker: &Broker, access: &Access, operation: Operation, name: &str) -> Result<TopicMeta, HttpError> {
    require(access, broker, operation, ResourceType::Topic, name)?;
    broker.topic(name).ok_or_else(|| HttpError::not_found(format!("Topic '{name}' does not exist.")))
}

/// Each partition as the metadata places it (leader, replicas, ISR), with the offsets and size
/// of this broker's copy when it hosts one (`null` otherwise).
fn describe_json(broker: &Broker, access: &Access, topic: &TopicMeta) -> axum::response::Response {
    let partitions: Vec<Value> = topic
        .assignments
        .iter()
        .enumerate()
        .map(|(i, meta)| {
            let local = broker.partition(&topic.name, i as i32).filter(|p| p.topic_id == topic.id);
            json!({
                "partition": i,
                "leader": meta.leader,
                "replicas": meta.replicas,
                "isr": meta.isr,
                "adding": meta.adding,
                "removing": meta.removing,
                "under_replicated": under_replicated(meta),
                "offline": offline(meta),
                "hosted": local.is_some(),
                "start_offset": local.as_ref().map(|p| p.log.log_start_offset()),
                "end_offset": local.as_ref().map(|p| p.log.high_watermark()),
                // Where read_committed consumers stop: the first open transaction's start.
                "stable_offset": local.as_ref().map(|p| p.last_stable_offset()),
                "open_transactions": local.as_ref().map(|p| p.open_transactions()),
                "size_bytes": local.as_ref().map(|p| p.log.size_bytes()),
                "segments": local.as_ref().map(|p| p.log.segment_count()),
            })
        })
        .collect();
    let totals = totals(broker, topic);
    ok_json(json!({
        "name": topic.name,
        "id": topic.id.to_string(),
        "internal": is_internal(&topic.name),
        "replication_factor": replication_factor(topic),
        "messages": totals.messages,
        "size_bytes": totals.size_bytes,
        "partitions": partitions,
        // Shown to those who may describe them (DescribeConfigs' check), else null.
        "configs": access
            .sees(broker, Operation::DescribeConfigs, ResourceType::Topic, &topic.name)
            .then(|| configs_json(broker, topic)),
    }))
}

/// Every topic config with its effective value and where that comes from, as
/// `kafka-configs --describe --all` lists them.
fn configs_json(broker: &Broker, topic: &TopicMeta) -> Vec<Value> {
    let defaults = broker.topic_defaults();
    TOPIC_CONFIGS
        .iter()
        .map(|(key, _)| {
            let default = topic_config::default_value(key, &defaults);
            match topic.configs.get(*key) {
                Some(value) => json!({ "name": key, "value": value, "source": "topic", "default": default }),
                None => json!({ "name": key, "value": default, "source": "default", "default": default }),
            }
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigChanges {
    /// Keys to set, or with `null` to return to the default (IncrementalAlterConfigs' SET and
    /// DELETE).
    configs: BTreeMap<String, Option<String>>,
}

pub(crate) async fn alter_configs(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult {
    let request: ConfigChanges = parse_body(&read_body(body).await?)?;
    let topic = find(&state.broker, &access, Operation::AlterConfigs, &name)?;
    let mut configs = topic.configs.clone();
    for (key, value) in request.configs {
        if !TOPIC_CONFIGS.iter().any(|(k, _)| *k == key) {
            return Err(HttpError::bad_request(format!("Unknown topic config name: {key}")));
        }
        match value {
            Some(value) => configs.insert(key, value),
            None => configs.remove(&key),
        };
    }
    state.broker.set_topic_configs(&name, configs, false).await?;
    let topic =
        state.broker.topic(&name).ok_or_else(|| HttpError::not_found(format!("Topic '{name}' was deleted.")))?;
    Ok(describe_json(&state.broker, &access, &topic))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    Path(name): Path<String>,
) -> ApiResult {
    let topic = find(&state.broker, &access, Operation::Delete, &name)?;
    if is_internal(&topic.name) {
        return Err(HttpError::bad_request(format!("Topic '{name}' is internal and cannot be deleted here.")));
    }
    state.broker.delete_topic(topic.id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
