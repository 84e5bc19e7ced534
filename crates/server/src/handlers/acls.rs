//! CreateAcls, DescribeAcls and DeleteAcls, as Kafka's StandardAuthorizer answers them: the
//! broker checks each entry, the controller writes the ACLs (with ids) into the metadata.
//! Without an authorizer every answer is SECURITY_DISABLED, as Kafka's.

use std::collections::BTreeMap;

use brook_controller::requests::{ControllerReply, ControllerRequest};
use brook_security::acl::{ANY, Acl, AclFilter, MATCH, Operation, PatternType, Permission, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::{DeleteAclsFilterResult, DeleteAclsMatchingAcl};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse, DescribeAclsRequest,
    DescribeAclsResponse, RequestKind,
};

use super::text;
use crate::authorization::Access;
use crate::broker::{ApiError, Broker};

const NO_AUTHORIZER: &str = "No Authorizer is configured.";

/// Why a whole request is refused: no authorizer, or the client may not manage ACLs.
fn refusal(broker: &Broker, access: &Access, operation: Operation) -> Option<(ResponseError, Option<&'static str>)> {
    if !access.enabled() {
        return Some((ResponseError::SecurityDisabled, Some(NO_AUTHORIZER)));
    }
    (!access.allows_cluster(broker, operation)).then_some((ResponseError::ClusterAuthorizationFailed, None))
}

pub(super) async fn create(broker: &Broker, access: Access, request: CreateAclsRequest) -> CreateAclsResponse {
    let failed = |code: ResponseError, message: Option<String>| {
        AclCreationResult::default().with_error_code(code.code()).with_error_message(message.map(text))
    };
    if let Some((code, message)) = refusal(broker, &access, Operation::Alter) {
        let results = request.creations.iter().map(|_| failed(code, message.map(str::to_string))).collect();
        return CreateAclsResponse::default().with_results(results);
    }
    let checked: Vec<_> = request
        .creations
        .iter()
        .map(|c| {
            // Kafka cannot even build an ACL naming ANY or MATCH: an unknown server error.
            let any = [c.resource_type, c.resource_pattern_type, c.operation, c.permission_type].contains(&ANY);
            if any || c.resource_pattern_type == MATCH {
                return Err(None);
            }
            Acl::from_wire(
                c.resource_type,
                &c.resource_name,
                c.resource_pattern_type,
                &c.principal,
                &c.host,
                c.operation,
                c.permission_type,
            )
            .map_err(Some)
        })
        .collect();
    let acls: Vec<Acl> = checked.iter().filter_map(|c| c.as_ref().ok().cloned()).collect();
    let committed = match acls.is_empty() {
        true => Ok(()),
        false => broker.ask_controller(ControllerRequest::CreateAcls { acls }).await.map(|_| ()),
    };
    let results = checked
        .into_iter()
        .map(|c| match (c, &committed) {
            (Err(Some(invalid)), _) => failed(ResponseError::InvalidRequest, Some(invalid.0)),
            (Err(None), _) => failed(ResponseError::UnknownServerError, None),
            (Ok(_), Err(e)) => failed(e.code, Some(e.message.clone())),
            (Ok(_), Ok(())) => AclCreationResult::default().with_error_message(Some(text(""))),
        })
        .collect();
    CreateAclsResponse::default().with_results(results)
}

pub(super) fn describe(broker: &Broker, access: &Access, request: DescribeAclsRequest) -> DescribeAclsResponse {
    let refused = |code: ResponseError, message: Option<String>| {
        DescribeAclsResponse::default().with_error_code(code.code()).with_error_message(message.map(text))
    };
    if let Some((code, message)) = refusal(broker, access, Operation::Describe) {
        return refused(code, message.map(str::to_string));
    }
    let filter = match AclFilter::from_wire(
        request.resource_type_filter,
        request.resource_name_filter.as_deref(),
        request.pattern_type_filter,
        request.principal_filter.as_deref(),
        request.host_filter.as_deref(),
        request.operation,
        request.permission_type,
    ) {
        Ok(filter) => filter,
        Err(invalid) => return refused(ResponseError::InvalidRequest, Some(invalid.0)),
    };
    // Kafka groups the entries by resource pattern.
    let mut resources: BTreeMap<(i8, String, i8), Vec<AclDescription>> = BTreeMap::new();
    for (_, acl) in broker.image().acls.matching(&filter) {
        let key = (acl.resource_type.code(), acl.resource_name.clone(), acl.pattern.code());
        resources.entry(key).or_default().push(
            AclDescription::default()
                .with_principal(text(acl.principal.clone()))
                .with_host(text(acl.host.clone()))
                .with_operation(acl.operation.code())
                .with_permission_type(acl.permission.code()),
        );
    }
    let resources = resources
        .into_iter()
        .map(|((resource_type, name, pattern), acls)| {
            DescribeAclsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(text(name))
                .with_pattern_type(pattern)
                .with_acls(acls)
        })
        .collect();
    DescribeAclsResponse::default().with_error_message(Some(text(""))).with_resources(resources)
}

