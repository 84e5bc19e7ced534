//! Fetch: whole batches from each partition's high watermark-bounded log (below the last
//! stable offset, with the aborted transactions, for `read_committed`), long-polling until
//! `min_bytes` are there or `max_wait_ms` passes. The wait sleeps on the partitions' high
//! watermark channels, never in a loop. Within a fetch session (KIP-227, `fetch_session`) the
//! request names only what changed and the response carries only what has news.
//!
//! A consumer's fetch from version 11 may be served by any replica (KIP-392), and its leader
//! may send it to a follower in its rack (`replica.selector.class`).
//!
//! A fetch with a replica id is a follower's: the leader checks its leader epoch and whether
//! its log diverged, notes its progress (which may move the high watermark and the ISR), and
//! serves it up to the log end, waking on appends rather than on the high watermark.
//!
//! With an authorizer a consumer needs READ on each topic, a follower CLUSTER_ACTION; a
//! partition it may not read answers TOPIC_AUTHORIZATION_FAILED.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use brook_log::{LogError, ReadBound};
use brook_replication::role::{FollowerFetch, FollowerPosition};
use brook_security::acl::{Operation, ResourceType};
use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::LeaderHints;
use crate::authorization::Access;
use crate::broker::{Broker, TopicMeta};
use crate::fetch_session::{Answer, Fetch, FetchKey, FetchPosition};
use crate::partition::Partition;
use crate::stats::count_records;

/// One requested partition, resolved.
struct Wanted {
    topic: usize,
    /// The topic's id, if it exists.
    topic_id: Option<Uuid>,
    index: i32,
    partition: Result<Arc<Partition>, ResponseError>,
    fetch_offset: i64,
    max_bytes: usize,
    /// A follower's log diverged from the leader's: (epoch, end offset) to truncate to.
    diverged: Option<(i32, i64)>,
    /// A consumer should read this partition from that replica instead (KIP-392).
    read_replica: Option<i32>,
}

impl Wanted {
    /// Answered at once, without records: a divergence or a replica to read from instead.
    fn redirects(&self) -> bool {
        self.diverged.is_some() || self.read_replica.is_some()
    }
}

