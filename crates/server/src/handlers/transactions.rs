//! The transaction APIs a producer sends to its coordinator (AddPartitionsToTxn,
//! AddOffsetsToTxn, EndTxn), the ones brokers send each other (AddPartitionsToTxn v4+ from
//! partition leaders to coordinators, WriteTxnMarkers from coordinators to partition
//! leaders), and the admin's (DescribeTransactions, ListTransactions,
//! DescribeProducers, for `kafka-transactions`). Translation only: `crate::transactions` decides.
//!
//! With an authorizer, as Kafka: a producer needs WRITE on its transactional id (and on the
//! topics it adds, READ on the group whose offsets it adds), brokers CLUSTER_ACTION, the admin
//! APIs DESCRIBE on the transactional id (ListTransactions leaves out the others) and READ on
//! the topics whose producers it describes.

use std::collections::BTreeSet;
use std::sync::Arc;

use brook_security::acl::{Operation, ResourceType};
use brook_transactions::TxnState;
use brook_transactions::transaction::TopicPartition;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::authorization::Access;
use crate::broker::Broker;
use crate::group::OFFSETS_TOPIC;
use crate::transactions::markers::{self, Marker};
use crate::transactions::verification::{self, Need, Writer};

/// Kafka answers PRODUCER_FENCED only to versions that know it (KIP-588); older ones get
/// INVALID_PRODUCER_EPOCH, which they treat the same way.
pub(super) fn fenced_as(code: ResponseError, version: i16, knows_fenced_from: i16) -> ResponseError {
    if code == ResponseError::ProducerFenced && version < knows_fenced_from {
        ResponseError::InvalidProducerEpoch
    } else {
        code
    }
}

fn code_of(result: Result<(), ResponseError>, version: i16, knows_fenced_from: i16) -> i16 {
    result.err().map_or(0, |e| fenced_as(e, version, knows_fenced_from).code())
}

pub(super) async fn add_partitions(
    broker: &Arc<Broker>,
    request: AddPartitionsToTxnRequest,
    version: i16,
    access: Access,
) -> AddPartitionsToTxnResponse {
    if version >= 4 {
        if !access.allows_cluster(broker, Operation::ClusterAction) {
            return AddPartitionsToTxnResponse::default()
                .with_error_code(ResponseError::ClusterAuthorizationFailed.code());
        }
        return add_partitions_for_leaders(broker, request, version).await;
    }
    let txn_id = &request.v3_and_below_transactional_id;
    if !access.allows(broker, Operation::Write, ResourceType::TransactionalId, txn_id) {
        let denied = ResponseError::TransactionalIdAuthorizationFailed.code();
        let results = topic_results(&request.v3_and_below_topics, |_, _| denied);
        return AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results);
    }
    let image_has = |topic: &str, index: i32| broker.image().topic(topic).is_some_and(|t| t.partition(index).is_some());
    let mut unknown: BTreeSet<(String, i32)> = BTreeSet::new();
    let mut denied: BTreeSet<String> = BTreeSet::new();
    for t in &request.v3_and_below_topics {
        if !access.allows(broker, Operation::Write, ResourceType::Topic, &t.name) {
            denied.insert(t.name.to_string());
            continue;
        }
        unknown.extend(t.partitions.iter().filter(|p| !image_has(&t.name, **p)).map(|p| (t.name.to_string(), *p)));
    }
    // As Kafka: if any partition is refused or unknown, none is added; the others are not
    // attempted.
    let result = if unknown.is_empty() && denied.is_empty() {
        let partitions =
            request.v3_and_below_topics.iter().flat_map(|t| t.partitions.iter().map(|p| (t.name.to_string(), *p)));
        broker
            .transactions
            .add_partitions(
                broker,
                &request.v3_and_below_transactional_id,
                request.v3_and_below_producer_id.0,
                request.v3_and_below_producer_epoch,
                partitions.collect(),
                0,
            )
            .await
    } else {
        Err(ResponseError::OperationNotAttempted)
    };
    let results = topic_results(&request.v3_and_below_topics, |topic, p| {
        if denied.contains(topic) {
            ResponseError::TopicAuthorizationFailed.code()
        } else if unknown.contains(&(topic.to_string(), p)) {
            ResponseError::UnknownTopicOrPartition.code()
        } else {
            code_of(result, version, 2)
        }
    });
    AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results)
}

