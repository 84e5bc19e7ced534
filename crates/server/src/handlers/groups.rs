//! The group APIs: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
//! DescribeGroups, ListGroups and DeleteGroups. Translation only: `crate::group` decides.
//!
//! With an authorizer, as Kafka: joining, syncing, heartbeating and leaving need READ on the
//! group, describing and finding its coordinator DESCRIBE, deleting DELETE; ListGroups shows
//! every group to a client with DESCRIBE on the cluster, else the groups it may describe.

use std::collections::BTreeSet;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use brook_security::acl::{CLUSTER_NAME, Operation, ResourceType};

use super::text;
use crate::authorization::Access;
use crate::broker::{ApiError, Broker, TopicMeta};
use crate::group::assignor::Assignment;
use crate::group::classic::{JoinOutcome, SyncOutcome};
use crate::group::consumer::{ConsumerDescription, HeartbeatRequest as ConsumerHeartbeat, Topics};
use crate::group::{JoinRequest, LeaveMember, SyncRequest};

/// FindCoordinator key types.
const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

/// Whether the client may act on the group, then whether this broker coordinates it.
pub(super) fn group_gate(
    broker: &Broker,
    access: &Access,
    operation: Operation,
    group: &str,
) -> Result<(), ResponseError> {
    if !access.allows(broker, operation, ResourceType::Group, group) {
        return Err(ResponseError::GroupAuthorizationFailed);
    }
    broker.check_coordinator(group)
}

