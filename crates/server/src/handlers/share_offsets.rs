//! Share group offsets on the group's coordinator: DescribeShareGroupOffsets (each
//! share-partition's start offset and lag), AlterShareGroupOffsets and
//! DeleteShareGroupOffsets (only while the group has no member), and DeleteGroups for share
//! groups; and the share coordinator's state APIs they use between brokers
//! (ReadShareGroupStateSummary, InitializeShareGroupState, DeleteShareGroupState).
//!
//! As Kafka 4.4: a topic that does not exist is described with start offset -1 (as OffsetFetch
//! shows no offset), and refused with UNKNOWN_TOPIC_OR_PARTITION by alter and delete;
//! altering the offsets of a group that does not exist makes it. Authorization: describing
//! needs DESCRIBE on the group and the topics, altering READ on both, deleting DELETE on the
//! group and READ on the topics.

use std::collections::BTreeMap;
use std::time::Duration;

use brook_security::acl::{Operation, ResourceType};
use brook_share::records::Key;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    AlterShareGroupOffsetsRequest, AlterShareGroupOffsetsResponse, DeleteShareGroupOffsetsRequest,
    DeleteShareGroupOffsetsResponse, DeleteShareGroupStateRequest, DeleteShareGroupStateResponse,
    DescribeShareGroupOffsetsRequest, DescribeShareGroupOffsetsResponse, InitializeShareGroupStateRequest,
    InitializeShareGroupStateResponse, ReadShareGroupStateSummaryRequest, ReadShareGroupStateSummaryResponse,
    TopicName, alter_share_group_offsets_response, delete_share_group_offsets_response,
    delete_share_group_state_response, describe_share_group_offsets_response, initialize_share_group_state_response,
    read_share_group_state_summary_response,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::groups::group_gate;
use super::text;
use crate::authorization::Access;
use crate::broker::{ApiError, Broker};

/// UNKNOWN_TOPIC_OR_PARTITION with Kafka's message.
fn unknown_partition() -> Outcome {
    (ResponseError::UnknownTopicOrPartition.code(), Some(text("This server does not host this topic-partition.")))
}

/// How long an admin request waits for the share coordinators it needs.
const COORDINATOR_WAIT: Duration = Duration::from_secs(10);

/// Makes the share state topic if there is none yet, and waits for the coordinators of `parts`.
async fn coordinators_ready(broker: &Broker, group: &str, parts: &[(Uuid, i32)]) -> Result<(), ApiError> {
    broker.ensure_internal_topic(&broker.config.share.state_topic()).await?;
    broker.shares.await_coordinators(broker, group, parts, COORDINATOR_WAIT).await;
    Ok(())
}

/// An error code and message for a response.
type Outcome = (i16, Option<StrBytes>);

fn refusal(code: ResponseError) -> Outcome {
    (code.code(), Some(text(code.to_string())))
}

fn outcome(result: &Result<(), ApiError>) -> Outcome {
    match result {
        Ok(()) => (0, None),
        Err(e) => (e.code.code(), Some(text(e.message.clone()))),
    }
}

/// Why a group's offsets cannot be touched: not this coordinator, not allowed, or not a
/// share group.
fn gate(broker: &Broker, access: &Access, operation: Operation, group: &str) -> Result<(), (ResponseError, String)> {
    group_gate(broker, access, operation, group).map_err(|code| (code, code.to_string()))?;
    if broker.groups.group_type(group).is_some() {
        return Err((ResponseError::GroupIdNotFound, format!("Group {group} is not a share group.")));
    }
    Ok(())
}

