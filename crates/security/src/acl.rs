//! Access control lists as Kafka's StandardAuthorizer keeps and reads them.
//!
//! An ACL allows or denies one principal (`User:alice`, or `User:*` for everyone), from one
//! host (or `*`), one operation on the resources one pattern names: a literal name, `*` for
//! every resource of its type, or a prefix. A request is allowed when a matching ALLOW ACL
//! exists and no matching DENY ACL does; a resource that no ACL names at all follows
//! `allow.everyone.if.no.acl.found`; super users are allowed everything. An ALLOW of READ,
//! WRITE, DELETE or ALTER also allows DESCRIBE, and an ALLOW of ALTER_CONFIGS allows
//! DESCRIBE_CONFIGS, as in Kafka.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Kafka's name for a pattern naming every resource of its type, and for every principal's
/// and every host's ACL.
pub const WILDCARD: &str = "*";
/// The only name the cluster resource has.
pub const CLUSTER_NAME: &str = "kafka-cluster";

/// Defines an enum with Kafka's wire codes and names for it.
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $code:literal, $text:literal;)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &[$name] = &[$($name::$variant),*];

            /// Kafka's wire code.
            pub fn code(self) -> i8 {
                match self { $($name::$variant => $code),* }
            }

            pub fn from_code(code: i8) -> Option<$name> {
                match code { $($code => Some($name::$variant),)* _ => None }
            }

            /// Kafka's name (`TOPIC`, `DESCRIBE_CONFIGS`, ...).
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            /// Parses Kafka's name, in any case and with `-` for `_` (`kafka-acls` accepts both).
            pub fn parse(text: &str) -> Option<$name> {
                let text = text.trim().replace('-', "_").to_ascii_uppercase();
                let squeezed = text.replace('_', "");
                $name::ALL.iter().copied().find(|v| v.name() == text || v.name().replace('_', "") == squeezed)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

wire_enum!(
    /// What an ACL is about (Kafka's ResourceType; 0 UNKNOWN and 1 ANY are filter-only).
    ResourceType {
        Topic = 2, "TOPIC";
        Group = 3, "GROUP";
        Cluster = 4, "CLUSTER";
        TransactionalId = 5, "TRANSACTIONAL_ID";
        DelegationToken = 6, "DELEGATION_TOKEN";
        User = 7, "USER";
    }
);

wire_enum!(
    /// How an ACL's resource name matches (Kafka's PatternType; ANY and MATCH are filter-only).
    PatternType {
        Literal = 3, "LITERAL";
        Prefixed = 4, "PREFIXED";
    }
);

wire_enum!(
    /// What a principal does to a resource (Kafka's AclOperation).
    Operation {
        All = 2, "ALL";
        Read = 3, "READ";
        Write = 4, "WRITE";
        Create = 5, "CREATE";
        Delete = 6, "DELETE";
        Alter = 7, "ALTER";
        Describe = 8, "DESCRIBE";
        ClusterAction = 9, "CLUSTER_ACTION";
        DescribeConfigs = 10, "DESCRIBE_CONFIGS";
        AlterConfigs = 11, "ALTER_CONFIGS";
        IdempotentWrite = 12, "IDEMPOTENT_WRITE";
        CreateTokens = 13, "CREATE_TOKENS";
        DescribeTokens = 14, "DESCRIBE_TOKENS";
        TwoPhaseCommit = 15, "TWO_PHASE_COMMIT";
    }
);

wire_enum!(
    /// Whether an ACL allows or denies (Kafka's AclPermissionType).
    Permission {
        Deny = 2, "DENY";
        Allow = 3, "ALLOW";
    }
);

/// Filter codes that match any value (Kafka's ANY) and, for patterns, any pattern that
/// applies to a name (MATCH).
pub const ANY: i8 = 1;
pub const MATCH: i8 = 2;

impl ResourceType {
    /// The operations that apply to resources of this type, as Kafka reports authorized
    /// operations for them.
    pub fn operations(self) -> &'static [Operation] {
        use Operation::*;
        match self {
            ResourceType::Topic => &[Read, Write, Create, Delete, Alter, Describe, DescribeConfigs, AlterConfigs],
            ResourceType::Group => &[Read, Delete, Describe, DescribeConfigs, AlterConfigs],
            ResourceType::Cluster => &[
                Create,
                Alter,
                Describe,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
                CreateTokens,
                DescribeTokens,
            ],
            ResourceType::TransactionalId => &[Write, Describe, TwoPhaseCommit],
            ResourceType::DelegationToken => &[Describe],
            ResourceType::User => &[CreateTokens, DescribeTokens],
        }
    }
}

