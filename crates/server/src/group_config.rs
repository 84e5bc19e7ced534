//! Group configs: the GROUP config resource (`kafka-configs --entity-type groups`). A group
//! may set its own value for each key below, kept in the metadata whether or not the group
//! exists; a key it does not set falls back to the broker key named beside it. Values are
//! checked as Kafka 4.4 checks them: first the key's own type and lower bound, then the range
//! the broker's `group.*.min.*` and `group.*.max.*` keys allow.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::error::ResponseError;

use crate::broker::ApiError;
use crate::config::BrokerConfig;
use crate::topic_config::config_type;

/// How a key's value is read and bounded.
#[derive(Clone, Copy)]
enum Kind {
    /// An int at least `at_least`, and within the broker keys `group.<scope>.min.<name>` and
    /// `group.<scope>.max.<name>` when `ranged`.
    Int {
        at_least: i64,
        ranged: bool,
    },
    Bool,
    String,
    List,
}

struct Spec {
    key: &'static str,
    /// The broker key its default comes from.
    broker_key: &'static str,
    kind: Kind,
    documentation: &'static str,
}

const fn int(key: &'static str, broker_key: &'static str, at_least: i64, documentation: &'static str) -> Spec {
    Spec { key, broker_key, kind: Kind::Int { at_least, ranged: true }, documentation }
}

/// The keys, in the order Brook lists them.
const SPECS: &[Spec] = &[
    int(
        "consumer.assignment.interval.ms",
        "group.consumer.assignment.interval.ms",
        0,
        "The longest a consumer group's new target assignment may wait (Brook assigns at once).",
    ),
    int(
        "consumer.heartbeat.interval.ms",
        "group.consumer.heartbeat.interval.ms",
        1,
        "The heartbeat interval given to the members of a consumer group.",
    ),
    int(
        "consumer.session.timeout.ms",
        "group.consumer.session.timeout.ms",
        1,
        "How long a consumer group member may go without a heartbeat before it is removed.",
    ),
    Spec {
        key: "errors.deadletterqueue.copy.record.enable",
        broker_key: "errors.deadletterqueue.copy.record.enable",
        kind: Kind::Bool,
        documentation: "Whether a record written to the dead-letter queue carries the record's key and value.",
    },
    Spec {
        key: "errors.deadletterqueue.topic.name",
        broker_key: "errors.deadletterqueue.topic.name",
        kind: Kind::String,
        documentation: "The topic a share group's undeliverable records go to (not built in Brook: must be empty).",
    },
    int(
        "share.assignment.interval.ms",
        "group.share.assignment.interval.ms",
        0,
        "The longest a share group's new target assignment may wait (Brook assigns at once).",
    ),
    Spec {
        key: "share.auto.offset.reset",
        broker_key: "share.auto.offset.reset",
        kind: Kind::String,
        documentation: "Where a share-partition starts when the group first reads it: latest, earliest, \
                        or by_duration:<ISO-8601 duration> (the first record at most that old).",
    },
    int(
        "share.delivery.count.limit",
        "group.share.delivery.count.limit",
        2,
        "How many times a record is delivered before it is archived and delivered no more.",
    ),
    int(
        "share.heartbeat.interval.ms",
        "group.share.heartbeat.interval.ms",
        1,
        "The heartbeat interval given to the members of a share group.",
    ),
    Spec {
        key: "share.isolation.level",
        broker_key: "share.isolation.level",
        kind: Kind::String,
        documentation: "Which records a share group reads: read_uncommitted (all), or read_committed (below the \
                        last stable offset, records of aborted transactions archived unseen).",
    },
    int(
        "share.partition.max.record.locks",
        "group.share.partition.max.record.locks",
        100,
        "How many records of one share-partition may be in flight at once.",
    ),
    int(
        "share.record.lock.duration.ms",
        "group.share.record.lock.duration.ms",
        1000,
        "How long a delivered record stays locked to its consumer before it is delivered again.",
    ),
    Spec {
        key: "share.renew.acknowledge.enable",
        broker_key: "share.renew.acknowledge.enable",
        kind: Kind::Bool,
        documentation: "Whether consumers may renew a record's lock (RENEW acknowledgements).",
    },
    int(
        "share.session.timeout.ms",
        "group.share.session.timeout.ms",
        1,
        "How long a share group member may go without a heartbeat before it is removed.",
    ),
    int(
        "streams.assignment.interval.ms",
        "group.streams.assignment.interval.ms",
        0,
        "The longest a streams group's new target assignment may wait.",
    ),
    Spec {
        key: "streams.assignor.name",
        broker_key: "group.streams.assignors",
        kind: Kind::String,
        documentation: "The task assignor of a streams group.",
    },
    int(
        "streams.heartbeat.interval.ms",
        "group.streams.heartbeat.interval.ms",
        1,
        "The heartbeat interval given to the members of a streams group.",
    ),
    Spec {
        key: "streams.initial.rebalance.delay.ms",
        broker_key: "group.streams.initial.rebalance.delay.ms",
        kind: Kind::Int { at_least: 0, ranged: false },
        documentation: "How long a new streams group waits for more members before its first assignment.",
    },
    Spec {
        key: "streams.num.standby.replicas",
        broker_key: "group.streams.num.standby.replicas",
        kind: Kind::Int { at_least: 0, ranged: false },
        documentation: "The standby replicas of each task of a streams group.",
    },
    Spec {
        key: "streams.rack.aware.assignment.tags",
        broker_key: "group.streams.rack.aware.assignment.tags",
        kind: Kind::List,
        documentation: "Client tag keys that spread a streams group's standby tasks.",
    },
    int(
        "streams.session.timeout.ms",
        "group.streams.session.timeout.ms",
        1,
        "How long a streams group member may go without a heartbeat before it is removed.",
    ),
];

