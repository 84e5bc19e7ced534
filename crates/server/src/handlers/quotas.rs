//! DescribeClientQuotas and AlterClientQuotas (KIP-546), for `kafka-configs --entity-type
//! users|clients` and the Admin API: quotas of users, client ids and their defaults, checked
//! as Kafka checks them and written by the controller all or none.

use std::collections::BTreeSet;

use brook_controller::requests::ControllerRequest;
use brook_security::quota::{ENFORCED, EntityName, NOT_ENFORCED, QuotaEntity, REQUEST_PERCENTAGE};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, DescribeClientQuotasRequest, DescribeClientQuotasResponse,
    alter_client_quotas_request, alter_client_quotas_response, describe_client_quotas_response,
};
use kafka_protocol::protocol::StrBytes;

use super::text;
use crate::broker::Broker;

const USER: &str = "user";
const CLIENT_ID: &str = "client-id";
const IP: &str = "ip";

/// Describe filter match types.
const MATCH_EXACT: i8 = 0;
const MATCH_DEFAULT: i8 = 1;
const MATCH_ANY: i8 = 2;

type Invalid = (ResponseError, String);

fn invalid(message: impl Into<String>) -> Invalid {
    (ResponseError::InvalidRequest, message.into())
}

/// One component of a describe filter: which entity type, and which of its names.
struct Component {
    entity_type: String,
    /// `None` any name; `Some(Default)` the default; `Some(Named)` that name.
    name: Option<EntityName>,
}

fn filter(request: &DescribeClientQuotasRequest) -> Result<Vec<Component>, Invalid> {
    let mut seen = BTreeSet::new();
    request
        .components
        .iter()
        .map(|c| {
            let entity_type = c.entity_type.to_string();
            if entity_type != USER && entity_type != CLIENT_ID && entity_type != IP {
                return Err((ResponseError::UnsupportedVersion, format!("Unsupported entity type {entity_type}")));
            }
            if !seen.insert(entity_type.clone()) {
                return Err(invalid(format!("Entity type {entity_type} cannot appear more than once in the filter.")));
            }
            let name = match c.match_type {
                MATCH_EXACT => Some(EntityName::Named(c._match.as_deref().unwrap_or_default().to_string())),
                MATCH_DEFAULT => Some(EntityName::Default),
                MATCH_ANY => None,
                other => return Err(invalid(format!("Unknown match type {other}"))),
            };
            Ok(Component { entity_type, name })
        })
        .collect()
}

fn part<'a>(entity: &'a QuotaEntity, entity_type: &str) -> Option<&'a EntityName> {
    match entity_type {
        USER => entity.user.as_ref(),
        CLIENT_ID => entity.client_id.as_ref(),
        _ => None,
    }
}