/// One access control entry bound to a resource pattern (Kafka's AclBinding).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Acl {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern: PatternType,
    /// `Type:name`, as `User:alice` or `User:*`.
    pub principal: String,
    /// An IP address, or `*`.
    pub host: String,
    pub operation: Operation,
    pub permission: Permission,
}

/// A CreateAcls entry that cannot become an ACL: Kafka's INVALID_REQUEST with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidAcl(pub String);

impl Acl {
    /// An ACL from CreateAcls' wire fields, checked as Kafka checks them.
    #[allow(clippy::too_many_arguments)]
    pub fn from_wire(
        resource_type: i8,
        resource_name: &str,
        pattern: i8,
        principal: &str,
        host: &str,
        operation: i8,
        permission: i8,
    ) -> Result<Acl, InvalidAcl> {
        let invalid = |what: &str, code: i8| InvalidAcl(format!("Invalid {what} {}", unknown_or_any(code)));
        let resource_type =
            ResourceType::from_code(resource_type).ok_or_else(|| invalid("resourceType", resource_type))?;
        let pattern = PatternType::from_code(pattern).ok_or_else(|| invalid("patternType", pattern))?;
        let operation = Operation::from_code(operation).ok_or_else(|| invalid("operation", operation))?;
        let permission = Permission::from_code(permission).ok_or_else(|| invalid("permissionType", permission))?;
        if resource_type == ResourceType::Cluster && resource_name != CLUSTER_NAME {
            return Err(InvalidAcl(format!("The only valid name for the CLUSTER resource is {CLUSTER_NAME}")));
        }
        if resource_name.is_empty() {
            return Err(InvalidAcl("Invalid empty resource name".into()));
        }
        check_principal(principal)?;
        Ok(Acl {
            resource_type,
            resource_name: resource_name.to_string(),
            pattern,
            principal: principal.to_string(),
            host: host.to_string(),
            operation,
            permission,
        })
    }

    /// Whether this ACL names `name` (its resource type is checked by the caller).
    fn names(&self, name: &str) -> bool {
        match self.pattern {
            PatternType::Literal => self.resource_name == name || self.resource_name == WILDCARD,
            PatternType::Prefixed => name.starts_with(&self.resource_name),
        }
    }

    /// What this ACL says about `user` doing `operation` from `host`: `None` when it does not
    /// apply.
    fn verdict(&self, user: &str, host: &str, operation: Operation) -> Option<Permission> {
        if !principal_matches(&self.principal, user) || (self.host != WILDCARD && self.host != host) {
            return None;
        }
        let applies = self.operation == Operation::All
            || self.operation == operation
            || (self.permission == Permission::Allow && implies(self.operation, operation));
        applies.then_some(self.permission)
    }
}

/// Whether an ALLOW of `granted` also allows `wanted`.
fn implies(granted: Operation, wanted: Operation) -> bool {
    use Operation::*;
    match wanted {
        Describe => matches!(granted, Read | Write | Delete | Alter),
        DescribeConfigs => granted == AlterConfigs,
        _ => false,
    }
}

fn unknown_or_any(code: i8) -> &'static str {
    match code {
        ANY => "ANY",
        MATCH => "MATCH",
        _ => "UNKNOWN",
    }
}

/// Kafka's principal form, `Type:name`.
fn check_principal(principal: &str) -> Result<(), InvalidAcl> {
    match principal.split_once(':') {
        Some((kind, name)) if !kind.is_empty() && !name.is_empty() => Ok(()),
        _ => Err(InvalidAcl(format!("Invalid principal `{principal}`: expected the form `User:<name>` (or `User:*`)"))),
    }
}

/// Whether an ACL's principal (`User:alice`, `User:*`) names the user `user`.
fn principal_matches(acl_principal: &str, user: &str) -> bool {
    acl_principal.strip_prefix("User:").is_some_and(|name| name == WILDCARD || name == user)
}

/// Which ACLs a DescribeAcls or DeleteAcls filter selects (Kafka's AclBindingFilter): `None`
/// fields match anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclFilter {
    pub resource_type: Option<ResourceType>,
    pub resource_name: Option<String>,
    pub pattern: PatternFilter,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Option<Operation>,
    pub permission: Option<Permission>,
}

