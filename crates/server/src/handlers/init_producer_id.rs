//! InitProducerId: a fresh producer id at epoch 0 for an idempotent producer; for a
//! transactional id, the transaction coordinator's answer (its producer id, a bumped epoch).
//! With an authorizer, a transactional id needs WRITE on it; an idempotent producer needs
//! IDEMPOTENT_WRITE on the cluster or WRITE on some topic (KIP-679), as Kafka asks.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use brook_security::acl::{CLUSTER_NAME, Operation, ResourceType};

use super::transactions::fenced_as;
use crate::authorization::Access;
use crate::broker::Broker;

pub(super) async fn handle(
    broker: &Arc<Broker>,
    request: InitProducerIdRequest,
    version: i16,
    access: Access,
) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default().with_producer_id(ProducerId(-1)).with_producer_epoch(-1);
    let answer = match request.transactional_id.as_ref().map(|id| id.as_str()) {
        None if !(access.sees(broker, Operation::IdempotentWrite, ResourceType::Cluster, CLUSTER_NAME)
            || access.allows_any(broker, Operation::Write, ResourceType::Topic)) =>
        {
            Err(ResponseError::ClusterAuthorizationFailed)
        }
        Some(id) if !id.is_empty() && !access.allows(broker, Operation::Write, ResourceType::TransactionalId, id) => {
            Err(ResponseError::TransactionalIdAuthorizationFailed)
        }
        None => broker.next_producer_id().await.map(|id| (id, 0)).map_err(|e| e.code),
        // Kafka's answer to an empty transactional id.
        Some("") => Err(ResponseError::InvalidRequest),
        Some(id) => {
            // A producer recovering from an error names its id and epoch (KIP-360, v3+).
            let expected = (request.producer_id.0 >= 0).then_some((request.producer_id.0, request.producer_epoch));
            broker.transactions.init_producer_id(broker, id, request.transaction_timeout_ms, expected).await
        }
    };
    match answer {
        Ok((id, epoch)) => response.with_producer_id(ProducerId(id)).with_producer_epoch(epoch),
        Err(code) => response.with_error_code(fenced_as(code, version, 4).code()),
    }
}