/// Each partition of `topics` with its error code, as AddPartitionsToTxn answers.
fn topic_results(
    topics: &[AddPartitionsToTxnTopic],
    code: impl Fn(&str, i32) -> i16,
) -> Vec<AddPartitionsToTxnTopicResult> {
    topics
        .iter()
        .map(|t| {
            AddPartitionsToTxnTopicResult::default().with_name(t.name.clone()).with_results_by_partition(
                t.partitions
                    .iter()
                    .map(|p| {
                        AddPartitionsToTxnPartitionResult::default()
                            .with_partition_index(*p)
                            .with_partition_error_code(code(&t.name, *p))
                    })
                    .collect(),
            )
        })
        .collect()
}

pub(super) async fn add_offsets(
    broker: &Arc<Broker>,
    request: AddOffsetsToTxnRequest,
    version: i16,
    access: Access,
) -> AddOffsetsToTxnResponse {
    if !access.allows(broker, Operation::Write, ResourceType::TransactionalId, &request.transactional_id) {
        return AddOffsetsToTxnResponse::default()
            .with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code());
    }
    if !access.allows(broker, Operation::Read, ResourceType::Group, &request.group_id) {
        return AddOffsetsToTxnResponse::default().with_error_code(ResponseError::GroupAuthorizationFailed.code());
    }
    let partition = (OFFSETS_TOPIC.to_string(), broker.groups.partition_for(&request.group_id));
    let result = match broker.ensure_offsets_topic().await {
        Ok(()) => {
            broker
                .transactions
                .add_partitions(
                    broker,
                    &request.transactional_id,
                    request.producer_id.0,
                    request.producer_epoch,
                    BTreeSet::from([partition]),
                    0,
                )
                .await
        }
        Err(e) => Err(e.code),
    };
    AddOffsetsToTxnResponse::default().with_error_code(code_of(result, version, 2))
}

/// AddPartitionsToTxn v4+, from partition leaders (KIP-890): for each transaction, verify
/// that its partitions are in it, or add them for a transactions version 2 producer.
async fn add_partitions_for_leaders(
    broker: &Arc<Broker>,
    request: AddPartitionsToTxnRequest,
    version: i16,
) -> AddPartitionsToTxnResponse {
    let answers = request.transactions.into_iter().map(|txn| async move {
        let writer = Writer {
            transactional_id: &txn.transactional_id,
            producer_id: txn.producer_id.0,
            epoch: txn.producer_epoch,
        };
        let partitions: BTreeSet<TopicPartition> =
            txn.topics.iter().flat_map(|t| t.partitions.iter().map(|p| (t.name.to_string(), *p))).collect();
        let need = if txn.verify_only { Need::Verify } else { Need::Add };
        let errors = verification::answer(broker, writer, partitions, need).await;
        let topic_results = topic_results(&txn.topics, |topic, p| match errors.get(&(topic.to_string(), p)) {
            None => 0,
            // v5 says a partition is not in the transaction this way (KIP-890).
            Some(ResponseError::InvalidTxnState) if version >= 5 => ResponseError::TransactionAbortable.code(),
            Some(e) => e.code(),
        });
        AddPartitionsToTxnResult::default()
            .with_transactional_id(txn.transactional_id.clone())
            .with_topic_results(topic_results)
    });
    AddPartitionsToTxnResponse::default().with_results_by_transaction(futures::future::join_all(answers).await)
}

