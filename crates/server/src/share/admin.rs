//! The share coordinator's side of share group offsets (DescribeShareGroupOffsets,
//! AlterShareGroupOffsets, DeleteShareGroupOffsets, DeleteGroups): Kafka's
//! ReadShareGroupStateSummary, InitializeShareGroupState and DeleteShareGroupState, done in
//! this process when it leads the state partition, else over the inter-broker listener.
//!
//! As Kafka's coordinator: an initialization with a state epoch not above the stored one is
//! refused (FENCED_STATE_EPOCH); it replaces the state with a start offset and no batches,
//! keeping the leader epoch (a deposed leader stays fenced). A share-partition this broker
//! holds is dropped when its state is replaced or deleted, so its next fetch reads it again;
//! one held elsewhere is fenced by the state epoch at its next write.

use std::collections::BTreeMap;
use std::time::Duration;

use brook_share::records::{Key, Snapshot};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    BrokerId, DeleteShareGroupStateRequest, InitializeShareGroupStateRequest, ListOffsetsRequest,
    ReadShareGroupStateSummaryRequest, TopicName, delete_share_group_state_request,
    initialize_share_group_state_request, list_offsets_request, read_share_group_state_summary_request,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::{SHARE_STATE_TOPIC, Shares};
use crate::broker::{ApiError, Broker};

/// What ReadShareGroupStateSummary tells of a share-partition.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub state_epoch: i32,
    pub leader_epoch: i32,
    pub start_offset: i64,
    pub delivery_complete_count: i64,
}

/// A share-partition's offsets as DescribeShareGroupOffsets and the console show them.
#[derive(Debug, Clone, Copy)]
pub struct ShareOffset {
    pub start_offset: i64,
    pub leader_epoch: i32,
    /// What is left to deliver: the log end less the start offset less what was accepted or
    /// archived past it; or why the log end could not be read.
    pub lag: Result<i64, ResponseError>,
}

/// A refusal for every partition of a call.
fn all<T>(n: usize, e: &ApiError) -> Vec<Result<T, ApiError>> {
    (0..n).map(|_| Err(e.clone())).collect()
}

fn api_error(code: ResponseError, message: Option<&StrBytes>) -> ApiError {
    ApiError::new(code, message.map_or_else(|| code.to_string(), |m| m.to_string()))
}

/// Answers of a remote call in the order of `parts`, from (topic id, partition, outcome).
fn in_order<T>(
    parts: &[(Uuid, i32)],
    answers: impl Iterator<Item = (Uuid, i32, Result<T, ApiError>)>,
) -> Vec<Result<T, ApiError>> {
    let mut by_key: BTreeMap<(Uuid, i32), Result<T, ApiError>> = answers.map(|(t, p, r)| ((t, p), r)).collect();
    let missing = ApiError::new(ResponseError::UnknownServerError, "the share coordinator left it out");
    parts.iter().map(|k| by_key.remove(k).unwrap_or_else(|| Err(missing.clone()))).collect()
}

/// The partitions of `parts` by topic, as the state requests carry them.
fn by_topic<T: Clone>(parts: &[(Uuid, i32, T)]) -> BTreeMap<Uuid, Vec<(i32, T)>> {
    let mut topics: BTreeMap<Uuid, Vec<(i32, T)>> = BTreeMap::new();
    for (topic, partition, extra) in parts {
        topics.entry(*topic).or_default().push((*partition, extra.clone()));
    }
    topics
}

impl Shares {
    /// ReadShareGroupStateSummary on this coordinator: None if nothing is persisted.
    pub fn summarize(&self, key: &Key) -> Result<Option<Summary>, ResponseError> {
        self.serving(self.config.state_partition(key))?;
        Ok(self.lock().persisted.get(key).map(|s| Summary {
            state_epoch: s.state_epoch,
            leader_epoch: s.leader_epoch,
            start_offset: s.start_offset,
            delivery_complete_count: s.delivery_complete_count(),
        }))
    }

