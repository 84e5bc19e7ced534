//! GetTelemetrySubscriptions and PushTelemetry (KIP-714): a client learns which of its metrics
//! the operator's subscriptions ask for and how often, then pushes them here; `/metrics`
//! exports them. The decisions are `crate::telemetry`'s; any client may ask, as in Kafka.

use std::sync::Arc;

use brook_telemetry::ClientInfo;
use brook_telemetry::clients::{ACCEPTED_COMPRESSIONS, Push};
use kafka_protocol::messages::{
    GetTelemetrySubscriptionsRequest, GetTelemetrySubscriptionsResponse, PushTelemetryRequest, PushTelemetryResponse,
};

use super::text;
use crate::broker::Broker;
use crate::session::Session;

/// What the connection tells of the client, for subscriptions' `match`.
fn client_info(session: &Session, client_id: &str) -> ClientInfo {
    let (software_name, software_version) = session.software.get().cloned().unwrap_or_default();
    ClientInfo {
        instance_id: String::new(),
        client_id: client_id.to_string(),
        software_name,
        software_version,
        source_address: session.client_host.trim_start_matches('/').to_string(),
        source_port: session.client_port.to_string(),
    }
}

pub(super) fn get_subscriptions(
    broker: &Arc<Broker>,
    request: GetTelemetrySubscriptionsRequest,
    session: &Session,
    client_id: &str,
) -> GetTelemetrySubscriptionsResponse {
    let configs = broker.image().client_metrics_configs.clone();
    let client = client_info(session, client_id);
    let now = broker.clock.now_ms();
    match broker.telemetry.get(request.client_instance_id, &client, &configs, now) {
        Ok(subscribed) => GetTelemetrySubscriptionsResponse::default()
            .with_client_instance_id(subscribed.instance_id)
            .with_subscription_id(subscribed.subscription_id)
            .with_accepted_compression_types(ACCEPTED_COMPRESSIONS.to_vec())
            .with_push_interval_ms(subscribed.push_interval_ms)
            .with_telemetry_max_bytes(broker.config.telemetry_max_bytes)
            .with_delta_temporality(true)
            .with_requested_metrics(subscribed.metrics.into_iter().map(text).collect()),
        Err((code, _)) => GetTelemetrySubscriptionsResponse::default().with_error_code(code.code()),
    }
}

pub(super) fn push(
    broker: &Arc<Broker>,
    request: PushTelemetryRequest,
    session: &Session,
    client_id: &str,
) -> PushTelemetryResponse {
    let configs = broker.image().client_metrics_configs.clone();
    let client = client_info(session, client_id);
    let push = Push {
        subscription_id: request.subscription_id,
        terminating: request.terminating,
        compression: request.compression_type,
        bytes: request.metrics.len(),
    };
    let now = broker.clock.now_ms();
    match broker.telemetry.push(request.client_instance_id, push, &request.metrics, &client, &configs, now) {
        Ok(()) => PushTelemetryResponse::default(),
        Err((code, _)) => PushTelemetryResponse::default().with_error_code(code.code()),
    }
}
