//! Cluster metadata as KRaft keeps it: every change is a record appended to a metadata log and
//! then applied to an in-memory state machine. On one broker the log is a local partition log
//! (`__cluster_metadata-0` in the first log directory, one JSON record per batch, each append
//! durable before it is applied); a Raft quorum will later carry the same records.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use brook_log::batch::{self, Record};
use brook_log::{Durability, Log, LogConfig, LogEnv, LogError, ReadBound};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The metadata log's directory name, as Kafka's KRaft names it.
pub const METADATA_DIR: &str = "__cluster_metadata-0";

/// How many producer ids one record reserves, so InitProducerId rarely writes.
pub const PRODUCER_ID_BLOCK: i64 = 1000;

/// One change to the cluster's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MetadataRecord {
    /// The cluster's identity, written once when the first broker starts.
    ClusterCreated {
        cluster_id: String,
    },
    TopicCreated {
        name: String,
        id: Uuid,
        partitions: i32,
        configs: BTreeMap<String, String>,
    },
    /// A topic now has `partitions` partitions (CreatePartitions only grows).
    PartitionsCreated {
        id: Uuid,
        partitions: i32,
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
}

/// A topic as the metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMeta {
    pub name: String,
    pub id: Uuid,
    pub partitions: i32,
    pub configs: BTreeMap<String, String>,
}

/// The state machine the records build.
#[derive(Debug, Default, Clone)]
pub struct MetadataState {
    pub cluster_id: Option<String>,
    topics: BTreeMap<String, TopicMeta>,
    names_by_id: HashMap<Uuid, String>,
    /// Producer ids below this were reserved.
    pub producer_ids_reserved: i64,
}

impl MetadataState {
    pub fn apply(&mut self, record: &MetadataRecord) {
        match record {
            MetadataRecord::ClusterCreated { cluster_id } => self.cluster_id = Some(cluster_id.clone()),
            MetadataRecord::TopicCreated { name, id, partitions, configs } => {
                self.names_by_id.insert(*id, name.clone());
                let topic =
                    TopicMeta { name: name.clone(), id: *id, partitions: *partitions, configs: configs.clone() };
                self.topics.insert(name.clone(), topic);
            }
            MetadataRecord::PartitionsCreated { id, partitions } => {
                if let Some(topic) = self.topic_by_id_mut(id) {
                    topic.partitions = topic.partitions.max(*partitions);
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
        }
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
}

/// The durable record log behind the state.
pub struct MetadataLog {
    log: Log,
}

impl MetadataLog {
    /// Opens the log and replays it into a fresh state.
    pub fn open(log_dir: &Path, env: LogEnv) -> Result<(MetadataLog, MetadataState), LogError> {
        // Never deleted by retention: this log is the cluster's memory.
        let config = LogConfig { retention_ms: -1, retention_bytes: -1, ..LogConfig::default() };
        let log = Log::open(&log_dir.join(METADATA_DIR), config, env)?;
        let mut state = MetadataState::default();
        let mut offset = log.log_start_offset();
        while offset < log.high_watermark() {
            let bytes = log.read(offset, 1 << 20, ReadBound::HighWatermark)?;
            for (header, bytes) in batch::whole_batches(&bytes) {
                for record in batch::decode_records(bytes).unwrap_or_default() {
                    match record.value.as_deref().map(serde_json::from_slice::<MetadataRecord>) {
                        Some(Ok(r)) => state.apply(&r),
                        _ => tracing::warn!(offset = header.base_offset, "skipping an unreadable metadata record"),
                    }
                }
                offset = header.next_offset();
            }
        }
        Ok((MetadataLog { log }, state))
    }

    /// Appends `records` as one batch and waits until it is durable.
    pub async fn append(&self, records: &[MetadataRecord], now_ms: i64) -> Result<(), LogError> {
        let records: Vec<Record> = records
            .iter()
            .map(|r| Record {
                timestamp_delta: 0,
                key: None,
                value: Some(serde_json::to_vec(r).expect("metadata records serialize")),
            })
            .collect();
        let appended = self.log.append(batch::build::batch(now_ms, &records), Durability::Sync)?;
        self.log.wait_for_high_watermark(appended.last_offset + 1).await
    }

    pub fn close(&self) -> Result<(), LogError> {
        self.log.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records applied in order build the expected topics; deletion frees the name.
    #[test]
    fn state_machine() {
        let id = Uuid::new_v4();
        let mut state = MetadataState::default();
        let created =
            MetadataRecord::TopicCreated { name: "orders".into(), id, partitions: 3, configs: BTreeMap::new() };
        state.apply(&created);
        state.apply(&MetadataRecord::PartitionsCreated { id, partitions: 5 });
        assert_eq!(state.topic("orders").map(|t| t.partitions), Some(5));
        assert_eq!(state.topic_by_id(&id).map(|t| t.name.as_str()), Some("orders"));
        state.apply(&MetadataRecord::TopicDeleted { id });
        assert!(state.topic("orders").is_none());
        assert!(state.topic_by_id(&id).is_none());
        let json = serde_json::to_string(&created).expect("serialize");
        assert_eq!(serde_json::from_str::<MetadataRecord>(&json).expect("parse"), created);
    }
}
