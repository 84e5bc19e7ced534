//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topics, brokers and groups.
//! Dynamic broker configs (a node id, or "" for every broker) are the broker keys of topic
//! configs' defaults, kept in the metadata; the others cannot be changed at run time. Group
//! configs are `group_config`'s.

use std::collections::BTreeMap;
use std::sync::Arc;

use brook_security::acl::{Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse as AlterResult;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse as IncrementalResult;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};

use super::{error_message, text};
use crate::authorization::Access;
use crate::broker::{ApiError, Broker};
use brook_telemetry::subscription::Invalid;

use crate::config::ALTER_LOG_DIRS_RATE;
use crate::group_config;
use crate::topic_config::{
    TOPIC_CONFIGS, TopicDefaults, config_type, default_value, documentation, topic_key, type_of,
};

/// Kafka's `ConfigResource.Type`.
const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const GROUP: i8 = 32;
const CLIENT_METRICS: i8 = 16;
/// Kafka's `ConfigSource`.
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const DYNAMIC_BROKER_CONFIG: i8 = 2;
const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;
const CLIENT_METRICS_CONFIG: i8 = 7;
const DYNAMIC_GROUP_CONFIG: i8 = 8;

/// One config as DescribeConfigs lists it.
struct Entry {
    key: String,
    /// `None` for a key whose default Kafka derives from another key.
    value: Option<String>,
    source: i8,
    /// Broker configs that cannot be changed at run time are read-only, as Kafka marks them.
    read_only: bool,
    /// Where the value could also come from, in precedence order: (key, value, source).
    synonyms: Vec<(String, String, i8)>,
    /// For a group config, its type and documentation (others are looked up by key).
    described: Option<(i8, &'static str)>,
}

/// Whether the client may do `operation` (DESCRIBE_CONFIGS or ALTER_CONFIGS) on a config
/// resource: a topic's own, a broker's on the cluster.
fn permitted(
    broker: &Broker,
    access: &Access,
    operation: Operation,
    resource_type: i8,
    name: &str,
) -> Result<(), ApiError> {
    let (allowed, code) = match resource_type {
        TOPIC => (access.allows(broker, operation, ResourceType::Topic, name), ResponseError::TopicAuthorizationFailed),
        GROUP => (access.allows(broker, operation, ResourceType::Group, name), ResponseError::GroupAuthorizationFailed),
        _ => (access.allows_cluster(broker, operation), ResponseError::ClusterAuthorizationFailed),
    };
    if allowed { Ok(()) } else { Err(ApiError::new(code, "")) }
}

pub(super) fn describe(
    broker: &Arc<Broker>,
    request: DescribeConfigsRequest,
    version: i16,
    access: &Access,
) -> DescribeConfigsResponse {
    let synonyms_wanted = request.include_synonyms;
    let documentation_wanted = request.include_documentation;
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let name = resource.resource_name.to_string();
            // No list, or an empty one, asks for every key (as Kafka reads it).
            let wanted = |key: &str| {
                resource
                    .configuration_keys
                    .as_ref()
                    .is_none_or(|keys| keys.is_empty() || keys.iter().any(|k| &**k == key))
            };
            let result = DescribeConfigsResult::default()
                .with_error_message(None)
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let permitted = permitted(broker, access, Operation::DescribeConfigs, resource.resource_type, &name);
            let entries: Result<Vec<Entry>, ApiError> = match resource.resource_type {
                _ if permitted.is_err() => permitted.map(|()| vec![]),
                TOPIC => topic_entries(broker, &name),
                BROKER => broker_entries(broker, &name),
                GROUP if name.is_empty() => {
                    Err(ApiError::new(ResponseError::InvalidRequest, "Group name must not be empty"))
                }
                GROUP => Ok(group_entries(broker, &name)),
                CLIENT_METRICS => Ok(client_metrics_entries(broker, &name)),
                _ => Err(ApiError::new(ResponseError::InvalidRequest, "unsupported resource type")),
            };
            match entries {
                Ok(entries) => result.with_configs(
                    entries
                        .into_iter()
                        .filter(|e| wanted(&e.key))
                        .map(|e| {
                            let mut entry = DescribeConfigsResourceResult::default()
                                .with_name(text(e.key.clone()))
                                .with_value(e.value.map(text))
                                .with_config_source(e.source)
                                .with_read_only(e.read_only);
                            if synonyms_wanted {
                                entry = entry.with_synonyms(
                                    e.synonyms
                                        .into_iter()
                                        .map(|(key, value, source)| {
                                            DescribeConfigsSynonym::default()
                                                .with_name(text(key))
                                                .with_value(Some(text(value)))
                                                .with_source(source)
                                        })
                                        .collect(),
                                );
                            }
                            if version >= 3 {
                                let (kind, doc) =
                                    e.described.unwrap_or_else(|| (type_of(&e.key), documentation(&e.key)));
                                entry = entry.with_config_type(kind);
                                if documentation_wanted {
                                    entry = entry.with_documentation(Some(text(doc.to_string())));
                                }
                            }
                            entry
                        })
                        .collect(),
                ),
                // Never null here, as Kafka's.
                Err(e) => result.with_error_code(e.code.code()).with_error_message(Some(text(e.message))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// Where a topic config's default comes from on this broker, in precedence order, as
/// synonyms (key, value, source): this broker's dynamic config, the cluster-wide one, then its
/// configuration (or the built-in default). The last is left out for the keys whose Kafka
/// default is derived from another key (`log.retention.ms` from `log.retention.hours`, ...)
/// when the configuration does not set them.
fn default_chain(broker: &Broker, key: &str, broker_key: &str) -> Vec<(String, String, i8)> {
    let mut chain = dynamic_chain(broker, broker_key);
    let c = &broker.config;
    let explicit = c.explicit.contains(broker_key);
    match DERIVED_DEFAULTS.iter().find(|(k, _)| *k == broker_key) {
        Some((_, from)) if !explicit => {
            // Kafka names the key the default derives from only below a dynamic value.
            if !chain.is_empty() {
                let value = match *from {
                    "log.retention.hours" => c.log.retention_ms / 3_600_000,
                    "log.roll.hours" => c.log.segment_ms / 3_600_000,
                    _ => i64::MAX,
                };
                let source = if c.explicit.contains(*from) { STATIC_BROKER_CONFIG } else { DEFAULT_CONFIG };
                chain.push((from.to_string(), value.to_string(), source));
            }
        }
        _ => {
            let source = if explicit { STATIC_BROKER_CONFIG } else { DEFAULT_CONFIG };
            chain.push((broker_key.to_string(), default_value(key, &TopicDefaults::of(c)), source));
        }
    }
    chain
}

/// A broker key's dynamic values, in precedence order: this broker's, then the cluster-wide one.
fn dynamic_chain(broker: &Broker, broker_key: &str) -> Vec<(String, String, i8)> {
    let image = broker.image();
    let own = broker.config.node_id.to_string();
    [(own.as_str(), DYNAMIC_BROKER_CONFIG), ("", DYNAMIC_DEFAULT_BROKER_CONFIG)]
        .into_iter()
        .filter_map(|(resource, source)| {
            let value = image.broker_configs.get(resource)?.get(broker_key)?;
            Some((broker_key.to_string(), value.clone(), source))
        })
        .collect()
}

/// Broker keys whose Kafka default is null, derived from another key (named second).
const DERIVED_DEFAULTS: &[(&str, &str)] = &[
    ("log.retention.ms", "log.retention.hours"),
    ("log.roll.ms", "log.roll.hours"),
    ("log.flush.interval.ms", "log.flush.scheduler.interval.ms"),
];

fn topic_entries(broker: &Broker, name: &str) -> Result<Vec<Entry>, ApiError> {
    describable_topic_name(name)?;
    // Kafka says nothing more (an empty message, not a null one).
    let topic = broker.topic(name).ok_or_else(|| ApiError::new(ResponseError::UnknownTopicOrPartition, ""))?;
    let defaults = broker.topic_defaults();
    Ok(TOPIC_CONFIGS
        .iter()
        .map(|(key, broker_key)| {
            let chain = default_chain(broker, key, broker_key);
            match topic.configs.get(*key) {
                Some(value) => Entry {
                    key: key.to_string(),
                    value: Some(value.clone()),
                    source: DYNAMIC_TOPIC_CONFIG,
                    read_only: false,
                    synonyms: std::iter::once((key.to_string(), value.clone(), DYNAMIC_TOPIC_CONFIG))
                        .chain(chain)
                        .collect(),
                    described: None,
                },
                None => Entry {
                    key: key.to_string(),
                    value: Some(default_value(key, &defaults)),
                    source: chain.first().map_or(DEFAULT_CONFIG, |d| d.2),
                    read_only: false,
                    synonyms: chain,
                    described: None,
                },
            }
        })
        .collect())
}

/// A broker resource names this broker, or is empty (the cluster default), with Kafka's
/// wording, which differs between DescribeConfigs (`describing`) and the changes.
fn this_broker(broker: &Broker, name: &str, describing: bool) -> Result<(), ApiError> {
    let invalid = |message: String| Err(ApiError::new(ResponseError::InvalidRequest, message));
    let id = broker.config.node_id;
    match name.parse::<i32>() {
        _ if name.is_empty() => Ok(()),
        Err(_) if describing => invalid(format!("Broker id must be an integer, but it is: {name}")),
        Err(_) => invalid(format!("Node id must be an integer, but it is: {name}")),
        Ok(n) if n == id => Ok(()),
        Ok(_) if describing => {
            invalid(format!("Unexpected broker id, expected {id} or empty string, but received {name}"))
        }
        Ok(_) => invalid(format!("Unexpected broker id, expected {id}, but received {name}")),
    }
}

/// DescribeConfigs' check of a topic resource's name (Kafka words it otherwise than CreateTopics).
fn describable_topic_name(name: &str) -> Result<(), ApiError> {
    let why = if name.is_empty() {
        "the empty string is not allowed".to_string()
    } else if name == "." || name == ".." {
        format!("'{name}' is not allowed")
    } else if name.len() > crate::broker::MAX_TOPIC_NAME_LEN {
        format!("the length of '{name}' is longer than the max allowed length {}", crate::broker::MAX_TOPIC_NAME_LEN)
    } else if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') {
        format!("'{name}' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'")
    } else {
        return Ok(());
    };
    Err(ApiError::new(ResponseError::InvalidTopicException, format!("Topic name is invalid: {why}")))
}

/// A group's configs: its own values, else the broker's (any group id has them, as in Kafka).
fn group_entries(broker: &Broker, name: &str) -> Vec<Entry> {
    let image = broker.image();
    group_config::describe(&broker.config, image.group_configs.get(name))
        .into_iter()
        .map(|d| {
            let broker_source = if d.broker_explicit { STATIC_BROKER_CONFIG } else { DEFAULT_CONFIG };
            let fallback = (d.broker_key.to_string(), d.broker_value, broker_source);
            let (source, synonyms) = if d.dynamic {
                (DYNAMIC_GROUP_CONFIG, vec![(d.key.to_string(), d.value.clone(), DYNAMIC_GROUP_CONFIG), fallback])
            } else {
                (broker_source, vec![fallback])
            };
            Entry {
                key: d.key.to_string(),
                value: Some(d.value),
                source,
                read_only: false,
                synonyms,
                described: Some((d.config_type, d.documentation)),
            }
        })
        .collect()
}

/// A client metrics subscription's three keys (any name has them, as in Kafka): its own values,
/// else the defaults.
fn client_metrics_entries(broker: &Broker, name: &str) -> Vec<Entry> {
    let own = broker.image().client_metrics_configs.get(name).cloned().unwrap_or_default();
    CLIENT_METRICS_KEYS
        .iter()
        .map(|&(key, kind, default, doc)| {
            let (value, source) = match own.get(key) {
                Some(v) => (v.clone(), CLIENT_METRICS_CONFIG),
                None => (default.to_string(), DEFAULT_CONFIG),
            };
            Entry {
                key: key.to_string(),
                synonyms: vec![(key.to_string(), value.clone(), source)],
                value: Some(value),
                source,
                read_only: false,
                described: Some((kind, doc)),
            }
        })
        .collect()
}

/// The CLIENT_METRICS keys: (key, type, default, documentation), as Kafka's ClientMetricsConfigs.
const CLIENT_METRICS_KEYS: [(&str, i8, &str, &str); 3] = [
    ("metrics", config_type::LIST, "", "Telemetry metric name prefix list"),
    ("interval.ms", config_type::INT, "300000", "Metrics push interval in milliseconds"),
    ("match", config_type::LIST, "", "Client match criteria"),
];

fn broker_entries(broker: &Broker, name: &str) -> Result<Vec<Entry>, ApiError> {
    this_broker(broker, name, true)?;
    if name.is_empty() {
        // The cluster-wide resource holds only its dynamic configs, as Kafka lists it.
        let image = broker.image();
        let configs = image.broker_configs.get("").cloned().unwrap_or_default();
        return Ok(configs
            .into_iter()
            .map(|(key, value)| Entry {
                synonyms: vec![(key.clone(), value.clone(), DYNAMIC_DEFAULT_BROKER_CONFIG)],
                key,
                value: Some(value),
                source: DYNAMIC_DEFAULT_BROKER_CONFIG,
                read_only: false,
                described: None,
            })
            .collect());
    }
    let c = &broker.config;
    let fixed: Vec<(String, Option<String>)> = vec![
        ("node.id".into(), Some(c.node_id.to_string())),
        ("num.partitions".into(), Some(c.num_partitions.to_string())),
        ("default.replication.factor".into(), Some(c.default_replication_factor.to_string())),
        ("auto.create.topics.enable".into(), Some(c.auto_create_topics_enable.to_string())),
        ("log.dirs".into(), Some(c.log_dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(","))),
        (
            "advertised.listeners".into(),
            Some(
                c.listeners
                    .iter()
                    .map(|l| format!("{}://{}:{}", l.name, l.advertised_host, l.advertised_port))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        ),
        ("log.flush.on.ack".into(), Some(c.log.flush_on_ack.to_string())),
    ];
    let mut entries: Vec<Entry> = fixed
        .into_iter()
        .map(|(key, value)| {
            let source = if c.explicit.contains(&key) { STATIC_BROKER_CONFIG } else { DEFAULT_CONFIG };
            Entry {
                synonyms: value.iter().map(|v| (key.clone(), v.clone(), source)).collect(),
                key,
                value,
                source,
                read_only: true,
                described: None,
            }
        })
        .collect();
    // Topic configs' defaults, which can be changed at run time.
    for (topic_key, broker_key) in TOPIC_CONFIGS {
        let chain = default_chain(broker, topic_key, broker_key);
        let (value, source) = chain.first().map_or((None, DEFAULT_CONFIG), |(_, v, s)| (Some(v.clone()), *s));
        entries.push(Entry {
            key: broker_key.to_string(),
            value,
            source,
            read_only: false,
            synonyms: chain,
            described: None,
        });
    }
    // The copy rate of replicas moving between log dirs: Kafka lists it only once set at run
    // time (it is not one of its broker configuration's keys).
    let chain = dynamic_chain(broker, ALTER_LOG_DIRS_RATE);
    if let Some((_, value, source)) = chain.first().cloned() {
        entries.push(Entry {
            key: ALTER_LOG_DIRS_RATE.to_string(),
            value: Some(value),
            source,
            read_only: false,
            synonyms: chain,
            described: None,
        });
    }
    Ok(entries)
}

pub(super) async fn alter(broker: &Arc<Broker>, request: AlterConfigsRequest, access: Access) -> AlterConfigsResponse {
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let configs: BTreeMap<String, String> =
            resource.configs.iter().filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string()))).collect();
        let (kind, name) = (resource.resource_type, &resource.resource_name);
        let outcome = match permitted(broker, &access, Operation::AlterConfigs, kind, name) {
            Ok(()) => change(broker, kind, name, request.validate_only, |_| configs).await,
            Err(e) => Err(e),
        };
        let response = AlterResult::default()
            .with_error_message(None)
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name);
        responses.push(match outcome {
            Ok(()) => response,
            Err(e) => response.with_error_code(e.code.code()).with_error_message(error_message(e)),
        });
    }
    AlterConfigsResponse::default().with_responses(responses)
}