pub(super) async fn end(broker: &Arc<Broker>, request: EndTxnRequest, version: i16, access: Access) -> EndTxnResponse {
    if !access.allows(broker, Operation::Write, ResourceType::TransactionalId, &request.transactional_id) {
        return EndTxnResponse::default()
            .with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
    }
    // EndTxn v5 is transactions version 2: the epoch is bumped, and the answer carries the
    // producer id and epoch to go on with.
    let (producer_id, epoch) = (request.producer_id.0, request.producer_epoch);
    let result = broker
        .transactions
        .end(broker, &request.transactional_id, producer_id, epoch, request.committed, version >= 5)
        .await;
    let (next_id, next_epoch) = result.unwrap_or((-1, -1));
    EndTxnResponse::default()
        .with_error_code(code_of(result.map(|_| ()), version, 2))
        .with_producer_id(ProducerId(next_id))
        .with_producer_epoch(next_epoch)
}

/// WriteTxnMarkers from a coordinator: each marker appended by this broker as the leader of
/// its partitions.
pub(super) async fn write_markers(
    broker: &Arc<Broker>,
    request: WriteTxnMarkersRequest,
    access: Access,
) -> WriteTxnMarkersResponse {
    let allowed = access.allows_cluster(broker, Operation::ClusterAction);
    let mut results = Vec::with_capacity(request.markers.len());
    for m in request.markers {
        let marker = Marker {
            producer_id: m.producer_id.0,
            producer_epoch: m.producer_epoch,
            commit: m.transaction_result,
            coordinator_epoch: m.coordinator_epoch,
        };
        let mut topics = Vec::with_capacity(m.topics.len());
        for t in m.topics {
            let mut partitions = Vec::with_capacity(t.partition_indexes.len());
            for index in t.partition_indexes {
                let code = match allowed {
                    true => code_of(markers::write_local(broker, &t.name, index, marker).await, 0, 0),
                    false => ResponseError::ClusterAuthorizationFailed.code(),
                };
                partitions.push(
                    WritableTxnMarkerPartitionResult::default().with_partition_index(index).with_error_code(code),
                );
            }
            topics.push(WritableTxnMarkerTopicResult::default().with_name(t.name).with_partitions(partitions));
        }
        results.push(WritableTxnMarkerResult::default().with_producer_id(m.producer_id).with_topics(topics));
    }
    WriteTxnMarkersResponse::default().with_markers(results)
}

