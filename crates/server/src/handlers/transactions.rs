//! The transaction APIs a producer sends to its coordinator (AddPartitionsToTxn,
//! AddOffsetsToTxn, EndTxn) and the one coordinators send to partition leaders
//! (WriteTxnMarkers). Translation only: `crate::transactions` decides.

use std::collections::BTreeSet;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::*;

use crate::broker::Broker;
use crate::group::OFFSETS_TOPIC;
use crate::transactions::markers::{self, Marker};

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
) -> AddPartitionsToTxnResponse {
    let image_has = |topic: &str, index: i32| broker.image().topic(topic).is_some_and(|t| t.partition(index).is_some());
    let unknown: BTreeSet<(String, i32)> = request
        .v3_and_below_topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.to_string(), *p)))
        .filter(|(topic, index)| !image_has(topic, *index))
        .collect();
    // As Kafka: if any partition is unknown, none is added; the others are not attempted.
    let result = if unknown.is_empty() {
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
            )
            .await
    } else {
        Err(ResponseError::OperationNotAttempted)
    };
    let results = request
        .v3_and_below_topics
        .iter()
        .map(|t| {
            AddPartitionsToTxnTopicResult::default().with_name(t.name.clone()).with_results_by_partition(
                t.partitions
                    .iter()
                    .map(|p| {
                        let code = if unknown.contains(&(t.name.to_string(), *p)) {
                            ResponseError::UnknownTopicOrPartition.code()
                        } else {
                            code_of(result, version, 2)
                        };
                        AddPartitionsToTxnPartitionResult::default()
                            .with_partition_index(*p)
                            .with_partition_error_code(code)
                    })
                    .collect(),
            )
        })
        .collect();
    AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results)
}

pub(super) async fn add_offsets(
    broker: &Arc<Broker>,
    request: AddOffsetsToTxnRequest,
    version: i16,
) -> AddOffsetsToTxnResponse {
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
                )
                .await
        }
        Err(e) => Err(e.code),
    };
    AddOffsetsToTxnResponse::default().with_error_code(code_of(result, version, 2))
}

pub(super) async fn end(broker: &Arc<Broker>, request: EndTxnRequest, version: i16) -> EndTxnResponse {
    let result = broker
        .transactions
        .end(broker, &request.transactional_id, request.producer_id.0, request.producer_epoch, request.committed)
        .await;
    EndTxnResponse::default().with_error_code(code_of(result, version, 2))
}

/// WriteTxnMarkers from a coordinator: each marker appended by this broker as the leader of
/// its partitions.
pub(super) async fn write_markers(broker: &Arc<Broker>, request: WriteTxnMarkersRequest) -> WriteTxnMarkersResponse {
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
                let code = code_of(markers::write_local(broker, &t.name, index, marker).await, 0, 0);
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
