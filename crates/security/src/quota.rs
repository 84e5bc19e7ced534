//! Client quotas as Kafka keeps and applies them: byte rates per user and client id, stored
//! for an entity (a user, a client id, both, or the defaults of either), the most specific
//! entity that sets a key winning; and the windowed rate that decides how long a client over
//! its quota is throttled.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Bytes per second a client may produce and fetch.
pub const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
pub const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
/// The share of one request-handling thread's time a client may use, in percent: 100 is a
/// second of handling per second.
pub const REQUEST_PERCENTAGE: &str = "request_percentage";
/// The quota keys Brook enforces.
pub const ENFORCED: &[&str] = &[PRODUCER_BYTE_RATE, CONSUMER_BYTE_RATE, REQUEST_PERCENTAGE];
/// Kafka's other client quota key, refused until Brook enforces it.
pub const NOT_ENFORCED: &[&str] = &["controller_mutation_rate"];

/// One part of a quota entity: a name, or the default for every name without its own.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EntityName {
    Default,
    Named(String),
}

/// What a quota applies to: a user, a client id, or both (Kafka's `user` and `client-id`
/// entity types; at least one is set).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QuotaEntity {
    pub user: Option<EntityName>,
    pub client_id: Option<EntityName>,
}

/// Every quota set, by entity then key: what the metadata image holds. (Serialized as a list:
/// JSON maps take only string keys.)
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Vec<(QuotaEntity, BTreeMap<String, f64>)>", into = "Vec<(QuotaEntity, BTreeMap<String, f64>)>")]
pub struct QuotaSet(pub BTreeMap<QuotaEntity, BTreeMap<String, f64>>);

impl From<Vec<(QuotaEntity, BTreeMap<String, f64>)>> for QuotaSet {
    fn from(list: Vec<(QuotaEntity, BTreeMap<String, f64>)>) -> QuotaSet {
        QuotaSet(list.into_iter().collect())
    }
}

impl From<QuotaSet> for Vec<(QuotaEntity, BTreeMap<String, f64>)> {
    fn from(set: QuotaSet) -> Self {
        set.0.into_iter().collect()
    }
}

impl QuotaSet {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sets (`Some`) or removes (`None`) one key of an entity.
    pub fn set(&mut self, entity: &QuotaEntity, key: &str, value: Option<f64>) {
        match value {
            Some(v) => {
                self.0.entry(entity.clone()).or_default().insert(key.to_string(), v);
            }
            None => {
                if let Some(values) = self.0.get_mut(entity) {
                    values.remove(key);
                    if values.is_empty() {
                        self.0.remove(entity);
                    }
                }
            }
        }
    }
}

/// The quota for `key` of a client (`user`, `client_id`), with the entity it comes from, in
/// Kafka's order of precedence: user and client id, user and default client, user, default
/// user and client id, default user and default client, default user, client id, default
/// client.
pub fn resolve<'a>(quotas: &'a QuotaSet, user: &str, client_id: &str, key: &str) -> Option<(f64, &'a QuotaEntity)> {
    use EntityName::{Default, Named};
    let (u, c) = (Named(user.to_string()), Named(client_id.to_string()));
    let order = [
        (Some(u.clone()), Some(c.clone())),
        (Some(u.clone()), Some(Default)),
        (Some(u), None),
        (Some(Default), Some(c.clone())),
        (Some(Default), Some(Default)),
        (Some(Default), None),
        (None, Some(c)),
        (None, Some(Default)),
    ];
    order.into_iter().find_map(|(user, client_id)| {
        let (entity, values) = quotas.0.get_key_value(&QuotaEntity { user, client_id })?;
        values.get(key).map(|v| (*v, entity))
    })
}

