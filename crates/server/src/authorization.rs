//! Whether a request's principal may do what it asks, once `authorizer.class.name` names
//! Kafka's StandardAuthorizer: the ACLs live in the metadata image, `brook_security::acl`
//! decides. Without an authorizer everything is allowed, as in Kafka.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brook_security::acl::{self, AclSet, AuthorizerSettings, Operation, Requester, ResourceType};
use kafka_protocol::messages::ApiKey;
use tracing::warn;

use crate::broker::Broker;
use crate::session::Session;

/// The APIs whose handlers check the client's permissions, or that need none (ApiVersions
/// and the SASL exchange). With an authorizer, a request for any other API is not served.
pub const CHECKED: &[ApiKey] = &[
    ApiKey::ApiVersions,
    ApiKey::SaslHandshake,
    ApiKey::SaslAuthenticate,
    ApiKey::Produce,
    ApiKey::Fetch,
    ApiKey::ListOffsets,
    ApiKey::Metadata,
    ApiKey::DescribeTopicPartitions,
    ApiKey::OffsetForLeaderEpoch,
    ApiKey::CreateTopics,
    ApiKey::DeleteTopics,
    ApiKey::CreatePartitions,
    ApiKey::DeleteRecords,
    ApiKey::InitProducerId,
    ApiKey::AddPartitionsToTxn,
    ApiKey::AddOffsetsToTxn,
    ApiKey::EndTxn,
    ApiKey::TxnOffsetCommit,
    ApiKey::WriteTxnMarkers,
    ApiKey::DescribeTransactions,
    ApiKey::ListTransactions,
    ApiKey::DescribeProducers,
    ApiKey::DescribeConfigs,
    ApiKey::ListConfigResources,
    ApiKey::AlterConfigs,
    ApiKey::IncrementalAlterConfigs,
    ApiKey::DescribeCluster,
    ApiKey::DescribeQuorum,
    ApiKey::ElectLeaders,
    ApiKey::AlterPartitionReassignments,
    ApiKey::ListPartitionReassignments,
    ApiKey::DescribeLogDirs,
    ApiKey::AlterReplicaLogDirs,
    ApiKey::UnregisterBroker,
    ApiKey::UnregisterController,
    ApiKey::AddRaftVoter,
    ApiKey::RemoveRaftVoter,
    ApiKey::GetTelemetrySubscriptions,
    ApiKey::PushTelemetry,
    ApiKey::FindCoordinator,
    ApiKey::JoinGroup,
    ApiKey::SyncGroup,
    ApiKey::Heartbeat,
    ApiKey::LeaveGroup,
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
    ApiKey::OffsetDelete,
    ApiKey::DescribeGroups,
    ApiKey::ListGroups,
    ApiKey::DeleteGroups,
    ApiKey::ConsumerGroupHeartbeat,
    ApiKey::ConsumerGroupDescribe,
    ApiKey::StreamsGroupHeartbeat,
    ApiKey::StreamsGroupDescribe,
    ApiKey::StreamsGroupTopologyDescriptionUpdate,
    ApiKey::ShareGroupHeartbeat,
    ApiKey::ShareGroupDescribe,
    ApiKey::ShareFetch,
    ApiKey::ShareAcknowledge,
    ApiKey::ReadShareGroupState,
    ApiKey::WriteShareGroupState,
    ApiKey::ReadShareGroupStateSummary,
    ApiKey::InitializeShareGroupState,
    ApiKey::DeleteShareGroupState,
    ApiKey::DescribeShareGroupOffsets,
    ApiKey::AlterShareGroupOffsets,
    ApiKey::DeleteShareGroupOffsets,
    ApiKey::UpdateFeatures,
    ApiKey::DescribeUserScramCredentials,
    ApiKey::AlterUserScramCredentials,
    ApiKey::CreateDelegationToken,
    ApiKey::RenewDelegationToken,
    ApiKey::ExpireDelegationToken,
    ApiKey::DescribeDelegationToken,
    ApiKey::CreateAcls,
    ApiKey::DescribeAcls,
    ApiKey::DeleteAcls,
    ApiKey::DescribeClientQuotas,
    ApiKey::AlterClientQuotas,
];

/// Who sent a request, as the authorizer sees it; cheap to clone into a handler's future.
#[derive(Clone, Default)]
pub struct Access(Option<Arc<Who>>);

struct Who {
    settings: Arc<AuthorizerSettings>,
    user: String,
    host: String,
}

impl Access {
    /// The access of `session`'s client on `broker`.
    pub fn of(broker: &Broker, session: &Session) -> Access {
        Access::for_user(broker, &session.principal, session.client_host.trim_start_matches('/'))
    }

