//! `brook acls`, as Kafka's kafka-acls: add, remove and list ACLs (CreateAcls, DeleteAcls,
//! DescribeAcls), with its `--producer` and `--consumer` shortcuts and its output lines.

use std::collections::BTreeMap;

use brook_security::acl::{ANY, Acl, CLUSTER_NAME, MATCH, Operation, PatternType, Permission, ResourceType, WILDCARD};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{
    ApiKey, CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest, DescribeAclsResponse, ResponseKind,
};
use kafka_protocol::protocol::StrBytes;

use crate::ToolError;
use crate::args::{Opt, Parsed};
use crate::wire::{Wire, error_text};

pub const PURPOSE: &str = "Add, remove and list ACLs (with an authorizer configured on the broker).";

pub const OPTS: &[Opt] = &[
    Opt { name: "bootstrap-server", value: true, help: "the broker(s) to connect to (host:port,...)" },
    Opt { name: "command-config", value: true, help: "a properties file of client settings" },
    Opt { name: "add", value: false, help: "add ACLs" },
    Opt { name: "remove", value: false, help: "remove ACLs" },
    Opt { name: "list", value: false, help: "list ACLs (of the resources named, or all)" },
    Opt { name: "allow-principal", value: true, help: "User:<name> (or User:*) to allow; repeatable" },
    Opt { name: "deny-principal", value: true, help: "User:<name> (or User:*) to deny; repeatable" },
    Opt { name: "allow-host", value: true, help: "an IP address the allow ACLs hold for (default *)" },
    Opt { name: "deny-host", value: true, help: "an IP address the deny ACLs hold for (default *)" },
    Opt { name: "operation", value: true, help: "Read, Write, Create, Delete, Alter, Describe, All, ...; repeatable" },
    Opt { name: "topic", value: true, help: "a topic (or * for all); repeatable" },
    Opt { name: "group", value: true, help: "a consumer group (or *); repeatable" },
    Opt { name: "cluster", value: false, help: "the cluster resource" },
    Opt { name: "transactional-id", value: true, help: "a transactional id (or *); repeatable" },
    Opt { name: "delegation-token", value: true, help: "a delegation token id; repeatable" },
    Opt {
        name: "resource-pattern-type",
        value: true,
        help: "literal (default), prefixed; with --list or --remove also any, match",
    },
    Opt { name: "principal", value: true, help: "with --list: only this principal's ACLs" },
    Opt { name: "producer", value: false, help: "the ACLs a producer needs (WRITE, DESCRIBE, CREATE on the topics)" },
    Opt {
        name: "consumer",
        value: false,
        help: "the ACLs a consumer needs (READ, DESCRIBE on the topics, READ on the group)",
    },
    Opt { name: "idempotent", value: false, help: "with --producer: IDEMPOTENT_WRITE on the cluster" },
    Opt { name: "force", value: false, help: "do not ask for confirmation (this tool never asks)" },
];

pub fn run(parsed: &Parsed) -> Result<(), ToolError> {
    let actions = ["add", "remove", "list"].iter().filter(|a| parsed.has(a)).count();
    if actions != 1 {
        return Err(ToolError::usage("Command must include exactly one action: --list, --add, --remove."));
    }
    let mut wire = Wire::connect(parsed)?;
    if parsed.has("list") {
        return list(&mut wire, parsed);
    }
    let acls = acls(parsed)?;
    if acls.is_empty() {
        return Err(ToolError::usage("You must specify one of: --allow-principal, --deny-principal"));
    }
    if parsed.has("add") { add(&mut wire, &acls) } else { remove(&mut wire, &acls) }
}

/// The resources named (type, name), with `--producer` / `--consumer` groups and ids.
fn resources(parsed: &Parsed) -> Vec<(ResourceType, String)> {
    let mut out: Vec<(ResourceType, String)> = Vec::new();
    let named = [
        ("topic", ResourceType::Topic),
        ("group", ResourceType::Group),
        ("transactional-id", ResourceType::TransactionalId),
        ("delegation-token", ResourceType::DelegationToken),
    ];
    for (opt, kind) in named {
        out.extend(parsed.all(opt).iter().map(|n| (kind, n.clone())));
    }
    if parsed.has("cluster") || (parsed.has("producer") && parsed.has("idempotent")) {
        out.push((ResourceType::Cluster, CLUSTER_NAME.to_string()));
    }
    out
}

