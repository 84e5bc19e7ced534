//! SASL on a SASL_PLAINTEXT or SASL_SSL connection, as Kafka's SaslServerAuthenticator does
//! it: before a client authenticates it may only ask ApiVersions, then SaslHandshake (v1) and
//! SaslAuthenticate; anything else, or a failed authentication, closes the connection. An
//! authenticated client may authenticate again (KIP-368) as the same principal, and must
//! before `connections.max.reauth.ms` runs out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use brook_security::sasl::{Mechanism, SaslSettings};
use brook_security::scram::{Credential, ScramMechanism, ScramServer};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind, SaslAuthenticateResponse, SaslHandshakeResponse};
use kafka_protocol::protocol::StrBytes;

use crate::codec::Request;

/// What the connection does with a request.
pub(crate) enum Gate {
    /// Serve it as usual.
    Serve,
    /// Send this answer instead; then close the connection if `close`.
    Answer { response: Box<ResponseKind>, close: bool },
    /// Close the connection without an answer, for this reason.
    Close(String),
}

/// One connection's SASL state.
pub(crate) struct SaslState {
    settings: Arc<SaslSettings>,
    /// The mechanism a handshake chose, awaiting SaslAuthenticate.
    chosen: Option<Mechanism>,
    /// A SCRAM exchange between its first and final messages.
    scram: Option<ScramServer>,
    /// Who authenticated, and until when the authentication holds.
    authenticated: Option<(String, Option<Instant>)>,
}

impl SaslState {
    pub(crate) fn new(settings: Arc<SaslSettings>) -> SaslState {
        SaslState { settings, chosen: None, scram: None, authenticated: None }
    }

    /// Decides what happens to `request`; a successful authentication sets `principal`.
    /// `credential` looks up a SCRAM user's credential in the metadata.
    pub(crate) fn gate(
        &mut self,
        request: &Request,
        principal: &mut String,
        credential: impl FnOnce(&str, ScramMechanism) -> Option<Credential>,
    ) -> Gate {
        match &request.body {
            RequestKind::ApiVersions(_) => Gate::Serve,
            RequestKind::SaslHandshake(handshake) => {
                if request.version() < 1 {
                    // v0 is followed by raw SASL tokens outside Kafka's framing.
                    return Gate::Close("SaslHandshake v0 is not supported; clients use v1".into());
                }
                let offered: Vec<StrBytes> =
                    self.settings.mechanism_names().into_iter().map(StrBytes::from_static_str).collect();
                let response = SaslHandshakeResponse::default().with_mechanisms(offered);
                match Mechanism::parse(&handshake.mechanism).filter(|m| self.settings.mechanisms.contains(m)) {
                    Some(m) => {
                        self.chosen = Some(m);
                        self.scram = None;
                        Gate::Answer { response: Box::new(ResponseKind::SaslHandshake(response)), close: false }
                    }
                    None => {
                        let response = response.with_error_code(ResponseError::UnsupportedSaslMechanism.code());
                        Gate::Answer { response: Box::new(ResponseKind::SaslHandshake(response)), close: true }
                    }
                }
            }
            RequestKind::SaslAuthenticate(authenticate) => {
                let Some(mechanism) = self.chosen else {
                    return refuse(ResponseError::IllegalSaslState, "SaslAuthenticate without a SaslHandshake first");
                };
                let (reply, user) = match mechanism {
                    Mechanism::Plain => match self.settings.plain.authenticate(&authenticate.auth_bytes) {
                        Ok(user) => (Vec::new(), user),
                        Err(message) => return refuse(ResponseError::SaslAuthenticationFailed, message),
                    },
                    Mechanism::Scram(m) => {
                        let exchange = self.scram.get_or_insert_with(|| ScramServer::new(m));
                        match exchange.step(&authenticate.auth_bytes, |user| credential(user, m)) {
                            Ok((reply, None)) => {
                                // The server's first message: the exchange goes on.
                                let response = SaslAuthenticateResponse::default().with_auth_bytes(reply.into());
                                return Gate::Answer {
                                    response: Box::new(ResponseKind::SaslAuthenticate(response)),
                                    close: false,
                                };
                            }
                            Ok((reply, Some(user))) => (reply, user),
                            Err(message) => return refuse(ResponseError::SaslAuthenticationFailed, &message),
                        }
                    }
                };
                self.chosen = None;
                self.scram = None;
                if let Some((before, _)) = &self.authenticated
                    && *before != user
                {
                    // KIP-368: re-authentication may not change who the connection is.
                    return refuse(
                        ResponseError::SaslAuthenticationFailed,
                        "Cannot change principals during re-authentication",
                    );
                }
                let lifetime = Duration::from_millis(self.settings.max_reauth_ms);
                let expires = (!lifetime.is_zero()).then(|| Instant::now() + lifetime);
                self.authenticated = Some((user.clone(), expires));
                *principal = user;
                let response = SaslAuthenticateResponse::default()
                    .with_auth_bytes(reply.into())
                    .with_session_lifetime_ms(i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX));
                Gate::Answer { response: Box::new(ResponseKind::SaslAuthenticate(response)), close: false }
            }
            _ => match &self.authenticated {
                None => Gate::Close(format!("{:?} request before SASL authentication", request.api_key)),
                Some((_, Some(expires))) if Instant::now() >= *expires && !is_sasl(request.api_key) => {
                    Gate::Close("the SASL session expired (connections.max.reauth.ms) without re-authentication".into())
                }
                Some(_) => Gate::Serve,
            },
        }
    }
}

fn is_sasl(key: ApiKey) -> bool {
    matches!(key, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate)
}

/// A SaslAuthenticate refusal, after which the connection closes (as Kafka closes it).
fn refuse(code: ResponseError, message: &str) -> Gate {
    let response = SaslAuthenticateResponse::default()
        .with_error_code(code.code())
        .with_error_message(Some(StrBytes::from_string(message.to_string())));
    Gate::Answer { response: Box::new(ResponseKind::SaslAuthenticate(response)), close: true }
}