pub(super) async fn handle(
    broker: &Arc<Broker>,
    request: FetchRequest,
    version: i16,
    listener: Arc<str>,
    access: Access,
) -> FetchResponse {
    let replica_id = if version >= 15 { request.replica_state.replica_id.0 } else { request.replica_id.0 };
    let bound = if replica_id >= 0 { ReadBound::LogEnd } else { ReadBound::HighWatermark };
    // read_committed consumers read below the last stable offset and learn the aborted
    // transactions in what they read.
    let committed = replica_id < 0 && version >= 4 && request.isolation_level == 1;
    let uses_ids = version >= 13;
    let (requested, forgotten) = named_partitions(&request, uses_ids);
    let (session_id, epoch) = (request.session_id, request.session_epoch);
    let fetch = match broker.fetch_sessions.begin(session_id, epoch, uses_ids, replica_id >= 0, requested, forgotten) {
        Ok(fetch) => fetch,
        Err(code) => return FetchResponse::default().with_error_code(code.code()),
    };
    let now_ms = broker.clock.now_ms();
    // Only a live follower that is not shutting down may join an ISR.
    let eligible = replica_id >= 0 && broker.image().eligible(replica_id);
    let mut topics: Vec<(TopicName, Uuid)> = Vec::new();
    let follower_allowed = replica_id >= 0 && access.allows_cluster(broker, Operation::ClusterAction);
    let mut metas: HashMap<(String, Uuid), (usize, Option<TopicMeta>, bool)> = HashMap::new();
    let mut wanted = Vec::with_capacity(fetch.partitions.len());
    for (key, position) in &fetch.partitions {
        let (t, meta, allowed) = metas.entry((key.topic.clone(), key.topic_id)).or_insert_with(|| {
            topics.push((TopicName(StrBytes::from_string(key.topic.clone())), key.topic_id));
            let meta = if uses_ids { broker.topic_by_id(&key.topic_id) } else { broker.topic(&key.topic) };
            let allowed = match (replica_id >= 0, &meta) {
                (true, _) => follower_allowed,
                (false, Some(m)) => access.allows(broker, Operation::Read, ResourceType::Topic, &m.name),
                (false, None) => uses_ids || access.allows(broker, Operation::Read, ResourceType::Topic, &key.topic),
            };
            (topics.len() - 1, meta, allowed)
        });
        let unknown = if uses_ids { ResponseError::UnknownTopicId } else { ResponseError::UnknownTopicOrPartition };
        // The leader epoch first, as Kafka: a follower or consumer that already knows a newer
        // epoch than this broker is told UNKNOWN_LEADER_EPOCH (retry soon: this broker is
        // about to learn it leads), not NOT_LEADER_OR_FOLLOWER.
        let epoch = position.current_leader_epoch;
        let from_any_replica = replica_id < 0 && version >= 11;
        let mut partition = match allowed {
            false => Err(ResponseError::TopicAuthorizationFailed),
            true => meta
                .as_ref()
                .ok_or(unknown)
                .and_then(|m| broker.readable_partition_in(m, key.partition, epoch, from_any_replica)),
        };
        let read_replica = match &partition {
            Ok(p) if from_any_replica => broker.preferred_read_replica(p, &request.rack_id, position.fetch_offset),
            _ => None,
        };
        let mut diverged = None;
        if replica_id >= 0
            && let Ok(leader) = &partition
        {
            let hw = leader.log.high_watermark();
            let fetch = FollowerPosition {
                replica: replica_id,
                eligible,
                current_leader_epoch: position.current_leader_epoch,
                fetch_offset: position.fetch_offset,
                last_fetched_epoch: position.last_fetched_epoch,
            };
            match leader.follower_fetch(fetch, now_ms, hw) {
                Ok(FollowerFetch::Serve(change)) => {
                    if let Some(change) = change {
                        broker.alter_isr(leader, change);
                    }
                }
                Ok(FollowerFetch::Diverged { epoch, end_offset }) => diverged = Some((epoch, end_offset)),
                Err(code) => partition = Err(code),
            }
        }
        wanted.push(Wanted {
            topic: *t,
            topic_id: meta.as_ref().map(|m| m.id),
            index: key.partition,
            partition,
            fetch_offset: position.fetch_offset,
            max_bytes: usize::try_from(position.max_bytes).unwrap_or(0),
            diverged,
            read_replica,
        });
    }
    let max_bytes = usize::try_from(request.max_bytes).unwrap_or(0);
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(u64::try_from(request.max_wait_ms).unwrap_or(0));
    // Subscribe before reading, so a batch landing between the read and the wait wakes us.
    let mut watchers: Vec<Watcher> = wanted
        .iter()
        .filter_map(|w| w.partition.as_ref().ok())
        .map(|p| match bound {
            ReadBound::LogEnd => Watcher::LogEnd(p.log.subscribe_progress()),
            _ => Watcher::HighWatermark(p.log.subscribe()),
        })
        .collect();
    let redirects = wanted.iter().any(Wanted::redirects);
    loop {
        let (partitions, bytes, errors) = read_all(&wanted, max_bytes, bound, committed);
        let now = tokio::time::Instant::now();
        if bytes >= min_bytes.max(1) || errors || redirects || now >= deadline || watchers.is_empty() {
            return respond(broker, &fetch, &wanted, topics, partitions, version, LeaderHints::on(listener));
        }
        let changed = futures::future::select_all(watchers.iter_mut().map(Watcher::changed));
        match tokio::time::timeout_at(deadline, changed).await {
            Ok((Ok(()), _, _)) => continue,
            // The deadline passed, or a partition went away (its topic was deleted).
            Ok((Err(_), _, _)) | Err(_) => {
                let (partitions, _, _) = read_all(&wanted, max_bytes, bound, committed);
                return respond(broker, &fetch, &wanted, topics, partitions, version, LeaderHints::on(listener));
            }
        }
    }
}