fn pattern(parsed: &Parsed, filter: bool) -> Result<i8, ToolError> {
    let name = parsed.get("resource-pattern-type").unwrap_or("literal");
    match (name.to_ascii_lowercase().as_str(), filter) {
        ("any", true) => Ok(ANY),
        ("match", true) => Ok(MATCH),
        _ => PatternType::parse(name).map(PatternType::code).ok_or_else(|| {
            ToolError::usage(format!("A '--resource-pattern-type' value must be LITERAL or PREFIXED, not {name}"))
        }),
    }
}

/// The operations for a resource: `--operation`s, or those of `--producer` / `--consumer`.
fn operations(parsed: &Parsed, kind: ResourceType) -> Result<Vec<Operation>, ToolError> {
    use Operation::*;
    let mut ops = Vec::new();
    if parsed.has("producer") {
        ops.extend_from_slice(match kind {
            ResourceType::Topic => &[Write, Describe, Create][..],
            ResourceType::TransactionalId => &[Write, Describe],
            ResourceType::Cluster => &[IdempotentWrite],
            _ => &[],
        });
    }
    if parsed.has("consumer") {
        ops.extend_from_slice(match kind {
            ResourceType::Topic => &[Read, Describe][..],
            ResourceType::Group => &[Read],
            _ => &[],
        });
    }
    for name in parsed.all("operation") {
        ops.push(Operation::parse(name).ok_or_else(|| ToolError::usage(format!("Invalid operation: {name}")))?);
    }
    // Without shortcuts or operations, kafka-acls means ALL; a shortcut that has nothing for
    // this resource adds nothing.
    if ops.is_empty() && !parsed.has("producer") && !parsed.has("consumer") {
        ops.push(All);
    }
    ops.sort();
    ops.dedup();
    Ok(ops)
}

/// Every ACL the command line describes, checked as the broker will check them.
fn acls(parsed: &Parsed) -> Result<Vec<Acl>, ToolError> {
    let pattern = pattern(parsed, false)?;
    let resources = resources(parsed);
    if resources.is_empty() {
        return Err(ToolError::usage(
            "You must provide at least one resource: --topic, --cluster, --group or --transactional-id",
        ));
    }
    let mut out = Vec::new();
    for (permission, principals, host) in [
        (Permission::Allow, parsed.all("allow-principal"), parsed.get("allow-host")),
        (Permission::Deny, parsed.all("deny-principal"), parsed.get("deny-host")),
    ] {
        for principal in principals {
            for (kind, name) in &resources {
                for op in operations(parsed, *kind)? {
                    let acl = Acl::from_wire(
                        kind.code(),
                        name,
                        pattern,
                        principal,
                        host.unwrap_or(WILDCARD),
                        op.code(),
                        permission.code(),
                    )
                    .map_err(|e| ToolError::usage(e.0))?;
                    out.push(acl);
                }
            }
        }
    }
    Ok(out)
}

fn add(wire: &mut Wire, acls: &[Acl]) -> Result<(), ToolError> {
    let creations = acls
        .iter()
        .map(|a| {
            AclCreation::default()
                .with_resource_type(a.resource_type.code())
                .with_resource_name(text(&a.resource_name))
                .with_resource_pattern_type(a.pattern.code())
                .with_principal(text(&a.principal))
                .with_host(text(&a.host))
                .with_operation(a.operation.code())
                .with_permission_type(a.permission.code())
        })
        .collect();
    let request = CreateAclsRequest::default().with_creations(creations);
    let ResponseKind::CreateAcls(response) = wire.call(ApiKey::CreateAcls, 3, &request)? else {
        return Err(ToolError::failed("unexpected response"));
    };
    if let Some(r) = response.results.iter().find(|r| r.error_code != 0) {
        return Err(ToolError::failed(error_text(r.error_code, r.error_message.as_ref())));
    }
    for (resource, entries) in by_resource(acls.iter()) {
        println!("Adding ACLs for resource `{resource}`: \n{}\n", entries.join("\n"));
    }
    Ok(())
}