    /// InitializeShareGroupState on this coordinator, for share-partitions of one state
    /// partition: (key, state epoch, start offset) each. Answered once durable.
    pub async fn initialize_state(
        &self,
        broker: &Broker,
        partition: i32,
        inits: Vec<(Key, i32, i64)>,
    ) -> Vec<Result<(), ApiError>> {
        if let Err(code) = self.serving(partition) {
            return all(inits.len(), &ApiError::new(code, code.to_string()));
        }
        let now_ms = broker.clock.now_ms();
        let mut outcomes = Vec::with_capacity(inits.len());
        let mut writes = Vec::new();
        {
            let inner = self.lock();
            for (key, state_epoch, start_offset) in inits {
                let stored = inner.persisted.get(&key);
                if stored.is_some_and(|s| s.state_epoch >= state_epoch) {
                    let code = ResponseError::FencedStateEpoch;
                    outcomes.push(Err(ApiError::new(code, code.to_string())));
                    continue;
                }
                outcomes.push(Ok(()));
                let snapshot = Snapshot {
                    snapshot_epoch: stored.map_or(0, |s| s.snapshot_epoch + 1),
                    state_epoch,
                    leader_epoch: stored.map_or(0, |s| s.leader_epoch),
                    start_offset,
                    create_timestamp: now_ms,
                    write_timestamp: now_ms,
                    batches: Vec::new(),
                };
                writes.push((key, Some(snapshot)));
            }
        }
        self.replace_state(broker, partition, writes, outcomes).await
    }

    /// DeleteShareGroupState on this coordinator, for share-partitions of one state partition.
    pub async fn delete_state(&self, broker: &Broker, partition: i32, keys: Vec<Key>) -> Vec<Result<(), ApiError>> {
        if let Err(code) = self.serving(partition) {
            return all(keys.len(), &ApiError::new(code, code.to_string()));
        }
        let outcomes = keys.iter().map(|_| Ok(())).collect();
        self.replace_state(broker, partition, keys.into_iter().map(|k| (k, None)).collect(), outcomes).await
    }

    /// Writes new states (None deletes one), then drops the share-partitions held from the old.
    async fn replace_state(
        &self,
        broker: &Broker,
        partition: i32,
        writes: Vec<(Key, Option<Snapshot>)>,
        outcomes: Vec<Result<(), ApiError>>,
    ) -> Vec<Result<(), ApiError>> {
        if writes.is_empty() {
            return outcomes;
        }
        if let Err(e) = self.append_state(broker, partition, writes.iter().map(|(k, s)| (k, s.as_ref()))).await {
            return outcomes.into_iter().map(|o| o.and(Err(e.clone()))).collect();
        }
        let mut inner = self.lock();
        for (key, snapshot) in writes {
            inner.held.remove(&key);
            match snapshot {
                Some(s) => inner.persisted.insert(key, s),
                None => inner.persisted.remove(&key),
            };
        }
        outcomes
    }

    /// The summaries of a group's share-partitions, from wherever their coordinators are.
    pub async fn summaries(
        &self,
        broker: &Broker,
        group: &str,
        parts: &[(Uuid, i32)],
    ) -> Vec<Result<Option<Summary>, ApiError>> {
        let mut results: Vec<Option<Result<Option<Summary>, ApiError>>> = parts.iter().map(|_| None).collect();
        for (partition, indices) in self.by_state_partition(group, parts) {
            let subset: Vec<(Uuid, i32)> = indices.iter().map(|&i| parts[i]).collect();
            let answers = match self.serves_state(partition) {
                Err(code) => all(subset.len(), &ApiError::new(code, code.to_string())),
                Ok(true) => subset
                    .iter()
                    .map(|&(topic_id, p)| {
                        let key = Key { group: group.to_string(), topic_id, partition: p };
                        self.summarize(&key).map_err(|code| ApiError::new(code, code.to_string()))
                    })
                    .collect(),
                Ok(false) => self.remote_summaries(broker, partition, group, &subset).await,
            };
            for (i, answer) in indices.into_iter().zip(answers) {
                results[i] = Some(answer);
            }
        }
        results.into_iter().map(|r| r.expect("every partition answered")).collect()
    }

