//! The metadata image: what the records build, the same on every node that applied the same
//! commands (KRaft's `MetadataImage`). Applying depends on nothing but the record and the
//! index of its command, so replaying the log, or restoring a snapshot and replaying the rest,
//! always builds the same image.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use brook_security::acl::AclSet;
use brook_security::quota::QuotaSet;

use crate::records::{Endpoint, MetadataRecord, ScramCredential, TokenInfo};

/// No leader: Kafka's -1.
pub const NO_LEADER: i32 = -1;

/// Where one partition lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionMeta {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// A reassignment in progress (Kafka's adding and removing replicas): `replicas` is then
    /// the target followed by the replicas to remove.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adding: Vec<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removing: Vec<i32>,
}

impl PartitionMeta {
    pub fn reassigning(&self) -> bool {
        !self.adding.is_empty() || !self.removing.is_empty()
    }
}

/// A topic as the metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMeta {
    pub name: String,
    pub id: Uuid,
    /// The partition count (`assignments.len()`).
    pub partitions: i32,
    pub configs: BTreeMap<String, String>,
    /// Each partition's replicas and leader, by partition index. Shared, so that the copies
    /// request handlers take cost a reference count, not the partition list.
    pub assignments: Arc<Vec<PartitionMeta>>,
}

impl TopicMeta {
    pub fn partition(&self, index: i32) -> Option<&PartitionMeta> {
        usize::try_from(index).ok().and_then(|i| self.assignments.get(i))
    }
}

/// A registered controller (one of the quorum's voters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerRegistration {
    pub incarnation_id: Uuid,
    pub endpoints: Vec<Endpoint>,
}

/// A registered broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    pub node_id: i32,
    /// The index of the command that registered it: grows with every registration.
    pub epoch: i64,
    pub incarnation_id: Uuid,
    pub endpoints: Vec<Endpoint>,
    pub rack: Option<String>,
    pub fenced: bool,
    /// In controlled shutdown: unfenced, but no longer to lead or join an ISR.
    #[serde(default)]
    pub shutting_down: bool,
}

impl BrokerRegistration {
    /// Whether it may lead partitions and be in their ISRs: unfenced and not shutting down.
    pub fn eligible(&self) -> bool {
        !self.fenced && !self.shutting_down
    }

    /// The endpoint of listener `name`, else the first one.
    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.name == name).or(self.endpoints.first())
    }
}

/// The state the records build.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetadataImage {
    pub cluster_id: Option<String>,
    topics: BTreeMap<String, TopicMeta>,
    #[serde(skip)]
    names_by_id: HashMap<Uuid, String>,
    pub brokers: BTreeMap<i32, BrokerRegistration>,
    /// The registered controllers by node id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub controllers: BTreeMap<i32, ControllerRegistration>,
    /// Producer ids below this were reserved.
    pub producer_ids_reserved: i64,
    /// Dynamic broker configs by resource: a node id, or "" for the cluster-wide default.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub broker_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// Dynamic group configs by group id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub group_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// Client metrics subscriptions (KIP-714) by name: their configs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub client_metrics_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// Features' finalized levels set since the cluster began (see `features`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub features: BTreeMap<String, i16>,
    /// SCRAM credentials by user name, then by Kafka's mechanism type.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scram_credentials: BTreeMap<String, BTreeMap<i8, ScramCredential>>,
    /// Delegation tokens by id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub delegation_tokens: BTreeMap<String, TokenInfo>,
    /// The ACLs by id, indexed for authorization.
    #[serde(default, skip_serializing_if = "AclSet::is_empty")]
    pub acls: AclSet,
    /// Client quotas by entity.
    #[serde(default, skip_serializing_if = "QuotaSet::is_empty")]
    pub client_quotas: QuotaSet,
    /// The index of the last command applied (0 before any).
    pub applied_index: u64,
}

