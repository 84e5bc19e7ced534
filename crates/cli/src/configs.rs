//! `brook configs` (kafka-configs): describe and change topic and broker configs, and users'
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

/// Kafka's `ConfigResource.Type` of brokers.
const BROKER: i8 = 4;

pub const PURPOSE: &str =
    "Describe or change the configs of topics and brokers, users' SCRAM credentials, and client quotas.";

pub const OPTS: &[Opt] = &[
    Opt { name: "bootstrap-server", value: true, help: "the broker(s) to connect to (host:port,...)" },
    Opt { name: "command-config", value: true, help: "a properties file of client settings" },
    Opt { name: "describe", value: false, help: "show configs" },
    Opt { name: "alter", value: false, help: "change configs (with --add-config / --delete-config)" },
    Opt { name: "entity-type", value: true, help: "topics, brokers, users or clients" },
    Opt { name: "entity-name", value: true, help: "the topic name, broker id or user name" },
    Opt { name: "topic", value: true, help: "the same as --entity-type topics --entity-name <topic>" },
    Opt { name: "broker", value: true, help: "the same as --entity-type brokers --entity-name <id>" },
    Opt { name: "entity-default", value: false, help: "the default broker, user or client id (no --entity-name)" },
    Opt { name: "add-config", value: true, help: "k1=v1,k2=v2 to set" },
    Opt { name: "delete-config", value: true, help: "k1,k2 to remove (back to the default)" },
    Opt { name: "all", value: false, help: "with --describe: every config, not only the overrides" },
];

/// Which resource: ("topic", name), ("broker", id) or ("user", name).
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
        Some(other) => {
            return Err(ToolError::usage(format!(
                "--entity-type {other} is not supported: use topics, brokers, users or clients"
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
        return cluster_default(parsed);
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

/// `--entity-default`: the dynamic configs every broker takes unless its own say otherwise.
/// Sent as Kafka's frames: librdkafka has no way to name the broker resource "".
fn cluster_default(parsed: &Parsed) -> Result<(), ToolError> {
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    use kafka_protocol::messages::{ApiKey, DescribeConfigsRequest, IncrementalAlterConfigsRequest, ResponseKind};
    let mut wire = Wire::connect(parsed)?;
    let all_brokers = StrBytes::from_static_str("");
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
            .with_resource_type(BROKER)
            .with_resource_name(all_brokers)
            .with_configs(configs);
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![resource]);
        let ResponseKind::IncrementalAlterConfigs(response) =
            wire.call(ApiKey::IncrementalAlterConfigs, 1, &request)?
        else {
            return Err(ToolError::failed("unexpected answer to IncrementalAlterConfigs"));
        };
        if let Some(r) = response.responses.iter().find(|r| r.error_code != 0) {
            let why = error_text(r.error_code, r.error_message.as_ref());
            return Err(ToolError::failed(format!("the brokers' default: {why}")));
        }
        println!("Completed updating default config for brokers in the cluster.");
        return Ok(());
    }
    let resource = DescribeConfigsResource::default().with_resource_type(BROKER).with_resource_name(all_brokers);
    let request = DescribeConfigsRequest::default().with_resources(vec![resource]);
    let ResponseKind::DescribeConfigs(response) = wire.call(ApiKey::DescribeConfigs, 1, &request)? else {
        return Err(ToolError::failed("unexpected answer to DescribeConfigs"));
    };
    println!("Default configs for brokers in the cluster are:");
    for result in response.results {
        if result.error_code != 0 {
            return Err(ToolError::failed(error_text(result.error_code, result.error_message.as_ref())));
        }
        for c in result.configs {
            let (key, value) = (c.name.as_str(), c.value.as_ref().map_or("null", |v| v.as_str()));
            println!("  {key}={value} sensitive=false synonyms={{DYNAMIC_DEFAULT_BROKER_CONFIG:{key}={value}}}");
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