pub(super) fn describe(broker: &Broker, request: DescribeClientQuotasRequest) -> DescribeClientQuotasResponse {
    let components = match filter(&request) {
        Ok(components) => components,
        Err((code, message)) => {
            return DescribeClientQuotasResponse::default()
                .with_error_code(code.code())
                .with_error_message(Some(text(message)))
                .with_entries(None);
        }
    };
    let matches = |entity: &QuotaEntity| {
        let types = [entity.user.as_ref().map(|_| USER), entity.client_id.as_ref().map(|_| CLIENT_ID)];
        let named = components.iter().all(|c| match (part(entity, &c.entity_type), &c.name) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(have), Some(want)) => have == want,
        });
        // Strict: the entity has no other types than the filter's.
        named && (!request.strict || types.iter().flatten().all(|t| components.iter().any(|c| c.entity_type == *t)))
    };
    let entries = broker
        .image()
        .client_quotas
        .0
        .iter()
        .filter(|(entity, _)| matches(entity))
        .map(|(entity, values)| {
            describe_client_quotas_response::EntryData::default()
                .with_entity(
                    entity_parts(entity)
                        .map(|(t, name)| {
                            describe_client_quotas_response::EntityData::default()
                                .with_entity_type(text(t))
                                .with_entity_name(name)
                        })
                        .collect(),
                )
                .with_values(
                    values
                        .iter()
                        .map(|(key, value)| {
                            describe_client_quotas_response::ValueData::default()
                                .with_key(text(key.clone()))
                                .with_value(*value)
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeClientQuotasResponse::default().with_error_message(Some(text(""))).with_entries(Some(entries))
}

/// An entity's (type, name) pairs as the wire names them: a default is a null name.
fn entity_parts(entity: &QuotaEntity) -> impl Iterator<Item = (&'static str, Option<StrBytes>)> + '_ {
    let wire = |n: &EntityName| match n {
        EntityName::Default => None,
        EntityName::Named(name) => Some(text(name.clone())),
    };
    [(USER, entity.user.as_ref()), (CLIENT_ID, entity.client_id.as_ref())]
        .into_iter()
        .filter_map(move |(t, n)| n.map(|n| (t, wire(n))))
}

/// An AlterClientQuotas entry's entity, checked.
fn entity(parts: &[alter_client_quotas_request::EntityData]) -> Result<QuotaEntity, Invalid> {
    if parts.is_empty() {
        return Err(invalid("Invalid empty client quota entity"));
    }
    let mut entity = QuotaEntity { user: None, client_id: None };
    for p in parts {
        let name = p.entity_name.as_ref().map_or(EntityName::Default, |n| EntityName::Named(n.to_string()));
        let slot = match p.entity_type.as_str() {
            USER => &mut entity.user,
            CLIENT_ID => &mut entity.client_id,
            IP => return Err(invalid("IP quotas (connection_creation_rate) are not supported by Brook yet")),
            other => return Err(invalid(format!("Unhandled client quota entity type: {other}"))),
        };
        // As Kafka: a type named twice takes the last name.
        *slot = Some(name);
    }
    Ok(entity)
}

/// One operation, checked: the key, and its new value (`None` to remove it).
fn op(op: &alter_client_quotas_request::OpData) -> Result<(String, Option<f64>), Invalid> {
    let key = op.key.to_string();
    if NOT_ENFORCED.contains(&key.as_str()) {
        return Err(invalid(format!("{key} is a Kafka quota Brook does not enforce yet")));
    }
    if !ENFORCED.contains(&key.as_str()) {
        return Err(invalid(format!("Invalid configuration key {key}")));
    }
    if op.remove {
        return Ok((key, None));
    }
    // The byte rates are Kafka's LONG configs; request_percentage is a DOUBLE.
    if key != REQUEST_PERCENTAGE && (op.value.fract() != 0.0 || !op.value.is_finite()) {
        return Err(invalid(format!("{key} cannot be a fractional value.")));
    }
    if op.value <= 0.0 {
        return Err(invalid(format!("Quota {key} must be greater than 0")));
    }
    Ok((key, Some(op.value)))
}

/// An entry's entity as the answer repeats it.
fn answered_entity(
    parts: Vec<alter_client_quotas_request::EntityData>,
) -> Vec<alter_client_quotas_response::EntityData> {
    parts
        .into_iter()
        .map(|p| {
            alter_client_quotas_response::EntityData::default()
                .with_entity_type(p.entity_type)
                .with_entity_name(p.entity_name)
        })
        .collect()
}

/// Every entry refused with `code` (a client that may not alter the cluster's configs).
pub(super) fn refuse_all(request: AlterClientQuotasRequest, code: ResponseError) -> AlterClientQuotasResponse {
    let entries = request
        .entries
        .into_iter()
        .map(|e| {
            let entity = answered_entity(e.entity);
            alter_client_quotas_response::EntryData::default().with_entity(entity).with_error_code(code.code())
        })
        .collect();
    AlterClientQuotasResponse::default().with_entries(entries)
}

pub(super) async fn alter(broker: &Broker, request: AlterClientQuotasRequest) -> AlterClientQuotasResponse {
    let checked: Vec<Result<Vec<_>, Invalid>> = request
        .entries
        .iter()
        .map(|e| {
            let entity = entity(&e.entity)?;
            e.ops.iter().map(|o| op(o).map(|(key, value)| (entity.clone(), key, value))).collect()
        })
        .collect();
    let changes: Vec<_> = checked.iter().filter_map(|c| c.as_ref().ok()).flatten().cloned().collect();
    let committed = match changes.is_empty() || request.validate_only {
        true => Ok(()),
        false => broker.ask_controller(ControllerRequest::AlterClientQuotas { changes }).await.map(|_| ()),
    };
    let entries = request
        .entries
        .into_iter()
        .zip(checked)
        .map(|(e, result)| {
            let entity = answered_entity(e.entity);
            let entry = alter_client_quotas_response::EntryData::default().with_entity(entity);
            match (result, &committed) {
                (Err((code, message)), _) => entry.with_error_code(code.code()).with_error_message(Some(text(message))),
                (Ok(_), Err(e)) => {
                    entry.with_error_code(e.code.code()).with_error_message(Some(text(e.message.clone())))
                }
                (Ok(_), Ok(())) => entry.with_error_message(None),
            }
        })
        .collect();
    AlterClientQuotasResponse::default().with_entries(entries)
}
