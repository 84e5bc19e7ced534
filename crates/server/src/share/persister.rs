//! The share coordinator's state APIs, and how a share-partition leader reaches them: in this
//! process when it leads the state partition, else over the inter-broker listener with Kafka's
//! ReadShareGroupState and WriteShareGroupState.
//!
//! As Kafka's coordinator: a read names the reader's leader epoch and raises the stored one,
//! so that a deposed leader's later writes are refused (FENCED_LEADER_EPOCH); a write with an
//! older state epoch (the state was reset meanwhile) is refused with FENCED_STATE_EPOCH; a
//! write's batches replace the stored ones where they overlap, and offsets below its start
//! offset are dropped.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use brook_replication::client::Connection;
use brook_share::StateBatch;
use brook_share::records::{Key, Snapshot, encode_key, encode_snapshot};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ReadShareGroupStateRequest, WriteShareGroupStateRequest, read_share_group_state_request,
    write_share_group_state_request,
};
use kafka_protocol::protocol::StrBytes;

use super::{SHARE_STATE_TOPIC, Shares, state::merge};
use crate::broker::{ApiError, Broker};

const RPC_TIMEOUT: Duration = Duration::from_secs(10);

impl Shares {
    /// Whether this broker serves the state partition: Ok(true) loaded, Ok(false) another
    /// broker leads it, or still loading.
    pub(super) fn serves_state(&self, partition: i32) -> Result<bool, ResponseError> {
        match self.lock().owned.get(&partition) {
            Some((_, true)) => Ok(true),
            Some((_, false)) => Err(ResponseError::CoordinatorLoadInProgress),
            None => Ok(false),
        }
    }

    /// Ok if this broker serves the state partition, else the refusal for a state request.
    pub(super) fn serving(&self, partition: i32) -> Result<(), ResponseError> {
        match self.serves_state(partition)? {
            true => Ok(()),
            false => Err(ResponseError::NotCoordinator),
        }
    }

