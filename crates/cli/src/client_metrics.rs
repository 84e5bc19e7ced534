//! `brook client-metrics` (kafka-client-metrics): `--alter` a client metrics subscription
//! (KIP-714: `--metrics`, `--interval`, `--match`; an empty value resets one), `--describe` one or
//! all, `--list` them, `--delete` one, with Kafka's output lines. Subscriptions are CLIENT_METRICS
//! config resources: IncrementalAlterConfigs, DescribeConfigs and ListConfigResources.

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::{ApiKey, DescribeConfigsRequest, ListConfigResourcesRequest, ResponseKind};
use kafka_protocol::protocol::StrBytes;

use crate::ToolError;
use crate::args::{Opt, Parsed};
use crate::wire::{Wire, error_text};

pub const PURPOSE: &str = "Alter, describe, list or delete client metrics subscriptions (KIP-714).";

pub const OPTS: &[Opt] = &[
    Opt { name: "bootstrap-server", value: true, help: "the broker(s) to connect to (host:port,...)" },
    Opt { name: "command-config", value: true, help: "a properties file of client settings" },
    Opt { name: "alter", value: false, help: "set a subscription's --metrics, --interval and --match" },
    Opt { name: "describe", value: false, help: "a subscription's configs (--name), or every one's" },
    Opt { name: "list", value: false, help: "the subscriptions' names" },
    Opt { name: "delete", value: false, help: "delete the subscription --name" },
    Opt { name: "name", value: true, help: "the subscription" },
    Opt { name: "generate-name", value: false, help: "with --alter: a new UUID as the name" },
    Opt { name: "metrics", value: true, help: "metric name prefixes, e.g. org.apache.kafka.producer.; * for all" },
    Opt { name: "interval", value: true, help: "the push interval in milliseconds (100 to 3600000)" },
    Opt { name: "match", value: true, help: "which clients: client_id=regex,client_software_name=regex,..." },
];

/// Kafka's `ConfigResource.Type.CLIENT_METRICS`.
const CLIENT_METRICS: i8 = 16;
const SET: i8 = 0;
const DELETE: i8 = 1;
const KEYS: [&str; 3] = ["metrics", "interval.ms", "match"];

pub fn run(parsed: &Parsed) -> Result<(), ToolError> {
    let actions = ["alter", "delete", "describe", "list"];
    if actions.iter().filter(|a| parsed.has(a)).count() != 1 {
        return Err(ToolError::usage(
            "Command must include exactly one action: --alter, --delete, --describe or --list.",
        ));
    }
    let mut wire = Wire::connect(parsed)?;
    if parsed.has("alter") {
        alter(&mut wire, parsed)
    } else if parsed.has("delete") {
        let name = parsed
            .get("name")
            .ok_or_else(|| ToolError::usage("A client metrics resource name must be specified with --delete."))?;
        let ops: Vec<(&str, i8, Option<String>)> = KEYS.iter().map(|k| (*k, DELETE, None)).collect();
        change(&mut wire, name, &ops)?;
        println!("Deleted client metrics config for {name}.");
        Ok(())
    } else if parsed.has("describe") {
        let existing = names(&mut wire)?;
        let chosen = match parsed.get("name") {
            Some(name) => vec![name.to_string()],
            None => existing.clone(),
        };
        for name in chosen {
            if !existing.contains(&name) {
                println!("The client metric resource {name} doesn't exist and doesn't have dynamic config.");
                continue;
            }
            let configs = describe(&mut wire, &name)?;
            println!("Client metrics configs for {name} are:");
            for (key, value) in configs {
                println!("  {key}={value}");
            }
        }
        Ok(())
    } else {
        for name in names(&mut wire)? {
            println!("{name}");
        }
        Ok(())
    }
}

/// Each given option set, or reset when empty, as Kafka's tool does.
fn alter(wire: &mut Wire, parsed: &Parsed) -> Result<(), ToolError> {
    let name = match (parsed.get("name"), parsed.has("generate-name")) {
        (Some(name), false) => name.to_string(),
        (None, true) => uuid::Uuid::new_v4().to_string(),
        _ => return Err(ToolError::usage("One of --name or --generate-name must be specified with --alter.")),
    };
    if let Some(interval) = parsed.get("interval").filter(|i| !i.is_empty())
        && interval.parse::<i32>().is_err()
    {
        return Err(ToolError::usage("Invalid interval value. Enter an integer, or leave empty to reset."));
    }
    let ops: Vec<(&str, i8, Option<String>)> =
        [("metrics", "metrics"), ("interval.ms", "interval"), ("match", "match")]
            .into_iter()
            .filter_map(|(key, option)| {
                let value = parsed.get(option)?;
                Some(if value.is_empty() { (key, DELETE, None) } else { (key, SET, Some(value.to_string())) })
            })
            .collect();
    change(wire, &name, &ops)?;
    println!("Altered client metrics config for {name}.");
    Ok(())
}

fn change(wire: &mut Wire, name: &str, ops: &[(&str, i8, Option<String>)]) -> Result<(), ToolError> {
    wire.alter_configs(CLIENT_METRICS, name, ops)
}

/// The subscription's configs (its own values and the defaults of the rest), by key.
fn describe(wire: &mut Wire, name: &str) -> Result<Vec<(String, String)>, ToolError> {
    let request = DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(CLIENT_METRICS)
            .with_resource_name(StrBytes::from_string(name.to_string())),
    ]);
    let ResponseKind::DescribeConfigs(response) = wire.call(ApiKey::DescribeConfigs, 4, &request)? else {
        return Err(ToolError::failed("unexpected answer to DescribeConfigs"));
    };
    let result = response.results.first().ok_or_else(|| ToolError::failed("DescribeConfigs answered nothing"))?;
    if result.error_code != 0 {
        return Err(ToolError::failed(error_text(result.error_code, result.error_message.as_ref())));
    }
    let mut configs: Vec<(String, String)> = result
        .configs
        .iter()
        .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string()).unwrap_or_default()))
        .collect();
    configs.sort();
    Ok(configs)
}

/// The subscriptions' names (ListConfigResources for CLIENT_METRICS).
fn names(wire: &mut Wire) -> Result<Vec<String>, ToolError> {
    let request = ListConfigResourcesRequest::default().with_resource_types(vec![CLIENT_METRICS]);
    let ResponseKind::ListConfigResources(response) = wire.call(ApiKey::ListConfigResources, 1, &request)? else {
        return Err(ToolError::failed("unexpected answer to ListConfigResources"));
    };
    if response.error_code != 0 {
        return Err(ToolError::failed(error_text(response.error_code, None)));
    }
    let mut names: Vec<String> = response.config_resources.iter().map(|r| r.resource_name.to_string()).collect();
    names.sort();
    Ok(names)
}