impl MetadataImage {
    /// Applies one record of the command at `index`.
    pub fn apply(&mut self, index: u64, record: &MetadataRecord) {
        self.applied_index = self.applied_index.max(index);
        match record {
            MetadataRecord::ClusterCreated { cluster_id } => {
                self.cluster_id.get_or_insert_with(|| cluster_id.clone());
            }
            MetadataRecord::BrokerRegistered { node_id, incarnation_id, endpoints, rack } => {
                let registration = BrokerRegistration {
                    node_id: *node_id,
                    epoch: index as i64,
                    incarnation_id: *incarnation_id,
                    endpoints: endpoints.clone(),
                    rack: rack.clone(),
                    fenced: true,
                    shutting_down: false,
                };
                self.brokers.insert(*node_id, registration);
            }
            MetadataRecord::BrokerFenced { node_id, broker_epoch } => self.set_fenced(*node_id, *broker_epoch, true),
            MetadataRecord::BrokerUnfenced { node_id, broker_epoch } => self.set_fenced(*node_id, *broker_epoch, false),
            MetadataRecord::BrokerShuttingDown { node_id, broker_epoch } => {
                if let Some(b) = self.brokers.get_mut(node_id).filter(|b| b.epoch == *broker_epoch) {
                    b.shutting_down = true;
                }
            }
            MetadataRecord::TopicCreated { name, id, configs } => {
                if self.topics.contains_key(name) || self.names_by_id.contains_key(id) {
                    return;
                }
                self.names_by_id.insert(*id, name.clone());
                let topic = TopicMeta {
                    name: name.clone(),
                    id: *id,
                    partitions: 0,
                    configs: configs.clone(),
                    assignments: Arc::default(),
                };
                self.topics.insert(name.clone(), topic);
            }
            MetadataRecord::PartitionCreated { topic_id, partition, replicas, isr, leader } => {
                if let Some(topic) = self.topic_by_id_mut(topic_id)
                    && *partition == topic.partitions
                {
                    let meta = PartitionMeta {
                        replicas: replicas.clone(),
                        isr: isr.clone(),
                        leader: *leader,
                        leader_epoch: 0,
                        partition_epoch: 0,
                        adding: Vec::new(),
                        removing: Vec::new(),
                    };
                    Arc::make_mut(&mut topic.assignments).push(meta);
                    topic.partitions += 1;
                }
            }
            MetadataRecord::PartitionChanged { topic_id, partition, leader, isr } => {
                if let Some(p) = self.topic_by_id_mut(topic_id).and_then(|t| {
                    usize::try_from(*partition).ok().and_then(|i| Arc::make_mut(&mut t.assignments).get_mut(i))
                }) {
                    if p.leader != *leader {
                        p.leader = *leader;
                        p.leader_epoch += 1;
                    }
                    p.isr = isr.clone();
                    p.partition_epoch += 1;
                }
            }
            MetadataRecord::PartitionReassigned { topic_id, partition, replicas, isr, leader, adding, removing } => {
                if let Some(p) = self.topic_by_id_mut(topic_id).and_then(|t| {
                    usize::try_from(*partition).ok().and_then(|i| Arc::make_mut(&mut t.assignments).get_mut(i))
                }) {
                    if p.leader != *leader {
                        p.leader = *leader;
                        p.leader_epoch += 1;
                    }
                    p.replicas = replicas.clone();
                    p.isr = isr.clone();
                    p.adding = adding.clone();
                    p.removing = removing.clone();
                    p.partition_epoch += 1;
                }
            }
            MetadataRecord::TopicDeleted { id } => {
                if let Some(name) = self.names_by_id.remove(id) {
                    self.topics.remove(&name);
                }
            }
            MetadataRecord::TopicConfigsChanged { id, configs } => {
                if let Some(topic) = self.topic_by_id_mut(id) {
                    topic.configs = configs.clone();
                }
            }
            MetadataRecord::ProducerIdsReserved { next } => {
                self.producer_ids_reserved = self.producer_ids_reserved.max(*next);
            }
            MetadataRecord::BrokerConfigsChanged { resource, configs } => {
                if configs.is_empty() {
                    self.broker_configs.remove(resource);
                } else {
                    self.broker_configs.insert(resource.clone(), configs.clone());
                }
            }
            MetadataRecord::GroupConfigsChanged { group, configs } => {
                if configs.is_empty() {
                    self.group_configs.remove(group);
                } else {
                    self.group_configs.insert(group.clone(), configs.clone());
                }
            }
            MetadataRecord::BrokerUnregistered { node_id } => {
                self.brokers.remove(node_id);
            }
            MetadataRecord::ClientMetricsConfigsChanged { name, configs } => {
                if configs.is_empty() {
                    self.client_metrics_configs.remove(name);
                } else {
                    self.client_metrics_configs.insert(name.clone(), configs.clone());
                }
            }
            MetadataRecord::FeatureLevelSet { name, level } => {
                self.features.insert(name.clone(), *level);
            }
            MetadataRecord::ScramCredentialSet { name, mechanism, credential } => {
                self.scram_credentials.entry(name.clone()).or_default().insert(*mechanism, credential.clone());
            }
            MetadataRecord::ScramCredentialRemoved { name, mechanism } => {
                if let Some(user) = self.scram_credentials.get_mut(name) {
                    user.remove(mechanism);
                    if user.is_empty() {
                        self.scram_credentials.remove(name);
                    }
                }
            }
            MetadataRecord::ControllerRegistered { node_id, incarnation_id, endpoints } => {
                let registration =
                    ControllerRegistration { incarnation_id: *incarnation_id, endpoints: endpoints.clone() };
                self.controllers.insert(*node_id, registration);
            }
            MetadataRecord::ControllerUnregistered { node_id } => {
                self.controllers.remove(node_id);
            }
            MetadataRecord::DelegationTokenSet { token } => {
                self.delegation_tokens.insert(token.token_id.clone(), token.clone());
            }
            MetadataRecord::DelegationTokenRemoved { token_id } => {
                self.delegation_tokens.remove(token_id);
            }
            MetadataRecord::AclCreated { id, acl } => self.acls.insert(*id, acl.clone()),
            MetadataRecord::AclRemoved { id } => {
                self.acls.remove(id);
            }
            MetadataRecord::ClientQuotaChanged { entity, key, value } => self.client_quotas.set(entity, key, *value),
        }
    }