/// Kafka 4.4's defaults of the broker keys behind group configs that Brook does not keep
/// elsewhere in its configuration (a `server.properties` may set them).
pub const BROKER_DEFAULTS: &[(&str, &str)] = &[
    ("errors.deadletterqueue.copy.record.enable", "false"),
    ("errors.deadletterqueue.topic.name", ""),
    ("group.consumer.assignment.interval.ms", "1000"),
    ("group.consumer.max.assignment.interval.ms", "15000"),
    ("group.consumer.max.heartbeat.interval.ms", "15000"),
    ("group.consumer.max.session.timeout.ms", "60000"),
    ("group.consumer.min.assignment.interval.ms", "0"),
    ("group.consumer.min.heartbeat.interval.ms", "5000"),
    ("group.consumer.min.session.timeout.ms", "45000"),
    ("group.share.assignment.interval.ms", "1000"),
    ("group.share.max.assignment.interval.ms", "15000"),
    ("group.share.max.delivery.count.limit", "10"),
    ("group.share.max.heartbeat.interval.ms", "15000"),
    ("group.share.max.partition.max.record.locks", "4000"),
    ("group.share.max.record.lock.duration.ms", "60000"),
    ("group.share.max.session.timeout.ms", "60000"),
    ("group.share.min.assignment.interval.ms", "0"),
    ("group.share.min.delivery.count.limit", "2"),
    ("group.share.min.heartbeat.interval.ms", "5000"),
    ("group.share.min.partition.max.record.locks", "100"),
    ("group.share.min.record.lock.duration.ms", "15000"),
    ("group.share.min.session.timeout.ms", "45000"),
    ("group.streams.assignment.interval.ms", "1000"),
    ("group.streams.assignors", "sticky"),
    ("group.streams.heartbeat.interval.ms", "5000"),
    ("group.streams.initial.rebalance.delay.ms", "3000"),
    ("group.streams.max.assignment.interval.ms", "15000"),
    ("group.streams.max.heartbeat.interval.ms", "15000"),
    ("group.streams.max.session.timeout.ms", "60000"),
    ("group.streams.max.standby.replicas", "2"),
    ("group.streams.min.assignment.interval.ms", "0"),
    ("group.streams.min.heartbeat.interval.ms", "5000"),
    ("group.streams.min.session.timeout.ms", "45000"),
    ("group.streams.num.standby.replicas", "0"),
    ("group.streams.rack.aware.assignment.tags", ""),
    ("group.streams.session.timeout.ms", "45000"),
    ("share.auto.offset.reset", "latest"),
    ("share.isolation.level", "read_uncommitted"),
    ("share.renew.acknowledge.enable", "true"),
];

