//! Groups as the console shows them: consumer groups of both protocols in one shape, with
//! committed offsets, lag per partition and the sampled lag history; and share groups, with
//! each share-partition's start offset and lag.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{Path, State};
use brook_security::acl::{Operation, ResourceType};
use brook_server::authorization::Access;
use brook_server::broker::Broker;
use bytes::Buf;
use kafka_protocol::messages::ConsumerProtocolAssignment;
use kafka_protocol::protocol::Decodable;
use serde_json::{Value, json};

use crate::AppState;
use crate::http::{ApiResult, HttpError, ok_json, require};

/// A group's members and what they are assigned, for either protocol.
pub(crate) struct GroupView {
    pub(crate) id: String,
    /// `classic`, `consumer` (KIP-848) or `streams` (KIP-1071).
    pub(crate) kind: &'static str,
    pub(crate) state: String,
    pub(crate) protocol_type: String,
    /// The classic group's chosen assignor, or the consumer or streams group's server-side one.
    pub(crate) assignor: String,
    pub(crate) members: Vec<MemberView>,
}

pub(crate) struct MemberView {
    member_id: String,
    instance_id: Option<String>,
    client_id: String,
    host: String,
    assigned: Vec<(String, i32)>,
}

/// One committed (or assigned) partition and how far its group is behind.
pub(crate) struct PartitionLag {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    /// `None`: assigned but nothing committed yet.
    pub(crate) committed: Option<i64>,
    pub(crate) end_offset: Option<i64>,
    pub(crate) lag: Option<i64>,
    owner: Option<String>,
}

/// Every group, sorted by id (one pass over the coordinator's list).
pub(crate) fn all(broker: &Broker) -> Vec<GroupView> {
    let mut views: Vec<GroupView> = broker.groups.list().into_iter().map(|entry| build(broker, entry)).collect();
    views.sort_by(|a, b| a.id.cmp(&b.id));
    views
}

pub(crate) fn view(broker: &Broker, id: &str) -> Option<GroupView> {
    broker.groups.list().into_iter().find(|(g, ..)| g == id).map(|entry| build(broker, entry))
}

/// A group from its ListGroups entry (id, protocol type, state, type).
fn build(broker: &Broker, entry: (String, String, &'static str, &'static str)) -> GroupView {
    let (id, protocol_type, state, kind) = entry;
    let id = id.as_str();
    if let Ok(c) = broker.groups.consumer_describe(id) {
        let name_of = |topic_id: &uuid::Uuid| broker.topic_by_id(topic_id).map(|t| t.name);
        let members = c
            .members
            .into_iter()
            .map(|m| MemberView {
                member_id: m.member_id,
                instance_id: m.instance_id,
                client_id: m.client_id,
                host: m.client_host,
                assigned: m
                    .assigned
                    .iter()
                    .filter_map(|(topic_id, ps)| Some((name_of(topic_id)?, ps)))
                    .flat_map(|(name, ps)| ps.iter().map(move |p| (name.clone(), *p)))
                    .collect(),
            })
            .collect();
        return GroupView {
            id: id.into(),
            kind: "consumer",
            state: c.state.into(),
            protocol_type,
            assignor: c.assignor.into(),
            members,
        };
    }
    if let Ok((state, s)) = broker.groups.streams_describe(id) {
        // A task `p` of a subtopology reads partition `p` of each of its input topics.
        let members = s
            .members
            .values()
            .map(|m| MemberView {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                host: m.client_host.clone(),
                assigned: m
                    .assigned
                    .active
                    .iter()
                    .flat_map(|(sub, ps)| s.configured.inputs.get(sub).into_iter().flatten().map(move |t| (t, ps)))
                    .flat_map(|(t, ps)| ps.iter().map(move |p| (t.clone(), *p)))
                    .collect(),
            })
            .collect();
        return GroupView {
            id: id.into(),
            kind: "streams",
            state: state.into(),
            protocol_type,
            assignor: brook_streams::assignor::STICKY.into(),
            members,
        };
    }
    let classic = broker.groups.describe(id);
    let members = classic
        .as_ref()
        .map(|d| {
            d.members
                .iter()
                .map(|m| MemberView {
                    member_id: m.member_id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    host: m.client_host.clone(),
                    assigned: if d.protocol_type == "consumer" { decode_assignment(&m.assignment) } else { Vec::new() },
                })
                .collect()
        })
        .unwrap_or_default();
    GroupView {
        id: id.into(),
        kind: if kind == "consumer" { "consumer" } else { "classic" },
        state: classic.as_ref().map_or(state, |d| d.state).into(),
        protocol_type,
        assignor: classic.map(|d| d.protocol).unwrap_or_default(),
        members,
    }
}