/// How a filter selects patterns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PatternFilter {
    /// Any pattern type, the filter's name (if any) compared exactly.
    #[default]
    Any,
    /// Every pattern that names the filter's resource: literal, `*`, or a prefix of it.
    Match,
    Exactly(PatternType),
}

impl AclFilter {
    /// A filter from DescribeAcls' or DeleteAcls' wire fields; an UNKNOWN code is Kafka's
    /// INVALID_REQUEST.
    #[allow(clippy::too_many_arguments)]
    pub fn from_wire(
        resource_type: i8,
        resource_name: Option<&str>,
        pattern: i8,
        principal: Option<&str>,
        host: Option<&str>,
        operation: i8,
        permission: i8,
    ) -> Result<AclFilter, InvalidAcl> {
        fn field<T>(code: i8, parse: fn(i8) -> Option<T>, what: &str) -> Result<Option<T>, InvalidAcl> {
            match code {
                ANY => Ok(None),
                code => parse(code).map(Some).ok_or_else(|| InvalidAcl(format!("Unknown {what}."))),
            }
        }
        let pattern = match pattern {
            ANY => PatternFilter::Any,
            MATCH => PatternFilter::Match,
            code => PatternFilter::Exactly(
                PatternType::from_code(code).ok_or_else(|| InvalidAcl("Unknown patternFilter.".into()))?,
            ),
        };
        Ok(AclFilter {
            resource_type: field(resource_type, ResourceType::from_code, "patternFilter")?,
            resource_name: resource_name.map(str::to_string),
            pattern,
            principal: principal.map(str::to_string),
            host: host.map(str::to_string),
            operation: field(operation, Operation::from_code, "entryFilter")?,
            permission: field(permission, Permission::from_code, "entryFilter")?,
        })
    }

    pub fn matches(&self, acl: &Acl) -> bool {
        let same = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        let pattern = match (self.pattern, &self.resource_name) {
            (PatternFilter::Any, name) => same(name, &acl.resource_name),
            (PatternFilter::Exactly(p), name) => p == acl.pattern && same(name, &acl.resource_name),
            (PatternFilter::Match, None) => true,
            (PatternFilter::Match, Some(name)) => acl.names(name),
        };
        self.resource_type.is_none_or(|t| t == acl.resource_type)
            && pattern
            && same(&self.principal, &acl.principal)
            && same(&self.host, &acl.host)
            && self.operation.is_none_or(|o| o == acl.operation)
            && self.permission.is_none_or(|p| p == acl.permission)
    }
}

/// Every ACL by its id, indexed for authorization: what the metadata image holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "BTreeMap<Uuid, Acl>", into = "BTreeMap<Uuid, Acl>")]
pub struct AclSet {
    by_id: BTreeMap<Uuid, Acl>,
    index: HashMap<ResourceType, TypeIndex>,
}

/// The ACLs of one resource type by the name their pattern holds.
#[derive(Debug, Clone, Default)]
struct TypeIndex {
    literal: HashMap<String, Vec<Acl>>,
    prefixed: HashMap<String, Vec<Acl>>,
    /// The lengths of the prefixes in `prefixed`, so a lookup probes only those.
    prefix_lengths: BTreeMap<usize, usize>,
}

/// Two sets are equal when they hold the same ACLs by the same ids; the index follows.
impl PartialEq for AclSet {
    fn eq(&self, other: &AclSet) -> bool {
        self.by_id == other.by_id
    }
}

impl Eq for AclSet {}

impl From<BTreeMap<Uuid, Acl>> for AclSet {
    fn from(by_id: BTreeMap<Uuid, Acl>) -> AclSet {
        let mut set = AclSet::default();
        for (id, acl) in by_id {
            set.insert(id, acl);
        }
        set
    }
}

impl From<AclSet> for BTreeMap<Uuid, Acl> {
    fn from(set: AclSet) -> BTreeMap<Uuid, Acl> {
        set.by_id
    }
}

