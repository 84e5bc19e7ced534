//! CreateDelegationToken, RenewDelegationToken, ExpireDelegationToken and
//! DescribeDelegationToken (KIP-48), with Kafka 4.4's checks in its order: tokens are managed
//! only over an authenticated connection that did not itself log in with a token
//! (DELEGATION_TOKEN_REQUEST_NOT_ALLOWED), only with `delegation.token.secret.key` set
//! (DELEGATION_TOKEN_AUTH_DISABLED); the controller decides renewals and expiries on the
//! token the broker found by its HMAC. Refusals the broker makes carry -1 times, the
//! controller's 0, as Kafka's do.

use brook_controller::requests::{ControllerReply, ControllerRequest, TokenChange};
use brook_security::acl::{Operation, ResourceType};
use brook_security::token::{self, Principal, TokenInfo, USER_TYPE};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_delegation_token_response::{
    DescribedDelegationToken, DescribedDelegationTokenRenewer,
};
use kafka_protocol::messages::{
    CreateDelegationTokenRequest, CreateDelegationTokenResponse, DescribeDelegationTokenRequest,
    DescribeDelegationTokenResponse, ExpireDelegationTokenRequest, ExpireDelegationTokenResponse,
    RenewDelegationTokenRequest, RenewDelegationTokenResponse,
};

use super::text;
use crate::authorization::Access;
use crate::broker::Broker;
use crate::config::SecurityProtocol;
use crate::session::Session;

/// Kafka's time in a refusal the broker makes itself.
const ERROR_TIMESTAMP: i64 = -1;

/// Who asks, and whether they may manage tokens at all (Kafka's `allowTokenRequests`).
pub(super) struct Asker {
    principal: Principal,
    allowed: bool,
}

impl Asker {
    pub(super) fn of(session: &Session) -> Asker {
        let anonymous = session.principal == brook_security::principal::ANONYMOUS;
        let allowed = !session.token_authenticated
            && session.protocol != SecurityProtocol::Plaintext
            && !(session.protocol == SecurityProtocol::Ssl && anonymous);
        Asker { principal: Principal::user(&session.principal), allowed }
    }
}

pub(super) async fn create(
    broker: &Broker,
    request: CreateDelegationTokenRequest,
    asker: Asker,
    access: Access,
) -> CreateDelegationTokenResponse {
    let owner = match request.owner_principal_name.as_deref().filter(|n| !n.is_empty()) {
        None => asker.principal.clone(),
        Some(name) => Principal {
            kind: request.owner_principal_type.as_deref().unwrap_or(USER_TYPE).to_string(),
            name: name.to_string(),
        },
    };
    let response = CreateDelegationTokenResponse::default()
        .with_principal_type(text(owner.kind.clone()))
        .with_principal_name(text(owner.name.clone()))
        .with_token_requester_principal_type(text(asker.principal.kind.clone()))
        .with_token_requester_principal_name(text(asker.principal.name.clone()));
    let refused = |code: ResponseError| {
        response
            .clone()
            .with_error_code(code.code())
            .with_issue_timestamp_ms(ERROR_TIMESTAMP)
            .with_expiry_timestamp_ms(ERROR_TIMESTAMP)
            .with_max_timestamp_ms(ERROR_TIMESTAMP)
    };
    if !asker.allowed {
        return refused(ResponseError::DelegationTokenRequestNotAllowed);
    }
    if owner != asker.principal
        && !access.allows(broker, Operation::CreateTokens, ResourceType::User, &owner.to_string())
    {
        return refused(ResponseError::DelegationTokenAuthorizationFailed);
    }
    let renewers: Vec<Principal> = request
        .renewers
        .iter()
        .map(|r| Principal { kind: r.principal_type.to_string(), name: r.principal_name.to_string() })
        .collect();
    if renewers.iter().any(|r| r.kind != USER_TYPE) {
        return refused(ResponseError::InvalidPrincipalType);
    }
    let Some(secret) = &broker.config.delegation_token_key else {
        return response.with_error_code(ResponseError::DelegationTokenAuthDisabled.code());
    };
    let ask = ControllerRequest::CreateDelegationToken {
        owner,
        requester: asker.principal,
        renewers,
        max_lifetime_ms: request.max_lifetime_ms,
    };
    match broker.ask_controller(ask).await {
        Ok(ControllerReply::Token(t)) => response
            .with_issue_timestamp_ms(t.issue_ms)
            .with_expiry_timestamp_ms(t.expiry_ms)
            .with_max_timestamp_ms(t.max_ms)
            .with_hmac(token::hmac(&secret.0, &t.token_id).into())
            .with_token_id(text(t.token_id)),
        Ok(_) => response.with_error_code(ResponseError::UnknownServerError.code()),
        Err(e) => response.with_error_code(e.code.code()),
    }
}