/// Kafka's `AlterConfigOp.OpType`.
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

pub(super) async fn incremental_alter(
    broker: &Arc<Broker>,
    request: IncrementalAlterConfigsRequest,
    access: Access,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let ops: Vec<(String, i8, Option<String>)> = resource
            .configs
            .iter()
            .map(|c| (c.name.to_string(), c.config_operation, c.value.as_ref().map(|v| v.to_string())))
            .collect();
        let permitted =
            permitted(broker, &access, Operation::AlterConfigs, resource.resource_type, &resource.resource_name);
        let outcome = match permitted.and_then(|()| check_ops(&ops, resource.resource_type)) {
            Err(e) => Err(e),
            Ok(()) => {
                let kind = resource.resource_type;
                let defaults = broker.topic_defaults();
                let default = |key: &str| match kind {
                    BROKER => default_value(topic_key(key).unwrap_or(key), &defaults),
                    GROUP => group_config::default_of(&broker.config, key),
                    _ => default_value(key, &defaults),
                };
                change(broker, kind, &resource.resource_name, request.validate_only, |current| {
                    apply_ops(current, &ops, default)
                })
                .await
            }
        };
        let response = IncrementalResult::default()
            .with_error_message(None)
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name);
        responses.push(match outcome {
            Ok(()) => response,
            Err(e) => response.with_error_code(e.code.code()).with_error_message(error_message(e)),
        });
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

