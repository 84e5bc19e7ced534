//! `brook configs` (kafka-configs): describe and change topic, broker and group configs, and users'
//! SCRAM credentials (`scram_users`) and client quotas (`client_quotas`).

use futures::executor::block_on;
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AdminClient, AdminOptions, ConfigSource, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;

use crate::ToolError;
use crate::args::{Opt, Parsed};
use crate::client::{self, TIMEOUT};
use crate::native::ConfigOp;
use crate::wire::{Wire, error_text};

/// Kafka's `ConfigResource.Type` of brokers and groups.
const BROKER: i8 = 4;
const GROUP: i8 = 32;

pub const PURPOSE: &str =
    "Describe or change the configs of topics, brokers and groups, users' SCRAM credentials, and client quotas.";

pub const OPTS: &[Opt] = &[
    Opt { name: "bootstrap-server", value: true, help: "the broker(s) to connect to (host:port,...)" },
    Opt { name: "command-config", value: true, help: "a properties file of client settings" },
    Opt { name: "describe", value: false, help: "show configs" },
    Opt { name: "alter", value: false, help: "change configs (with --add-config / --delete-config)" },
    Opt { name: "entity-type", value: true, help: "topics, brokers, groups, users or clients" },
    Opt { name: "entity-name", value: true, help: "the topic name, broker id, group id or user name" },
    Opt { name: "topic", value: true, help: "the same as --entity-type topics --entity-name <topic>" },
    Opt { name: "broker", value: true, help: "the same as --entity-type brokers --entity-name <id>" },
    Opt { name: "entity-default", value: false, help: "the default broker, user or client id (no --entity-name)" },
    Opt { name: "add-config", value: true, help: "k1=v1,k2=v2 to set" },
    Opt { name: "delete-config", value: true, help: "k1,k2 to remove (back to the default)" },
    Opt { name: "all", value: false, help: "with --describe: every config, not only the overrides" },
];

/// Which resource: ("topic", name), ("broker", id), ("group", id) or ("user", name).
fn entity(parsed: &Parsed) -> Result<(&'static str, Option<String>), ToolError> {
    if let Some(t) = parsed.get("topic") {
        return Ok(("topic", Some(t.to_string())));
    }
    if let Some(b) = parsed.get("broker") {
        return Ok(("broker", Some(b.to_string())));
    }
    let kind = match parsed.get("entity-type") {
        Some("topics") => "topic",
        Some("brokers") => "broker",
        Some("users") => "user",
        Some("clients") => "client",
        Some("groups") => "group",
        Some(other) => {
            return Err(ToolError::usage(format!(
                "--entity-type {other} is not supported: use topics, brokers, groups, users or clients"
            )));
        }
        None => return Err(ToolError::usage("One of --entity-type, --topic or --broker is required")),
    };
    Ok((kind, parsed.get("entity-name").map(str::to_string)))
}

fn spec<'a>(kind: &str, name: &'a str) -> Result<ResourceSpecifier<'a>, ToolError> {
    Ok(match kind {
        "topic" => ResourceSpecifier::Topic(name),
        _ => ResourceSpecifier::Broker(
            name.parse().map_err(|_| ToolError::usage(format!("'{name}' is not a broker id")))?,
        ),
    })
}

fn source_name(source: &ConfigSource) -> &'static str {
    match source {
        ConfigSource::DynamicTopic => "DYNAMIC_TOPIC_CONFIG",
        ConfigSource::DynamicBroker => "DYNAMIC_BROKER_CONFIG",
        ConfigSource::DynamicDefaultBroker => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        ConfigSource::StaticBroker => "STATIC_BROKER_CONFIG",
        ConfigSource::Default => "DEFAULT_CONFIG",
        _ => "UNKNOWN",
    }
}

