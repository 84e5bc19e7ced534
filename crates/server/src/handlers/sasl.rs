//! SaslHandshake and SaslAuthenticate on a listener without SASL: refused with
//! ILLEGAL_SASL_STATE and no mechanisms, as Kafka answers on a PLAINTEXT listener. A client
//! configured for SASL then fails at once with an authentication error, where an API missing
//! from ApiVersions would leave the Java client reconnecting until its timeout.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};

use super::text;

pub(super) fn handshake(_request: SaslHandshakeRequest) -> SaslHandshakeResponse {
    SaslHandshakeResponse::default().with_error_code(ResponseError::IllegalSaslState.code()).with_mechanisms(vec![])
}

pub(super) fn authenticate(_request: SaslAuthenticateRequest) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(ResponseError::IllegalSaslState.code())
        .with_error_message(Some(text("SaslAuthenticate request received after successful authentication")))
}
