//! Each client instance's telemetry state, as Kafka 4.4's ClientMetricsManager keeps it: the
//! subscriptions it matched (the union of their metrics, the shortest interval), when it last
//! asked for them and last pushed, and whether it said it was terminating. A client asks
//! (GetTelemetrySubscriptions) and pushes (PushTelemetry) at most once an interval; a change
//! to the subscriptions gives every client a fresh state, so each learns of it at its next ask.

use std::collections::HashMap;

use uuid::Uuid;

use crate::subscription::{ClientInfo, DEFAULT_INTERVAL_MS, Subscription};

/// Kafka's record compression ids a push may use (none, gzip, snappy, lz4, zstd).
const COMPRESSIONS: [i8; 5] = [0, 1, 2, 3, 4];
/// What GetTelemetrySubscriptions offers, most preferred first, as Kafka: zstd, lz4, gzip, snappy.
pub const ACCEPTED_COMPRESSIONS: [i8; 4] = [4, 3, 1, 2];

/// Long before any clock reading, without overflowing a subtraction.
const NEVER: i64 = i64::MIN / 2;

/// Why a request is refused: Kafka's error and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    InvalidRequest(String),
    /// THROTTLING_QUOTA_EXCEEDED: sooner than the push interval allows.
    Throttled(String),
    UnknownSubscriptionId(String),
    UnsupportedCompressionType(String),
    TelemetryTooLarge(String),
}

/// The answer to GetTelemetrySubscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribed {
    pub instance_id: Uuid,
    pub subscription_id: i32,
    /// Metric name prefixes to push; empty: push nothing; `*`: everything.
    pub metrics: Vec<String>,
    pub push_interval_ms: i32,
}

/// A push the client may make: what it tells about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Push {
    pub subscription_id: i32,
    pub terminating: bool,
    pub compression: i8,
    pub bytes: usize,
}

struct Instance {
    /// The subscriptions' version it was made under.
    version: u64,
    subscribed: Subscribed,
    last_get_ms: i64,
    last_push_ms: i64,
    last_seen_ms: i64,
    terminating: bool,
    last_error: Option<Refusal>,
}

/// Every client instance that asked or pushed lately.
#[derive(Default)]
pub struct Clients {
    instances: HashMap<Uuid, Instance>,
    /// Bumped when the subscriptions change.
    version: u64,
}

impl Clients {
    /// The subscriptions changed: each client gets its new ones at its next request.
    pub fn subscriptions_changed(&mut self) {
        self.version += 1;
    }

    /// GetTelemetrySubscriptions: a nil `requested` id gets a new one.
    pub fn get(
        &mut self,
        requested: Uuid,
        client: &ClientInfo,
        subscriptions: &[Subscription],
        now_ms: i64,
    ) -> Result<Subscribed, Refusal> {
        let id = if requested.is_nil() { Uuid::new_v4() } else { requested };
        let instance = self.instance(id, client, subscriptions, now_ms);
        let since = now_ms - instance.last_get_ms.max(instance.last_push_ms);
        let retry_allowed = matches!(
            instance.last_error,
            Some(Refusal::UnknownSubscriptionId(_) | Refusal::UnsupportedCompressionType(_))
        );
        if since < i64::from(instance.subscribed.push_interval_ms) && !retry_allowed {
            return Err(Refusal::Throttled(too_soon(id)));
        }
        instance.last_get_ms = now_ms;
        instance.last_error = None;
        Ok(instance.subscribed.clone())
    }

    /// PushTelemetry's checks, in Kafka's order; the metrics may be exported once it is `Ok`.
    pub fn push(
        &mut self,
        id: Uuid,
        push: Push,
        max_bytes: usize,
        client: &ClientInfo,
        subscriptions: &[Subscription],
        now_ms: i64,
    ) -> Result<(), Refusal> {
        if id.is_nil() {
            return Err(Refusal::InvalidRequest(format!(
                "Invalid request from the client [{}], invalid client instance id",
                kafka_id(id)
            )));
        }
        let instance = self.instance(id, client, subscriptions, now_ms);
        let checked = check_push(instance, id, push, max_bytes, now_ms);
        instance.terminating = push.terminating;
        instance.last_error = checked.clone().err();
        checked
    }