    fn set_fenced(&mut self, node_id: i32, broker_epoch: i64, fenced: bool) {
        // A record for an older registration of the broker changes nothing.
        if let Some(b) = self.brokers.get_mut(&node_id).filter(|b| b.epoch == broker_epoch) {
            b.fenced = fenced;
            b.shutting_down = false;
        }
    }

    /// Rebuilds what snapshots leave out.
    pub fn reindex(&mut self) {
        self.names_by_id = self.topics.values().map(|t| (t.id, t.name.clone())).collect();
    }

    pub fn topic(&self, name: &str) -> Option<&TopicMeta> {
        self.topics.get(name)
    }

    pub fn topic_by_id(&self, id: &Uuid) -> Option<&TopicMeta> {
        self.topics.get(self.names_by_id.get(id)?)
    }

    fn topic_by_id_mut(&mut self, id: &Uuid) -> Option<&mut TopicMeta> {
        self.topics.get_mut(self.names_by_id.get(id)?)
    }

    pub fn topics(&self) -> impl Iterator<Item = &TopicMeta> {
        self.topics.values()
    }

    /// Whether broker `id` is registered and may lead and be in ISRs (`eligible`).
    pub fn eligible(&self, id: i32) -> bool {
        self.brokers.get(&id).is_some_and(BrokerRegistration::eligible)
    }

    /// Registered brokers that are not fenced: the cluster's live brokers, as clients see them.
    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers.values().filter(|b| !b.fenced)
    }

    /// Whether `node_id` leads any partition.
    pub fn leads_any(&self, node_id: i32) -> bool {
        self.topics.values().any(|t| t.assignments.iter().any(|p| p.leader == node_id))
    }

    /// Every partition whose replicas include `node_id`, as (topic, partition index).
    pub fn partitions_on(&self, node_id: i32) -> impl Iterator<Item = (&TopicMeta, i32)> {
        self.topics.values().flat_map(move |t| {
            t.assignments
                .iter()
                .enumerate()
                .filter(move |(_, p)| p.replicas.contains(&node_id))
                .map(move |(i, _)| (t, i as i32))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(topic_id: Uuid, partition: i32, node: i32) -> MetadataRecord {
        MetadataRecord::PartitionCreated { topic_id, partition, replicas: vec![node], isr: vec![node], leader: node }
    }

    /// Topics, their partitions and configs; leader changes bump the epochs; deletion frees the
    /// name; a partition out of order is ignored rather than leaving a hole.
    #[test]
    fn topics_and_partitions() {
        let id = Uuid::new_v4();
        let mut image = MetadataImage::default();
        image.apply(1, &MetadataRecord::TopicCreated { name: "orders".into(), id, configs: BTreeMap::new() });
        image.apply(1, &partition(id, 0, 1));
        image.apply(1, &partition(id, 1, 2));
        image.apply(2, &partition(id, 5, 2));
        let topic = image.topic("orders").expect("topic");
        assert_eq!(topic.partitions, 2);
        assert_eq!(topic.partition(1).map(|p| p.leader), Some(2));
        image.apply(
            3,
            &MetadataRecord::PartitionChanged { topic_id: id, partition: 1, leader: NO_LEADER, isr: vec![2] },
        );
        image.apply(
            4,
            &MetadataRecord::PartitionChanged { topic_id: id, partition: 1, leader: NO_LEADER, isr: vec![2] },
        );
        let p = image.topic("orders").and_then(|t| t.partition(1)).expect("partition").clone();
        assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (NO_LEADER, 1, 2));
        assert_eq!(image.partitions_on(2).count(), 1);
        image.apply(5, &MetadataRecord::TopicDeleted { id });
        assert!(image.topic("orders").is_none() && image.topic_by_id(&id).is_none());
        assert_eq!(image.applied_index, 5);
    }

    /// A registration starts fenced with its command's index as epoch; fencing records for an
    /// older epoch are ignored.
    #[test]
    fn broker_lifecycle() {
        let mut image = MetadataImage::default();
        let register = |id| MetadataRecord::BrokerRegistered {
            node_id: id,
            incarnation_id: Uuid::new_v4(),
            endpoints: vec![Endpoint { name: "PLAINTEXT".into(), host: "h".into(), port: 1 }],
            rack: None,
        };
        image.apply(7, &register(1));
        assert!(image.brokers[&1].fenced);
        assert_eq!(image.brokers[&1].epoch, 7);
        image.apply(8, &MetadataRecord::BrokerUnfenced { node_id: 1, broker_epoch: 7 });
        assert_eq!(image.live_brokers().count(), 1);
        image.apply(9, &register(1));
        image.apply(10, &MetadataRecord::BrokerUnfenced { node_id: 1, broker_epoch: 7 });
        assert!(image.brokers[&1].fenced, "an old epoch's unfence must not count");
    }
}