/// Kafka's checks of the operations themselves, before any resource is looked at.
fn check_ops(ops: &[(String, i8, Option<String>)], resource_type: i8) -> Result<(), ApiError> {
    for (key, op, value) in ops {
        match *op {
            SET if value.is_none() => {
                let message = format!("Null value not supported for : {key}");
                return Err(ApiError::new(ResponseError::InvalidRequest, message));
            }
            APPEND | SUBTRACT if key_type(resource_type, key) != config_type::LIST => {
                let name = if *op == APPEND { "APPEND" } else { "SUBTRACT" };
                let message = format!("Can't {name} to key {key} because its type is not LIST.");
                return Err(ApiError::new(ResponseError::InvalidConfig, message));
            }
            SET..=SUBTRACT => {}
            _ => return Err(ApiError::new(ResponseError::InvalidRequest, format!("unknown operation {op} for {key}"))),
        }
    }
    Ok(())
}

/// A key's type for APPEND/SUBTRACT. Kafka 4.4 looks group and client metrics keys up among
/// topic and broker keys, so it refuses both on every such key (list keys included).
fn key_type(resource_type: i8, key: &str) -> i8 {
    match resource_type {
        GROUP | CLIENT_METRICS => config_type::UNKNOWN,
        _ => type_of(key),
    }
}

