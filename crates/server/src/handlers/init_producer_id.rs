//! InitProducerId for idempotent producers: a fresh producer id at epoch 0. Transactions are
//! not built yet, so a transactional id is refused with a message that says so.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::broker::Broker;

pub(super) async fn handle(broker: &Arc<Broker>, request: InitProducerIdRequest) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default().with_producer_id(ProducerId(-1)).with_producer_epoch(-1);
    match request.transactional_id.as_ref().map(|id| id.0.is_empty()) {
        None => {}
        // Kafka's answer to an empty transactional id.
        Some(true) => return response.with_error_code(ResponseError::InvalidRequest.code()),
        Some(false) => return response.with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code()),
    }
    match broker.next_producer_id().await {
        Ok(id) => response.with_producer_id(ProducerId(id)).with_producer_epoch(0),
        Err(e) => response.with_error_code(e.code.code()),
    }
}
