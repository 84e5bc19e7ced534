//! Share groups' APIs (KIP-932): ShareGroupHeartbeat and ShareGroupDescribe on the group's
//! coordinator; ShareFetch and ShareAcknowledge on the partitions' leaders.
//!
//! A ShareFetch first applies the acknowledgements it carries, then acquires records for the
//! member from each partition of its share session, long-polling until some are acquired or
//! `max_wait_ms` passes (waking when records arrive, are released, or a lock runs out). It is
//! answered once its acknowledgements (and any share-partition it initialized) are written to
//! `__share_group_state`, so an accepted record is never delivered again, even after a crash.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use brook_log::{ReadBound, batch};
use brook_security::acl::{Operation, ResourceType};
use brook_share::records::{Key, Snapshot};
use brook_share::{Ack, Acquired, StateBatch};
use bytes::Bytes;
use futures::FutureExt;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ReadShareGroupStateRequest, ReadShareGroupStateResponse, ShareAcknowledgeRequest, ShareAcknowledgeResponse,
    ShareFetchRequest, ShareFetchResponse, ShareGroupDescribeRequest, ShareGroupDescribeResponse,
    ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse, TopicName, WriteShareGroupStateRequest,
    WriteShareGroupStateResponse, read_share_group_state_response, share_acknowledge_response, share_fetch_request,
    share_fetch_response, share_group_describe_response, share_group_heartbeat_response,
    write_share_group_state_response,
};
use uuid::Uuid;

use super::groups::group_gate;
use super::{LeaderHints, text};
use crate::authorization::Access;
use crate::broker::Broker;
use crate::group_config::OffsetReset;
use crate::share::{SessionRequest, ShareHeartbeat};

pub(super) async fn heartbeat(
    broker: &Broker,
    request: ShareGroupHeartbeatRequest,
    client_id: String,
    client_host: String,
    access: Access,
) -> ShareGroupHeartbeatResponse {
    let refused = |code: ResponseError, message: Option<String>| {
        ShareGroupHeartbeatResponse::default().with_error_code(code.code()).with_error_message(message.map(text))
    };
    // `share.version` 0 turns share groups off, as in Kafka.
    if broker.feature_level(brook_controller::features::SHARE_VERSION) == 0 {
        return refused(ResponseError::UnsupportedVersion, None);
    }
    if let Err(code) = group_gate(broker, &access, Operation::Read, &request.group_id) {
        return refused(code, None);
    }
    let hidden: Vec<String> = request
        .subscribed_topic_names
        .iter()
        .flatten()
        .filter(|t| !access.allows(broker, Operation::Describe, ResourceType::Topic, t))
        .map(|t| t.to_string())
        .collect();
    if !hidden.is_empty() {
        return refused(
            ResponseError::TopicAuthorizationFailed,
            Some(format!("Unauthorized topics: {}", hidden.join(", "))),
        );
    }
    // The state topic is created before any member fetches, as Kafka's share coordinator is
    // found before any state is written.
    if let Err(e) = broker.ensure_internal_topic(&broker.config.share.state_topic()).await {
        return refused(ResponseError::CoordinatorNotAvailable, Some(e.message));
    }
    let taken = broker.groups.group_type(&request.group_id).is_some();
    let settings = broker.group_settings(&request.group_id);
    let heartbeat = ShareHeartbeat {
        session_timeout_ms: settings.share_session_timeout_ms,
        heartbeat_interval_ms: settings.share_heartbeat_interval_ms,
        group_id: request.group_id.to_string(),
        member_id: request.member_id.to_string(),
        member_epoch: request.member_epoch,
        rack_id: request.rack_id.map(|r| r.to_string()),
        subscribed: request.subscribed_topic_names.map(|ts| ts.iter().map(|t| t.to_string()).collect()),
        client_id,
        client_host,
    };
    let resolve = |name: &str| broker.topic(name).map(|t| (t.id, t.partitions));
    let group_id = request.group_id.to_string();
    match broker.shares.heartbeat(broker.clock.now_ms(), heartbeat, &resolve, taken) {
        Err((code, message)) => refused(code, Some(message).filter(|m| !m.is_empty())),
        // A new group, or one with partitions it did not have, is written down first.
        Ok(_) if let Err(e) = broker.shares.persist_group(broker, &group_id).await => refused(e.code, Some(e.message)),
        Ok(outcome) => ShareGroupHeartbeatResponse::default()
            .with_member_id(Some(text(outcome.member_id)))
            .with_member_epoch(outcome.member_epoch)
            .with_heartbeat_interval_ms(outcome.heartbeat_interval_ms)
            .with_assignment(outcome.assignment.map(|a| {
                share_group_heartbeat_response::Assignment::default().with_topic_partitions(
                    a.into_iter()
                        .map(|(id, ps)| {
                            share_group_heartbeat_response::TopicPartitions::default()
                                .with_topic_id(id)
                                .with_partitions(ps)
                        })
                        .collect(),
                )
            })),
    }
}

