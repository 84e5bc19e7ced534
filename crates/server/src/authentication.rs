//! SASL on a SASL_PLAINTEXT or SASL_SSL connection, as Kafka's SaslServerAuthenticator does
//! it: before a client authenticates it may only ask ApiVersions, then SaslHandshake (v1) and
//! SaslAuthenticate; anything else, or a failed authentication, closes the connection. An
//! authenticated client may authenticate again (KIP-368) as the same principal, and must
//! before `connections.max.reauth.ms` runs out. A SCRAM login may use a delegation token
//! (`tokenauth=true`): the connection is then its owner's, until the token expires.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brook_security::sasl::{Mechanism, SaslSettings};
use brook_security::scram::{Credential, ScramMechanism, ScramServer};
use brook_security::token::now_ms;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind, SaslAuthenticateResponse, SaslHandshakeResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::codec::Request;
use crate::session::Session;

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
    /// In a token login between its SCRAM messages: the token's owner and expiry time (ms).
    token: Option<(String, i64)>,
    /// Who authenticated, and until when the authentication holds.
    authenticated: Option<(String, Option<Instant>)>,
}

/// Where SCRAM logins find their credentials.
pub(crate) trait Credentials {
    /// A user's credential for the mechanism.
    fn user(&self, user: &str, mechanism: ScramMechanism) -> Option<Credential>;
    /// A delegation token's credential, owner and expiry time (ms), while it has not expired.
    fn token(&self, token_id: &str, mechanism: ScramMechanism) -> Option<(Credential, String, i64)>;
}

impl SaslState {
    pub(crate) fn new(settings: Arc<SaslSettings>) -> SaslState {
        SaslState { settings, chosen: None, scram: None, token: None, authenticated: None }
    }