    /// The offsets of a group's share-partitions: None where nothing is persisted or the state
    /// cannot be read.
    pub async fn offsets(&self, broker: &Broker, group: &str, parts: &[(Uuid, i32)]) -> Vec<Option<ShareOffset>> {
        let summaries = self.summaries(broker, group, parts).await;
        let mut offsets = Vec::with_capacity(parts.len());
        for (&(topic_id, partition), summary) in parts.iter().zip(summaries) {
            let Ok(Some(s)) = summary else {
                offsets.push(None);
                continue;
            };
            let lag = match broker.topic_by_id(&topic_id) {
                Some(t) => latest_offset(broker, &t.name, partition).await,
                None => Err(ResponseError::UnknownTopicId),
            };
            offsets.push(Some(ShareOffset {
                start_offset: s.start_offset,
                leader_epoch: s.leader_epoch,
                lag: lag.map(|end| (end - s.start_offset - s.delivery_complete_count).max(0)),
            }));
        }
        offsets
    }

    /// Sets share-partitions' start offsets (state epoch one past the stored one).
    pub async fn reset_state(
        &self,
        broker: &Broker,
        group: &str,
        parts: &[(Uuid, i32, i64)],
    ) -> Vec<Result<(), ApiError>> {
        let keys: Vec<(Uuid, i32)> = parts.iter().map(|&(t, p, _)| (t, p)).collect();
        let summaries = self.summaries(broker, group, &keys).await;
        let mut results: Vec<Option<Result<(), ApiError>>> = parts.iter().map(|_| None).collect();
        let mut inits = Vec::new();
        for (i, summary) in summaries.into_iter().enumerate() {
            match summary {
                Err(e) => results[i] = Some(Err(e)),
                Ok(s) => inits.push((i, s.map_or(0, |s| s.state_epoch) + 1)),
            }
        }
        let wanted: Vec<(Uuid, i32)> = inits.iter().map(|&(i, _)| keys[i]).collect();
        for (partition, indices) in self.by_state_partition(group, &wanted) {
            let subset: Vec<(Uuid, i32, (i32, i64))> = indices
                .iter()
                .map(|&j| {
                    let (i, state_epoch) = inits[j];
                    (parts[i].0, parts[i].1, (state_epoch, parts[i].2))
                })
                .collect();
            let answers = match self.serves_state(partition) {
                Err(code) => all(subset.len(), &ApiError::new(code, code.to_string())),
                Ok(true) => {
                    let local = subset
                        .iter()
                        .map(|&(topic_id, p, (epoch, start))| {
                            (Key { group: group.to_string(), topic_id, partition: p }, epoch, start)
                        })
                        .collect();
                    self.initialize_state(broker, partition, local).await
                }
                Ok(false) => self.remote_initialize(broker, partition, group, &subset).await,
            };
            for (j, answer) in indices.into_iter().zip(answers) {
                results[inits[j].0] = Some(answer);
            }
        }
        results.into_iter().map(|r| r.expect("every partition answered")).collect()
    }

    /// Deletes share-partitions' state.
    pub async fn remove_state(&self, broker: &Broker, group: &str, parts: &[(Uuid, i32)]) -> Vec<Result<(), ApiError>> {
        let mut results: Vec<Option<Result<(), ApiError>>> = parts.iter().map(|_| None).collect();
        for (partition, indices) in self.by_state_partition(group, parts) {
            let subset: Vec<(Uuid, i32)> = indices.iter().map(|&i| parts[i]).collect();
            let answers = match self.serves_state(partition) {
                Err(code) => all(subset.len(), &ApiError::new(code, code.to_string())),
                Ok(true) => {
                    let keys = subset
                        .iter()
                        .map(|&(topic_id, p)| Key { group: group.to_string(), topic_id, partition: p })
                        .collect();
                    self.delete_state(broker, partition, keys).await
                }
                Ok(false) => self.remote_delete(broker, partition, group, &subset).await,
            };
            for (i, answer) in indices.into_iter().zip(answers) {
                results[i] = Some(answer);
            }
        }
        results.into_iter().map(|r| r.expect("every partition answered")).collect()
    }