    /// Forgets instances silent for three intervals (at least a minute): they went away.
    pub fn expire(&mut self, now_ms: i64) {
        self.instances
            .retain(|_, i| now_ms - i.last_seen_ms < (3 * i64::from(i.subscribed.push_interval_ms)).max(60_000));
    }

    /// Whether the instance asked or pushed lately.
    pub fn knows(&self, id: Uuid) -> bool {
        self.instances.contains_key(&id)
    }

    pub fn len(&self) -> usize {
        self.instances.len()
    }

    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// The instance's state, made afresh when unknown or made under older subscriptions.
    fn instance(
        &mut self,
        id: Uuid,
        client: &ClientInfo,
        subscriptions: &[Subscription],
        now_ms: i64,
    ) -> &mut Instance {
        let version = self.version;
        let instance = self.instances.entry(id).or_insert_with(|| fresh(id, client, subscriptions, version));
        if instance.version != version {
            *instance = fresh(id, client, subscriptions, version);
        }
        instance.last_seen_ms = now_ms;
        instance
    }
}

fn check_push(instance: &mut Instance, id: Uuid, push: Push, max_bytes: usize, now_ms: i64) -> Result<(), Refusal> {
    if instance.terminating {
        return Err(Refusal::InvalidRequest(format!(
            "Client [{}] sent the previous request with state terminating to TRUE, can not acceptany requests after that",
            kafka_id(id)
        )));
    }
    // The first push after an ask, or one an interval after the last push; a terminating
    // client's last push always.
    let allowed = instance.last_get_ms > instance.last_push_ms
        || now_ms - instance.last_push_ms >= i64::from(instance.subscribed.push_interval_ms);
    if allowed {
        instance.last_push_ms = now_ms;
    } else if !push.terminating {
        return Err(Refusal::Throttled(too_soon(id)));
    }
    if push.subscription_id != instance.subscribed.subscription_id {
        return Err(Refusal::UnknownSubscriptionId(format!(
            "Unknown client subscription id for the client [{}]",
            kafka_id(id)
        )));
    }
    if !COMPRESSIONS.contains(&push.compression) {
        return Err(Refusal::UnsupportedCompressionType(format!(
            "Unknown compression type [{}] is received in telemetry request from [{}]",
            push.compression,
            kafka_id(id)
        )));
    }
    if push.bytes > max_bytes {
        return Err(Refusal::TelemetryTooLarge(format!(
            "Telemetry request from [{}] is larger than the maximum allowed size [{max_bytes}]",
            kafka_id(id)
        )));
    }
    Ok(())
}

fn too_soon(id: Uuid) -> String {
    format!("Request from the client [{}] arrived before the next push interval time", kafka_id(id))
}

/// A Uuid as Kafka prints it: URL-safe base64 without padding.
fn kafka_id(id: Uuid) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// A new state: the union of the matching subscriptions' metrics (`*` if one wants all) and
/// the shortest of their intervals.
fn fresh(id: Uuid, client: &ClientInfo, subscriptions: &[Subscription], version: u64) -> Instance {
    let client = ClientInfo { instance_id: id.to_string(), ..client.clone() };
    let matched: Vec<&Subscription> = subscriptions.iter().filter(|s| s.matches(&client)).collect();
    let interval = matched.iter().map(|s| s.interval_ms).min().unwrap_or(DEFAULT_INTERVAL_MS);
    let mut metrics: Vec<String> = matched.iter().flat_map(|s| s.metrics.iter().cloned()).collect();
    metrics.sort_unstable();
    metrics.dedup();
    if metrics.iter().any(|m| m == "*") {
        metrics = vec!["*".into()];
    }
    Instance {
        version,
        subscribed: Subscribed {
            instance_id: id,
            subscription_id: subscription_id(&metrics, interval, id),
            metrics,
            push_interval_ms: interval,
        },
        // Long ago: the first ask and push are never too soon.
        last_get_ms: NEVER,
        last_push_ms: NEVER,
        last_seen_ms: 0,
        terminating: false,
        last_error: None,
    }
}

