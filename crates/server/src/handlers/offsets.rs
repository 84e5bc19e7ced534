//! OffsetCommit, TxnOffsetCommit, OffsetFetch (one group before v8, many after) and
//! OffsetDelete.
//!
//! With an authorizer, as Kafka: committing needs READ on the group and on each topic (and a
//! transactional commit WRITE on its transactional id), fetching DESCRIBE on both (a listing
//! of every offset leaves out topics the client may not describe), deleting DELETE on the
//! group and READ on each topic.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::sync::Arc;

use uuid::Uuid;

use brook_transactions::transaction::TopicPartition;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::*;

use brook_security::acl::{Operation, ResourceType};

use super::text;
use super::transactions::fenced_as;
use crate::authorization::Access;
use crate::broker::Broker;
use crate::group::{CommitPartition, Committer, FetchedOffset, OFFSETS_TOPIC, TxnCommitter};
use crate::transactions::verification::{self, Gate, Need, Writer};

/// Why a partition named in a commit or deletion cannot be acted on: a topic the client may
/// not READ, or a partition that does not exist.
fn partition_error(broker: &Broker, access: &Access, topic: &str, partition: i32) -> Option<ResponseError> {
    if !access.allows(broker, Operation::Read, ResourceType::Topic, topic) {
        return Some(ResponseError::TopicAuthorizationFailed);
    }
    let exists = broker.topic(topic).is_some_and(|t| (0..t.partitions).contains(&partition));
    (!exists).then_some(ResponseError::UnknownTopicOrPartition)
}

/// A group's committed offsets the client may see: those of topics it may DESCRIBE; a topic
/// it named but may not describe answers TOPIC_AUTHORIZATION_FAILED.
fn visible_offsets(
    broker: &Broker,
    access: &Access,
    group: &str,
    wanted: Option<Vec<(String, Vec<i32>)>>,
) -> Vec<(FetchedOffset, Option<ResponseError>)> {
    let named = wanted.is_some();
    let offsets = broker.groups.fetch_offsets(group, wanted);
    offsets
        .into_iter()
        .filter_map(|o| match access.sees(broker, Operation::Describe, ResourceType::Topic, &o.topic) {
            true => Some((o, None)),
            false if named => {
                let hidden = FetchedOffset { offset: -1, leader_epoch: -1, metadata: String::new(), ..o };
                Some((hidden, Some(ResponseError::TopicAuthorizationFailed)))
            }
            false => None,
        })
        .collect()
}

/// The group's check for a request acting on it: the client's permission, then whether this
/// broker coordinates it.
fn group_gate(broker: &Broker, access: &Access, operation: Operation, group: &str) -> Option<ResponseError> {
    super::groups::group_gate(broker, access, operation, group).err()
}

