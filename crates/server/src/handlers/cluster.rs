//! DescribeCluster, and UnregisterBroker and UnregisterController (ALTER on the cluster).

use std::sync::Arc;

use brook_security::acl::{CLUSTER_NAME, Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, UnregisterBrokerRequest, UnregisterBrokerResponse,
    UnregisterControllerRequest, UnregisterControllerResponse,
};

use super::text;
use crate::authorization::Access;
use crate::broker::Broker;

pub(super) fn describe_cluster(
    broker: &Arc<Broker>,
    request: DescribeClusterRequest,
    listener: &str,
    access: &Access,
) -> DescribeClusterResponse {
    // Kafka reports no operations to a client that may not describe the cluster.
    let operations = match request.include_cluster_authorized_operations {
        false => i32::MIN,
        true if !access.sees(broker, Operation::Describe, ResourceType::Cluster, CLUSTER_NAME) => 0,
        true => access.operations(broker, ResourceType::Cluster, CLUSTER_NAME),
    };
    let live = broker.live_brokers_on(listener);
    let controller = broker.controller_id_for_clients(&live);
    let brokers = live
        .into_iter()
        .map(|b| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(b.node_id))
                .with_host(text(b.host))
                .with_port(i32::from(b.port))
                .with_rack(b.rack.map(text))
        })
        .collect();
    DescribeClusterResponse::default()
        .with_endpoint_type(request.endpoint_type)
        .with_cluster_id(text(broker.cluster_id()))
        .with_controller_id(BrokerId(controller))
        .with_brokers(brokers)
        .with_cluster_authorized_operations(operations)
}

/// UnregisterBroker: the controller removes the registration (BROKER_ID_NOT_REGISTERED for an
/// unknown id); a broker still running registers again at its next heartbeat.
pub(super) async fn unregister_broker(
    broker: &Arc<Broker>,
    request: UnregisterBrokerRequest,
    access: &Access,
) -> UnregisterBrokerResponse {
    if !access.allows_cluster(broker, Operation::Alter) {
        return UnregisterBrokerResponse::default().with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    match broker.unregister_broker(request.broker_id.0).await {
        Ok(()) => UnregisterBrokerResponse::default(),
        Err(e) => {
            UnregisterBrokerResponse::default().with_error_code(e.code.code()).with_error_message(Some(text(e.message)))
        }
    }
}

/// UnregisterController: the active controller removes a registration
/// (CONTROLLER_ID_NOT_REGISTERED for an unknown id, INVALID_REQUEST for itself); a controller
/// still running registers again.
pub(super) async fn unregister_controller(
    broker: &Arc<Broker>,
    request: UnregisterControllerRequest,
    access: &Access,
) -> UnregisterControllerResponse {
    if !access.allows_cluster(broker, Operation::Alter) {
        return UnregisterControllerResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    match broker.unregister_controller(request.controller_id).await {
        Ok(()) => UnregisterControllerResponse::default(),
        Err(e) => UnregisterControllerResponse::default()
            .with_error_code(e.code.code())
            .with_error_message(Some(text(e.message))),
    }
}