/// The answer at `version`: the requester came in v3.
pub(super) fn create_at(response: CreateDelegationTokenResponse, version: i16) -> CreateDelegationTokenResponse {
    match version {
        ..3 => response
            .with_token_requester_principal_type(text(String::new()))
            .with_token_requester_principal_name(text(String::new())),
        _ => response,
    }
}

/// The answer at `version`: tokens' requesters came in v3.
pub(super) fn describe_at(
    mut response: DescribeDelegationTokenResponse,
    version: i16,
) -> DescribeDelegationTokenResponse {
    if version < 3 {
        for t in &mut response.tokens {
            t.token_requester_principal_type = text(String::new());
            t.token_requester_principal_name = text(String::new());
        }
    }
    response
}

pub(super) async fn renew(
    broker: &Broker,
    request: RenewDelegationTokenRequest,
    asker: Asker,
) -> RenewDelegationTokenResponse {
    let change = TokenChange::Renew { period_ms: request.renew_period_ms };
    let (code, expiry) = change_token(broker, &request.hmac, asker, change).await;
    RenewDelegationTokenResponse::default().with_error_code(code).with_expiry_timestamp_ms(expiry)
}

pub(super) async fn expire(
    broker: &Broker,
    request: ExpireDelegationTokenRequest,
    asker: Asker,
) -> ExpireDelegationTokenResponse {
    let change = TokenChange::Expire { period_ms: request.expiry_time_period_ms };
    let (code, expiry) = change_token(broker, &request.hmac, asker, change).await;
    ExpireDelegationTokenResponse::default().with_error_code(code).with_expiry_timestamp_ms(expiry)
}

/// A renewal or expiry: the error code and the token's expiry time.
async fn change_token(broker: &Broker, hmac: &[u8], asker: Asker, change: TokenChange) -> (i16, i64) {
    if !asker.allowed {
        return (ResponseError::DelegationTokenRequestNotAllowed.code(), ERROR_TIMESTAMP);
    }
    let Some(secret) = &broker.config.delegation_token_key else {
        return (ResponseError::DelegationTokenAuthDisabled.code(), 0);
    };
    let found = broker.image().delegation_tokens.keys().find(|id| token::hmac(&secret.0, id) == hmac).cloned();
    let Some(token_id) = found else {
        return (ResponseError::DelegationTokenNotFound.code(), 0);
    };
    match broker
        .ask_controller(ControllerRequest::ChangeDelegationToken { token_id, by: asker.principal, change })
        .await
    {
        Ok(ControllerReply::TokenExpiry(at)) => (0, at),
        Ok(_) => (ResponseError::UnknownServerError.code(), 0),
        Err(e) => (e.code.code(), 0),
    }
}

pub(super) fn describe(
    broker: &Broker,
    request: DescribeDelegationTokenRequest,
    asker: Asker,
    access: &Access,
) -> DescribeDelegationTokenResponse {
    let response = DescribeDelegationTokenResponse::default();
    if !asker.allowed {
        return response.with_error_code(ResponseError::DelegationTokenRequestNotAllowed.code());
    }
    let Some(secret) = &broker.config.delegation_token_key else {
        return response.with_error_code(ResponseError::DelegationTokenAuthDisabled.code());
    };
    // None asks for every token the asker may see; an empty list for none.
    let owners: Option<Vec<Principal>> = request.owners.map(|owners| {
        owners
            .iter()
            .map(|o| Principal { kind: o.principal_type.to_string(), name: o.principal_name.to_string() })
            .collect()
    });
    let image = broker.image();
    let visible = |t: &&TokenInfo| {
        let asked = owners.as_ref().is_none_or(|owners| owners.iter().any(|o| t.owner_or_renewer(o)));
        asked
            && (t.owner_or_renewer(&asker.principal)
                || access.sees_in(&image.acls, Operation::Describe, ResourceType::DelegationToken, &t.token_id)
                || access.sees_in(&image.acls, Operation::DescribeTokens, ResourceType::User, &t.owner.to_string()))
    };
    let tokens = image
        .delegation_tokens
        .values()
        .filter(visible)
        .map(|t| {
            let renewers = t.renewers.iter().map(|r| {
                DescribedDelegationTokenRenewer::default()
                    .with_principal_type(text(r.kind.clone()))
                    .with_principal_name(text(r.name.clone()))
            });
            DescribedDelegationToken::default()
                .with_principal_type(text(t.owner.kind.clone()))
                .with_principal_name(text(t.owner.name.clone()))
                .with_token_requester_principal_type(text(t.requester.kind.clone()))
                .with_token_requester_principal_name(text(t.requester.name.clone()))
                .with_issue_timestamp(t.issue_ms)
                .with_expiry_timestamp(t.expiry_ms)
                .with_max_timestamp(t.max_ms)
                .with_token_id(text(t.token_id.clone()))
                .with_hmac(token::hmac(&secret.0, &t.token_id).into())
                .with_renewers(renewers.collect())
        })
        .collect();
    response.with_tokens(tokens)
}
