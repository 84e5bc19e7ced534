//! Topic-level configs: which keys exist, how they are validated, their defaults (from the
//! broker's settings), and how they become a partition's `LogConfig`.

use std::collections::BTreeMap;

use brook_log::{LogConfig, TimestampType};
use kafka_protocol::error::ResponseError;

use crate::broker::ApiError;
use crate::config::{BrokerConfig, parse_timestamp_type};

/// The topic configs Brook knows, with the broker key each one's default comes from.
pub const TOPIC_CONFIGS: &[(&str, &str)] = &[
    ("cleanup.policy", "log.cleanup.policy"),
    ("compression.type", "compression.type"),
    ("delete.retention.ms", "log.cleaner.delete.retention.ms"),
    ("flush.messages", "log.flush.interval.messages"),
    ("flush.ms", "log.flush.interval.ms"),
    ("index.interval.bytes", "log.index.interval.bytes"),
    ("max.message.bytes", "message.max.bytes"),
    ("message.timestamp.after.max.ms", "log.message.timestamp.after.max.ms"),
    ("message.timestamp.before.max.ms", "log.message.timestamp.before.max.ms"),
    ("message.timestamp.type", "log.message.timestamp.type"),
    ("min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio"),
    ("min.insync.replicas", "min.insync.replicas"),
    ("retention.bytes", "log.retention.bytes"),
    ("retention.ms", "log.retention.ms"),
    ("segment.bytes", "log.segment.bytes"),
    ("segment.ms", "log.roll.ms"),
    ("unclean.leader.election.enable", "unclean.leader.election.enable"),
];

/// The topic key whose default broker key `broker_key` is.
pub fn topic_key(broker_key: &str) -> Option<&'static str> {
    TOPIC_CONFIGS.iter().find(|(_, b)| *b == broker_key).map(|(t, _)| *t)
}

/// What topic configs default to on a broker: its log settings and the two defaults kept
/// outside them, from its configuration with its dynamic broker configs over it.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicDefaults {
    pub log: LogConfig,
    pub min_insync_replicas: i32,
    pub unclean_leader_election: bool,
}

impl TopicDefaults {
    /// The broker's own settings, from its configuration.
    pub fn of(config: &BrokerConfig) -> TopicDefaults {
        TopicDefaults {
            log: config.log.clone(),
            min_insync_replicas: config.replica.min_insync_replicas,
            unclean_leader_election: config.elections.unclean,
        }
    }

    /// With dynamic broker configs (broker keys, validated when set) applied in order: the
    /// cluster-wide ones, then the broker's own.
    pub fn with_dynamic<'a>(mut self, layers: impl IntoIterator<Item = &'a BTreeMap<String, String>>) -> TopicDefaults {
        for layer in layers {
            let as_topic: BTreeMap<String, String> =
                layer.iter().filter_map(|(k, v)| Some((topic_key(k)?.to_string(), v.clone()))).collect();
            self.log = apply(&self.log, &as_topic);
            if let Some(v) = as_topic.get("min.insync.replicas").and_then(|v| v.trim().parse().ok()) {
                self.min_insync_replicas = v;
            }
            if let Some(v) = as_topic.get("unclean.leader.election.enable") {
                self.unclean_leader_election = v.trim().eq_ignore_ascii_case("true");
            }
        }
        self
    }
}

/// Kafka's `ConfigEntry.ConfigType` ids, as DescribeConfigs v3+ reports them.
pub mod config_type {
    pub const UNKNOWN: i8 = 0;
    pub const BOOLEAN: i8 = 1;
    pub const STRING: i8 = 2;
    pub const INT: i8 = 3;
    pub const LONG: i8 = 5;
    pub const DOUBLE: i8 = 6;
    pub const LIST: i8 = 7;
}

