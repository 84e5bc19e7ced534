//! One module per Kafka API; `dispatch` routes a decoded request to it.
//!
//! A handler does its synchronous work (validation, appends) before it returns, in request
//! order, and hands back a future for what must wait (acks=all syncs, fetch long-polls). The
//! connection sends the futures' responses in request order.

pub mod api_versions;
mod cluster;
mod configs;
mod create_topics;
mod delete_topics;
mod describe_quorum;
mod elect_leaders;
mod fetch;
mod groups;
mod init_producer_id;
mod list_offsets;
mod metadata;
mod offset_for_leader_epoch;
mod offsets;
mod partitions;
pub mod produce;
mod reassignments;
mod sasl;
mod scram;
mod transactions;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use kafka_protocol::messages::BrokerId;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;
use tracing::error;
use uuid::Uuid;

use crate::broker::{Broker, LiveBroker};
use crate::codec::Request;
use crate::session::Session;

/// A response to come; `None` for requests that get none (produce with acks=0).
pub type Reply = BoxFuture<'static, Option<ResponseKind>>;

/// A dispatched request: its reply, and whether the connection must answer it before it
/// reads the next request (as Kafka reads a connection's requests one at a time).
pub struct Dispatched {
    pub reply: Reply,
    pub hold: bool,
}

/// Routes a request from the client `session` describes.
pub fn dispatch(broker: &Arc<Broker>, request: Request, session: &Session) -> Dispatched {
    let version = request.version();
    if let RequestKind::Produce(r) = request.body {
        let (reply, hold) = produce::handle(broker, r, version, session.listener.clone());
        return Dispatched { reply, hold };
    }
    // A parked JoinGroup or SyncGroup holds back what follows: a client that retries a join
    // it gave up on then gets the group's current answer.
    let hold = matches!(request.api_key, ApiKey::JoinGroup | ApiKey::SyncGroup);
    Dispatched { reply: route(broker, request, session), hold }
}