/// SET/DELETE/APPEND/SUBTRACT on a resource's current configs (list values are
/// comma-separated, starting from the key's `default` when not set, as Kafka does).
fn apply_ops(
    current: &BTreeMap<String, String>,
    ops: &[(String, i8, Option<String>)],
    default: impl Fn(&str) -> String,
) -> BTreeMap<String, String> {
    let mut configs = current.clone();
    for (key, op, value) in ops {
        let value = value.clone().unwrap_or_default();
        match *op {
            SET => {
                configs.insert(key.clone(), value);
            }
            DELETE => {
                configs.remove(key);
            }
            _ => {
                let base = configs.get(key).cloned().unwrap_or_else(|| default(key));
                let mut items: Vec<String> =
                    base.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
                for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if *op == APPEND && !items.iter().any(|i| i == item) {
                        items.push(item.to_string());
                    } else if *op == SUBTRACT {
                        items.retain(|i| i != item);
                    }
                }
                configs.insert(key.clone(), items.join(","));
            }
        }
    }
    configs
}

async fn change(
    broker: &Arc<Broker>,
    resource_type: i8,
    name: &str,
    validate_only: bool,
    new_configs: impl FnOnce(&BTreeMap<String, String>) -> BTreeMap<String, String>,
) -> Result<(), ApiError> {
    match resource_type {
        TOPIC => {
            let topic = broker.topic(name).ok_or_else(|| {
                ApiError::new(ResponseError::UnknownTopicOrPartition, format!("The topic '{name}' does not exist."))
            })?;
            broker.set_topic_configs(name, new_configs(&topic.configs), validate_only).await
        }
        BROKER => {
            this_broker(broker, name, false)?;
            let current = broker.image().broker_configs.get(name).cloned().unwrap_or_default();
            broker.set_broker_configs(name, new_configs(&current), validate_only).await
        }
        GROUP if name.is_empty() => {
            Err(ApiError::new(ResponseError::InvalidRequest, "Default group resources are not allowed."))
        }
        GROUP => {
            let current = broker.image().group_configs.get(name).cloned().unwrap_or_default();
            broker.set_group_configs(name, new_configs(&current), validate_only).await
        }
        CLIENT_METRICS => {
            let current = broker.image().client_metrics_configs.get(name).cloned().unwrap_or_default();
            let configs = new_configs(&current);
            brook_telemetry::subscription::validate(name, &configs).map_err(|invalid| match invalid {
                Invalid::Request(m) => ApiError::new(ResponseError::InvalidRequest, m),
                Invalid::Config(m) => ApiError::new(ResponseError::InvalidConfig, m),
            })?;
            broker.set_client_metrics_configs(name, configs, validate_only).await
        }
        _ => Err(ApiError::new(ResponseError::InvalidRequest, "unsupported resource type")),
    }
}