pub fn run(parsed: &Parsed) -> Result<(), ToolError> {
    if parsed.has("describe") == parsed.has("alter") {
        return Err(ToolError::usage("Command must include exactly one action: --describe, --alter"));
    }
    let (kind, name) = entity(parsed)?;
    if kind == "user" || kind == "client" {
        return crate::client_quotas::run(parsed, kind, name.as_deref());
    }
    if parsed.has("entity-default") {
        if kind != "broker" || name.is_some() {
            return Err(ToolError::usage("--entity-default goes with --entity-type brokers and no --entity-name"));
        }
        return by_frames(parsed, BROKER, Some(String::new()));
    }
    if kind == "group" {
        return by_frames(parsed, GROUP, name);
    }
    let admin = client::admin(parsed)?;
    let names: Vec<String> = match (name, kind) {
        (Some(n), _) => vec![n],
        (None, "topic") => {
            let metadata = admin.inner().fetch_metadata(None, TIMEOUT).map_err(|e| ToolError::failed(e.to_string()))?;
            let mut all: Vec<String> = metadata.topics().iter().map(|t| t.name().to_string()).collect();
            all.sort();
            all
        }
        (None, _) => return Err(ToolError::usage("--entity-name (the broker id) is required for brokers")),
    };
    if parsed.has("alter") {
        let [name] = names.as_slice() else { return Err(ToolError::usage("--alter needs one entity")) };
        return alter(&admin, parsed, kind, name);
    }
    for name in &names {
        let current = describe(&admin, kind, name)?;
        let shown: Vec<&(String, String, ConfigSource, bool)> = current
            .iter()
            .filter(|(_, _, source, default)| {
                parsed.has("all") || !default && !matches!(source, ConfigSource::StaticBroker)
            })
            .collect();
        let label = if kind == "topic" { format!("topic {name}") } else { format!("broker {name}") };
        println!("{} configs for {label} are:", if parsed.has("all") { "All" } else { "Dynamic" });
        for (key, value, source, _) in shown {
            println!("  {key}={value} sensitive=false synonyms={{{}:{key}={value}}}", source_name(source));
        }
    }
    Ok(())
}

/// Kafka's `ConfigSource` ids, as DescribeConfigs sends them.
fn source_id_name(source: i8) -> &'static str {
    match source {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        8 => "DYNAMIC_GROUP_CONFIG",
        _ => "UNKNOWN",
    }
}

/// Resources librdkafka cannot name, sent as Kafka's frames: the brokers' default
/// (`--entity-default`: the dynamic configs every broker takes unless its own say otherwise,
/// the broker resource "") and groups (every group with configs of its own when no name is given).
fn by_frames(parsed: &Parsed, resource_type: i8, name: Option<String>) -> Result<(), ToolError> {
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    use kafka_protocol::messages::{
        ApiKey, DescribeConfigsRequest, IncrementalAlterConfigsRequest, ListConfigResourcesRequest, ResponseKind,
    };
    let mut wire = Wire::connect(parsed)?;
    let label =
        |name: &str| if resource_type == BROKER { "brokers' default".to_string() } else { format!("group {name}") };
    let names = match name {
        Some(name) => vec![name],
        None if parsed.has("alter") => return Err(ToolError::usage("--alter needs --entity-name (the group)")),
        None => {
            let request = ListConfigResourcesRequest::default().with_resource_types(vec![resource_type]);
            let ResponseKind::ListConfigResources(response) = wire.call(ApiKey::ListConfigResources, 1, &request)?
            else {
                return Err(ToolError::failed("unexpected answer to ListConfigResources"));
            };
            if response.error_code != 0 {
                return Err(ToolError::failed(error_text(response.error_code, None)));
            }
            response.config_resources.into_iter().map(|r| r.resource_name.to_string()).collect()
        }
    };
    if parsed.has("alter") {
        let configs = ops(parsed)?
            .into_iter()
            .map(|op| {
                let (key, op, value) = match op {
                    ConfigOp::Set(k, v) => (k, 0, Some(StrBytes::from_string(v))),
                    ConfigOp::Delete(k) => (k, 1, None),
                };
                AlterableConfig::default()
                    .with_name(StrBytes::from_string(key))
                    .with_config_operation(op)
                    .with_value(value)
            })
            .collect();
        let resource = AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(StrBytes::from_string(names[0].clone()))
            .with_configs(configs);
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![resource]);
        let ResponseKind::IncrementalAlterConfigs(response) =
            wire.call(ApiKey::IncrementalAlterConfigs, 1, &request)?
        else {
            return Err(ToolError::failed("unexpected answer to IncrementalAlterConfigs"));
        };
        if let Some(r) = response.responses.iter().find(|r| r.error_code != 0) {
            let why = error_text(r.error_code, r.error_message.as_ref());
            return Err(ToolError::failed(format!("the {}: {why}", label(&names[0]))));
        }
        match resource_type {
            BROKER => println!("Completed updating default config for brokers in the cluster."),
            _ => println!("Completed updating config for group {}.", names[0]),
        }
        return Ok(());
    }
    for name in names {
        let resource = DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(StrBytes::from_string(name.clone()));
        let request = DescribeConfigsRequest::default().with_include_synonyms(true).with_resources(vec![resource]);
        let ResponseKind::DescribeConfigs(response) = wire.call(ApiKey::DescribeConfigs, 1, &request)? else {
            return Err(ToolError::failed("unexpected answer to DescribeConfigs"));
        };
        let which = if parsed.has("all") { "All" } else { "Dynamic" };
        match resource_type {
            BROKER => println!("Default configs for brokers in the cluster are:"),
            _ => println!("{which} configs for group {name} are:"),
        }
        for result in response.results {
            if result.error_code != 0 {
                return Err(ToolError::failed(error_text(result.error_code, result.error_message.as_ref())));
            }
            let own = |source: i8| source == 3 || source == 8;
            for c in result.configs.iter().filter(|c| parsed.has("all") || own(c.config_source)) {
                let (key, value) = (c.name.as_str(), c.value.as_ref().map_or("null", |v| v.as_str()));
                let synonyms: Vec<String> = c
                    .synonyms
                    .iter()
                    .map(|s| {
                        let v = s.value.as_ref().map_or("null", |v| v.as_str());
                        format!("{}:{}={v}", source_id_name(s.source), s.name.as_str())
                    })
                    .collect();
                println!("  {key}={value} sensitive=false synonyms={{{}}}", synonyms.join(", "));
            }
        }
    }
    Ok(())
}