pub(super) fn describe(
    broker: &Broker,
    request: ShareGroupDescribeRequest,
    access: Access,
) -> ShareGroupDescribeResponse {
    let now_ms = broker.clock.now_ms();
    let groups = request
        .group_ids
        .iter()
        .map(|id| {
            let group = share_group_describe_response::DescribedGroup::default().with_group_id(id.clone());
            if let Err(code) = group_gate(broker, &access, Operation::Describe, id) {
                return group.with_error_code(code.code());
            }
            let Some(described) = broker.shares.describe(now_ms, id) else {
                let message = if broker.groups.group_type(id).is_some() {
                    format!("Group {} is not a share group.", id.as_str())
                } else {
                    format!("Group {} not found.", id.as_str())
                };
                return group
                    .with_error_code(ResponseError::GroupIdNotFound.code())
                    .with_error_message(Some(text(message)));
            };
            let image = broker.image();
            let members = described
                .members
                .into_iter()
                .map(|m| {
                    let topic_partitions = m
                        .assignment
                        .into_iter()
                        .map(|(topic_id, partitions)| {
                            let name = image.topic_by_id(&topic_id).map(|t| t.name.clone()).unwrap_or_default();
                            share_group_describe_response::TopicPartitions::default()
                                .with_topic_id(topic_id)
                                .with_topic_name(TopicName(text(name)))
                                .with_partitions(partitions)
                        })
                        .collect();
                    share_group_describe_response::Member::default()
                        .with_member_id(text(m.member_id))
                        .with_rack_id(m.rack_id.map(text))
                        .with_member_epoch(m.epoch)
                        .with_client_id(text(m.client_id))
                        .with_client_host(text(m.client_host))
                        .with_subscribed_topic_names(m.subscribed.into_iter().map(|t| TopicName(text(t))).collect())
                        .with_assignment(
                            share_group_describe_response::Assignment::default()
                                .with_topic_partitions(topic_partitions),
                        )
                })
                .collect();
            group
                .with_group_state(text(described.state.to_string()))
                .with_group_epoch(described.epoch)
                .with_assignment_epoch(described.assignment_epoch)
                .with_assignor_name(text("simple".to_string()))
                .with_members(members)
                .with_authorized_operations(match request.include_authorized_operations {
                    true => access.operations(broker, ResourceType::Group, id),
                    false => i32::MIN,
                })
        })
        .collect();
    ShareGroupDescribeResponse::default().with_groups(groups)
}

/// One partition's part of a ShareFetch or ShareAcknowledge answer.
#[derive(Default)]
struct Answer {
    error: Option<(ResponseError, String)>,
    ack_error: Option<(ResponseError, String)>,
    records: Option<Bytes>,
    acquired: Vec<Acquired>,
    acknowledged: bool,
}

/// The acknowledgement batches of a request, per partition.
type Acks = Vec<((Uuid, i32), Vec<Ack>)>;

fn member_and_group(
    group: &Option<kafka_protocol::messages::GroupId>,
    member: &Option<kafka_protocol::protocol::StrBytes>,
) -> (String, String) {
    (
        group.as_ref().map(|g| g.to_string()).unwrap_or_default(),
        member.as_ref().map(|m| m.to_string()).unwrap_or_default(),
    )
}

