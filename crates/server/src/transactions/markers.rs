//! Transaction markers: the control batch that commits or aborts a producer's records in one
//! partition, written by that partition's leader (here, or asked with WriteTxnMarkers) with
//! acks=all, as Kafka's coordinator writes them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use brook_log::{Durability, batch};
use brook_replication::client::Connection;
use brook_transactions::Transaction;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
use kafka_protocol::messages::{ProducerId, TopicName, WriteTxnMarkersRequest};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::group::OFFSETS_TOPIC;

/// How long one marker, or one WriteTxnMarkers call, may take.
const MARKER_TIMEOUT: Duration = Duration::from_secs(10);

/// One marker to write: the producer, its epoch, commit or abort, and the coordinator's epoch.
#[derive(Debug, Clone, Copy)]
pub struct Marker {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
    pub coordinator_epoch: i32,
}

/// Writes `txn`'s marker to each of its partitions. Partitions whose topic is gone need none;
/// an error names the first partition that could not be marked (the caller retries all:
/// a second marker for a closed transaction changes nothing).
pub async fn write_all(
    broker: &Arc<Broker>,
    txn: &Transaction,
    commit: bool,
    coordinator_epoch: i32,
) -> anyhow::Result<()> {
    let marker = Marker { producer_id: txn.producer_id, producer_epoch: txn.producer_epoch, commit, coordinator_epoch };
    let node_id = broker.config.node_id;
    let mut by_leader: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
    for (topic, index) in &txn.partitions {
        let leader = broker.image().topic(topic).map(|t| t.partition(*index).map(|p| p.leader));
        match leader {
            None | Some(None) => continue,
            Some(Some(leader)) if leader < 0 => bail!("{topic}-{index} has no leader"),
            Some(Some(leader)) => by_leader.entry(leader).or_default().push((topic.clone(), *index)),
        }
    }
    for (leader, partitions) in by_leader {
        if leader == node_id {
            for (topic, index) in partitions {
                match write_local(broker, &topic, index, marker).await {
                    Ok(()) | Err(ResponseError::UnknownTopicOrPartition | ResponseError::InvalidProducerEpoch) => {}
                    Err(code) => bail!("marking {topic}-{index}: {code:?}"),
                }
            }
        } else {
            write_remote(broker, leader, &partitions, marker).await?;
        }
    }
    Ok(())
}

/// Appends the marker to a partition this broker leads, fsynced, and waits for the in-sync
/// replicas. INVALID_PRODUCER_EPOCH means a newer producer epoch is in the partition: this
/// marker is stale (the transaction was already ended by a later coordinator).
pub async fn write_local(broker: &Broker, topic: &str, index: i32, marker: Marker) -> Result<(), ResponseError> {
    let p = broker.partition(topic, index).ok_or(ResponseError::UnknownTopicOrPartition)?;
    let bytes = batch::end_txn_marker(
        marker.producer_id,
        marker.producer_epoch,
        marker.commit,
        marker.coordinator_epoch,
        broker.clock.now_ms(),
    );
    let (appended, leader_epoch) = p
        .append_marker(bytes, Durability::Sync)
        .map_err(|e| ResponseError::try_from_code(e.code()).unwrap_or(ResponseError::UnknownServerError))?;
    match tokio::time::timeout(MARKER_TIMEOUT, p.wait_committed(appended.last_offset + 1, leader_epoch)).await {
        Ok(Ok(())) => {}
        Ok(Err(code)) => return Err(code),
        Err(_) => return Err(ResponseError::RequestTimedOut),
    }
    if topic == OFFSETS_TOPIC {
        // The group coordinator applies (or drops) the offsets committed in the transaction.
        broker.groups.end_txn(index, marker.producer_id, marker.commit);
    }
    Ok(())
}

/// Asks broker `leader` to write the marker to `partitions` (WriteTxnMarkers v1).
async fn write_remote(
    broker: &Broker,
    leader: i32,
    partitions: &[(String, i32)],
    marker: Marker,
) -> anyhow::Result<()> {
    let addr = broker
        .image()
        .brokers
        .get(&leader)
        .and_then(|b| b.endpoint(&broker.config.inter_broker_listener))
        .map(|e| format!("{}:{}", e.host, e.port))
        .with_context(|| format!("broker {leader} has no endpoint"))?;
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, index) in partitions {
        topics.entry(topic).or_default().push(*index);
    }
    let request = WriteTxnMarkersRequest::default().with_markers(vec![
        WritableTxnMarker::default()
            .with_producer_id(ProducerId(marker.producer_id))
            .with_producer_epoch(marker.producer_epoch)
            .with_transaction_result(marker.commit)
            .with_coordinator_epoch(marker.coordinator_epoch)
            .with_topics(
                topics
                    .into_iter()
                    .map(|(name, indexes)| {
                        WritableTxnMarkerTopic::default()
                            .with_name(TopicName(StrBytes::from_string(name.to_string())))
                            .with_partition_indexes(indexes)
                    })
                    .collect(),
            ),
    ]);
    let client_id = format!("brook-txn-coordinator-{}", broker.config.node_id);
    let mut connection = Connection::connect(&addr, client_id, MARKER_TIMEOUT, &broker.inter_broker).await?;
    let response = connection.call(&request, 1, MARKER_TIMEOUT).await?;
    for result in response.markers {
        for topic in result.topics {
            for p in topic.partitions {
                match ResponseError::try_from_code(p.error_code) {
                    None | Some(ResponseError::UnknownTopicOrPartition | ResponseError::InvalidProducerEpoch) => {}
                    Some(code) => {
                        bail!("broker {leader} marking {}-{}: {code:?}", topic.name.as_str(), p.partition_index)
                    }
                }
            }
        }
    }
    Ok(())
}
