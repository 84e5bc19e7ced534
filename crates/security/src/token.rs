//! Delegation tokens (KIP-48) as Kafka's controller keeps them: a token names its owner and
//! renewers and carries three times (issued, expires, can be renewed until); its HMAC, from
//! the cluster's `delegation.token.secret.key`, is the password a client logs in with over
//! SCRAM (`tokenauth=true`, the token id as user name). The HMAC is never stored: every node
//! with the secret derives it from the id.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::scram::{Credential, MIN_ITERATIONS, ScramMechanism, random_bytes};

/// Kafka's only principal type for renewers, and Brook's for every authenticated client.
pub const USER_TYPE: &str = "User";

/// A principal as Kafka writes it on the wire: a type and a name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Principal {
    pub kind: String,
    pub name: String,
}

impl Principal {
    pub fn user(name: &str) -> Principal {
        Principal { kind: USER_TYPE.to_string(), name: name.to_string() }
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind, self.name)
    }
}

/// One token (Kafka's TokenInformation; a DelegationTokenRecord's content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub token_id: String,
    pub owner: Principal,
    /// Who asked for it (the owner, unless someone with CREATE_TOKENS on the owner did).
    pub requester: Principal,
    pub renewers: Vec<Principal>,
    pub issue_ms: i64,
    pub expiry_ms: i64,
    pub max_ms: i64,
}

impl TokenInfo {
    /// Whether `principal` may renew, expire and always describe it.
    pub fn owner_or_renewer(&self, principal: &Principal) -> bool {
        self.owner == *principal || self.renewers.contains(principal)
    }

    /// Whether it can no longer be used or renewed at `now_ms` (Kafka checks both times).
    pub fn expired(&self, now_ms: i64) -> bool {
        self.max_ms < now_ms || self.expiry_ms < now_ms
    }
}

/// The controller's lifetimes: `delegation.token.max.lifetime.ms` (Kafka: 7 days) and
/// `delegation.token.expiry.time.ms` (1 day), the time a creation or a renewal buys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    pub max_lifetime_ms: i64,
    pub renew_ms: i64,
}

impl Default for Lifetimes {
    fn default() -> Lifetimes {
        Lifetimes { max_lifetime_ms: 604_800_000, renew_ms: 86_400_000 }
    }
}

/// Why a renewal or expiry is refused (Kafka's DELEGATION_TOKEN_* errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    Expired,
    OwnerMismatch,
}

/// What an ExpireDelegationToken does to a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expiry {
    /// A negative period: the token is gone at once.
    Removed,
    /// The token's new expiry time.
    At(i64),
}

impl Lifetimes {
    /// A new token: its lifetime is the configured maximum, or the asked one when shorter
    /// (Kafka ignores a request's lifetime of 0 or less); it expires a renewal period from
    /// now, or at its end.
    pub fn create(
        &self,
        token_id: String,
        owner: Principal,
        requester: Principal,
        renewers: Vec<Principal>,
        asked_max_lifetime_ms: i64,
        now_ms: i64,
    ) -> TokenInfo {
        let lifetime = match asked_max_lifetime_ms > 0 {
            true => self.max_lifetime_ms.min(asked_max_lifetime_ms),
            false => self.max_lifetime_ms,
        };
        let max_ms = now_ms.saturating_add(lifetime);
        let expiry_ms = max_ms.min(now_ms.saturating_add(self.renew_ms));
        TokenInfo { token_id, owner, requester, renewers, issue_ms: now_ms, expiry_ms, max_ms }
    }

    /// A renewal by `by`: the token's new expiry time, a renewal period (or the asked one when
    /// shorter and positive) from now, never past its end.
    pub fn renew(&self, token: &TokenInfo, by: &Principal, asked_ms: i64, now_ms: i64) -> Result<i64, Refusal> {
        if token.expired(now_ms) {
            return Err(Refusal::Expired);
        }
        if !token.owner_or_renewer(by) {
            return Err(Refusal::OwnerMismatch);
        }
        let period = match asked_ms > 0 {
            true => self.renew_ms.min(asked_ms),
            false => self.renew_ms,
        };
        Ok(token.max_ms.min(now_ms.saturating_add(period)))
    }