/// How far ahead of its quota a client is: the time at which the bytes it sent so far would
/// have been sent at exactly its quota (a token bucket in the form of GCRA). A client may run
/// `depth` ahead (a burst), past that it is throttled for the excess, so that over any longer
/// run it gets its quota exactly. Kafka measures the same with `quota.window.num` samples of
/// `quota.window.size.seconds`, whose oldest samples expire and let a bursty client through at
/// well above its quota; the depth here is that window.
#[derive(Debug, Clone)]
pub struct RateMeter {
    depth_ms: f64,
    /// When the client's bytes so far are paid off, in ms.
    paid_off_ms: f64,
}

impl RateMeter {
    pub fn new(depth: Duration) -> RateMeter {
        RateMeter { depth_ms: depth.as_secs_f64() * 1000.0, paid_off_ms: 0.0 }
    }

    /// How long past its depth the client still is at `now_ms`: what it owes beyond the
    /// throttle it was last told (a throttle is at most the depth).
    pub fn overdue(&self, now_ms: u64) -> Duration {
        let ahead = self.paid_off_ms - now_ms as f64 - self.depth_ms;
        Duration::from_millis(ahead.max(0.0) as u64)
    }

    /// Records `amount` at `now_ms` against `quota` per second; how long the client must then
    /// wait to be back within its quota (at most the depth).
    pub fn record(&mut self, now_ms: u64, amount: f64, quota: f64) -> Duration {
        if quota <= 0.0 || !quota.is_finite() {
            return Duration::ZERO;
        }
        let now = now_ms as f64;
        self.paid_off_ms = self.paid_off_ms.max(now) + amount / quota * 1000.0;
        let ahead = self.paid_off_ms - now - self.depth_ms;
        Duration::from_millis(ahead.clamp(0.0, self.depth_ms) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(user: Option<&str>, client: Option<&str>) -> QuotaEntity {
        let name = |n: &str| if n.is_empty() { EntityName::Default } else { EntityName::Named(n.to_string()) };
        QuotaEntity { user: user.map(name), client_id: client.map(name) }
    }

    #[test]
    fn the_most_specific_entity_wins() {
        let mut quotas = QuotaSet::default();
        let mut set = |e: QuotaEntity, v: f64| quotas.set(&e, PRODUCER_BYTE_RATE, Some(v));
        set(entity(None, Some("")), 1.0);
        set(entity(None, Some("etl")), 2.0);
        set(entity(Some(""), None), 3.0);
        set(entity(Some("alice"), None), 4.0);
        set(entity(Some("alice"), Some("etl")), 5.0);
        let rate = |u: &str, c: &str| resolve(&quotas, u, c, PRODUCER_BYTE_RATE).map(|(v, _)| v);
        assert_eq!(rate("alice", "etl"), Some(5.0));
        assert_eq!(rate("alice", "other"), Some(4.0));
        assert_eq!(rate("bob", "etl"), Some(3.0), "a default user quota comes before a client id's");
        assert_eq!(resolve(&quotas, "bob", "etl", CONSUMER_BYTE_RATE), None);
        let json = serde_json::to_string(&quotas).expect("serializes");
        assert_eq!(serde_json::from_str::<QuotaSet>(&json).expect("parses"), quotas);
    }

    #[test]
    fn a_client_that_waits_as_told_gets_its_quota() {
        // A client sending 2 KB at a time against 1,000 B/s, waiting whenever told to.
        let mut meter = RateMeter::new(Duration::from_secs(3));
        let (mut now_ms, mut sent) = (0u64, 0.0);
        while now_ms < 600_000 {
            let throttle = meter.record(now_ms, 2000.0, 1000.0);
            sent += 2000.0;
            now_ms += throttle.as_millis() as u64 + 1;
        }
        // The burst of the depth (3 s of quota) and one request beyond the long-run rate.
        let rate = sent / (now_ms as f64 / 1000.0);
        assert!((rate - 1000.0).abs() < 1000.0 * 0.03, "{rate}");
        assert_eq!(RateMeter::new(Duration::from_secs(3)).record(0, 500.0, 1000.0), Duration::ZERO);
    }
}
