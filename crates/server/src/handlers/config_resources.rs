//! ListConfigResources (KIP-1142; v0 was KIP-714's ListClientMetricsResources): the resources
//! whose configs a client can address, as Kafka 4.4 lists them. It needs DESCRIBE_CONFIGS on
//! the cluster; v1 takes a filter of resource types (empty: all), and a type outside Kafka's
//! five fails the whole request with UNSUPPORTED_VERSION. Groups are listed when they have
//! configs of their own (as Kafka lists them); Brook keeps no client metrics subscriptions.

use std::sync::Arc;

use brook_security::acl::Operation;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_config_resources_response::ConfigResource;
use kafka_protocol::messages::{ListConfigResourcesRequest, ListConfigResourcesResponse};

use super::text;
use crate::authorization::Access;
use crate::broker::Broker;

/// Kafka's `ConfigResource.Type`, in the order Kafka lists them.
const GROUP: i8 = 32;
const CLIENT_METRICS: i8 = 16;
const BROKER_LOGGER: i8 = 8;
const BROKER: i8 = 4;
const TOPIC: i8 = 2;
const LISTED: [i8; 5] = [GROUP, CLIENT_METRICS, BROKER_LOGGER, BROKER, TOPIC];

pub(super) fn handle(
    broker: &Arc<Broker>,
    request: ListConfigResourcesRequest,
    version: i16,
    listener: &str,
    access: &Access,
) -> ListConfigResourcesResponse {
    let refused = |code: ResponseError| ListConfigResourcesResponse::default().with_error_code(code.code());
    if !access.allows_cluster(broker, Operation::DescribeConfigs) {
        return refused(ResponseError::ClusterAuthorizationFailed);
    }
    if version >= 1 && request.resource_types.iter().any(|t| !LISTED.contains(t)) {
        return refused(ResponseError::UnsupportedVersion);
    }
    let wanted = |kind: i8| match version {
        0 => kind == CLIENT_METRICS,
        _ => request.resource_types.is_empty() || request.resource_types.contains(&kind),
    };
    let image = broker.image();
    // The brokers reachable on the listener the request came through, as Kafka names them.
    let mut brokers: Vec<i32> =
        image.brokers.values().filter(|b| b.endpoints.iter().any(|e| e.name == listener)).map(|b| b.node_id).collect();
    brokers.sort_unstable();
    let mut topics: Vec<&str> = image.topics().map(|t| t.name.as_str()).collect();
    topics.sort_unstable();
    let mut resources = Vec::new();
    for kind in LISTED.into_iter().filter(|k| wanted(*k)) {
        let names: Vec<String> = match kind {
            BROKER_LOGGER | BROKER => brokers.iter().map(i32::to_string).collect(),
            TOPIC => topics.iter().map(|t| t.to_string()).collect(),
            GROUP => image.group_configs.keys().cloned().collect(),
            CLIENT_METRICS => image.client_metrics_configs.keys().cloned().collect(),
            _ => Vec::new(),
        };
        resources.extend(
            names
                .into_iter()
                .map(|name| ConfigResource::default().with_resource_name(text(name)).with_resource_type(kind)),
        );
    }
    ListConfigResourcesResponse::default().with_config_resources(resources)
}
