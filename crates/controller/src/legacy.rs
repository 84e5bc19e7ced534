//! The metadata log of a Brook from before the quorum: `__cluster_metadata-0` holding one JSON
//! record per batch, written by one broker. A broker that finds one carries its topics into the
//! quorum once, as records placing every partition on itself, then removes the old log.

use std::collections::BTreeMap;
use std::path::Path;

use brook_log::batch;
use brook_log::{Log, LogConfig, LogEnv, LogError, ReadBound};
use serde::Deserialize;
use uuid::Uuid;

use crate::records::MetadataRecord;

/// The records as the old broker wrote them.
#[derive(Deserialize)]
#[serde(tag = "type")]
enum OldRecord {
    ClusterCreated { cluster_id: String },
    TopicCreated { name: String, id: Uuid, partitions: i32, configs: BTreeMap<String, String> },
    PartitionsCreated { id: Uuid, partitions: i32 },
    TopicDeleted { id: Uuid },
    TopicConfigsChanged { id: Uuid, configs: BTreeMap<String, String> },
    ProducerIdsReserved { next: i64 },
}

struct OldTopic {
    name: String,
    partitions: i32,
    configs: BTreeMap<String, String>,
}

/// Whether `dir` holds an old metadata log: its first record reads as an old record.
pub fn is_legacy(dir: &Path, env: &LogEnv) -> bool {
    if !env.storage.exists(dir) {
        return false;
    }
    matches!(read_values(dir, env.clone(), 1), Ok(values) if values.first().is_some_and(|v| serde_json::from_slice::<OldRecord>(v).is_ok()))
}

/// The old log's final state as new records, every partition on `node_id`.
pub fn read(dir: &Path, env: LogEnv, node_id: i32) -> Result<Vec<MetadataRecord>, LogError> {
    let mut cluster_id = None;
    let mut topics: BTreeMap<Uuid, OldTopic> = BTreeMap::new();
    let mut producer_ids = 0;
    for value in read_values(dir, env, usize::MAX)? {
        let Ok(record) = serde_json::from_slice::<OldRecord>(&value) else { continue };
        match record {
            OldRecord::ClusterCreated { cluster_id: id } => cluster_id = Some(id),
            OldRecord::TopicCreated { name, id, partitions, configs } => {
                topics.insert(id, OldTopic { name, partitions, configs });
            }
            OldRecord::PartitionsCreated { id, partitions } => {
                if let Some(t) = topics.get_mut(&id) {
                    t.partitions = t.partitions.max(partitions);
                }
            }
            OldRecord::TopicDeleted { id } => {
                topics.remove(&id);
            }
            OldRecord::TopicConfigsChanged { id, configs } => {
                if let Some(t) = topics.get_mut(&id) {
                    t.configs = configs;
                }
            }
            OldRecord::ProducerIdsReserved { next } => producer_ids = producer_ids.max(next),
        }
    }
    let mut out: Vec<MetadataRecord> =
        cluster_id.map(|cluster_id| MetadataRecord::ClusterCreated { cluster_id }).into_iter().collect();
    for (id, topic) in topics {
        out.push(MetadataRecord::TopicCreated { name: topic.name, id, configs: topic.configs });
        out.extend((0..topic.partitions).map(|partition| MetadataRecord::PartitionCreated {
            topic_id: id,
            partition,
            replicas: vec![node_id],
            isr: vec![node_id],
            leader: node_id,
        }));
    }
    out.push(MetadataRecord::ProducerIdsReserved { next: producer_ids });
    Ok(out)
}

/// The values of the first `limit` records of the log in `dir`.
fn read_values(dir: &Path, env: LogEnv, limit: usize) -> Result<Vec<Vec<u8>>, LogError> {
    let config = LogConfig { retention_ms: -1, retention_bytes: -1, ..LogConfig::default() };
    let log = Log::open(dir, config, env)?;
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.high_watermark() && out.len() < limit {
        let bytes = log.read(offset, 1 << 20, ReadBound::HighWatermark)?;
        if bytes.is_empty() {
            break;
        }
        for (header, raw) in batch::whole_batches(&bytes) {
            out.extend(batch::decode_records(raw).unwrap_or_default().into_iter().filter_map(|r| r.value));
            offset = header.next_offset();
        }
    }
    out.truncate(limit);
    Ok(out)
}
