//! Groups over Kafka's own requests, for the group tools librdkafka has no admin API for
//! (`share_groups`, `streams_groups`): the groups of one type on every broker, a connection to
//! a group's coordinator, and DeleteGroups.

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, DeleteGroupsRequest, FindCoordinatorRequest, GroupId, ListGroupsRequest, MetadataRequest, ResponseKind,
};
use kafka_protocol::protocol::StrBytes;

use crate::ToolError;
use crate::args::Parsed;
use crate::wire::{Wire, error_text};

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

pub(crate) fn unexpected(api: &str) -> ToolError {
    ToolError::failed(format!("unexpected answer to {api}"))
}

/// Every group of `kind` ("share", "streams") in the cluster (ListGroups of each broker):
/// (id, state), sorted.
fn list(wire: &mut Wire, kind: &str) -> Result<Vec<(String, String)>, ToolError> {
    let ResponseKind::Metadata(metadata) = wire.call(
        ApiKey::Metadata,
        9,
        &MetadataRequest::default().with_topics(Some(Vec::<MetadataRequestTopic>::new())),
    )?
    else {
        return Err(unexpected("Metadata"));
    };
    let request = ListGroupsRequest::default().with_types_filter(vec![text(kind)]);
    let mut groups = Vec::new();
    for b in &metadata.brokers {
        let mut broker = wire.connect_to(&format!("{}:{}", b.host.as_str(), b.port))?;
        let ResponseKind::ListGroups(r) = broker.call(ApiKey::ListGroups, 5, &request)? else {
            return Err(unexpected("ListGroups"));
        };
        if r.error_code != 0 {
            return Err(ToolError::failed(format!("broker {}: {}", b.node_id.0, error_text(r.error_code, None))));
        }
        groups.extend(r.groups.iter().map(|g| (g.group_id.to_string(), g.group_state.to_string())));
    }
    groups.sort();
    Ok(groups)
}

/// The groups of `kind` a command names (`--group`, repeatable, or `--all-groups`); with
/// `--list`, prints every group's id instead and gives `None`.
pub(crate) fn chosen_groups(parsed: &Parsed, wire: &mut Wire, kind: &str) -> Result<Option<Vec<String>>, ToolError> {
    if parsed.has("list") {
        for (name, _) in list(wire, kind)? {
            println!("{name}");
        }
        return Ok(None);
    }
    if parsed.has("all-groups") {
        return Ok(Some(list(wire, kind)?.into_iter().map(|(name, _)| name).collect()));
    }
    if parsed.all("group").is_empty() {
        return Err(ToolError::usage("Missing required argument \"[group]\""));
    }
    Ok(Some(parsed.all("group").to_vec()))
}

/// A connection to the group's coordinator, and its "host:port (id)".
pub(crate) fn coordinator(wire: &mut Wire, group: &str) -> Result<(Wire, String), ToolError> {
    let find = FindCoordinatorRequest::default().with_key_type(0).with_key(text(group));
    let ResponseKind::FindCoordinator(found) = wire.call(ApiKey::FindCoordinator, 3, &find)? else {
        return Err(unexpected("FindCoordinator"));
    };
    if found.error_code != 0 {
        return Err(ToolError::failed(error_text(found.error_code, found.error_message.as_ref())));
    }
    let addr = format!("{}:{}", found.host.as_str(), found.port);
    Ok((wire.connect_to(&addr)?, format!("{addr} ({})", found.node_id.0)))
}

/// DeleteGroups of each group at its coordinator, saying so as Kafka's `kind` tool does.
pub(crate) fn delete(wire: &mut Wire, groups: &[String], kind: &str) -> Result<(), ToolError> {
    let mut failed = Vec::new();
    for group in groups {
        let (mut coordinator, _) = coordinator(wire, group)?;
        let request = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(text(group))]);
        let ResponseKind::DeleteGroups(r) = coordinator.call(ApiKey::DeleteGroups, 2, &request)? else {
            return Err(unexpected("DeleteGroups"));
        };
        match r.results.first().map_or(0, |g| g.error_code) {
            0 => println!("Deletion of requested {kind} groups ('{group}') was successful."),
            code => failed.push(format!("Group '{group}': {}", error_text(code, None))),
        }
    }
    if failed.is_empty() { Ok(()) } else { Err(ToolError::failed(failed.join("; "))) }
}