    /// An ExpireDelegationToken by `by`, in Kafka's order of checks: the owner or a renewer
    /// only; a negative period removes even an expired token; otherwise the token expires
    /// `period_ms` from now, never past its end.
    pub fn expire(&self, token: &TokenInfo, by: &Principal, period_ms: i64, now_ms: i64) -> Result<Expiry, Refusal> {
        if !token.owner_or_renewer(by) {
            return Err(Refusal::OwnerMismatch);
        }
        if period_ms < 0 {
            return Ok(Expiry::Removed);
        }
        if token.expired(now_ms) {
            return Err(Refusal::Expired);
        }
        Ok(Expiry::At(token.max_ms.min(now_ms.saturating_add(period_ms))))
    }
}

/// Wall-clock milliseconds, what tokens' times are in.
pub fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// A token's HMAC: HMAC-SHA512 of its id under the secret key, as Kafka computes it.
pub fn hmac(secret: &str, token_id: &str) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA512, secret.as_bytes());
    hmac::sign(&key, token_id.as_bytes()).as_ref().to_vec()
}

/// The password a client logs in with: the token's HMAC in base64.
pub fn password(hmac: &[u8]) -> String {
    BASE64.encode(hmac)
}

/// The SCRAM credential a client holding the token's HMAC logs in with: its password is the
/// HMAC in base64, salted afresh with Kafka's minimum iterations (a PBKDF2: not for async
/// threads in a loop).
pub fn credential(secret: &str, token_id: &str, mechanism: ScramMechanism) -> Credential {
    let password = password(&hmac(secret, token_id));
    let salt = random_bytes(32);
    let iterations = MIN_ITERATIONS.unsigned_abs();
    let (stored_key, server_key) = mechanism.keys(&mechanism.salted_password(&password, &salt, iterations));
    Credential { salt, stored_key, server_key, iterations: MIN_ITERATIONS }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(now: i64) -> TokenInfo {
        let lifetimes = Lifetimes { max_lifetime_ms: 10_000, renew_ms: 3_000 };
        lifetimes.create(
            "t".into(),
            Principal::user("alice"),
            Principal::user("admin"),
            vec![Principal::user("bob")],
            0,
            now,
        )
    }

    #[test]
    fn lifetimes_as_kafka_computes_them() {
        let lifetimes = Lifetimes { max_lifetime_ms: 10_000, renew_ms: 3_000 };
        let t = token(1_000);
        assert_eq!((t.issue_ms, t.expiry_ms, t.max_ms), (1_000, 4_000, 11_000));
        let short = lifetimes.create("s".into(), t.owner.clone(), t.owner.clone(), vec![], 2_000, 1_000);
        assert_eq!((short.expiry_ms, short.max_ms), (3_000, 3_000), "a shorter asked lifetime caps both");
        let long = lifetimes.create("l".into(), t.owner.clone(), t.owner.clone(), vec![], i64::MAX, i64::MAX - 5);
        assert_eq!(long.max_ms, i64::MAX, "no overflow");

        let (alice, bob, eve) = (Principal::user("alice"), Principal::user("bob"), Principal::user("eve"));
        assert_eq!(lifetimes.renew(&t, &bob, 0, 2_000), Ok(5_000), "a renewer renews by the default period");
        assert_eq!(lifetimes.renew(&t, &alice, 500, 2_000), Ok(2_500), "a shorter asked period");
        assert_eq!(lifetimes.renew(&short, &alice, 0, 2_500), Ok(3_000), "never past the end");
        assert_eq!(lifetimes.renew(&t, &eve, 0, 2_000), Err(Refusal::OwnerMismatch));
        assert_eq!(lifetimes.renew(&t, &alice, 0, 4_001), Err(Refusal::Expired));

        assert_eq!(lifetimes.expire(&t, &alice, 100, 2_000), Ok(Expiry::At(2_100)));
        assert_eq!(lifetimes.expire(&t, &bob, -1, 9_000), Ok(Expiry::Removed), "even once expired");
        assert_eq!(lifetimes.expire(&t, &alice, 0, 9_000), Err(Refusal::Expired));
        assert_eq!(lifetimes.expire(&t, &eve, -1, 2_000), Err(Refusal::OwnerMismatch));
        assert_eq!(alice.to_string(), "User:alice");
    }

    /// The credential is a SCRAM credential for the HMAC's base64 form: what a client
    /// configured with `password=<hmac>` proves.
    #[test]
    fn the_hmac_is_the_password() {
        let mac = hmac("secret", "token-1");
        assert_eq!(mac.len(), 64, "HMAC-SHA512");
        assert_ne!(mac, hmac("other secret", "token-1"));
        for m in ScramMechanism::ALL {
            let credential = credential("secret", "token-1", m);
            assert!(credential.matches(m, &BASE64.encode(&mac)));
            assert!(!credential.matches(m, "token-1"));
        }
    }
}