/// The type Kafka gives a topic config (by its topic key or its broker key) or a broker
/// config Brook reports.
pub fn type_of(key: &str) -> i8 {
    use config_type::*;
    match key {
        "cleanup.policy" | "log.cleanup.policy" | "log.dirs" | "advertised.listeners" | "listeners" => LIST,
        "compression.type" | "message.timestamp.type" | "log.message.timestamp.type" => STRING,
        "unclean.leader.election.enable" | "auto.create.topics.enable" | "log.flush.on.ack" => BOOLEAN,
        "min.cleanable.dirty.ratio" | "log.cleaner.min.cleanable.ratio" => DOUBLE,
        "index.interval.bytes"
        | "log.index.interval.bytes"
        | "max.message.bytes"
        | "message.max.bytes"
        | "min.insync.replicas"
        | "segment.bytes"
        | "internal.segment.bytes"
        | "log.segment.bytes"
        | "node.id"
        | "num.partitions"
        | "default.replication.factor" => INT,
        "delete.retention.ms"
        | "log.cleaner.delete.retention.ms"
        | "flush.messages"
        | "log.flush.interval.messages"
        | "flush.ms"
        | "log.flush.interval.ms"
        | "message.timestamp.after.max.ms"
        | "log.message.timestamp.after.max.ms"
        | "message.timestamp.before.max.ms"
        | "log.message.timestamp.before.max.ms"
        | "retention.bytes"
        | "log.retention.bytes"
        | "retention.ms"
        | "log.retention.ms"
        | "segment.ms"
        | "log.roll.ms" => LONG,
        _ => UNKNOWN,
    }
}

/// One line on what a config does, for DescribeConfigs' `include_documentation` (a topic key
/// and its broker default key share it).
pub fn documentation(key: &str) -> &'static str {
    match key {
        "cleanup.policy" | "log.cleanup.policy" => {
            "What happens to old segments: delete them past retention, compact them to the latest value per key, or both."
        }
        "compression.type" => "The codec batches are stored with; `producer` keeps the codec each producer chose.",
        "delete.retention.ms" | "log.cleaner.delete.retention.ms" => {
            "How long compaction keeps a tombstone, so that consumers reading from the start still see the delete."
        }
        "flush.messages" | "log.flush.interval.messages" => {
            "Records appended before the log is forced to disk (besides the sync acks=all writes wait for)."
        }
        "flush.ms" | "log.flush.interval.ms" => {
            "Milliseconds a record may wait in memory before the log is forced to disk."
        }
        "index.interval.bytes" | "log.index.interval.bytes" => "Bytes of log between two entries of the offset index.",
        "max.message.bytes" | "message.max.bytes" => "The largest record batch the topic accepts, after compression.",
        "message.timestamp.after.max.ms" | "log.message.timestamp.after.max.ms" => {
            "How far into the future a CreateTime timestamp may lie before the batch is refused."
        }
        "message.timestamp.before.max.ms" | "log.message.timestamp.before.max.ms" => {
            "How far in the past a CreateTime timestamp may lie before the batch is refused."
        }
        "message.timestamp.type" | "log.message.timestamp.type" => {
            "Whether records keep the producer's timestamp (CreateTime) or get the broker's (LogAppendTime)."
        }
        "min.cleanable.dirty.ratio" | "log.cleaner.min.cleanable.ratio" => {
            "The share of a compacted log not yet compacted that makes it due for compaction."
        }
        "min.insync.replicas" => {
            "In-sync replicas an acks=all write needs, else it is refused with NOT_ENOUGH_REPLICAS."
        }
        "retention.bytes" | "log.retention.bytes" => {
            "The size a partition's log may reach before its oldest segments go (-1: no limit)."
        }
        "retention.ms" | "log.retention.ms" => "How long a segment is kept after its newest record (-1: forever).",
        "segment.bytes" | "log.segment.bytes" => "The size at which a log starts a new segment file.",
        "segment.ms" | "log.roll.ms" => "The age at which a log starts a new segment file even if it is not full.",
        "unclean.leader.election.enable" => {
            "Whether a replica out of the ISR may become leader when no in-sync replica is left, losing what it lacks."
        }
        "node.id" => "This node's id in the cluster.",
        "num.partitions" => "The partitions of a topic created without a count.",
        "default.replication.factor" => "The replicas of a topic created without a replication factor.",
        "auto.create.topics.enable" => "Whether a topic asked for by Metadata or produced to is created when missing.",
        "log.dirs" => "The directories partitions are stored in.",
        "advertised.listeners" => "The addresses clients are told to connect to.",
        "log.flush.on.ack" => {
            "Brook: acks=all writes are fdatasync'd (with a group commit) before they are acknowledged."
        }
        _ => "",
    }
}

