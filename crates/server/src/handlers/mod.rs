//! One module per Kafka API; `dispatch` routes a decoded request to it.
//!
//! A handler does its synchronous work (validation, appends) before it returns, in request
//! order, and hands back a future for what must wait (acks=all syncs, fetch long-polls). The
//! connection sends the futures' responses in request order.

pub(crate) mod acls;
pub mod api_versions;
mod cluster;
mod config_resources;
mod configs;
mod create_topics;
mod delegation_tokens;
mod delete_topics;
mod describe_quorum;
mod describe_topic_partitions;
mod elect_leaders;
mod features;
mod fetch;
mod groups;
mod init_producer_id;
mod list_offsets;
mod log_dirs;
mod metadata;
mod offset_for_leader_epoch;
mod offsets;
mod partitions;
pub mod produce;
mod quotas;
mod raft_voters;
mod reassignments;
mod sasl;
mod scram;
mod share;
mod share_offsets;
mod streams;
mod telemetry;
mod transactions;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::BrokerId;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsResponse, ApiKey, DescribeClientQuotasResponse, DescribeQuorumResponse,
    DescribeUserScramCredentialsResponse, ElectLeadersResponse, ListPartitionReassignmentsResponse, RequestKind,
    ResponseKind,
};
use kafka_protocol::protocol::StrBytes;
use tracing::error;
use uuid::Uuid;

use brook_security::acl::Operation;
use brook_security::quota::{CONSUMER_BYTE_RATE, PRODUCER_BYTE_RATE};

use crate::authorization::{self, Access};
use crate::broker::{Broker, LiveBroker};
use crate::codec::Request;
use crate::session::Session;

/// A response to come; `None` for requests that get none (produce with acks=0).
pub type Reply = BoxFuture<'static, Option<ResponseKind>>;

/// A dispatched request: its reply, whether the connection must answer it before it reads
/// the next request (as Kafka reads a connection's requests one at a time), and how long the
/// connection then stays unread for a client over its produce quota (a fetch's throttle is in
/// its response).
pub struct Dispatched {
    pub reply: Reply,
    pub hold: bool,
    pub throttle: Duration,
}

/// A response's `throttle_time_ms`, for the APIs whose responses have one.
fn throttle_field(response: &mut ResponseKind) -> Option<&mut i32> {
    macro_rules! fields {
        ($($api:ident),* $(,)?) => {
            match response {
                $(ResponseKind::$api(r) => Some(&mut r.throttle_time_ms),)*
                _ => None,
            }
        };
    }
    fields!(
        Produce,
        Fetch,
        ListOffsets,
        Metadata,
        DescribeTopicPartitions,
        ApiVersions,
        CreateTopics,
        DeleteTopics,
        InitProducerId,
        AddPartitionsToTxn,
        AddOffsetsToTxn,
        EndTxn,
        TxnOffsetCommit,
        DescribeTransactions,
        ListTransactions,
        DescribeProducers,
        DescribeConfigs,
        ListConfigResources,
        AlterConfigs,
        IncrementalAlterConfigs,
        CreatePartitions,
        DeleteRecords,
        DescribeCluster,
        ElectLeaders,
        AlterPartitionReassignments,
        ListPartitionReassignments,
        DescribeLogDirs,
        AlterReplicaLogDirs,
        GetTelemetrySubscriptions,
        PushTelemetry,
        UnregisterBroker,
        UnregisterController,
        AddRaftVoter,
        RemoveRaftVoter,
        OffsetForLeaderEpoch,
        FindCoordinator,
        JoinGroup,
        SyncGroup,
        Heartbeat,
        LeaveGroup,
        OffsetCommit,
        OffsetFetch,
        DescribeGroups,
        ListGroups,
        DeleteGroups,
        OffsetDelete,
        ConsumerGroupHeartbeat,
        ConsumerGroupDescribe,
        ShareGroupHeartbeat,
        ShareGroupDescribe,
        StreamsGroupHeartbeat,
        StreamsGroupDescribe,
        StreamsGroupTopologyDescriptionUpdate,
        ShareFetch,
        ShareAcknowledge,
        DescribeShareGroupOffsets,
        AlterShareGroupOffsets,
        DeleteShareGroupOffsets,
        UpdateFeatures,
        DescribeUserScramCredentials,
        AlterUserScramCredentials,
        CreateAcls,
        DescribeAcls,
        DeleteAcls,
        DescribeClientQuotas,
        AlterClientQuotas,
    )
}