pub(super) fn describe(
    broker: &Broker,
    request: DescribeTransactionsRequest,
    access: &Access,
) -> DescribeTransactionsResponse {
    let states = request
        .transactional_ids
        .into_iter()
        .map(|id| {
            let described = describe_transactions_response::TransactionState::default()
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
                .with_transaction_start_time_ms(-1);
            if !access.allows(broker, Operation::Describe, ResourceType::TransactionalId, &id) {
                let denied = ResponseError::TransactionalIdAuthorizationFailed.code();
                return described.with_transactional_id(id).with_error_code(denied);
            }
            match broker.transactions.describe(&id) {
                Err(code) => described.with_transactional_id(id).with_error_code(code.code()),
                Ok(txn) => {
                    let mut topics: Vec<describe_transactions_response::TopicData> = Vec::new();
                    // As Kafka: topics the client may not describe are left out, silently.
                    let visible = |topic: &str| access.sees(broker, Operation::Describe, ResourceType::Topic, topic);
                    for (topic, partition) in txn.partitions.iter().filter(|(t, _)| visible(t)) {
                        match topics.last_mut() {
                            Some(t) if t.topic.as_str() == topic => t.partitions.push(*partition),
                            _ => topics.push(
                                describe_transactions_response::TopicData::default()
                                    .with_topic(TopicName(StrBytes::from_string(topic.clone())))
                                    .with_partitions(vec![*partition]),
                            ),
                        }
                    }
                    described
                        .with_transactional_id(id)
                        .with_transaction_state(StrBytes::from_static_str(txn.state.name()))
                        .with_transaction_timeout_ms(txn.timeout_ms)
                        .with_transaction_start_time_ms(txn.start_ms)
                        .with_producer_id(ProducerId(txn.producer_id))
                        .with_producer_epoch(txn.producer_epoch)
                        .with_topics(topics)
                }
            }
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}

/// ListTransactions: the ids this broker coordinates, filtered by state name, producer id,
/// (v1+) how long the transaction has been running and (v2+) a pattern of the id; unknown
/// state names are echoed back.
pub(super) fn list(
    broker: &Broker,
    request: ListTransactionsRequest,
    version: i16,
    access: &Access,
) -> ListTransactionsResponse {
    let unknown: Vec<StrBytes> =
        request.state_filters.iter().filter(|s| TxnState::from_name(s).is_none()).cloned().collect();
    let response = ListTransactionsResponse::default().with_unknown_state_filters(unknown);
    let listed = match broker.transactions.list() {
        Ok(listed) => listed,
        Err(code) => return response.with_error_code(code.code()),
    };
    // v2 (KIP-1152): a pattern the whole transactional id must match; none or "" matches all.
    let pattern = match request.transactional_id_pattern.as_ref().filter(|p| version >= 2 && !p.is_empty()) {
        None => None,
        Some(p) => match regex_lite::Regex::new(&format!("^(?:{})$", p.as_str())) {
            Ok(r) => Some(r),
            Err(_) => return response.with_error_code(ResponseError::InvalidRegularExpression.code()),
        },
    };
    let now_ms = broker.clock.now_ms();
    let min_duration = if version >= 1 { request.duration_filter } else { -1 };
    let mut states: Vec<list_transactions_response::TransactionState> = listed
        .into_iter()
        .filter(|(_, t)| {
            request.state_filters.is_empty() || request.state_filters.iter().any(|s| s.as_str() == t.state.name())
        })
        .filter(|(_, t)| {
            request.producer_id_filters.is_empty() || request.producer_id_filters.contains(&ProducerId(t.producer_id))
        })
        // Kafka: the transaction started (its first partition was added) longer ago than this.
        .filter(|(_, t)| min_duration < 0 || (t.start_ms >= 0 && now_ms - t.start_ms > min_duration))
        .filter(|(id, _)| pattern.as_ref().is_none_or(|p| p.is_match(id)))
        .filter(|(id, _)| access.sees(broker, Operation::Describe, ResourceType::TransactionalId, id))
        .map(|(id, t)| {
            list_transactions_response::TransactionState::default()
                .with_transactional_id(TransactionalId(StrBytes::from_string(id)))
                .with_producer_id(ProducerId(t.producer_id))
                .with_transaction_state(StrBytes::from_static_str(t.state.name()))
        })
        .collect();
    states.sort_by(|a, b| a.transactional_id.as_str().cmp(b.transactional_id.as_str()));
    response.with_transaction_states(states)
}

/// DescribeProducers: the producers each partition led here knows, for
/// `kafka-transactions describe-producers` and `find-hanging`.
pub(super) fn describe_producers(
    broker: &Broker,
    request: DescribeProducersRequest,
    access: &Access,
) -> DescribeProducersResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let meta = broker.topic(&t.name);
            let allowed = access.allows(broker, Operation::Read, ResourceType::Topic, &t.name);
            let partitions = t
                .partition_indexes
                .iter()
                .map(|&index| {
                    let answer = describe_producers_response::PartitionResponse::default().with_partition_index(index);
                    let led = super::authorized(meta.as_ref(), allowed, ResponseError::UnknownTopicOrPartition);
                    match led.and_then(|m| broker.leader_partition(m, index)) {
                        Err(code) => answer.with_error_code(code.code()),
                        Ok(p) => answer.with_active_producers(
                            p.active_producers()
                                .into_iter()
                                .map(|a| {
                                    describe_producers_response::ProducerState::default()
                                        .with_producer_id(ProducerId(a.producer_id))
                                        .with_producer_epoch(i32::from(a.epoch))
                                        .with_last_sequence(a.last_sequence)
                                        .with_last_timestamp(a.last_timestamp)
                                        .with_coordinator_epoch(-1)
                                        .with_current_txn_start_offset(a.txn_start_offset)
                                })
                                .collect(),
                        ),
                    }
                })
                .collect();
            describe_producers_response::TopicResponse::default().with_name(t.name).with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}