/// Checks a set of topic configs as CreateTopics and AlterConfigs receive them.
pub fn validate(configs: &BTreeMap<String, String>) -> Result<(), ApiError> {
    for (key, value) in configs {
        validate_one(key, value)?;
    }
    Ok(())
}

/// Kafka 4.4's validator for one topic config, with its messages. Besides the described
/// keys, Kafka accepts `internal.segment.bytes`: it overrides `segment.bytes` without its
/// 1 MiB minimum, for tests that want small segments.
fn validate_one(key: &str, value: &str) -> Result<(), ApiError> {
    match refusal(key, value) {
        Refusal::None => Ok(()),
        Refusal::Unknown => {
            Err(ApiError::new(ResponseError::InvalidConfig, format!("Unknown topic config name: {key}")))
        }
        Refusal::Value(shown, reason) => Err(ApiError::new(
            ResponseError::InvalidConfig,
            format!("Invalid value {shown} for configuration {key}: {reason}"),
        )),
    }
}

/// Kafka's answer to a dynamic broker config (a broker key) set to `value`: the topic key's
/// validator, but INVALID_REQUEST as Kafka answers for brokers; keys that are not the default
/// of a topic config cannot be changed at run time.
pub fn validate_dynamic_broker(key: &str, value: &str) -> Result<(), ApiError> {
    let refused = match topic_key(key) {
        None if key == crate::config::ALTER_LOG_DIRS_RATE => match value.trim().parse::<i64>() {
            Ok(rate) if rate >= 1 => Ok(()),
            Ok(_) => Err(format!("Invalid value {value} for configuration {key}: Value must be at least 1")),
            Err(_) => Err(format!("Invalid value {value} for configuration {key}: Not a number of type LONG")),
        },
        None => Err(format!("Cannot update these configs dynamically: [{key}]")),
        Some(topic_key) => match refusal(topic_key, value) {
            Refusal::Value(shown, reason) => Err(format!("Invalid value {shown} for configuration {key}: {reason}")),
            Refusal::None | Refusal::Unknown => Ok(()),
        },
    };
    refused.map_err(|message| ApiError::new(ResponseError::InvalidRequest, message))
}

/// Why a topic config's value is refused.
enum Refusal {
    None,
    Unknown,
    /// The value as shown, and the reason.
    Value(String, String),
}

fn refusal(key: &str, value: &str) -> Refusal {
    let invalid = |shown: &str, reason: &str| Err((shown.to_string(), reason.to_string()));
    let trimmed = value.trim();
    // A number of the key's type (Kafka's INT or LONG) within `min..`.
    let number = |min: i64| {
        let parsed = if type_of(key) == config_type::INT {
            trimmed.parse::<i32>().map(i64::from).map_err(|_| "Not a number of type INT")
        } else {
            trimmed.parse::<i64>().map_err(|_| "Not a number of type LONG")
        };
        match parsed {
            Ok(v) if v >= min => Ok(()),
            Ok(_) => invalid(value, &format!("Value must be at least {min}")),
            Err(reason) => invalid(value, reason),
        }
    };
    let checked: Result<(), (String, String)> = match key {
        // A list: each entry is checked and the first bad one named; empty means neither
        // deletion nor compaction (Kafka 4).
        "cleanup.policy" => match trimmed.split(',').map(str::trim).find(|p| !["compact", "delete"].contains(p)) {
            Some(bad) if !trimmed.is_empty() => invalid(bad, "String must be one of: compact, delete"),
            _ => Ok(()),
        },
        "min.cleanable.dirty.ratio" => match trimmed.parse::<f64>() {
            // Kafka accepts NaN (its range check never fails on it); Brook refuses it.
            Ok(v) if v.is_nan() => invalid(value, "Not a number of type DOUBLE"),
            Ok(v) if v < 0.0 => invalid(value, "Value must be at least 0"),
            Ok(v) if v > 1.0 => invalid(value, "Value must be no more than 1"),
            Ok(_) => Ok(()),
            Err(_) => invalid(value, "Not a number of type DOUBLE"),
        },
        "compression.type" => match trimmed {
            "producer" | "uncompressed" | "gzip" | "snappy" | "lz4" | "zstd" => Ok(()),
            _ => invalid(value, "String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"),
        },
        "message.timestamp.type" => parse_timestamp_type(key, value)
            .map(|_| ())
            .or_else(|_| invalid(value, "String must be one of: CreateTime, LogAppendTime")),
        "unclean.leader.election.enable" => match trimmed.to_ascii_lowercase().as_str() {
            "true" | "false" => Ok(()),
            _ => invalid(value, "Expected value to be either true or false"),
        },
        "retention.bytes" => number(i64::MIN),
        "retention.ms" => number(-1),
        "internal.segment.bytes" => number(i64::from(i32::MIN)),
        "segment.bytes" => number(1024 * 1024),
        "max.message.bytes"
        | "index.interval.bytes"
        | "delete.retention.ms"
        | "flush.ms"
        | "message.timestamp.after.max.ms"
        | "message.timestamp.before.max.ms" => number(0),
        "segment.ms" | "min.insync.replicas" | "flush.messages" => number(1),
        _ => return Refusal::Unknown,
    };
    match checked {
        Ok(()) => Refusal::None,
        Err((shown, reason)) => Refusal::Value(shown, reason),
    }
}

