//! `brook configs --entity-type users|clients`: client quotas, as kafka-configs manages them
//! (AlterClientQuotas and DescribeClientQuotas), beside users' SCRAM credentials
//! (`scram_users`), which the same command line may name.

use brook_security::quota::{ENFORCED, NOT_ENFORCED};
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::{
    AlterClientQuotasRequest, ApiKey, DescribeClientQuotasRequest, ResponseKind, alter_client_quotas_request,
};
use kafka_protocol::protocol::StrBytes;

use crate::ToolError;
use crate::args::Parsed;
use crate::scram_users::{self, split_outside_brackets};
use crate::wire::{Wire, error_text};

/// Whether `key` is a client quota key (else, for users, a SCRAM mechanism).
pub(crate) fn is_quota_key(key: &str) -> bool {
    let key = key.trim();
    ENFORCED.contains(&key) || NOT_ENFORCED.contains(&key)
}

/// `kind` is "user" or "client"; `name` `None` with `--entity-default` is the default entity.
pub(crate) fn run(parsed: &Parsed, kind: &str, name: Option<&str>) -> Result<(), ToolError> {
    let default = parsed.has("entity-default");
    if default && name.is_some() {
        return Err(ToolError::usage("--entity-default and --entity-name cannot be used together"));
    }
    let entity_type = if kind == "user" { "user" } else { "client-id" };
    if parsed.has("describe") {
        if kind == "user" && !default {
            scram_users::run(parsed, name)?;
        }
        return describe(&mut Wire::connect(parsed)?, entity_type, name, default);
    }
    let name = match (name, default) {
        (Some(n), _) => Some(n),
        (None, true) => None,
        (None, false) => return Err(ToolError::usage("--alter needs --entity-name or --entity-default")),
    };
    let added: Vec<(String, f64)> = split_outside_brackets(parsed.get("add-config").unwrap_or_default())
        .into_iter()
        .filter_map(|entry| {
            let (key, value) = entry.split_once('=')?;
            is_quota_key(key).then(|| (key.trim().to_string(), value.trim().to_string()))
        })
        .map(|(key, value)| match value.parse::<f64>() {
            Ok(v) => Ok((key, v)),
            Err(_) => Err(ToolError::usage(format!("--add-config: {key}={value} is not a number"))),
        })
        .collect::<Result<_, _>>()?;
    let deleted: Vec<String> = parsed
        .get("delete-config")
        .unwrap_or_default()
        .split(',')
        .filter(|k| is_quota_key(k))
        .map(|k| k.trim().to_string())
        .collect();
    let scram = kind == "user" && scram_users::has_changes(parsed);
    if added.is_empty() && deleted.is_empty() && !scram {
        return Err(ToolError::usage("--alter needs --add-config or --delete-config"));
    }
    if scram {
        scram_users::run(parsed, name)?;
    }
    if added.is_empty() && deleted.is_empty() {
        return Ok(());
    }
    let mut ops: Vec<_> = added
        .into_iter()
        .map(|(key, value)| alter_client_quotas_request::OpData::default().with_key(text(&key)).with_value(value))
        .collect();
    ops.extend(
        deleted.iter().map(|key| alter_client_quotas_request::OpData::default().with_key(text(key)).with_remove(true)),
    );
    let entity = alter_client_quotas_request::EntityData::default()
        .with_entity_type(text(entity_type))
        .with_entity_name(name.map(text));
    let request = AlterClientQuotasRequest::default()
        .with_entries(vec![alter_client_quotas_request::EntryData::default().with_entity(vec![entity]).with_ops(ops)]);
    let mut wire = Wire::connect(parsed)?;
    let ResponseKind::AlterClientQuotas(response) = wire.call(ApiKey::AlterClientQuotas, 1, &request)? else {
        return Err(ToolError::failed("unexpected response"));
    };
    if let Some(e) = response.entries.iter().find(|e| e.error_code != 0) {
        return Err(ToolError::failed(error_text(e.error_code, e.error_message.as_ref())));
    }
    println!("Completed updating config for {}.", label(entity_type, name));
    Ok(())
}

/// Kafka's words for an entity: `user-principal 'alice'`, `the default client-id`.
fn label(entity_type: &str, name: Option<&str>) -> String {
    let kind = if entity_type == "user" { "user-principal" } else { "client-id" };
    match name {
        Some(n) => format!("{kind} '{n}'"),
        None => format!("the default {kind}"),
    }
}

fn describe(wire: &mut Wire, entity_type: &str, name: Option<&str>, default: bool) -> Result<(), ToolError> {
    let component = match (name, default) {
        (Some(n), _) => ComponentData::default().with_match_type(0).with_match(Some(text(n))),
        (None, true) => ComponentData::default().with_match_type(1),
        (None, false) => ComponentData::default().with_match_type(2),
    };
    let request = DescribeClientQuotasRequest::default()
        .with_components(vec![component.with_entity_type(text(entity_type))])
        .with_strict(true);
    let ResponseKind::DescribeClientQuotas(response) = wire.call(ApiKey::DescribeClientQuotas, 1, &request)? else {
        return Err(ToolError::failed("unexpected response"));
    };
    if response.error_code != 0 {
        return Err(ToolError::failed(error_text(response.error_code, response.error_message.as_ref())));
    }
    for entry in response.entries.unwrap_or_default() {
        let name = entry.entity.first().and_then(|e| e.entity_name.as_ref()).map(|n| n.to_string());
        let values: Vec<String> = entry.values.iter().map(|v| format!("{}={:?}", v.key, v.value)).collect();
        println!("Quota configs for {} are {}", label(entity_type, name.as_deref()), values.join(", "));
    }
    Ok(())
}

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}