/// A broker key's value on this broker: kept in its own field for the keys Brook uses
/// elsewhere, else as the configuration sets it, else Kafka's default.
pub fn broker_value(config: &BrokerConfig, broker_key: &str) -> String {
    let (g, s) = (&config.group, &config.share);
    match broker_key {
        "group.consumer.session.timeout.ms" => g.consumer_session_timeout_ms.to_string(),
        "group.consumer.heartbeat.interval.ms" => g.consumer_heartbeat_interval_ms.to_string(),
        "group.streams.session.timeout.ms" => g.streams_session_timeout_ms.to_string(),
        "group.share.session.timeout.ms" => s.session_timeout_ms.to_string(),
        "group.share.heartbeat.interval.ms" => s.heartbeat_interval_ms.to_string(),
        "group.share.record.lock.duration.ms" => s.record_lock_duration_ms.to_string(),
        "group.share.delivery.count.limit" => s.delivery_count_limit.to_string(),
        "group.share.partition.max.record.locks" => s.partition_max_record_locks.to_string(),
        _ => config.group_keys.get(broker_key).cloned().unwrap_or_else(|| {
            BROKER_DEFAULTS.iter().find(|(k, _)| *k == broker_key).map_or_else(String::new, |(_, v)| v.to_string())
        }),
    }
}

/// A group key's value where the group does not set it.
pub fn default_of(config: &BrokerConfig, key: &str) -> String {
    SPECS.iter().find(|s| s.key == key).map_or_else(String::new, |s| broker_value(config, s.broker_key))
}

/// Whether `key` is one of the broker keys above kept as the configuration gives it.
pub fn is_kept_broker_key(key: &str) -> bool {
    BROKER_DEFAULTS.iter().any(|(k, _)| *k == key)
}

/// A broker key kept as the configuration gives it must read as its default does (a number
/// where Kafka's default is one).
pub fn check_broker_key(key: &str, value: &str) -> Result<(), crate::config::ConfigError> {
    let default = BROKER_DEFAULTS.iter().find(|(k, _)| *k == key).map_or("", |(_, v)| *v);
    if default.parse::<i64>().is_ok() && value.trim().parse::<i32>().is_err() {
        return Err(crate::config::ConfigError::Invalid { key: key.to_string(), reason: "expected an integer".into() });
    }
    Ok(())
}

/// One group config as DescribeConfigs lists it.
pub struct Described {
    pub key: &'static str,
    pub value: String,
    /// Set for this group (else the broker's).
    pub dynamic: bool,
    pub broker_key: &'static str,
    pub broker_value: String,
    /// Whether the broker's value was set in its configuration (else Kafka's default).
    pub broker_explicit: bool,
    pub config_type: i8,
    pub documentation: &'static str,
}

/// Every group config of a group with `overrides` (its dynamic configs).
pub fn describe(config: &BrokerConfig, overrides: Option<&BTreeMap<String, String>>) -> Vec<Described> {
    SPECS
        .iter()
        .map(|spec| {
            let broker_value = broker_value(config, spec.broker_key);
            let own = overrides.and_then(|o| o.get(spec.key));
            Described {
                key: spec.key,
                value: own.cloned().unwrap_or_else(|| broker_value.clone()),
                dynamic: own.is_some(),
                broker_key: spec.broker_key,
                broker_value,
                broker_explicit: config.explicit.contains(spec.broker_key),
                config_type: match spec.kind {
                    Kind::Int { .. } => config_type::INT,
                    Kind::Bool => config_type::BOOLEAN,
                    Kind::String => config_type::STRING,
                    Kind::List => config_type::LIST,
                },
                documentation: spec.documentation,
            }
        })
        .collect()
}

