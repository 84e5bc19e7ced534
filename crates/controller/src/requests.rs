//! What brokers ask the active controller, and its answers: the payload of Brook's
//! broker-to-controller RPC (bincode), and of calls made inside one process alike.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ApiError;
use crate::records::{Acl, Endpoint, QuotaEntity, ScramCredential, TokenInfo};
use brook_security::acl::AclFilter;
use brook_security::token::Principal;

/// What a RenewDelegationToken or ExpireDelegationToken asks of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenChange {
    /// Renew for the asked period (the default when not positive).
    Renew { period_ms: i64 },
    /// Expire after the period (at once, and removed, when negative).
    Expire { period_ms: i64 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ControllerRequest {
    /// CreateTopics, one topic. `assignment` (replica lists by partition) replaces placement
    /// when not empty; `partitions` and `replication_factor` are already resolved (no -1).
    CreateTopic {
        name: String,
        partitions: i32,
        replication_factor: i16,
        assignment: Vec<Vec<i32>>,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    },
    DeleteTopic {
        id: Uuid,
    },
    SetTopicConfigs {
        name: String,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    },
    /// CreatePartitions: grow `name` to `count` partitions.
    CreatePartitions {
        name: String,
        count: i32,
        assignment: Vec<Vec<i32>>,
        validate_only: bool,
    },
    /// A block of producer ids (Kafka's AllocateProducerIds).
    AllocateProducerIds {
        count: i64,
    },
    /// Kafka's BrokerRegistration: `cluster_id` is the one the broker last belonged to, if any.
    RegisterBroker {
        node_id: i32,
        incarnation_id: Uuid,
        endpoints: Vec<Endpoint>,
        rack: Option<String>,
        cluster_id: Option<String>,
    },
    /// Kafka's BrokerHeartbeat: the broker's epoch and how far it has applied the metadata.
    BrokerHeartbeat {
        node_id: i32,
        broker_epoch: i64,
        applied_index: u64,
        want_shutdown: bool,
    },
    /// Kafka's AlterPartition.
    AlterPartition(IsrChange),
    /// Kafka's ElectLeaders: preferred (`unclean: false`) or unclean elections for the given
    /// partitions (topic id, index), or every partition.
    ElectLeaders {
        unclean: bool,
        partitions: Option<Vec<(Uuid, i32)>>,
    },
    /// Per partition: a target replica list, or `None` to cancel a reassignment.
    AlterReassignments {
        reassignments: Vec<(Uuid, i32, Option<Vec<i32>>)>,
    },
    /// DescribeQuorum: only the quorum's leader knows every voter's progress.
    DescribeQuorum,
    /// A broker that is not a voter follows the metadata: the commands committed after index
    /// `after` (KRaft's observers fetch the metadata log the same way).
    FetchMetadata {
        after: u64,
    },
    /// Replaces the dynamic configs of broker resource `resource`: a node id, or "" for the
    /// cluster-wide default (Kafka's `--entity-default`). Validated by the broker first.
    SetBrokerConfigs {
        resource: String,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    },
    /// Replaces a group's dynamic configs. Validated by the broker first.
    SetGroupConfigs {
        group: String,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    },
    /// A voter's controller registration (Kafka's ControllerRegistration).
    RegisterController {
        node_id: i32,
        incarnation_id: Uuid,
        endpoints: Vec<Endpoint>,
    },
    /// UnregisterController: removes a controller's registration.
    UnregisterController {
        node_id: i32,
    },
    /// UnregisterBroker: removes a broker's registration (a broker that is gone for good).
    UnregisterBroker {
        node_id: i32,
    },
    /// Replaces a client metrics subscription's configs (KIP-714's CLIENT_METRICS resource);
    /// empty configs delete it. Validated by the broker first.
    SetClientMetricsConfigs {
        name: String,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    },
    /// UpdateFeatures: (feature, level, kind) each, checked here (the controller names
    /// itself in the refusals, as Kafka's does).
    UpdateFeatures {
        updates: Vec<(String, i16, crate::features::UpgradeType)>,
        validate_only: bool,
    },
    /// AlterUserScramCredentials, validated by the broker: each (user, mechanism type) gets
    /// this credential, or loses its credential when `None`; all or none.
    SetScramCredentials {
        changes: Vec<(String, i8, Option<ScramCredential>)>,
    },
    /// CreateDelegationToken, checked by the broker: a new token for `owner`, with the
    /// controller's lifetimes (the asked one when shorter and positive).
    CreateDelegationToken {
        owner: Principal,
        requester: Principal,
        renewers: Vec<Principal>,
        max_lifetime_ms: i64,
    },
    /// RenewDelegationToken or ExpireDelegationToken of the token the broker found by its
    /// HMAC, asked by `by`.
    ChangeDelegationToken {
        token_id: String,
        by: Principal,
        change: TokenChange,
    },
    /// CreateAcls, validated by the broker: ACLs that exist already are left as they are.
    CreateAcls {
        acls: Vec<Acl>,
    },
    /// DeleteAcls: every ACL each filter selects, all or none.
    DeleteAcls {
        filters: Vec<AclFilter>,
    },
    /// AlterClientQuotas, validated by the broker: each (entity, key) set or removed; all or none.
    AlterClientQuotas {
        changes: Vec<(QuotaEntity, String, Option<f64>)>,
    },
}

/// A partition's leader changes its ISR, naming the leader and partition epochs it saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsrChange {
    pub topic_id: Uuid,
    pub partition: i32,
    pub leader: i32,
    pub broker_epoch: i64,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub isr: Vec<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControllerReply {
    TopicCreated {
        id: Uuid,
        partitions: i32,
    },
    Done,
    ProducerIds {
        start: i64,
        end: i64,
    },
    Registered {
        broker_epoch: i64,
    },
    /// Each partition's outcome of an ElectLeaders, in the order asked (or of every partition).
    Elected(Vec<(Uuid, i32, Option<WireError>)>),
    Reassigned(Vec<(Uuid, i32, Option<WireError>)>),
    Heartbeat {
        fenced: bool,
    },
    Quorum(QuorumDescription),
    Metadata(MetadataCatchup),
    /// A delegation token as created.
    Token(TokenInfo),
    /// A delegation token's expiry time after a renewal or an expiry.
    TokenExpiry(i64),
    /// The ACLs each DeleteAcls filter removed, in the filters' order.
    AclsDeleted(Vec<Vec<Acl>>),
}

/// Committed metadata for an observer: commands with their indexes, or the whole image when
/// the log no longer reaches back far enough.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetadataCatchup {
    Commands { commands: Vec<(u64, Vec<u8>)>, next: u64 },
    Snapshot { index: u64, data: Vec<u8> },
}

/// The metadata quorum as its leader sees it (Kafka's DescribeQuorum partition data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumDescription {
    pub leader_id: i32,
    pub leader_epoch: i32,
    pub high_watermark: i64,
    pub voters: Vec<VoterDescription>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoterDescription {
    pub node_id: i32,
    pub log_end_offset: i64,
    pub last_fetch_timestamp: i64,
    pub last_caught_up_timestamp: i64,
}

/// An answer, with the index of the command that carried out the change (0 if none), which
/// the asking broker waits for in its own image before it answers its client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerResponse {
    pub index: u64,
    pub result: Result<ControllerReply, WireError>,
}

/// An `ApiError` on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireError {
    pub code: i16,
    pub message: String,
}

impl From<ApiError> for WireError {
    fn from(e: ApiError) -> WireError {
        WireError { code: e.code.code(), message: e.message }
    }
}

impl From<WireError> for ApiError {
    fn from(e: WireError) -> ApiError {
        let code = ResponseError::try_from_code(e.code).unwrap_or(ResponseError::UnknownServerError);
        ApiError::new(code, e.message)
    }
}