pub(super) async fn delete(broker: &Broker, access: Access, request: DeleteAclsRequest) -> DeleteAclsResponse {
    let failed = |code: ResponseError, message: Option<String>| {
        DeleteAclsFilterResult::default().with_error_code(code.code()).with_error_message(message.map(text))
    };
    if let Some((code, message)) = refusal(broker, &access, Operation::Alter) {
        let results = request.filters.iter().map(|_| failed(code, message.map(str::to_string))).collect();
        return DeleteAclsResponse::default().with_filter_results(results);
    }
    let checked: Vec<_> = request
        .filters
        .iter()
        .map(|f| {
            AclFilter::from_wire(
                f.resource_type_filter,
                f.resource_name_filter.as_deref(),
                f.pattern_type_filter,
                f.principal_filter.as_deref(),
                f.host_filter.as_deref(),
                f.operation,
                f.permission_type,
            )
        })
        .collect();
    let filters: Vec<AclFilter> = checked.iter().filter_map(|f| f.as_ref().ok().cloned()).collect();
    let deleted: Result<Vec<Vec<Acl>>, ApiError> = match filters.is_empty() {
        true => Ok(vec![]),
        false => match broker.ask_controller(ControllerRequest::DeleteAcls { filters }).await {
            Ok(ControllerReply::AclsDeleted(deleted)) => Ok(deleted),
            Ok(other) => Err(crate::broker::unexpected(other)),
            Err(e) => Err(e),
        },
    };
    let mut deleted = deleted.map(|d| d.into_iter());
    let results = checked
        .into_iter()
        .map(|f| match (f, &mut deleted) {
            (Err(invalid), _) => failed(ResponseError::InvalidRequest, Some(invalid.0)),
            (Ok(_), Err(e)) => failed(e.code, Some(e.message.clone())),
            (Ok(_), Ok(deleted)) => {
                let matching = deleted.next().unwrap_or_default().into_iter().map(matching_acl).collect();
                DeleteAclsFilterResult::default().with_error_message(None).with_matching_acls(matching)
            }
        })
        .collect();
    DeleteAclsResponse::default().with_filter_results(results)
}

/// Whether an ACL request names a resource type, pattern type, operation or permission that is
/// not even ANY: Kafka cannot parse such a request and closes the connection.
pub(crate) fn has_unknown_elements(body: &RequestKind) -> bool {
    let filter_codes_known = |kind: i8, pattern: i8, operation: i8, permission: i8| {
        (kind == ANY || ResourceType::from_code(kind).is_some())
            && (matches!(pattern, ANY | MATCH) || PatternType::from_code(pattern).is_some())
            && (operation == ANY || Operation::from_code(operation).is_some())
            && (permission == ANY || Permission::from_code(permission).is_some())
    };
    match body {
        RequestKind::CreateAcls(r) => !r
            .creations
            .iter()
            .all(|c| filter_codes_known(c.resource_type, c.resource_pattern_type, c.operation, c.permission_type)),
        RequestKind::DescribeAcls(r) => {
            !filter_codes_known(r.resource_type_filter, r.pattern_type_filter, r.operation, r.permission_type)
        }
        RequestKind::DeleteAcls(r) => !r
            .filters
            .iter()
            .all(|f| filter_codes_known(f.resource_type_filter, f.pattern_type_filter, f.operation, f.permission_type)),
        _ => false,
    }
}

fn matching_acl(acl: Acl) -> DeleteAclsMatchingAcl {
    DeleteAclsMatchingAcl::default()
        .with_error_message(None)
        .with_resource_type(acl.resource_type.code())
        .with_resource_name(text(acl.resource_name))
        .with_pattern_type(acl.pattern.code())
        .with_principal(text(acl.principal))
        .with_host(text(acl.host))
        .with_operation(acl.operation.code())
        .with_permission_type(acl.permission.code())
}