pub(super) async fn describe(
    broker: &Broker,
    request: DescribeShareGroupOffsetsRequest,
    access: Access,
) -> DescribeShareGroupOffsetsResponse {
    use describe_share_group_offsets_response::{
        DescribeShareGroupOffsetsResponseGroup as Group, DescribeShareGroupOffsetsResponsePartition as Partition,
        DescribeShareGroupOffsetsResponseTopic as Topic,
    };
    let uninitialized = |index: i32| Partition::default().with_partition_index(index).with_start_offset(-1);
    let mut groups = Vec::with_capacity(request.groups.len());
    for g in request.groups {
        let group_id = g.group_id.to_string();
        let group = Group::default().with_group_id(g.group_id.clone());
        if let Err((code, message)) = gate(broker, &access, Operation::Describe, &group_id) {
            groups.push(group.with_error_code(code.code()).with_error_message(Some(text(message))));
            continue;
        }
        // The topics asked for by name and partition, or every one the group knows.
        let asked: Vec<(String, Vec<i32>)> = match g.topics {
            Some(topics) => topics.into_iter().map(|t| (t.topic_name.to_string(), t.partitions)).collect(),
            None => match broker.shares.known_partitions(&group_id) {
                // Kafka 4.4 answers NOT_COORDINATOR here, which its clients retry until they
                // time out; GROUP_ID_NOT_FOUND ends the request at once.
                None => {
                    let code = ResponseError::GroupIdNotFound;
                    let message = format!("Group {group_id} not found.");
                    groups.push(group.with_error_code(code.code()).with_error_message(Some(text(message))));
                    continue;
                }
                Some(known) => {
                    let image = broker.image();
                    let mut by_name: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                    for (topic_id, p) in known {
                        if let Some(t) = image.topic_by_id(&topic_id) {
                            by_name.entry(t.name.clone()).or_default().push(p);
                        }
                    }
                    by_name.into_iter().collect()
                }
            },
        };
        let mut topics = Vec::with_capacity(asked.len());
        for (name, partitions) in asked {
            let topic = Topic::default().with_topic_name(TopicName(text(name.clone())));
            if !access.allows(broker, Operation::Describe, ResourceType::Topic, &name) {
                let (code, message) = refusal(ResponseError::TopicAuthorizationFailed);
                topics.push(
                    topic.with_partitions(
                        partitions
                            .iter()
                            .map(|&p| uninitialized(p).with_error_code(code).with_error_message(message.clone()))
                            .collect(),
                    ),
                );
                continue;
            }
            let Some(meta) = broker.topic(&name) else {
                topics.push(topic.with_partitions(partitions.iter().map(|&p| uninitialized(p)).collect()));
                continue;
            };
            let keys: Vec<(Uuid, i32)> = partitions.iter().map(|&p| (meta.id, p)).collect();
            // No state topic yet: nothing to read (and nothing made by a description).
            if broker.topic(crate::share::SHARE_STATE_TOPIC).is_some() {
                broker.shares.await_coordinators(broker, &group_id, &keys, COORDINATOR_WAIT).await;
            }
            let offsets = broker.shares.offsets(broker, &group_id, &keys).await;
            let mut answered = Vec::with_capacity(partitions.len());
            for (&index, offset) in partitions.iter().zip(offsets) {
                // As Kafka: a share-partition whose state cannot be read shows no offset.
                let Some(o) = offset else {
                    answered.push(uninitialized(index));
                    continue;
                };
                answered.push(match o.lag {
                    Ok(lag) => Partition::default()
                        .with_partition_index(index)
                        .with_start_offset(o.start_offset)
                        .with_leader_epoch(o.leader_epoch)
                        .with_lag(lag),
                    Err(code) => {
                        let (code, message) = refusal(code);
                        Partition::default()
                            .with_partition_index(index)
                            .with_error_code(code)
                            .with_error_message(message)
                    }
                });
            }
            topics.push(topic.with_topic_id(meta.id).with_partitions(answered));
        }
        groups.push(group.with_topics(topics));
    }
    DescribeShareGroupOffsetsResponse::default().with_groups(groups)
}