/// Kafka's: a CRC-32C of the metrics and interval, mixed with the instance id.
fn subscription_id(metrics: &[String], interval: i32, id: Uuid) -> i32 {
    let crc = crc32c::crc32c(format!("[{}]{interval}", metrics.join(", ")).as_bytes());
    let (high, low) = id.as_u64_pair();
    let hash = (high >> 32) as i32 ^ high as i32 ^ (low >> 32) as i32 ^ low as i32;
    crc as i32 ^ hash
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn subscription(metrics: &str, interval: &str) -> Subscription {
        let configs: BTreeMap<String, String> = [("metrics", metrics), ("interval.ms", interval)]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Subscription::parse("s", &configs).unwrap()
    }

    #[test]
    fn asks_and_pushes_once_an_interval() {
        let mut clients = Clients::default();
        let subs = [subscription("org.apache.kafka.producer.", "1000")];
        let client = ClientInfo::default();
        let got = clients.get(Uuid::nil(), &client, &subs, 10_000).unwrap();
        assert!(!got.instance_id.is_nil());
        assert_eq!(
            (got.metrics.as_slice(), got.push_interval_ms),
            (&["org.apache.kafka.producer.".to_string()][..], 1000)
        );
        let id = got.instance_id;
        assert!(matches!(clients.get(id, &client, &subs, 10_500), Err(Refusal::Throttled(_))));
        let push = Push { subscription_id: got.subscription_id, terminating: false, compression: 4, bytes: 100 };
        assert_eq!(clients.push(id, push, 1 << 20, &client, &subs, 10_100), Ok(()), "the first push after an ask");
        let Err(Refusal::Throttled(message)) = clients.push(id, push, 1 << 20, &client, &subs, 10_200) else {
            panic!("a push too soon is throttled")
        };
        // The instance id as Kafka prints a Uuid: 22 characters of URL-safe base64.
        let printed = kafka_id(id);
        assert_eq!((printed.len(), printed.contains('=')), (22, false));
        assert_eq!(message, format!("Request from the client [{printed}] arrived before the next push interval time"));
        assert_eq!(clients.push(id, push, 1 << 20, &client, &subs, 11_100), Ok(()));
        let wrong = Push { subscription_id: got.subscription_id + 1, ..push };
        assert!(matches!(
            clients.push(id, wrong, 1 << 20, &client, &subs, 12_100),
            Err(Refusal::UnknownSubscriptionId(_))
        ));
        // After an unknown subscription the client may ask again at once.
        assert!(clients.get(id, &client, &subs, 12_200).is_ok());
        let big = Push { bytes: 2 << 20, ..push };
        assert!(matches!(clients.push(id, big, 1 << 20, &client, &subs, 12_300), Err(Refusal::TelemetryTooLarge(_))));
        let odd = Push { compression: 9, ..push };
        assert!(matches!(
            clients.push(id, odd, 1 << 20, &client, &subs, 13_400),
            Err(Refusal::UnsupportedCompressionType(_))
        ));
        let last = Push { terminating: true, ..push };
        assert_eq!(
            clients.push(id, last, 1 << 20, &client, &subs, 13_450),
            Ok(()),
            "a terminating push is never too soon"
        );
        assert!(matches!(clients.push(id, push, 1 << 20, &client, &subs, 20_000), Err(Refusal::InvalidRequest(_))));
        assert!(matches!(
            clients.push(Uuid::nil(), push, 1 << 20, &client, &subs, 20_000),
            Err(Refusal::InvalidRequest(_))
        ));
    }

    #[test]
    fn a_subscription_change_reaches_every_client_at_its_next_ask() {
        let mut clients = Clients::default();
        let client = ClientInfo::default();
        let none = clients.get(Uuid::nil(), &client, &[], 0).unwrap();
        assert!(none.metrics.is_empty());
        assert_eq!(none.push_interval_ms, DEFAULT_INTERVAL_MS);
        clients.subscriptions_changed();
        let subs = [subscription("*", "2000"), subscription("org.", "5000")];
        let now = clients.get(none.instance_id, &client, &subs, 1000).unwrap();
        assert_eq!((now.metrics, now.push_interval_ms), (vec!["*".to_string()], 2000));
        assert_ne!(now.subscription_id, none.subscription_id);
        clients.expire(1000 + 59_999);
        assert_eq!(clients.len(), 1);
        clients.expire(1000 + 60_000);
        assert!(clients.is_empty());
    }
}