pub(super) async fn find_coordinator(
    broker: &Arc<Broker>,
    request: FindCoordinatorRequest,
    version: i16,
    listener: &str,
    access: Access,
) -> FindCoordinatorResponse {
    let keys: Vec<String> = if version >= 4 {
        request.coordinator_keys.iter().map(|k| k.to_string()).collect()
    } else {
        vec![request.key.to_string()]
    };
    // The coordinators' topics are created on their first lookup, as Kafka creates them.
    let error = match request.key_type {
        KEY_TYPE_GROUP => broker.ensure_offsets_topic().await.err(),
        KEY_TYPE_TRANSACTION => broker.ensure_internal_topic(&broker.config.transaction.state_topic()).await.err(),
        // Share-state coordinators (2) are the brokers' own business; as Kafka does for a type
        // it does not know, a request, not a retriable condition.
        other => {
            Some(ApiError::new(ResponseError::InvalidRequest, format!("Brook has no coordinator of key type {other}")))
        }
    }
    .map(|e| {
        (
            if e.code == ResponseError::InvalidRequest { e.code } else { ResponseError::CoordinatorNotAvailable },
            e.message,
        )
    });
    let coordinators: Vec<Coordinator> = keys
        .iter()
        .map(|key| {
            let c = Coordinator::default().with_key(text(key.clone()));
            let denied = match request.key_type {
                KEY_TYPE_TRANSACTION => {
                    (!access.allows(broker, Operation::Describe, ResourceType::TransactionalId, key))
                        .then_some(ResponseError::TransactionalIdAuthorizationFailed)
                }
                _ => (!access.allows(broker, Operation::Describe, ResourceType::Group, key))
                    .then_some(ResponseError::GroupAuthorizationFailed),
            };
            let found = match (&error, denied) {
                (_, Some(code)) => Err((code, code.to_string())),
                (Some((code, message)), None) => Err((*code, message.clone())),
                (None, None) if request.key_type == KEY_TYPE_TRANSACTION => {
                    broker.transaction_coordinator(key, listener).map_err(|e| (e.code, e.message))
                }
                (None, None) => broker.group_coordinator(key, listener).map_err(|e| (e.code, e.message)),
            };
            match found {
                Err((code, message)) => c
                    .with_node_id(BrokerId(-1))
                    .with_port(-1)
                    .with_error_code(code.code())
                    .with_error_message(Some(text(message))),
                Ok(b) => c.with_node_id(BrokerId(b.node_id)).with_host(text(b.host)).with_port(i32::from(b.port)),
            }
        })
        .collect();
    if version >= 4 {
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let first = coordinators.into_iter().next().unwrap_or_default();
    FindCoordinatorResponse::default()
        .with_error_code(first.error_code)
        .with_error_message(first.error_message)
        .with_node_id(first.node_id)
        .with_host(first.host)
        .with_port(first.port)
}

pub(super) async fn join(
    broker: &Arc<Broker>,
    request: JoinGroupRequest,
    version: i16,
    client_id: String,
    client_host: String,
    access: Access,
) -> JoinGroupResponse {
    if let Err(e) = group_gate(broker, &access, Operation::Read, &request.group_id) {
        return JoinGroupResponse::default()
            .with_error_code(e.code())
            .with_generation_id(-1)
            .with_protocol_name(if version < 7 { Some(text("")) } else { None })
            .with_member_id(request.member_id);
    }
    let join = JoinRequest {
        group_id: request.group_id.to_string(),
        member_id: request.member_id.to_string(),
        instance_id: request.group_instance_id.map(|i| i.to_string()),
        client_id,
        client_host,
        session_timeout_ms: request.session_timeout_ms,
        // v0 has no rebalance timeout: the session timeout serves.
        rebalance_timeout_ms: if version >= 1 { request.rebalance_timeout_ms } else { request.session_timeout_ms },
        protocol_type: request.protocol_type.to_string(),
        protocols: request.protocols.into_iter().map(|p| (p.name.to_string(), p.metadata)).collect(),
        require_known_member_id: version >= 4,
    };
    let receiver = broker.groups.join(broker.clock.now_ms(), join);
    let _logged = broker.groups.flush_writes(broker).await;
    let outcome = receiver.await.unwrap_or_else(|_| JoinOutcome::error(ResponseError::CoordinatorNotAvailable, ""));
    // Before v7 the protocol name is not nullable.
    let protocol_name = outcome.protocol_name.or(if version < 7 { Some(String::new()) } else { None });
    JoinGroupResponse::default()
        .with_error_code(outcome.error.map_or(0, |e| e.code()))
        .with_generation_id(outcome.generation)
        .with_protocol_type(outcome.protocol_type.map(text))
        .with_protocol_name(protocol_name.map(text))
        .with_leader(text(outcome.leader))
        .with_skip_assignment(outcome.skip_assignment && version >= 9)
        .with_member_id(text(outcome.member_id))
        .with_members(
            outcome
                .members
                .into_iter()
                .map(|(id, instance, metadata)| {
                    JoinGroupResponseMember::default()
                        .with_member_id(text(id))
                        .with_group_instance_id(instance.map(text))
                        .with_metadata(metadata)
                })
                .collect(),
        )
}

pub(super) async fn sync(broker: &Arc<Broker>, request: SyncGroupRequest, access: Access) -> SyncGroupResponse {
    if let Err(e) = group_gate(broker, &access, Operation::Read, &request.group_id) {
        return SyncGroupResponse::default().with_error_code(e.code());
    }
    let sync = SyncRequest {
        group_id: request.group_id.to_string(),
        member_id: request.member_id.to_string(),
        instance_id: request.group_instance_id.map(|i| i.to_string()),
        generation: request.generation_id,
        protocol_type: request.protocol_type.map(|p| p.to_string()),
        protocol_name: request.protocol_name.map(|p| p.to_string()),
        assignments: request.assignments.into_iter().map(|a| (a.member_id.to_string(), a.assignment)).collect(),
    };
    let receiver = broker.groups.sync(broker.clock.now_ms(), sync);
    let _logged = broker.groups.flush_writes(broker).await;
    let outcome = receiver.await.unwrap_or_else(|_| SyncOutcome::error(ResponseError::CoordinatorNotAvailable));
    SyncGroupResponse::default()
        .with_error_code(outcome.error.map_or(0, |e| e.code()))
        .with_protocol_type(outcome.protocol_type.map(text))
        .with_protocol_name(outcome.protocol_name.map(text))
        .with_assignment(outcome.assignment)
}

pub(super) fn heartbeat(broker: &Broker, request: HeartbeatRequest, access: &Access) -> HeartbeatResponse {
    if let Err(e) = group_gate(broker, access, Operation::Read, &request.group_id) {
        return HeartbeatResponse::default().with_error_code(e.code());
    }
    let error = broker.groups.heartbeat(
        broker.clock.now_ms(),
        &request.group_id,
        &request.member_id,
        request.group_instance_id.as_deref(),
        request.generation_id,
    );
    HeartbeatResponse::default().with_error_code(error.map_or(0, |e| e.code()))
}

pub(super) async fn leave(
    broker: &Arc<Broker>,
    request: LeaveGroupRequest,
    version: i16,
    access: Access,
) -> LeaveGroupResponse {
    if let Err(e) = group_gate(broker, &access, Operation::Read, &request.group_id) {
        return LeaveGroupResponse::default().with_error_code(e.code());
    }
    let members: Vec<LeaveMember> = if version >= 3 {
        request
            .members
            .iter()
            .map(|m| LeaveMember {
                member_id: m.member_id.to_string(),
                instance_id: m.group_instance_id.as_ref().map(|i| i.to_string()),
            })
            .collect()
    } else {
        vec![LeaveMember { member_id: request.member_id.to_string(), instance_id: None }]
    };
    let result = broker.groups.leave(broker.clock.now_ms(), &request.group_id, &members);
    let _logged = broker.groups.flush_writes(broker).await;
    match result {
        Err(e) => LeaveGroupResponse::default().with_error_code(e.code()),
        Ok(results) if version < 3 => {
            LeaveGroupResponse::default().with_error_code(results.first().copied().flatten().map_or(0, |e| e.code()))
        }
        Ok(results) => LeaveGroupResponse::default().with_members(
            members
                .into_iter()
                .zip(results)
                .map(|(m, error)| {
                    MemberResponse::default()
                        .with_member_id(text(m.member_id))
                        .with_group_instance_id(m.instance_id.map(text))
                        .with_error_code(error.map_or(0, |e| e.code()))
                })
                .collect(),
        ),
    }
}

pub(super) fn describe(
    broker: &Broker,
    request: DescribeGroupsRequest,
    version: i16,
    access: &Access,
) -> DescribeGroupsResponse {
    let with_operations = request.include_authorized_operations;
    let groups = request
        .groups
        .into_iter()
        .map(|id| {
            let described = DescribedGroup::default().with_group_id(id.clone());
            if !access.allows(broker, Operation::Describe, ResourceType::Group, &id) {
                return described.with_error_code(ResponseError::GroupAuthorizationFailed.code());
            }
            let described = match with_operations {
                true => described.with_authorized_operations(access.operations(broker, ResourceType::Group, &id)),
                false => described,
            };
            match broker.groups.describe(&id) {
                // Kafka describes an unknown group as Dead; v6+ also says GROUP_ID_NOT_FOUND.
                None => {
                    let described = described.with_group_state(text("Dead"));
                    if version >= 6 {
                        described
                            .with_error_code(ResponseError::GroupIdNotFound.code())
                            .with_error_message(Some(text(format!("Group {} not found.", id.0))))
                    } else {
                        described
                    }
                }
                Some(g) => described
                    .with_group_state(text(g.state))
                    .with_protocol_type(text(g.protocol_type))
                    .with_protocol_data(text(g.protocol))
                    .with_members(
                        g.members
                            .into_iter()
                            .map(|m| {
                                DescribedGroupMember::default()
                                    .with_member_id(text(m.member_id))
                                    .with_group_instance_id(m.instance_id.map(text))
                                    .with_client_id(text(m.client_id))
                                    .with_client_host(text(m.client_host))
                                    .with_member_metadata(m.metadata)
                                    .with_member_assignment(m.assignment)
                            })
                            .collect(),
                    ),
            }
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}

pub(super) fn list(broker: &Broker, request: ListGroupsRequest, access: &Access) -> ListGroupsResponse {
    let all = access.sees(broker, Operation::Describe, ResourceType::Cluster, CLUSTER_NAME);
    let visible = |id: &str| all || access.sees(broker, Operation::Describe, ResourceType::Group, id);
    let matches =
        |filter: &[StrBytes], value: &str| filter.is_empty() || filter.iter().any(|f| f.eq_ignore_ascii_case(value));
    let mut groups: Vec<ListedGroup> = broker
        .groups
        .list()
        .into_iter()
        // Share groups list with protocol type and group type "share", as in Kafka.
        .chain(broker.shares.list().into_iter().map(|(id, state)| (id, "share".to_string(), state, "share")))
        .filter(|(id, _, state, kind)| {
            matches(&request.states_filter, state) && matches(&request.types_filter, kind) && visible(id)
        })
        .map(|(id, protocol_type, state, kind)| {
            ListedGroup::default()
                .with_group_id(GroupId(text(id)))
                .with_protocol_type(text(protocol_type))
                .with_group_state(text(state))
                .with_group_type(text(kind))
        })
        .collect();
    groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    ListGroupsResponse::default().with_groups(groups)
}

/// An assignment by topic id, as the consumer protocol carries it.
fn to_assignment(topics: &[consumer_group_heartbeat_request::TopicPartitions]) -> Assignment {
    let mut out = Assignment::new();
    for t in topics {
        out.entry(t.topic_id).or_default().extend(t.partitions.iter().copied());
    }
    out
}

/// Answered once the group's changed records are in `__consumer_offsets` (as Kafka), so that
/// a new coordinator knows every epoch and assignment a member was told.
pub(super) async fn consumer_heartbeat(
    broker: &Broker,
    request: ConsumerGroupHeartbeatRequest,
    client_id: String,
    client_host: String,
    access: Access,
) -> ConsumerGroupHeartbeatResponse {
    // `group.version` 0 turns the consumer group protocol off (KIP-848), as in Kafka.
    if broker.feature_level(brook_controller::features::GROUP_VERSION) == 0 {
        return ConsumerGroupHeartbeatResponse::default().with_error_code(ResponseError::UnsupportedVersion.code());
    }
    if let Err(e) = group_gate(broker, &access, Operation::Read, &request.group_id) {
        return ConsumerGroupHeartbeatResponse::default()
            .with_error_code(e.code())
            .with_member_id(Some(request.member_id));
    }
    // Kafka refuses a subscription to topics the member may not describe.
    let hidden: Vec<String> = request
        .subscribed_topic_names
        .iter()
        .flatten()
        .filter(|t| !access.allows(broker, Operation::Describe, ResourceType::Topic, t))
        .map(|t| t.to_string())
        .collect();
    if !hidden.is_empty() {
        return ConsumerGroupHeartbeatResponse::default()
            .with_error_code(ResponseError::TopicAuthorizationFailed.code())
            .with_error_message(Some(text(format!("Unauthorized topics: {}", hidden.join(", ")))));
    }
    let settings = broker.group_settings(&request.group_id);
    let heartbeat = ConsumerHeartbeat {
        session_timeout_ms: settings.consumer_session_timeout_ms,
        heartbeat_interval_ms: settings.consumer_heartbeat_interval_ms,
        group_id: request.group_id.to_string(),
        member_id: request.member_id.to_string(),
        member_epoch: request.member_epoch,
        instance_id: request.instance_id.map(|i| i.to_string()),
        rack_id: request.rack_id.map(|r| r.to_string()),
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        subscribed_topics: request.subscribed_topic_names.map(|ts| ts.iter().map(|t| t.to_string()).collect()),
        subscribed_regex: request.subscribed_topic_regex.map(|r| r.to_string()),
        server_assignor: request.server_assignor.map(|a| a.to_string()),
        owned: request.topic_partitions.as_deref().map(to_assignment),
        client_id,
        client_host,
    };
    let outcome = {
        let resolve = |name: &str| broker.topic(name).map(|t| (t.id, t.partitions));
        // As Kafka's coordinator: a regex matches only topics the member may describe (the
        // group keeps one resolution per regex, redone when the metadata, ACLs included, moves).
        let names = || {
            let image = broker.image();
            let visible =
                |t: &&TopicMeta| access.sees_in(&image.acls, Operation::Describe, ResourceType::Topic, &t.name);
            image.topics().filter(visible).map(|t| t.name.clone()).collect()
        };
        let topics = Topics { resolve: &resolve, names: &names, version: broker.image().applied_index };
        broker.groups.consumer_heartbeat(broker.clock.now_ms(), heartbeat, &topics)
    };
    let outcome = match broker.groups.flush_writes(broker).await {
        Ok(()) => outcome,
        Err(e) => Err((e.code, e.message)),
    };
    match outcome {
        Err((code, message)) => {
            tracing::debug!(group = %request.group_id.0, ?code, message, "ConsumerGroupHeartbeat refused");
            ConsumerGroupHeartbeatResponse::default()
                .with_error_code(code.code())
                .with_error_message(Some(text(message)))
        }
        Ok(outcome) => ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(text(outcome.member_id)))
            .with_member_epoch(outcome.member_epoch)
            .with_heartbeat_interval_ms(outcome.heartbeat_interval_ms)
            .with_assignment(outcome.assignment.map(|a| {
                consumer_group_heartbeat_response::Assignment::default().with_topic_partitions(
                    a.into_iter()
                        .map(|(id, ps)| {
                            consumer_group_heartbeat_response::TopicPartitions::default()
                                .with_topic_id(id)
                                .with_partitions(ps.into_iter().collect())
                        })
                        .collect(),
                )
            })),
    }
}

/// Whether the client may describe every topic in the members' assignments and target
/// assignments.
fn assigned_topics_visible(broker: &Broker, access: &Access, group: &ConsumerDescription) -> bool {
    let image = broker.image();
    let ids: BTreeSet<&uuid::Uuid> =
        group.members.iter().flat_map(|m| m.assigned.keys().chain(m.target.keys())).collect();
    ids.into_iter().all(|id| {
        let name = image.topic_by_id(id).map(|t| t.name.as_str()).unwrap_or_default();
        access.sees_in(&image.acls, Operation::Describe, ResourceType::Topic, name)
    })
}

pub(super) fn consumer_describe(
    broker: &Broker,
    request: ConsumerGroupDescribeRequest,
    access: &Access,
) -> ConsumerGroupDescribeResponse {
    let with_operations = request.include_authorized_operations;
    let names = |a: Assignment| {
        consumer_group_describe_response::Assignment::default().with_topic_partitions(
            a.into_iter()
                .map(|(id, ps)| {
                    let name = broker.topic_by_id(&id).map(|t| t.name).unwrap_or_default();
                    consumer_group_describe_response::TopicPartitions::default()
                        .with_topic_id(id)
                        .with_topic_name(TopicName(text(name)))
                        .with_partitions(ps.into_iter().collect())
                })
                .collect(),
        )
    };
    let groups = request
        .group_ids
        .into_iter()
        .map(|id| {
            let described = consumer_group_describe_response::DescribedGroup::default().with_group_id(id.clone());
            if !access.allows(broker, Operation::Describe, ResourceType::Group, &id) {
                return described.with_error_code(ResponseError::GroupAuthorizationFailed.code());
            }
            let described = match with_operations {
                true => described.with_authorized_operations(access.operations(broker, ResourceType::Group, &id)),
                false => described,
            };
            match broker.groups.consumer_describe(&id) {
                Err((code, message)) => described.with_error_code(code.code()).with_error_message(Some(text(message))),
                // As Kafka: a group assigning a topic the client may not describe is not shown.
                Ok(g) if access.enabled() && !assigned_topics_visible(broker, access, &g) => described
                    .with_authorized_operations(i32::MIN)
                    .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                    .with_error_message(Some(text(
                        "The group has described topic(s) that the client is not authorized to describe.",
                    ))),
                Ok(g) => described
                    .with_group_state(text(g.state))
                    .with_group_epoch(g.epoch)
                    .with_assignment_epoch(g.assignment_epoch)
                    .with_assignor_name(text(g.assignor))
                    .with_members(
                        g.members
                            .into_iter()
                            .map(|m| {
                                consumer_group_describe_response::Member::default()
                                    .with_member_id(text(m.member_id))
                                    .with_instance_id(m.instance_id.map(text))
                                    .with_rack_id(m.rack_id.map(text))
                                    .with_member_epoch(m.epoch)
                                    .with_client_id(text(m.client_id))
                                    .with_client_host(text(m.client_host))
                                    .with_subscribed_topic_names(
                                        m.subscribed.into_iter().map(|t| TopicName(text(t))).collect(),
                                    )
                                    .with_subscribed_topic_regex(m.subscribed_regex.map(text))
                                    .with_assignment(names(m.assigned))
                                    .with_target_assignment(names(m.target))
                                    .with_member_type(0)
                            })
                            .collect(),
                    ),
            }
        })
        .collect();
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}

pub(super) async fn delete(broker: &Arc<Broker>, request: DeleteGroupsRequest, access: Access) -> DeleteGroupsResponse {
    let (allowed, denied): (Vec<_>, Vec<_>) = request
        .groups_names
        .into_iter()
        .partition(|g| access.allows(broker, Operation::Delete, ResourceType::Group, g));
    // Share groups are deleted with their share-partitions' state; the others by the group
    // coordinator, in one write.
    let (share, other): (Vec<String>, Vec<String>) =
        allowed.iter().map(|g| g.to_string()).partition(|g| broker.shares.has_group(g));
    let mut deleted: std::collections::HashMap<String, Option<ResponseError>> =
        other.iter().cloned().zip(broker.groups.delete_groups(broker, &other).await).collect();
    for id in share {
        let result = super::share_offsets::delete_group(broker, &id).await;
        deleted.insert(id, result);
    }
    let results: Vec<Option<ResponseError>> = allowed.iter().map(|g| deleted[g.as_str()]).collect();
    let refused = denied.into_iter().map(|id| (id, Some(ResponseError::GroupAuthorizationFailed)));
    DeleteGroupsResponse::default().with_results(
        allowed
            .into_iter()
            .zip(results)
            .chain(refused)
            .map(|(id, error)| {
                DeletableGroupResult::default().with_group_id(id).with_error_code(error.map_or(0, |e| e.code()))
            })
            .collect(),
    )
}
