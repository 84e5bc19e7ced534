//! OffsetCommit, TxnOffsetCommit, OffsetFetch (one group before v8, many after) and
//! OffsetDelete.

use std::collections::BTreeSet;
use std::sync::Arc;

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

use super::text;
use super::transactions::fenced_as;
use crate::broker::Broker;
use crate::group::{CommitPartition, Committer, FetchedOffset, OFFSETS_TOPIC, TxnCommitter};
use crate::transactions::verification::{self, Gate, Need, Writer};

fn partition_exists(broker: &Broker, topic: &str, partition: i32) -> bool {
    broker.topic(topic).is_some_and(|t| (0..t.partitions).contains(&partition))
}

pub(super) async fn commit(broker: &Arc<Broker>, request: OffsetCommitRequest, version: i16) -> OffsetCommitResponse {
    let early = broker.check_coordinator(&request.group_id).err();
    let partitions = request.topics.iter().flat_map(|topic| {
        topic.partitions.iter().map(|p| CommitPartition {
            topic: topic.name.to_string(),
            partition: p.partition_index,
            offset: p.committed_offset,
            leader_epoch: if version >= 6 { p.committed_leader_epoch } else { -1 },
            metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
        })
    });
    let (commits, slots) = plan(broker, early, partitions);
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

/// TxnOffsetCommit: offsets committed in the producer's transaction, once the transaction
/// coordinator (if here) confirms the group's partition is in it.
pub(super) async fn txn_commit(
    broker: &Arc<Broker>,
    request: TxnOffsetCommitRequest,
    version: i16,
) -> TxnOffsetCommitResponse {
    let (producer_id, epoch) = (request.producer_id.0, request.producer_epoch);
    let early = match broker.check_coordinator(&request.group_id) {
        Err(code) => Some(code),
        Ok(()) => {
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
        topic.partitions.iter().map(|p| CommitPartition {
            topic: topic.name.to_string(),
            partition: p.partition_index,
            offset: p.committed_offset,
            leader_epoch: if version >= 2 { p.committed_leader_epoch } else { -1 },
            metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
        })
    });
    let (commits, slots) = plan(broker, early, partitions);
    let committer = TxnCommitter {
        producer_id,
        producer_epoch: epoch,
        member_id: &request.member_id,
        instance_id: request.group_instance_id.as_deref(),
        generation: if version >= 3 { request.generation_id } else { -1 },
    };
    let results = broker.groups.txn_commit(broker, &request.group_id, committer, commits).await;
    let topics = answers(slots, results)
        .into_iter()
        .map(|(topic, answers)| {
            TxnOffsetCommitResponseTopic::default().with_name(TopicName(text(topic))).with_partitions(
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

/// A partition of a commit request: topic, index, and the error known before the coordinator.
type Slot = (String, i32, Option<ResponseError>);

/// A partition's index and its error, if any.
type PartitionAnswer = (i32, Option<ResponseError>);

/// A commit's partitions in request order: those the coordinator is to commit, and a slot
/// per partition with the error known before it (`early` for all, or an unknown partition).
fn plan(
    broker: &Broker,
    early: Option<ResponseError>,
    partitions: impl Iterator<Item = CommitPartition>,
) -> (Vec<CommitPartition>, Vec<Slot>) {
    let mut slots = Vec::new();
    let mut commits = Vec::new();
    for p in partitions {
        let error = early.or_else(|| {
            (!partition_exists(broker, &p.topic, p.partition)).then_some(ResponseError::UnknownTopicOrPartition)
        });
        slots.push((p.topic.clone(), p.partition, error));
        if error.is_none() {
            commits.push(p);
        }
    }
    (commits, slots)
}

/// Each slot's answer, by topic: its early error, else the coordinator's result for it.
fn answers(
    slots: Vec<Slot>,
    results: Result<Vec<Option<ResponseError>>, ResponseError>,
) -> Vec<(String, Vec<PartitionAnswer>)> {
    let mut results = match results {
        Ok(per_partition) => per_partition.into_iter(),
        Err(e) => vec![Some(e); slots.iter().filter(|s| s.2.is_none()).count()].into_iter(),
    };
    by_topic(slots.into_iter().map(|(topic, p, early)| (topic, (p, early.or_else(|| results.next().flatten())))))
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
    let require_stable = version >= 7 && request.require_stable;
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
                            let (o, error) = stable(broker, &request.group_id, o, require_stable);
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
                                let (o, error) = stable(broker, &g.group_id, o, require_stable);
                                OffsetFetchResponsePartitions::default()
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