/// Checks a group's new dynamic configs as Kafka does, then refuses the values whose
/// behaviour Brook does not have.
pub fn validate(config: &BrokerConfig, configs: &BTreeMap<String, String>) -> Result<(), ApiError> {
    let invalid = |message: String| Err(ApiError::new(ResponseError::InvalidConfig, message));
    for (key, value) in configs {
        let Some(spec) = SPECS.iter().find(|s| s.key == key) else {
            return invalid(format!("Unknown group config name: {key}"));
        };
        let bad = |why: &str| invalid(format!("Invalid value {value} for configuration {key}: {why}"));
        match spec.kind {
            Kind::Int { at_least, .. } => match value.trim().parse::<i32>() {
                Err(_) => return bad("Not a number of type INT"),
                Ok(n) if i64::from(n) < at_least => return bad(&format!("Value must be at least {at_least}")),
                Ok(_) => {}
            },
            Kind::Bool if !value.trim().eq_ignore_ascii_case("true") && !value.trim().eq_ignore_ascii_case("false") => {
                return bad("Expected value to be either true or false");
            }
            _ => {}
        }
        match key.as_str() {
            "share.auto.offset.reset" if OffsetReset::parse(value).is_none() => {
                return bad(&format!(
                    "Invalid value `{value}` for configuration {key}. The value must be either 'earliest', \
                     'latest' or of the format 'by_duration:<PnDTnHnMn.nS>'."
                ));
            }
            "share.isolation.level" if value != "read_committed" && value != "read_uncommitted" => {
                return bad("String must be one of: read_committed, read_uncommitted");
            }
            _ => {}
        }
    }
    // The broker's ranges, once every value parses.
    for (key, value) in configs {
        let spec = SPECS.iter().find(|s| s.key == key).expect("checked above");
        let Ok(n) = value.trim().parse::<i64>() else { continue };
        match spec.kind {
            Kind::Int { ranged: true, .. } => {
                let (scope, name) = key.split_once('.').expect("group keys have a scope");
                let bound = |which: &str| {
                    broker_value(config, &format!("group.{scope}.{which}.{name}")).parse::<i64>().unwrap_or(0)
                };
                let (min, max) = (bound("min"), bound("max"));
                if !(min..=max).contains(&n) {
                    return invalid(format!("{key} must be in the range {min} to {max} inclusive."));
                }
            }
            _ if *key == "streams.num.standby.replicas" => {
                let max = broker_value(config, "group.streams.max.standby.replicas");
                if n > max.parse::<i64>().unwrap_or(0) {
                    return invalid(format!("{key} must be less than or equal to {max}"));
                }
            }
            _ => {}
        }
    }
    if let Some(name) = configs.get("streams.assignor.name") {
        let registered = broker_value(config, "group.streams.assignors");
        if !registered.split(',').any(|a| a.trim() == name) {
            return invalid(format!(
                "streams.assignor.name '{name}' is not a registered task assignor. Registered assignors are: [{registered}]."
            ));
        }
    }
    let not_built = |what: &str| invalid(format!("{what} is not built in Brook yet."));
    if configs.get("errors.deadletterqueue.topic.name").is_some_and(|v| !v.is_empty()) {
        return not_built("errors.deadletterqueue.topic.name (a dead-letter queue for share groups)");
    }
    if configs.get("share.renew.acknowledge.enable").is_some_and(|v| v.eq_ignore_ascii_case("false")) {
        return not_built("share.renew.acknowledge.enable=false (refusing RENEW acknowledgements)");
    }
    Ok(())
}

/// `share.auto.offset.reset`: where a share-partition new to its group starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OffsetReset {
    Latest,
    Earliest,
    /// The first record at most this old.
    ByDuration(Duration),
}

impl OffsetReset {
    pub fn parse(value: &str) -> Option<OffsetReset> {
        match value {
            "latest" => Some(OffsetReset::Latest),
            "earliest" => Some(OffsetReset::Earliest),
            _ => parse_iso_duration(value.strip_prefix("by_duration:")?).map(OffsetReset::ByDuration),
        }
    }
}