/// What a long poll waits on: consumers on the high watermark, followers on appends.
enum Watcher {
    HighWatermark(tokio::sync::watch::Receiver<brook_log::Watermark>),
    LogEnd(tokio::sync::watch::Receiver<brook_log::Progress>),
}

impl Watcher {
    fn changed(&mut self) -> BoxFuture<'_, Result<(), tokio::sync::watch::error::RecvError>> {
        match self {
            Watcher::HighWatermark(rx) => rx.changed().boxed(),
            Watcher::LogEnd(rx) => rx.changed().boxed(),
        }
    }
}

/// Reads every partition: (per-partition data, total bytes, whether any partition errored).
fn read_all(
    wanted: &[Wanted],
    max_bytes: usize,
    bound: ReadBound,
    committed: bool,
) -> (Vec<(usize, PartitionData)>, usize, bool) {
    let mut total = 0;
    let mut errors = false;
    let mut out = Vec::with_capacity(wanted.len());
    for w in wanted {
        let data = PartitionData::default().with_partition_index(w.index);
        let data = match &w.partition {
            Err(code) => {
                errors = true;
                data.with_error_code(code.code())
                    .with_high_watermark(-1)
                    .with_last_stable_offset(-1)
                    .with_log_start_offset(-1)
            }
            Ok(partition) => {
                let log = &partition.log;
                let high_watermark = log.high_watermark();
                let stable = partition.last_stable_offset();
                let data = data
                    .with_high_watermark(high_watermark)
                    .with_last_stable_offset(stable)
                    .with_log_start_offset(log.log_start_offset());
                let (bound, data) = if committed {
                    let aborted = partition
                        .aborted_between(w.fetch_offset, stable)
                        .into_iter()
                        .map(|t| {
                            AbortedTransaction::default()
                                .with_producer_id(ProducerId(t.producer_id))
                                .with_first_offset(t.first_offset)
                        })
                        .collect();
                    (ReadBound::Below(stable), data.with_aborted_transactions(Some(aborted)))
                } else {
                    // Kafka's null: no aborted list for read_uncommitted.
                    (bound, data.with_aborted_transactions(None))
                };
                if let Some((epoch, end_offset)) = w.diverged {
                    let diverging = EpochEndOffset::default().with_epoch(epoch).with_end_offset(end_offset);
                    out.push((w.topic, data.with_diverging_epoch(diverging)));
                    continue;
                }
                if let Some(replica) = w.read_replica {
                    out.push((w.topic, data.with_preferred_read_replica(replica.into())));
                    continue;
                }
                // KIP-74: the first partition with data may exceed the response limit.
                let budget = if total == 0 { w.max_bytes } else { w.max_bytes.min(max_bytes.saturating_sub(total)) };
                let read = if budget == 0 { Ok(Bytes::new()) } else { log.read(w.fetch_offset, budget, bound) };
                match read {
                    Ok(records) => {
                        total += records.len();
                        data.with_records(Some(records))
                    }
                    Err(LogError::OffsetOutOfRange { .. }) if bound == ReadBound::LogEnd => {
                        // A follower needs the leader's bounds to start over.
                        errors = true;
                        data.with_error_code(ResponseError::OffsetOutOfRange.code())
                    }
                    Err(e) => {
                        errors = true;
                        let code = match e {
                            LogError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange.code(),
                            other => other.kafka_error_code(),
                        };
                        // Kafka reports no offsets with a partition error.
                        data.with_error_code(code)
                            .with_high_watermark(-1)
                            .with_last_stable_offset(-1)
                            .with_log_start_offset(-1)
                    }
                }
            }
        };
        out.push((w.topic, data));
    }
    (out, total, errors)
}