/// Applies acknowledgements and a closed session's release. Returns the answers and the last
/// change to write.
fn acknowledge(
    broker: &Broker,
    access: &Access,
    group: &str,
    member: &str,
    acks: Acks,
    released: Option<&[(Uuid, i32)]>,
    answers: &mut BTreeMap<(Uuid, i32), Answer>,
) -> Option<u64> {
    let now_ms = broker.clock.now_ms();
    let mut change = None;
    for ((topic_id, partition), batches) in acks {
        let answer = answers.entry((topic_id, partition)).or_default();
        answer.acknowledged = true;
        if let Err(code) = led_here(broker, access, topic_id, partition) {
            answer.ack_error = Some((code, code.to_string()));
            continue;
        }
        let key = Key { group: group.to_string(), topic_id, partition };
        let outcome = broker.shares.acknowledge(&key, member, now_ms, &batches);
        answer.ack_error = outcome.error;
        change = change.max(outcome.change);
    }
    if let Some(partitions) = released {
        change = change.max(broker.shares.release_member(group, member, partitions));
    }
    change
}

/// The partition's metadata and leader epoch, if this broker leads it and the member may read it.
fn led_here(broker: &Broker, access: &Access, topic_id: Uuid, partition: i32) -> Result<i32, ResponseError> {
    let topic = broker.topic_by_id(&topic_id).ok_or(ResponseError::UnknownTopicId)?;
    if !access.allows(broker, Operation::Read, ResourceType::Topic, &topic.name) {
        return Err(ResponseError::TopicAuthorizationFailed);
    }
    let meta = topic.partition(partition).ok_or(ResponseError::UnknownTopicOrPartition)?;
    broker.readable_partition_in(&topic, partition, -1, false)?;
    Ok(meta.leader_epoch)
}

/// Writes the changes, turning a failed write into the acknowledgements' error.
async fn written(broker: &Broker, change: Option<u64>, answers: &mut BTreeMap<(Uuid, i32), Answer>) {
    let Some(change) = change else { return };
    if let Err(e) = broker.shares.flush(broker, change).await {
        for answer in answers.values_mut().filter(|a| a.acknowledged && a.ack_error.is_none()) {
            answer.ack_error = Some((e.code, e.message.clone()));
        }
    }
}

pub(super) async fn fetch(
    broker: &Arc<Broker>,
    request: ShareFetchRequest,
    listener: Arc<str>,
    access: Access,
) -> ShareFetchResponse {
    let lock_ms = i32::try_from(broker.shares.config().record_lock_duration_ms).unwrap_or(i32::MAX);
    let refused = |code: ResponseError, message: String| {
        ShareFetchResponse::default().with_error_code(code.code()).with_error_message(Some(text(message)))
    };
    let (group, member) = member_and_group(&request.group_id, &request.member_id);
    if group.is_empty() || member.is_empty() {
        return refused(ResponseError::InvalidRequest, "A ShareFetch names its group and member.".into());
    }
    if !access.allows(broker, Operation::Read, ResourceType::Group, &group) {
        return refused(ResponseError::GroupAuthorizationFailed, ResponseError::GroupAuthorizationFailed.to_string());
    }
    let mut acks: Acks = Vec::new();
    let mut added = Vec::new();
    for t in &request.topics {
        for p in &t.partitions {
            added.push((t.topic_id, p.partition_index));
            if !p.acknowledgement_batches.is_empty() {
                acks.push(((t.topic_id, p.partition_index), to_acks(&p.acknowledgement_batches)));
            }
        }
    }
    let forgotten =
        request.forgotten_topics_data.iter().flat_map(|t| t.partitions.iter().map(move |&p| (t.topic_id, p))).collect();
    let session = SessionRequest {
        group: group.clone(),
        member: member.clone(),
        epoch: request.share_session_epoch,
        added,
        forgotten,
    };
    let (partitions, closed) = match broker.shares.fetch_session(session) {
        Ok(step) => step,
        Err(code) => return refused(code, code.to_string()),
    };
    let mut answers: BTreeMap<(Uuid, i32), Answer> = BTreeMap::new();
    if request.share_session_epoch == 0 {
        // As Kafka: the answer to a new session names each of its partitions.
        answers.extend(partitions.iter().map(|&p| (p, Answer::default())));
    }
    let mut change = acknowledge(broker, &access, &group, &member, acks, closed.then_some(&partitions), &mut answers);
    if !closed {
        change = change.max(acquire(broker, &access, &request, &group, &member, &partitions, &mut answers).await);
    }
    written(broker, change, &mut answers).await;
    let mut hints = LeaderHints::on(listener);
    let mut topics: BTreeMap<Uuid, Vec<share_fetch_response::PartitionData>> = BTreeMap::new();
    for ((topic_id, index), a) in answers {
        let (error, error_message) = split(a.error);
        let (ack_error, ack_message) = split(a.ack_error);
        let (leader, epoch) = leader_hint(&mut hints, broker, (topic_id, index), [error, ack_error]);
        let current_leader =
            share_fetch_response::LeaderIdAndEpoch::default().with_leader_id(leader).with_leader_epoch(epoch);
        topics.entry(topic_id).or_default().push(
            share_fetch_response::PartitionData::default()
                .with_partition_index(index)
                .with_error_code(error)
                .with_error_message(error_message)
                .with_acknowledge_error_code(ack_error)
                .with_acknowledge_error_message(ack_message)
                .with_current_leader(current_leader)
                .with_records(Some(a.records.unwrap_or_default()))
                .with_acquired_records(
                    a.acquired
                        .into_iter()
                        .map(|r| {
                            share_fetch_response::AcquiredRecords::default()
                                .with_first_offset(r.first)
                                .with_last_offset(r.last)
                                .with_delivery_count(r.delivery_count)
                        })
                        .collect(),
                ),
        );
    }
    ShareFetchResponse::default()
        .with_acquisition_lock_timeout_ms(lock_ms)
        .with_responses(
            topics
                .into_iter()
                .map(|(topic_id, partitions)| {
                    share_fetch_response::ShareFetchableTopicResponse::default()
                        .with_topic_id(topic_id)
                        .with_partitions(partitions)
                })
                .collect(),
        )
        .with_node_endpoints(hints.endpoints(|id, host, port, rack| {
            share_fetch_response::NodeEndpoint::default()
                .with_node_id(id)
                .with_host(host)
                .with_port(port)
                .with_rack(rack)
        }))
}