    /// The access of `user` connecting from `host` (an IP address), for requests that do not
    /// come over a Kafka connection (the web console's).
    pub fn for_user(broker: &Broker, user: &str, host: &str) -> Access {
        Access(broker.config.authorizer.as_ref().map(|settings| {
            Arc::new(Who { settings: settings.clone(), user: user.to_string(), host: host.to_string() })
        }))
    }

    /// Everything allowed: no authorizer (and the broker's own internal work).
    pub fn unrestricted() -> Access {
        Access(None)
    }

    /// Whether an authorizer is configured.
    pub fn enabled(&self) -> bool {
        self.0.is_some()
    }

    /// Whether the client may do `operation` on the resource `name`; a denial is audited.
    pub fn allows(&self, broker: &Broker, operation: Operation, resource_type: ResourceType, name: &str) -> bool {
        let Some(who) = &self.0 else { return true };
        let allowed =
            acl::authorize(&who.settings, &broker.image().acls, who.requester(), operation, resource_type, name);
        if !allowed {
            audit_denial(who, operation, resource_type, name);
        }
        allowed
    }

    /// `allows` on the cluster resource.
    pub fn allows_cluster(&self, broker: &Broker, operation: Operation) -> bool {
        self.allows(broker, operation, ResourceType::Cluster, acl::CLUSTER_NAME)
    }

    /// Whether the client may do `operation` on the resource without an audit line on denial:
    /// for filtering what a listing shows, as Kafka does not log those.
    pub fn sees(&self, broker: &Broker, operation: Operation, resource_type: ResourceType, name: &str) -> bool {
        self.0.is_none() || self.sees_in(&broker.image().acls, operation, resource_type, name)
    }

    /// `sees`, for a caller already holding the metadata image (a listing filtered under one
    /// lock).
    pub fn sees_in(&self, acls: &AclSet, operation: Operation, resource_type: ResourceType, name: &str) -> bool {
        let Some(who) = &self.0 else { return true };
        acl::authorize(&who.settings, acls, who.requester(), operation, resource_type, name)
    }

    /// Whether the client may create the topic `name`: CREATE on the cluster or on the topic,
    /// as Kafka checks CreateTopics.
    pub fn may_create_topic(&self, broker: &Broker, name: &str) -> bool {
        self.sees(broker, Operation::Create, ResourceType::Cluster, acl::CLUSTER_NAME)
            || self.allows(broker, Operation::Create, ResourceType::Topic, name)
    }

    /// Whether the client may do `operation` on some resource of the type.
    pub fn allows_any(&self, broker: &Broker, operation: Operation, resource_type: ResourceType) -> bool {
        let Some(who) = &self.0 else { return true };
        acl::authorize_any(&who.settings, &broker.image().acls, who.requester(), operation, resource_type)
    }

    /// Kafka's authorized-operations bits for a resource: every operation of its type when no
    /// authorizer is configured.
    pub fn operations(&self, broker: &Broker, resource_type: ResourceType, name: &str) -> i32 {
        match &self.0 {
            None => acl::all_operations(resource_type),
            Some(who) => {
                acl::authorized_operations(&who.settings, &broker.image().acls, who.requester(), resource_type, name)
            }
        }
    }
}

impl Who {
    fn requester(&self) -> Requester<'_> {
        Requester { user: &self.user, host: &self.host }
    }
}

/// At most this many denial lines per window; the rest are counted in the next line.
const AUDIT_LINES: u32 = 20;
const AUDIT_WINDOW: Duration = Duration::from_secs(10);

static AUDIT: Mutex<Option<(Instant, u32, u64)>> = Mutex::new(None);

fn audit_denial(who: &Who, operation: Operation, resource_type: ResourceType, name: &str) {
    let mut state = AUDIT.lock().unwrap_or_else(|e| e.into_inner());
    let (since, lines, suppressed) = state.get_or_insert((Instant::now(), 0, 0));
    if since.elapsed() >= AUDIT_WINDOW {
        (*since, *lines) = (Instant::now(), 0);
    }
    if *lines >= AUDIT_LINES {
        *suppressed += 1;
        return;
    }
    *lines += 1;
    let earlier = std::mem::take(suppressed);
    warn!(
        target: "audit",
        principal = %format!("User:{}", who.user),
        host = %who.host,
        operation = operation.name(),
        resource = %format!("{resource_type}:{name}"),
        suppressed_before = earlier,
        "authorization denied"
    );
}

#[cfg(test)]
mod tests {
    use super::CHECKED;
    use crate::handlers::api_versions::SUPPORTED;

    #[test]
    fn every_served_api_is_checked() {
        let unchecked: Vec<_> = SUPPORTED.iter().map(|(key, _, _)| *key).filter(|k| !CHECKED.contains(k)).collect();
        assert!(unchecked.is_empty(), "APIs served without an authorization check: {unchecked:?}");
    }
}