fn remove(wire: &mut Wire, acls: &[Acl]) -> Result<(), ToolError> {
    let filters = acls
        .iter()
        .map(|a| {
            DeleteAclsFilter::default()
                .with_resource_type_filter(a.resource_type.code())
                .with_resource_name_filter(Some(text(&a.resource_name)))
                .with_pattern_type_filter(a.pattern.code())
                .with_principal_filter(Some(text(&a.principal)))
                .with_host_filter(Some(text(&a.host)))
                .with_operation(a.operation.code())
                .with_permission_type(a.permission.code())
        })
        .collect();
    let request = DeleteAclsRequest::default().with_filters(filters);
    let ResponseKind::DeleteAcls(response) = wire.call(ApiKey::DeleteAcls, 3, &request)? else {
        return Err(ToolError::failed("unexpected response"));
    };
    if let Some(r) = response.filter_results.iter().find(|r| r.error_code != 0) {
        return Err(ToolError::failed(error_text(r.error_code, r.error_message.as_ref())));
    }
    for (resource, entries) in by_resource(acls.iter()) {
        println!("Removing ACLs for resource `{resource}`: \n{}\n", entries.join("\n"));
    }
    Ok(())
}

fn list(wire: &mut Wire, parsed: &Parsed) -> Result<(), ToolError> {
    let pattern = pattern(parsed, true)?;
    let principal = parsed.get("principal").map(text);
    let mut resources: Vec<(i8, Option<StrBytes>)> =
        resources(parsed).into_iter().map(|(k, n)| (k.code(), Some(text(&n)))).collect();
    if resources.is_empty() {
        resources.push((ANY, None));
    }
    let mut found = Vec::new();
    for (kind, name) in resources {
        let request = DescribeAclsRequest::default()
            .with_resource_type_filter(kind)
            .with_resource_name_filter(name)
            .with_pattern_type_filter(pattern)
            .with_principal_filter(principal.clone())
            .with_host_filter(None)
            .with_operation(ANY)
            .with_permission_type(ANY);
        let ResponseKind::DescribeAcls(response) = wire.call(ApiKey::DescribeAcls, 3, &request)? else {
            return Err(ToolError::failed("unexpected response"));
        };
        found.extend(described(response)?);
    }
    for (resource, entries) in by_resource(found.iter()) {
        println!("Current ACLs for resource `{resource}`:\n{}\n", entries.join("\n"));
    }
    Ok(())
}

fn described(response: DescribeAclsResponse) -> Result<Vec<Acl>, ToolError> {
    if response.error_code != 0 {
        return Err(ToolError::failed(error_text(response.error_code, response.error_message.as_ref())));
    }
    let mut out = Vec::new();
    for r in response.resources {
        for a in r.acls {
            let acl = Acl::from_wire(
                r.resource_type,
                &r.resource_name,
                r.pattern_type,
                &a.principal,
                &a.host,
                a.operation,
                a.permission_type,
            );
            out.push(acl.map_err(|e| ToolError::failed(format!("the broker sent an ACL that cannot be read: {e}")))?);
        }
    }
    Ok(out)
}

/// Kafka's lines: each resource pattern, then its entries.
fn by_resource<'a>(acls: impl Iterator<Item = &'a Acl>) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for a in acls {
        let resource = format!(
            "ResourcePattern(resourceType={}, name={}, patternType={})",
            a.resource_type, a.resource_name, a.pattern
        );
        out.entry(resource).or_default().push(format!(
            " \t(principal={}, host={}, operation={}, permissionType={})",
            a.principal, a.host, a.operation, a.permission
        ));
    }
    out
}

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}