/// (key, value, source, is_default) of every config of one resource.
fn describe(
    admin: &AdminClient<DefaultClientContext>,
    kind: &str,
    name: &str,
) -> Result<Vec<(String, String, ConfigSource, bool)>, ToolError> {
    let results =
        block_on(admin.describe_configs(&[spec(kind, name)?], &AdminOptions::new().request_timeout(Some(TIMEOUT))))
            .map_err(|e| ToolError::failed(format!("cannot reach the cluster: {e}")))?;
    match results.into_iter().next() {
        Some(Ok(resource)) => Ok(resource
            .entries
            .into_iter()
            .map(|e| (e.name, e.value.unwrap_or_default(), e.source, e.is_default))
            .collect()),
        Some(Err(code)) => Err(ToolError::failed(format!("{kind} '{name}': {code}"))),
        None => Err(ToolError::failed("no answer to DescribeConfigs")),
    }
}

/// Applies `--add-config` and `--delete-config` with IncrementalAlterConfigs, as Kafka's
/// kafka-configs does: other overrides stay as they are.
fn alter(admin: &AdminClient<DefaultClientContext>, parsed: &Parsed, kind: &str, name: &str) -> Result<(), ToolError> {
    let ops = ops(parsed)?;
    crate::native::incremental_alter(admin.inner(), kind == "broker", name, &ops, TIMEOUT)
        .map_err(|e| ToolError::failed(format!("{kind} {name}: {e}")))?;
    println!("Completed updating config for {kind} {name}.");
    Ok(())
}

/// `--add-config` and `--delete-config` as operations.
fn ops(parsed: &Parsed) -> Result<Vec<ConfigOp>, ToolError> {
    if !parsed.has("add-config") && !parsed.has("delete-config") {
        return Err(ToolError::usage("--alter needs --add-config or --delete-config"));
    }
    let mut ops = Vec::new();
    for pair in parsed.get("add-config").unwrap_or_default().split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) =
            pair.split_once('=').ok_or_else(|| ToolError::usage(format!("--add-config: '{pair}' is not key=value")))?;
        ops.push(ConfigOp::Set(k.trim().to_string(), v.trim().to_string()));
    }
    for key in parsed.get("delete-config").unwrap_or_default().split(',').map(str::trim).filter(|k| !k.is_empty()) {
        ops.push(ConfigOp::Delete(key.to_string()));
    }
    Ok(ops)
}