impl AclSet {
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Uuid, &Acl)> {
        self.by_id.iter()
    }

    pub fn contains(&self, acl: &Acl) -> bool {
        self.index.get(&acl.resource_type).is_some_and(|t| t.bucket(acl).is_some_and(|b| b.contains(acl)))
    }

    pub fn insert(&mut self, id: Uuid, acl: Acl) {
        if let Some(previous) = self.by_id.insert(id, acl.clone()) {
            self.unindex(&previous);
        }
        let index = self.index.entry(acl.resource_type).or_default();
        if acl.pattern == PatternType::Prefixed {
            *index.prefix_lengths.entry(acl.resource_name.len()).or_default() += 1;
        }
        let names = match acl.pattern {
            PatternType::Literal => &mut index.literal,
            PatternType::Prefixed => &mut index.prefixed,
        };
        names.entry(acl.resource_name.clone()).or_default().push(acl);
    }

    pub fn remove(&mut self, id: &Uuid) -> Option<Acl> {
        let acl = self.by_id.remove(id)?;
        self.unindex(&acl);
        Some(acl)
    }

    fn unindex(&mut self, acl: &Acl) {
        let Some(index) = self.index.get_mut(&acl.resource_type) else { return };
        let names = match acl.pattern {
            PatternType::Literal => &mut index.literal,
            PatternType::Prefixed => &mut index.prefixed,
        };
        if let Some(bucket) = names.get_mut(&acl.resource_name)
            && let Some(at) = bucket.iter().position(|a| a == acl)
        {
            bucket.swap_remove(at);
            if bucket.is_empty() {
                names.remove(&acl.resource_name);
            }
            if acl.pattern == PatternType::Prefixed
                && let Some(count) = index.prefix_lengths.get_mut(&acl.resource_name.len())
            {
                *count -= 1;
                if *count == 0 {
                    index.prefix_lengths.remove(&acl.resource_name.len());
                }
            }
        }
        if index.literal.is_empty() && index.prefixed.is_empty() {
            self.index.remove(&acl.resource_type);
        }
    }

    /// Every ACL whose pattern names `name`: literal, `*`, and each prefix of it.
    fn naming<'a>(&'a self, resource_type: ResourceType, name: &'a str) -> impl Iterator<Item = &'a Acl> + 'a {
        let index = self.index.get(&resource_type);
        let literal = index.into_iter().flat_map(move |i| {
            let exact = i.literal.get(name).into_iter().flatten();
            let wildcard = (name != WILDCARD).then(|| i.literal.get(WILDCARD)).flatten().into_iter().flatten();
            exact.chain(wildcard)
        });
        let prefixed = index.into_iter().flat_map(move |i| {
            i.prefix_lengths
                .keys()
                .take_while(move |len| **len <= name.len())
                .filter_map(move |len| name.get(..*len).and_then(|prefix| i.prefixed.get(prefix)))
                .flatten()
        });
        literal.chain(prefixed)
    }

    /// The ACLs of `resource_type` (for authorizing by resource type).
    fn of_type(&self, resource_type: ResourceType) -> impl Iterator<Item = &Acl> {
        self.index.get(&resource_type).into_iter().flat_map(|i| i.literal.values().chain(i.prefixed.values()).flatten())
    }

    /// The ACLs a filter selects, with their ids.
    pub fn matching<'a>(&'a self, filter: &'a AclFilter) -> impl Iterator<Item = (&'a Uuid, &'a Acl)> + 'a {
        self.by_id.iter().filter(move |(_, acl)| filter.matches(acl))
    }
}

impl TypeIndex {
    fn bucket(&self, acl: &Acl) -> Option<&Vec<Acl>> {
        match acl.pattern {
            PatternType::Literal => self.literal.get(&acl.resource_name),
            PatternType::Prefixed => self.prefixed.get(&acl.resource_name),
        }
    }
}

/// `super.users` and `allow.everyone.if.no.acl.found`: the authorizer's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizerSettings {
    /// Principals allowed everything (`User:admin`).
    pub super_users: BTreeSet<String>,
    pub allow_if_no_acl: bool,
}

impl AuthorizerSettings {
    /// Parses `super.users` (`User:a;User:b`).
    pub fn parse_super_users(value: &str) -> Result<BTreeSet<String>, InvalidAcl> {
        value
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| check_principal(p).map(|()| p.to_string()))
            .collect()
    }

    fn is_super(&self, user: &str) -> bool {
        self.super_users.iter().any(|p| p.strip_prefix("User:") == Some(user))
    }
}

/// Who asks: a user name (the name in `User:<name>`) and the client's IP address.
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    pub user: &'a str,
    pub host: &'a str,
}