/// The partition's current leader (KIP-951's hint) when one of `errors` says this broker is not
/// it; else (-1, -1).
fn leader_hint<const N: usize>(
    hints: &mut LeaderHints,
    broker: &Broker,
    (topic_id, index): (Uuid, i32),
    errors: [i16; N],
) -> (i32, i32) {
    match errors.contains(&ResponseError::NotLeaderOrFollower.code()) {
        true => hints.leader(broker, &topic_id, index),
        false => (-1, -1),
    }
}

fn split(error: Option<(ResponseError, String)>) -> (i16, Option<kafka_protocol::protocol::StrBytes>) {
    match error {
        None => (0, None),
        Some((code, message)) => (code.code(), Some(text(message))),
    }
}

fn to_acks(batches: &[share_fetch_request::AcknowledgementBatch]) -> Vec<Ack> {
    batches
        .iter()
        .map(|b| Ack { first: b.first_offset, last: b.last_offset, types: b.acknowledge_types.clone() })
        .collect()
}

/// One session partition, ready to acquire from.
struct Source {
    key: Key,
    leader_epoch: i32,
    partition: Arc<crate::partition::Partition>,
}

/// Acquires records for the member from its session's partitions, waiting up to
/// `max_wait_ms` for some. Returns the last change to write (share-partitions initialized).
async fn acquire(
    broker: &Broker,
    access: &Access,
    request: &ShareFetchRequest,
    group: &str,
    member: &str,
    partitions: &[(Uuid, i32)],
    answers: &mut BTreeMap<(Uuid, i32), Answer>,
) -> Option<u64> {
    let mut change = None;
    let mut sources = Vec::new();
    for &(topic_id, index) in partitions {
        let key = Key { group: group.to_string(), topic_id, partition: index };
        match source(broker, access, key).await {
            Err(code) => answers.entry((topic_id, index)).or_default().error = Some((code, code.to_string())),
            // Its state is not reachable yet: nothing from it this time.
            Ok(None) => {}
            Ok(Some((source, initialized))) => {
                change = change.max(initialized);
                sources.push(source);
            }
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_millis(u64::try_from(request.max_wait_ms).unwrap_or(0));
    let max_records = usize::try_from(request.max_records).ok().filter(|&n| n > 0).unwrap_or(500);
    // KIP-1206: batch-optimized (0, and v1's only mode) may pass `max_records` to end at a
    // batch boundary; record-limit (1) may not.
    let whole_batches = request.share_acquire_mode != RECORD_LIMIT;
    let max_bytes = usize::try_from(request.max_bytes).ok().filter(|&n| n > 0).unwrap_or(50 * 1024 * 1024);
    let mut watchers: Vec<_> = sources.iter().map(|s| s.partition.log.subscribe()).collect();
    let mut released = broker.shares.subscribe_released();
    loop {
        let mut got = false;
        let (mut records_left, mut bytes_left) = (max_records, max_bytes);
        for source in &sources {
            if records_left == 0 || bytes_left == 0 {
                break;
            }
            let (topic_id, index) = (source.key.topic_id, source.key.partition);
            match take(broker, source, member, Limit { records: records_left, bytes: bytes_left, whole_batches }) {
                Err(code) => {
                    answers.entry((topic_id, index)).or_default().error = Some((code, code.to_string()));
                    got = true;
                }
                Ok((taken, initialized)) => {
                    change = change.max(initialized);
                    if let Some((records, acquired)) = taken {
                        records_left =
                            records_left.saturating_sub(acquired.iter().map(|r| (r.last - r.first + 1) as usize).sum());
                        bytes_left = bytes_left.saturating_sub(records.len());
                        let answer = answers.entry((topic_id, index)).or_default();
                        answer.records = Some(records);
                        answer.acquired = acquired;
                        got = true;
                    }
                }
            }
        }
        if got || sources.is_empty() || tokio::time::Instant::now() >= deadline {
            return change;
        }
        // Wait for new records, released records, or the first lock to run out.
        let keys: Vec<Key> = sources.iter().map(|s| s.key.clone()).collect();
        let wake = match broker.shares.next_lock_expiry(&keys) {
            Some(at_ms) => {
                let after = u64::try_from(at_ms - broker.clock.now_ms()).unwrap_or(0);
                deadline.min(tokio::time::Instant::now() + Duration::from_millis(after))
            }
            None => deadline,
        };
        let appended = futures::future::select_all(watchers.iter_mut().map(|w| w.changed().boxed()));
        tokio::select! {
            (result, _, _) = appended => if result.is_err() { return change },
            _ = released.changed() => {}
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
}

/// A session partition led here, its share-partition initialized (and the change that made);
/// None while its share coordinator cannot be reached or is loading (a client is told nothing
/// of that, as it knows no such partition error, and its next fetch tries again).
async fn source(broker: &Broker, access: &Access, key: Key) -> Result<Option<(Source, Option<u64>)>, ResponseError> {
    let leader_epoch = led_here(broker, access, key.topic_id, key.partition)?;
    let topic = broker.topic_by_id(&key.topic_id).ok_or(ResponseError::UnknownTopicId)?;
    let partition = broker.readable_partition_in(&topic, key.partition, -1, false)?;
    let now_ms = broker.clock.now_ms();
    let log = &partition.log;
    let mut initialized = None;
    let settings = broker.group_settings(&key.group);
    let limits = settings.share_limits;
    if broker.shares.prepare(&key, leader_epoch, log.log_start_offset(), now_ms, limits).is_none() {
        let start = match settings.share_auto_offset_reset {
            OffsetReset::Latest => log.high_watermark(),
            OffsetReset::Earliest => log.log_start_offset(),
            OffsetReset::ByDuration(age) => {
                let since = now_ms.saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX));
                match super::list_offsets::by_timestamp(&partition, since)? {
                    (-1, _) => log.high_watermark(),
                    (offset, _) => offset,
                }
            }
        };
        initialized = match broker.shares.initialize(broker, &key, leader_epoch, start, now_ms, limits).await {
            Ok(change) => change,
            Err(
                ResponseError::NotCoordinator
                | ResponseError::CoordinatorNotAvailable
                | ResponseError::CoordinatorLoadInProgress,
            ) => return Ok(None),
            // Kafka's translation of the share coordinator's refusals for the client.
            Err(ResponseError::FencedLeaderEpoch) => return Err(ResponseError::NotLeaderOrFollower),
            Err(code) => {
                tracing::warn!(group = key.group, ?code, "initializing a share-partition failed");
                return Err(ResponseError::UnknownServerError);
            }
        };
    }
    Ok(Some((Source { key, leader_epoch, partition }, initialized)))
}

/// ShareFetch's record-limit acquire mode (KIP-1206).
const RECORD_LIMIT: i8 = 1;

/// What one partition of a ShareFetch may still give.
struct Limit {
    records: usize,
    bytes: usize,
    /// Acquire whole batches, even past `records` (a member is sent whole batches anyway:
    /// splitting one makes every member that shares it decode all of it).
    whole_batches: bool,
}

/// Reads from where the share-partition delivers next and acquires what was read. Returns
/// the records and ranges acquired (if any) and the change an initialization made.
#[allow(clippy::type_complexity)]
fn take(
    broker: &Broker,
    source: &Source,
    member: &str,
    limit: Limit,
) -> Result<(Option<(Bytes, Vec<Acquired>)>, Option<u64>), ResponseError> {
    let mut initialized = None;
    loop {
        let taken = take_once(broker, source, member, &limit)?;
        initialized = initialized.max(taken.initialized);
        // All it acquired was aborted: committed records may follow.
        if taken.records.is_some() || !taken.archived {
            return Ok((taken.records, initialized));
        }
    }
}

/// What one read of a share-partition gave.
struct Taken {
    records: Option<(Bytes, Vec<Acquired>)>,
    initialized: Option<u64>,
    /// Records of aborted transactions were archived.
    archived: bool,
}

fn take_once(broker: &Broker, source: &Source, member: &str, limit: &Limit) -> Result<Taken, ResponseError> {
    let (max_records, max_bytes) = (limit.records, limit.bytes);
    let log = &source.partition.log;
    let now_ms = broker.clock.now_ms();
    let settings = broker.group_settings(&source.key.group);
    // Initialized again by the next request if the state moved meanwhile.
    let limits = settings.share_limits;
    let Some((next, initialized)) =
        broker.shares.prepare(&source.key, source.leader_epoch, log.log_start_offset(), now_ms, limits)
    else {
        return Ok(Taken { records: None, initialized: None, archived: false });
    };
    // A group reading committed records reads below the last stable offset.
    let (readable, bound) = match settings.share_read_committed {
        true => {
            let stable = source.partition.last_stable_offset();
            (stable, ReadBound::Below(stable))
        }
        false => (log.high_watermark(), ReadBound::HighWatermark),
    };
    if next >= readable {
        return Ok(Taken { records: None, initialized, archived: false });
    }
    // A member takes at most `max_records`: read about what they may take, not all the
    // request's `max_bytes` (the Java client asks for 50 MiB).
    let bytes = match log.read(next, max_bytes.min(SHARE_READ_BYTES), bound) {
        Ok(bytes) => bytes,
        // Retention moved the log start meanwhile: the next fetch archives what went.
        Err(brook_log::LogError::OffsetOutOfRange { .. }) => {
            return Ok(Taken { records: None, initialized, archived: false });
        }
        Err(e) => {
            return Err(ResponseError::try_from_code(e.kafka_error_code()).unwrap_or(ResponseError::UnknownServerError));
        }
    };
    let Some(end) = batch::whole_batches(&bytes).last().map(|(h, _)| h.next_offset()) else {
        return Ok(Taken { records: None, initialized, archived: false });
    };
    let (end, max_records) = match limit.whole_batches {
        // Up to the end of the batch that holds the `max_records`-th offset from `next`.
        true => {
            let wanted = next.saturating_add(i64::try_from(max_records).unwrap_or(i64::MAX) - 1);
            let cut =
                batch::whole_batches(&bytes).find(|(h, _)| h.last_offset() >= wanted).map(|(h, _)| h.next_offset());
            (cut.unwrap_or(end), usize::MAX)
        }
        false => (end, max_records),
    };
    let mut acquired = broker.shares.acquire(&source.key, member, now_ms, end.min(readable), max_records);
    let mut archived = false;
    if settings.share_read_committed && !acquired.is_empty() {
        let aborted = aborted_batches(&source.partition, &bytes, next, end);
        if !aborted.is_empty() {
            acquired = broker.shares.archive_aborted(&source.key, member, &aborted, acquired);
            archived = true;
        }
    }
    let (Some(first), Some(last)) = (acquired.first().map(|r| r.first), acquired.last().map(|r| r.last)) else {
        return Ok(Taken { records: None, initialized, archived });
    };
    Ok(Taken { records: Some((acquired_batches(bytes, first, last), acquired)), initialized, archived })
}

/// The offset ranges of the data batches in `bytes` (read from `from` to `to`) whose
/// transaction aborted.
fn aborted_batches(partition: &crate::partition::Partition, bytes: &[u8], from: i64, to: i64) -> Vec<(i64, i64)> {
    let aborted = partition.aborted_between(from, to);
    if aborted.is_empty() {
        return Vec::new();
    }
    batch::whole_batches(bytes)
        .map(|(header, _)| header)
        .filter(|h| h.is_transactional() && !h.is_control())
        .filter(|h| aborted.iter().any(|t| t.covers(h.producer_id, h.base_offset)))
        .map(|h| (h.base_offset, h.last_offset()))
        .collect()
}

/// How much of the log one ShareFetch reads for a partition at most (a larger first batch is
/// read whole).
const SHARE_READ_BYTES: usize = 1 << 20;

/// The batches of `bytes` that hold offsets `first..=last`: a member is sent the records it
/// acquired, not those around them.
fn acquired_batches(bytes: Bytes, first: i64, last: i64) -> Bytes {
    let (mut from, mut to, mut at) = (None, 0, 0);
    for (header, batch) in batch::whole_batches(&bytes) {
        if header.last_offset() >= first && header.base_offset <= last {
            from.get_or_insert(at);
            to = at + batch.len();
        }
        at += batch.len();
    }
    match from {
        Some(from) => bytes.slice(from..to),
        None => bytes,
    }
}

pub(super) async fn acknowledge_request(
    broker: &Broker,
    request: ShareAcknowledgeRequest,
    listener: Arc<str>,
    access: Access,
) -> ShareAcknowledgeResponse {
    let refused = |code: ResponseError, message: String| {
        ShareAcknowledgeResponse::default().with_error_code(code.code()).with_error_message(Some(text(message)))
    };
    let (group, member) = member_and_group(&request.group_id, &request.member_id);
    if group.is_empty() || member.is_empty() {
        return refused(ResponseError::InvalidRequest, "A ShareAcknowledge names its group and member.".into());
    }
    if !access.allows(broker, Operation::Read, ResourceType::Group, &group) {
        return refused(ResponseError::GroupAuthorizationFailed, ResponseError::GroupAuthorizationFailed.to_string());
    }
    let (partitions, closed) = match broker.shares.acknowledge_session(&group, &member, request.share_session_epoch) {
        Ok(step) => step,
        Err(code) => return refused(code, code.to_string()),
    };
    let acks: Acks = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                let batches = p
                    .acknowledgement_batches
                    .iter()
                    .map(|b| Ack { first: b.first_offset, last: b.last_offset, types: b.acknowledge_types.clone() })
                    .collect();
                ((t.topic_id, p.partition_index), batches)
            })
        })
        .collect();
    let mut answers = BTreeMap::new();
    let change = acknowledge(broker, &access, &group, &member, acks, closed.then_some(&partitions), &mut answers);
    written(broker, change, &mut answers).await;
    let mut hints = LeaderHints::on(listener);
    let mut topics: BTreeMap<Uuid, Vec<share_acknowledge_response::PartitionData>> = BTreeMap::new();
    for ((topic_id, index), a) in answers.into_iter().filter(|(_, a)| a.acknowledged) {
        let (error, message) = split(a.ack_error);
        let (leader, epoch) = leader_hint(&mut hints, broker, (topic_id, index), [error]);
        let current_leader =
            share_acknowledge_response::LeaderIdAndEpoch::default().with_leader_id(leader).with_leader_epoch(epoch);
        topics.entry(topic_id).or_default().push(
            share_acknowledge_response::PartitionData::default()
                .with_partition_index(index)
                .with_error_code(error)
                .with_error_message(message)
                .with_current_leader(current_leader),
        );
    }
    ShareAcknowledgeResponse::default()
        .with_acquisition_lock_timeout_ms(
            i32::try_from(broker.shares.config().record_lock_duration_ms).unwrap_or(i32::MAX),
        )
        .with_responses(
            topics
                .into_iter()
                .map(|(topic_id, partitions)| {
                    share_acknowledge_response::ShareAcknowledgeTopicResponse::default()
                        .with_topic_id(topic_id)
                        .with_partitions(partitions)
                })
                .collect(),
        )
        .with_node_endpoints(hints.endpoints(|id, host, port, rack| {
            share_acknowledge_response::NodeEndpoint::default()
                .with_node_id(id)
                .with_host(host)
                .with_port(port)
                .with_rack(rack)
        }))
}

