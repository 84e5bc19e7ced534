//! AddRaftVoter and RemoveRaftVoter (KIP-853: `kafka-metadata-quorum add-controller` and
//! `remove-controller`). Brook's voters are static, as a Kafka quorum set by
//! `controller.quorum.voters` is (kraft.version 0): a request is checked in Kafka 4.4's order,
//! and a valid one gets Kafka's answer for such a quorum, UNSUPPORTED_VERSION.

use std::sync::Arc;

use brook_security::acl::Operation;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_raft_voter_request::Listener;
use kafka_protocol::messages::{
    AddRaftVoterRequest, AddRaftVoterResponse, RemoveRaftVoterRequest, RemoveRaftVoterResponse,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::text;
use crate::authorization::Access;
use crate::broker::Broker;

pub(super) fn add(broker: &Arc<Broker>, request: AddRaftVoterRequest, access: &Access) -> AddRaftVoterResponse {
    let (code, message) = refuse_add(broker, &request, access);
    AddRaftVoterResponse::default().with_error_code(code.code()).with_error_message(message.map(text))
}

pub(super) fn remove(
    broker: &Arc<Broker>,
    request: RemoveRaftVoterRequest,
    access: &Access,
) -> RemoveRaftVoterResponse {
    let (code, message) = refuse_change(
        "Remove",
        broker,
        access,
        request.cluster_id.as_ref(),
        request.voter_id,
        request.voter_directory_id,
    )
    .unwrap_or_else(|| unsupported("removing"));
    RemoveRaftVoterResponse::default().with_error_code(code.code()).with_error_message(message.map(text))
}

fn refuse_add(broker: &Broker, request: &AddRaftVoterRequest, access: &Access) -> (ResponseError, Option<String>) {
    if let Some(refusal) =
        refuse_change("Add", broker, access, request.cluster_id.as_ref(), request.voter_id, request.voter_directory_id)
    {
        return refusal;
    }
    let default = &broker.config.controller_listener_name;
    if !request.listeners.iter().any(|l| &*l.name == default.as_str()) {
        let message = format!(
            "Add voter request didn't include the endpoint ({}) for the default listener ListenerName({default})",
            endpoints(&request.listeners)
        );
        return (ResponseError::InvalidRequest, Some(message));
    }
    unsupported("adding")
}

/// The checks both changes (`request`: "Add" or "Remove") share, in Kafka's order:
/// authorization, the cluster id (none is fine), a valid voter (an id and a directory id);
/// `None` when all pass.
fn refuse_change(
    request: &str,
    broker: &Broker,
    access: &Access,
    cluster_id: Option<&StrBytes>,
    voter_id: i32,
    directory_id: Uuid,
) -> Option<(ResponseError, Option<String>)> {
    if !access.allows_cluster(broker, Operation::Alter) {
        return Some((ResponseError::ClusterAuthorizationFailed, None));
    }
    let ours = broker.cluster_id();
    if let Some(theirs) = cluster_id.filter(|theirs| theirs.as_str() != ours) {
        let message = format!("The given id \"{theirs}\" doesn't match the cluster id \"{ours}\"");
        return Some((ResponseError::InconsistentClusterId, Some(message)));
    }
    if voter_id < 0 || directory_id.is_nil() {
        return Some((
            ResponseError::InvalidRequest,
            Some(format!("{request} voter request didn't include a valid voter")),
        ));
    }
    None
}

fn unsupported(change: &str) -> (ResponseError, Option<String>) {
    let message = format!("Cluster doesn't support {change} voter because the kraft.version feature is 0");
    (ResponseError::UnsupportedVersion, Some(message))
}

/// The listeners as Kafka prints its `Endpoints` (unresolved addresses).
fn endpoints(listeners: &[Listener]) -> String {
    let each: Vec<String> =
        listeners.iter().map(|l| format!("ListenerName({})={}/<unresolved>:{}", l.name, l.host, l.port)).collect();
    format!("Endpoints(endpoints={{{}}})", each.join(", "))
}
