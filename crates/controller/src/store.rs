//! The metadata image as the quorum's state machine: commands applied in log order, snapshots
//! as the image's JSON, and a watch of the applied index so the broker can wait for a change
//! it asked for and react to every change (open or drop its partitions).

use std::sync::{RwLock, RwLockReadGuard};

use brook_quorum::StateMachine;
use tokio::sync::watch;
use tracing::error;

use crate::image::MetadataImage;
use crate::records::{self, MetadataRecord};

pub struct MetadataStore {
    image: RwLock<MetadataImage>,
    applied: watch::Sender<u64>,
}

impl Default for MetadataStore {
    fn default() -> MetadataStore {
        MetadataStore { image: RwLock::new(MetadataImage::default()), applied: watch::channel(0).0 }
    }
}

impl MetadataStore {
    /// The image as it is now; hold the guard briefly (appliers wait for it).
    pub fn image(&self) -> RwLockReadGuard<'_, MetadataImage> {
        self.image.read().expect("image lock")
    }

    /// Changes with every applied command (and restored snapshot).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    pub fn applied_index(&self) -> u64 {
        *self.applied.borrow()
    }

    /// Waits until the command at `index` is applied here.
    pub async fn wait_for(&self, index: u64) {
        let mut rx = self.subscribe();
        let _ = rx.wait_for(|applied| *applied >= index).await;
    }

    /// Applies records directly, outside the quorum: only for tests and simulations.
    pub fn apply_records(&self, index: u64, records: &[MetadataRecord]) {
        let mut image = self.image.write().expect("image lock");
        for record in records {
            image.apply(index, record);
        }
        drop(image);
        self.applied.send_replace(index);
    }
}

impl StateMachine for MetadataStore {
    fn apply(&self, index: u64, command: &[u8]) {
        match records::decode(command) {
            Ok(records) => self.apply_records(index, &records),
            Err(e) => {
                // Every node skips the same bytes, so images still agree; say so loudly.
                error!(index, error = %e, "skipping a metadata command this Brook cannot read");
                self.image.write().expect("image lock").applied_index = index;
                self.applied.send_replace(index);
            }
        }
    }

    fn snapshot(&self) -> Vec<u8> {
        serde_json::to_vec(&*self.image()).expect("the image serializes")
    }