/// How long a response tells its client to back off (`throttle_time_ms` of a quota).
pub fn throttle_of(response: &mut ResponseKind) -> Duration {
    let ms = throttle_field(response).map_or(0, |ms| *ms);
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// Tells the client to back off at least `throttle`, where its response has the field.
pub fn set_throttle(response: &mut ResponseKind, throttle: Duration) {
    if let Some(ms) = throttle_field(response) {
        *ms = (*ms).max(millis(throttle));
    }
}

/// Requests that do not count against request quotas: the SASL exchange, ApiVersions, and
/// what brokers ask of each other (as Kafka exempts cluster actions).
pub fn exempt_from_request_quota(request: &Request) -> bool {
    match &request.body {
        RequestKind::Fetch(r) => r.replica_id.0 >= 0 || r.replica_state.replica_id.0 >= 0,
        RequestKind::AddPartitionsToTxn(r) => !r.transactions.is_empty(),
        _ => matches!(
            request.api_key,
            ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate | ApiKey::WriteTxnMarkers
        ),
    }
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// Routes a request from the client `session` describes.
pub fn dispatch(broker: &Arc<Broker>, request: Request, session: &Session) -> Dispatched {
    let version = request.version();
    let access = Access::of(broker, session);
    if access.enabled() && !authorization::CHECKED.contains(&request.api_key) {
        // Fail closed: an API whose handler does not check permissions is not served.
        error!(api = ?request.api_key, "no authorization check for this API; not served");
        return Dispatched { reply: futures::future::ready(None).boxed(), hold: false, throttle: Duration::ZERO };
    }
    if let RequestKind::Produce(r) = request.body {
        let bytes =
            r.topic_data.iter().flat_map(|t| &t.partition_data).map(|p| p.records.as_ref().map_or(0, |b| b.len()));
        let client_id = request.header.client_id.as_deref().unwrap_or_default();
        let throttle = broker.throttles.record(broker, &session.principal, client_id, PRODUCER_BYTE_RATE, bytes.sum());
        let (reply, hold) = produce::handle(broker, r, version, session.listener.clone(), &access);
        let reply = match throttle.is_zero() {
            true => reply,
            false => reply
                .map(move |r| match r {
                    Some(ResponseKind::Produce(r)) => {
                        Some(ResponseKind::Produce(r.with_throttle_time_ms(millis(throttle))))
                    }
                    other => other,
                })
                .boxed(),
        };
        return Dispatched { reply, hold, throttle };
    }
    // A parked JoinGroup or SyncGroup holds back what follows: a client that retries a join
    // it gave up on then gets the group's current answer.
    let hold = matches!(request.api_key, ApiKey::JoinGroup | ApiKey::SyncGroup);
    Dispatched { reply: route(broker, request, session, access), hold, throttle: Duration::ZERO }
}

fn route(broker: &Arc<Broker>, request: Request, session: &Session, access: Access) -> Reply {
    let client_host = session.client_host.as_str();
    let version = request.version();
    let ready = |response: ResponseKind| futures::future::ready(Some(response)).boxed();
    let b = broker.clone();
    let a = access.clone();
    // The APIs that act on the cluster as a whole: one check for the whole request.
    let on_cluster = |operation| access.allows_cluster(broker, operation);
    let denied = ResponseError::ClusterAuthorizationFailed.code();
    match request.body {
        RequestKind::ApiVersions(r) => {
            if version >= 3 {
                let software = (r.client_software_name.to_string(), r.client_software_version.to_string());
                let _ = session.software.set(software);
            }
            let image = broker.image();
            let features_epoch = i64::try_from(image.applied_index).unwrap_or(i64::MAX);
            let levels = brook_controller::features::finalized(&image.features);
            drop(image);
            let cluster_id = broker.cluster_id();
            let me = api_versions::Identity { cluster_id: &cluster_id, node_id: broker.config.node_id };
            ready(ResponseKind::ApiVersions(api_versions::handle(&r, version, (&levels, features_epoch), me)))
        }
        RequestKind::Metadata(r) => {
            let listener = session.listener.clone();
            async move { Some(ResponseKind::Metadata(metadata::handle(&b, r, version, &listener, a).await)) }.boxed()
        }
        RequestKind::Fetch(r) => {
            let listener = session.listener.clone();
            let (user, client_id) = (session.principal.clone(), request.header.client_id.clone());
            let consumer = r.replica_id.0 < 0 && r.replica_state.replica_id.0 < 0;
            async move {
                let client_id = client_id.as_deref().unwrap_or_default();
                let overdue = match consumer {
                    true => b.throttles.overdue(&b, &user, client_id, CONSUMER_BYTE_RATE),
                    false => Duration::ZERO,
                };
                if !overdue.is_zero() {
                    tokio::time::sleep(overdue).await;
                }
                let response = fetch::handle(&b, r, version, listener, a).await;
                let bytes = response.responses.iter().flat_map(|t| &t.partitions);
                let bytes: usize = bytes.map(|p| p.records.as_ref().map_or(0, |r| r.len())).sum();
                let throttle = match consumer {
                    true => b.throttles.record(&b, &user, client_id, CONSUMER_BYTE_RATE, bytes),
                    false => Duration::ZERO,
                };
                Some(ResponseKind::Fetch(response.with_throttle_time_ms(millis(throttle))))
            }
            .boxed()
        }
        RequestKind::ListOffsets(r) => {
            ready(ResponseKind::ListOffsets(list_offsets::handle(broker, r, version, &access)))
        }
        RequestKind::OffsetForLeaderEpoch(r) => {
            ready(ResponseKind::OffsetForLeaderEpoch(offset_for_leader_epoch::handle(broker, r, &access)))
        }
        RequestKind::CreateTopics(r) => {
            async move { Some(ResponseKind::CreateTopics(create_topics::handle(&b, r, version, a).await)) }.boxed()
        }
        RequestKind::DeleteTopics(r) => {
            async move { Some(ResponseKind::DeleteTopics(delete_topics::handle(&b, r, version, a).await)) }.boxed()
        }
        RequestKind::InitProducerId(r) => {
            async move { Some(ResponseKind::InitProducerId(init_producer_id::handle(&b, r, version, a).await)) }.boxed()
        }
        RequestKind::DescribeConfigs(r) => {
            ready(ResponseKind::DescribeConfigs(configs::describe(broker, r, version, &access)))
        }
        RequestKind::AlterConfigs(r) => {
            async move { Some(ResponseKind::AlterConfigs(configs::alter(&b, r, a).await)) }.boxed()
        }
        RequestKind::IncrementalAlterConfigs(r) => {
            async move { Some(ResponseKind::IncrementalAlterConfigs(configs::incremental_alter(&b, r, a).await)) }
                .boxed()
        }
        RequestKind::CreatePartitions(r) => {
            async move { Some(ResponseKind::CreatePartitions(partitions::create(&b, r, a).await)) }.boxed()
        }
        RequestKind::DeleteRecords(r) => {
            ready(ResponseKind::DeleteRecords(partitions::delete_records(broker, r, &access)))
        }
        RequestKind::DescribeCluster(r) => {
            ready(ResponseKind::DescribeCluster(cluster::describe_cluster(broker, r, &session.listener, &access)))
        }
        RequestKind::DescribeQuorum(_) if !on_cluster(Operation::Describe) => {
            ready(ResponseKind::DescribeQuorum(DescribeQuorumResponse::default().with_error_code(denied)))
        }
        RequestKind::DescribeQuorum(r) => {
            async move { Some(ResponseKind::DescribeQuorum(describe_quorum::handle(&b, r, version).await)) }.boxed()
        }
        RequestKind::ElectLeaders(_) if !on_cluster(Operation::Alter) => {
            ready(ResponseKind::ElectLeaders(ElectLeadersResponse::default().with_error_code(denied)))
        }
        RequestKind::ElectLeaders(r) => {
            async move { Some(ResponseKind::ElectLeaders(elect_leaders::handle(&b, r, version).await)) }.boxed()
        }
        RequestKind::AlterPartitionReassignments(_) if !on_cluster(Operation::Alter) => {
            let response = AlterPartitionReassignmentsResponse::default().with_error_code(denied);
            ready(ResponseKind::AlterPartitionReassignments(response))
        }
        RequestKind::AlterPartitionReassignments(r) => {
            async move { Some(ResponseKind::AlterPartitionReassignments(reassignments::alter(&b, r, version).await)) }
                .boxed()
        }
        RequestKind::ListPartitionReassignments(_) if !on_cluster(Operation::Describe) => {
            let response = ListPartitionReassignmentsResponse::default().with_error_code(denied);
            ready(ResponseKind::ListPartitionReassignments(response))
        }
        RequestKind::ListPartitionReassignments(r) => {
            ready(ResponseKind::ListPartitionReassignments(reassignments::list(broker, r)))
        }
        RequestKind::ListConfigResources(r) => ready(ResponseKind::ListConfigResources(config_resources::handle(
            broker,
            r,
            version,
            &session.listener,
            &access,
        ))),
        RequestKind::DescribeTopicPartitions(r) => {
            ready(ResponseKind::DescribeTopicPartitions(describe_topic_partitions::handle(broker, r, &access)))
        }
        RequestKind::DescribeLogDirs(r) => async move {
            // Every partition hosted here is listed, those a restart has not opened yet too.
            b.all_partitions_open().await;
            Some(ResponseKind::DescribeLogDirs(log_dirs::describe_log_dirs(&b, r, &a)))
        }
        .boxed(),
        RequestKind::UnregisterBroker(r) => {
            async move { Some(ResponseKind::UnregisterBroker(cluster::unregister_broker(&b, r, &a).await)) }.boxed()
        }
        RequestKind::UnregisterController(r) => {
            async move { Some(ResponseKind::UnregisterController(cluster::unregister_controller(&b, r, &a).await)) }
                .boxed()
        }
        RequestKind::AddRaftVoter(r) => ready(ResponseKind::AddRaftVoter(raft_voters::add(&b, r, &a))),
        RequestKind::RemoveRaftVoter(r) => ready(ResponseKind::RemoveRaftVoter(raft_voters::remove(&b, r, &a))),
        RequestKind::GetTelemetrySubscriptions(r) => {
            let client_id = request.header.client_id.as_deref().unwrap_or_default();
            ready(ResponseKind::GetTelemetrySubscriptions(telemetry::get_subscriptions(broker, r, session, client_id)))
        }
        RequestKind::PushTelemetry(r) => {
            let client_id = request.header.client_id.as_deref().unwrap_or_default();
            ready(ResponseKind::PushTelemetry(telemetry::push(broker, r, session, client_id)))
        }
        RequestKind::AlterReplicaLogDirs(r) => async move {
            b.all_partitions_open().await;
            Some(ResponseKind::AlterReplicaLogDirs(log_dirs::alter_replica_log_dirs(&b, r, &a)))
        }
        .boxed(),
        RequestKind::FindCoordinator(r) => {
            let listener = session.listener.clone();
            async move {
                Some(ResponseKind::FindCoordinator(groups::find_coordinator(&b, r, version, &listener, a).await))
            }
            .boxed()
        }
        RequestKind::JoinGroup(r) => {
            let client_id = request.header.client_id.as_deref().unwrap_or_default().to_string();
            let host = client_host.to_string();
            async move { Some(ResponseKind::JoinGroup(groups::join(&b, r, version, client_id, host, a).await)) }.boxed()
        }
        RequestKind::SyncGroup(r) => async move { Some(ResponseKind::SyncGroup(groups::sync(&b, r, a).await)) }.boxed(),
        RequestKind::Heartbeat(r) => ready(ResponseKind::Heartbeat(groups::heartbeat(broker, r, &access))),
        RequestKind::LeaveGroup(r) => {
            async move { Some(ResponseKind::LeaveGroup(groups::leave(&b, r, version, a).await)) }.boxed()
        }
        RequestKind::OffsetCommit(r) => {
            async move { Some(ResponseKind::OffsetCommit(offsets::commit(&b, r, version, a).await)) }.boxed()
        }
        RequestKind::OffsetFetch(r) => ready(ResponseKind::OffsetFetch(offsets::fetch(broker, r, version, &access))),
        RequestKind::AddPartitionsToTxn(r) => {
            async move { Some(ResponseKind::AddPartitionsToTxn(transactions::add_partitions(&b, r, version, a).await)) }
                .boxed()
        }
        RequestKind::AddOffsetsToTxn(r) => {
            async move { Some(ResponseKind::AddOffsetsToTxn(transactions::add_offsets(&b, r, version, a).await)) }
                .boxed()
        }
        RequestKind::TxnOffsetCommit(r) => {
            async move { Some(ResponseKind::TxnOffsetCommit(offsets::txn_commit(&b, r, version, a).await)) }.boxed()
        }
        RequestKind::EndTxn(r) => {
            async move { Some(ResponseKind::EndTxn(transactions::end(&b, r, version, a).await)) }.boxed()
        }
        RequestKind::DescribeTransactions(r) => {
            ready(ResponseKind::DescribeTransactions(transactions::describe(broker, r, &access)))
        }
        RequestKind::ListTransactions(r) => {
            ready(ResponseKind::ListTransactions(transactions::list(broker, r, version, &access)))
        }
        RequestKind::DescribeProducers(r) => {
            ready(ResponseKind::DescribeProducers(transactions::describe_producers(broker, r, &access)))
        }
        RequestKind::WriteTxnMarkers(r) => {
            async move { Some(ResponseKind::WriteTxnMarkers(transactions::write_markers(&b, r, a).await)) }.boxed()
        }
        RequestKind::OffsetDelete(r) => {
            async move { Some(ResponseKind::OffsetDelete(offsets::delete(&b, r, a).await)) }.boxed()
        }
        RequestKind::DescribeGroups(r) => {
            ready(ResponseKind::DescribeGroups(groups::describe(broker, r, version, &access)))
        }
        RequestKind::ListGroups(r) => ready(ResponseKind::ListGroups(groups::list(broker, r, &access))),
        RequestKind::ConsumerGroupHeartbeat(r) => {
            let client_id = request.header.client_id.as_deref().unwrap_or_default().to_string();
            let host = client_host.to_string();
            async move {
                Some(ResponseKind::ConsumerGroupHeartbeat(groups::consumer_heartbeat(&b, r, client_id, host, a).await))
            }
            .boxed()
        }
        RequestKind::ConsumerGroupDescribe(r) => {
            ready(ResponseKind::ConsumerGroupDescribe(groups::consumer_describe(broker, r, &access)))
        }
        RequestKind::StreamsGroupHeartbeat(r) => {
            let client_id = request.header.client_id.as_deref().unwrap_or_default().to_string();
            let host = client_host.to_string();
            async move {
                Some(ResponseKind::StreamsGroupHeartbeat(streams::heartbeat(&b, r, client_id, host, version, a).await))
            }
            .boxed()
        }
        RequestKind::StreamsGroupDescribe(r) => {
            ready(ResponseKind::StreamsGroupDescribe(streams::describe(broker, r, &access)))
        }
        RequestKind::StreamsGroupTopologyDescriptionUpdate(r) => {
            ready(ResponseKind::StreamsGroupTopologyDescriptionUpdate(streams::topology_description_update(
                broker, r, &access,
            )))
        }
        RequestKind::ShareGroupHeartbeat(r) => {
            let client_id = request.header.client_id.as_deref().unwrap_or_default().to_string();
            let host = client_host.to_string();
            async move { Some(ResponseKind::ShareGroupHeartbeat(share::heartbeat(&b, r, client_id, host, a).await)) }
                .boxed()
        }
        RequestKind::ShareGroupDescribe(r) => {
            ready(ResponseKind::ShareGroupDescribe(share::describe(broker, r, access)))
        }
        RequestKind::ShareFetch(r) => {
            let listener = session.listener.clone();
            async move { Some(ResponseKind::ShareFetch(share::fetch(&b, r, listener, a).await)) }.boxed()
        }
        RequestKind::ReadShareGroupState(r) => {
            let allowed = on_cluster(Operation::ClusterAction);
            ready(ResponseKind::ReadShareGroupState(share::read_state(broker, r, allowed)))
        }
        RequestKind::WriteShareGroupState(r) => {
            let allowed = on_cluster(Operation::ClusterAction);
            async move { Some(ResponseKind::WriteShareGroupState(share::write_state(&b, r, allowed).await)) }.boxed()
        }
        RequestKind::ReadShareGroupStateSummary(r) => {
            let allowed = on_cluster(Operation::ClusterAction);
            ready(ResponseKind::ReadShareGroupStateSummary(share_offsets::read_state_summary(broker, r, allowed)))
        }
        RequestKind::InitializeShareGroupState(r) => {
            let allowed = on_cluster(Operation::ClusterAction);
            async move {
                Some(ResponseKind::InitializeShareGroupState(share_offsets::initialize_state(&b, r, allowed).await))
            }
            .boxed()
        }
        RequestKind::DeleteShareGroupState(r) => {
            let allowed = on_cluster(Operation::ClusterAction);
            async move { Some(ResponseKind::DeleteShareGroupState(share_offsets::delete_state(&b, r, allowed).await)) }
                .boxed()
        }
        RequestKind::DescribeShareGroupOffsets(r) => {
            async move { Some(ResponseKind::DescribeShareGroupOffsets(share_offsets::describe(&b, r, a).await)) }
                .boxed()
        }
        RequestKind::AlterShareGroupOffsets(r) => {
            async move { Some(ResponseKind::AlterShareGroupOffsets(share_offsets::alter(&b, r, a).await)) }.boxed()
        }
        RequestKind::DeleteShareGroupOffsets(r) => {
            async move { Some(ResponseKind::DeleteShareGroupOffsets(share_offsets::delete_offsets(&b, r, a).await)) }
                .boxed()
        }
        RequestKind::ShareAcknowledge(r) => {
            let listener = session.listener.clone();
            async move { Some(ResponseKind::ShareAcknowledge(share::acknowledge_request(&b, r, listener, a).await)) }
                .boxed()
        }
        RequestKind::DeleteGroups(r) => {
            async move { Some(ResponseKind::DeleteGroups(groups::delete(&b, r, a).await)) }.boxed()
        }
        RequestKind::DescribeUserScramCredentials(_) if !on_cluster(Operation::Describe) => {
            let response = DescribeUserScramCredentialsResponse::default().with_error_code(denied);
            ready(ResponseKind::DescribeUserScramCredentials(response))
        }
        RequestKind::DescribeUserScramCredentials(r) => {
            ready(ResponseKind::DescribeUserScramCredentials(scram::describe(broker, r)))
        }
        RequestKind::AlterUserScramCredentials(r) if !on_cluster(Operation::Alter) => ready(
            ResponseKind::AlterUserScramCredentials(scram::refuse_all(r, ResponseError::ClusterAuthorizationFailed)),
        ),
        RequestKind::AlterUserScramCredentials(r) => {
            async move { Some(ResponseKind::AlterUserScramCredentials(scram::alter(&b, r).await)) }.boxed()
        }
        RequestKind::CreateDelegationToken(r) => {
            let asker = delegation_tokens::Asker::of(session);
            async move {
                let response = delegation_tokens::create(&b, r, asker, a).await;
                Some(ResponseKind::CreateDelegationToken(delegation_tokens::create_at(response, version)))
            }
            .boxed()
        }
        RequestKind::RenewDelegationToken(r) => {
            let asker = delegation_tokens::Asker::of(session);
            async move { Some(ResponseKind::RenewDelegationToken(delegation_tokens::renew(&b, r, asker).await)) }
                .boxed()
        }
        RequestKind::ExpireDelegationToken(r) => {
            let asker = delegation_tokens::Asker::of(session);
            async move { Some(ResponseKind::ExpireDelegationToken(delegation_tokens::expire(&b, r, asker).await)) }
                .boxed()
        }
        RequestKind::DescribeDelegationToken(r) => {
            let asker = delegation_tokens::Asker::of(session);
            let response = delegation_tokens::describe(broker, r, asker, &access);
            ready(ResponseKind::DescribeDelegationToken(delegation_tokens::describe_at(response, version)))
        }
        RequestKind::CreateAcls(r) => {
            async move { Some(ResponseKind::CreateAcls(acls::create(&b, a, r).await)) }.boxed()
        }
        RequestKind::DescribeAcls(r) => ready(ResponseKind::DescribeAcls(acls::describe(broker, &access, r))),
        RequestKind::DeleteAcls(r) => {
            async move { Some(ResponseKind::DeleteAcls(acls::delete(&b, a, r).await)) }.boxed()
        }
        RequestKind::DescribeClientQuotas(_) if !on_cluster(Operation::DescribeConfigs) => {
            let response = DescribeClientQuotasResponse::default()
                .with_error_code(denied)
                .with_error_message(Some(text("Cluster authorization failed.")))
                .with_entries(None);
            ready(ResponseKind::DescribeClientQuotas(response))
        }
        RequestKind::DescribeClientQuotas(r) => ready(ResponseKind::DescribeClientQuotas(quotas::describe(broker, r))),
        RequestKind::UpdateFeatures(r) => {
            let allowed = on_cluster(Operation::Alter);
            async move { Some(ResponseKind::UpdateFeatures(features::update(&b, r, version, allowed).await)) }.boxed()
        }
        RequestKind::AlterClientQuotas(r) if !on_cluster(Operation::AlterConfigs) => {
            ready(ResponseKind::AlterClientQuotas(quotas::refuse_all(r, ResponseError::ClusterAuthorizationFailed)))
        }
        RequestKind::AlterClientQuotas(r) => {
            async move { Some(ResponseKind::AlterClientQuotas(quotas::alter(&b, r).await)) }.boxed()
        }
        RequestKind::SaslHandshake(r) => ready(ResponseKind::SaslHandshake(sasl::handshake(r))),
        RequestKind::SaslAuthenticate(r) => ready(ResponseKind::SaslAuthenticate(sasl::authenticate(r))),
        other => {
            // `codec` only lets through the APIs listed in `api_versions::SUPPORTED`.
            error!(request = ?other, "a request for an API with no handler got past the version check");
            futures::future::ready(None).boxed()
        }
    }
}

/// KIP-951's hints in an answer to a client that asked the wrong broker: each such
/// partition's current leader, and those leaders' endpoints on the client's listener, so the
/// client goes straight there instead of refreshing its metadata.
struct LeaderHints {
    listener: Arc<str>,
    endpoints: BTreeMap<i32, LiveBroker>,
}

impl LeaderHints {
    fn on(listener: Arc<str>) -> LeaderHints {
        LeaderHints { listener, endpoints: BTreeMap::new() }
    }

    /// (leader id, leader epoch) of a partition, noting the leader's endpoint; (-1, -1) when
    /// the partition is unknown.
    fn leader(&mut self, broker: &Broker, topic_id: &Uuid, index: i32) -> (i32, i32) {
        let Some((leader, epoch, endpoint)) = broker.current_leader(topic_id, index, &self.listener) else {
            return (-1, -1);
        };
        if let Some(endpoint) = endpoint {
            self.endpoints.insert(leader, endpoint);
        }
        (leader, epoch)
    }

    /// The noted endpoints, in a response's own endpoint type.
    fn endpoints<T>(self, make: impl Fn(BrokerId, StrBytes, i32, Option<StrBytes>) -> T) -> Vec<T> {
        self.endpoints
            .into_values()
            .map(|b| make(BrokerId(b.node_id), text(b.host), i32::from(b.port), b.rack.map(text)))
            .collect()
    }
}

/// A topic a client named: its metadata when the client may use it, else TOPIC_AUTHORIZATION_FAILED
/// (whether or not it exists, as Kafka answers), or `unknown` when it does not exist.
fn authorized<T>(meta: Option<T>, allowed: bool, unknown: ResponseError) -> Result<T, ResponseError> {
    match (allowed, meta) {
        (false, _) => Err(ResponseError::TopicAuthorizationFailed),
        (true, Some(meta)) => Ok(meta),
        (true, None) => Err(unknown),
    }
}

/// A response string.
fn text(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// An error's message as Kafka sends it: null when there is nothing to say.
fn error_message(e: crate::broker::ApiError) -> Option<StrBytes> {
    (!e.message.is_empty()).then(|| text(e.message))
}