/// Whether `who` may do `operation` on the resource `name` of `resource_type`.
pub fn authorize(
    settings: &AuthorizerSettings,
    acls: &AclSet,
    who: Requester<'_>,
    operation: Operation,
    resource_type: ResourceType,
    name: &str,
) -> bool {
    if settings.is_super(who.user) {
        return true;
    }
    let mut named = false;
    let mut allowed = false;
    for acl in acls.naming(resource_type, name) {
        named = true;
        match acl.verdict(who.user, who.host, operation) {
            Some(Permission::Deny) => return false,
            Some(Permission::Allow) => allowed = true,
            None => {}
        }
    }
    allowed || (!named && settings.allow_if_no_acl)
}

/// Whether `who` may do `operation` on some resource of `resource_type` (Kafka's
/// `authorizeByResourceType`, which lets an idempotent producer with WRITE on any topic
/// through): an ALLOW that no DENY covers.
pub fn authorize_any(
    settings: &AuthorizerSettings,
    acls: &AclSet,
    who: Requester<'_>,
    operation: Operation,
    resource_type: ResourceType,
) -> bool {
    if settings.is_super(who.user) {
        return true;
    }
    let mut any = false;
    let (mut allows, mut denies) = (Vec::new(), Vec::new());
    for acl in acls.of_type(resource_type) {
        any = true;
        match acl.verdict(who.user, who.host, operation) {
            Some(Permission::Allow) => allows.push(acl),
            Some(Permission::Deny) => denies.push(acl),
            None => {}
        }
    }
    if !any {
        return settings.allow_if_no_acl;
    }
    let covers = |deny: &&Acl, allow: &Acl| match deny.pattern {
        PatternType::Literal => deny.resource_name == WILDCARD || deny.resource_name == allow.resource_name,
        PatternType::Prefixed => allow.resource_name.starts_with(&deny.resource_name),
    };
    allows.iter().any(|allow| !denies.iter().any(|deny| covers(deny, allow)))
}

/// Kafka's authorized-operations bit field for a resource: bit `code` set for each operation
/// of its type `who` may do.
pub fn authorized_operations(
    settings: &AuthorizerSettings,
    acls: &AclSet,
    who: Requester<'_>,
    resource_type: ResourceType,
    name: &str,
) -> i32 {
    resource_type
        .operations()
        .iter()
        .filter(|op| authorize(settings, acls, who, **op, resource_type, name))
        .fold(0, |bits, op| bits | (1 << op.code()))
}