    /// Appends share-partitions' states (None: a tombstone) to a state partition this broker
    /// leads, once the in-sync replicas have them.
    pub(super) async fn append_state<'a>(
        &self,
        broker: &Broker,
        partition: i32,
        states: impl Iterator<Item = (&'a Key, Option<&'a Snapshot>)>,
    ) -> Result<(), ApiError> {
        let records: Vec<brook_log::batch::Record> = states
            .map(|(k, s)| brook_log::batch::Record {
                timestamp_delta: 0,
                key: Some(encode_key(k).to_vec()),
                value: s.map(|s| encode_snapshot(s).to_vec()),
            })
            .collect();
        let batch = brook_log::batch::build::batch(broker.clock.now_ms(), &records);
        let timeout = Duration::from_millis(self.config.write_timeout_ms);
        broker.append_internal(SHARE_STATE_TOPIC, partition, batch, timeout).await.map(|_| ())
    }

    /// ReadShareGroupState on this coordinator: the snapshot, if any.
    pub fn read_state(&self, key: &Key, leader_epoch: i32) -> Result<Option<Snapshot>, ResponseError> {
        self.serving(self.config.state_partition(key))?;
        let mut inner = self.lock();
        let Some(snapshot) = inner.persisted.get_mut(key) else { return Ok(None) };
        if leader_epoch < snapshot.leader_epoch {
            return Err(ResponseError::FencedLeaderEpoch);
        }
        snapshot.leader_epoch = leader_epoch;
        Ok(Some(snapshot.clone()))
    }

    /// WriteShareGroupState on this coordinator, for share-partitions of one state partition:
    /// each write's outcome, in order. Answered once the accepted ones are durable.
    pub async fn write_state(
        &self,
        broker: &Broker,
        partition: i32,
        writes: Vec<(Key, Snapshot)>,
    ) -> Vec<Result<(), ApiError>> {
        if let Err(code) = self.serving(partition) {
            return writes.iter().map(|_| Err(ApiError::new(code, code.to_string()))).collect();
        }
        let mut outcomes = Vec::with_capacity(writes.len());
        let mut merged = Vec::new();
        {
            let inner = self.lock();
            for (key, write) in writes {
                let stored = inner.persisted.get(&key);
                let outcome = match stored {
                    Some(s) if write.leader_epoch < s.leader_epoch => Err(ResponseError::FencedLeaderEpoch),
                    Some(s) if write.state_epoch < s.state_epoch => Err(ResponseError::FencedStateEpoch),
                    Some(s) => {
                        let mut next = s.clone();
                        merge(&mut next, write.start_offset, write.batches);
                        next.snapshot_epoch += 1;
                        next.leader_epoch = write.leader_epoch;
                        next.write_timestamp = write.write_timestamp;
                        Ok(next)
                    }
                    None => Ok(write),
                };
                outcomes.push(outcome.as_ref().err().copied());
                if let Ok(snapshot) = outcome {
                    merged.push((key, snapshot));
                }
            }
        }
        let appended = match merged.is_empty() {
            true => Ok(()),
            false => self.append_state(broker, partition, merged.iter().map(|(k, s)| (k, Some(s)))).await,
        };
        if appended.is_ok() {
            let mut inner = self.lock();
            inner.persisted.extend(merged);
        }
        outcomes
            .into_iter()
            .map(|refused| match (refused, &appended) {
                (Some(code), _) => Err(ApiError::new(code, code.to_string())),
                (None, Err(e)) => Err(e.clone()),
                (None, Ok(())) => Ok(()),
            })
            .collect()
    }

    /// The persisted state of a share-partition, from wherever its coordinator is.
    pub(super) async fn fetch_state(
        &self,
        broker: &Broker,
        key: &Key,
        leader_epoch: i32,
    ) -> Result<Option<Snapshot>, ResponseError> {
        let partition = self.config.state_partition(key);
        if self.serves_state(partition)? {
            return self.read_state(key, leader_epoch);
        }
        let request = ReadShareGroupStateRequest::default()
            .with_group_id(StrBytes::from_string(key.group.clone()))
            .with_topics(vec![
                read_share_group_state_request::ReadStateData::default().with_topic_id(key.topic_id).with_partitions(
                    vec![
                        read_share_group_state_request::PartitionData::default()
                            .with_partition(key.partition)
                            .with_leader_epoch(leader_epoch),
                    ],
                ),
            ]);
        let response = self.call_coordinator(broker, partition, &request, 0).await?;
        let result = response
            .results
            .into_iter()
            .flat_map(|t| t.partitions)
            .next()
            .ok_or(ResponseError::CoordinatorNotAvailable)?;
        if let Some(code) = ResponseError::try_from_code(result.error_code) {
            return Err(code);
        }
        if result.start_offset < 0 {
            return Ok(None);
        }
        let batches = result
            .state_batches
            .iter()
            .filter_map(|b| StateBatch::from_wire(b.first_offset, b.last_offset, b.delivery_state, b.delivery_count))
            .collect();
        Ok(Some(Snapshot {
            snapshot_epoch: 0,
            state_epoch: result.state_epoch,
            leader_epoch,
            start_offset: result.start_offset,
            create_timestamp: -1,
            write_timestamp: -1,
            batches,
        }))
    }

    /// Writes share-partitions' state (all of one state partition) to its coordinator.
    pub(super) async fn persist(
        &self,
        broker: &Broker,
        partition: i32,
        writes: Vec<(Key, Snapshot)>,
    ) -> Result<(), ApiError> {
        let local = self.serves_state(partition).map_err(|code| ApiError::new(code, code.to_string()))?;
        if local {
            return self.write_state(broker, partition, writes).await.into_iter().collect();
        }
        let mut by_group: BTreeMap<String, BTreeMap<uuid::Uuid, Vec<write_share_group_state_request::PartitionData>>> =
            BTreeMap::new();
        for (key, w) in writes {
            let data = write_share_group_state_request::PartitionData::default()
                .with_partition(key.partition)
                .with_state_epoch(w.state_epoch)
                .with_leader_epoch(w.leader_epoch)
                .with_start_offset(w.start_offset)
                .with_state_batches(
                    w.batches
                        .iter()
                        .map(|b| {
                            write_share_group_state_request::StateBatch::default()
                                .with_first_offset(b.first)
                                .with_last_offset(b.last)
                                .with_delivery_state(b.state.id())
                                .with_delivery_count(b.delivery_count)
                        })
                        .collect(),
                );
            by_group.entry(key.group).or_default().entry(key.topic_id).or_default().push(data);
        }
        for (group, topics) in by_group {
            let request =
                WriteShareGroupStateRequest::default().with_group_id(StrBytes::from_string(group)).with_topics(
                    topics
                        .into_iter()
                        .map(|(topic_id, partitions)| {
                            write_share_group_state_request::WriteStateData::default()
                                .with_topic_id(topic_id)
                                .with_partitions(partitions)
                        })
                        .collect(),
                );
            let response = self
                .call_coordinator(broker, partition, &request, 0)
                .await
                .map_err(|code| ApiError::new(code, code.to_string()))?;
            for p in response.results.iter().flat_map(|t| &t.partitions) {
                if let Some(code) = ResponseError::try_from_code(p.error_code) {
                    let message = p.error_message.as_ref().map_or_else(|| code.to_string(), |m| m.to_string());
                    return Err(ApiError::new(code, message));
                }
            }
        }
        Ok(())
    }

    /// Sends a state request to the leader of `partition` of `__share_group_state`.
    pub(super) async fn call_coordinator<R: kafka_protocol::protocol::Request>(
        &self,
        broker: &Broker,
        partition: i32,
        request: &R,
        version: i16,
    ) -> Result<R::Response, ResponseError> {
        let leader = broker
            .image()
            .topic(SHARE_STATE_TOPIC)
            .and_then(|t| t.partition(partition).map(|p| p.leader))
            .filter(|&l| l >= 0)
            .ok_or(ResponseError::CoordinatorNotAvailable)?;
        if leader == broker.config.node_id {
            // Elected here, not loaded yet.
            return Err(ResponseError::CoordinatorLoadInProgress);
        }
        self.call_broker(broker, leader, request, version).await
    }

    /// Sends a request to another broker over the inter-broker listener, on a connection kept
    /// for the next one. Any failure reads as COORDINATOR_NOT_AVAILABLE.
    pub async fn call_broker<R: kafka_protocol::protocol::Request>(
        &self,
        broker: &Broker,
        node: i32,
        request: &R,
        version: i16,
    ) -> Result<R::Response, ResponseError> {
        let addr = broker
            .image()
            .brokers
            .get(&node)
            .and_then(|b| b.endpoint(&broker.config.inter_broker_listener))
            .map(|e| format!("{}:{}", e.host, e.port))
            .ok_or(ResponseError::CoordinatorNotAvailable)?;
        let kept = self.connections.lock().await.remove(&addr);
        let result = async {
            let mut connection = match kept {
                Some(c) => c,
                None => {
                    let client_id = format!("brook-share-persister-{}", broker.config.node_id);
                    Connection::connect(&addr, client_id, RPC_TIMEOUT, &broker.inter_broker).await?
                }
            };
            let response = connection.call(request, version, RPC_TIMEOUT).await.context("share state request")?;
            anyhow::Ok((connection, response))
        }
        .await;
        match result {
            Ok((connection, response)) => {
                self.connections.lock().await.insert(addr, connection);
                Ok(response)
            }
            Err(e) => {
                tracing::warn!(%addr, error = %e, "reaching the share coordinator failed");
                Err(ResponseError::CoordinatorNotAvailable)
            }
        }
    }
}
