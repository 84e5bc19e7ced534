//! AlterPartitionReassignments and ListPartitionReassignments (`kafka-reassign-partitions`):
//! moving replicas, decided by the active controller (`brook_controller::reassignment`), and
//! the reassignments in progress.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};
use uuid::Uuid;

use super::text;
use crate::broker::{ApiError, Broker};

pub(super) async fn alter(
    broker: &Arc<Broker>,
    request: AlterPartitionReassignmentsRequest,
    version: i16,
) -> AlterPartitionReassignmentsResponse {
    // Version 0 cannot forbid it; from 1 the request says (KIP-860).
    let allow_resize = version < 1 || request.allow_replication_factor_change;
    // Refusals found here, by (topic, partition); the rest go to the controller in one request.
    let mut answers: BTreeMap<(String, i32), Option<ApiError>> = BTreeMap::new();
    let mut asked = Vec::new();
    let mut names: BTreeMap<Uuid, String> = BTreeMap::new();
    for topic in &request.topics {
        let name = topic.name.to_string();
        let meta = broker.topic(&name);
        for p in &topic.partitions {
            let key = (name.clone(), p.partition_index);
            let Some(meta) = meta.as_ref().filter(|m| m.partition(p.partition_index).is_some()) else {
                let e = ApiError::new(ResponseError::UnknownTopicOrPartition, "The partition does not exist.");
                answers.insert(key, Some(e));
                continue;
            };
            let target: Option<Vec<i32>> = p.replicas.as_ref().map(|r| r.iter().map(|b| b.0).collect());
            let current = meta.partition(p.partition_index).expect("checked");
            let original = current.replicas.len() - current.adding.len();
            if let Some(target) = target.as_ref().filter(|t| !allow_resize && t.len() != original) {
                let message = format!(
                    "The replication factor is changed from {original} to {} but allowReplicationFactorChange is false.",
                    target.len()
                );
                answers.insert(key, Some(ApiError::new(ResponseError::InvalidReplicationFactor, message)));
                continue;
            }
            names.insert(meta.id, name.clone());
            asked.push((meta.id, p.partition_index, target));
        }
    }
    if !asked.is_empty() {
        match broker.alter_reassignments(asked).await {
            Ok(outcomes) => {
                for (topic, index, error) in outcomes {
                    answers.insert((names.get(&topic).cloned().unwrap_or_default(), index), error);
                }
            }
            Err(e) => {
                return AlterPartitionReassignmentsResponse::default()
                    .with_error_code(e.code.code())
                    .with_error_message(Some(text(e.message)));
            }
        }
    }
    let mut topics: BTreeMap<String, Vec<ReassignablePartitionResponse>> = BTreeMap::new();
    for ((topic, index), error) in answers {
        let answer = ReassignablePartitionResponse::default().with_partition_index(index);
        topics.entry(topic).or_default().push(match error {
            None => answer,
            Some(e) => answer.with_error_code(e.code.code()).with_error_message(Some(text(e.message))),
        });
    }
    let responses = topics
        .into_iter()
        .map(|(name, partitions)| {
            ReassignableTopicResponse::default().with_name(TopicName(text(name))).with_partitions(partitions)
        })
        .collect();
    AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(allow_resize)
        .with_responses(responses)
}

/// The reassignments in progress, of the named partitions or of all.
pub(super) fn list(
    broker: &Arc<Broker>,
    request: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    let image = broker.metadata();
    let wanted: Option<BTreeMap<String, Vec<i32>>> =
        request.topics.map(|topics| topics.into_iter().map(|t| (t.name.to_string(), t.partition_indexes)).collect());
    let ids = |v: &[i32]| v.iter().copied().map(BrokerId).collect::<Vec<_>>();
    let topics = image
        .topics()
        .filter(|t| wanted.as_ref().is_none_or(|w| w.contains_key(&t.name)))
        .filter_map(|t| {
            let asked = wanted.as_ref().and_then(|w| w.get(&t.name));
            let partitions: Vec<OngoingPartitionReassignment> = t
                .assignments
                .iter()
                .enumerate()
                .filter(|(i, p)| p.reassigning() && asked.is_none_or(|a| a.contains(&(*i as i32))))
                .map(|(i, p)| {
                    OngoingPartitionReassignment::default()
                        .with_partition_index(i as i32)
                        .with_replicas(ids(&p.replicas))
                        .with_adding_replicas(ids(&p.adding))
                        .with_removing_replicas(ids(&p.removing))
                })
                .collect();
            (!partitions.is_empty()).then(|| {
                OngoingTopicReassignment::default()
                    .with_name(TopicName(text(t.name.clone())))
                    .with_partitions(partitions)
            })
        })
        .collect();
    ListPartitionReassignmentsResponse::default().with_topics(topics)
}