pub(super) async fn commit(
    broker: &Arc<Broker>,
    request: OffsetCommitRequest,
    version: i16,
    access: Access,
) -> OffsetCommitResponse {
    let early = group_gate(broker, &access, Operation::Read, &request.group_id);
    let partitions = request.topics.iter().flat_map(|topic| {
        // v10 names topics by id (KIP-848); an id this cluster does not know is UNKNOWN_TOPIC_ID.
        let (topic_ref, unknown) = named(broker, version >= 10, &topic.name, topic.topic_id);
        topic.partitions.iter().map(move |p| {
            let commit = CommitPartition {
                topic: topic_ref.name.clone(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: if version >= 6 { p.committed_leader_epoch } else { -1 },
                metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
            };
            (commit, topic_ref.id, unknown)
        })
    });
    let (commits, slots) = plan(broker, early, partitions, &access);
    let committer = Committer {
        member_id: &request.member_id,
        instance_id: request.group_instance_id.as_deref(),
        generation: request.generation_id_or_member_epoch,
        version,
    };
    let results = broker.groups.commit(broker, &request.group_id, committer, commits).await;
    let topics = answers(slots, results)
        .into_iter()
        .map(|(topic, answers)| {
            OffsetCommitResponseTopic::default()
                .with_name(TopicName(text(topic.name)))
                .with_topic_id(topic.id)
                .with_partitions(
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

/// TxnOffsetCommit: offsets committed in the producer's transaction, once the transaction
/// coordinator (if here) confirms the group's partition is in it.
pub(super) async fn txn_commit(
    broker: &Arc<Broker>,
    request: TxnOffsetCommitRequest,
    version: i16,
    access: Access,
) -> TxnOffsetCommitResponse {
    let (producer_id, epoch) = (request.producer_id.0, request.producer_epoch);
    let txn_allowed = access.allows(broker, Operation::Write, ResourceType::TransactionalId, &request.transactional_id);
    let early = match group_gate(broker, &access, Operation::Read, &request.group_id) {
        _ if !txn_allowed => Some(ResponseError::TransactionalIdAuthorizationFailed),
        Some(code) => Some(code),
        None => {
            // TxnOffsetCommit v5 is transactions version 2: the group's partition is added to
            // the transaction here, as a partition leader adds a produced-to partition.
            let need = if version >= 5 { Need::Add } else { Need::Verify };
            let writer = Writer { transactional_id: &request.transactional_id, producer_id, epoch };
            let place = (OFFSETS_TOPIC.to_string(), broker.groups.partition_for(&request.group_id));
            let abortable = version == 4;
            let code = offsets_partition_in_txn(broker, writer, place, need, abortable).await;
            code.map(|code| fenced_as(code, version, 3))
        }
    };
    let partitions = request.topics.iter().flat_map(|topic| {
        // v6 names topics by id (KIP-1319), as OffsetCommit v10 does.
        let (topic_ref, unknown) = named(broker, version >= 6, &topic.name, topic.topic_id);
        topic.partitions.iter().map(move |p| {
            let commit = CommitPartition {
                topic: topic_ref.name.clone(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: if version >= 2 { p.committed_leader_epoch } else { -1 },
                metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
            };
            (commit, topic_ref.id, unknown)
        })
    });
    let (commits, slots) = plan(broker, early, partitions, &access);
    let committer = TxnCommitter {
        producer_id,
        producer_epoch: epoch,
        member_id: &request.member_id,
        instance_id: request.group_instance_id.as_deref(),
        generation: if version >= 3 { request.generation_id_or_member_epoch } else { -1 },
    };
    let results = broker.groups.txn_commit(broker, &request.group_id, committer, commits).await;
    let topics = answers(slots, results)
        .into_iter()
        .map(|(topic, answers)| {
            TxnOffsetCommitResponseTopic::default()
                .with_name(TopicName(text(topic.name)))
                .with_topic_id(topic.id)
                .with_partitions(
                    answers
                        .into_iter()
                        .map(|(p, error)| {
                            let code = error.map_or(0, |e| fenced_as(e, version, 3).code());
                            TxnOffsetCommitResponsePartition::default().with_partition_index(p).with_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}

/// The transaction coordinator's word on a transactional offset commit to `place` (the
/// group's `__consumer_offsets` partition): `None` when it may be written. Retriable troubles
/// become COORDINATOR_LOAD_IN_PROGRESS, which producers retry without a new lookup.
async fn offsets_partition_in_txn(
    broker: &Arc<Broker>,
    writer: Writer<'_>,
    place: TopicPartition,
    need: Need,
    abortable: bool,
) -> Option<ResponseError> {
    let local = broker.partition(&place.0, place.1);
    if local.is_some_and(|p| p.txn_guard(writer.producer_id, writer.epoch).is_none()) {
        return None;
    }
    let code = match broker.transactions.gate(writer, &place, need) {
        Gate::Open => return None,
        Gate::Refused(code) => code,
        Gate::Ask => verification::ask(broker, writer, BTreeSet::from([place.clone()]), need).await.remove(&place)?,
    };
    Some(match verification::for_producer(code, abortable).0 {
        ResponseError::NotEnoughReplicas => ResponseError::CoordinatorLoadInProgress,
        ResponseError::InvalidProducerEpoch => ResponseError::ProducerFenced,
        other => other,
    })
}

/// A topic as a request named it: by name (ids nil), or by id (v10+; the name empty when the
/// id is unknown).
#[derive(Clone, PartialEq, Eq, Hash)]
struct TopicRef {
    name: String,
    id: Uuid,
}

/// The topic a request names by id, and UNKNOWN_TOPIC_ID when there is none.
fn by_id(broker: &Broker, id: Uuid) -> (TopicRef, Option<ResponseError>) {
    match broker.topic_by_id(&id) {
        Some(meta) => (TopicRef { name: meta.name, id }, None),
        None => (TopicRef { name: String::new(), id }, Some(ResponseError::UnknownTopicId)),
    }
}

/// The topic a commit request names: by id if `by_id_version`, else by name.
fn named(broker: &Broker, by_id_version: bool, name: &TopicName, id: Uuid) -> (TopicRef, Option<ResponseError>) {
    match by_id_version {
        true => by_id(broker, id),
        false => (TopicRef { name: name.to_string(), id: Uuid::nil() }, None),
    }
}

/// A partition of a commit request: topic, index, and the error known before the coordinator.
type Slot = (TopicRef, i32, Option<ResponseError>);

/// A partition's index and its error, if any.
type PartitionAnswer = (i32, Option<ResponseError>);

/// A commit's partitions in request order: those the coordinator is to commit, and a slot
/// per partition with the error known before it (`early` for all, an unknown topic id, a topic
/// the client may not read, or an unknown partition).
fn plan(
    broker: &Broker,
    early: Option<ResponseError>,
    partitions: impl Iterator<Item = (CommitPartition, Uuid, Option<ResponseError>)>,
    access: &Access,
) -> (Vec<CommitPartition>, Vec<Slot>) {
    let mut slots = Vec::new();
    let mut commits = Vec::new();
    for (p, id, unknown) in partitions {
        let error = early.or(unknown).or_else(|| partition_error(broker, access, &p.topic, p.partition));
        slots.push((TopicRef { name: p.topic.clone(), id }, p.partition, error));
        if error.is_none() {
            commits.push(p);
        }
    }
    (commits, slots)
}

/// Each slot's answer, by topic, as Kafka orders them: the partitions refused before the
/// coordinator first, then the coordinator's results; each topic listed once, where it first
/// appears.
fn answers(
    slots: Vec<Slot>,
    results: Result<Vec<Option<ResponseError>>, ResponseError>,
) -> Vec<(TopicRef, Vec<PartitionAnswer>)> {
    let mut results = match results {
        Ok(per_partition) => per_partition.into_iter(),
        Err(e) => vec![Some(e); slots.iter().filter(|s| s.2.is_none()).count()].into_iter(),
    };
    let (refused, passed): (Vec<Slot>, Vec<Slot>) = slots.into_iter().partition(|s| s.2.is_some());
    let refused = refused.into_iter().map(|(topic, p, early)| (topic, (p, early)));
    let passed: Vec<_> = passed.into_iter().map(|(topic, p, _)| (topic, (p, results.next().flatten()))).collect();
    by_topic(refused.chain(passed))
}

/// A consumer that reads committed data only (`require_stable`, v7+) is told
/// UNSTABLE_OFFSET_COMMIT, without an offset, while a transactional commit of the offset is
/// pending, and retries (as Kafka).
fn stable(broker: &Broker, group: &str, o: FetchedOffset, require_stable: bool) -> (FetchedOffset, i16) {
    if require_stable && broker.groups.txn_pending(group, &o.topic, o.partition) {
        let unstable = FetchedOffset { offset: -1, leader_epoch: -1, metadata: String::new(), ..o };
        (unstable, ResponseError::UnstableOffsetCommit.code())
    } else {
        (o, 0)
    }
}

/// Groups (topic, item) pairs by topic, each topic where it first appears (responses list
/// each topic once).
fn by_topic<K: Eq + Hash + Clone, T>(items: impl IntoIterator<Item = (K, T)>) -> Vec<(K, Vec<T>)> {
    let mut topics: Vec<(K, Vec<T>)> = Vec::new();
    let mut index = HashMap::new();
    for (topic, item) in items {
        let at = *index.entry(topic.clone()).or_insert_with(|| {
            topics.push((topic, Vec::new()));
            topics.len() - 1
        });
        topics[at].1.push(item);
    }
    topics
}

pub(super) fn fetch(
    broker: &Broker,
    request: OffsetFetchRequest,
    version: i16,
    access: &Access,
) -> OffsetFetchResponse {
    let require_stable = version >= 7 && request.require_stable;
    let check = |o: FetchedOffset, denied: Option<ResponseError>, group: &str| match denied {
        Some(code) => (o, code.code()),
        None => stable(broker, group, o, require_stable),
    };
    if version < 8 {
        if let Some(e) = group_gate(broker, access, Operation::Describe, &request.group_id) {
            return OffsetFetchResponse::default().with_error_code(e.code());
        }
        let wanted =
            request.topics.map(|ts| ts.into_iter().map(|t| (t.name.to_string(), t.partition_indexes)).collect());
        let offsets = visible_offsets(broker, access, &request.group_id, wanted);
        let topics = by_topic(offsets.into_iter().map(|o| (o.0.topic.clone(), o)))
            .into_iter()
            .map(|(topic, list)| {
                OffsetFetchResponseTopic::default().with_name(TopicName(text(topic))).with_partitions(
                    list.into_iter()
                        .map(|(o, denied)| {
                            let (o, error) = check(o, denied, &request.group_id);
                            OffsetFetchResponsePartition::default()
                                .with_partition_index(o.partition)
                                .with_committed_offset(o.offset)
                                .with_committed_leader_epoch(o.leader_epoch)
                                .with_metadata(Some(text(o.metadata)))
                                .with_error_code(error)
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
            if let Some(e) = group_gate(broker, access, Operation::Describe, &g.group_id) {
                return OffsetFetchResponseGroup::default().with_group_id(g.group_id).with_error_code(e.code());
            }
            if version >= 9
                && let Err(e) = broker.groups.validate_fetch(&g.group_id, g.member_id.as_deref(), g.member_epoch)
            {
                return OffsetFetchResponseGroup::default().with_group_id(g.group_id).with_error_code(e.code());
            }
            // v10 names topics by id (KIP-848): ids this cluster does not know answer
            // UNKNOWN_TOPIC_ID, after the others.
            let mut unknown = Vec::new();
            let wanted = g.topics.map(|ts| {
                ts.into_iter()
                    .filter_map(|t| match version >= 10 {
                        false => Some((t.name.to_string(), t.partition_indexes)),
                        true => match broker.topic_by_id(&t.topic_id) {
                            Some(meta) => Some((meta.name, t.partition_indexes)),
                            None => {
                                unknown.push((t.topic_id, t.partition_indexes));
                                None
                            }
                        },
                    })
                    .collect()
            });
            let offsets = visible_offsets(broker, access, &g.group_id, wanted);
            let partition = |index: i32, offset: i64, epoch: i32, metadata: String, error: i16| {
                OffsetFetchResponsePartitions::default()
                    .with_partition_index(index)
                    .with_committed_offset(offset)
                    .with_committed_leader_epoch(epoch)
                    .with_metadata(Some(text(metadata)))
                    .with_error_code(error)
            };
            let known = by_topic(offsets.into_iter().map(|o| (o.0.topic.clone(), o))).into_iter().filter_map(
                |(topic, list)| {
                    let id = match version >= 10 {
                        // A topic deleted since its offsets were committed has no id to list.
                        true => broker.topic(&topic)?.id,
                        false => Uuid::nil(),
                    };
                    let partitions = list
                        .into_iter()
                        .map(|(o, denied)| {
                            let (o, error) = check(o, denied, &g.group_id);
                            partition(o.partition, o.offset, o.leader_epoch, o.metadata, error)
                        })
                        .collect();
                    Some(
                        OffsetFetchResponseTopics::default()
                            .with_name(TopicName(text(topic)))
                            .with_topic_id(id)
                            .with_partitions(partitions),
                    )
                },
            );
            let unknown = unknown.into_iter().map(|(id, indexes)| {
                let error = ResponseError::UnknownTopicId.code();
                OffsetFetchResponseTopics::default()
                    .with_topic_id(id)
                    .with_partitions(indexes.into_iter().map(|p| partition(p, -1, -1, String::new(), error)).collect())
            });
            let topics = known.chain(unknown).collect();
            OffsetFetchResponseGroup::default().with_group_id(g.group_id).with_topics(topics)
        })
        .collect();
    OffsetFetchResponse::default().with_groups(groups)
}

pub(super) async fn delete(broker: &Arc<Broker>, request: OffsetDeleteRequest, access: Access) -> OffsetDeleteResponse {
    if let Some(e) = group_gate(broker, &access, Operation::Delete, &request.group_id) {
        return OffsetDeleteResponse::default().with_error_code(e.code());
    }
    let mut slots: Vec<(String, i32, Option<ResponseError>)> = Vec::new();
    let mut doomed = Vec::new();
    for topic in &request.topics {
        for p in &topic.partitions {
            let error = partition_error(broker, &access, &topic.name, p.partition_index);
            if error.is_none() {
                doomed.push((topic.name.to_string(), p.partition_index));
            }
            slots.push((topic.name.to_string(), p.partition_index, error));
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