/// The broker default of a topic config, as DescribeConfigs shows it.
pub fn default_value(key: &str, defaults: &TopicDefaults) -> String {
    let log = &defaults.log;
    match key {
        "cleanup.policy" => match (log.cleanup_compact, log.cleanup_delete) {
            (true, true) => "compact,delete",
            (true, false) => "compact",
            _ => "delete",
        }
        .into(),
        "min.cleanable.dirty.ratio" => log.min_cleanable_dirty_ratio.to_string(),
        "compression.type" => "producer".into(),
        "delete.retention.ms" => log.delete_retention_ms.to_string(),
        "flush.messages" => clamp_long(log.flush_messages),
        "flush.ms" => log.flush_ms.to_string(),
        "index.interval.bytes" => log.index_interval_bytes.to_string(),
        "max.message.bytes" => log.max_message_bytes.to_string(),
        "message.timestamp.after.max.ms" => log.message_timestamp_after_max_ms.to_string(),
        "message.timestamp.before.max.ms" => log.message_timestamp_before_max_ms.to_string(),
        "message.timestamp.type" => match log.message_timestamp_type {
            TimestampType::CreateTime => "CreateTime".into(),
            TimestampType::LogAppendTime => "LogAppendTime".into(),
        },
        "min.insync.replicas" => defaults.min_insync_replicas.to_string(),
        "retention.bytes" => log.retention_bytes.to_string(),
        "retention.ms" => log.retention_ms.to_string(),
        "segment.bytes" => log.segment_bytes.to_string(),
        "segment.ms" => log.segment_ms.to_string(),
        "unclean.leader.election.enable" => defaults.unclean_leader_election.to_string(),
        _ => String::new(),
    }
}

fn clamp_long(value: u64) -> String {
    value.min(i64::MAX as u64).to_string()
}

