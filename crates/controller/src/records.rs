//! Metadata records, modelled on KRaft's (`RegisterBrokerRecord`, `FenceBrokerRecord`,
//! `TopicRecord`, `PartitionRecord`, `PartitionChangeRecord`, `ConfigRecord`,
//! `RemoveTopicRecord`, `ProducerIdsRecord`, `UserScramCredentialRecord`,
//! `AccessControlEntryRecord`, `ClientQuotaRecord`), with Brook's own field names where Kafka's would mislead. One quorum command is a `RecordBatch`: records applied together, all or none,
//! encoded as versioned JSON so that a newer Brook can read what an older one wrote.

use std::collections::BTreeMap;

pub use brook_security::acl::Acl;
pub use brook_security::quota::QuotaEntity;
pub use brook_security::scram::Credential as ScramCredential;
pub use brook_security::token::TokenInfo;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The version of the record format this Brook writes; it reads this and every older one.
pub const RECORDS_VERSION: u16 = 1;

/// Where a broker takes Kafka clients: one per listener, as KRaft registers them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// The listener's name (`PLAINTEXT`, `INTERNAL`, ...).
    pub name: String,
    pub host: String,
    pub port: u16,
}

/// One change to the cluster's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MetadataRecord {
    /// The cluster's identity, written once by the first controller to lead.
    ClusterCreated {
        cluster_id: String,
    },
    /// A broker (re)registered: it gets a new broker epoch (the index of this record's
    /// command) and starts fenced until it has caught up with the metadata.
    BrokerRegistered {
        node_id: i32,
        incarnation_id: Uuid,
        endpoints: Vec<Endpoint>,
        rack: Option<String>,
    },
    /// The broker missed its session or shut down: it leaves the cluster's broker list.
    BrokerFenced {
        node_id: i32,
        broker_epoch: i64,
    },
    /// The broker asked to shut down (Kafka's controlled shutdown): it stays in the cluster's
    /// broker list, so clients still reach it, but leads nothing and leaves every ISR; it is
    /// fenced once it leads nothing.
    BrokerShuttingDown {
        node_id: i32,
        broker_epoch: i64,
    },
    /// The broker caught up and heartbeats: it serves again.
    BrokerUnfenced {
        node_id: i32,
        broker_epoch: i64,
    },
    TopicCreated {
        name: String,
        id: Uuid,
        configs: BTreeMap<String, String>,
    },
    /// A partition of a topic and where it lives (also for CreatePartitions).
    PartitionCreated {
        topic_id: Uuid,
        partition: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        /// -1: no leader.
        leader: i32,
    },
    /// A new leader and ISR for a partition: bumps its partition epoch, and its leader epoch
    /// when the leader changes.
    PartitionChanged {
        topic_id: Uuid,
        partition: i32,
        leader: i32,
        isr: Vec<i32>,
    },
    /// A partition's replicas change (AlterPartitionReassignments): a reassignment starts
    /// (the target and the replicas still to remove, with those to add and remove named), is
    /// cancelled, or completes (the target alone). Bumps the partition epoch, and the leader
    /// epoch when the leader changes.
    PartitionReassigned {
        topic_id: Uuid,
        partition: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        leader: i32,
        adding: Vec<i32>,
        removing: Vec<i32>,
    },
    TopicDeleted {
        id: Uuid,
    },
    /// Replaces a topic's whole set of overridden configs.
    TopicConfigsChanged {
        id: Uuid,
        configs: BTreeMap<String, String>,
    },
    /// Producer ids below `next` are handed out.
    ProducerIdsReserved {
        next: i64,
    },
    /// Replaces the dynamic configs of a broker resource: a node id, or "" for every broker
    /// (Kafka's ConfigRecord for BROKER resources).
    BrokerConfigsChanged {
        resource: String,
        configs: BTreeMap<String, String>,
    },
    /// Replaces a group's dynamic configs (Kafka's ConfigRecord for GROUP resources); a group
    /// need not exist to have them.
    GroupConfigsChanged {
        group: String,
        configs: BTreeMap<String, String>,
    },
    /// A broker's registration removed (Kafka's UnregisterBrokerRecord): it is no longer listed
    /// until it registers again. Its replicas stay assigned to it.
    BrokerUnregistered {
        node_id: i32,
    },
    /// Replaces a client metrics subscription's configs (Kafka's ConfigRecord for
    /// CLIENT_METRICS resources); empty configs remove it.
    ClientMetricsConfigsChanged {
        name: String,
        configs: BTreeMap<String, String>,
    },
    /// A feature's finalized level (Kafka's FeatureLevelRecord).
    FeatureLevelSet {
        name: String,
        level: i16,
    },
    /// A user's SCRAM credential for one mechanism (Kafka's UserScramCredentialRecord; the
    /// mechanism is Kafka's type: 1 SCRAM-SHA-256, 2 SCRAM-SHA-512).
    ScramCredentialSet {
        name: String,
        mechanism: i8,
        credential: ScramCredential,
    },
    /// Kafka's RemoveUserScramCredentialRecord.
    ScramCredentialRemoved {
        name: String,
        mechanism: i8,
    },
    /// A voter's controller registered (Kafka's RegisterControllerRecord): each voter
    /// registers once a leader is known, and again whenever its registration is gone.
    ControllerRegistered {
        node_id: i32,
        incarnation_id: Uuid,
        endpoints: Vec<Endpoint>,
    },
    /// UnregisterController: the registration removed.
    ControllerUnregistered {
        node_id: i32,
    },
    /// A delegation token, new or with a new expiry time (Kafka's DelegationTokenRecord).
    DelegationTokenSet {
        token: TokenInfo,
    },
    /// Kafka's RemoveDelegationTokenRecord: expired at once, or swept once expired.
    DelegationTokenRemoved {
        token_id: String,
    },
    /// An ACL and the id it is deleted by (Kafka's AccessControlEntryRecord).
    AclCreated {
        id: Uuid,
        acl: Acl,
    },
    /// Kafka's RemoveAccessControlEntryRecord.
    AclRemoved {
        id: Uuid,
    },
    /// One client quota of an entity set, or removed when `None` (Kafka's ClientQuotaRecord).
    ClientQuotaChanged {
        entity: QuotaEntity,
        key: String,
        value: Option<f64>,
    },
}

