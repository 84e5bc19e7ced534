//! Streams groups (KIP-1071) on the wire: StreamsGroupHeartbeat, StreamsGroupDescribe and
//! StreamsGroupTopologyDescriptionUpdate. The group logic is `brook_streams`, held by the group
//! coordinator; here are the conversions, the access checks, and the creation of the internal
//! topics a heartbeat finds missing (as Kafka, in the background: the members see
//! MISSING_INTERNAL_TOPICS until the topics are there).

use std::collections::BTreeMap;
use std::sync::Arc;

use brook_security::acl::{Operation, ResourceType};
use brook_streams::topology::CopartitionGroup;
use brook_streams::{Catalog, Heartbeat, Subtopology, TaskSet, Tasks, TopicInfo, Topology};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::streams_group_describe_response as describe;
use kafka_protocol::messages::streams_group_heartbeat_request as request;
use kafka_protocol::messages::streams_group_heartbeat_response as response;
use kafka_protocol::messages::*;
use tracing::{info, warn};

use super::groups::group_gate;
use super::text;
use crate::authorization::Access;
use crate::broker::Broker;
use crate::group::StreamsSettings;

/// Kafka's defaults for what a streams group tells its members about warm-up tasks (Brook
/// assigns none, so these only shape the client's own reporting).
const TASK_OFFSET_INTERVAL_MS: i32 = 60_000;
const ACCEPTABLE_RECOVERY_LAG: i64 = 10_000;

fn task_set(tasks: &[request::TaskIds]) -> TaskSet {
    let mut out = TaskSet::new();
    for t in tasks {
        out.entry(t.subtopology_id.to_string()).or_default().extend(t.partitions.iter().copied());
    }
    out
}

fn topic_info(t: &request::TopicInfo) -> TopicInfo {
    TopicInfo {
        name: t.name.to_string(),
        partitions: t.partitions,
        replication_factor: t.replication_factor,
        configs: t.topic_configs.iter().map(|c| (c.key.to_string(), c.value.to_string())).collect(),
    }
}