/// ReadShareGroupState, from a share-partition leader on another broker (`allowed`: it has
/// CLUSTER_ACTION).
pub(super) fn read_state(
    broker: &Broker,
    request: ReadShareGroupStateRequest,
    allowed: bool,
) -> ReadShareGroupStateResponse {
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
                    let result =
                        read_share_group_state_response::PartitionResult::default().with_partition(p.partition);
                    let state = match allowed {
                        true => broker.shares.read_state(&key, p.leader_epoch),
                        false => Err(ResponseError::ClusterAuthorizationFailed),
                    };
                    match state {
                        Err(code) => result
                            .with_error_code(code.code())
                            .with_error_message(Some(text(code.to_string())))
                            .with_start_offset(-1),
                        // Nothing persisted yet: start offset -1.
                        Ok(None) => result.with_start_offset(-1),
                        Ok(Some(s)) => {
                            result.with_state_epoch(s.state_epoch).with_start_offset(s.start_offset).with_state_batches(
                                s.batches
                                    .iter()
                                    .map(|b| {
                                        read_share_group_state_response::StateBatch::default()
                                            .with_first_offset(b.first)
                                            .with_last_offset(b.last)
                                            .with_delivery_state(b.state.id())
                                            .with_delivery_count(b.delivery_count)
                                    })
                                    .collect(),
                            )
                        }
                    }
                })
                .collect();
            read_share_group_state_response::ReadStateResult::default()
                .with_topic_id(t.topic_id)
                .with_partitions(partitions)
        })
        .collect();
    ReadShareGroupStateResponse::default().with_results(results)
}