fn route(broker: &Arc<Broker>, request: Request, session: &Session) -> Reply {
    let client_host = session.client_host.as_str();
    let version = request.version();
    let ready = |response: ResponseKind| futures::future::ready(Some(response)).boxed();
    let b = broker.clone();
    match request.body {
        RequestKind::ApiVersions(r) => {
            let features_epoch = i64::try_from(broker.image().applied_index).unwrap_or(i64::MAX);
            ready(ResponseKind::ApiVersions(api_versions::handle(&r, version, features_epoch)))
        }
        RequestKind::Metadata(r) => {
            let (broker, listener) = (broker.clone(), session.listener.clone());
            async move { Some(ResponseKind::Metadata(metadata::handle(&broker, r, version, &listener).await)) }.boxed()
        }
        RequestKind::Fetch(r) => {
            let (broker, listener) = (broker.clone(), session.listener.clone());
            async move { Some(ResponseKind::Fetch(fetch::handle(&broker, r, version, listener).await)) }.boxed()
        }
        RequestKind::ListOffsets(r) => ready(ResponseKind::ListOffsets(list_offsets::handle(broker, r, version))),
        RequestKind::OffsetForLeaderEpoch(r) => {
            ready(ResponseKind::OffsetForLeaderEpoch(offset_for_leader_epoch::handle(broker, r)))
        }
        RequestKind::CreateTopics(r) => {
            let broker = broker.clone();
            async move { Some(ResponseKind::CreateTopics(create_topics::handle(&broker, r, version).await)) }.boxed()
        }
        RequestKind::DeleteTopics(r) => {
            let broker = broker.clone();
            async move { Some(ResponseKind::DeleteTopics(delete_topics::handle(&broker, r, version).await)) }.boxed()
        }
        RequestKind::InitProducerId(r) => {
            let broker = broker.clone();
            async move { Some(ResponseKind::InitProducerId(init_producer_id::handle(&broker, r, version).await)) }
                .boxed()
        }
        RequestKind::DescribeConfigs(r) => ready(ResponseKind::DescribeConfigs(configs::describe(broker, r, version))),
        RequestKind::AlterConfigs(r) => {
            let broker = broker.clone();
            async move { Some(ResponseKind::AlterConfigs(configs::alter(&broker, r).await)) }.boxed()
        }
        RequestKind::IncrementalAlterConfigs(r) => {
            let broker = broker.clone();
            async move { Some(ResponseKind::IncrementalAlterConfigs(configs::incremental_alter(&broker, r).await)) }
                .boxed()
        }
        RequestKind::CreatePartitions(r) => {
            let broker = broker.clone();
            async move { Some(ResponseKind::CreatePartitions(partitions::create(&broker, r).await)) }.boxed()
        }
        RequestKind::DeleteRecords(r) => ready(ResponseKind::DeleteRecords(partitions::delete_records(broker, r))),
        RequestKind::DescribeCluster(r) => {
            ready(ResponseKind::DescribeCluster(cluster::describe_cluster(broker, r, &session.listener)))
        }
        RequestKind::DescribeQuorum(r) => {
            let broker = broker.clone();
            async move { Some(ResponseKind::DescribeQuorum(describe_quorum::handle(&broker, r, version).await)) }
                .boxed()
        }
        RequestKind::ElectLeaders(r) => {
            async move { Some(ResponseKind::ElectLeaders(elect_leaders::handle(&b, r, version).await)) }.boxed()
        }
        RequestKind::AlterPartitionReassignments(r) => {
            async move { Some(ResponseKind::AlterPartitionReassignments(reassignments::alter(&b, r, version).await)) }
                .boxed()
        }
        RequestKind::ListPartitionReassignments(r) => {
            ready(ResponseKind::ListPartitionReassignments(reassignments::list(broker, r)))
        }
        RequestKind::DescribeLogDirs(r) => ready(ResponseKind::DescribeLogDirs(cluster::describe_log_dirs(broker, r))),
        RequestKind::FindCoordinator(r) => {
            let listener = session.listener.clone();
            async move {
                Some(ResponseKind::FindCoordinator(groups::find_coordinator(&b, r, version, &listener).await))
            }
            .boxed()
        }
        RequestKind::JoinGroup(r) => {
            let client_id = request.header.client_id.as_deref().unwrap_or_default().to_string();
            let host = client_host.to_string();
            async move { Some(ResponseKind::JoinGroup(groups::join(&b, r, version, client_id, host).await)) }.boxed()
        }
        RequestKind::SyncGroup(r) => async move { Some(ResponseKind::SyncGroup(groups::sync(&b, r).await)) }.boxed(),
        RequestKind::Heartbeat(r) => ready(ResponseKind::Heartbeat(groups::heartbeat(broker, r))),
        RequestKind::LeaveGroup(r) => {
            async move { Some(ResponseKind::LeaveGroup(groups::leave(&b, r, version).await)) }.boxed()
        }
        RequestKind::OffsetCommit(r) => {
            async move { Some(ResponseKind::OffsetCommit(offsets::commit(&b, r, version).await)) }.boxed()
        }
        RequestKind::OffsetFetch(r) => ready(ResponseKind::OffsetFetch(offsets::fetch(broker, r, version))),
        RequestKind::AddPartitionsToTxn(r) => {
            async move { Some(ResponseKind::AddPartitionsToTxn(transactions::add_partitions(&b, r, version).await)) }
                .boxed()
        }
        RequestKind::AddOffsetsToTxn(r) => {
            async move { Some(ResponseKind::AddOffsetsToTxn(transactions::add_offsets(&b, r, version).await)) }.boxed()
        }
        RequestKind::TxnOffsetCommit(r) => {
            async move { Some(ResponseKind::TxnOffsetCommit(offsets::txn_commit(&b, r, version).await)) }.boxed()
        }
        RequestKind::EndTxn(r) => {
            async move { Some(ResponseKind::EndTxn(transactions::end(&b, r, version).await)) }.boxed()
        }
        RequestKind::DescribeTransactions(r) => {
            ready(ResponseKind::DescribeTransactions(transactions::describe(broker, r)))
        }
        RequestKind::ListTransactions(r) => {
            ready(ResponseKind::ListTransactions(transactions::list(broker, r, version)))
        }
        RequestKind::DescribeProducers(r) => {
            ready(ResponseKind::DescribeProducers(transactions::describe_producers(broker, r)))
        }
        RequestKind::WriteTxnMarkers(r) => {
            async move { Some(ResponseKind::WriteTxnMarkers(transactions::write_markers(&b, r).await)) }.boxed()
        }
        RequestKind::OffsetDelete(r) => {
            async move { Some(ResponseKind::OffsetDelete(offsets::delete(&b, r).await)) }.boxed()
        }
        RequestKind::DescribeGroups(r) => ready(ResponseKind::DescribeGroups(groups::describe(broker, r, version))),
        RequestKind::ListGroups(r) => ready(ResponseKind::ListGroups(groups::list(broker, r))),
        RequestKind::ConsumerGroupHeartbeat(r) => {
            let client_id = request.header.client_id.as_deref().unwrap_or_default().to_string();
            let host = client_host.to_string();
            async move {
                Some(ResponseKind::ConsumerGroupHeartbeat(groups::consumer_heartbeat(&b, r, client_id, host).await))
            }
            .boxed()
        }
        RequestKind::ConsumerGroupDescribe(r) => {
            ready(ResponseKind::ConsumerGroupDescribe(groups::consumer_describe(broker, r)))
        }
        RequestKind::DeleteGroups(r) => {
            async move { Some(ResponseKind::DeleteGroups(groups::delete(&b, r).await)) }.boxed()
        }
        RequestKind::DescribeUserScramCredentials(r) => {
            ready(ResponseKind::DescribeUserScramCredentials(scram::describe(broker, r)))
        }
        RequestKind::AlterUserScramCredentials(r) => {
            async move { Some(ResponseKind::AlterUserScramCredentials(scram::alter(&b, r).await)) }.boxed()
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

/// A response string.
fn text(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// An error's message as Kafka sends it: null when there is nothing to say.
fn error_message(e: crate::broker::ApiError) -> Option<StrBytes> {
    (!e.message.is_empty()).then(|| text(e.message))
}