/// The broker's log defaults with a topic's overrides applied. Values were validated when set.
pub fn apply(defaults: &LogConfig, configs: &BTreeMap<String, String>) -> LogConfig {
    let mut log = defaults.clone();
    for (key, value) in configs {
        let value = value.trim();
        match key.as_str() {
            "cleanup.policy" => {
                log.cleanup_delete = value.split(',').any(|p| p.trim() == "delete");
                log.cleanup_compact = value.split(',').any(|p| p.trim() == "compact");
            }
            "delete.retention.ms" => log.delete_retention_ms = value.parse().unwrap_or(log.delete_retention_ms),
            "min.cleanable.dirty.ratio" => {
                log.min_cleanable_dirty_ratio = value.parse().unwrap_or(log.min_cleanable_dirty_ratio)
            }
            "retention.ms" => log.retention_ms = value.parse().unwrap_or(log.retention_ms),
            "retention.bytes" => log.retention_bytes = value.parse().unwrap_or(log.retention_bytes),
            "segment.bytes" => log.segment_bytes = value.parse().unwrap_or(log.segment_bytes),
            "segment.ms" => log.segment_ms = value.parse().unwrap_or(log.segment_ms),
            "max.message.bytes" => log.max_message_bytes = value.parse().unwrap_or(log.max_message_bytes),
            "index.interval.bytes" => log.index_interval_bytes = value.parse().unwrap_or(log.index_interval_bytes),
            "flush.messages" => log.flush_messages = value.parse().unwrap_or(log.flush_messages),
            "flush.ms" => log.flush_ms = value.parse().unwrap_or(log.flush_ms),
            "message.timestamp.before.max.ms" => {
                log.message_timestamp_before_max_ms = value.parse().unwrap_or(log.message_timestamp_before_max_ms)
            }
            "message.timestamp.after.max.ms" => {
                log.message_timestamp_after_max_ms = value.parse().unwrap_or(log.message_timestamp_after_max_ms)
            }
            "message.timestamp.type" => {
                log.message_timestamp_type = parse_timestamp_type(key, value).unwrap_or(log.message_timestamp_type)
            }
            _ => {}
        }
    }
    // Kafka's internal override wins over segment.bytes whatever the order; the log keeps a
    // segment at least one batch header long.
    if let Some(bytes) = configs.get("internal.segment.bytes").and_then(|v| v.trim().parse::<u32>().ok()) {
        log.segment_bytes = bytes;
    }
    log
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Valid configs pass and change the log settings; bad ones get INVALID_CONFIG.
    #[test]
    fn validate_and_apply() {
        let mut configs = BTreeMap::new();
        configs.insert("retention.ms".to_string(), "60000".to_string());
        configs.insert("segment.bytes".to_string(), "1048576".to_string());
        configs.insert("message.timestamp.type".to_string(), "LogAppendTime".to_string());
        validate(&configs).expect("valid");
        let log = apply(&LogConfig::default(), &configs);
        assert_eq!(log.retention_ms, 60_000);
        assert_eq!(log.segment_bytes, 1 << 20);
        assert_eq!(log.message_timestamp_type, TimestampType::LogAppendTime);
        for (key, value) in [
            ("cleanup.policy", "shred"),
            ("min.cleanable.dirty.ratio", "1.5"),
            ("retention.ms", "-2"),
            ("segment.bytes", "3000000000"),
            ("segment.bytes", "1048575"),
            ("flush.messages", "0"),
            ("no.such.config", "1"),
            ("compression.type", "brotli"),
        ] {
            let one = BTreeMap::from([(key.to_string(), value.to_string())]);
            assert_eq!(validate(&one).expect_err(key).code, ResponseError::InvalidConfig, "{key}={value}");
        }
    }

    /// Dynamic broker configs apply in order (the cluster's, then the broker's own), only
    /// through the broker keys of topic configs; other keys cannot be changed at run time, and
    /// bad values are refused with INVALID_REQUEST naming the broker key.
    #[test]
    fn dynamic_broker_configs() {
        let cluster = BTreeMap::from([
            ("log.retention.ms".to_string(), "7200000".to_string()),
            ("min.insync.replicas".to_string(), "2".to_string()),
        ]);
        let own = BTreeMap::from([("log.retention.ms".to_string(), "3600000".to_string())]);
        let defaults = TopicDefaults::of(&BrokerConfig::default()).with_dynamic([&cluster, &own]);
        assert_eq!(defaults.log.retention_ms, 3_600_000);
        assert_eq!(defaults.min_insync_replicas, 2);
        assert_eq!(default_value("retention.ms", &defaults), "3600000");
        assert_eq!(default_value("min.insync.replicas", &defaults), "2");

        validate_dynamic_broker("log.segment.bytes", "2000000").expect("dynamic");
        for (key, value, message) in [
            (
                "log.segment.bytes",
                "100",
                "Invalid value 100 for configuration log.segment.bytes: Value must be at least 1048576",
            ),
            ("log.retention.hours", "5", "Cannot update these configs dynamically: [log.retention.hours]"),
            ("no.such.key", "1", "Cannot update these configs dynamically: [no.such.key]"),
        ] {
            let e = validate_dynamic_broker(key, value).expect_err(key);
            assert_eq!((e.code, e.message.as_str()), (ResponseError::InvalidRequest, message));
        }
    }
}