/// WriteShareGroupState, from a share-partition leader on another broker (`allowed`: it has
/// CLUSTER_ACTION).
pub(super) async fn write_state(
    broker: &Broker,
    request: WriteShareGroupStateRequest,
    allowed: bool,
) -> WriteShareGroupStateResponse {
    let group = request.group_id.to_string();
    let now_ms = broker.clock.now_ms();
    let mut by_partition: BTreeMap<i32, Vec<(Key, Snapshot)>> = BTreeMap::new();
    for t in &request.topics {
        for p in &t.partitions {
            let key = Key { group: group.clone(), topic_id: t.topic_id, partition: p.partition };
            let batches = p
                .state_batches
                .iter()
                .filter_map(|b| {
                    StateBatch::from_wire(b.first_offset, b.last_offset, b.delivery_state, b.delivery_count)
                })
                .collect();
            let snapshot = Snapshot {
                snapshot_epoch: 0,
                state_epoch: p.state_epoch,
                leader_epoch: p.leader_epoch,
                start_offset: p.start_offset,
                create_timestamp: now_ms,
                write_timestamp: now_ms,
                batches,
            };
            by_partition.entry(broker.shares.config().state_partition(&key)).or_default().push((key, snapshot));
        }
    }
    let mut outcomes: BTreeMap<(Uuid, i32), (i16, Option<String>)> = BTreeMap::new();
    let denied = ResponseError::ClusterAuthorizationFailed;
    for (partition, writes) in by_partition.into_iter().filter(|_| allowed) {
        let keys: Vec<(Uuid, i32)> = writes.iter().map(|(k, _)| (k.topic_id, k.partition)).collect();
        for (key, outcome) in keys.into_iter().zip(broker.shares.write_state(broker, partition, writes).await) {
            outcomes.insert(key, outcome.map_or_else(|e| (e.code.code(), Some(e.message)), |()| (0, None)));
        }
    }
    let results = request
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let (code, message) = match allowed {
                        true => outcomes.get(&(t.topic_id, p.partition)).cloned().unwrap_or((0, None)),
                        false => (denied.code(), Some(denied.to_string())),
                    };
                    write_share_group_state_response::PartitionResult::default()
                        .with_partition(p.partition)
                        .with_error_code(code)
                        .with_error_message(message.map(text))
                })
                .collect();
            write_share_group_state_response::WriteStateResult::default()
                .with_topic_id(t.topic_id)
                .with_partitions(partitions)
        })
        .collect();
    WriteShareGroupStateResponse::default().with_results(results)
}