    fn restore(&self, snapshot: &[u8]) -> Result<(), String> {
        let mut image: MetadataImage = serde_json::from_slice(snapshot).map_err(|e| e.to_string())?;
        image.reindex();
        let index = image.applied_index;
        *self.image.write().expect("image lock") = image;
        self.applied.send_replace(index);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use uuid::Uuid;

    use super::*;
    use brook_security::acl::{Operation, PatternType, Permission, ResourceType};

    use crate::records::{Endpoint, ScramCredential};

    /// A random record about a small set of topics and brokers, so records collide often.
    fn record() -> impl Strategy<Value = MetadataRecord> {
        let topic = 0..4u128;
        let node = 1..4i32;
        prop_oneof![
            (topic.clone(), 0..3usize).prop_map(|(t, c)| MetadataRecord::TopicCreated {
                name: format!("t{t}"),
                id: Uuid::from_u128(t),
                configs: BTreeMap::from([("retention.ms".to_string(), c.to_string())]),
            }),
            (topic.clone(), 0..4i32, node.clone()).prop_map(|(t, p, n)| MetadataRecord::PartitionCreated {
                topic_id: Uuid::from_u128(t),
                partition: p,
                replicas: vec![n],
                isr: vec![n],
                leader: n,
            }),
            (topic.clone(), 0..4i32, -1..4i32).prop_map(|(t, p, l)| MetadataRecord::PartitionChanged {
                topic_id: Uuid::from_u128(t),
                partition: p,
                leader: l,
                isr: vec![l.max(1)],
            }),
            topic.clone().prop_map(|t| MetadataRecord::TopicDeleted { id: Uuid::from_u128(t) }),
            node.clone().prop_map(|n| MetadataRecord::BrokerRegistered {
                node_id: n,
                incarnation_id: Uuid::from_u128(n as u128),
                endpoints: vec![Endpoint { name: "PLAINTEXT".into(), host: "h".into(), port: 9092 }],
                rack: None,
            }),
            (node.clone(), 0..40i64).prop_map(|(n, e)| MetadataRecord::BrokerUnfenced { node_id: n, broker_epoch: e }),
            (node, 0..40i64).prop_map(|(n, e)| MetadataRecord::BrokerFenced { node_id: n, broker_epoch: e }),
            (0..5000i64).prop_map(|next| MetadataRecord::ProducerIdsReserved { next }),
            (0..3i32, 0..3usize).prop_map(|(n, c)| MetadataRecord::BrokerConfigsChanged {
                resource: if n == 0 { String::new() } else { n.to_string() },
                configs: (0..c).map(|i| (format!("k{i}"), n.to_string())).collect(),
            }),
            (0..3u8, 1..3i8, any::<bool>()).prop_map(|(u, mechanism, set)| {
                let name = format!("user{u}");
                match set {
                    true => MetadataRecord::ScramCredentialSet {
                        name,
                        mechanism,
                        credential: ScramCredential {
                            salt: vec![u],
                            stored_key: vec![1],
                            server_key: vec![2],
                            iterations: 4096,
                        },
                    },
                    false => MetadataRecord::ScramCredentialRemoved { name, mechanism },
                }
            }),
            (0..4u128, any::<bool>()).prop_map(|(n, create)| {
                let id = Uuid::from_u128(n);
                match create {
                    true => MetadataRecord::AclCreated {
                        id,
                        acl: crate::records::Acl {
                            resource_type: ResourceType::Topic,
                            resource_name: format!("t{n}"),
                            pattern: PatternType::Prefixed,
                            principal: "User:alice".into(),
                            host: "*".into(),
                            operation: Operation::Read,
                            permission: Permission::Allow,
                        },
                    },
                    false => MetadataRecord::AclRemoved { id },
                }
            }),
            (0..3u8, proptest::option::of(1..5u32)).prop_map(|(u, value)| MetadataRecord::ClientQuotaChanged {
                entity: brook_security::quota::QuotaEntity {
                    user: Some(brook_security::quota::EntityName::Named(format!("user{u}"))),
                    client_id: None,
                },
                key: "producer_byte_rate".into(),
                value: value.map(f64::from),
            }),
        ]
    }

    proptest! {
        /// Every node applies the same commands in log order; one that restored a snapshot
        /// taken at any point and applied the rest, or that restarted from a later snapshot,
        /// ends with the same image, byte for byte, as one that applied everything.
        #[test]
        fn snapshots_anywhere_give_the_same_image(
            commands in proptest::collection::vec(proptest::collection::vec(record(), 1..4), 1..40),
            cut in any::<proptest::sample::Index>(),
        ) {
            let whole = MetadataStore::default();
            for (i, command) in commands.iter().enumerate() {
                StateMachine::apply(&whole, i as u64 + 1, &records::encode(command));
            }
            let cut = cut.index(commands.len() + 1);
            let before = MetadataStore::default();
            for (i, command) in commands[..cut].iter().enumerate() {
                StateMachine::apply(&before, i as u64 + 1, &records::encode(command));
            }
            let restored = MetadataStore::default();
            restored.restore(&before.snapshot()).expect("restore");
            for (i, command) in commands.iter().enumerate().skip(cut) {
                StateMachine::apply(&restored, i as u64 + 1, &records::encode(command));
            }
            prop_assert_eq!(restored.snapshot(), whole.snapshot());
            prop_assert_eq!(&*restored.image(), &*whole.image());
            prop_assert_eq!(restored.applied_index(), commands.len() as u64);
        }
    }
}