pub(super) async fn alter(
    broker: &Broker,
    request: AlterShareGroupOffsetsRequest,
    access: Access,
) -> AlterShareGroupOffsetsResponse {
    use alter_share_group_offsets_response::{
        AlterShareGroupOffsetsResponsePartition as Partition, AlterShareGroupOffsetsResponseTopic as Topic,
    };
    let group = request.group_id.to_string();
    let refused = |code: ResponseError, message: String| {
        AlterShareGroupOffsetsResponse::default().with_error_code(code.code()).with_error_message(Some(text(message)))
    };
    if let Err((code, message)) = gate(broker, &access, Operation::Read, &group) {
        return refused(code, message);
    }
    if let Err((code, message)) = broker.shares.check_no_members(broker.clock.now_ms(), &group, true) {
        return refused(code, message);
    }
    // Each asked partition: its topic's id and the refusal it gets before any state is touched.
    let mut asked: Vec<(String, Uuid, i32, i64, Option<Outcome>)> = Vec::new();
    for t in &request.topics {
        let name = t.topic_name.to_string();
        let meta = broker.topic(&name);
        let allowed = access.allows(broker, Operation::Read, ResourceType::Topic, &name);
        for p in &t.partitions {
            let refusal = match &meta {
                _ if !allowed => Some(refusal(ResponseError::TopicAuthorizationFailed)),
                None => Some(unknown_partition()),
                Some(m) if m.partition(p.partition_index).is_none() => Some(unknown_partition()),
                Some(_) => None,
            };
            let id = meta.as_ref().map_or(Uuid::nil(), |m| m.id);
            asked.push((name.clone(), id, p.partition_index, p.start_offset, refusal));
        }
    }
    let resets: Vec<(Uuid, i32, i64)> =
        asked.iter().filter(|a| a.4.is_none()).map(|(_, id, p, offset, _)| (*id, *p, *offset)).collect();
    let keys: Vec<(Uuid, i32)> = resets.iter().map(|&(t, p, _)| (t, p)).collect();
    if let Err(e) = coordinators_ready(broker, &group, &keys).await {
        return refused(e.code, e.message);
    }
    let mut outcomes = broker.shares.reset_state(broker, &group, &resets).await.into_iter();
    let mut done: Vec<(Uuid, i32)> = Vec::new();
    let mut topics: Vec<Topic> = Vec::new();
    for (name, id, index, _, refused) in asked {
        let (code, message) = match refused {
            Some(r) => r,
            None => {
                let result = outcomes.next().expect("one outcome per reset");
                if result.is_ok() {
                    done.push((id, index));
                }
                outcome(&result)
            }
        };
        let partition =
            Partition::default().with_partition_index(index).with_error_code(code).with_error_message(message);
        match topics.iter_mut().find(|t| t.topic_name.as_str() == name) {
            Some(t) => t.partitions.push(partition),
            None => topics.push(
                Topic::default()
                    .with_topic_name(TopicName(text(name)))
                    .with_topic_id(id)
                    .with_partitions(vec![partition]),
            ),
        }
    }
    broker.shares.note_partitions(&group, &done, true);
    if let Err(e) = broker.shares.persist_group(broker, &group).await {
        return refused(e.code, e.message);
    }
    AlterShareGroupOffsetsResponse::default().with_responses(topics)
}

