//! `brook configs` (kafka-configs): describe and change topic and broker configs.

use futures::executor::block_on;
use rdkafka::admin::{AdminClient, AdminOptions, ConfigSource, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;

use crate::ToolError;
use crate::args::{Opt, Parsed};
use crate::client::{self, TIMEOUT};
use crate::native::ConfigOp;

pub const PURPOSE: &str = "Describe or change the configs of topics and brokers.";

pub const OPTS: &[Opt] = &[
    Opt { name: "bootstrap-server", value: true, help: "the broker(s) to connect to (host:port,...)" },
    Opt { name: "command-config", value: true, help: "a properties file of client settings" },
    Opt { name: "describe", value: false, help: "show configs" },
    Opt { name: "alter", value: false, help: "change configs (with --add-config / --delete-config)" },
    Opt { name: "entity-type", value: true, help: "topics or brokers" },
    Opt { name: "entity-name", value: true, help: "the topic name or broker id" },
    Opt { name: "topic", value: true, help: "the same as --entity-type topics --entity-name <topic>" },
    Opt { name: "broker", value: true, help: "the same as --entity-type brokers --entity-name <id>" },
    Opt { name: "add-config", value: true, help: "k1=v1,k2=v2 to set" },
    Opt { name: "delete-config", value: true, help: "k1,k2 to remove (back to the default)" },
    Opt { name: "all", value: false, help: "with --describe: every config, not only the overrides" },
];

/// Which resource: ("topic", name) or ("broker", id).
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
        Some(other) => {
            return Err(ToolError::usage(format!("--entity-type {other} is not supported: use topics or brokers")));
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
    crate::native::incremental_alter(admin.inner(), kind == "broker", name, &ops, TIMEOUT)
        .map_err(|e| ToolError::failed(format!("{kind} {name}: {e}")))?;
    println!("Completed updating config for {kind} {name}.");
    Ok(())
}