fn topology(t: &request::Topology) -> Topology {
    Topology {
        epoch: t.epoch,
        subtopologies: t
            .subtopologies
            .iter()
            .map(|s| Subtopology {
                id: s.subtopology_id.to_string(),
                source_topics: s.source_topics.iter().map(|t| t.to_string()).collect(),
                source_regexes: s.source_topic_regex.iter().map(|r| r.to_string()).collect(),
                changelogs: s.state_changelog_topics.iter().map(topic_info).collect(),
                repartition_sinks: s.repartition_sink_topics.iter().map(|t| t.to_string()).collect(),
                repartition_sources: s.repartition_source_topics.iter().map(topic_info).collect(),
                copartition_groups: s
                    .copartition_groups
                    .iter()
                    .map(|g| CopartitionGroup {
                        source_topics: g.source_topics.clone(),
                        source_regexes: g.source_topic_regex.clone(),
                        repartition_sources: g.repartition_source_topics.clone(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn offsets(o: &[request::TaskOffset]) -> Vec<(String, i32, i64)> {
    o.iter().map(|t| (t.subtopology_id.to_string(), t.partition, t.offset)).collect()
}

fn heartbeat_of(r: &StreamsGroupHeartbeatRequest, client_id: String, client_host: String) -> Heartbeat {
    Heartbeat {
        member_id: r.member_id.to_string(),
        member_epoch: r.member_epoch,
        endpoint_epoch: r.endpoint_information_epoch,
        instance_id: r.instance_id.as_ref().map(|i| i.to_string()),
        rack_id: r.rack_id.as_ref().map(|i| i.to_string()),
        rebalance_timeout_ms: r.rebalance_timeout_ms,
        topology: r.topology.as_ref().map(topology),
        active: r.active_tasks.as_deref().map(task_set),
        standby: r.standby_tasks.as_deref().map(task_set),
        warmup: r.warmup_tasks.as_deref().map(task_set),
        process_id: r.process_id.as_ref().map(|p| p.to_string()),
        user_endpoint: r.user_endpoint.as_ref().map(|e| (e.host.to_string(), e.port)),
        client_tags: r
            .client_tags
            .as_ref()
            .map(|t| t.iter().map(|kv| (kv.key.to_string(), kv.value.to_string())).collect()),
        task_offsets: r.task_offsets.as_deref().map(offsets),
        task_end_offsets: r.task_end_offsets.as_deref().map(offsets),
        shutdown_application: r.shutdown_application,
        client_id,
        client_host,
    }
}

fn response_tasks(set: TaskSet) -> Vec<response::TaskIds> {
    set.into_iter()
        .map(|(s, ps)| {
            response::TaskIds::default().with_subtopology_id(text(s)).with_partitions(ps.into_iter().collect())
        })
        .collect()
}

fn topic_partitions(map: BTreeMap<String, Vec<i32>>) -> Vec<response::TopicPartition> {
    map.into_iter()
        .map(|(t, ps)| response::TopicPartition::default().with_topic(TopicName(text(t))).with_partitions(ps))
        .collect()
}

pub(super) async fn heartbeat(
    broker: &Arc<Broker>,
    request: StreamsGroupHeartbeatRequest,
    client_id: String,
    client_host: String,
    version: i16,
    access: Access,
) -> StreamsGroupHeartbeatResponse {
    let refuse = |code: ResponseError, message: Option<String>| {
        StreamsGroupHeartbeatResponse::default().with_error_code(code.code()).with_error_message(message.map(text))
    };
    // `streams.version` 0 turns streams groups off, as in Kafka.
    if broker.feature_level(brook_controller::features::STREAMS_VERSION) == 0 {
        return refuse(ResponseError::UnsupportedVersion, None);
    }
    if let Err(e) = group_gate(broker, &access, Operation::Read, &request.group_id) {
        return refuse(e, None);
    }
    if broker.shares.has_group(&request.group_id) {
        return refuse(
            ResponseError::GroupIdNotFound,
            Some(format!("Group {} is not a streams group.", request.group_id.0)),
        );
    }
    let sources: Vec<String> = request
        .topology
        .iter()
        .flat_map(|t| &t.subtopologies)
        .flat_map(|s| s.source_topics.iter())
        .map(|t| t.to_string())
        .filter(|t| !access.allows(broker, Operation::Describe, ResourceType::Topic, t))
        .collect();
    if !sources.is_empty() {
        return refuse(
            ResponseError::TopicAuthorizationFailed,
            Some(format!("Unauthorized topics: {}", sources.join(", "))),
        );
    }
    let settings = broker.group_settings(&request.group_id);
    let streams = StreamsSettings {
        session_timeout_ms: settings.streams_session_timeout_ms,
        standby_replicas: settings.streams_standby_replicas,
        initial_delay_ms: settings.streams_initial_rebalance_delay_ms,
    };
    let group_id = request.group_id.to_string();
    let outcome = {
        let partitions = |name: &str| broker.topic(name).map(|t| t.partitions);
        let names = || broker.image().topics().map(|t| t.name.clone()).collect();
        let catalog = Catalog { partitions: &partitions, names: &names };
        let h = heartbeat_of(&request, client_id, client_host);
        broker.groups.streams_heartbeat(broker.clock.now_ms(), &group_id, h, &catalog, &streams)
    };
    // Answered once the group's changed records are in `__consumer_offsets` (as Kafka).
    let outcome = match broker.groups.flush_writes(broker).await {
        Ok(()) => outcome,
        Err(e) => Err((e.code, e.message)),
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err((code, message)) => {
            tracing::debug!(group = group_id, ?code, message, "StreamsGroupHeartbeat refused");
            return refuse(code, Some(message));
        }
    };
    if !outcome.to_create.is_empty() {
        create_internal_topics(broker, &access, outcome.to_create.clone());
    }
    let (active, standby, warmup) = match outcome.tasks {
        Some(Tasks { active, standby, warmup }) => {
            (Some(response_tasks(active)), Some(response_tasks(standby)), Some(response_tasks(warmup)))
        }
        None => (None, None, None),
    };
    // v0 carries the lag as an int32 (v1 replaced it with an int64 field).
    let legacy_lag = if version == 0 { ACCEPTABLE_RECOVERY_LAG as i32 } else { 0 };
    StreamsGroupHeartbeatResponse::default()
        .with_member_id(request.member_id)
        .with_member_epoch(outcome.member_epoch)
        .with_heartbeat_interval_ms(settings.streams_heartbeat_interval_ms)
        .with_acceptable_recovery_lag_legacy(legacy_lag)
        .with_acceptable_recovery_lag(ACCEPTABLE_RECOVERY_LAG)
        .with_task_offset_interval_ms(TASK_OFFSET_INTERVAL_MS)
        .with_status(Some(
            outcome
                .statuses
                .into_iter()
                .map(|(code, detail)| {
                    response::Status::default().with_status_code(code).with_status_detail(text(detail))
                })
                .collect(),
        ))
        .with_active_tasks(active)
        .with_standby_tasks(standby)
        .with_warmup_tasks(warmup)
        .with_endpoint_information_epoch(outcome.endpoint_epoch)
        .with_partitions_by_user_endpoint(outcome.endpoints.map(|list| {
            list.into_iter()
                .map(|e| {
                    response::EndpointToPartitions::default()
                        .with_user_endpoint(
                            response::Endpoint::default().with_host(text(e.endpoint.0)).with_port(e.endpoint.1),
                        )
                        .with_active_partitions(topic_partitions(e.active))
                        .with_standby_partitions(topic_partitions(e.standby))
                })
                .collect()
        }))
}

/// Creates the internal topics in the background; one that appeared meanwhile is fine.
fn create_internal_topics(broker: &Arc<Broker>, access: &Access, topics: Vec<TopicInfo>) {
    let (allowed, denied): (Vec<TopicInfo>, Vec<TopicInfo>) =
        topics.into_iter().partition(|t| access.may_create_topic(broker, &t.name));
    for t in denied {
        warn!(topic = t.name, "not creating a streams internal topic: the member may not create it");
    }
    let broker = broker.clone();
    tokio::spawn(async move {
        for t in allowed {
            let rf = if t.replication_factor <= 0 { -1 } else { t.replication_factor };
            let configs: BTreeMap<String, String> = t.configs.into_iter().collect();
            match broker.create_topic(&t.name, t.partitions, rf, Vec::new(), configs, false).await {
                Ok(_) => info!(topic = t.name, partitions = t.partitions, "created a streams internal topic"),
                Err(e) if e.code == ResponseError::TopicAlreadyExists => {}
                Err(e) => warn!(topic = t.name, error = %e.message, "creating a streams internal topic failed"),
            }
        }
    });
}

fn describe_topic_info(t: &TopicInfo) -> describe::TopicInfo {
    describe::TopicInfo::default()
        .with_name(TopicName(text(t.name.clone())))
        .with_partitions(t.partitions)
        .with_replication_factor(t.replication_factor)
        .with_topic_configs(
            t.configs
                .iter()
                .map(|(k, v)| describe::KeyValue::default().with_key(text(k.clone())).with_value(text(v.clone())))
                .collect(),
        )
}

fn describe_tasks(t: &Tasks) -> describe::Assignment {
    let ids = |set: &TaskSet| {
        set.iter()
            .map(|(s, ps)| {
                describe::TaskIds::default()
                    .with_subtopology_id(text(s.clone()))
                    .with_partitions(ps.iter().copied().collect())
            })
            .collect()
    };
    describe::Assignment::default()
        .with_active_tasks(ids(&t.active))
        .with_standby_tasks(ids(&t.standby))
        .with_warmup_tasks(ids(&t.warmup))
}

fn describe_offsets(o: &[(String, i32, i64)]) -> Vec<describe::TaskOffset> {
    o.iter()
        .map(|(s, p, off)| {
            describe::TaskOffset::default().with_subtopology_id(text(s.clone())).with_partition(*p).with_offset(*off)
        })
        .collect()
}

/// Kafka's TopologyDescriptionStatus values.
const DESCRIPTION_NOT_REQUESTED: i8 = 0;
const DESCRIPTION_NOT_STORED: i8 = 1;

pub(super) fn describe(
    broker: &Broker,
    request: StreamsGroupDescribeRequest,
    access: &Access,
) -> StreamsGroupDescribeResponse {
    let with_operations = request.include_authorized_operations;
    let description_status =
        if request.include_topology_description { DESCRIPTION_NOT_STORED } else { DESCRIPTION_NOT_REQUESTED };
    let groups = request
        .group_ids
        .into_iter()
        .map(|id| {
            let described = describe::DescribedGroup::default().with_group_id(id.clone());
            if let Err(e) = group_gate(broker, access, Operation::Describe, &id) {
                return described.with_error_code(e.code());
            }
            let described = match with_operations {
                true => described.with_authorized_operations(access.operations(broker, ResourceType::Group, &id)),
                false => described,
            };
            let (state, g) = match broker.groups.streams_describe(&id) {
                Ok(found) => found,
                Err((code, message)) => {
                    return described.with_error_code(code.code()).with_error_message(Some(text(message)));
                }
            };
            let topology = g.topology.as_ref().map(|t| {
                describe::Topology::default().with_epoch(t.epoch).with_subtopologies(Some(
                    t.subtopologies
                        .iter()
                        .map(|s| {
                            describe::Subtopology::default()
                                .with_subtopology_id(text(s.id.clone()))
                                .with_source_topics(
                                    s.source_topics.iter().map(|t| TopicName(text(t.clone()))).collect(),
                                )
                                .with_repartition_sink_topics(
                                    s.repartition_sinks.iter().map(|t| TopicName(text(t.clone()))).collect(),
                                )
                                .with_state_changelog_topics(s.changelogs.iter().map(describe_topic_info).collect())
                                .with_repartition_source_topics(
                                    s.repartition_sources.iter().map(describe_topic_info).collect(),
                                )
                        })
                        .collect(),
                ))
            });
            let members = g
                .members
                .values()
                .map(|m| {
                    describe::Member::default()
                        .with_member_id(text(m.id.clone()))
                        .with_member_epoch(m.epoch)
                        .with_instance_id(m.instance_id.clone().map(text))
                        .with_rack_id(m.rack_id.clone().map(text))
                        .with_client_id(text(m.client_id.clone()))
                        .with_client_host(text(m.client_host.clone()))
                        .with_topology_epoch(m.topology_epoch)
                        .with_process_id(text(m.process_id.clone()))
                        .with_user_endpoint(
                            m.user_endpoint
                                .as_ref()
                                .map(|(h, p)| describe::Endpoint::default().with_host(text(h.clone())).with_port(*p)),
                        )
                        .with_client_tags(
                            m.client_tags
                                .iter()
                                .map(|(k, v)| {
                                    describe::KeyValue::default().with_key(text(k.clone())).with_value(text(v.clone()))
                                })
                                .collect(),
                        )
                        .with_task_offsets(describe_offsets(&m.task_offsets))
                        .with_task_end_offsets(describe_offsets(&m.task_end_offsets))
                        .with_assignment(describe_tasks(&m.assigned))
                        .with_target_assignment(describe_tasks(&g.target.get(&m.id).cloned().unwrap_or_default()))
                })
                .collect();
            described
                .with_group_state(text(state))
                .with_group_epoch(g.epoch)
                .with_assignment_epoch(g.assignment_epoch)
                .with_topology(topology)
                .with_members(members)
                .with_topology_description_status(description_status)
                .with_assignor_name(Some(text(brook_streams::assignor::STICKY)))
        })
        .collect();
    StreamsGroupDescribeResponse::default().with_groups(groups)
}

/// KIP-1331's push of a topology description: as Kafka without a topology description plugin
/// (its default, and Brook has none), UNSUPPORTED_VERSION; no heartbeat asks for one.
pub(super) fn topology_description_update(
    broker: &Broker,
    request: StreamsGroupTopologyDescriptionUpdateRequest,
    access: &Access,
) -> StreamsGroupTopologyDescriptionUpdateResponse {
    let code = match group_gate(broker, access, Operation::Read, &request.group_id) {
        Err(e) => e,
        Ok(()) => ResponseError::UnsupportedVersion,
    };
    StreamsGroupTopologyDescriptionUpdateResponse::default().with_error_code(code.code())
}