pub(super) async fn delete_offsets(
    broker: &Broker,
    request: DeleteShareGroupOffsetsRequest,
    access: Access,
) -> DeleteShareGroupOffsetsResponse {
    use delete_share_group_offsets_response::DeleteShareGroupOffsetsResponseTopic as Topic;
    let group = request.group_id.to_string();
    let refused = |code: ResponseError, message: String| {
        DeleteShareGroupOffsetsResponse::default().with_error_code(code.code()).with_error_message(Some(text(message)))
    };
    if let Err((code, message)) = gate(broker, &access, Operation::Delete, &group) {
        return refused(code, message);
    }
    if let Err((code, message)) = broker.shares.check_no_members(broker.clock.now_ms(), &group, false) {
        return refused(code, message);
    }
    let mut topics = Vec::with_capacity(request.topics.len());
    for t in request.topics {
        let name = t.topic_name.to_string();
        let topic = Topic::default().with_topic_name(t.topic_name);
        let (code, message) = if !access.allows(broker, Operation::Read, ResourceType::Topic, &name) {
            refusal(ResponseError::TopicAuthorizationFailed)
        } else if let Some(meta) = broker.topic(&name) {
            let parts: Vec<(Uuid, i32)> = (0..meta.partitions).map(|p| (meta.id, p)).collect();
            let results = match coordinators_ready(broker, &group, &parts).await {
                Err(e) => vec![Err(e)],
                Ok(()) => broker.shares.remove_state(broker, &group, &parts).await,
            };
            let first_error = results.into_iter().find(|r| r.is_err()).unwrap_or(Ok(()));
            if first_error.is_ok() {
                broker.shares.note_partitions(&group, &parts, false);
            }
            topics.push(
                topic
                    .with_topic_id(meta.id)
                    .with_error_code(outcome(&first_error).0)
                    .with_error_message(first_error.err().map(|e| text(e.code.to_string()))),
            );
            continue;
        } else {
            unknown_partition()
        };
        topics.push(topic.with_error_code(code).with_error_message(message));
    }
    if let Err(e) = broker.shares.persist_group(broker, &group).await {
        return refused(e.code, e.message);
    }
    DeleteShareGroupOffsetsResponse::default().with_responses(topics)
}

/// DeleteGroups for a share group: refused while it has members; else its share-partitions'
/// state is deleted, then the group.
pub(super) async fn delete_group(broker: &Broker, group: &str) -> Option<ResponseError> {
    if let Err(code) = broker.check_coordinator(group) {
        return Some(code);
    }
    if let Err((code, _)) = broker.shares.check_no_members(broker.clock.now_ms(), group, false) {
        return Some(code);
    }
    let parts = broker.shares.known_partitions(group).unwrap_or_default();
    if let Err(e) = coordinators_ready(broker, group, &parts).await {
        return Some(e.code);
    }
    if let Some(Err(e)) = broker.shares.remove_state(broker, group, &parts).await.into_iter().find(|r| r.is_err()) {
        return Some(e.code);
    }
    broker.shares.remove_group(group);
    broker.shares.forget_group_records(broker, group).await.err().map(|e| e.code)
}

/// ReadShareGroupStateSummary, from another broker's group coordinator (`allowed`: it has
/// CLUSTER_ACTION).
pub(super) fn read_state_summary(
    broker: &Broker,
    request: ReadShareGroupStateSummaryRequest,
    allowed: bool,
) -> ReadShareGroupStateSummaryResponse {
    use read_share_group_state_summary_response::{PartitionResult, ReadStateSummaryResult};
    let group = request.group_id.to_string();
    let results = request
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let key = Key { group: group.clone(), topic_id: t.topic_id, partition: p.partition };
                    let result = PartitionResult::default().with_partition(p.partition).with_start_offset(-1);
                    let summary = match allowed {
                        true => broker.shares.summarize(&key),
                        false => Err(ResponseError::ClusterAuthorizationFailed),
                    };
                    match summary {
                        Err(code) => {
                            result.with_error_code(code.code()).with_error_message(Some(text(code.to_string())))
                        }
                        Ok(None) => result,
                        Ok(Some(s)) => result
                            .with_state_epoch(s.state_epoch)
                            .with_leader_epoch(s.leader_epoch)
                            .with_start_offset(s.start_offset)
                            .with_delivery_complete_count(i32::try_from(s.delivery_complete_count).unwrap_or(i32::MAX)),
                    }
                })
                .collect();
            ReadStateSummaryResult::default().with_topic_id(t.topic_id).with_partitions(partitions)
        })
        .collect();
    ReadShareGroupStateSummaryResponse::default().with_results(results)
}