/// Adds what a response carries to each partition's outbound counters (`read_all` gives one
/// entry per wanted partition, in order).
fn count_out(wanted: &[Wanted], partitions: &[(usize, PartitionData)]) {
    for (w, (_, data)) in wanted.iter().zip(partitions) {
        if let (Ok(partition), Some(records)) = (&w.partition, &data.records) {
            partition.stats.bytes_out.add(records.len() as u64);
            partition.stats.records_out.add(count_records(records));
        }
    }
}

/// The response for what was read, counted into each partition's outbound figures; within
/// a fetch session, only the partitions with news. From version 16 a partition asked of the
/// wrong broker (or in an old leader epoch) names its current leader (KIP-951).
fn respond(
    broker: &Broker,
    fetch: &Fetch,
    wanted: &[Wanted],
    topics: Vec<(TopicName, Uuid)>,
    mut partitions: Vec<(usize, PartitionData)>,
    version: i16,
    mut hints: LeaderHints,
) -> FetchResponse {
    count_out(wanted, &partitions);
    if version >= 16 {
        let misdirected = [ResponseError::NotLeaderOrFollower.code(), ResponseError::FencedLeaderEpoch.code()];
        for (w, (_, data)) in wanted.iter().zip(partitions.iter_mut()) {
            if let Some(id) = w.topic_id
                && misdirected.contains(&data.error_code)
            {
                let (leader, epoch) = hints.leader(broker, &id, w.index);
                data.current_leader =
                    LeaderIdAndEpoch::default().with_leader_id(leader.into()).with_leader_epoch(epoch);
            }
        }
    }
    let answers: Vec<Answer> = partitions
        .iter()
        .map(|(_, d)| Answer {
            has_records: d.records.as_ref().is_some_and(|r| !r.is_empty()),
            high_watermark: d.high_watermark,
            log_start_offset: d.log_start_offset,
            urgent: d.error_code != 0 || d.diverging_epoch.end_offset >= 0 || d.preferred_read_replica.0 >= 0,
        })
        .collect();
    let (session_id, include) = broker.fetch_sessions.finish(fetch, &answers);
    let mut responses: Vec<FetchableTopicResponse> = topics
        .into_iter()
        .map(|(name, id)| FetchableTopicResponse::default().with_topic(name).with_topic_id(id))
        .collect();
    for ((topic, data), include) in partitions.into_iter().zip(include) {
        if include {
            responses[topic].partitions.push(data);
        }
    }
    responses.retain(|t| !t.partitions.is_empty());
    let endpoints = hints.endpoints(|node_id, host, port, rack| {
        NodeEndpoint::default().with_node_id(node_id).with_host(host).with_port(port).with_rack(rack)
    });
    FetchResponse::default().with_session_id(session_id).with_responses(responses).with_node_endpoints(endpoints)
}

/// The partitions a request names, with their positions, and those it asks to forget.
fn named_partitions(request: &FetchRequest, uses_ids: bool) -> (Vec<(FetchKey, FetchPosition)>, Vec<FetchKey>) {
    let key = |topic: &TopicName, topic_id: Uuid, partition: i32| FetchKey {
        topic: if uses_ids { String::new() } else { topic.0.to_string() },
        topic_id: if uses_ids { topic_id } else { Uuid::nil() },
        partition,
    };
    let mut requested = Vec::new();
    for t in &request.topics {
        for p in &t.partitions {
            let position = FetchPosition {
                fetch_offset: p.fetch_offset,
                current_leader_epoch: p.current_leader_epoch,
                last_fetched_epoch: p.last_fetched_epoch,
                max_bytes: p.partition_max_bytes,
            };
            requested.push((key(&t.topic, t.topic_id, p.partition), position));
        }
    }
    let forgotten = request
        .forgotten_topics_data
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| key(&t.topic, t.topic_id, *p)))
        .collect();
    (requested, forgotten)
}