/// Every operation of the type, as reported when no authorizer is configured.
pub fn all_operations(resource_type: ResourceType) -> i32 {
    resource_type.operations().iter().fold(0, |bits, op| bits | (1 << op.code()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(resource_type: ResourceType, name: &str, pattern: PatternType, principal: &str, op: Operation) -> Acl {
        Acl {
            resource_type,
            resource_name: name.into(),
            pattern,
            principal: principal.into(),
            host: WILDCARD.into(),
            operation: op,
            permission: Permission::Allow,
        }
    }

    fn set(acls: Vec<Acl>) -> AclSet {
        let mut set = AclSet::default();
        for a in acls {
            set.insert(Uuid::new_v4(), a);
        }
        set
    }

    const ALICE: Requester<'static> = Requester { user: "alice", host: "127.0.0.1" };
    const BOB: Requester<'static> = Requester { user: "bob", host: "127.0.0.1" };

    #[test]
    fn allow_deny_and_defaults() {
        use Operation::*;
        use PatternType::*;
        use ResourceType::*;
        let s = AuthorizerSettings::default();
        let mut acls =
            set(vec![acl(Topic, "orders", Literal, "User:alice", Read), acl(Topic, "pay-", Prefixed, "User:*", Write)]);
        assert!(authorize(&s, &acls, ALICE, Read, Topic, "orders"));
        assert!(authorize(&s, &acls, ALICE, Describe, Topic, "orders"), "READ implies DESCRIBE");
        assert!(!authorize(&s, &acls, ALICE, Write, Topic, "orders"));
        assert!(!authorize(&s, &acls, BOB, Read, Topic, "orders"));
        assert!(authorize(&s, &acls, BOB, Write, Topic, "pay-eu"), "prefix and wildcard principal");
        assert!(!authorize(&s, &acls, BOB, Write, Topic, "pay"), "shorter than the prefix");
        assert!(!authorize(&s, &acls, BOB, Write, Topic, "other"), "no ACL, default deny");
        let open = AuthorizerSettings { allow_if_no_acl: true, ..s.clone() };
        assert!(authorize(&open, &acls, BOB, Write, Topic, "other"), "allow.everyone.if.no.acl.found");
        assert!(!authorize(&open, &acls, BOB, Read, Topic, "orders"), "an ACL names it: no default");

        let deny = Acl { permission: Permission::Deny, ..acl(Topic, "*", Literal, "User:alice", Read) };
        let id = Uuid::new_v4();
        acls.insert(id, deny);
        assert!(!authorize(&s, &acls, ALICE, Read, Topic, "orders"), "deny wins");
        assert!(authorize(&s, &acls, ALICE, Describe, Topic, "orders"), "a DENY of READ does not deny DESCRIBE");
        let supers = AuthorizerSettings { super_users: ["User:alice".to_string()].into(), ..s.clone() };
        assert!(authorize(&supers, &acls, ALICE, Read, Topic, "orders"), "super users pass");
        acls.remove(&id);
        assert!(authorize(&s, &acls, ALICE, Read, Topic, "orders"));

        let host = Acl { host: "10.0.0.1".into(), ..acl(Group, "g", Literal, "User:alice", All) };
        let acls = set(vec![host]);
        assert!(!authorize(&s, &acls, ALICE, Read, Group, "g"), "another host");
        assert!(authorize(&s, &acls, Requester { host: "10.0.0.1", ..ALICE }, Read, Group, "g"));
    }

    #[test]
    fn by_resource_type_and_operation_bits() {
        use Operation::*;
        use PatternType::*;
        use ResourceType::*;
        let s = AuthorizerSettings::default();
        let acls = set(vec![acl(Topic, "a", Literal, "User:alice", Write)]);
        assert!(authorize_any(&s, &acls, ALICE, Write, Topic));
        assert!(!authorize_any(&s, &acls, BOB, Write, Topic));
        let mut denied = acls.clone();
        denied.insert(
            Uuid::new_v4(),
            Acl { permission: Permission::Deny, ..acl(Topic, "a", Prefixed, "User:alice", Write) },
        );
        assert!(!authorize_any(&s, &denied, ALICE, Write, Topic));
        let bits = authorized_operations(&s, &acls, ALICE, Topic, "a");
        assert_eq!(bits, (1 << Write.code()) | (1 << Describe.code()));
    }

    #[test]
    fn wire_validation_and_filters() {
        let ok = Acl::from_wire(2, "t", 3, "User:a", "*", 3, 3).unwrap();
        assert_eq!(Acl::from_wire(1, "t", 3, "User:a", "*", 3, 3).unwrap_err().0, "Invalid resourceType ANY");
        assert_eq!(Acl::from_wire(2, "t", 2, "User:a", "*", 3, 3).unwrap_err().0, "Invalid patternType MATCH");
        assert!(Acl::from_wire(4, "other", 3, "User:a", "*", 3, 3).is_err());
        assert!(Acl::from_wire(2, "", 3, "User:a", "*", 3, 3).is_err());
        assert!(Acl::from_wire(2, "t", 3, "alice", "*", 3, 3).is_err());
        let by_name = AclFilter::from_wire(2, Some("t"), 1, None, None, 1, 1).unwrap();
        assert!(by_name.matches(&ok));
        let matching = AclFilter::from_wire(2, Some("tx"), MATCH, None, None, 1, 1).unwrap();
        assert!(!matching.matches(&ok), "a literal t does not name tx");
        let prefix = Acl { pattern: PatternType::Prefixed, ..ok.clone() };
        assert!(matching.matches(&prefix));
        assert!(!AclFilter::from_wire(2, None, 3, Some("User:b"), None, 1, 1).unwrap().matches(&ok));
        assert!(AclFilter::from_wire(0, None, 1, None, None, 1, 1).is_err());
        assert_eq!(Operation::parse("describe-configs"), Some(Operation::DescribeConfigs));
        assert_eq!(ResourceType::parse("transactional-id"), Some(ResourceType::TransactionalId));
        assert_eq!(ResourceType::parse("TransactionalId"), Some(ResourceType::TransactionalId));
    }

    #[test]
    fn serializes_by_id_and_rebuilds_the_index() {
        let acls = set(vec![acl(ResourceType::Topic, "p", PatternType::Prefixed, "User:alice", Operation::Read)]);
        let json = serde_json::to_string(&acls).unwrap();
        let back: AclSet = serde_json::from_str(&json).unwrap();
        assert_eq!(back, acls);
        assert!(authorize(&AuthorizerSettings::default(), &back, ALICE, Operation::Read, ResourceType::Topic, "pq"));
    }
}