/// The topic-partitions in a classic consumer's assignment (Kafka's ConsumerProtocol bytes:
/// a version, then the assignment); an unreadable one shows as nothing assigned.
fn decode_assignment(bytes: &[u8]) -> Vec<(String, i32)> {
    let mut buf = bytes;
    if buf.remaining() < 2 {
        return Vec::new();
    }
    let version = buf.get_i16().clamp(0, 3);
    let mut owned = bytes::Bytes::copy_from_slice(buf);
    let Ok(assignment) = ConsumerProtocolAssignment::decode(&mut owned, version) else { return Vec::new() };
    assignment
        .assigned_partitions
        .iter()
        .flat_map(|tp| tp.partitions.iter().map(move |p| (tp.topic.to_string(), *p)))
        .collect()
}

/// Committed offsets and lag for every partition the group committed or is assigned.
pub(crate) fn lag(broker: &Broker, group: &GroupView) -> Vec<PartitionLag> {
    let mut rows: BTreeMap<(String, i32), PartitionLag> = BTreeMap::new();
    let row = |topic: &str, partition: i32| PartitionLag {
        topic: topic.to_string(),
        partition,
        committed: None,
        end_offset: broker.partition(topic, partition).map(|p| p.log.high_watermark()),
        lag: None,
        owner: None,
    };
    for committed in broker.groups.fetch_offsets(&group.id, None) {
        let mut r = row(&committed.topic, committed.partition);
        if committed.offset >= 0 {
            r.committed = Some(committed.offset);
            r.lag = r.end_offset.map(|end| (end - committed.offset).max(0));
        }
        rows.insert((committed.topic, committed.partition), r);
    }
    for member in &group.members {
        for (topic, partition) in &member.assigned {
            let r = rows.entry((topic.clone(), *partition)).or_insert_with(|| row(topic, *partition));
            r.owner = Some(member.member_id.clone());
        }
    }
    rows.into_values().collect()
}

pub(crate) fn total_lag(rows: &[PartitionLag]) -> i64 {
    rows.iter().filter_map(|r| r.lag).sum()
}

/// The lag rows of topics the user may describe (a full OffsetFetch leaves the others out).
fn visible_lag(broker: &Broker, access: &Access, group: &GroupView) -> Vec<PartitionLag> {
    let mut rows = lag(broker, group);
    rows.retain(|r| access.sees(broker, Operation::Describe, ResourceType::Topic, &r.topic));
    rows
}

/// The groups the user may describe (ListGroups' filter).
pub(crate) fn visible(broker: &Broker, access: &Access) -> Vec<GroupView> {
    let mut groups = all(broker);
    groups.retain(|g| access.sees(broker, Operation::Describe, ResourceType::Group, &g.id));
    groups
}

/// A share group's members, each with the partitions it is assigned.
fn share_members(broker: &Broker, group: &brook_server::share::DescribedShareGroup) -> Vec<Value> {
    group
        .members
        .iter()
        .map(|m| {
            let assigned: Vec<Value> = m
                .assignment
                .iter()
                .filter_map(|(topic_id, ps)| Some((broker.topic_by_id(topic_id)?.name, ps)))
                .flat_map(|(name, ps)| ps.iter().map(move |p| json!({ "topic": name, "partition": p })))
                .collect();
            json!({
                "member_id": m.member_id,
                "instance_id": null,
                "client_id": m.client_id,
                "host": m.client_host,
                "assignments": assigned,
            })
        })
        .collect()
}

/// A share group's share-partitions the user may describe: topic, partition, start offset and
/// lag (None where nothing is persisted yet).
async fn share_offsets(broker: &Broker, access: &Access, group: &str) -> Vec<Value> {
    let mut parts: Vec<(String, uuid::Uuid, i32)> = broker
        .shares
        .known_partitions(group)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(id, p)| Some((broker.topic_by_id(&id)?.name, id, p)))
        .filter(|(name, ..)| access.sees(broker, Operation::Describe, ResourceType::Topic, name))
        .collect();
    parts.sort();
    let keys: Vec<(uuid::Uuid, i32)> = parts.iter().map(|&(_, id, p)| (id, p)).collect();
    let offsets = broker.shares.offsets(broker, group, &keys).await;
    parts
        .into_iter()
        .zip(offsets)
        .map(|((topic, _, partition), o)| {
            json!({
                "topic": topic,
                "partition": partition,
                "start_offset": o.map(|o| o.start_offset),
                "end_offset": broker.partition(&topic, partition).map(|p| p.log.high_watermark()),
                "lag": o.and_then(|o| o.lag.ok()),
                "member_id": null,
            })
        })
        .collect()
}