    /// Waits, up to `timeout`, until each state partition of `parts` has a coordinator that can
    /// answer: loaded here, or led by another broker (the state topic may have just been
    /// made, as an admin request can come before any member).
    pub async fn await_coordinators(&self, broker: &Broker, group: &str, parts: &[(Uuid, i32)], timeout: Duration) {
        let partitions: Vec<i32> = self.by_state_partition(group, parts).into_keys().collect();
        let ready = || {
            let image = broker.image();
            let Some(topic) = image.topic(SHARE_STATE_TOPIC) else { return false };
            partitions.iter().all(|&p| match topic.partition(p).map(|m| m.leader) {
                Some(l) if l == broker.config.node_id => self.serves_state(p) == Ok(true),
                Some(l) => l >= 0,
                None => false,
            })
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let mut loads = self.loads_done.subscribe();
        while !ready() && tokio::time::Instant::now() < deadline {
            // Loads finishing wake it; an election elsewhere is seen at the next look.
            let _ = tokio::time::timeout(Duration::from_millis(50), loads.changed()).await;
        }
    }

    /// Indices into `parts` by the state partition that holds them.
    fn by_state_partition(&self, group: &str, parts: &[(Uuid, i32)]) -> BTreeMap<i32, Vec<usize>> {
        let mut by: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
        for (i, &(topic_id, partition)) in parts.iter().enumerate() {
            let key = Key { group: group.to_string(), topic_id, partition };
            by.entry(self.config.state_partition(&key)).or_default().push(i);
        }
        by
    }

    async fn remote_summaries(
        &self,
        broker: &Broker,
        partition: i32,
        group: &str,
        parts: &[(Uuid, i32)],
    ) -> Vec<Result<Option<Summary>, ApiError>> {
        use read_share_group_state_summary_request::{PartitionData, ReadStateSummaryData};
        let tagged: Vec<(Uuid, i32, ())> = parts.iter().map(|&(t, p)| (t, p, ())).collect();
        let request = ReadShareGroupStateSummaryRequest::default()
            .with_group_id(StrBytes::from_string(group.to_string()))
            .with_topics(
                by_topic(&tagged)
                    .into_iter()
                    .map(|(topic_id, ps)| {
                        ReadStateSummaryData::default().with_topic_id(topic_id).with_partitions(
                            ps.into_iter()
                                .map(|(p, ())| PartitionData::default().with_partition(p).with_leader_epoch(-1))
                                .collect(),
                        )
                    })
                    .collect(),
            );
        match self.call_coordinator(broker, partition, &request, 1).await {
            Err(code) => all(parts.len(), &ApiError::new(code, code.to_string())),
            Ok(response) => in_order(
                parts,
                response.results.into_iter().flat_map(|t| {
                    t.partitions.into_iter().map(move |p| {
                        let outcome = match ResponseError::try_from_code(p.error_code) {
                            Some(code) => Err(api_error(code, p.error_message.as_ref())),
                            None if p.start_offset < 0 => Ok(None),
                            None => Ok(Some(Summary {
                                state_epoch: p.state_epoch,
                                leader_epoch: p.leader_epoch,
                                start_offset: p.start_offset,
                                delivery_complete_count: i64::from(p.delivery_complete_count),
                            })),
                        };
                        (t.topic_id, p.partition, outcome)
                    })
                }),
            ),
        }
    }

    async fn remote_initialize(
        &self,
        broker: &Broker,
        partition: i32,
        group: &str,
        parts: &[(Uuid, i32, (i32, i64))],
    ) -> Vec<Result<(), ApiError>> {
        use initialize_share_group_state_request::{InitializeStateData, PartitionData};
        let request = InitializeShareGroupStateRequest::default()
            .with_group_id(StrBytes::from_string(group.to_string()))
            .with_topics(
                by_topic(parts)
                    .into_iter()
                    .map(|(topic_id, ps)| {
                        InitializeStateData::default().with_topic_id(topic_id).with_partitions(
                            ps.into_iter()
                                .map(|(p, (epoch, start))| {
                                    PartitionData::default()
                                        .with_partition(p)
                                        .with_state_epoch(epoch)
                                        .with_start_offset(start)
                                })
                                .collect(),
                        )
                    })
                    .collect(),
            );
        let keys: Vec<(Uuid, i32)> = parts.iter().map(|&(t, p, _)| (t, p)).collect();
        match self.call_coordinator(broker, partition, &request, 0).await {
            Err(code) => all(parts.len(), &ApiError::new(code, code.to_string())),
            Ok(response) => in_order(
                &keys,
                response.results.into_iter().flat_map(|t| {
                    t.partitions
                        .into_iter()
                        .map(move |p| (t.topic_id, p.partition, outcome(p.error_code, p.error_message)))
                }),
            ),
        }
    }

    async fn remote_delete(
        &self,
        broker: &Broker,
        partition: i32,
        group: &str,
        parts: &[(Uuid, i32)],
    ) -> Vec<Result<(), ApiError>> {
        use delete_share_group_state_request::{DeleteStateData, PartitionData};
        let tagged: Vec<(Uuid, i32, ())> = parts.iter().map(|&(t, p)| (t, p, ())).collect();
        let request = DeleteShareGroupStateRequest::default()
            .with_group_id(StrBytes::from_string(group.to_string()))
            .with_topics(
                by_topic(&tagged)
                    .into_iter()
                    .map(|(topic_id, ps)| {
                        DeleteStateData::default().with_topic_id(topic_id).with_partitions(
                            ps.into_iter().map(|(p, ())| PartitionData::default().with_partition(p)).collect(),
                        )
                    })
                    .collect(),
            );
        match self.call_coordinator(broker, partition, &request, 0).await {
            Err(code) => all(parts.len(), &ApiError::new(code, code.to_string())),
            Ok(response) => in_order(
                parts,
                response.results.into_iter().flat_map(|t| {
                    t.partitions
                        .into_iter()
                        .map(move |p| (t.topic_id, p.partition, outcome(p.error_code, p.error_message)))
                }),
            ),
        }
    }
}

/// The log end a share-partition's lag is counted to: this broker's replica's high watermark,
/// else the leader's, asked with ListOffsets.
async fn latest_offset(broker: &Broker, topic: &str, partition: i32) -> Result<i64, ResponseError> {
    if let Some(local) = broker.partition(topic, partition) {
        return Ok(local.log.high_watermark());
    }
    let leader = broker
        .topic(topic)
        .and_then(|t| t.partition(partition).map(|p| p.leader))
        .filter(|&l| l >= 0)
        .ok_or(ResponseError::LeaderNotAvailable)?;
    let request = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
        list_offsets_request::ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![
                list_offsets_request::ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_timestamp(-1),
            ]),
    ]);
    let response = broker.shares.call_broker(broker, leader, &request, 8).await?;
    let p = response.topics.iter().flat_map(|t| &t.partitions).next().ok_or(ResponseError::UnknownServerError)?;
    match ResponseError::try_from_code(p.error_code) {
        Some(code) => Err(code),
        None => Ok(p.offset),
    }
}

fn outcome(code: i16, message: Option<StrBytes>) -> Result<(), ApiError> {
    match ResponseError::try_from_code(code) {
        Some(code) => Err(api_error(code, message.as_ref())),
        None => Ok(()),
    }
}