    /// Decides what happens to `request`; a successful authentication sets the session's
    /// principal (and whether a delegation token proved it).
    pub(crate) fn gate(&mut self, request: &Request, session: &mut Session, credentials: &impl Credentials) -> Gate {
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
                let (reply, user, token_expiry) = match mechanism {
                    Mechanism::Plain => match self.settings.plain.authenticate(&authenticate.auth_bytes) {
                        Ok(user) => (Vec::new(), user, None),
                        Err(message) => return refuse(ResponseError::SaslAuthenticationFailed, message),
                    },
                    Mechanism::Scram(m) => {
                        let exchange = self.scram.get_or_insert_with(|| ScramServer::new(m));
                        let token = &mut self.token;
                        let lookup = |user: &str, by_token: bool| match by_token {
                            false => credentials.user(user, m),
                            true => {
                                let (credential, owner, expiry_ms) = credentials.token(user, m)?;
                                *token = Some((owner, expiry_ms));
                                Some(credential)
                            }
                        };
                        match exchange.step(&authenticate.auth_bytes, lookup) {
                            Ok((reply, None)) => {
                                // The server's first message: the exchange goes on.
                                let response = SaslAuthenticateResponse::default().with_auth_bytes(reply.into());
                                return Gate::Answer {
                                    response: Box::new(ResponseKind::SaslAuthenticate(response)),
                                    close: false,
                                };
                            }
                            Ok((reply, Some(user))) => match self.token.take() {
                                Some((owner, expiry_ms)) => (reply, owner, Some(expiry_ms)),
                                None => (reply, user, None),
                            },
                            Err(message) => return refuse(ResponseError::SaslAuthenticationFailed, &message),
                        }
                    }
                };
                let by_token = self.scram.as_ref().is_some_and(ScramServer::token_auth);
                self.chosen = None;
                self.scram = None;
                self.token = None;
                if let Some((before, _)) = &self.authenticated
                    && *before != user
                {
                    // KIP-368: re-authentication may not change who the connection is.
                    return refuse(
                        ResponseError::SaslAuthenticationFailed,
                        "Cannot change principals during re-authentication",
                    );
                }
                // A token's session ends with the token (KIP-368), sooner if re-authentication
                // is due sooner.
                let max_reauth = (self.settings.max_reauth_ms > 0).then_some(self.settings.max_reauth_ms);
                let token_left = token_expiry.map(|at| u64::try_from(at - now_ms()).unwrap_or(0));
                let lifetime = match (max_reauth, token_left) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let expires = lifetime.map(|ms| Instant::now() + Duration::from_millis(ms));
                self.authenticated = Some((user.clone(), expires));
                session.principal = user;
                session.token_authenticated = by_token;
                let response = SaslAuthenticateResponse::default()
                    .with_auth_bytes(reply.into())
                    .with_session_lifetime_ms(lifetime.map_or(0, |ms| i64::try_from(ms).unwrap_or(i64::MAX)));
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

impl Credentials for Broker {
    fn user(&self, user: &str, mechanism: ScramMechanism) -> Option<Credential> {
        self.image().scram_credentials.get(user)?.get(&mechanism.wire_type()).cloned()
    }

    fn token(&self, token_id: &str, mechanism: ScramMechanism) -> Option<(Credential, String, i64)> {
        let secret = self.config.delegation_token_key.as_ref()?;
        let token = self.image().delegation_tokens.get(token_id).filter(|t| !t.expired(now_ms()))?.clone();
        let credential = brook_security::token::credential(&secret.0, token_id, mechanism);
        Some((credential, token.owner.name, token.expiry_ms))
    }
}

/// Whether `password` is `user`'s by the broker's SASL users: a PLAIN user of any SASL
/// listener, or a SCRAM credential in the metadata (either mechanism), for logins that carry
/// the password itself (the web console's). A SCRAM check costs a PBKDF2: call it off the
/// async threads.
pub fn password_matches(broker: &Broker, user: &str, password: &str) -> bool {
    let mut plain = broker.config.listeners.iter().filter_map(|l| l.sasl.as_ref());
    if plain.any(|sasl| sasl.plain.check(user, password.as_bytes())) {
        return true;
    }
    let credentials = broker.image().scram_credentials.get(user).cloned().unwrap_or_default();
    credentials
        .iter()
        .any(|(wire, credential)| ScramMechanism::from_type(*wire).is_some_and(|m| credential.matches(m, password)))
}

/// Whether `user` still has a password the broker would accept (a console session ends when
/// its user is removed).
pub fn user_exists(broker: &Broker, user: &str) -> bool {
    broker.config.listeners.iter().filter_map(|l| l.sasl.as_ref()).any(|sasl| sasl.plain.contains(user))
        || broker.image().scram_credentials.contains_key(user)
}

/// How long failures from one source are remembered.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Kafka's `connection.failed.authentication.delay.ms`: a failed connection lingers this long
/// before it closes, so the client reads the refusal instead of a reset.
const FAILURE_DELAY: Duration = Duration::from_millis(100);
/// The longest a source that keeps failing waits per attempt.
const MAX_FAILURE_DELAY: Duration = Duration::from_secs(5);
/// Sources remembered at most; past it, those idle for a whole window are forgotten.
const MAX_SOURCES: usize = 10_000;

/// Failed authentications by source address, on one listener: each failure closes its
/// connection after a delay that doubles after the third failure in a minute (up to 5 s), so
/// guessing passwords from one address gets slow; and an audit line at the first failure and
/// at every power of two, so a flood does not flood the log.
#[derive(Default)]
pub struct AuthFailures {
    by_source: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl AuthFailures {
    /// Notes a failure from `source`: how long to hold the connection before closing it, and
    /// the failures from it in the last minute if this one deserves an audit line.
    pub fn failed(&self, source: IpAddr) -> (Duration, Option<u32>) {
        let mut by_source = self.by_source.lock().unwrap_or_else(|e| e.into_inner());
        if by_source.len() >= MAX_SOURCES {
            by_source.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
        }
        let entry = by_source.entry(source).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= FAILURE_WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
        let count = entry.0;
        let doublings = count.saturating_sub(3).min(6);
        let delay = (FAILURE_DELAY * 2u32.pow(doublings)).min(MAX_FAILURE_DELAY);
        (delay, count.is_power_of_two().then_some(count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_failures_slow_down_and_log_sparsely() {
        let failures = AuthFailures::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let seen: Vec<_> = (0..12).map(|_| failures.failed(a)).collect();
        let delays: Vec<u128> = seen.iter().map(|(d, _)| d.as_millis()).collect();
        assert_eq!(delays, vec![100, 100, 100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000]);
        let logged: Vec<u32> = seen.iter().filter_map(|(_, l)| *l).collect();
        assert_eq!(logged, vec![1, 2, 4, 8]);
        assert_eq!(failures.failed(b), (FAILURE_DELAY, Some(1)), "another source is not slowed");
    }
}