fn offsets_lag(offsets: &[Value]) -> i64 {
    offsets.iter().filter_map(|o| o["lag"].as_i64()).sum()
}

/// The share groups the user may describe, as the group list shows them.
async fn share_list(broker: &Broker, access: &Access) -> Vec<Value> {
    let now_ms = broker.clock.now_ms();
    let mut out = Vec::new();
    for (id, _) in broker.shares.list() {
        if !access.sees(broker, Operation::Describe, ResourceType::Group, &id) {
            continue;
        }
        let Some(described) = broker.shares.describe(now_ms, &id) else { continue };
        let offsets = share_offsets(broker, access, &id).await;
        let topics: std::collections::BTreeSet<&str> = offsets.iter().filter_map(|o| o["topic"].as_str()).collect();
        out.push(json!({
            "group_id": id,
            "type": "share",
            "state": described.state,
            "protocol_type": "share",
            "members": described.members.len(),
            "topics": topics,
            "total_lag": offsets_lag(&offsets),
        }));
    }
    out
}

pub(crate) async fn list(State(state): State<AppState>, Extension(access): Extension<Access>) -> ApiResult {
    let mut groups: Vec<Value> = visible(&state.broker, &access)
        .into_iter()
        .map(|g| {
            let rows = visible_lag(&state.broker, &access, &g);
            let topics: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.topic.as_str()).collect();
            json!({
                "group_id": g.id,
                "type": g.kind,
                "state": g.state,
                "protocol_type": g.protocol_type,
                "members": g.members.len(),
                "topics": topics,
                "total_lag": total_lag(&rows),
            })
        })
        .collect();
    groups.extend(share_list(&state.broker, &access).await);
    groups.sort_by(|a, b| a["group_id"].as_str().cmp(&b["group_id"].as_str()));
    Ok(ok_json(json!({ "groups": groups })))
}

pub(crate) async fn describe(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    Path(id): Path<String>,
) -> ApiResult {
    require(&access, &state.broker, Operation::Describe, ResourceType::Group, &id)?;
    let broker = &state.broker;
    if let Some(share) =
        view(broker, &id).is_none().then(|| broker.shares.describe(broker.clock.now_ms(), &id)).flatten()
    {
        let offsets = share_offsets(broker, &access, &id).await;
        return Ok(ok_json(json!({
            "group_id": id,
            "type": "share",
            "state": share.state,
            "protocol_type": "share",
            "assignor": "simple",
            "members": share_members(broker, &share),
            "total_lag": offsets_lag(&offsets),
            "offsets": offsets,
            "lag_history": [],
        })));
    }
    let group =
        view(broker, &id).ok_or_else(|| HttpError::not_found(format!("Consumer group '{id}' does not exist.")))?;
    let rows = visible_lag(&state.broker, &access, &group);
    let members: Vec<Value> = group
        .members
        .iter()
        .map(|m| {
            let assigned: Vec<Value> = m.assigned.iter().map(|(t, p)| json!({ "topic": t, "partition": p })).collect();
            json!({
                "member_id": m.member_id,
                "instance_id": m.instance_id,
                "client_id": m.client_id,
                "host": m.host,
                "assignments": assigned,
            })
        })
        .collect();
    let offsets: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "topic": r.topic,
                "partition": r.partition,
                "committed_offset": r.committed,
                "end_offset": r.end_offset,
                "lag": r.lag,
                "member_id": r.owner,
            })
        })
        .collect();
    let history: Vec<Value> =
        state.history.lag(&id).into_iter().map(|(at_ms, lag)| json!({ "time": at_ms, "lag": lag })).collect();
    Ok(ok_json(json!({
        "group_id": group.id,
        "type": group.kind,
        "state": group.state,
        "protocol_type": group.protocol_type,
        "assignor": group.assignor,
        "members": members,
        "offsets": offsets,
        "total_lag": total_lag(&rows),
        "lag_history": history,
    })))
}