/// An ISO-8601 duration as Java's `Duration.parse` reads it: `PnDTnHnMn.nS`, each part
/// optional but at least one, no negative parts (Kafka refuses them).
fn parse_iso_duration(text: &str) -> Option<Duration> {
    let rest = text.strip_prefix(['P', 'p'])?;
    let (days, time) = match rest.split_once(['T', 't']) {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let (day_seconds, day_parts) = duration_parts(days, &[('D', 86_400.0)])?;
    let (time_seconds, time_parts) = match time {
        Some(t) => Some(duration_parts(t, &[('H', 3_600.0), ('M', 60.0), ('S', 1.0)])?).filter(|(_, n)| *n > 0)?,
        None => (0.0, 0),
    };
    (day_parts + time_parts > 0).then(|| Duration::from_secs_f64(day_seconds + time_seconds))
}

/// The seconds and the number of parts in `text`, a run of numbers each followed by one of
/// `units` in order (only seconds may have a fraction); None if anything else is left.
fn duration_parts(mut text: &str, units: &[(char, f64)]) -> Option<(f64, usize)> {
    let (mut seconds, mut parts) = (0.0, 0);
    for &(unit, scale) in units {
        if let Some(end) = text.find([unit, unit.to_ascii_lowercase()]) {
            let number = &text[..end];
            if number.is_empty() || (unit != 'S' && number.contains('.')) {
                return None;
            }
            let n: f64 = number.parse().ok().filter(|n: &f64| *n >= 0.0 && n.is_finite())?;
            seconds += n * scale;
            parts += 1;
            text = &text[end + 1..];
        }
    }
    text.is_empty().then_some((seconds, parts))
}

/// The group configs Brook applies, resolved for one group.
#[derive(Debug, Clone)]
pub struct GroupSettings {
    pub consumer_session_timeout_ms: i32,
    pub consumer_heartbeat_interval_ms: i32,
    pub share_session_timeout_ms: i32,
    pub share_heartbeat_interval_ms: i32,
    pub share_limits: brook_share::Limits,
    pub share_auto_offset_reset: OffsetReset,
    /// `share.isolation.level=read_committed`.
    pub share_read_committed: bool,
    pub streams_session_timeout_ms: i32,
    pub streams_heartbeat_interval_ms: i32,
    pub streams_standby_replicas: i32,
    pub streams_initial_rebalance_delay_ms: i32,
}

impl GroupSettings {
    pub fn resolve(config: &BrokerConfig, overrides: Option<&BTreeMap<String, String>>) -> GroupSettings {
        let value = |key: &str| overrides.and_then(|o| o.get(key)).cloned().unwrap_or_else(|| default_of(config, key));
        let number = |key: &str| value(key).trim().parse::<i64>().unwrap_or(0);
        GroupSettings {
            consumer_session_timeout_ms: number("consumer.session.timeout.ms") as i32,
            consumer_heartbeat_interval_ms: number("consumer.heartbeat.interval.ms") as i32,
            share_session_timeout_ms: number("share.session.timeout.ms") as i32,
            share_heartbeat_interval_ms: number("share.heartbeat.interval.ms") as i32,
            share_limits: brook_share::Limits {
                lock_duration_ms: number("share.record.lock.duration.ms"),
                delivery_count_limit: number("share.delivery.count.limit") as i16,
                max_record_locks: number("share.partition.max.record.locks") as usize,
            },
            share_auto_offset_reset: OffsetReset::parse(&value("share.auto.offset.reset"))
                .unwrap_or(OffsetReset::Latest),
            share_read_committed: value("share.isolation.level") == "read_committed",
            streams_session_timeout_ms: number("streams.session.timeout.ms") as i32,
            streams_heartbeat_interval_ms: number("streams.heartbeat.interval.ms") as i32,
            streams_standby_replicas: number("streams.num.standby.replicas") as i32,
            streams_initial_rebalance_delay_ms: number("streams.initial.rebalance.delay.ms") as i32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_durations_as_java_reads_them() {
        let secs = |t: &str| parse_iso_duration(t).map(|d| d.as_secs_f64());
        assert_eq!(secs("PT1H"), Some(3600.0));
        assert_eq!(secs("P1DT2H3M4.5S"), Some(86_400.0 + 7200.0 + 180.0 + 4.5));
        assert_eq!(secs("P2D"), Some(172_800.0));
        assert_eq!(secs("PT0.25S"), Some(0.25));
        for bad in ["", "P", "PT", "1H", "PT1X", "PT-1H", "PTH", "P1.5D", "PT1H2", "xx"] {
            assert_eq!(secs(bad), None, "{bad}");
        }
    }

    #[test]
    fn values_are_checked_as_kafka_checks_them() {
        let config = BrokerConfig::default();
        let check = |k: &str, v: &str| {
            validate(&config, &BTreeMap::from([(k.to_string(), v.to_string())])).map_err(|e| e.message)
        };
        assert!(check("share.record.lock.duration.ms", "15000").is_ok());
        assert_eq!(
            check("share.record.lock.duration.ms", "100").unwrap_err(),
            "Invalid value 100 for configuration share.record.lock.duration.ms: Value must be at least 1000"
        );
        assert_eq!(
            check("share.record.lock.duration.ms", "5000").unwrap_err(),
            "share.record.lock.duration.ms must be in the range 15000 to 60000 inclusive."
        );
        assert_eq!(check("foo", "1").unwrap_err(), "Unknown group config name: foo");
        assert!(check("share.auto.offset.reset", "by_duration:PT1H").is_ok());
        assert!(check("share.auto.offset.reset", "EARLIEST").is_err());
        assert_eq!(
            check("streams.num.standby.replicas", "5").unwrap_err(),
            "streams.num.standby.replicas must be less than or equal to 2"
        );
        assert!(check("share.isolation.level", "read_committed").is_ok());
        assert!(check("share.isolation.level", "READ_COMMITTED").is_err());
    }
}