#[derive(Serialize, Deserialize)]
struct RecordBatch {
    version: u16,
    records: Vec<MetadataRecord>,
}

/// One quorum command holding `records`.
pub fn encode(records: &[MetadataRecord]) -> Vec<u8> {
    let batch = RecordBatch { version: RECORDS_VERSION, records: records.to_vec() };
    serde_json::to_vec(&batch).expect("metadata records serialize")
}

/// The records of one quorum command.
pub fn decode(command: &[u8]) -> Result<Vec<MetadataRecord>, String> {
    let batch: RecordBatch = serde_json::from_slice(command).map_err(|e| e.to_string())?;
    if batch.version > RECORDS_VERSION {
        return Err(format!(
            "metadata records of version {} are newer than this Brook reads ({RECORDS_VERSION})",
            batch.version
        ));
    }
    Ok(batch.records)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records survive the encoding; a newer version is refused with a message, not misread.
    #[test]
    fn round_trip_and_versions() {
        let records = vec![
            MetadataRecord::ClusterCreated { cluster_id: "c".into() },
            MetadataRecord::PartitionCreated {
                topic_id: Uuid::new_v4(),
                partition: 3,
                replicas: vec![1],
                isr: vec![1],
                leader: 1,
            },
        ];
        assert_eq!(decode(&encode(&records)).expect("decode"), records);
        let newer = br#"{"version":99,"records":[]}"#;
        assert!(decode(newer).expect_err("newer").contains("newer"));
        assert!(decode(b"garbage").is_err());
    }
}