/// A state request's partitions applied by state partition (`apply`, on this coordinator):
/// each one's outcome. Nothing is applied unless `allowed`.
async fn by_state_partition<T, F, Fut>(
    broker: &Broker,
    entries: Vec<(Key, T)>,
    allowed: bool,
    apply: F,
) -> BTreeMap<(Uuid, i32), Result<(), ApiError>>
where
    F: Fn(i32, Vec<(Key, T)>) -> Fut,
    Fut: std::future::Future<Output = Vec<Result<(), ApiError>>>,
{
    let mut by: BTreeMap<i32, Vec<(Key, T)>> = BTreeMap::new();
    for (key, extra) in entries.into_iter().filter(|_| allowed) {
        by.entry(broker.shares.config().state_partition(&key)).or_default().push((key, extra));
    }
    let mut outcomes = BTreeMap::new();
    for (partition, batch) in by {
        let ids: Vec<(Uuid, i32)> = batch.iter().map(|(k, _)| (k.topic_id, k.partition)).collect();
        outcomes.extend(ids.into_iter().zip(apply(partition, batch).await));
    }
    outcomes
}

/// InitializeShareGroupState, from another broker's group coordinator.
pub(super) async fn initialize_state(
    broker: &Broker,
    request: InitializeShareGroupStateRequest,
    allowed: bool,
) -> InitializeShareGroupStateResponse {
    use initialize_share_group_state_response::{InitializeStateResult, PartitionResult};
    let group = request.group_id.to_string();
    let entries: Vec<(Key, (i32, i64))> = request
        .topics
        .iter()
        .flat_map(|t| {
            let group = &group;
            t.partitions.iter().map(move |p| {
                (
                    Key { group: group.clone(), topic_id: t.topic_id, partition: p.partition },
                    (p.state_epoch, p.start_offset),
                )
            })
        })
        .collect();
    let outcomes = by_state_partition(broker, entries, allowed, |partition, inits| {
        let inits = inits.into_iter().map(|(k, (epoch, start))| (k, epoch, start)).collect();
        broker.shares.initialize_state(broker, partition, inits)
    })
    .await;
    let results = request
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let (code, message) = state_outcome(allowed, outcomes.get(&(t.topic_id, p.partition)));
                    PartitionResult::default()
                        .with_partition(p.partition)
                        .with_error_code(code)
                        .with_error_message(message)
                })
                .collect();
            InitializeStateResult::default().with_topic_id(t.topic_id).with_partitions(partitions)
        })
        .collect();
    InitializeShareGroupStateResponse::default().with_results(results)
}

/// DeleteShareGroupState, from another broker's group coordinator.
pub(super) async fn delete_state(
    broker: &Broker,
    request: DeleteShareGroupStateRequest,
    allowed: bool,
) -> DeleteShareGroupStateResponse {
    use delete_share_group_state_response::{DeleteStateResult, PartitionResult};
    let group = request.group_id.to_string();
    let entries: Vec<(Key, ())> = request
        .topics
        .iter()
        .flat_map(|t| {
            let group = &group;
            t.partitions
                .iter()
                .map(move |p| (Key { group: group.clone(), topic_id: t.topic_id, partition: p.partition }, ()))
        })
        .collect();
    let outcomes = by_state_partition(broker, entries, allowed, |partition, keys| {
        broker.shares.delete_state(broker, partition, keys.into_iter().map(|(k, ())| k).collect())
    })
    .await;
    let results = request
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let (code, message) = state_outcome(allowed, outcomes.get(&(t.topic_id, p.partition)));
                    PartitionResult::default()
                        .with_partition(p.partition)
                        .with_error_code(code)
                        .with_error_message(message)
                })
                .collect();
            DeleteStateResult::default().with_topic_id(t.topic_id).with_partitions(partitions)
        })
        .collect();
    DeleteShareGroupStateResponse::default().with_results(results)
}

fn state_outcome(allowed: bool, result: Option<&Result<(), ApiError>>) -> Outcome {
    match (allowed, result) {
        (false, _) => refusal(ResponseError::ClusterAuthorizationFailed),
        (true, Some(r)) => outcome(r),
        (true, None) => (0, None),
    }
}
